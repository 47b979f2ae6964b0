"""Images from other registries: the upstream client, import-image and pull-through."""
