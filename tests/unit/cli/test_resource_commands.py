"""The generic resource commands in-process: ``get``, ``describe``, ``delete``, ``patch``,
``apply``, ``edit`` and ``tag``.

The server is a mock (``MockServer``): it serves discovery documents shaped like Dockyard's (and
a kind it doesn't have yet, ``configs.imageregistry.operator.openshift.io``), canned objects,
and records every request, so these tests pin kind resolution, what each command sends, how
tables and descriptions print, and the decisions of ``patch`` and ``apply``. The integration
tests (``tests/integration/test_cli_images.py``) run the same commands against a real server.
"""

from __future__ import annotations

import io
import json
import sys
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from dockyard.cli import api as api_module, client, describe, printing
from dockyard.cli.api import ResourceAPI, Selector
from dockyard.cli.client import Client, ClientConfig, CommandError
from dockyard.cli.discovery import Discovery, split_references
from dockyard.cli.main import build_parser, main
from dockyard.cli.tag import parse_ref, source_kind
from dockyard.cli.writes import contains, unchanged

SERVER = "http://127.0.0.1:5000"
TOKEN = "dyt~secret-token"
IMAGE_API = "/apis/image.openshift.io/v1"
STREAMS = f"{IMAGE_API}/namespaces/web/imagestreams"
TAGS = f"{IMAGE_API}/namespaces/web/imagestreamtags"
CONFIGS = "/apis/imageregistry.operator.openshift.io/v1/configs"
DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64
NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)

Answer = tuple[int, Any] | Callable[[httpx.Request], httpx.Response]


def resource(
    name: str, kind: str, namespaced: bool, short: tuple[str, ...] = (), verbs: str = "crud"
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": name,
        "singularName": kind.lower(),
        "namespaced": namespaced,
        "kind": kind,
        "verbs": ["get", "list", "create", "update", "patch", "delete", "watch"],
    }
    if short:
        entry["shortNames"] = list(short)
    return entry


def resource_list(group_version: str, *entries: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": list(entries),
    }


GROUPS = (
    "user.openshift.io",
    "project.openshift.io",
    "rbac.authorization.k8s.io",
    "image.openshift.io",
    "imageregistry.operator.openshift.io",
)
DISCOVERY: dict[str, Any] = {
    "/api": {"kind": "APIVersions", "versions": ["v1"]},
    "/api/v1": resource_list(
        "v1",
        resource("serviceaccounts", "ServiceAccount", True, ("sa",)),
        resource("secrets", "Secret", True),
    ),
    "/apis": {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [
            {
                "name": group,
                "versions": [{"groupVersion": f"{group}/v1", "version": "v1"}],
                "preferredVersion": {"groupVersion": f"{group}/v1", "version": "v1"},
            }
            for group in GROUPS
        ],
    },
    "/apis/user.openshift.io/v1": resource_list(
        "user.openshift.io/v1",
        resource("users", "User", False),
        resource("groups", "Group", False),
    ),
    "/apis/project.openshift.io/v1": resource_list(
        "project.openshift.io/v1", resource("projects", "Project", False)
    ),
    "/apis/rbac.authorization.k8s.io/v1": resource_list(
        "rbac.authorization.k8s.io/v1",
        resource("rolebindings", "RoleBinding", True),
        resource("clusterroles", "ClusterRole", False),
    ),
    "/apis/image.openshift.io/v1": resource_list(
        "image.openshift.io/v1",
        resource("images", "Image", False),
        resource("imagestreams", "ImageStream", True, ("is",)),
        {
            "name": "imagestreams/layers",
            "singularName": "",
            "namespaced": True,
            "kind": "ImageStreamLayers",
            "verbs": ["get"],
        },
        resource("imagestreamtags", "ImageStreamTag", True, ("istag",)),
        resource("imagestreamimages", "ImageStreamImage", True, ("isimage",)),
    ),
    "/apis/imageregistry.operator.openshift.io/v1": resource_list(
        "imageregistry.operator.openshift.io/v1", resource("configs", "Config", False)
    ),
}


def status(code: int, reason: str, message: str) -> tuple[int, Any]:
    body = {"kind": "Status", "apiVersion": "v1", "status": "Failure"}
    return code, {**body, "reason": reason, "message": message, "code": code}


@dataclass
class MockServer:
    """``(method, path)`` → canned answer (the query is not part of the key); records every
    request. The discovery documents above are always served."""

    answers: dict[tuple[str, str], Answer] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = urllib.parse.unquote(request.url.path)
        answer = self.answers.get((request.method, path))
        if answer is None and request.method == "GET" and path in DISCOVERY:
            answer = (200, DISCOVERY[path])
        if answer is None:
            answer = status(404, "NotFound", f"no mock answer for {request.method} {path}")
        if callable(answer):
            return answer(request)
        code, body = answer
        return httpx.Response(code, json=body)

    def on(self, method: str, path: str, code: int = 200, body: Any = None) -> None:
        self.answers[method, path] = (code, {} if body is None else body)

    def made(self, method: str | None = None) -> list[tuple[str, str]]:
        """(method, path) of every request, discovery included."""
        return [
            (r.method, urllib.parse.unquote(r.url.path))
            for r in self.requests
            if method is None or r.method == method
        ]

    def sent(self, method: str, path: str) -> list[Any]:
        return [
            json.loads(r.content) if r.content else None
            for r in self.requests
            if (r.method, urllib.parse.unquote(r.url.path)) == (method, path)
        ]

    def request(self, method: str, path: str) -> httpx.Request:
        found = [
            r
            for r in self.requests
            if (r.method, urllib.parse.unquote(r.url.path)) == (method, path)
        ]
        assert found, f"no {method} {path} among {self.made()}"
        return found[-1]


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[MockServer]:
    monkeypatch.setenv(client.CONFIG_ENV, str(tmp_path / "config.json"))
    client.save_config(ClientConfig(server=SERVER, user="alice", token=TOKEN, namespace="web"))
    mock = MockServer()

    def http_client(base_url: str, insecure: bool) -> httpx.Client:
        return httpx.Client(base_url=base_url, transport=httpx.MockTransport(mock))

    monkeypatch.setattr(client, "new_http_client", http_client)
    yield mock


def ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def event(digest: str, created: datetime, host: str = "127.0.0.1:5000") -> dict[str, Any]:
    return {
        "created": ts(created),
        "dockerImageReference": f"{host}/web/app@{digest}",
        "image": digest,
        "generation": 1,
    }


def stream(
    name: str = "app",
    tags: dict[str, list[dict[str, Any]]] | None = None,
    spec_tags: list[dict[str, Any]] | None = None,
    labels: dict[str, str] | None = None,
    created: datetime = NOW - timedelta(hours=3),
) -> dict[str, Any]:
    return {
        "kind": "ImageStream",
        "apiVersion": "image.openshift.io/v1",
        "metadata": {
            "name": name,
            "namespace": "web",
            "uid": "u-1",
            "resourceVersion": "7",
            "generation": 1,
            "creationTimestamp": ts(created),
            "labels": labels or {},
            "annotations": {},
        },
        "spec": {"lookupPolicy": {"local": False}, "tags": spec_tags or []},
        "status": {
            "dockerImageRepository": f"127.0.0.1:5000/web/{name}",
            "tags": [{"tag": tag, "items": items} for tag, items in (tags or {}).items()],
        },
    }


def listing(*items: dict[str, Any], kind: str = "ImageStreamList") -> dict[str, Any]:
    return {
        "kind": kind,
        "apiVersion": "image.openshift.io/v1",
        "metadata": {"resourceVersion": "42"},
        "items": [
            {k: v for k, v in item.items() if k not in ("kind", "apiVersion")} for item in items
        ],
    }


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# --- parsing -----------------------------------------------------------------------------------


def test_references_take_both_forms() -> None:
    assert split_references(["is"]) == [("is", None)]
    assert split_references(["is", "app", "web"]) == [("is", "app"), ("is", "web")]
    assert split_references(["is/app", "istag/app:prod"]) == [("is", "app"), ("istag", "app:prod")]
    assert split_references(["isimage/app@" + DIGEST_A]) == [("isimage", f"app@{DIGEST_A}")]
    assert split_references(["is/team/app"]) == [("is", "team/app")]  # nested stream names
    with pytest.raises(CommandError, match="resource/name form"):
        split_references(["is/app", "web"])
    with pytest.raises(CommandError, match="single resource and name"):
        split_references(["is", "istag/app:1"])
    with pytest.raises(CommandError, match="resource type is required"):
        split_references([])


def test_names_may_follow_options() -> None:
    """``get is -n web app``: argparse alone would reject ``app`` after an option."""
    args = build_parser().parse_args(["get", "is", "-n", "web", "app", "-o", "yaml", "other"])
    assert args.get_subcommand == "is"
    assert args.words == ["app", "other"]
    assert (args.namespace, args.output) == ("web", "yaml")
    patch = build_parser().parse_args(["patch", "is", "-n", "web", "app", "-p", "{}"])
    assert patch.words == ["is", "app"]


def test_hand_written_get_commands_keep_their_parsers() -> None:
    parser = build_parser()
    projects = parser.parse_args(["get", "projects"])
    assert projects.command.__name__ == "run_get_projects"
    users = parser.parse_args(["delete", "user", "bob"])
    assert users.command.__name__ == "run_delete_user"
    generic = parser.parse_args(["get", "project/web"])
    assert generic.command.__name__ == "run_get"


def test_label_selectors() -> None:
    selector = Selector.parse("app=web,tier!=db, env in (prod, stage),!legacy,team")
    assert selector.matches({"app": "web", "env": "prod", "team": "a"})
    assert not selector.matches({"app": "web", "env": "dev", "team": "a"})
    assert not selector.matches({"app": "web", "env": "prod", "team": "a", "legacy": "1"})
    assert not selector.matches({"app": "web", "env": "prod"})
    assert not selector.matches({"app": "web", "env": "prod", "team": "a", "tier": "db"})
    assert Selector.parse("a==1").matches({"a": "1"})
    assert Selector.parse("a notin (1,2)").matches({})
    with pytest.raises(CommandError, match="unable to parse requirement"):
        Selector.parse("a=1,,b")


# --- kind resolution ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "qualified", "namespaced"),
    [
        ("is", "imagestreams.image.openshift.io", True),
        ("imagestream", "imagestreams.image.openshift.io", True),
        ("imagestreams", "imagestreams.image.openshift.io", True),
        ("ImageStream", "imagestreams.image.openshift.io", True),
        ("imagestreams.image.openshift.io", "imagestreams.image.openshift.io", True),
        ("imagestreams.v1.image.openshift.io", "imagestreams.image.openshift.io", True),
        ("istag", "imagestreamtags.image.openshift.io", True),
        ("isimage", "imagestreamimages.image.openshift.io", True),
        ("image", "images.image.openshift.io", False),
        ("images", "images.image.openshift.io", False),
        ("project", "projects.project.openshift.io", False),
        ("user", "users.user.openshift.io", False),
        ("group", "groups.user.openshift.io", False),
        ("rolebinding", "rolebindings.rbac.authorization.k8s.io", True),
        ("serviceaccount", "serviceaccounts", True),
        ("sa", "serviceaccounts", True),
        (
            "configs.imageregistry.operator.openshift.io",
            "configs.imageregistry.operator.openshift.io",
            False,
        ),
    ],
)
def test_kinds_resolve_through_discovery(
    server: MockServer, word: str, qualified: str, namespaced: bool
) -> None:
    with Client(SERVER, TOKEN) as session:
        found = Discovery(session).resolve(word)
    assert (found.qualified, found.namespaced) == (qualified, namespaced)


def test_names_paths_and_prefixes(server: MockServer) -> None:
    with Client(SERVER, TOKEN) as session:
        discovery = Discovery(session)
        streams = discovery.resolve("is")
        accounts = discovery.resolve("sa")
        config = discovery.resolve("configs.imageregistry.operator.openshift.io")
    assert streams.prefix == "imagestream.image.openshift.io"
    assert streams.path("web", "app") == f"{STREAMS}/app"
    assert streams.path(None) == f"{IMAGE_API}/imagestreams"
    assert discovery.resolve("istag").path("web", "app:1") == f"{TAGS}/app%3A1"
    assert accounts.prefix == "serviceaccount"
    assert accounts.path("web") == "/api/v1/namespaces/web/serviceaccounts"
    assert config.prefix == "config.imageregistry.operator.openshift.io"
    assert config.path("ignored", "cluster") == f"{CONFIGS}/cluster"


