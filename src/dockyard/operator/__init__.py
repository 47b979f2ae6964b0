"""The operator: the cluster Config turned into what the workers enforce, and its status."""
