"""The cluster Config, changed through the API and observed from outside on a real server.

Defaults on first start; validation (422 naming the field, nothing changed); Removed stops
``/v2`` (503) while the resource API stays up, and Managed brings it back; readOnly refuses
pushes and deletes on every worker while pulls go on; request limits answer a burst with 429
and ``Retry-After``; status conditions say what storage lacks; the CLI patches and prints it.
"""

from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from access_helpers import DockyardCLI, module_registry
from distribution_helpers import assert_error, push_image, unique_repo
from test_resource_api import MERGE, assert_status

if TYPE_CHECKING:
    from conftest import NewDatabase, RegistryFactory, RegistryProcess

pytestmark = pytest.mark.integration

CONFIG = "/apis/imageregistry.operator.openshift.io/v1/configs/cluster"
APPLY_DEADLINE = 3.0
"""A Config change reaches every worker within a second; some slack for a busy machine."""


@pytest.fixture(scope="module")
def server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    new_database: NewDatabase,
) -> Iterator[RegistryProcess]:
    root = tmp_path_factory.mktemp("operator-config")
    with module_registry(request.config, root, new_database(root)) as registry:
        yield registry


@pytest.fixture
def admin(server: RegistryProcess) -> Iterator[httpx.Client]:
    with server.client(timeout=60) as client:
        yield client
        # Each test leaves the registry as it found it, applied by every worker.
        before = client.get(CONFIG).json()["metadata"]["generation"]
        reset = {
            "managementState": "Managed",
            "readOnly": False,
            "requests": None,
            "logLevel": "Normal",
        }
        if patch_config(client, reset).json()["metadata"]["generation"] != before:
            time.sleep(1.5)


def patch_config(client: httpx.Client, spec: dict[str, Any]) -> httpx.Response:
    return client.patch(CONFIG, json={"spec": spec}, headers={"content-type": MERGE})


def eventually(check: Callable[[], Any], deadline: float = APPLY_DEADLINE) -> Any:
    """``check()``'s first truthy result within the deadline."""
    end = time.monotonic() + deadline
    while True:
        found = check()
        if found or time.monotonic() > end:
            assert found, f"not within {deadline}s"
            return found
        time.sleep(0.1)


def condition(client: httpx.Client, kind: str) -> dict[str, Any]:
    conditions = client.get(CONFIG).json().get("status", {}).get("conditions", [])
    return next((c for c in conditions if c["type"] == kind), {})


def test_created_with_defaults_on_first_start(admin: httpx.Client) -> None:
    config = admin.get(CONFIG).json()
    assert config["kind"] == "Config"
    assert config["apiVersion"] == "imageregistry.operator.openshift.io/v1"
    spec = config["spec"]
    assert spec["managementState"] == "Managed"
    assert len(spec["httpSecret"]) >= 16
    assert spec["storage"] == {"pvc": {"claim": "image-registry-storage"}, "managementState": ""}
    assert spec["replicas"] == 2 and spec["rolloutStrategy"] == "RollingUpdate"
    assert spec["readOnly"] is False

    # Available with MinimumAvailability until every worker has reported ready.
    def ready() -> dict[str, Any]:
        found = condition(admin, "Available")
        return found if found.get("reason") == "Ready" else {}

    available = eventually(ready)
    assert available["status"] == "True"
    assert condition(admin, "StorageExists")["status"] == "True"
    assert condition(admin, "Degraded")["status"] == "False"
    status = admin.get(CONFIG).json()["status"]
    assert status["observedGeneration"] == config["metadata"]["generation"]
    assert status["readyReplicas"] == 2
    listed = admin.get("/apis/imageregistry.operator.openshift.io/v1/configs").json()
    assert [item["metadata"]["name"] for item in listed["items"]] == ["cluster"]


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"requests": {"read": {"maxRunning": -1}}}, "spec.requests.read.maxRunning"),
        ({"requests": {"write": {"maxInQueue": -5}}}, "spec.requests.write.maxInQueue"),
        ({"requests": {"write": {"maxWaitInQueue": "soon"}}}, "spec.requests.write.maxWaitInQueue"),
        ({"rolloutStrategy": "AllAtOnce"}, "spec.rolloutStrategy"),
        ({"managementState": "Gone"}, "spec.managementState"),
        ({"storage": {"s3": {"bucket": "b"}}}, "spec.storage"),
        ({"storage": {"pvc": None, "emptyDir": {}}}, "spec.replicas"),
        ({"replicas": 0}, "spec.replicas"),
        ({"readOnly": "yes"}, "spec.readOnly"),
        ({"raedOnly": True}, "spec.raedOnly"),
        ({"routes": [{"name": "a"}, {"name": "a"}]}, "spec.routes[1].name"),
        ({"proxy": {"http": "proxy:3128"}}, "spec.proxy.http"),
        ({"proxy": {"https": "ftp://proxy"}}, "spec.proxy.https"),
    ],
)
def test_bad_specs_are_422_naming_the_field(
    admin: httpx.Client, spec: dict[str, Any], field: str
) -> None:
    before = admin.get(CONFIG).json()
    response = patch_config(admin, spec)
    status = assert_status(response, 422, "Invalid")
    assert field in [cause["field"] for cause in status["details"]["causes"]], status
    after = admin.get(CONFIG).json()
    assert after["spec"] == before["spec"]
    assert after["metadata"]["generation"] == before["metadata"]["generation"]