def test_discovery_is_lazy_and_cached_per_run(server: MockServer) -> None:
    with Client(SERVER, TOKEN) as session:
        discovery = Discovery(session)
        discovery.resolve("sa")
        assert server.made() == [("GET", "/api/v1")]  # a core kind never costs /apis
        discovery.resolve("is")
        discovery.resolve("istag")
        discovery.resolve("is")
    gets = server.made()
    assert len(gets) == len(set(gets)), "each document is fetched once"
    assert ("GET", "/apis/imageregistry.operator.openshift.io/v1") not in gets


def test_unknown_kinds_and_subresources_are_refused(server: MockServer) -> None:
    with Client(SERVER, TOKEN) as session:
        discovery = Discovery(session)
        with pytest.raises(CommandError) as raised:
            discovery.resolve("widgets")
        assert raised.value.message == 'error: the server doesn\'t have a resource type "widgets"'
        with pytest.raises(CommandError):
            discovery.resolve("imagestreams/layers")
        with pytest.raises(CommandError):
            discovery.resolve("configs.nowhere.example.com")


def test_kind_for_apply(server: MockServer) -> None:
    with Client(SERVER, TOKEN) as session:
        discovery = Discovery(session)
        assert discovery.for_kind("image.openshift.io/v1", "ImageStream").name == "imagestreams"
        assert discovery.for_kind("v1", "ServiceAccount").name == "serviceaccounts"
        with pytest.raises(CommandError, match='resource mapping not found for kind "Widget"'):
            discovery.for_kind("image.openshift.io/v1", "Widget")


# --- ages ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "short", "words"),
    [
        (0.4, "0s", "Less than a second"),
        (1, "1s", "1 second"),
        (5, "5s", "5 seconds"),
        (59, "59s", "59 seconds"),
        (61, "61s", "About a minute"),
        (150, "2m30s", "2 minutes"),
        (180, "3m", "3 minutes"),
        (17 * 60, "17m", "17 minutes"),
        (3600 + 20 * 60, "80m", "About an hour"),
        (5 * 3600 + 10 * 60, "5h10m", "5 hours"),
        (30 * 3600, "30h", "30 hours"),
        (3 * 86400 + 4 * 3600, "3d4h", "3 days"),
        (20 * 86400, "20d", "2 weeks"),
        (100 * 86400, "100d", "3 months"),
        (800 * 86400, "2y70d", "2 years"),
        (3000 * 86400, "8y", "8 years"),
    ],
)
def test_ages_in_both_oc_styles(seconds: float, short: str, words: str) -> None:
    assert printing.short_age(seconds) == short
    assert printing.human_duration(seconds) == words


def test_malformed_or_missing_times_print_nothing() -> None:
    assert printing.ago("not a time", NOW) == ""
    assert printing.ago(None, NOW) == ""
    assert printing.age({"metadata": {}}, NOW) == "<unknown>"
    assert printing.short_age(-5) == "<invalid>"


# --- tables ------------------------------------------------------------------------------------


def six_tags() -> dict[str, list[dict[str, Any]]]:
    """Tags updated 10, 20… 60 minutes ago, in an order unlike their names."""
    names = ["b", "latest", "a", "1.0", "z", "old"]
    return {
        name: [event(DIGEST_A, NOW - timedelta(minutes=10 * (i + 1)))]
        for i, name in enumerate(names)
    }


def test_stream_row_lists_tags_newest_first_then_more() -> None:
    app = stream(tags=six_tags())
    assert printing.tags_by_update(app) == ["b", "latest", "a", "1.0", "z", "old"]
    assert printing.stream_tags(app) == "b,latest,a,1.0 + 2 more..."
    assert printing.stream_updated(app, NOW) == "10 minutes ago"
    few = stream(tags={"v2": [event(DIGEST_A, NOW)], "v1": [event(DIGEST_B, NOW)]})
    assert printing.stream_tags(few) == "v1,v2"  # same time: by name
    assert printing.stream_updated(stream(), NOW) == ""


def test_get_is_prints_oc_table(server: MockServer, capsys: pytest.CaptureFixture[str]) -> None:
    now = datetime.now(UTC)
    app = stream(
        tags={
            "prod": [event(DIGEST_B, now - timedelta(seconds=30))],
            "latest": [event(DIGEST_A, now - timedelta(minutes=5))],
        }
    )
    empty = stream("empty")
    server.on("GET", STREAMS, body=listing(app, empty))
    code, out, err = run(capsys, "get", "is", "-n", "web")
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "NAME    IMAGE REPOSITORY           TAGS          UPDATED",
        "app     127.0.0.1:5000/web/app     prod,latest   30 seconds ago",
        "empty   127.0.0.1:5000/web/empty",
    ]
    query = server.request("GET", STREAMS).url.params
    assert query["limit"] == "500"


def test_get_follows_continue_tokens(
    server: MockServer, capsys: pytest.CaptureFixture[str]
) -> None:
    pages = [
        {**listing(stream("a")), "metadata": {"continue": "next-page"}},
        listing(stream("b")),
    ]

    def answer(request: httpx.Request) -> httpx.Response:
        page = pages[1] if request.url.params.get("continue") == "next-page" else pages[0]
        return httpx.Response(200, json=page)

    server.answers["GET", STREAMS] = answer
    code, out, _ = run(capsys, "get", "is", "-o", "name")
    assert code == 0
    assert out == "imagestream.image.openshift.io/a\nimagestream.image.openshift.io/b\n"


