"""The resource API: Kubernetes-style objects under ``/apis`` and ``/api``."""
