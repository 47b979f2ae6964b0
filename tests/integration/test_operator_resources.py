"""The generic resource store through the API: core ``v1`` secrets and config maps.

Every verb (get, list, create, update, patch, delete, watch) against a real ``dockyard serve``
with two workers; project roles decide who may touch secrets; bad input is a 422 naming the
field, followed by a read that shows nothing changed; a secret's value never reaches the log.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from access_helpers import module_registry
from test_resource_api import MERGE, Watch, assert_status, event_of, make_user, new_project

if TYPE_CHECKING:
    from conftest import NewDatabase, RegistryProcess

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    new_database: NewDatabase,
) -> Iterator[RegistryProcess]:
    root = tmp_path_factory.mktemp("operator-resources")
    with module_registry(request.config, root, new_database(root)) as registry:
        yield registry


@pytest.fixture
def admin(server: RegistryProcess) -> Iterator[httpx.Client]:
    with server.client(timeout=60) as client:
        yield client


@pytest.fixture
def project(admin: httpx.Client) -> str:
    return new_project(admin, "op")


def secrets(namespace: str) -> str:
    return f"/api/v1/namespaces/{namespace}/secrets"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_secret_lifecycle(server: RegistryProcess, admin: httpx.Client, project: str) -> None:
    watch = Watch(server, secrets(project))
    value = f"s3cr3t-{uuid.uuid4().hex}"
    body = {
        "metadata": {"name": "creds", "labels": {"app": "registry"}},
        "data": {"REGISTRY_STORAGE_S3_ACCESSKEY": b64(value)},
        "stringData": {"plain": "text"},
    }
    created = admin.post(secrets(project), json=body)
    assert created.status_code == 201, created.text
    obj = created.json()
    assert obj["kind"] == "Secret" and obj["apiVersion"] == "v1"
    assert obj["type"] == "Opaque"
    assert obj["data"] == {"REGISTRY_STORAGE_S3_ACCESSKEY": b64(value), "plain": b64("text")}
    assert "stringData" not in obj
    meta = obj["metadata"]
    assert meta["namespace"] == project and meta["labels"] == {"app": "registry"}
    assert meta["uid"] and meta["resourceVersion"].isdigit() and meta["creationTimestamp"]
    assert event_of(watch.next()) == ("ADDED", "creds")

    got = admin.get(f"{secrets(project)}/creds").json()
    assert got == obj
    listed = admin.get(secrets(project)).json()
    assert listed["kind"] == "SecretList" and [i["metadata"]["name"] for i in listed["items"]] == [
        "creds"
    ]
    assert int(listed["metadata"]["resourceVersion"]) >= int(meta["resourceVersion"])
    assert admin.get(secrets(project), params={"labelSelector": "app=other"}).json()["items"] == []

    patched = admin.patch(
        f"{secrets(project)}/creds",
        json={"data": {"extra": b64("more")}},
        headers={"content-type": MERGE},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["data"]["extra"] == b64("more")
    assert int(patched.json()["metadata"]["resourceVersion"]) > int(meta["resourceVersion"])
    event = watch.next()
    assert event_of(event) == ("MODIFIED", "creds") and event["object"]["data"]["extra"]

    stale = {**body, "metadata": {"name": "creds", "resourceVersion": meta["resourceVersion"]}}
    assert_status(admin.put(f"{secrets(project)}/creds", json=stale), 409, "Conflict")
    replaced = admin.put(f"{secrets(project)}/creds", json={"data": {"only": b64("one")}})
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["data"] == {"only": b64("one")}
    assert event_of(watch.next()) == ("MODIFIED", "creds")

    assert_status(admin.post(secrets(project), json=body), 409, "AlreadyExists")
    deleted = admin.delete(f"{secrets(project)}/creds")
    assert deleted.status_code == 200 and deleted.json()["status"] == "Success"
    assert event_of(watch.next()) == ("DELETED", "creds")
    assert_status(admin.get(f"{secrets(project)}/creds"), 404, "NotFound")
    assert value not in server.log_text()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"data": {"k": "not base64!"}}, "data[k]"),
        ({"data": {"bad/key": b64("x")}}, "data[bad/key]"),
        ({"stringData": {"..": "x"}}, "stringData[..]"),
        ({"data": {"k": 5}}, "data.k"),
        ({"type": ""}, "type"),
        ({"dta": {}}, "dta"),
    ],
)
def test_bad_secrets_are_422_naming_the_field(
    admin: httpx.Client, project: str, body: dict[str, Any], field: str
) -> None:
    response = admin.post(secrets(project), json={"metadata": {"name": "bad"}, **body})
    status = assert_status(response, 422, "Invalid")
    assert field in [cause["field"] for cause in status["details"]["causes"]], status
    assert "not base64!" not in response.text
    assert_status(admin.get(f"{secrets(project)}/bad"), 404, "NotFound")


def test_immutable_secret_keeps_its_data(admin: httpx.Client, project: str) -> None:
    body = {"metadata": {"name": "fixed"}, "data": {"k": b64("v")}, "immutable": True}
    assert admin.post(secrets(project), json=body).status_code == 201
    response = admin.patch(
        f"{secrets(project)}/fixed",
        json={"data": {"k": b64("changed")}},
        headers={"content-type": MERGE},
    )
    assert_status(response, 422, "Invalid")
    assert admin.get(f"{secrets(project)}/fixed").json()["data"] == {"k": b64("v")}
    response = admin.patch(
        f"{secrets(project)}/fixed", json={"type": "other"}, headers={"content-type": MERGE}
    )
    assert_status(response, 422, "Invalid")


def test_secret_in_a_missing_project_is_404(admin: httpx.Client) -> None:
    response = admin.post(secrets("no-such-project"), json={"metadata": {"name": "x"}})
    assert_status(response, 404, "NotFound")


def test_config_maps(admin: httpx.Client, project: str) -> None:
    path = f"/api/v1/namespaces/{project}/configmaps"
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    body = {"metadata": {"name": "trusted-ca"}, "data": {"registry.example.com..5000": pem}}
    created = admin.post(path, json=body)
    assert created.status_code == 201, created.text
    assert created.json()["data"] == body["data"]
    bad = admin.post(
        path,
        json={"metadata": {"name": "dup"}, "data": {"a": "x"}, "binaryData": {"a": b64("x")}},
    )
    assert_status(bad, 422, "Invalid")
    assert_status(admin.get(f"{path}/dup"), 404, "NotFound")
    everywhere = admin.get("/api/v1/configmaps").json()
    assert f"{project}/trusted-ca" in [
        f"{i['metadata']['namespace']}/{i['metadata']['name']}" for i in everywhere["items"]
    ]
    discovered = admin.get("/api/v1").json()["resources"]
    entry = next(r for r in discovered if r["name"] == "configmaps")
    assert entry["kind"] == "ConfigMap" and "watch" in entry["verbs"]
    assert entry["shortNames"] == ["cm"]


def test_project_roles_decide_who_touches_secrets(
    server: RegistryProcess, admin: httpx.Client, project: str, tmp_path: Path
) -> None:
    body = {"metadata": {"name": "s"}, "data": {"k": b64("v")}}
    assert admin.post(secrets(project), json=body).status_code == 201
    viewer = make_user(admin, server, project, "registry-viewer")
    editor = make_user(admin, server, project, "registry-editor")
    with httpx.Client(base_url=server.url, auth=("any", viewer), timeout=30) as client:
        assert_status(client.get(f"{secrets(project)}/s"), 403, "Forbidden")
        assert_status(client.post(secrets(project), json=body), 403, "Forbidden")
    with httpx.Client(base_url=server.url, auth=("any", editor), timeout=30) as client:
        assert client.get(f"{secrets(project)}/s").json()["data"] == {"k": b64("v")}
        other = {"metadata": {"name": "t"}, "data": {}}
        assert client.post(secrets(project), json=other).status_code == 201
        assert_status(client.get("/api/v1/secrets"), 403, "Forbidden")
    with httpx.Client(base_url=server.url, timeout=30) as anonymous:
        assert_status(anonymous.get(f"{secrets(project)}/s"), 401, "Unauthorized")


def test_deleting_the_project_deletes_its_secrets(
    server: RegistryProcess, admin: httpx.Client
) -> None:
    project = new_project(admin, "gone")
    body = {"metadata": {"name": "kept"}, "data": {"k": b64("v")}}
    assert admin.post(secrets(project), json=body).status_code == 201
    watch = Watch(server, "/api/v1/secrets")
    deleted = admin.delete(f"/apis/project.openshift.io/v1/projects/{project}")
    assert deleted.status_code == 200, deleted.text
    watch.until(lambda event: event_of(event) == ("DELETED", "kept"))
    again = admin.post(
        "/apis/project.openshift.io/v1/projectrequests", json={"metadata": {"name": project}}
    )
    assert again.status_code == 201, again.text
    assert_status(admin.get(f"{secrets(project)}/kept"), 404, "NotFound")