def test_get_istag_and_images_tables(
    server: MockServer, capsys: pytest.CaptureFixture[str]
) -> None:
    created = ts(datetime.now(UTC) - timedelta(minutes=2, seconds=5))
    istag = {
        "metadata": {"name": "app:prod", "namespace": "web", "creationTimestamp": created},
        "image": {"metadata": {"name": DIGEST_A}, "dockerImageReference": f"h/web/app@{DIGEST_A}"},
    }
    server.on("GET", TAGS, body=listing(istag, kind="ImageStreamTagList"))
    code, out, _ = run(capsys, "get", "istag", "-o", "wide")
    assert code == 0
    assert out.splitlines() == [
        "NAME       IMAGE REFERENCE"
        + " " * (len(f"h/web/app@{DIGEST_A}") - 12)
        + "UPDATED         IMAGE NAME",
        f"app:prod   h/web/app@{DIGEST_A}   2 minutes ago   {DIGEST_A}",
    ]
    image = {"metadata": {"name": DIGEST_A}, "dockerImageReference": f"h/web/app@{DIGEST_A}"}
    server.on("GET", f"{IMAGE_API}/images", body=listing(image, kind="ImageList"))
    code, out, _ = run(capsys, "get", "images")
    assert out.splitlines()[0] == "NAME" + " " * (len(DIGEST_A) - 1) + "IMAGE REFERENCE"
    assert out.splitlines()[1] == f"{DIGEST_A}   h/web/app@{DIGEST_A}"


def test_unknown_kinds_print_name_and_age(
    server: MockServer, capsys: pytest.CaptureFixture[str]
) -> None:
    config = {
        "metadata": {
            "name": "cluster",
            "creationTimestamp": ts(datetime.now(UTC) - timedelta(hours=30)),
        }
    }
    server.on("GET", CONFIGS, body=listing(config, kind="ConfigList"))
    code, out, _ = run(capsys, "get", "configs.imageregistry.operator.openshift.io")
    assert code == 0
    assert out.splitlines() == ["NAME      AGE", "cluster   30h"]


def test_all_namespaces_adds_a_column_and_lists_everywhere(
    server: MockServer, capsys: pytest.CaptureFixture[str]
) -> None:
    other = stream("tools")
    other["metadata"]["namespace"] = "ops"
    server.on("GET", f"{IMAGE_API}/imagestreams", body=listing(stream(), other))
    code, out, _ = run(capsys, "get", "is", "-A")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["NAMESPACE", "NAME", "IMAGE", "REPOSITORY", "TAGS", "UPDATED"]
    assert lines[1].split()[:2] == ["web", "app"]
    assert lines[2].split()[:2] == ["ops", "tools"]
    code, _, err = run(capsys, "get", "is", "app", "-A")
    assert code == 1
    assert "cannot be retrieved by name across all namespaces" in err