def test_cluster_operator_shows_the_health(admin: httpx.Client) -> None:
    operators = "/apis/config.openshift.io/v1/clusteroperators"
    found = admin.get(f"{operators}/image-registry").json()
    assert found["kind"] == "ClusterOperator"
    types = [c["type"] for c in found["status"]["conditions"]]
    assert types == ["Available", "Progressing", "Degraded"]
    assert {
        "group": "imageregistry.operator.openshift.io",
        "resource": "configs",
        "name": "cluster",
    } in found["status"]["relatedObjects"]
    assert [i["metadata"]["name"] for i in admin.get(operators).json()["items"]] == [
        "image-registry"
    ]
    assert_status(admin.get(f"{operators}/dns"), 404, "NotFound")
    assert_status(admin.delete(f"{operators}/image-registry"), 405, "MethodNotAllowed")


def test_only_cluster_and_no_delete(admin: httpx.Client) -> None:
    other = admin.post(
        "/apis/imageregistry.operator.openshift.io/v1/configs", json={"metadata": {"name": "x"}}
    )
    assert_status(other, 422, "Invalid")
    assert_status(admin.delete(CONFIG), 405, "MethodNotAllowed")


def test_status_is_the_operators(admin: httpx.Client) -> None:
    before = admin.get(CONFIG).json()
    response = admin.patch(
        CONFIG, json={"status": {"readyReplicas": 99}}, headers={"content-type": MERGE}
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"]["readyReplicas"] == before["status"]["readyReplicas"]


def test_removed_stops_serving_and_managed_restarts_it(
    server: RegistryProcess, admin: httpx.Client
) -> None:
    repo = unique_repo("removed")
    image = push_image(admin, repo, "v1")
    response = patch_config(admin, {"managementState": "Removed"})
    assert response.status_code == 200, response.text
    assert response.json()["metadata"]["generation"] >= 2

    def all_removed() -> bool:
        answers = [admin.get(f"/v2/{repo}/manifests/v1") for _ in range(6)]
        return all(r.status_code == 503 for r in answers)

    eventually(all_removed)
    refused = admin.get("/v2/")
    assert_error(refused, 503, "UNAVAILABLE")
    assert "managementState" in refused.json()["errors"][0]["message"]
    assert admin.get(CONFIG).status_code == 200  # the resource API stays up
    removed = eventually(lambda: condition(admin, "Removed").get("status") == "True")
    assert removed
    assert condition(admin, "Available")["reason"] == "Removed"

    assert patch_config(admin, {"managementState": "Managed"}).status_code == 200
    eventually(
        lambda: all(
            admin.get(f"/v2/{repo}/manifests/{image.digest}").status_code == 200 for _ in range(6)
        )
    )
    eventually(lambda: condition(admin, "Removed").get("status") == "False")


def test_read_only_refuses_writes_on_every_worker_and_pulls_go_on(
    admin: httpx.Client,
) -> None:
    repo = unique_repo("readonly")
    image = push_image(admin, repo, "v1")
    assert patch_config(admin, {"readOnly": True}).status_code == 200

    def all_refused() -> bool:
        answers = [admin.post(f"/v2/{repo}/blobs/uploads/") for _ in range(6)]
        return all(r.status_code == 405 for r in answers)

    eventually(all_refused)
    refused = admin.post(f"/v2/{repo}/blobs/uploads/")
    assert_error(refused, 405, "UNSUPPORTED")
    assert "read-only" in refused.json()["errors"][0]["message"]
    assert_error(admin.delete(f"/v2/{repo}/manifests/{image.digest}"), 405, "UNSUPPORTED")
    assert_error(admin.put(f"/v2/{repo}/manifests/v2", content=image.manifest), 405, "UNSUPPORTED")
    for _ in range(4):
        assert admin.get(f"/v2/{repo}/manifests/v1").status_code == 200
        assert admin.head(f"/v2/{repo}/manifests/v1").status_code == 200
    assert admin.get(f"/v2/{repo}/tags/list").json()["tags"] == ["v1"]

    assert patch_config(admin, {"readOnly": False}).status_code == 200
    eventually(
        lambda: all(admin.post(f"/v2/{repo}/blobs/uploads/").status_code == 202 for _ in range(6))
    )
    push_image(admin, repo, "v2")


def test_unmanaged_leaves_the_running_registry_alone(admin: httpx.Client) -> None:
    repo = unique_repo("unmanaged")
    assert patch_config(admin, {"managementState": "Unmanaged"}).status_code == 200
    eventually(lambda: condition(admin, "Available").get("reason") == "Unmanaged")
    assert patch_config(admin, {"readOnly": True}).status_code == 200
    time.sleep(1.5)  # longer than a worker takes to apply a change
    for _ in range(4):
        assert admin.post(f"/v2/{repo}/blobs/uploads/").status_code == 202
    assert patch_config(admin, {"managementState": "Managed"}).status_code == 200
    eventually(
        lambda: all(admin.post(f"/v2/{repo}/blobs/uploads/").status_code == 405 for _ in range(6))
    )


def refusals_logged(server: RegistryProcess, admin: httpx.Client, tries: int = 6) -> bool:
    """Whether refused requests (manifests that do not exist), spread over the workers by the
    kernel, each show in the log as the debug line ``request refused`` of their request id."""
    paths = [f"/v2/{unique_repo('loglevel')}/manifests/missing" for _ in range(tries)]
    for path in paths:
        assert admin.get(path).status_code == 404
    time.sleep(0.3)  # the workers' lines reach the log file
    log = server.log_text()
    access = {
        found.group(2): found.group(1)
        for found in re.finditer(r"request\.id=(\S+) .*http\.request\.uri=(\S+)", log)
    }
    refused = set(re.findall(r'msg="request refused" request\.id=(\S+)', log))
    return all(access.get(path) in refused for path in paths)


def test_log_level_changes_what_every_worker_logs(
    server: RegistryProcess, admin: httpx.Client
) -> None:
    """``logLevel`` Debug, Trace and TraceAll log at debug on every worker without a restart;
    Normal is the settings' ``log.level`` (info) again."""

    def applied(level: str, before: int) -> bool:
        """Both workers logged that they applied the level."""
        return server.log_text().count(f"logLevel={level}") >= before + 2

    assert not refusals_logged(server, admin, 2)
    for level in ("Debug", "Trace", "TraceAll", "Normal"):
        before = server.log_text().count(f"logLevel={level}")
        assert patch_config(admin, {"logLevel": level}).status_code == 200
        eventually(lambda level=level, before=before: applied(level, before))
        assert refusals_logged(server, admin) is (level != "Normal"), level


def test_access_log_names_method_path_status_duration_user_and_request_id(
    server: RegistryProcess, admin: httpx.Client
) -> None:
    path = f"/v2/{unique_repo('access')}/tags/list"
    response = admin.get(path)
    request_id = response.headers["x-request-id"]
    found = eventually(lambda: access_line(server, path))
    for field in (
        f"request.id={request_id}",
        "http.request.method=GET",
        f"http.request.uri={path}",
        f"http.response.status={response.status_code}",
        "http.response.duration=",
        "auth.user.name=admin",
    ):
        assert field in found, (field, found)
    with httpx.Client(base_url=server.url, timeout=30) as anonymous:
        anonymous_path = f"/v2/{unique_repo('anonymous')}/tags/list"
        anonymous.get(anonymous_path)
    assert "auth.user.name" not in eventually(lambda: access_line(server, anonymous_path))


def access_line(server: RegistryProcess, path: str) -> str:
    """The access log line of the request for ``path``; empty until it is written."""
    return next((line for line in server.log_text().splitlines() if path in line), "")


def test_status_says_what_storage_lacks(admin: httpx.Client) -> None:
    secrets = "/api/v1/namespaces/openshift-image-registry/secrets"
    response = patch_config(admin, {"storage": {"pvc": None, "s3": {"bucket": ""}}})
    assert response.status_code == 200, response.text
    try:
        exists = eventually(lambda: condition(admin, "StorageExists").get("status") == "False")
        assert exists
        message = condition(admin, "StorageExists")["message"]
        assert "spec.storage.s3.bucket" in message
        assert condition(admin, "Degraded")["status"] == "True"

        assert patch_config(admin, {"storage": {"s3": {"bucket": "images"}}}).status_code == 200
        eventually(lambda: condition(admin, "StorageExists").get("reason") == "MissingCredentials")
        message = condition(admin, "StorageExists")["message"]
        assert "image-registry-private-configuration-user" in message
        assert "REGISTRY_STORAGE_S3_ACCESSKEY" in message

        key = base64.b64encode(b"AKIAEXAMPLE").decode()
        secret = {
            "metadata": {"name": "image-registry-private-configuration-user"},
            "data": {"REGISTRY_STORAGE_S3_ACCESSKEY": key},
        }
        assert admin.post(secrets, json=secret).status_code == 201
        eventually(lambda: "lacks" in condition(admin, "StorageExists")["message"], 10)
        assert "REGISTRY_STORAGE_S3_SECRETKEY" in condition(admin, "StorageExists")["message"]
        assert "REGISTRY_STORAGE_S3_ACCESSKEY" not in condition(admin, "StorageExists")["message"]
        # The registry keeps serving what it runs while the Config asks for what it lacks.
        assert admin.get("/v2/").status_code == 200
    finally:
        admin.delete(f"{secrets}/image-registry-private-configuration-user")
        patch_config(admin, {"storage": {"s3": None, "pvc": {"claim": "image-registry-storage"}}})
    eventually(lambda: condition(admin, "StorageExists").get("status") == "True")


def test_cli_patches_and_prints_the_config(server: RegistryProcess, tmp_path: Path) -> None:
    cli = DockyardCLI(tmp_path / "cli" / "config.yml", tmp_path / "home")
    assert server.admin_password is not None
    cli.login(server.url, "admin", server.admin_password)
    patched = cli.run(
        "patch",
        "configs.imageregistry.operator.openshift.io/cluster",
        "--type",
        "merge",
        "-p",
        '{"spec": {"logLevel": "Debug"}}',
    )
    assert "cluster" in patched.stdout
    printed = cli.run("get", "config", "cluster", "-o", "yaml").stdout
    assert "logLevel: Debug" in printed and "kind: Config" in printed
    table = cli.run("get", "clusteroperator", "image-registry").stdout.splitlines()
    assert table[0].split()[:6] == [
        "NAME",
        "VERSION",
        "AVAILABLE",
        "PROGRESSING",
        "DEGRADED",
        "SINCE",
    ]
    assert table[1].split()[:5] == ["image-registry", "0.1.0", "True", "False", "False"]
    secret = tmp_path / "secret.yaml"
    secret.write_text(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: cli-made\n"
        "  namespace: openshift-image-registry\nstringData:\n  key: value\n"
    )
    cli.run("apply", "-f", str(secret))
    shown = cli.run("get", "secret", "cli-made", "-n", "openshift-image-registry", "-o", "yaml")
    assert "key: dmFsdWU=" in shown.stdout
    cli.run("delete", "secret", "cli-made", "-n", "openshift-image-registry")
    cli.run(
        "patch",
        "configs.imageregistry.operator.openshift.io/cluster",
        "--type",
        "merge",
        "-p",
        '{"spec": {"logLevel": "Normal"}}',
    )


def test_request_limits_answer_a_burst_with_429(registry_factory: RegistryFactory) -> None:
    server = registry_factory(workers=1)
    repo = unique_repo("limits")
    with server.client(timeout=60) as client:
        image = push_image(client, repo, "v1")
        spec = {"requests": {"write": {"maxRunning": 1, "maxInQueue": 1, "maxWaitInQueue": "1s"}}}
        assert patch_config(client, spec).status_code == 200
        eventually(
            lambda: (
                client.get(CONFIG).json()["metadata"]["resourceVersion"]
                and condition(client, "Available").get("status") == "True"
            )
        )
        time.sleep(1.0)  # the worker polls the Config twice a second
        location = client.post(f"/v2/{repo}/blobs/uploads/").headers["location"]
        release = threading.Event()

        def slow_body() -> Iterator[bytes]:
            yield b"x" * 1024
            release.wait(20)
            yield b"y" * 1024

        def hold() -> int:
            headers = {"content-type": "application/octet-stream"}
            return client.patch(location, content=slow_body(), headers=headers).status_code

        with concurrent.futures.ThreadPoolExecutor(12) as pool:
            holder = pool.submit(hold)
            time.sleep(0.5)
            started = time.monotonic()
            burst = list(pool.map(lambda _: client.post(f"/v2/{repo}/blobs/uploads/"), range(10)))
            waited = time.monotonic() - started
            # reads have limits of their own, none here: pulls go on
            assert client.get(f"/v2/{repo}/manifests/v1").status_code == 200
            release.set()
            assert holder.result() == 202
        refused = [r for r in burst if r.status_code == 429]
        assert len(refused) >= 9, [r.status_code for r in burst]
        assert_error(refused[0], 429, "TOOMANYREQUESTS")
        assert refused[0].headers["retry-after"] == "1"
        assert "spec.requests.write" in refused[0].json()["errors"][0]["message"]
        assert waited < 5
        # the slot is free again
        assert client.post(f"/v2/{repo}/blobs/uploads/").status_code == 202
        assert client.get(f"/v2/{repo}/manifests/{image.digest}").status_code == 200


def worker_pids(server: RegistryProcess) -> set[int]:
    """The supervisor's worker processes (not multiprocessing's resource tracker)."""
    assert server.process is not None
    parent = str(server.process.pid)
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if fields[1] != parent or fields[0] in ("Z", "X"):
            continue
        with contextlib.suppress(OSError):
            if b"multiprocessing.spawn" in (stat.parent / "cmdline").read_bytes():
                found.add(int(stat.parent.name))
    return found


def test_replicas_scale_the_workers(registry_factory: RegistryFactory) -> None:
    server = registry_factory(workers=2)
    with server.client(timeout=60) as client:
        eventually(lambda: len(worker_pids(server)) == 2, 10)
        assert patch_config(client, {"replicas": 3}).status_code == 200
        eventually(lambda: len(worker_pids(server)) == 3, 15)
        eventually(lambda: client.get(CONFIG).json()["status"]["readyReplicas"] == 3, 10)
        assert patch_config(client, {"replicas": 1}).status_code == 200
        eventually(lambda: len(worker_pids(server)) == 1, 15)
        eventually(lambda: client.get(CONFIG).json()["status"]["readyReplicas"] == 1, 10)
        assert condition(client, "Available")["status"] == "True"


def test_rolling_update_fails_no_pull(registry_factory: RegistryFactory) -> None:
    server = registry_factory(workers=2)
    repo = unique_repo("rolling")
    with server.client(timeout=60) as client:
        image = push_image(client, repo, "v1")
        eventually(lambda: len(worker_pids(server)) == 2, 10)
        before = worker_pids(server)
        stop = threading.Event()
        results: list[int | str] = []

        def pull() -> None:
            while not stop.is_set():
                # A new connection each time, as many clients make; an idle kept-alive one
                # may be closed by a stopping worker, which clients retry.
                with httpx.Client(base_url=server.url, auth=server.auth, timeout=30) as once:
                    try:
                        results.append(once.get(f"/v2/{repo}/manifests/v1").status_code)
                    except httpx.HTTPError as exc:
                        results.append(repr(exc))

        pullers = [threading.Thread(target=pull) for _ in range(3)]
        for thread in pullers:
            thread.start()
        try:
            assert patch_config(client, {"disableRedirect": True}).status_code == 200
            eventually(lambda: not (worker_pids(server) & before), 40)
            eventually(lambda: len(worker_pids(server)) == 2, 10)
            time.sleep(1.0)
        finally:
            stop.set()
            for thread in pullers:
                thread.join(30)
        failed = [result for result in results if result != 200]
        assert results and not failed, failed[:5]
        assert "replacing the workers" in server.log_text()
        assert client.get(f"/v2/{repo}/manifests/{image.digest}").status_code == 200


def test_rolling_update_waits_for_a_slow_replacement(registry_factory: RegistryFactory) -> None:
    """A replacement slower to start than uvicorn's default 5 s (as on a loaded machine) still
    takes over; the roll is not given up with the old worker and old settings kept."""
    server = registry_factory(workers=1)
    with server.client(timeout=60) as client:
        eventually(lambda: len(worker_pids(server)) == 1, 10)
        before = worker_pids(server)
        assert patch_config(client, {"disableRedirect": True}).status_code == 200
        (replacement,) = eventually(lambda: worker_pids(server) - before, 20)
        os.kill(replacement, signal.SIGSTOP)
        time.sleep(8)
        os.kill(replacement, signal.SIGCONT)
        eventually(lambda: worker_pids(server) == {replacement}, 60)
        assert client.get("/v2/").status_code == 200
        assert "not ready in time" not in server.log_text()


def test_recreate_replaces_every_worker_at_once(registry_factory: RegistryFactory) -> None:
    server = registry_factory(workers=2)
    with server.client(timeout=60) as client:
        eventually(lambda: len(worker_pids(server)) == 2, 10)
        before = worker_pids(server)
        spec = {"rolloutStrategy": "Recreate", "httpSecret": "a-new-secret-0123456789abcdef"}
        assert patch_config(client, spec).status_code == 200
        eventually(lambda: not (worker_pids(server) & before), 30)
        eventually(lambda: len(worker_pids(server)) == 2, 15)
        eventually(lambda: client.get("/v2/").status_code == 200, 15)
        assert "strategy=Recreate" in server.log_text()
        ignored = eventually(lambda: client.get(CONFIG).json()["status"].get("ignoredSettings"))
        assert "http.secret: the Config's spec.httpSecret is used" in ignored


def test_workers_show_as_pods_and_in_dockyard_status(
    registry_factory: RegistryFactory, tmp_path: Path
) -> None:
    server = registry_factory(workers=2)
    pods = "/api/v1/namespaces/openshift-image-registry/pods"

    def listed(client: httpx.Client) -> list[dict[str, Any]]:
        return list(client.get(pods).json()["items"])

    with server.client(timeout=60) as client:
        found = eventually(
            lambda: [p for p in listed(client) if p["status"]["phase"] == "Running"], 10
        )
        eventually(lambda: len(listed(client)) == 2, 10)
        found = listed(client)
        assert all(p["status"]["containerStatuses"][0]["ready"] for p in found)
        assert all(p["status"]["containerStatuses"][0]["restartCount"] == 0 for p in found)
        assert_status(client.post(pods, json={"metadata": {"name": "x"}}), 405, "MethodNotAllowed")
        victim = found[0]["metadata"]["name"]
        pid = int(found[0]["status"]["message"].split()[-1])
        os.kill(pid, signal.SIGKILL)

        def restarted() -> bool:
            # a connection of its own: the killed worker took the client's kept-alive one
            pod = httpx.get(f"{server.url}{pods}/{victim}", auth=server.auth, timeout=30).json()
            status = pod.get("status", {})
            return bool(
                status.get("containerStatuses", [{}])[0].get("restartCount") == 1
                and status.get("phase") == "Running"
            )

        eventually(restarted, 20)
    cli = DockyardCLI(tmp_path / "cli" / "config.yml", tmp_path / "home")
    assert server.admin_password is not None
    cli.login(server.url, "admin", server.admin_password)
    shown = cli.run("status").stdout
    assert "AVAILABLE" in shown and "RESTARTS" in shown
    line = next(row for row in shown.splitlines() if row.startswith(victim))
    assert line.split()[1:4] == ["1/1", "Running", "1"]
