"""Every Prometheus metric of the project, defined once: ``dockyard_<subsystem>_<name>_<unit>``.

They live in ``prometheus_client``'s default registry, next to its process metrics. Under
``dockyard serve`` every worker also writes its samples to ``PROMETHEUS_MULTIPROC_DIR`` and the
metrics endpoint adds them up, so a scrape sees the whole registry whichever worker answers it.
A webhook endpoint's delivery runs in one process at a time, so its counters move in whichever
process holds the endpoint's lease.

In multiprocess mode ``prometheus_client`` asks the kernel for the process id on every sample,
to notice a fork: a dozen system calls per request, and system calls are dear on a virtual
machine. The id is kept instead and renewed in a forked child, which is what the library's
``process_identifier`` hook is for.
"""

from __future__ import annotations

import os

from prometheus_client import Counter, Gauge, Summary, values

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
"""Where every worker writes its samples; set, it makes prometheus_client multiprocess."""

_process_id = os.getpid()


def _forked() -> None:
    global _process_id
    _process_id = os.getpid()


def current_process_id() -> int:
    return _process_id


os.register_at_fork(after_in_child=_forked)
if os.environ.get(MULTIPROCESS_ENV):
    values.ValueClass = values.MultiProcessValue(current_process_id)  # type: ignore[no-untyped-call]

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
GC_DELETED = Counter(
    "dockyard_gc_deleted_total",
    "Manifests and blobs removed by garbage collection or pruning, by type and by whom.",
    ["type", "by"],
)
GC_FREED = Counter(
    "dockyard_gc_freed_bytes_total",
    "Bytes of blobs removed from storage by garbage collection or pruning.",
    ["by"],
)
GC_DURATION = Summary(
    "dockyard_gc_duration_seconds",
    "Time of each garbage collection pass (in the process holding the gc lease).",
)

# OpenShift's registry families (``pkg/dockerregistry/server/metrics/prometheus.go``), so its
# dashboards and alerts work unchanged. Summaries carry no quantiles: with several worker
# processes only counts and sums can be added up.
HTTP_IN_FLIGHT = Gauge(
    "imageregistry_http_in_flight_requests",
    "Requests being served right now.",
    multiprocess_mode="livesum",
)
HTTP_REQUESTS = Counter(
    "imageregistry_http_requests_total",
    "Requests answered, by status code and method.",
    ["code", "method"],
)
HTTP_DURATION = Summary(
    "imageregistry_http_request_duration_seconds",
    "Time from the request's arrival to the end of its response.",
    ["method"],
)
HTTP_REQUEST_SIZE = Summary(
    "imageregistry_http_request_size_bytes", "Bytes of request bodies received."
)
HTTP_RESPONSE_SIZE = Summary(
    "imageregistry_http_response_size_bytes", "Bytes of response bodies sent."
)
HTTP_TIME_TO_HEADER = Summary(
    "imageregistry_http_time_to_write_header_seconds",
    "Time from the request's arrival to its response's status line.",
)
STORAGE_DURATION = Summary(
    "imageregistry_storage_duration_seconds",
    "Time spent in storage driver calls, by operation.",
    ["operation"],
)
BUILD_INFO = Gauge(
    "imageregistry_build_info",
    "1, labelled with the version of the running registry.",
    ["major", "minor", "gitCommit", "gitVersion"],
    multiprocess_mode="max",
)
REMOVED = Gauge(
    "imageregistry_removed",
    "1 while the Config's managementState is Removed (the ImageRegistryRemoved alert).",
    multiprocess_mode="livemax",
)
DIGEST_CACHE_REQUESTS = Counter(
    "imageregistry_digest_cache_requests_total",
    "Manifests asked of a worker's cache of content by digest: Hit, or Miss (read from storage).",
    ["type"],
)
DIGEST_CACHE_SCOPED_REQUESTS = Counter(
    "imageregistry_digest_cache_scoped_requests_total",
    "References (tags, digests) asked of a worker's cache of what they resolve to in their"
    " repository: Hit, or Miss (read from the database).",
    ["type"],
)
PULLTHROUGH_CACHE_REQUESTS = Counter(
    "imageregistry_pullthrough_blobstore_cache_requests_total",
    "Blobs asked of pull-through: Miss (fetched from an upstream) or Hit (mirrored meanwhile).",
    ["type"],
)
PULLTHROUGH_DURATION = Summary(
    "imageregistry_pullthrough_repository_duration_seconds",
    "Time until an upstream answered a pull-through request, by registry and operation.",
    ["registry", "operation"],
)
PULLTHROUGH_ERRORS = Counter(
    "imageregistry_pullthrough_repository_errors_total",
    "Pull-through requests an upstream refused or failed, by registry, operation and status.",
    ["registry", "operation", "code"],
)
