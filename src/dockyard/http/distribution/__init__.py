"""The ``/v2`` distribution API (OCI Distribution 1.1 and Docker Registry HTTP API V2)."""
