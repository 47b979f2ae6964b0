"""The access commands in-process: argument parsing, the config file, output, and the HTTP
requests they make.

The server is a mock (``MockServer``, an ``httpx.MockTransport`` handler): it answers canned
responses and records every request, so these tests pin what the CLI sends and prints. The
end-to-end tests run the same commands against a real ``dockyard serve``.
"""

from __future__ import annotations

import io
import json
import stat
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from dockyard.cli import client, users
from dockyard.cli.client import ClientConfig, CommandError, normalize_server
from dockyard.cli.main import main
from dockyard.cli.verbs import format_table, quoted

SERVER = "http://127.0.0.1:5000"
TOKEN = "dyt~secret-token"
RBAC = "/apis/rbac.authorization.k8s.io/v1"
BINDINGS = f"{RBAC}/namespaces/web/rolebindings"
USERS = "/apis/user.openshift.io/v1/users"
GROUPS = "/apis/user.openshift.io/v1/groups"
PROJECTS = "/apis/project.openshift.io/v1/projects"
HASH = "$2y$05$" + "a" * 53

Answer = tuple[int, Any] | Callable[[httpx.Request], httpx.Response]


def status(code: int, reason: str, message: str) -> tuple[int, Any]:
    body = {"kind": "Status", "apiVersion": "v1", "status": "Failure"}
    return code, {**body, "reason": reason, "message": message, "code": code}


@dataclass
class MockServer:
    """A mock of the registry's HTTP API: ``(method, path)`` → canned answer; records requests."""

    answers: dict[tuple[str, str], Answer] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.get((request.method, urllib.parse.unquote(request.url.path)))
        if answer is None:
            answer = status(404, "NotFound", f"no mock answer for {request.url.path}")
        if callable(answer):
            return answer(request)
        code, body = answer
        return httpx.Response(code, json=body)

    def on(self, method: str, path: str, code: int = 200, body: Any = None) -> None:
        self.answers[method, path] = (code, {} if body is None else body)

    def sent(self, method: str, path: str) -> list[Any]:
        """The JSON bodies of the requests made to ``method path``."""
        return [
            json.loads(r.content) if r.content else None
            for r in self.requests
            if (r.method, urllib.parse.unquote(r.url.path)) == (method, path)
        ]


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "config" / "dockyard.json"
    monkeypatch.setenv(client.CONFIG_ENV, str(path))
    return path


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, config_file: Path) -> Iterator[MockServer]:
    mock = MockServer()

    def http_client(base_url: str, insecure: bool) -> httpx.Client:
        return httpx.Client(base_url=base_url, transport=httpx.MockTransport(mock))

    monkeypatch.setattr(client, "new_http_client", http_client)
    yield mock


@pytest.fixture
def logged_in(config_file: Path) -> ClientConfig:
    config = ClientConfig(server=SERVER, user="alice", token=TOKEN)
    client.save_config(config)
    return config


def stdin(monkeypatch: pytest.MonkeyPatch, text: str, tty: bool = False) -> None:
    fake = io.StringIO(text)
    fake.isatty = lambda: tty  # type: ignore[method-assign]
    monkeypatch.setattr("sys.stdin", fake)