def test_get_by_name_yaml_keeps_key_order(
    server: MockServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.on("GET", f"{STREAMS}/app", body=stream())
    code, out, _ = run(capsys, "get", "is/app", "-o", "yaml")
    assert code == 0
    assert out.startswith("kind: ImageStream\napiVersion: image.openshift.io/v1\nmetadata:\n")
    assert yaml.safe_load(out) == stream()
    code, out, _ = run(capsys, "get", "imagestreams.image.openshift.io", "app", "-o", "json")
    assert json.loads(out) == stream()


def test_missing_names_are_reported_and_the_rest_printed(
    server: MockServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.on("GET", f"{STREAMS}/app", body=stream())
    server.answers["GET", f"{STREAMS}/gone"] = status(
        404, "NotFound", 'imagestreams.image.openshift.io "gone" not found'
    )
    code, out, err = run(capsys, "get", "is", "app", "gone", "-o", "name")
    assert code == 1
    assert out == "imagestream.image.openshift.io/app\n"
    assert err == 'Error from server (NotFound): imagestreams.image.openshift.io "gone" not found\n'


def test_several_kinds_prefix_their_names(
    server: MockServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.on("GET", f"{STREAMS}/app", body=stream())
    server.on(
        "GET",
        "/apis/project.openshift.io/v1/projects/web",
        body={"metadata": {"name": "web"}, "status": {"phase": "Active"}},
    )
    code, out, _ = run(capsys, "get", "is/app", "project/web")
    assert code == 0
    assert "imagestream.image.openshift.io/app" in out
    assert "\n\nNAME" in out and "project.project.openshift.io/web" in out


def test_empty_lists_say_so(server: MockServer, capsys: pytest.CaptureFixture[str]) -> None:
    server.on("GET", STREAMS, body=listing())
    code, out, err = run(capsys, "get", "is")
    assert (code, out, err) == (0, "", "No resources found in web namespace.\n")


def test_selector_goes_to_the_server_and_is_applied(
    server: MockServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.on("GET", STREAMS, body=listing(stream("a", labels={"team": "web"}), stream("b")))
    code, out, _ = run(capsys, "get", "is", "-l", "team=web", "-o", "name")
    assert (code, out) == (0, "imagestream.image.openshift.io/a\n")
    assert server.request("GET", STREAMS).url.params["labelSelector"] == "team=web"


# --- watch -----------------------------------------------------------------------------------


def test_watch_prints_rows_as_events_arrive(
    server: MockServer, capsys: pytest.CaptureFixture[str]
) -> None:
    now = datetime.now(UTC)
    first = stream(tags={"1.0": [event(DIGEST_A, now - timedelta(minutes=3))]})
    pushed = stream(
        tags={
            "1.0": [event(DIGEST_A, now - timedelta(minutes=3))],
            "2.0": [event(DIGEST_B, now - timedelta(seconds=20))],
        }
    )
    pushed["metadata"]["resourceVersion"] = "43"
    lines = [
        {"type": "ADDED", "object": first},  # a replay of the listed state: not printed again
        {"type": "MODIFIED", "object": pushed},
        {"type": "ADDED", "object": stream("new")},
    ]

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("watch") == "true":
            assert request.url.params["resourceVersion"] == "42"
            body = "".join(json.dumps(line) + "\n" for line in lines).encode()
            return httpx.Response(200, content=body)
        return httpx.Response(200, json=listing(first))

    server.answers["GET", STREAMS] = answer
    code, out, _ = run(capsys, "get", "is", "-w")
    assert code == 0
    rows = out.splitlines()
    assert rows[0].split() == ["NAME", "IMAGE", "REPOSITORY", "TAGS", "UPDATED"]
    assert rows[1].split()[:3] == ["app", "127.0.0.1:5000/web/app", "1.0"]
    assert rows[2].split()[:3] == ["app", "127.0.0.1:5000/web/app", "2.0,1.0"]
    assert rows[2].endswith("20 seconds ago")
    assert rows[3].split() == ["new", "127.0.0.1:5000/web/new"]
    assert len(rows) == 4
    assert rows[2].index("127.0.0.1") == rows[0].index("IMAGE"), "rows align to the header"


def test_watch_errors_end_the_command(
    server: MockServer, capsys: pytest.CaptureFixture[str]
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("watch") == "true":
            gone = {
                "type": "ERROR",
                "object": {"kind": "Status", "message": "too old resource version"},
            }
            return httpx.Response(200, content=json.dumps(gone).encode() + b"\n")
        return httpx.Response(200, json=listing())

    server.answers["GET", STREAMS] = answer
    code, _, err = run(capsys, "get", "is", "-w")
    assert code == 1
    assert err == "error: the watch failed: too old resource version\n"


# --- describe --------------------------------------------------------------------------------


def test_describe_image_stream_like_oc() -> None:
    app = stream(
        tags={
            "1.2": [
                event(DIGEST_B, NOW - timedelta(seconds=5)),
                event(DIGEST_A, NOW - timedelta(minutes=2)),
            ],
            "stable": [event(DIGEST_B, NOW - timedelta(seconds=5))],
            "latest": [event(DIGEST_A, NOW - timedelta(hours=2))],
        },
        spec_tags=[{"name": "stable", "from": {"kind": "ImageStreamTag", "name": "app:1.2"}}],
        labels={"team": "web", "app": "shop"},
    )
    text = describe.describe_image_stream(app, NOW)
    assert text == "\n".join(
        [
            "Name:              app",
            "Namespace:         web",
            "Created:           3 hours ago",
            "Labels:            app=shop",
            "                   team=web",
            "Annotations:       <none>",
            "Image Repository:  127.0.0.1:5000/web/app",
            "Image Lookup:      local=false",
            "Unique Images:     2",
            "Tags:              3",
            "",
            "latest",
            "  no spec tag",
            "",
            f"  * 127.0.0.1:5000/web/app@{DIGEST_A}",
            "      2 hours ago",
            "",
            "1.2 (stable)",
            "  no spec tag",
            "",
            f"  * 127.0.0.1:5000/web/app@{DIGEST_B}",
            "      5 seconds ago",
            f"    127.0.0.1:5000/web/app@{DIGEST_A}",
            "      2 minutes ago",
            "",
            "stable",
            "  tagged from app:1.2",
            "    alias: follows app:1.2",
            "",
            f"  * 127.0.0.1:5000/web/app@{DIGEST_B}",
            "      5 seconds ago",
        ]
    )


def test_describe_tag_sources() -> None:
    app = stream(
        tags={},
        spec_tags=[
            {"name": "prod", "from": {"kind": "ImageStreamImage", "name": f"app@{DIGEST_A}"}},
            {
                "name": "ext",
                "from": {"kind": "DockerImage", "name": "docker.io/library/nginx:1"},
                "importPolicy": {"scheduled": True, "insecure": True},
            },
            {
                "name": "other",
                "from": {"kind": "ImageStreamTag", "name": "base:1", "namespace": "ops"},
            },
            {"name": "bare"},
        ],
    )
    text = describe.describe_image_stream(app, NOW)
    assert text.endswith(f"prod\n  tagged from app@{DIGEST_A}")
    assert (
        "ext\n  updates automatically from registry docker.io/library/nginx:1\n"
        "    will use insecure HTTPS or HTTP connections\n" in text
    )
    assert "other\n  tagged from ops/base:1\n\n" in text  # another stream: not an alias
    assert "bare\n  tag without source image" in text
    assert describe.describe_image_stream(stream(), NOW).endswith("Tags:              <none>")


def test_describe_other_kinds_readably() -> None:
    config = {
        "apiVersion": "imageregistry.operator.openshift.io/v1",
        "kind": "Config",
        "metadata": {"name": "cluster", "uid": "u-9", "resourceVersion": "3"},
        "spec": {
            "readOnly": True,
            "replicas": 2,
            "storage": {"s3": {"bucket": "b"}},
            "tags": [{"name": "x", "from": {"kind": "K"}}, "plain"],
            "empty": {},
        },
    }
    assert describe.describe_object(config, NOW).splitlines() == [
        "Name:         cluster",
        "Labels:       <none>",
        "Annotations:  <none>",
        "API Version:  imageregistry.operator.openshift.io/v1",
        "Kind:         Config",
        "Metadata:",
        "  UID:               u-9",
        "  Resource Version:  3",
        "Spec:",
        "  Read Only:  true",
        "  Replicas:   2",
        "  Empty:      <none>",
        "  Storage:",
        "    S3:",
        "      Bucket:  b",
        "  Tags:",
        "    - Name:  x",
        "      From:",
        "        Kind:  K",
        "    - plain",
    ]


def test_describe_command_picks_the_describer(
    server: MockServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.on("GET", f"{STREAMS}/app", body=stream())
    server.on(
        "GET",
        "/api/v1/namespaces/web/serviceaccounts/robot",
        body={"metadata": {"name": "robot", "namespace": "web"}},
    )
    code, out, _ = run(capsys, "describe", "is", "app")
    assert code == 0 and "Image Repository:  127.0.0.1:5000/web/app" in out
    code, out, _ = run(capsys, "describe", "sa/robot")
    assert code == 0 and "Kind:         ServiceAccount" in out


# --- delete ----------------------------------------------------------------------------------


def test_delete_any_kind(server: MockServer, capsys: pytest.CaptureFixture[str]) -> None:
    server.on("DELETE", f"{TAGS}/app:old", body={"kind": "Status", "status": "Success"})
    server.on("DELETE", f"{STREAMS}/app", body={"kind": "Status", "status": "Success"})
    code, out, _ = run(capsys, "delete", "istag", "app:old")
    assert (code, out) == (0, 'imagestreamtag.image.openshift.io "app:old" deleted\n')
    code, out, _ = run(capsys, "delete", "is/app", "-n", "web")
    assert out == 'imagestream.image.openshift.io "app" deleted\n'
    code, _, err = run(capsys, "delete", "is")
    assert code == 1 and "no name was specified" in err


# --- patch -----------------------------------------------------------------------------------


def patched_answer(result: dict[str, Any]) -> Answer:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=result)

    return answer


def test_patch_sends_the_patch_with_its_content_type(
    server: MockServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.on("GET", f"{STREAMS}/app", body=stream())
    server.answers["PATCH", f"{STREAMS}/app"] = patched_answer(stream(labels={"team": "web"}))
    patch = '{"metadata":{"labels":{"team":"web"}}}'
    code, out, _ = run(capsys, "patch", "is/app", "--type", "merge", "-p", patch)
    assert (code, out) == (0, "imagestream.image.openshift.io/app patched\n")
    request = server.request("PATCH", f"{STREAMS}/app")
    assert request.headers["content-type"] == "application/merge-patch+json"
    assert json.loads(request.content) == json.loads(patch)

    run(capsys, "patch", "is", "app", "-p", patch)
    assert server.request("PATCH", f"{STREAMS}/app").headers["content-type"] == (
        "application/strategic-merge-patch+json"
    ), "strategic is the default, as in oc"


def test_patch_of_a_kind_added_later(
    server: MockServer, capsys: pytest.CaptureFixture[str]
) -> None:
    before = {"metadata": {"name": "cluster", "resourceVersion": "1"}, "spec": {"readOnly": False}}
    after = {"metadata": {"name": "cluster", "resourceVersion": "2"}, "spec": {"readOnly": True}}
    server.on("GET", f"{CONFIGS}/cluster", body=before)
    server.answers["PATCH", f"{CONFIGS}/cluster"] = patched_answer(after)
    code, out, _ = run(
        capsys,
        "patch",
        "configs.imageregistry.operator.openshift.io/cluster",
        "--type",
        "merge",
        "-p",
        '{"spec":{"readOnly":true}}',
    )
    assert (code, out) == (0, "config.imageregistry.operator.openshift.io/cluster patched\n")
    # The same patch again changes nothing but the resourceVersion: "no change".
    server.on("GET", f"{CONFIGS}/cluster", body=after)
    server.answers["PATCH", f"{CONFIGS}/cluster"] = patched_answer(
        {**after, "metadata": {"name": "cluster", "resourceVersion": "3"}}
    )
    code, out, _ = run(
        capsys,
        "patch",
        "configs.imageregistry.operator.openshift.io/cluster",
        "--type",
        "json",
        "-p",
        '[{"op":"replace","path":"/spec/readOnly","value":true}]',
    )
    assert out == "config.imageregistry.operator.openshift.io/cluster patched (no change)\n"
    assert server.request("PATCH", f"{CONFIGS}/cluster").headers["content-type"] == (
        "application/json-patch+json"
    )


@pytest.mark.parametrize(
    ("kind", "text", "message"),
    [
        ("merge", "{not json", "unable to parse"),
        ("json", '{"op":"add"}', "list of operations"),
        ("merge", "[]", "merge patch is a JSON object"),
    ],
)
def test_bad_patches_are_refused_before_sending(
    server: MockServer, capsys: pytest.CaptureFixture[str], kind: str, text: str, message: str
) -> None:
    code, _, err = run(capsys, "patch", "is/app", "--type", kind, "-p", text)
    assert code == 1 and message in err
    assert server.made("PATCH") == []


def test_patch_errors_are_the_servers(
    server: MockServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.on("GET", f"{STREAMS}/app", body=stream())
    server.answers["PATCH", f"{STREAMS}/app"] = status(
        422, "Invalid", 'ImageStream "app" is invalid: spec.tags: bad'
    )
    code, _, err = run(capsys, "patch", "is/app", "-p", '{"spec":{"tags":1}}')
    assert code == 1
    assert err == 'Error from server (Invalid): ImageStream "app" is invalid: spec.tags: bad\n'


# --- apply -----------------------------------------------------------------------------------


def test_apply_decisions() -> None:
    server_copy = stream(labels={"team": "web"})
    server_copy["spec"]["tags"] = [
        {
            "name": "x",
            "from": {"kind": "ImageStreamTag", "name": "app:1"},
            "generation": 3,
            "importPolicy": {"insecure": False},
        }
    ]
    desired = {
        "apiVersion": "image.openshift.io/v1",
        "kind": "ImageStream",
        "metadata": {"name": "app", "labels": {"team": "web"}},
        "spec": {"tags": [{"name": "x", "from": {"kind": "ImageStreamTag", "name": "app:1"}}]},
    }
    assert unchanged(desired, server_copy), "defaults the server added are no difference"
    assert not unchanged({**desired, "metadata": {"name": "app"}}, server_copy), (
        "a label the file drops is a change (the apply replaces)"
    )
    changed = json.loads(json.dumps(desired))
    changed["spec"]["tags"][0]["from"]["name"] = "app:2"
    assert not unchanged(changed, server_copy)
    assert contains(None, {}) and contains({"a": 1, "b": 2}, {"a": 1})
    assert not contains([1, 2], [1]) and not contains({"a": 1}, {"a": 2})


def write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def test_apply_creates_then_configures_then_leaves_unchanged(
    server: MockServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    manifest = write(
        tmp_path / "app.yaml",
        "apiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata:\n  name: app\n"
        "  labels: {team: web}\n",
    )
    server.on("POST", STREAMS, 201, stream(labels={"team": "web"}))
    code, out, _ = run(capsys, "apply", "-f", manifest)
    assert (code, out) == (0, "imagestream.image.openshift.io/app created\n")
    created = server.sent("POST", STREAMS)[0]
    assert created["metadata"] == {"name": "app", "labels": {"team": "web"}, "namespace": "web"}

    server.on("GET", f"{STREAMS}/app", body=stream())  # the label is missing there
    server.on("PUT", f"{STREAMS}/app", body=stream(labels={"team": "web"}))
    code, out, _ = run(capsys, "apply", "-f", manifest)
    assert out == "imagestream.image.openshift.io/app configured\n"
    replaced = server.sent("PUT", f"{STREAMS}/app")[0]
    assert replaced["metadata"]["resourceVersion"] == "7", "keeps the server's version"

    server.on("GET", f"{STREAMS}/app", body=stream(labels={"team": "web"}))
    code, out, _ = run(capsys, "apply", "-f", manifest)
    assert out == "imagestream.image.openshift.io/app unchanged\n"
    assert len(server.sent("PUT", f"{STREAMS}/app")) == 1


def test_apply_takes_lists_documents_json_and_stdin(
    server: MockServer,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server.on("POST", STREAMS, 201, stream())
    server.on("POST", "/api/v1/namespaces/web/serviceaccounts", 201, {})
    documents = write(
        tmp_path / "two.yaml",
        "apiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata: {name: a}\n---\n"
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: robot, namespace: web}\n",
    )
    code, out, _ = run(capsys, "apply", "-f", documents)
    assert out == "imagestream.image.openshift.io/a created\nserviceaccount/robot created\n"
    as_list = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {
                "apiVersion": "image.openshift.io/v1",
                "kind": "ImageStream",
                "metadata": {"name": "b"},
            }
        ],
    }
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(as_list)))
    code, out, _ = run(capsys, "apply", "-f", "-")
    assert (code, out) == (0, "imagestream.image.openshift.io/b created\n")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("kind: ImageStream\nmetadata: {name: a}\n", "needs apiVersion and kind"),
        ("apiVersion: v1\nkind: ServiceAccount\n", "needs metadata.name"),
        ("", "no objects passed to apply"),
        ("a: [", "not valid YAML or JSON"),
    ],
)
def test_apply_refuses_bad_files(
    server: MockServer, capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, message: str
) -> None:
    code, _, err = run(capsys, "apply", "-f", write(tmp_path / "bad.yaml", text))
    assert code == 1 and message in err
    assert server.made("POST") == [] and server.made("PUT") == []


def test_apply_refuses_a_namespace_mismatch(
    server: MockServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    manifest = write(
        tmp_path / "a.yaml",
        "apiVersion: image.openshift.io/v1\nkind: ImageStream\n"
        "metadata: {name: a, namespace: ops}\n",
    )
    code, _, err = run(capsys, "apply", "-f", manifest, "-n", "web")
    assert code == 1
    assert 'the namespace from the provided object "ops" does not match the namespace "web"' in err


# --- edit ------------------------------------------------------------------------------------


def editor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: str) -> None:
    """``$EDITOR``: a Python script that changes the file it is given."""
    script = tmp_path / "editor.py"
    script.write_text("import sys\npath = sys.argv[1]\ntext = open(path).read()\n" + code)
    monkeypatch.setenv("EDITOR", f"{sys.executable} {script}")


def test_edit_puts_the_edited_object(
    server: MockServer,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server.on("GET", f"{STREAMS}/app", body=stream())
    server.on("PUT", f"{STREAMS}/app", body=stream(labels={"team": "web"}))
    editor(
        tmp_path,
        monkeypatch,
        "open(path, 'w').write(text.replace('labels: {}', 'labels: {team: web}'))\n",
    )
    code, out, _ = run(capsys, "edit", "is/app")
    assert (code, out) == (0, "imagestream.image.openshift.io/app edited\n")
    sent = server.sent("PUT", f"{STREAMS}/app")[0]
    assert sent["metadata"]["labels"] == {"team": "web"}
    assert sent["metadata"]["resourceVersion"] == "7"


def test_edit_without_change_or_emptied_saves_nothing(
    server: MockServer,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server.on("GET", f"{STREAMS}/app", body=stream())
    editor(tmp_path, monkeypatch, "")
    code, out, _ = run(capsys, "edit", "is", "app")
    assert (code, out) == (0, "Edit cancelled, no changes made.\n")
    editor(tmp_path, monkeypatch, "open(path, 'w').write('# nothing\\n')\n")
    code, out, _ = run(capsys, "edit", "is", "app", "-o", "json")
    assert out == "Edit cancelled, no changes made.\n"
    assert server.made("PUT") == []


def test_edit_conflict_says_nothing_was_saved(
    server: MockServer,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server.on("GET", f"{STREAMS}/app", body=stream())
    server.answers["PUT", f"{STREAMS}/app"] = status(
        409, "Conflict", "the object has been modified"
    )
    editor(
        tmp_path,
        monkeypatch,
        "open(path, 'w').write(text.replace('labels: {}', 'labels: {a: b}'))\n",
    )
    code, out, err = run(capsys, "edit", "is/app")
    assert code == 1 and out == ""
    assert "imagestream.image.openshift.io/app changed on the server" in err
    assert "nothing was saved" in err
    kept = Path(err.split("Your version is in ")[1].split(":")[0])
    assert "a: b" in kept.read_text()
    kept.unlink()


# --- tag -------------------------------------------------------------------------------------


def test_tag_references_and_source_kinds() -> None:
    assert parse_ref("web/app:prod", None, "x").name == "app:prod"
    assert parse_ref("app:prod", "web", "x").namespace == "web"
    ref = parse_ref(f"ops/app@{DIGEST_A}", "web", "x")
    assert (ref.namespace, ref.stream, ref.digest) == ("ops", "app", DIGEST_A)
    assert ref.shown("ops") == f"app@{DIGEST_A}" and ref.shown("web") == f"ops/app@{DIGEST_A}"
    assert parse_ref("web/team/app:1", None, "x").stream == "team/app"
    with pytest.raises(CommandError, match="no project"):
        parse_ref("app:1", None, "source")
    assert source_kind("web/app:1", None, SERVER) == "ImageStreamTag"
    assert source_kind(f"web/app@{DIGEST_A}", None, SERVER) == "ImageStreamImage"
    assert source_kind("docker.io/library/nginx:1", None, SERVER) == "DockerImage"
    assert source_kind("localhost/nginx:1", None, SERVER) == "DockerImage"
    assert source_kind("127.0.0.1:5000/web/app:1", None, SERVER) == "ImageStreamTag"
    assert source_kind("web/app:1", "docker", SERVER) == "DockerImage"


def istag(name: str, digest: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "web"}, "image": {"metadata": {"name": digest}}}


def test_tag_moves_a_tag_to_a_digest(
    server: MockServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.on("PUT", f"{TAGS}/app:prod", body=istag("app:prod", DIGEST_A))
    code, out, _ = run(capsys, "tag", f"web/app@{DIGEST_A}", "web/app:prod")
    assert (code, out) == (0, f"Tag app:prod set to app@{DIGEST_A}.\n")
    assert server.sent("PUT", f"{TAGS}/app:prod") == [
        {
            "kind": "ImageStreamTag",
            "apiVersion": "image.openshift.io/v1",
            "metadata": {"name": "app:prod", "namespace": "web"},
            "tag": {
                "name": "prod",
                "from": {"kind": "ImageStreamImage", "name": f"app@{DIGEST_A}", "namespace": "web"},
            },
        }
    ]


def test_tag_resolves_a_source_tag_to_its_image(
    server: MockServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.on("GET", f"{TAGS}/app:1.2", body=istag("app:1.2", DIGEST_B))
    server.on("PUT", f"{TAGS}/app:stable", body={})
    server.on(
        "PUT", "/apis/image.openshift.io/v1/namespaces/ops/imagestreamtags/copy:stable", body={}
    )
    code, out, _ = run(capsys, "tag", "web/app:1.2", "web/app:stable", "ops/copy:stable")
    assert code == 0
    assert out == (
        f"Tag app:stable set to app@{DIGEST_B}.\nTag ops/copy:stable set to web/app@{DIGEST_B}.\n"
    )
    sent = server.sent("PUT", f"{TAGS}/app:stable")[0]
    assert sent["tag"]["from"] == {
        "kind": "ImageStreamImage",
        "name": f"app@{DIGEST_B}",
        "namespace": "web",
    }


def test_tag_takes_pull_specs_of_this_registry(
    server: MockServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.on("PUT", f"{TAGS}/app:prod", body={})
    code, out, _ = run(capsys, "tag", f"127.0.0.1:5000/web/app@{DIGEST_A}", "app:prod")
    assert (code, out) == (0, f"Tag app:prod set to app@{DIGEST_A}.\n")
    assert server.sent("PUT", f"{TAGS}/app:prod")[0]["tag"]["from"]["name"] == f"app@{DIGEST_A}"


def test_tag_alias_follows_its_source(
    server: MockServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.on("PUT", f"{TAGS}/app:latest", body={})
    code, out, _ = run(capsys, "tag", "--alias", "app:1.2", "app:latest")
    assert (code, out) == (0, "Tag app:latest set up to track app:1.2.\n")
    assert server.sent("PUT", f"{TAGS}/app:latest")[0]["tag"]["from"] == {
        "kind": "ImageStreamTag",
        "name": "app:1.2",
    }
    assert server.made("GET") == [], "an alias is not resolved"
    code, _, err = run(capsys, "tag", "--alias", "app:1.2", "other:latest")
    assert (code, err) == (1, "error: cannot set alias across different Image Streams\n")


def test_tag_creates_when_the_server_has_no_tag_yet(
    server: MockServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.answers["PUT", f"{TAGS}/new:1"] = status(404, "NotFound", "no stream")
    server.on("POST", TAGS, 201, {})
    code, out, _ = run(capsys, "tag", f"app@{DIGEST_A}", "new:1")
    assert (code, out) == (0, f"Tag new:1 set to app@{DIGEST_A}.\n")
    assert server.sent("POST", TAGS)[0]["metadata"]["name"] == "new:1"


def test_tag_deletes(server: MockServer, capsys: pytest.CaptureFixture[str]) -> None:
    server.on("DELETE", f"{TAGS}/app:old", body={"kind": "Status", "status": "Success"})
    code, out, _ = run(capsys, "tag", "-d", "web/app:old")
    assert (code, out) == (0, "Deleted tag web/app:old.\n")
    code, out, _ = run(capsys, "tag", "-d", "app:old")
    assert out == "Deleted tag web/app:old.\n"


def test_tag_of_an_external_image_prints_the_servers_error(
    server: MockServer, capsys: pytest.CaptureFixture[str]
) -> None:
    message = (
        'ImageStreamTag "app:ext" is invalid: tag.from.kind: tags of external images need importing'
    )
    server.answers["PUT", f"{TAGS}/app:ext"] = status(422, "Invalid", message)
    code, _, err = run(capsys, "tag", "--source=docker", "docker.io/library/nginx:1", "app:ext")
    assert (code, err) == (1, f"Error from server (Invalid): {message}\n")
    sent = server.sent("PUT", f"{TAGS}/app:ext")[0]
    assert sent["tag"]["from"] == {"kind": "DockerImage", "name": "docker.io/library/nginx:1"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["tag", "app:1"], "you must specify a source and at least one destination"),
        (["tag", "app:1", "app"], "must be of the form <stream>:<tag>"),
        (["tag", "-d"], "name at least one tag to delete"),
        (["tag", "-d", "--alias", "app:1"], "don't go with --delete"),
        (["tag", "web/app", "app:2"], "requires a valid <name>:<tag>"),
    ],
)
def test_tag_usage_errors(
    server: MockServer, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 1 and message in err, err


def test_transport_failures_are_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(client.CONFIG_ENV, str(tmp_path / "config.json"))
    client.save_config(ClientConfig(server=SERVER, user="alice", token=TOKEN, namespace="web"))

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Connection refused")

    def http_client(base_url: str, insecure: bool) -> httpx.Client:
        return httpx.Client(base_url=base_url, transport=httpx.MockTransport(refuse))

    monkeypatch.setattr(client, "new_http_client", http_client)
    code, _, err = run(capsys, "patch", "is/app", "-p", "{}")
    assert code == 1
    assert err.startswith(f"error: cannot connect to the server at {SERVER}")
    with Client(SERVER, TOKEN) as session, pytest.raises(CommandError, match="cannot connect"):
        ResourceAPI(session).send("GET", "/apis")
    assert api_module.PAGE_SIZE == 500
