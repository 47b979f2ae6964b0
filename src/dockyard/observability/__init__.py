"""Logging (logfmt or JSON on stderr) and, later, Prometheus metrics."""
