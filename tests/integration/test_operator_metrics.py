"""``/extensions/v2/metrics`` on a real two-worker server: the ``imageregistry_*`` families of
OpenShift's registry, summed over the workers, in a format ``promtool`` accepts, for callers
that may ``get registry/metrics`` or send the ``metrics.secret`` setting only."""

from __future__ import annotations

import os
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx
import pytest
from access_helpers import api_token, module_registry
from distribution_helpers import assert_error, push_blob, push_image, unique_repo

if TYPE_CHECKING:
    from collections.abc import Callable

    from conftest import NewDatabase, RegistryProcess

pytestmark = pytest.mark.integration

METRICS = "/extensions/v2/metrics"
METRICS_SECRET = uuid.uuid4().hex
FAMILIES = (
    "imageregistry_build_info",
    "imageregistry_http_in_flight_requests",
    "imageregistry_http_requests_total",
    "imageregistry_http_request_duration_seconds",
    "imageregistry_http_request_size_bytes",
    "imageregistry_http_response_size_bytes",
    "imageregistry_http_time_to_write_header_seconds",
    "imageregistry_storage_duration_seconds",
    "imageregistry_removed",
    "imageregistry_digest_cache_requests_total",
    "imageregistry_digest_cache_scoped_requests_total",
)


@pytest.fixture(scope="module")
def server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    new_database: NewDatabase,
) -> Iterator[RegistryProcess]:
    root = tmp_path_factory.mktemp("operator-metrics")
    env = {"REGISTRY_METRICS_SECRET": METRICS_SECRET}
    with module_registry(request.config, root, new_database(root), env=env) as registry:
        yield registry


def requests_of(text: str, code: str, method: str) -> float:
    """The requests counted with that code and method, over every worker's samples."""
    return sum(
        float(line.rpartition(" ")[2])
        for line in text.splitlines()
        if line.startswith("imageregistry_http_requests_total{")
        and f'code="{code}"' in line
        and f'method="{method}"' in line
    )


def test_metrics_sum_every_worker(server: RegistryProcess) -> None:
    with server.client() as admin:
        before = requests_of(admin.get(METRICS).text, "200", "get")
        for _ in range(30):  # spread over both workers by the kernel
            assert admin.get("/v2/").status_code == 200
        push_blob(admin, unique_repo("metrics"), b"storage is timed")
        repo = unique_repo("metrics")
        push_image(admin, repo, "v1")
        for _ in range(6):
            assert admin.get(f"/v2/{repo}/manifests/v1").status_code == 200
        response = admin.get(METRICS)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    for family in FAMILIES:
        assert f"# TYPE {family} " in text, family
    assert re.search(
        r'^imageregistry_build_info\{[^}]*gitVersion="v[\d.]+"[^}]*\} 1\.0$', text, re.M
    )
    assert requests_of(text, "200", "get") >= before + 30
    assert "imageregistry_http_request_duration_seconds_count" in text
    # A pushed manifest's content is cached from the push on; what its tag resolves to is read
    # after the push (a write) once per worker, then cached: on one machine's SQLite, which
    # tells every worker of each write (on PostgreSQL replicas it is not cached).
    counted = [("digest_cache", "Hit"), ("digest_cache_scoped", "Miss")]
    if os.environ.get("DOCKYARD_TEST_DATABASE", "sqlite") == "sqlite":
        counted.append(("digest_cache_scoped", "Hit"))
    for cache, kind in counted:
        assert f'imageregistry_{cache}_requests_total{{type="{kind}"}}' in text, (cache, kind)


def test_promtool_accepts_the_format(
    server: RegistryProcess, binary_path: Callable[[str], str]
) -> None:
    promtool = binary_path("promtool")
    with server.client() as admin:
        text = admin.get(METRICS).text
    result = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )
    # promtool exits 0 without problems; lint hints (exit 3) are style, not format errors.
    assert result.returncode in (0, 3), result.stdout + result.stderr
    assert "error" not in (result.stdout + result.stderr).lower(), result.stdout + result.stderr


def test_metrics_need_get_registry_metrics(server: RegistryProcess) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as anonymous:
        assert_error(anonymous.get(METRICS), 401, "UNAUTHORIZED")
        assert_error(anonymous.get(METRICS, auth=("any", "dyt~wrong")), 401, "UNAUTHORIZED")
    name, password = f"scraper-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    with server.client() as admin:
        created = admin.post(
            "/apis/user.openshift.io/v1/users",
            json={"metadata": {"name": name}, "password": password},
        )
        assert created.status_code == 201, created.text
        token = api_token(server.url, name, password)
        with httpx.Client(base_url=server.url, auth=("any", token), timeout=30) as user:
            refused = user.get(METRICS)
            assert_error(refused, 403, "DENIED")
            assert "prometheus-scraper" in refused.json()["errors"][0]["message"]
            binding = {
                "metadata": {"name": f"scrape-{name}"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": "prometheus-scraper",
                },
                "subjects": [{"kind": "User", "name": name}],
            }
            bound = admin.post(
                "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", json=binding
            )
            assert bound.status_code == 201, bound.text
            # Role changes take effect within a second.
            for _ in range(50):
                response = user.get(METRICS)
                if response.status_code == 200:
                    break
                time.sleep(0.1)
            assert response.status_code == 200, response.text
            assert "imageregistry_http_requests_total" in response.text


def test_metrics_secret_opens_them_to_curl(server: RegistryProcess) -> None:
    """``curl -u any:SECRET``, as OpenShift's registry takes its metrics secret; or as a bearer
    token. A wrong secret of the same length is refused."""
    curl = ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", f"{server.url}{METRICS}"]
    for credentials, code in (
        (["-u", f"any:{METRICS_SECRET}"], "200"),
        (["-u", f"prometheus:{METRICS_SECRET}"], "200"),
        (["-H", f"Authorization: Bearer {METRICS_SECRET}"], "200"),
        (["-u", f"any:{METRICS_SECRET[::-1]}"], "401"),
        ([], "401"),
    ):
        result = subprocess.run(
            [*curl, *credentials], capture_output=True, text=True, timeout=60, check=True
        )
        assert result.stdout == code, (credentials, result.stdout, result.stderr)
    with httpx.Client(base_url=server.url, auth=("any", METRICS_SECRET), timeout=30) as scraper:
        response = scraper.get(METRICS)
    assert response.status_code == 200, response.text
    assert "# TYPE imageregistry_http_requests_total counter" in response.text


def test_health_endpoints_answer_anyone(server: RegistryProcess) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as anonymous:
        for path in ("/healthz", "/readyz"):
            response = anonymous.get(path)
            assert (response.status_code, response.text) == (200, "ok"), path
