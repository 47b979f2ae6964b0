"""The resource API of the image kinds, end to end over HTTP against a real ``dockyard serve``.

Every endpoint and verb of ``image.openshift.io/v1`` (image streams, tags, image tags, stream
images, mappings, layers, images); the three patch formats; label and field selectors;
``limit``/``continue``; watches (from now, resumed, single-object, selector-filtered, timed out,
too old, too new) that see pushes made with httpx and skopeo; discovery and OpenAPI generated
from the one kinds table; and every bad input, each followed by a read that shows nothing was
stored. Property tests round-trip random labels, annotations and spec tags, and random merge
patches. Most tests share one server of this module (each in a project of its own); the
log-gap test needs a database of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import re
import socket
import string
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from access_helpers import api_token, module_registry
from distribution_helpers import push_image
from hypothesis import HealthCheck, given, settings, strategies as st
from images import make_layout

if TYPE_CHECKING:
    from conftest import NewDatabase, RegistryProcess
    from integration.conftest import Skopeo

pytestmark = [pytest.mark.integration, pytest.mark.database]

IMAGE = "/apis/image.openshift.io/v1"
OPERATOR = "/apis/imageregistry.operator.openshift.io/v1"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
EVENT_DEADLINE = 1.0
"""A change must reach a watch within a second."""


@pytest.fixture(scope="module")
def server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    new_database: NewDatabase,
) -> Iterator[RegistryProcess]:
    """One server for the module (SQLite or PostgreSQL, as the session runs)."""
    root = tmp_path_factory.mktemp("resource-api")
    with module_registry(request.config, root, new_database(root)) as registry:
        yield registry


@pytest.fixture
def admin(server: RegistryProcess) -> Iterator[httpx.Client]:
    with server.client(timeout=60) as client:
        yield client


def new_project(client: httpx.Client, prefix: str = "ra") -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:10]}"
    response = client.post(
        "/apis/project.openshift.io/v1/projectrequests", json={"metadata": {"name": name}}
    )
    assert response.status_code == 201, response.text
    return name


@pytest.fixture
def project(admin: httpx.Client) -> str:
    return new_project(admin)


def streams(namespace: str) -> str:
    return f"{IMAGE}/namespaces/{namespace}/imagestreams"


def stream_body(name: str, **metadata: Any) -> dict[str, Any]:
    return {
        "apiVersion": "image.openshift.io/v1",
        "kind": "ImageStream",
        "metadata": {"name": name, **metadata},
    }


def create_stream(client: httpx.Client, namespace: str, name: str, **extra: Any) -> dict[str, Any]:
    body = stream_body(name, **extra.pop("metadata", {}))
    body.update(extra)
    response = client.post(streams(namespace), json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def get_stream(client: httpx.Client, namespace: str, name: str) -> dict[str, Any]:
    response = client.get(f"{streams(namespace)}/{name}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def assert_status(response: httpx.Response, code: int, reason: str) -> dict[str, Any]:
    assert response.status_code == code, f"{response.status_code} {response.text}"
    body: dict[str, Any] = response.json()
    assert (body["kind"], body["status"], body["reason"], body["code"]) == (
        "Status",
        "Failure",
        reason,
        code,
    ), body
    return body


def patch(client: httpx.Client, path: str, body: Any, media_type: str = MERGE) -> httpx.Response:
    return client.patch(path, content=json.dumps(body), headers={"Content-Type": media_type})


def names(listed: dict[str, Any]) -> list[str]:
    return [item["metadata"]["name"] for item in listed["items"]]


# --- watching --------------------------------------------------------------------------------


class Watch:
    """A watch read on a thread of its own, its events queued as they arrive; closed (its
    connection shut down) at the end of the test that opened it."""

    def __init__(self, server: RegistryProcess | As, path: str, **params: str) -> None:
        self.server = server
        self.path = path
        self.params = {"watch": "true", "timeoutSeconds": "20", **params}
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.status = 0
        self.body = b""
        self.error: BaseException | None = None
        self.closed = False
        self.socket: socket.socket | None = None
        self.started = threading.Event()
        self.finished = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        _OPEN_WATCHES.append(self)
        self.thread.start()
        assert self.started.wait(15), "the watch did not start"

    def _read(self) -> None:
        try:
            with (
                self.server.client(timeout=httpx.Timeout(30, read=60)) as client,
                client.stream("GET", self.path, params=self.params) as response,
            ):
                self.status = response.status_code
                stream = response.extensions.get("network_stream")
                self.socket = stream.get_extra_info("socket") if stream is not None else None
                if response.status_code != 200:
                    self.body = response.read()
                    return
                self.started.set()
                for line in response.iter_lines():
                    if line.strip():
                        self.events.put(json.loads(line))
        except Exception as exc:  # reported by next(); a closed watch's end is no error
            if not self.closed:
                self.error = exc
        finally:
            self.started.set()
            self.finished.set()

    def close(self) -> None:
        self.closed = True
        if self.socket is not None:
            with contextlib.suppress(OSError):
                self.socket.shutdown(socket.SHUT_RDWR)
        self.thread.join(10)

    def next(self, timeout: float = 10.0) -> dict[str, Any]:
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(
                f"no event within {timeout}s on {self.path} (error: {self.error!r})"
            ) from None

    def until(self, check: Any, timeout: float = 10.0) -> dict[str, Any]:
        """The first event for which ``check(event)`` holds."""
        deadline = time.monotonic() + timeout
        while True:
            event = self.next(max(0.01, deadline - time.monotonic()))
            if check(event):
                return event

    def quiet(self, seconds: float = 0.8) -> list[dict[str, Any]]:
        """Whatever arrives within ``seconds`` (to show that nothing does)."""
        found = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                found.append(self.events.get(timeout=left))
            except queue.Empty:
                break
        return found


_OPEN_WATCHES: list[Watch] = []


@pytest.fixture(autouse=True)
def _close_watches() -> Iterator[None]:
    yield
    while _OPEN_WATCHES:
        _OPEN_WATCHES.pop().close()


def event_of(event: dict[str, Any]) -> tuple[str, str]:
    return event["type"], event["object"]["metadata"]["name"]


# --- image streams: every verb ---------------------------------------------------------------


def test_image_stream_lifecycle(admin: httpx.Client, project: str) -> None:
    created = create_stream(
        admin,
        project,
        "web",
        metadata={"labels": {"tier": "front"}, "annotations": {"note": "hello"}},
        spec={"lookupPolicy": {"local": True}},
    )
    meta = created["metadata"]
    assert (meta["name"], meta["namespace"], meta["labels"], meta["annotations"]) == (
        "web",
        project,
        {"tier": "front"},
        {"note": "hello"},
    )
    assert meta["uid"] and meta["resourceVersion"].isdigit() and meta["generation"] == 1
    assert created["spec"]["lookupPolicy"] == {"local": True}
    assert created["status"]["dockerImageRepository"].endswith(f"/{project}/web")

    assert get_stream(admin, project, "web") == created
    listed = admin.get(streams(project)).json()
    assert (listed["kind"], names(listed)) == ("ImageStreamList", ["web"])
    assert int(listed["metadata"]["resourceVersion"]) >= int(meta["resourceVersion"])

    replaced = {**created, "metadata": {**meta, "labels": {"tier": "back"}}}
    replaced["spec"] = {"lookupPolicy": {"local": False}, "tags": []}
    response = admin.put(f"{streams(project)}/web", json=replaced)
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["metadata"]["labels"] == {"tier": "back"}
    assert updated["metadata"]["generation"] == 2  # the spec changed
    assert int(updated["metadata"]["resourceVersion"]) > int(meta["resourceVersion"])
    assert updated["metadata"]["uid"] == meta["uid"]

    response = admin.delete(f"{streams(project)}/web")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "Success"
    assert_status(admin.get(f"{streams(project)}/web"), 404, "NotFound")
    assert names(admin.get(streams(project)).json()) == []
    assert_status(admin.delete(f"{streams(project)}/web"), 404, "NotFound")


def test_deeper_names_by_path_and_percent_encoding(admin: httpx.Client, project: str) -> None:
    create_stream(admin, project, "team/web/app")
    by_path = get_stream(admin, project, "team/web/app")
    response = admin.get(
        httpx.URL(f"http://x{streams(project)}/team%2Fweb%2Fapp").raw_path.decode()
    )
    assert response.status_code == 200, response.text
    assert response.json() == by_path
    assert by_path["metadata"]["name"] == "team/web/app"
    response = patch(
        admin, f"{streams(project)}/team%2Fweb%2Fapp", {"metadata": {"labels": {"a": "b"}}}
    )
    assert response.status_code == 200, response.text
    assert admin.delete(f"{streams(project)}/team/web/app").status_code == 200
    assert_status(admin.get(f"{streams(project)}/team/web/app"), 404, "NotFound")


def test_list_across_namespaces(admin: httpx.Client) -> None:
    first, second = new_project(admin), new_project(admin)
    create_stream(admin, first, "one", metadata={"labels": {"pair": first}})
    create_stream(admin, second, "two", metadata={"labels": {"pair": first}})
    listed = admin.get(f"{IMAGE}/imagestreams", params={"labelSelector": f"pair={first}"}).json()
    found = sorted((i["metadata"]["namespace"], i["metadata"]["name"]) for i in listed["items"])
    assert found == sorted([(first, "one"), (second, "two")])


# --- bad input: the error, and nothing stored ------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code", "reason", "field"),
    [
        (stream_body("Bad_Name"), 422, "Invalid", "metadata.name"),
        (stream_body("-dash"), 422, "Invalid", "metadata.name"),
        (stream_body("a//b"), 422, "Invalid", "metadata.name"),
        (stream_body("x" * 300), 422, "Invalid", "metadata.name"),
        (
            {"apiVersion": "image.openshift.io/v1", "kind": "ImageStream", "metadata": {}},
            422,
            "Invalid",
            "metadata.name",
        ),
        ({**stream_body("app"), "sepc": {}}, 422, "Invalid", "sepc"),
        ({**stream_body("app"), "spec": {"tagz": []}}, 422, "Invalid", "spec.tagz"),
        (stream_body("app", generateName="x-"), 422, "Invalid", "metadata.generateName"),
        (
            {**stream_body("app"), "spec": {"tags": [{"name": "bad tag"}]}},
            422,
            "Invalid",
            "spec.tags[0].name",
        ),
        (stream_body("app", labels={"bad key!": "v"}), 422, "Invalid", "metadata.labels"),
        (stream_body("app", labels={"k": "v" * 64}), 422, "Invalid", "metadata.labels"),
        (stream_body("app", labels={"k": 5}), 422, "Invalid", "metadata.labels.k"),
        (
            {**stream_body("app"), "apiVersion": "image.openshift.io/v2"},
            400,
            "BadRequest",
            "apiVersion",
        ),
        ({**stream_body("app"), "kind": "ImageStreamTag"}, 400, "BadRequest", "kind"),
        ({**stream_body("app", namespace="elsewhere")}, 400, "BadRequest", "metadata.namespace"),
    ],
    ids=lambda value: str(value)[:40] if not isinstance(value, dict) else None,
)
def test_bad_streams_are_refused_and_not_stored(
    admin: httpx.Client, project: str, body: dict[str, Any], code: int, reason: str, field: str
) -> None:
    status = assert_status(admin.post(streams(project), json=body), code, reason)
    fields = [cause.get("field") for cause in status.get("details", {}).get("causes", [])]
    assert field in fields or field in status["message"], status
    assert names(admin.get(streams(project)).json()) == []


def test_bodies_that_are_no_object(admin: httpx.Client, project: str) -> None:
    for content in (b"{not json", b"[1, 2]", b'"text"', b""):
        response = admin.post(
            streams(project), content=content, headers={"Content-Type": "application/json"}
        )
        assert_status(response, 400, "BadRequest")
    response = admin.post(streams(project), content=b"a: b", headers={"Content-Type": "text/yaml"})
    assert_status(response, 415, "UnsupportedMediaType")
    assert names(admin.get(streams(project)).json()) == []


def test_objects_over_the_size_limit_are_413(admin: httpx.Client, project: str) -> None:
    huge = stream_body("app", annotations={"big": "x" * (1 << 20)})
    assert_status(admin.post(streams(project), json=huge), 413, "RequestEntityTooLarge")
    assert_status(admin.get(f"{streams(project)}/app"), 404, "NotFound")
    create_stream(admin, project, "app")
    before = get_stream(admin, project, "app")
    response = patch(
        admin, f"{streams(project)}/app", {"metadata": {"annotations": {"big": "x" * (1 << 20)}}}
    )
    assert_status(response, 413, "RequestEntityTooLarge")
    assert get_stream(admin, project, "app") == before


def test_annotations_over_256_kib_are_422(admin: httpx.Client, project: str) -> None:
    body = stream_body("app", annotations={f"k{i}": "x" * 60_000 for i in range(5)})
    assert_status(admin.post(streams(project), json=body), 422, "Invalid")
    assert_status(admin.get(f"{streams(project)}/app"), 404, "NotFound")


def test_stream_in_a_missing_project_is_404(admin: httpx.Client) -> None:
    missing = f"missing-{uuid.uuid4().hex[:8]}"
    assert_status(admin.post(streams(missing), json=stream_body("app")), 404, "NotFound")
    assert_status(admin.get(f"{streams(missing)}/app"), 404, "NotFound")


def test_duplicate_stream_is_409(admin: httpx.Client, project: str) -> None:
    created = create_stream(admin, project, "app", metadata={"labels": {"v": "1"}})
    response = admin.post(streams(project), json=stream_body("app", labels={"v": "2"}))
    assert_status(response, 409, "AlreadyExists")
    assert get_stream(admin, project, "app") == created


def test_stale_update_is_409(admin: httpx.Client, project: str) -> None:
    created = create_stream(admin, project, "app")
    first = {**created, "metadata": {**created["metadata"], "labels": {"by": "first"}}}
    assert admin.put(f"{streams(project)}/app", json=first).status_code == 200
    current = get_stream(admin, project, "app")
    stale = {**created, "metadata": {**created["metadata"], "labels": {"by": "second"}}}
    assert_status(admin.put(f"{streams(project)}/app", json=stale), 409, "Conflict")
    assert get_stream(admin, project, "app") == current


def test_immutable_fields_are_422(admin: httpx.Client, project: str) -> None:
    created = create_stream(admin, project, "app")
    path = f"{streams(project)}/app"
    other_uid = {**created, "metadata": {**created["metadata"], "uid": str(uuid.uuid4())}}
    assert_status(admin.put(path, json=other_uid), 422, "Invalid")
    renamed = {**created, "metadata": {**created["metadata"], "name": "other"}}
    assert_status(admin.put(path, json=renamed), 400, "BadRequest")
    for change in (
        {"metadata": {"uid": str(uuid.uuid4())}},
        {"metadata": {"name": "other"}},
        {"metadata": {"namespace": "elsewhere"}},
        {"metadata": None},
    ):
        status = assert_status(patch(admin, path, change), 422, "Invalid")
        assert "immutable" in status["message"], status
    assert get_stream(admin, project, "app") == created
    assert_status(admin.get(f"{streams(project)}/other"), 404, "NotFound")


def test_unknown_paths_and_kinds_are_404_status(admin: httpx.Client, project: str) -> None:
    for path in (
        f"{IMAGE}/namespaces/{project}/widgets",
        f"{IMAGE}/widgets",
        "/apis/nosuch.example.com/v1/things",
        "/apis/image.openshift.io/v2",
        "/apis/nosuch.example.com",
        "/api/v1/nodes",
        "/api/v2",
    ):
        assert_status(admin.get(path), 404, "NotFound")


def test_verbs_a_kind_does_not_serve_are_405(admin: httpx.Client, project: str) -> None:
    ns = f"{IMAGE}/namespaces/{project}"
    assert_status(
        admin.delete(f"{ns}/imagestreamimages/app@sha256:{'0' * 64}"), 405, "MethodNotAllowed"
    )
    assert_status(admin.get(f"{ns}/imagestreammappings"), 405, "MethodNotAllowed")
    assert_status(admin.post(f"{IMAGE}/images", json={}), 405, "MethodNotAllowed")
    assert_status(patch(admin, f"{ns}/imagetags/app:v1", {}), 405, "MethodNotAllowed")
    assert_status(
        admin.get(f"{ns}/imagestreamtags", params={"watch": "1"}), 405, "MethodNotAllowed"
    )


# --- patches ---------------------------------------------------------------------------------


def spec_tag(name: str, image: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "from": {"kind": "DockerImage", "name": image}, **extra}


def tag_names(stream: dict[str, Any]) -> list[str]:
    return [tag["name"] for tag in stream["spec"]["tags"]]


def test_merge_patch(admin: httpx.Client, project: str) -> None:
    create_stream(
        admin,
        project,
        "app",
        metadata={"labels": {"keep": "1", "drop": "2"}},
        spec={"tags": [spec_tag("a", "example.com/a:1"), spec_tag("b", "example.com/b:1")]},
    )
    response = patch(
        admin,
        f"{streams(project)}/app",
        {
            "metadata": {"labels": {"drop": None, "add": "3"}, "annotations": {"n": "v"}},
            "spec": {"tags": [spec_tag("c", "example.com/c:1")]},  # lists are replaced whole
        },
    )
    assert response.status_code == 200, response.text
    patched = response.json()
    assert patched["metadata"]["labels"] == {"keep": "1", "add": "3"}
    assert patched["metadata"]["annotations"] == {"n": "v"}
    assert tag_names(patched) == ["c"]
    assert get_stream(admin, project, "app") == patched


def test_json_patch(admin: httpx.Client, project: str) -> None:
    create_stream(admin, project, "app", spec={"tags": [spec_tag("a", "example.com/a:1")]})
    operations = [
        {"op": "test", "path": "/spec/tags/0/name", "value": "a"},
        {"op": "add", "path": "/metadata/labels/x~1y", "value": "slash"},
        {"op": "add", "path": "/spec/tags/-", "value": spec_tag("b", "example.com/b:1")},
        {"op": "copy", "from": "/spec/tags/1", "path": "/spec/tags/0"},
        {"op": "replace", "path": "/spec/tags/0/name", "value": "c"},
        {"op": "move", "from": "/metadata/labels/x~1y", "path": "/metadata/annotations/moved"},
        {"op": "remove", "path": "/spec/tags/1"},
    ]
    response = patch(admin, f"{streams(project)}/app", operations, JSON_PATCH)
    assert response.status_code == 200, response.text
    patched = response.json()
    assert tag_names(patched) == ["c", "b"]
    assert patched["metadata"]["labels"] == {}
    assert patched["metadata"]["annotations"] == {"moved": "slash"}
    assert get_stream(admin, project, "app") == patched


def test_strategic_merge_patch(admin: httpx.Client, project: str) -> None:
    create_stream(
        admin,
        project,
        "app",
        spec={
            "tags": [
                spec_tag("a", "example.com/a:1", annotations={"x": "1"}),
                spec_tag("b", "example.com/b:1"),
                spec_tag("c", "example.com/c:1"),
            ]
        },
    )
    path = f"{streams(project)}/app"
    response = patch(
        admin,
        path,
        {
            "spec": {
                "tags": [
                    {"name": "a", "annotations": {"y": "2"}},  # merged into a, by name
                    {"name": "b", "$patch": "delete"},
                    spec_tag("d", "example.com/d:1"),  # added
                ]
            },
            "metadata": {"labels": {"s": "m"}},
        },
        STRATEGIC,
    )
    assert response.status_code == 200, response.text
    patched = response.json()
    assert tag_names(patched) == ["a", "c", "d"]
    assert patched["spec"]["tags"][0]["annotations"] == {"x": "1", "y": "2"}
    assert patched["spec"]["tags"][0]["from"]["name"] == "example.com/a:1"
    assert patched["metadata"]["labels"] == {"s": "m"}

    response = patch(
        admin,
        path,
        {"spec": {"tags": [{"$patch": "replace"}, spec_tag("z", "example.com/z:1")]}},
        STRATEGIC,
    )
    assert response.status_code == 200, response.text
    assert tag_names(response.json()) == ["z"]
    response = patch(
        admin,
        path,
        {"metadata": {"labels": {"$patch": "replace", "only": "this"}}},
        STRATEGIC,
    )
    assert response.json()["metadata"]["labels"] == {"only": "this"}
    assert get_stream(admin, project, "app") == response.json()


@pytest.mark.parametrize(
    ("media_type", "body", "code", "reason", "mentions"),
    [
        (JSON_PATCH, {"op": "add"}, 400, "BadRequest", "array"),
        (JSON_PATCH, [{"op": "frobnicate", "path": "/a"}], 400, "BadRequest", "operation 0"),
        (JSON_PATCH, [{"op": "add", "value": 1}], 400, "BadRequest", "'path'"),
        (JSON_PATCH, [{"op": "remove", "path": "/spec/nothing"}], 422, "Invalid", "operation 0"),
        (
            JSON_PATCH,
            [
                {"op": "add", "path": "/metadata/labels/a", "value": "b"},
                {"op": "test", "path": "/metadata/name", "value": "other"},
            ],
            422,
            "Invalid",
            "operation 1",
        ),
        (
            JSON_PATCH,
            [{"op": "add", "path": "/spec/tags/7", "value": {}}],
            422,
            "Invalid",
            "operation 0",
        ),
        (JSON_PATCH, [{"op": "add", "path": "spec", "value": {}}], 422, "Invalid", "pointer"),
        (
            JSON_PATCH,
            [{"op": "add", "path": "/spec/bogus", "value": 1}],
            422,
            "Invalid",
            "spec.bogus",
        ),
        (
            JSON_PATCH,
            [{"op": "replace", "path": "/kind", "value": "Image"}],
            400,
            "BadRequest",
            "kind",
        ),
        (MERGE, [1, 2], 400, "BadRequest", "object"),
        (
            MERGE,
            {"spec": {"lookupPolicy": {"local": "maybe"}}},
            422,
            "Invalid",
            "spec.lookupPolicy.local",
        ),
        (MERGE, {"apiVersion": "v1"}, 400, "BadRequest", "API version"),
        (
            STRATEGIC,
            {"spec": {"tags": [{"from": {"kind": "DockerImage", "name": "x"}}]}},
            400,
            "BadRequest",
            "merge key",
        ),
        (STRATEGIC, {"$patch": "explode"}, 400, "BadRequest", "explode"),
        (STRATEGIC, {"$retainKeys": ["spec"]}, 400, "BadRequest", "$retainKeys"),
        ("application/json", {}, 415, "UnsupportedMediaType", "merge-patch"),
        ("application/apply-patch+yaml", {}, 415, "UnsupportedMediaType", "apply-patch"),
    ],
)
def test_bad_patches_change_nothing(
    admin: httpx.Client,
    project: str,
    media_type: str,
    body: Any,
    code: int,
    reason: str,
    mentions: str,
) -> None:
    created = create_stream(
        admin, project, "app", spec={"tags": [spec_tag("a", "example.com/a:1")]}
    )
    status = assert_status(patch(admin, f"{streams(project)}/app", body, media_type), code, reason)
    assert mentions in json.dumps(status), status
    assert get_stream(admin, project, "app") == created


def test_a_patch_that_makes_the_object_too_large_is_413(admin: httpx.Client, project: str) -> None:
    big = spec_tag("a", "example.com/a:1", annotations={"big": "x" * 600_000})
    created = create_stream(admin, project, "app", spec={"tags": [big]})
    copy = [{"op": "copy", "from": "/spec/tags/0", "path": "/spec/tags/-"}]
    assert_status(
        patch(admin, f"{streams(project)}/app", copy, JSON_PATCH), 413, "RequestEntityTooLarge"
    )
    assert get_stream(admin, project, "app") == created


def test_patch_with_a_stale_version_is_409(admin: httpx.Client, project: str) -> None:
    created = create_stream(admin, project, "app")
    path = f"{streams(project)}/app"
    assert patch(admin, path, {"metadata": {"labels": {"a": "1"}}}).status_code == 200
    current = get_stream(admin, project, "app")
    stale = {
        "metadata": {
            "resourceVersion": created["metadata"]["resourceVersion"],
            "labels": {"a": "2"},
        }
    }
    assert_status(patch(admin, path, stale), 409, "Conflict")
    assert get_stream(admin, project, "app") == current


def test_concurrent_patches_never_lose_an_update(
    admin: httpx.Client, project: str, server: RegistryProcess
) -> None:
    """Each patch is get → apply → update at the version fetched: of two racing patches each
    either lands or answers 409, and every label that landed is there at the end."""
    create_stream(admin, project, "app")
    path = f"{streams(project)}/app"
    outcomes: dict[str, int] = {}

    def label(key: str) -> None:
        with server.client() as client:
            outcomes[key] = patch(client, path, {"metadata": {"labels": {key: "1"}}}).status_code

    threads = [threading.Thread(target=label, args=(f"k{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert set(outcomes.values()) <= {200, 409}, outcomes
    landed = {key for key, code in outcomes.items() if code == 200}
    assert landed, outcomes
    kept = set(get_stream(admin, project, "app")["metadata"]["labels"])
    assert kept == landed


def test_patch_needs_the_patch_verb(
    admin: httpx.Client, server: RegistryProcess, project: str
) -> None:
    create_stream(admin, project, "app")
    viewer = make_user(admin, server, project, "registry-viewer")
    with client_as(server, viewer) as client:
        assert client.get(f"{streams(project)}/app").status_code == 200
        assert_status(
            patch(client, f"{streams(project)}/app", {"metadata": {"labels": {"a": "b"}}}),
            403,
            "Forbidden",
        )
    assert get_stream(admin, project, "app")["metadata"]["labels"] == {}


# --- lists: selectors, limit and continue -----------------------------------------------------


def test_label_selectors(admin: httpx.Client, project: str) -> None:
    labels = {
        "a": {"env": "prod", "tier": "front"},
        "b": {"env": "dev", "tier": "back"},
        "c": {"env": "test"},
        "d": {"tier": "front", "count": "7"},
        "e": {},
    }
    for name, values in labels.items():
        create_stream(admin, project, name, metadata={"labels": values})
    expected = {
        "": ["a", "b", "c", "d", "e"],
        "env=prod": ["a"],
        "env==prod": ["a"],
        "env!=prod": ["b", "c", "d", "e"],
        "env in (dev, test)": ["b", "c"],
        "env notin (dev,test)": ["a", "d", "e"],
        "tier": ["a", "b", "d"],
        "!tier": ["c", "e"],
        "tier=front,env=prod": ["a"],
        "tier=front, !env": ["d"],
        "count>5": ["d"],
        "count<5": [],
        "example.com/owner=x": [],
    }
    for selector, wanted in expected.items():
        listed = admin.get(streams(project), params={"labelSelector": selector})
        assert listed.status_code == 200, (selector, listed.text)
        assert sorted(names(listed.json())) == wanted, selector
    for bad in (
        "=prod",
        "env in prod",
        "env in (a",
        "a,,b",
        "a,",
        "!a=b",
        "bad key=1",
        "k=" + "v" * 64,
        "n>x",
    ):
        assert_status(admin.get(streams(project), params={"labelSelector": bad}), 400, "BadRequest")
    # An empty value is a value: nothing has env="".
    assert names(admin.get(streams(project), params={"labelSelector": "env="}).json()) == []


def test_field_selectors(admin: httpx.Client, project: str) -> None:
    for name in ("one", "two"):
        create_stream(admin, project, name)
    by_name = admin.get(streams(project), params={"fieldSelector": "metadata.name=two"})
    assert names(by_name.json()) == ["two"]
    others = admin.get(streams(project), params={"fieldSelector": "metadata.name!=two"})
    assert names(others.json()) == ["one"]
    ns = admin.get(streams(project), params={"fieldSelector": f"metadata.namespace={project}"})
    assert sorted(names(ns.json())) == ["one", "two"]
    for bad in ("spec.foo=1", "metadata.name"):
        assert_status(admin.get(streams(project), params={"fieldSelector": bad}), 400, "BadRequest")


def test_limit_and_continue_over_many_streams(admin: httpx.Client, project: str) -> None:
    created = sorted(f"s{i:02d}" for i in range(23))
    for name in created:
        create_stream(admin, project, name, metadata={"labels": {"odd": str(int(name[1:]) % 2)}})
    seen: list[str] = []
    token = None
    versions = set()
    pages = 0
    while True:
        params = {"limit": "5"}
        if token:
            params["continue"] = token
        body = admin.get(streams(project), params=params).json()
        pages += 1
        assert len(body["items"]) <= 5
        seen += names(body)
        versions.add(body["metadata"]["resourceVersion"])
        token = body["metadata"].get("continue")
        if not token:
            break
        if pages == 2:
            create_stream(admin, project, "s99")  # later than the key: still listed
    assert seen == [*created, "s99"]
    assert pages == 5
    assert len(versions) == 1  # a continued list keeps its first resourceVersion

    odd: list[str] = []
    token = None
    while True:
        params = {"limit": "4", "labelSelector": "odd=1"}
        if token:
            params["continue"] = token
        body = admin.get(streams(project), params=params).json()
        odd += names(body)
        token = body["metadata"].get("continue")
        if not token:
            break
    assert odd == [n for n in created if int(n[1:]) % 2]
    for bad in ({"continue": "not-a-token"}, {"continue": "e30"}, {"limit": "-1"}, {"limit": "x"}):
        assert_status(admin.get(streams(project), params=bad), 400, "BadRequest")
    assert names(admin.get(streams(project), params={"limit": "0"}).json()) == [*created, "s99"]


# --- tags, image tags, stream images, mappings, layers, images ---------------------------------


def test_a_stream_tag_is_created_when_the_tag_last_moved(admin: httpx.Client, project: str) -> None:
    stream = create_stream(admin, project, "app")
    time.sleep(1.1)  # creationTimestamp has second precision
    push_image(admin, f"{project}/app", "v1")
    tag = admin.get(f"{IMAGE}/namespaces/{project}/imagestreamtags/app:v1").json()
    assert tag["metadata"]["creationTimestamp"] > stream["metadata"]["creationTimestamp"]


def test_tags_images_mappings_and_layers(admin: httpx.Client, project: str) -> None:
    image = push_image(admin, f"{project}/app", "v1")
    ns = f"{IMAGE}/namespaces/{project}"

    tag = admin.get(f"{ns}/imagestreamtags/app:v1")
    assert tag.status_code == 200, tag.text
    assert tag.json()["image"]["metadata"]["name"] == image.digest
    assert names(admin.get(f"{ns}/imagestreamtags").json()) == ["app:v1"]

    body = {
        "apiVersion": "image.openshift.io/v1",
        "kind": "ImageStreamTag",
        "metadata": {"name": "app:v2"},
        "tag": {"from": {"kind": "ImageStreamTag", "name": "app:v1"}},
    }
    created = admin.post(f"{ns}/imagestreamtags", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["image"]["metadata"]["name"] == image.digest
    assert_status(admin.post(f"{ns}/imagestreamtags", json=body), 409, "AlreadyExists")
    body["metadata"]["name"] = "app:v3"
    updated = admin.put(f"{ns}/imagestreamtags/app:v3", json=body)
    assert updated.status_code == 200, updated.text
    assert sorted(names(admin.get(f"{ns}/imagestreamtags").json())) == [
        "app:v1",
        "app:v2",
        "app:v3",
    ]
    stale = {**updated.json(), "metadata": {**updated.json()["metadata"], "resourceVersion": "1"}}
    assert_status(admin.put(f"{ns}/imagestreamtags/app:v3", json=stale), 409, "Conflict")
    bad = {**body, "metadata": {"name": "app:v4"}, "tag": {"from": {"kind": "Nope", "name": "x"}}}
    assert_status(admin.post(f"{ns}/imagestreamtags", json=bad), 422, "Invalid")
    assert_status(admin.get(f"{ns}/imagestreamtags/app:v4"), 404, "NotFound")
    missing = {
        **body,
        "metadata": {"name": "app:v5"},
        "tag": {"from": {"kind": "ImageStreamTag", "name": "app:none"}},
    }
    assert_status(admin.post(f"{ns}/imagestreamtags", json=missing), 404, "NotFound")
    assert_status(
        admin.post(f"{ns}/imagestreamtags", json={**body, "metadata": {"name": "no-colon"}}),
        422,
        "Invalid",
    )

    image_tag = admin.get(f"{ns}/imagetags/app:v2")
    assert image_tag.status_code == 200, image_tag.text
    view = image_tag.json()
    assert view["kind"] == "ImageTag"
    assert view["spec"]["from"] == {"kind": "ImageStreamTag", "name": "app:v1"}
    assert view["status"]["items"][0]["image"] == image.digest
    assert view["image"]["metadata"]["name"] == image.digest
    listed = admin.get(f"{ns}/imagetags").json()
    assert names(listed) == ["app:v1", "app:v2", "app:v3"]
    assert all(item["image"] is None for item in listed["items"])
    assert (
        admin.get(
            f"{IMAGE}/imagetags", params={"fieldSelector": f"metadata.namespace={project}"}
        ).json()["items"]
        == listed["items"]
    )
    assert_status(admin.get(f"{ns}/imagetags/app:nope"), 404, "NotFound")
    assert_status(admin.get(f"{ns}/imagetags/nope:v1"), 404, "NotFound")

    stream_image = admin.get(f"{ns}/imagestreamimages/app@{image.digest}")
    assert stream_image.status_code == 200, stream_image.text
    assert stream_image.json()["image"]["metadata"]["name"] == image.digest
    assert_status(admin.get(f"{ns}/imagestreamimages/app@sha256:{'0' * 64}"), 404, "NotFound")

    got = admin.get(f"{IMAGE}/images/{image.digest}")
    assert got.status_code == 200, got.text
    assert got.json()["dockerImageReference"].endswith(f"/{project}/app@{image.digest}")
    assert [layer["name"] for layer in got.json()["dockerImageLayers"]] == image.layer_digests
    assert image.digest in names(admin.get(f"{IMAGE}/images").json())
    assert_status(admin.get(f"{IMAGE}/images/sha256:{'0' * 64}"), 404, "NotFound")

    mapping = {
        "apiVersion": "image.openshift.io/v1",
        "kind": "ImageStreamMapping",
        "metadata": {"name": "mapped"},
        "image": {"metadata": {"name": image.digest}},
        "tag": "m1",
    }
    response = admin.post(f"{ns}/imagestreammappings", json=mapping)
    assert response.status_code == 201, response.text
    assert (
        admin.get(f"{ns}/imagestreamtags/mapped:m1").json()["image"]["metadata"]["name"]
        == image.digest
    )
    unknown = {**mapping, "image": {"metadata": {"name": f"sha256:{'1' * 64}"}}, "tag": "m2"}
    assert_status(admin.post(f"{ns}/imagestreammappings", json=unknown), 404, "NotFound")
    assert_status(
        admin.post(f"{ns}/imagestreammappings", json={**mapping, "extra": 1}), 422, "Invalid"
    )
    assert_status(admin.get(f"{ns}/imagestreamtags/mapped:m2"), 404, "NotFound")

    layers = admin.get(f"{ns}/imagestreams/app/layers")
    assert layers.status_code == 200, layers.text
    assert layers.json()["kind"] == "ImageStreamLayers"
    assert set(layers.json()["blobs"]) == {image.config_digest, *image.layer_digests}
    assert layers.json()["images"][image.digest]["layers"] == image.layer_digests
    assert_status(admin.get(f"{ns}/imagestreams/nope/layers"), 404, "NotFound")

    assert admin.delete(f"{ns}/imagestreamtags/app:v3").status_code == 200
    assert_status(admin.get(f"{ns}/imagestreamtags/app:v3"), 404, "NotFound")
    assert_status(admin.delete(f"{ns}/imagestreamtags/app:v3"), 404, "NotFound")


def test_image_lists_page_by_digest(admin: httpx.Client, project: str) -> None:
    for i in range(3):
        push_image(admin, f"{project}/app", f"t{i}")
    digests: list[str] = []
    token = None
    while True:
        params = {"limit": "2", **({"continue": token} if token else {})}
        body = admin.get(f"{IMAGE}/images", params=params).json()
        assert body["kind"] == "ImageList" and len(body["items"]) <= 2
        digests += names(body)
        token = body["metadata"].get("continue")
        if not token:
            break
    assert digests == sorted(set(digests)) and len(digests) >= 3


def test_images_need_a_cluster_binding(
    admin: httpx.Client, server: RegistryProcess, project: str
) -> None:
    image = push_image(admin, f"{project}/app", "v1")
    editor = make_user(admin, server, project, "registry-editor")
    with client_as(server, editor) as client:
        assert client.get(f"{IMAGE}/namespaces/{project}/imagestreamtags/app:v1").status_code == 200
        assert_status(client.get(f"{IMAGE}/images/{image.digest}"), 403, "Forbidden")
        assert_status(client.get(f"{IMAGE}/images"), 403, "Forbidden")
        assert_status(client.get(f"{IMAGE}/imagestreams"), 403, "Forbidden")


def make_user(admin: httpx.Client, server: RegistryProcess, project: str, role: str) -> str:
    """A new user bound to ``role`` in ``project``; returns its API token."""
    name = f"u{uuid.uuid4().hex[:10]}"
    password = uuid.uuid4().hex
    response = admin.post(
        "/apis/user.openshift.io/v1/users", json={"metadata": {"name": name}, "password": password}
    )
    assert response.status_code == 201, response.text
    binding = {
        "metadata": {"name": f"{role}-{name}"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": name}],
    }
    response = admin.post(
        f"/apis/rbac.authorization.k8s.io/v1/namespaces/{project}/rolebindings", json=binding
    )
    assert response.status_code == 201, response.text
    return api_token(server.url, name, password)


# --- watches ---------------------------------------------------------------------------------


def test_watch_sees_a_push_within_a_second(
    server: RegistryProcess, admin: httpx.Client, project: str
) -> None:
    create_stream(admin, project, "existing")
    watch = Watch(server, streams(project))
    assert event_of(watch.next()) == ("ADDED", "existing")  # from now: what exists first
    assert watch.quiet(0.5) == []

    push_image(admin, f"{project}/pushed", "v1")
    pushed_at = time.monotonic()
    event = watch.next(EVENT_DEADLINE + 1)
    assert time.monotonic() - pushed_at < EVENT_DEADLINE, "the push took too long to show"
    assert event_of(event) == ("ADDED", "pushed")  # a stream created by a push is ADDED
    assert [t["tag"] for t in event["object"]["status"]["tags"]] == ["v1"]

    push_image(admin, f"{project}/pushed", "v2")
    pushed_at = time.monotonic()
    event = watch.next(EVENT_DEADLINE + 1)
    assert time.monotonic() - pushed_at < EVENT_DEADLINE
    assert event_of(event) == ("MODIFIED", "pushed")
    assert [t["tag"] for t in event["object"]["status"]["tags"]] == ["v1", "v2"]
    assert int(event["object"]["metadata"]["resourceVersion"]) > 0

    assert admin.delete(f"{streams(project)}/pushed").status_code == 200
    event = watch.next(EVENT_DEADLINE + 1)
    assert event_of(event) == ("DELETED", "pushed")
    assert event["object"]["metadata"]["namespace"] == project
    assert event["object"]["metadata"]["resourceVersion"].isdigit()

    other = new_project(admin)
    create_stream(admin, other, "elsewhere")  # another namespace: not this watch's
    assert watch.quiet(0.8) == []


def test_watch_sees_a_skopeo_copy(
    server: RegistryProcess, admin: httpx.Client, project: str, skopeo: Skopeo, tmp_path: Path
) -> None:
    watch = Watch(server, streams(project))
    layout = make_layout(tmp_path / "layout", "v1")
    skopeo.copy(layout.ref, f"docker://{server.host}/{project}/copied:v1")
    event = watch.until(lambda e: e["object"]["metadata"]["name"] == "copied")
    assert event["type"] == "ADDED"
    tags = event["object"]["status"]["tags"]
    if not tags:  # the stream's first change may be seen before the manifest
        event = watch.until(lambda e: e["object"]["status"]["tags"], EVENT_DEADLINE + 5)
        tags = event["object"]["status"]["tags"]
    assert tags[0]["items"][0]["image"] == layout.digest


def test_deleting_the_project_deletes_its_streams_in_the_watch(
    server: RegistryProcess, admin: httpx.Client
) -> None:
    doomed = new_project(admin)
    for name in ("a", "b"):
        create_stream(admin, doomed, name)
    watch = Watch(server, streams(doomed))
    assert sorted(event_of(watch.next())[1] for _ in range(2)) == ["a", "b"]
    response = admin.delete(f"/apis/project.openshift.io/v1/projects/{doomed}")
    assert response.status_code == 200, response.text
    deleted = [event_of(watch.next(EVENT_DEADLINE + 1)) for _ in range(2)]
    assert sorted(deleted) == [("DELETED", "a"), ("DELETED", "b")]


def test_watch_resumes_from_a_resource_version(
    server: RegistryProcess, admin: httpx.Client, project: str
) -> None:
    first = create_stream(admin, project, "one")
    start = first["metadata"]["resourceVersion"]
    path = f"{streams(project)}/one"
    second = patch(admin, path, {"metadata": {"labels": {"n": "2"}}}).json()
    create_stream(admin, project, "two")
    assert admin.delete(path).status_code == 200

    watch = Watch(server, streams(project), resourceVersion=start)
    events = [watch.next() for _ in range(2)]
    # "one" was modified, then deleted after `start`: the watch renders objects as they are
    # now, so its modification shows as the deletion; "two" was created. Nothing from before
    # `start` is repeated.
    assert [event_of(e) for e in events] == [("ADDED", "two"), ("DELETED", "one")]
    assert watch.quiet(0.5) == []
    versions = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert all(v > int(start) for v in versions)
    assert int(second["metadata"]["resourceVersion"]) > int(start)

    resumed = Watch(server, streams(project), resourceVersion=str(max(versions)))
    assert resumed.quiet(0.8) == []
    create_stream(admin, project, "three")
    assert event_of(resumed.next(EVENT_DEADLINE + 1)) == ("ADDED", "three")


def test_watch_resumed_from_a_list(
    server: RegistryProcess, admin: httpx.Client, project: str
) -> None:
    create_stream(admin, project, "one")
    listed = admin.get(streams(project)).json()
    patch(admin, f"{streams(project)}/one", {"metadata": {"labels": {"n": "2"}}})
    watch = Watch(server, streams(project), resourceVersion=listed["metadata"]["resourceVersion"])
    event = watch.next()
    assert event_of(event) == ("MODIFIED", "one")
    assert event["object"]["metadata"]["labels"] == {"n": "2"}
    assert watch.quiet(0.5) == []


def test_watch_of_one_object(server: RegistryProcess, admin: httpx.Client, project: str) -> None:
    for name in ("a", "b"):
        create_stream(admin, project, name)
    by_path = Watch(server, f"{streams(project)}/a")
    by_field = Watch(server, streams(project), fieldSelector="metadata.name=a")
    for watch in (by_path, by_field):
        assert event_of(watch.next()) == ("ADDED", "a")
    for name in ("b", "a"):
        patch(admin, f"{streams(project)}/{name}", {"metadata": {"labels": {"x": "y"}}})
    for watch in (by_path, by_field):
        assert event_of(watch.next(EVENT_DEADLINE + 1)) == ("MODIFIED", "a")
        assert watch.quiet(0.5) == []


def test_watch_with_a_label_selector(
    server: RegistryProcess, admin: httpx.Client, project: str
) -> None:
    create_stream(admin, project, "app")
    watch = Watch(server, streams(project), labelSelector="team=red")
    assert watch.quiet(0.5) == []
    path = f"{streams(project)}/app"
    patch(admin, path, {"metadata": {"labels": {"team": "red"}}})
    assert event_of(watch.next(EVENT_DEADLINE + 1)) == ("ADDED", "app")  # it starts to match
    patch(admin, path, {"metadata": {"labels": {"team": "red", "more": "1"}}})
    assert event_of(watch.next(EVENT_DEADLINE + 1)) == ("MODIFIED", "app")
    patch(admin, path, {"metadata": {"labels": {"team": "blue"}}})
    assert event_of(watch.next(EVENT_DEADLINE + 1)) == ("DELETED", "app")  # it no longer does
    admin.delete(path)
    assert watch.quiet(0.8) == []


def test_watch_ends_after_timeout_seconds(server: RegistryProcess, project: str) -> None:
    started = time.monotonic()
    watch = Watch(server, streams(project), timeoutSeconds="1")
    assert watch.finished.wait(10)
    assert watch.status == 200
    assert 0.8 < time.monotonic() - started < 8


def test_watch_from_the_future_is_504(admin: httpx.Client, project: str) -> None:
    current = int(admin.get(streams(project)).json()["metadata"]["resourceVersion"])
    response = admin.get(
        streams(project), params={"watch": "true", "resourceVersion": str(current + 1000)}
    )
    status = assert_status(response, 504, "Timeout")
    assert status["details"]["causes"][0]["reason"] == "ResourceVersionTooLarge"
    assert response.headers["retry-after"] == "1"
    for bad in ("abc", "-1", "1.5"):
        response = admin.get(streams(project), params={"watch": "1", "resourceVersion": bad})
        assert_status(response, 400, "BadRequest")
    assert_status(admin.get(streams(project), params={"watch": "maybe"}), 400, "BadRequest")


def test_watch_needs_the_watch_verb(
    admin: httpx.Client, server: RegistryProcess, project: str
) -> None:
    puller = make_user(admin, server, project, "system:image-puller")
    with client_as(server, puller) as client:
        assert_status(client.get(streams(project), params={"watch": "1"}), 403, "Forbidden")
    viewer = make_user(admin, server, project, "registry-viewer")
    watch = Watch(As(server, viewer), streams(project), timeoutSeconds="1")
    assert watch.status == 200


class As:
    """A server seen as another user (a ``Watch`` takes it as it takes the server)."""

    def __init__(self, server: RegistryProcess, token: str) -> None:
        self.server, self.token = server, token

    def client(self, **options: Any) -> httpx.Client:
        return client_as(self.server, self.token, **options)


def client_as(server: RegistryProcess, token: str, **options: Any) -> httpx.Client:
    return httpx.Client(base_url=server.url, auth=("any", token), **options)


def test_watch_from_before_the_log_is_410(registry: RegistryProcess) -> None:
    """The log is never compacted yet; removing its first entries by hand stands in for it."""
    with registry.client() as client:
        project = new_project(client)
        for name in ("a", "b", "c"):
            create_stream(client, project, name)
        newest = int(client.get(streams(project)).json()["metadata"]["resourceVersion"])
        delete_changes_up_to(registry.database_url, newest - 1)
        response = client.get(streams(project), params={"watch": "1", "resourceVersion": "1"})
        status = assert_status(response, 410, "Expired")
        assert "too old resource version" in status["message"]
        # Right before the oldest entry kept is still served, and sees it.
        watch = Watch(registry, streams(project), resourceVersion=str(newest - 1))
        assert event_of(watch.next()) == ("ADDED", "c")


def delete_changes_up_to(database_url: str, last: int) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    async def run() -> None:
        engine = create_async_engine(database_url)
        try:
            async with engine.begin() as conn:
                await conn.execute(text("DELETE FROM changes WHERE id <= :last"), {"last": last})
        finally:
            await engine.dispose()

    asyncio.run(run())


# --- discovery and OpenAPI -------------------------------------------------------------------


def test_discovery_documents(admin: httpx.Client) -> None:
    versions = admin.get("/api").json()
    assert (versions["kind"], versions["versions"]) == ("APIVersions", ["v1"])
    core = admin.get("/api/v1").json()
    assert core["kind"] == "APIResourceList" and core["groupVersion"] == "v1"
    assert {r["name"] for r in core["resources"]} >= {"serviceaccounts", "serviceaccounts/token"}

    groups = admin.get("/apis").json()
    assert groups["kind"] == "APIGroupList"
    by_name = {g["name"]: g for g in groups["groups"]}
    assert set(by_name) >= {
        "image.openshift.io",
        "user.openshift.io",
        "project.openshift.io",
        "rbac.authorization.k8s.io",
    }
    for name, group in by_name.items():
        assert group["preferredVersion"]["groupVersion"] == f"{name}/v1"
        assert admin.get(f"/apis/{name}").json()["name"] == name
        listed = admin.get(f"/apis/{name}/v1").json()
        assert listed["groupVersion"] == f"{name}/v1" and listed["resources"]

    image = {r["name"]: r for r in admin.get(f"{IMAGE}").json()["resources"]}
    assert image["imagestreams"]["shortNames"] == ["is"]
    assert image["imagestreams"]["verbs"] == [
        "create",
        "delete",
        "get",
        "list",
        "patch",
        "update",
        "watch",
    ]
    assert image["imagestreams"]["namespaced"] is True
    assert image["imagestreams/layers"] == {
        "name": "imagestreams/layers",
        "singularName": "",
        "namespaced": True,
        "kind": "ImageStreamLayers",
        "verbs": ["get"],
    }
    assert image["imagestreamtags"]["shortNames"] == ["istag"]
    assert image["imagestreamimages"]["shortNames"] == ["isimage"]
    assert image["imagetags"]["shortNames"] == ["itag"]
    assert image["imagestreammappings"]["verbs"] == ["create"]
    assert image["images"]["namespaced"] is False and image["images"]["verbs"] == ["get", "list"]
    assert image["imagestreamimages"]["verbs"] == ["get"]
    assert image["imagestreamtags"]["verbs"] == [
        "create",
        "delete",
        "get",
        "list",
        "patch",
        "update",
    ]
    assert image["imagetags"]["verbs"] == ["get", "list"]
    projects = {
        r["name"]: r for r in admin.get("/apis/project.openshift.io/v1").json()["resources"]
    }
    assert projects["projectrequests"]["verbs"] == ["create"]


def test_discovery_is_public(server: RegistryProcess) -> None:
    with httpx.Client(base_url=server.url) as anonymous:
        for path in ("/api", "/apis", f"{IMAGE}", "/openapi/v2"):
            assert anonymous.get(path).status_code == 200, path


def test_openapi_describes_what_is_served(admin: httpx.Client, project: str) -> None:
    document = admin.get("/openapi/v2").json()
    assert document["swagger"] == "2.0"
    definitions = document["definitions"]
    operation_ids: list[str] = []

    def refs(value: Any) -> Iterator[str]:
        if isinstance(value, dict):
            if isinstance(value.get("$ref"), str):
                yield value["$ref"]
            for item in value.values():
                yield from refs(item)
        elif isinstance(value, list):
            for item in value:
                yield from refs(item)

    for reference in refs(document):
        assert reference.startswith("#/definitions/"), reference
        assert reference.removeprefix("#/definitions/") in definitions, reference
    for path, entry in document["paths"].items():
        declared = {p["name"] for p in entry.get("parameters", []) if p["in"] == "path"}
        for method, operation in entry.items():
            if method == "parameters":
                continue
            assert method in ("get", "put", "post", "patch", "delete"), (path, method)
            assert operation["responses"]["200"], (path, method)
            operation_ids.append(operation["operationId"])
            declared |= {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
        assert set(re.findall(r"{(\w+)}", path)) == declared, path
    assert len(operation_ids) == len(set(operation_ids))
    stream = definitions["io.openshift.image.v1.ImageStream"]
    assert stream["properties"]["spec"] and stream["additionalProperties"] is False
    assert stream["x-kubernetes-group-version-kind"] == [
        {"group": "image.openshift.io", "version": "v1", "kind": "ImageStream"}
    ]

    # Every path answers, with real objects named: 200, or 405 where GET is no verb of it.
    image = push_image(admin, f"{project}/app", "v1")
    admin.post("/apis/user.openshift.io/v1/groups", json={"metadata": {"name": f"g-{project}"}})
    accounts = f"/api/v1/namespaces/{project}/serviceaccounts"
    assert admin.post(accounts, json={"metadata": {"name": "robot"}}).status_code == 201
    for stored in ("secrets", "configmaps"):
        path = f"/api/v1/namespaces/{project}/{stored}"
        assert admin.post(path, json={"metadata": {"name": "one"}}).status_code == 201
    cluster_bindings = admin.get("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings").json()
    values = {
        "imagestreams": "app",
        "imagestreamtags": "app:v1",
        "imagetags": "app:v1",
        "imagestreamimages": f"app@{image.digest}",
        "images": image.digest,
        "users": "admin",
        "groups": f"g-{project}",
        "projects": project,
        "rolebindings": "system:image-pullers",
        "clusterrolebindings": names(cluster_bindings)[0],
        "clusterroles": "registry-viewer",
        "serviceaccounts": "robot",
        "secrets": "one",
        "configmaps": "one",
        "configs": "cluster",
        "clusteroperators": "image-registry",
        "pods": names(admin.get("/api/v1/namespaces/openshift-image-registry/pods").json())[0],
    }
    cluster = {"metadata": {"name": "cluster"}}  # the cluster image config, and the pruner
    for made in ("/apis/config.openshift.io/v1/images", f"{OPERATOR}/imagepruners"):
        assert admin.post(made, json=cluster).status_code in (201, 409)
    for path, entry in document["paths"].items():
        # pods are the workers, in the registry's own namespace
        concrete = path.replace(
            "{namespace}", "openshift-image-registry" if "/pods" in path else project
        )
        resource = re.findall(r"/([a-z]+)/{name}", path)
        if resource:
            config = path.startswith(("/apis/config.openshift.io/", OPERATOR)) and (
                resource[0] != "clusteroperators"
            )
            concrete = concrete.replace("{name}", "cluster" if config else values[resource[0]])
        response = admin.get(concrete)
        wanted = 200 if "get" in entry else 405
        assert response.status_code == wanted, (path, concrete, response.text)


# --- properties ------------------------------------------------------------------------------

_name_part = st.from_regex(r"[a-z0-9]([-a-z0-9_.]{0,8}[a-z0-9])?", fullmatch=True)
_label_keys = st.one_of(_name_part, st.builds(lambda n: f"example.com/{n}", _name_part))
_label_values = st.one_of(st.just(""), _name_part)
_labels = st.dictionaries(_label_keys, _label_values, max_size=5)
_annotations = st.dictionaries(_label_keys, st.text(string.printable, max_size=30), max_size=4)
_tag_names = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,12}", fullmatch=True)
_spec_tags = st.lists(
    st.builds(
        lambda name, source, reference, annotations: {
            "name": name,
            **(
                {"from": {"kind": "DockerImage", "name": f"example.com/{source}:1"}}
                if source
                else {}
            ),
            "reference": reference,
            **({"annotations": annotations} if annotations else {}),
        },
        _tag_names,
        st.one_of(st.none(), _name_part),
        st.booleans(),
        st.dictionaries(_name_part, _name_part, max_size=2),
    ),
    max_size=4,
    unique_by=lambda tag: tag["name"],
)
_PROPERTY_SETTINGS = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@_PROPERTY_SETTINGS
@given(labels=_labels, annotations=_annotations, tags=_spec_tags)
def test_objects_round_trip(
    server: RegistryProcess,
    labels: dict[str, str],
    annotations: dict[str, str],
    tags: list[dict[str, Any]],
) -> None:
    with server.client() as client:
        namespace = property_project(client)
        name = f"p{uuid.uuid4().hex[:10]}"
        created = create_stream(
            client,
            namespace,
            name,
            metadata={"labels": labels, "annotations": annotations},
            spec={"tags": tags},
        )
        fetched = get_stream(client, namespace, name)
        assert fetched == created
        assert fetched["metadata"]["labels"] == labels
        assert fetched["metadata"]["annotations"] == annotations
        stored = [
            {k: v for k, v in tag.items() if k in ("name", "from", "reference", "annotations")}
            for tag in fetched["spec"]["tags"]
        ]
        assert stored == tags


_label_patches = st.dictionaries(_label_keys, st.one_of(st.none(), _label_values), max_size=5)


@_PROPERTY_SETTINGS
@given(
    start=_labels,
    changes=st.lists(_label_patches, min_size=1, max_size=3),
    annotations=_annotations,
)
def test_merge_patches_round_trip(
    server: RegistryProcess,
    start: dict[str, str],
    changes: list[dict[str, str | None]],
    annotations: dict[str, str],
) -> None:
    with server.client() as client:
        namespace = property_project(client)
        name = f"p{uuid.uuid4().hex[:10]}"
        create_stream(client, namespace, name, metadata={"labels": start})
        expected = dict(start)
        for change in changes:
            response = patch(
                client,
                f"{streams(namespace)}/{name}",
                {"metadata": {"labels": change, "annotations": annotations}},
            )
            assert response.status_code == 200, response.text
            for key, value in change.items():
                if value is None:
                    expected.pop(key, None)
                else:
                    expected[key] = value
            assert get_stream(client, namespace, name)["metadata"]["labels"] == expected
        assert get_stream(client, namespace, name)["metadata"]["annotations"] == annotations


_property_projects: dict[str, str] = {}


def property_project(client: httpx.Client) -> str:
    """One project for all examples of the property tests (creating one is the slow part)."""
    key = str(client.base_url)
    if key not in _property_projects:
        _property_projects[key] = new_project(client, "prop")
    return _property_projects[key]