def saved(config_file: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(config_file.read_text())
    return data


# --- the config file -----------------------------------------------------------------------


def test_config_defaults_to_the_users_config_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(client.CONFIG_ENV, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert client.config_path() == tmp_path / ".config" / "dockyard" / "config.json"


def test_config_is_written_0600_in_a_0700_directory(config_file: Path) -> None:
    client.save_config(ClientConfig(server=SERVER, user="alice", token=TOKEN))
    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(config_file.parent.stat().st_mode) == 0o700
    assert saved(config_file) == {"server": SERVER, "user": "alice", "token": TOKEN}
    assert client.load_config() == ClientConfig(server=SERVER, user="alice", token=TOKEN)
    assert [p.name for p in config_file.parent.iterdir()] == [config_file.name]


def test_a_readable_config_becomes_0600_when_rewritten(config_file: Path) -> None:
    config_file.parent.mkdir()
    config_file.write_text("{}")
    config_file.chmod(0o644)
    client.save_config(ClientConfig(server=SERVER, token=TOKEN))
    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600


def test_missing_config_is_empty(config_file: Path) -> None:
    assert client.load_config() == ClientConfig()


@pytest.mark.parametrize(("content", "message"), [("{", "cannot read"), ("[]", "not a JSON")])
def test_broken_config_is_one_line_error(config_file: Path, content: str, message: str) -> None:
    config_file.parent.mkdir()
    config_file.write_text(content)
    with pytest.raises(CommandError, match=message):
        client.load_config()


def test_unknown_config_keys_are_ignored(config_file: Path) -> None:
    config_file.parent.mkdir()
    config_file.write_text(json.dumps({"server": SERVER, "future-key": 1}))
    assert client.load_config().server == SERVER


@pytest.mark.parametrize(
    ("given", "url"),
    [
        ("127.0.0.1:5000", "http://127.0.0.1:5000"),
        ("localhost:5000", "http://localhost:5000"),
        ("[::1]:5000", "http://[::1]:5000"),
        ("registry.example.com", "https://registry.example.com"),
        ("registry.example.com:8443/", "https://registry.example.com:8443"),
        ("http://registry.example.com/", "http://registry.example.com"),
    ],
)
def test_server_addresses(given: str, url: str) -> None:
    assert normalize_server(given) == url


# --- errors --------------------------------------------------------------------------------


def test_status_errors_print_as_oc_does(
    server: MockServer, logged_in: ClientConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    message = 'users "bob" is forbidden: User "alice" cannot delete resource "users"'
    server.answers["DELETE", f"{USERS}/bob"] = status(403, "Forbidden", message)
    assert main(["delete", "user", "bob"]) == 1
    captured = capsys.readouterr()
    assert captured.err == f"Error from server (Forbidden): {message}\n"
    assert captured.out == ""


def test_unauthorized_says_to_log_in(
    server: MockServer, logged_in: ClientConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    server.answers["GET", PROJECTS] = status(401, "Unauthorized", "Unauthorized")
    assert main(["get", "projects"]) == 1
    assert capsys.readouterr().err == "error: You must be logged in to the server (Unauthorized)\n"


def test_errors_without_a_status_name_the_request(
    server: MockServer, logged_in: ClientConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    server.answers["GET", PROJECTS] = lambda _: httpx.Response(502, text="Bad Gateway")
    assert main(["get", "projects"]) == 1
    assert capsys.readouterr().err == (
        f"error: the server answered GET {PROJECTS} with 502 Bad Gateway: Bad Gateway\n"
    )


def test_connection_errors_are_one_line(
    server: MockServer, logged_in: ClientConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    server.answers["GET", PROJECTS] = refuse
    assert main(["get", "projects"]) == 1
    err = capsys.readouterr().err
    assert err == (
        f"error: cannot connect to the server at {SERVER}: [Errno 111] Connection refused"
        " - verify the address and that the server is running\n"
    )


def test_commands_need_a_login(
    server: MockServer, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["get", "users"]) == 1
    assert "log in first: dockyard login" in capsys.readouterr().err
    client.save_config(ClientConfig(server=SERVER))
    assert main(["get", "users"]) == 1
    assert "You must be logged in" in capsys.readouterr().err
    assert server.requests == []


# --- login, whoami, logout -----------------------------------------------------------------


def login_answers(server: MockServer, user: str = "alice") -> None:
    server.on("POST", "/oauth/token", body={"access_token": TOKEN, "expires_in": 86400})
    server.on("GET", f"{USERS}/~", body={"kind": "User", "metadata": {"name": user}})


def test_login_with_password(
    server: MockServer, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    login_answers(server)
    assert main(["login", "-u", "alice", "-p", "pass word&=", "127.0.0.1:5000"]) == 0
    assert capsys.readouterr().out == f'Logged into "{SERVER}" as "alice".\n'
    token_request, whoami = server.requests
    assert token_request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert urllib.parse.parse_qs(token_request.content.decode()) == {
        "grant_type": ["password"],
        "username": ["alice"],
        "password": ["pass word&="],
    }
    assert "authorization" not in token_request.headers
    assert whoami.headers["authorization"] == f"Bearer {TOKEN}"
    assert saved(config_file) == {"server": SERVER, "user": "alice", "token": TOKEN}
    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600


def test_login_prompts_on_a_terminal(
    server: MockServer, config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    login_answers(server)
    stdin(monkeypatch, "", tty=True)
    monkeypatch.setattr("builtins.input", lambda label: "alice")
    monkeypatch.setattr("getpass.getpass", lambda label: "typed-secret")
    assert main(["login", SERVER]) == 0
    form = urllib.parse.parse_qs(server.requests[0].content.decode())
    assert (form["username"], form["password"]) == (["alice"], ["typed-secret"])


def test_login_without_a_terminal_needs_the_flags(
    server: MockServer,
    config_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stdin(monkeypatch, "")
    assert main(["login", "-u", "alice", SERVER]) == 1
    assert "give -u USER -p PASSWORD" in capsys.readouterr().err
    assert server.requests == []


def test_login_with_a_wrong_password(
    server: MockServer, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.on("POST", "/oauth/token", 401, {"error": "invalid_grant"})
    assert main(["login", "-u", "alice", "-p", "wrong", SERVER]) == 1
    assert capsys.readouterr().err == (
        "Login failed (401 Unauthorized)\nVerify you have provided the correct credentials.\n"
    )
    assert not config_file.exists()


def test_login_rate_limited(
    server: MockServer, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.on(
        "POST",
        "/oauth/token",
        429,
        {"error": "slow_down", "error_description": "too many failed logins for 'alice'"},
    )
    assert main(["login", "-u", "alice", "-p", "x", SERVER]) == 1
    assert capsys.readouterr().err == (
        "error: login failed (429 Too Many Requests): too many failed logins for 'alice'\n"
    )


def test_login_with_a_token(
    server: MockServer, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    login_answers(server, user="system:serviceaccount:web:ci")
    assert main(["login", "--token", "dyt~other", SERVER]) == 0
    assert [r.url.path for r in server.requests] == [f"{USERS}/~"]
    assert server.requests[0].headers["authorization"] == "Bearer dyt~other"
    assert saved(config_file)["user"] == "system:serviceaccount:web:ci"
    assert capsys.readouterr().out == (
        f'Logged into "{SERVER}" as "system:serviceaccount:web:ci".\n'
    )


def test_login_with_a_bad_token(
    server: MockServer, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.answers["GET", f"{USERS}/~"] = status(401, "Unauthorized", "Unauthorized")
    assert main(["login", "--token", "dyt~bad", SERVER]) == 1
    assert capsys.readouterr().err == "error: The token provided is invalid or expired.\n"
    assert not config_file.exists()


def test_login_again_reuses_the_server_and_keeps_the_project(
    server: MockServer, logged_in: ClientConfig, config_file: Path
) -> None:
    client.save_config(ClientConfig(server=SERVER, user="alice", token="old", namespace="web"))
    login_answers(server, user="bob")
    assert main(["login", "-u", "bob", "-p", "pw"]) == 0
    assert saved(config_file) == {
        "server": SERVER,
        "user": "bob",
        "token": TOKEN,
        "namespace": "web",
    }


def test_login_needs_a_server(config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["login", "-u", "a", "-p", "b"]) == 1
    assert capsys.readouterr().err == "error: no server given: dockyard login [-u USER] SERVER\n"


def test_whoami(
    server: MockServer, logged_in: ClientConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    login_answers(server)
    assert main(["whoami"]) == 0
    assert main(["whoami", "-t"]) == 0
    assert main(["whoami", "--show-server"]) == 0
    assert capsys.readouterr().out == f"alice\n{TOKEN}\n{SERVER}\n"
    assert len(server.requests) == 1


def test_whoami_token_without_login(config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["whoami", "-t"]) == 1
    assert capsys.readouterr().err == "error: no token is currently in use for this session\n"


def test_logout_revokes_then_forgets(
    server: MockServer,
    logged_in: ClientConfig,
    config_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server.on("POST", "/oauth/revoke")
    assert main(["logout"]) == 0
    (revoke,) = server.requests
    assert revoke.headers["authorization"] == f"Bearer {TOKEN}"
    assert urllib.parse.parse_qs(revoke.content.decode()) == {"token": [TOKEN]}
    assert saved(config_file) == {"server": SERVER}
    assert capsys.readouterr().out == f'Logged "alice" out on "{SERVER}"\n'
    assert main(["logout"]) == 1
    assert capsys.readouterr().err == "error: You must have a token in order to logout.\n"


def test_logout_of_an_expired_token_still_forgets_it(
    server: MockServer, logged_in: ClientConfig, config_file: Path
) -> None:
    server.answers["POST", "/oauth/revoke"] = status(401, "Unauthorized", "token is unknown")
    assert main(["logout"]) == 0
    assert "token" not in saved(config_file)


def test_logout_keeps_the_token_when_the_server_is_unreachable(
    server: MockServer, logged_in: ClientConfig, config_file: Path
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Connection refused", request=request)

    server.answers["POST", "/oauth/revoke"] = refuse
    assert main(["logout"]) == 1
    assert saved(config_file)["token"] == TOKEN


# --- projects ------------------------------------------------------------------------------


def project(name: str, display: str = "") -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if display:
        metadata["annotations"] = {"openshift.io/display-name": display}
    return {"metadata": metadata, "status": {"phase": "Active"}}


def test_new_project_switches_to_it(
    server: MockServer,
    logged_in: ClientConfig,
    config_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server.on("POST", "/apis/project.openshift.io/v1/projectrequests", 201, project("web"))
    assert main(["new-project", "web", "--display-name", "Web", "--description", "Sites"]) == 0
    assert server.sent("POST", "/apis/project.openshift.io/v1/projectrequests") == [
        {
            "apiVersion": "project.openshift.io/v1",
            "kind": "ProjectRequest",
            "metadata": {"name": "web"},
            "displayName": "Web",
            "description": "Sites",
        }
    ]
    assert capsys.readouterr().out == f'Now using project "web" on server "{SERVER}".\n'
    assert saved(config_file)["namespace"] == "web"


def test_get_projects_table(
    server: MockServer, logged_in: ClientConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    items = [project("web", "Web team"), project("a-long-project-name")]
    server.on("GET", PROJECTS, body={"kind": "ProjectList", "items": items})
    assert main(["get", "projects"]) == 0
    assert capsys.readouterr().out == (
        "NAME                  DISPLAY NAME   STATUS\n"
        "web                   Web team       Active\n"
        "a-long-project-name                  Active\n"
    )


def test_get_projects_outputs(
    server: MockServer, logged_in: ClientConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    server.on("GET", PROJECTS, body={"kind": "ProjectList", "items": [project("web")]})
    assert main(["get", "projects", "-o", "name"]) == 0
    assert capsys.readouterr().out == "project.project.openshift.io/web\n"
    assert main(["get", "projects", "-o", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["kind"] == "List"
    assert document["items"][0]["kind"] == "Project"
    assert document["items"][0]["apiVersion"] == "project.openshift.io/v1"
    assert main(["get", "projects", "-o", "yaml"]) == 0
    assert yaml.safe_load(capsys.readouterr().out) == document


def test_get_one_project(
    server: MockServer, logged_in: ClientConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    server.on("GET", f"{PROJECTS}/web", body={"kind": "Project", **project("web")})
    assert main(["get", "project", "web", "-o", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["kind"] == "Project"


def test_get_projects_when_there_are_none(
    server: MockServer, logged_in: ClientConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    server.on("GET", PROJECTS, body={"kind": "ProjectList", "items": []})
    assert main(["get", "projects"]) == 0
    assert capsys.readouterr().err == "No resources found.\n"


def test_delete_project(
    server: MockServer, logged_in: ClientConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    server.on("DELETE", f"{PROJECTS}/web", body={"kind": "Status", "status": "Success"})
    assert main(["delete", "project", "web"]) == 0
    assert capsys.readouterr().out == 'project.project.openshift.io "web" deleted\n'


def test_names_cannot_escape_their_path_segment(
    server: MockServer, logged_in: ClientConfig
) -> None:
    main(["delete", "project", "../users/bob?x"])
    assert server.requests[0].url.raw_path == f"{PROJECTS}/..%2Fusers%2Fbob%3Fx".encode()


# --- policy --------------------------------------------------------------------------------


def binding(name: str, role: str, *subjects: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": name, "namespace": "web", "uid": f"uid-{name}"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": list(subjects),
    }


def user(name: str) -> dict[str, Any]:
    return {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": name}


def test_add_role_creates_a_binding_named_after_the_role(
    server: MockServer, logged_in: ClientConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    server.on("GET", BINDINGS, body={"items": []})
    server.on("POST", BINDINGS, 201)
    assert main(["policy", "add-role-to-user", "registry-viewer", "alice", "-n", "web"]) == 0
    (created,) = server.sent("POST", BINDINGS)
    assert created == {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "registry-viewer", "namespace": "web"},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "registry-viewer",
        },
        "subjects": [user("alice")],
    }
    assert capsys.readouterr().out == (
        'clusterrole.rbac.authorization.k8s.io/registry-viewer added: "alice"\n'
    )


def test_add_role_picks_a_free_name_when_another_role_has_it(
    server: MockServer, logged_in: ClientConfig
) -> None:
    taken = [binding("registry-viewer", "registry-admin"), binding("registry-viewer-0", "x")]
    server.on("GET", BINDINGS, body={"items": taken})
    server.on("POST", BINDINGS, 201)
    assert main(["policy", "add-role-to-user", "registry-viewer", "alice", "-n", "web"]) == 0
    assert server.sent("POST", BINDINGS)[0]["metadata"]["name"] == "registry-viewer-1"


def test_add_role_extends_the_roles_binding(
    server: MockServer, logged_in: ClientConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    existing = binding("viewers", "registry-viewer", user("alice"))
    server.on("GET", BINDINGS, body={"items": [existing]})
    server.on("PUT", f"{BINDINGS}/viewers")
    argv = ["policy", "add-role-to-user", "registry-viewer", "alice", "bob", "-z", "ci"]
    assert main([*argv, "-n", "web"]) == 0
    (replaced,) = server.sent("PUT", f"{BINDINGS}/viewers")
    assert replaced["metadata"]["uid"] == "uid-viewers"
    assert replaced["subjects"] == [
        user("alice"),
        user("bob"),
        {"kind": "ServiceAccount", "name": "ci", "namespace": "web"},
    ]
    assert capsys.readouterr().out == (
        'clusterrole.rbac.authorization.k8s.io/registry-viewer added: ["alice" "bob" "ci"]\n'
    )


def test_add_role_already_bound_changes_nothing(
    server: MockServer, logged_in: ClientConfig
) -> None:
    existing = binding("viewers", "registry-viewer", user("alice"))
    server.on("GET", BINDINGS, body={"items": [existing]})
    assert main(["policy", "add-role-to-user", "registry-viewer", "alice", "-n", "web"]) == 0
    assert [r.method for r in server.requests] == ["GET"]


def test_service_account_user_names_become_service_account_subjects(
    server: MockServer, logged_in: ClientConfig
) -> None:
    server.on("GET", BINDINGS, body={"items": []})
    server.on("POST", BINDINGS, 201)
    name = "system:serviceaccount:ops:deployer"
    assert main(["policy", "add-role-to-user", "registry-editor", name, "-n", "web"]) == 0
    assert server.sent("POST", BINDINGS)[0]["subjects"] == [
        {"kind": "ServiceAccount", "name": "deployer", "namespace": "ops"}
    ]


def test_add_role_to_group_and_the_named_binding(
    server: MockServer, logged_in: ClientConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    server.on("GET", BINDINGS, body={"items": [binding("mine", "registry-admin")]})
    argv = ["policy", "add-role-to-group", "registry-viewer", "devs", "-n", "web"]
    assert main([*argv, "--rolebinding-name", "mine"]) == 1
    assert 'rolebinding "mine" binds another role' in capsys.readouterr().err
    server.on("POST", BINDINGS, 201)
    assert main([*argv, "--rolebinding-name", "devs-view"]) == 0
    (created,) = server.sent("POST", BINDINGS)
    assert created["metadata"]["name"] == "devs-view"
    assert created["subjects"] == [
        {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "devs"}
    ]


def test_remove_role_updates_or_deletes_every_binding_of_the_role(
    server: MockServer, logged_in: ClientConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    items = [
        binding("a", "registry-viewer", user("alice"), user("bob")),
        binding("b", "registry-viewer", user("alice")),
        binding("c", "registry-admin", user("alice")),
    ]
    server.on("GET", BINDINGS, body={"items": items})
    server.on("PUT", f"{BINDINGS}/a")
    server.on("DELETE", f"{BINDINGS}/b")
    assert main(["policy", "remove-role-from-user", "registry-viewer", "alice", "-n", "web"]) == 0
    assert server.sent("PUT", f"{BINDINGS}/a")[0]["subjects"] == [user("bob")]
    assert len(server.sent("DELETE", f"{BINDINGS}/b")) == 1
    assert not server.sent("PUT", f"{BINDINGS}/c")
    assert capsys.readouterr().out == (
        'clusterrole.rbac.authorization.k8s.io/registry-viewer removed: "alice"\n'
    )


def test_remove_role_that_is_not_bound(
    server: MockServer, logged_in: ClientConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    server.on("GET", BINDINGS, body={"items": [binding("a", "registry-viewer", user("bob"))]})
    assert main(["policy", "remove-role-from-user", "registry-viewer", "alice", "-n", "web"]) == 1
    assert capsys.readouterr().err == (
        'error: role "registry-viewer" is not bound to "alice" in project "web"\n'
    )


def test_service_account_subjects_default_to_the_binding_namespace(
    server: MockServer, logged_in: ClientConfig
) -> None:
    existing = binding("a", "registry-viewer", {"kind": "ServiceAccount", "name": "ci"})
    server.on("GET", BINDINGS, body={"items": [existing]})
    server.on("DELETE", f"{BINDINGS}/a")
    argv = ["policy", "remove-role-from-user", "registry-viewer", "-z", "ci", "-n", "web"]
    assert main(argv) == 0
    assert len(server.sent("DELETE", f"{BINDINGS}/a")) == 1


def test_cluster_roles_use_cluster_role_bindings(
    server: MockServer, logged_in: ClientConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    path = f"{RBAC}/clusterrolebindings"
    server.on("GET", path, body={"items": []})
    server.on("POST", path, 201)
    assert main(["adm", "policy", "add-cluster-role-to-group", "cluster-admin", "admins"]) == 0
    (created,) = server.sent("POST", path)
    assert created["kind"] == "ClusterRoleBinding"
    assert "namespace" not in created["metadata"]
    assert created["metadata"]["name"] == "cluster-admin"
    assert capsys.readouterr().out == (
        'clusterrole.rbac.authorization.k8s.io/cluster-admin added: "admins"\n'
    )


def test_project_policy_needs_a_project(
    server: MockServer, logged_in: ClientConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["policy", "add-role-to-user", "registry-viewer", "alice"]) == 1
    assert capsys.readouterr().err == "error: no project given; use -n PROJECT\n"
    assert server.requests == []


def test_policy_needs_a_subject(
    server: MockServer, logged_in: ClientConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["policy", "add-role-to-user", "registry-viewer", "-n", "web"]) == 1
    assert "name at least one user or service account (-z)" in capsys.readouterr().err


def test_the_current_project_is_the_default(server: MockServer, logged_in: ClientConfig) -> None:
    client.save_config(ClientConfig(server=SERVER, token=TOKEN, namespace="web"))
    server.on("GET", BINDINGS, body={"items": []})
    server.on("POST", BINDINGS, 201)
    assert main(["policy", "add-role-to-user", "registry-viewer", "alice"]) == 0


# --- users and groups ----------------------------------------------------------------------


def test_create_user_with_password_from_stdin(
    server: MockServer,
    logged_in: ClientConfig,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server.on("POST", USERS, 201)
    stdin(monkeypatch, "s3cret pass\n")
    assert main(["create", "user", "bob", "--password-stdin", "--full-name", "Bob B"]) == 0
    assert server.sent("POST", USERS) == [
        {
            "apiVersion": "user.openshift.io/v1",
            "kind": "User",
            "metadata": {"name": "bob"},
            "fullName": "Bob B",
            "password": "s3cret pass",
        }
    ]
    assert capsys.readouterr().out == "user.user.openshift.io/bob created\n"


def test_create_user_password_options_exclude_each_other(logged_in: ClientConfig) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["create", "user", "bob", "--password", "x", "--password-stdin"])
    assert exc.value.code == 2


def test_get_users_and_groups_tables(
    server: MockServer, logged_in: ClientConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    alice = {"metadata": {"name": "alice", "uid": "u-1"}, "fullName": "Alice", "groups": ["a"]}
    server.on("GET", USERS, body={"items": [alice]})
    server.on("GET", GROUPS, body={"items": [{"metadata": {"name": "devs"}, "users": ["a", "b"]}]})
    assert main(["get", "users"]) == 0
    assert main(["get", "groups"]) == 0
    assert capsys.readouterr().out == (
        "NAME    UID   FULL NAME   GROUPS\nalice   u-1   Alice       a\nNAME   USERS\ndevs   a, b\n"
    )


def test_delete_user_and_group(
    server: MockServer, logged_in: ClientConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    server.on("DELETE", f"{USERS}/bob")
    server.on("DELETE", f"{GROUPS}/devs")
    assert main(["delete", "user", "bob"]) == 0
    assert main(["delete", "group", "devs"]) == 0
    assert capsys.readouterr().out == (
        'user.user.openshift.io "bob" deleted\ngroup.user.openshift.io "devs" deleted\n'
    )


def test_passwd_changes_your_own_password(
    server: MockServer,
    logged_in: ClientConfig,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server.on("GET", f"{USERS}/~", body={"metadata": {"name": "alice"}})
    server.on("PUT", f"{USERS}/alice/password")
    stdin(monkeypatch, "", tty=True)
    answers = iter(["new-secret", "new-secret"])
    monkeypatch.setattr("getpass.getpass", lambda label: next(answers))
    assert main(["passwd"]) == 0
    assert server.sent("PUT", f"{USERS}/alice/password") == [{"password": "new-secret"}]
    assert capsys.readouterr().out == 'Password of user "alice" changed.\n'


def test_passwd_of_another_user_from_stdin(
    server: MockServer, logged_in: ClientConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.on("PUT", f"{USERS}/bob/password")
    stdin(monkeypatch, "from-stdin\n")
    assert main(["passwd", "bob", "--password-stdin"]) == 0
    assert server.sent("PUT", f"{USERS}/bob/password") == [{"password": "from-stdin"}]


def test_passwd_retyped_differently(
    server: MockServer,
    logged_in: ClientConfig,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stdin(monkeypatch, "", tty=True)
    answers = iter(["one-secret", "another"])
    monkeypatch.setattr("getpass.getpass", lambda label: next(answers))
    assert main(["passwd", "bob"]) == 1
    assert capsys.readouterr().err == "error: the passwords do not match\n"
    assert not server.sent("PUT", f"{USERS}/bob/password")


def test_groups_new_add_and_remove(
    server: MockServer, logged_in: ClientConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    group = {"kind": "Group", "metadata": {"name": "devs", "uid": "g"}, "users": ["alice"]}
    server.on("POST", GROUPS, 201)
    server.on("GET", f"{GROUPS}/devs", body=group)
    server.on("PUT", f"{GROUPS}/devs")
    assert main(["adm", "groups", "new", "devs", "alice", "alice"]) == 0
    assert server.sent("POST", GROUPS)[0]["users"] == ["alice"]
    assert main(["adm", "groups", "add-users", "devs", "bob", "carol"]) == 0
    assert main(["adm", "groups", "remove-users", "devs", "alice"]) == 0
    added, removed = server.sent("PUT", f"{GROUPS}/devs")
    assert added == {**group, "users": ["alice", "bob", "carol"]}
    assert removed == {**group, "users": []}
    assert capsys.readouterr().out == (
        "group.user.openshift.io/devs created\n"
        'group.user.openshift.io/devs added: ["bob" "carol"]\n'
        'group.user.openshift.io/devs removed: "alice"\n'
    )


def test_groups_add_users_needs_users(logged_in: ClientConfig) -> None:
    with pytest.raises(SystemExit):
        main(["adm", "groups", "add-users", "devs"])


def test_import_htpasswd(
    server: MockServer,
    logged_in: ClientConfig,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    htpasswd = tmp_path / "users.htpasswd"
    htpasswd.write_text(f"# team\nalice:{HASH}\n\nbob:{HASH}\n")
    server.answers["POST", USERS] = lambda request: (
        httpx.Response(201, json={})
        if b'"alice"' in request.content
        else httpx.Response(409, json=status(409, "AlreadyExists", "exists")[1])
    )
    server.on("PUT", f"{USERS}/alice/password")
    server.on("PUT", f"{USERS}/bob/password")
    assert main(["adm", "import-htpasswd", str(htpasswd)]) == 0
    assert server.sent("PUT", f"{USERS}/alice/password") == [{"passwordHash": HASH}]
    assert server.sent("PUT", f"{USERS}/bob/password") == [{"passwordHash": HASH}]
    assert capsys.readouterr().out == (
        "user.user.openshift.io/alice created\nuser.user.openshift.io/bob configured\n"
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (f"bob:{HASH}\nalice:$apr1$abc\n", "htpasswd line 2: user 'alice' has an MD5"),
        (f"bob:{HASH}\nalice\n", "htpasswd line 2: expected <user>:<bcrypt hash>"),
        (f"bob:{HASH}\nbob:{HASH}\n", "htpasswd line 2: user 'bob' appears twice"),
        ("\n# nobody\n", "has no users"),
    ],
)
def test_import_htpasswd_checks_the_whole_file_first(
    server: MockServer,
    logged_in: ClientConfig,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: str,
    message: str,
) -> None:
    htpasswd = tmp_path / "users.htpasswd"
    htpasswd.write_text(content)
    assert main(["adm", "import-htpasswd", str(htpasswd)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {htpasswd}")
    assert message in err
    assert "$apr1$abc" not in err
    assert server.requests == []


def test_import_htpasswd_of_a_missing_file(
    server: MockServer, logged_in: ClientConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["adm", "import-htpasswd", "/nonexistent/htpasswd"]) == 1
    assert capsys.readouterr().err.startswith("error: cannot read /nonexistent/htpasswd: ")


# --- service accounts ----------------------------------------------------------------------


def test_create_service_account(
    server: MockServer, logged_in: ClientConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    path = "/api/v1/namespaces/web/serviceaccounts"
    server.on("POST", path, 201)
    assert main(["create", "serviceaccount", "ci", "-n", "web"]) == 0
    assert server.sent("POST", path) == [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "ci"}}
    ]
    assert capsys.readouterr().out == "serviceaccount/ci created\n"


def test_create_token_prints_only_the_token(
    server: MockServer, logged_in: ClientConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    path = "/api/v1/namespaces/web/serviceaccounts/ci/token"
    server.on("POST", path, 201, {"status": {"token": "dyt~sa-token"}})
    assert main(["create", "token", "ci", "-n", "web", "--duration", "1h30m"]) == 0
    assert server.sent("POST", path)[0]["spec"] == {"expirationSeconds": 5400}
    assert capsys.readouterr().out == "dyt~sa-token\n"


@pytest.mark.parametrize(
    ("text", "seconds"), [("1h", 3600), ("30m", 1800), ("90s", 90), ("2h0m5s", 7205)]
)
def test_durations(text: str, seconds: int) -> None:
    assert users.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "1d", "h", "10", "1m1h", "-1h"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(CommandError, match="invalid duration"):
        users.parse_duration(text)


# --- formatting and parsing ----------------------------------------------------------------


def test_tables_align_as_kubectl_does() -> None:
    assert format_table(["A", "LONGER HEADER"], [["x", ""], ["yy", "z"]]) == (
        "A     LONGER HEADER\nx\nyy    z"
    )


def test_quoted_names() -> None:
    assert quoted(["alice"]) == '"alice"'
    assert quoted(["alice", "bob"]) == '["alice" "bob"]'


@pytest.mark.parametrize(
    "argv",
    [
        ["get"],
        ["get", "projects", "-o", "wide"],
        ["policy", "add-role-to-user"],
        ["adm", "policy"],
        ["adm", "groups"],
        ["create", "token"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "usage: dockyard" in capsys.readouterr().err


def test_group_subcommands_have_no_service_account_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["policy", "add-role-to-group", "r", "g", "-z", "ci"])
    assert "unrecognized arguments: -z" in capsys.readouterr().err
