"""Every Prometheus metric of the project, defined once: ``dockyard_<subsystem>_<name>_<unit>``.

They live in ``prometheus_client``'s default registry, next to its process metrics. With several
workers, each process counts its own; a webhook endpoint's delivery runs in one process at a
time, so its counters move in whichever process holds the endpoint's lease.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

NOTIFICATIONS_EVENTS = Counter(
    "dockyard_notifications_events_total",
    "Events POSTed to a webhook endpoint: sent (accepted with 2xx) or failed (per attempt).",
    ["endpoint", "status"],
)
NOTIFICATIONS_PENDING = Gauge(
    "dockyard_notifications_pending",
    "Change-log entries after the endpoint's cursor, not yet delivered or skipped "
    "(set by the process delivering to the endpoint).",
    ["endpoint"],
)
NOTIFICATIONS_ERRORS = Counter(
    "dockyard_notifications_errors_total",
    "Failed delivery attempts to a webhook endpoint: an error status, a timeout or no connection.",
    ["endpoint"],
)
