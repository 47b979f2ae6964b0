"""The HTTP metrics a request feeds, read back from prometheus_client's registry."""

from __future__ import annotations

import os

from prometheus_client import REGISTRY

from dockyard.http.metrics import request_finished, request_started
from dockyard.observability import metrics


def sample(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


def test_a_finished_request_counts_by_code_and_method_with_its_sizes_and_times() -> None:
    before = {
        "count": sample("imageregistry_http_requests_total", {"code": "206", "method": "get"}),
        "duration": sample("imageregistry_http_request_duration_seconds_sum", {"method": "get"}),
        "received": sample("imageregistry_http_request_size_bytes_sum"),
        "sent": sample("imageregistry_http_response_size_bytes_sum"),
        "header": sample("imageregistry_http_time_to_write_header_seconds_count"),
        "in_flight": sample("imageregistry_http_in_flight_requests"),
    }
    for _ in range(2):  # the second time through the kept series
        request_started()
        assert sample("imageregistry_http_in_flight_requests") == before["in_flight"] + 1
        request_finished("GET", 206, 10, 300, 0.25, 0.125)
    assert sample("imageregistry_http_in_flight_requests") == before["in_flight"]
    assert (
        sample("imageregistry_http_requests_total", {"code": "206", "method": "get"})
        == before["count"] + 2
    )
    assert (
        sample("imageregistry_http_request_duration_seconds_sum", {"method": "get"})
        == before["duration"] + 0.5
    )
    assert sample("imageregistry_http_request_size_bytes_sum") == before["received"] + 20
    assert sample("imageregistry_http_response_size_bytes_sum") == before["sent"] + 600
    assert sample("imageregistry_http_time_to_write_header_seconds_count") == before["header"] + 2


def test_a_request_that_ended_before_its_status_line_is_a_500_with_no_header_time() -> None:
    labels = {"code": "500", "method": "patch"}
    count = sample("imageregistry_http_requests_total", labels)
    header = sample("imageregistry_http_time_to_write_header_seconds_count")
    request_started()
    request_finished("PATCH", 0, 0, 0, 0.01, None)
    assert sample("imageregistry_http_requests_total", labels) == count + 1
    assert sample("imageregistry_http_time_to_write_header_seconds_count") == header


def test_the_kept_process_id_follows_a_fork() -> None:
    assert metrics.current_process_id() == os.getpid()
    read, write = os.pipe()
    child = os.fork()
    if child == 0:
        os.write(write, str(metrics.current_process_id() == os.getpid()).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    assert os.read(read, 16) == b"True"
    os.close(read)
