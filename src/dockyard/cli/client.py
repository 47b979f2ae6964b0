"""The HTTP client the remote commands share: the config file, the bearer token, and errors as
``oc`` prints them.

The config (server, user, token) lives at ``$DOCKYARD_CONFIG`` or
``~/.config/dockyard/config.json``, mode 0600 because it holds a credential. Every failure a user
can meet (a ``Status`` from the server, a server that can't be reached, a config that is missing)
ends as one line on stderr and exit status 1, never a traceback.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import os
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from dockyard import __version__

CONFIG_ENV = "DOCKYARD_CONFIG"
TIMEOUT_SECONDS = 30.0

JSON = dict[str, Any]
Command = Callable[[Any], int]


class CommandError(Exception):
    """Ends a command: ``message`` goes to stderr as it is, ``code`` is the exit status."""

    def __init__(self, message: str, code: int = 1) -> None:
        self.message = message
        self.code = code
        super().__init__(message)


def command(func: Command) -> Command:
    """Turn ``CommandError`` into its message and exit status, as every command reports."""

    @functools.wraps(func)
    def run(args: Any) -> int:
        try:
            return func(args)
        except CommandError as exc:
            print(exc.message, file=sys.stderr)
            return exc.code
        except BrokenPipeError:  # `dockyard get users -o json | head`: the reader is gone
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 141

    return run


# --- the config file -----------------------------------------------------------------------


@dataclass
class ClientConfig:
    server: str = ""
    user: str = ""
    token: str = ""
    namespace: str = ""
    """The project commands use without ``-n``; ``new-project`` sets it, as ``oc`` does."""
    insecure_skip_tls_verify: bool = False


def config_path() -> Path:
    configured = os.environ.get(CONFIG_ENV)
    if configured:
        return Path(configured)
    return Path.home() / ".config" / "dockyard" / "config.json"


def load_config() -> ClientConfig:
    path = config_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return ClientConfig()
    except (OSError, ValueError) as exc:
        raise CommandError(f"error: cannot read the client config {path}: {exc}") from None
    if not isinstance(data, dict):
        raise CommandError(f"error: the client config {path} is not a JSON object")
    known = ClientConfig.__dataclass_fields__
    values = {key.replace("-", "_"): value for key, value in data.items()}
    return ClientConfig(**{key: value for key, value in values.items() if key in known})


def save_config(config: ClientConfig) -> Path:
    """Write atomically with mode 0600 from the first byte: the token never sits readable."""
    path = config_path()
    values = {key: value for key, value in asdict(config).items() if value}
    data = json.dumps({key.replace("_", "-"): value for key, value in values.items()}, indent=2)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".config-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                file.write(data + "\n")
            os.chmod(temporary, 0o600)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise CommandError(f"error: cannot write the client config {path}: {exc}") from None
    return path


def normalize_server(server: str) -> str:
    """``host:port`` means https, except on loopback, where ``dockyard serve`` listens in plain
    HTTP by default."""
    server = server.strip().rstrip("/")
    if "://" in server:
        return server
    host = urlsplit(f"//{server}").hostname or ""
    return f"{'http' if _is_loopback(host) else 'https'}://{server}"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# --- HTTP ------------------------------------------------------------------------------------


def new_http_client(server: str, insecure: bool) -> httpx.Client:
    """The one place that makes the transport (tests hand in a mock server here)."""
    return httpx.Client(
        base_url=server,
        timeout=TIMEOUT_SECONDS,
        verify=not insecure,
        headers={"User-Agent": f"dockyard/{__version__}"},
    )


class Client:
    """A session with one server; every method returns the decoded JSON body."""

    def __init__(self, server: str, token: str = "", insecure: bool = False) -> None:
        self.server = server
        self.token = token
        self.http = new_http_client(server, insecure)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.http.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        form: Mapping[str, str] | None = None,
    ) -> Any:
        return decoded(self.send(method, path, body=body, form=form))

    def send(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        form: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """The raw response, for callers that treat some errors as answers."""
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            return self.http.request(
                method, path, json=body, data=dict(form) if form else None, headers=headers
            )
        except httpx.TimeoutException:
            raise CommandError(
                f"error: the server at {self.server} did not answer within"
                f" {TIMEOUT_SECONDS:.0f} seconds"
            ) from None
        except httpx.ConnectError as exc:
            raise CommandError(connect_error(self.server, exc)) from None
        except httpx.TransportError as exc:
            raise CommandError(f"error: talking to {self.server} failed: {exc}") from None

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, body=body)

    def put(self, path: str, body: Any) -> Any:
        return self.request("PUT", path, body=body)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)


def segment(value: str) -> str:
    """A name as one path segment: a ``/`` or ``?`` in it can't reach another URL."""
    return quote(value, safe="")


def connect_error(server: str, exc: Exception) -> str:
    reason = str(exc) or type(exc).__name__
    if "CERTIFICATE_VERIFY_FAILED" in reason or "SSL" in reason:
        return (
            f"error: the TLS certificate of {server} is not trusted ({reason}); use"
            " --insecure-skip-tls-verify only for a server you trust"
        )
    return (
        f"error: cannot connect to the server at {server}: {reason} - verify the address and"
        " that the server is running"
    )


def server_error(response: httpx.Response) -> CommandError:
    """A ``Status`` as ``oc`` prints it; anything else with its HTTP status."""
    status = status_of(response)
    if status is not None and status.get("message"):
        if response.status_code == 401:
            return CommandError("error: You must be logged in to the server (Unauthorized)")
        reason = status.get("reason") or response.reason_phrase
        return CommandError(f"Error from server ({reason}): {status['message']}")
    request = response.request
    text = response.text.strip().splitlines()[0][:200] if response.text.strip() else ""
    return CommandError(
        f"error: the server answered {request.method} {request.url.path} with"
        f" {response.status_code} {response.reason_phrase}" + (f": {text}" if text else "")
    )


def status_of(response: httpx.Response) -> JSON | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) and body.get("kind") == "Status" else None


def connect() -> Client:
    """A client for the server and token of the config; fails if there is no login."""
    config = load_config()
    if not config.server:
        raise CommandError(
            "error: no server is configured; log in first: dockyard login [-u USER] SERVER"
        )
    if not config.token:
        raise CommandError(
            f"error: You must be logged in to the server ({config.server}); run dockyard login"
        )
    return Client(config.server, config.token, config.insecure_skip_tls_verify)


def decoded(response: httpx.Response) -> Any:
    if response.is_error:
        raise server_error(response)
    if not response.content:
        return {}
    try:
        return response.json()
    except ValueError:
        request = response.request
        raise CommandError(
            f"error: the server answered {request.method} {request.url.path} with something"
            " other than JSON"
        ) from None
