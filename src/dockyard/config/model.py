"""Process settings: what one ``dockyard serve`` needs before it answers a request.

Keys follow CNCF Distribution's ``config.yml`` where it has them, so its users find them where they
expect. Defaults that live under the data directory are derived here, so ``Settings`` built from
``data_dir`` alone is complete; the loader adds the file, the environment and the command line.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    SecretStr,
    field_validator,
    model_validator,
)

MIN_SECRET_LENGTH = 16
"""Upload state in URLs is signed with ``http.secret``; a short one could be guessed."""

DATABASE_SCHEMES = ("sqlite", "postgresql")


class Section(BaseModel):
    """Frozen and strict: settings change by building new ones, and a typo is an error."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class AccessLogSettings(Section):
    disabled: bool = False


class LogSettings(Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    formatter: Literal["logfmt", "json", "text"] = "logfmt"
    accesslog: AccessLogSettings = Field(default_factory=AccessLogSettings)


class FilesystemParams(Section):
    rootdirectory: str

    @field_validator("rootdirectory")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value:
            raise ValueError("must not be empty")
        return _absolute(value)


class InMemoryParams(Section):
    pass


MiB = 1 << 20
GiB = 1 << 30


class CloudFrontParams(Section):
    """Distribution's ``cloudfront`` middleware: blob GETs redirect to CloudFront URLs signed
    with the key pair's private key (a PEM file) instead of presigned S3 URLs."""

    baseurl: str
    privatekey: str
    keypairid: str = Field(min_length=1)
    duration: str = "20m"
    """How long a signed URL is valid, as a Go duration."""

    @field_validator("baseurl")
    @classmethod
    def _baseurl(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an absolute http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("privatekey")
    @classmethod
    def _privatekey(cls, value: str) -> str:
        return _absolute(value)

    @field_validator("duration")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value


class S3Params(Section):
    """Distribution's ``storage.s3``. Without ``accesskey`` boto3 finds credentials itself
    (environment, shared files, instance or pod role)."""

    bucket: str = Field(min_length=3)
    region: str = "us-east-1"
    regionendpoint: str | None = None
    """An S3-compatible store's URL; ``secure`` picks the scheme when it has none."""
    accesskey: str | None = None
    secretkey: SecretStr | None = None
    encrypt: bool = False
    keyid: str | None = None
    """A KMS key: objects are encrypted with SSE-KMS rather than S3's own keys."""
    secure: bool = True
    skipverify: bool = False
    trustedca: str | None = None
    """A PEM bundle of the CAs that sign ``regionendpoint``'s certificate, instead of the
    system's (OpenShift's ``trustedCA``)."""
    maxretries: int = Field(default=3, ge=0, le=10)
    """Retries of a request that failed in a way safe to retry, with exponential backoff: fewer
    answer clients sooner while the store is down."""
    v4auth: bool = True
    chunksize: int = Field(default=10 * MiB, ge=5 * MiB, le=5 * GiB)
    """Part size of multipart uploads: memory per open writer, and the smallest part S3 takes."""
    multipartcopychunksize: int = Field(default=32 * MiB, ge=5 * MiB, le=5 * GiB)
    multipartcopythresholdsize: int = Field(default=32 * MiB, ge=0, le=5 * GiB)
    """Moves of larger objects copy parts in parallel instead of in one request."""
    multipartcopymaxconcurrency: int = Field(default=100, ge=1)
    rootdirectory: str = ""
    storageclass: str = "STANDARD"
    """``NONE`` sends no storage class, for stores that reject the header."""
    forcepathstyle: bool | None = None
    """Path-style URLs; the default is path style exactly when ``regionendpoint`` is set."""
    virtualhostedstyle: bool = False
    cloudfront: CloudFrontParams | None = None

    @field_validator("rootdirectory")
    @classmethod
    def _root(cls, value: str) -> str:
        return _object_prefix(value)

    @model_validator(mode="after")
    def _styles(self) -> S3Params:
        if self.virtualhostedstyle and self.forcepathstyle:
            raise ValueError("forcepathstyle and virtualhostedstyle exclude each other")
        if (self.accesskey is None) != (self.secretkey is None):
            raise ValueError("accesskey and secretkey go together")
        return self


class AzureParams(Section):
    """Distribution's ``storage.azure``; ``serviceurl`` replaces the URL built from ``realm``."""

    accountname: str = Field(min_length=1)
    accountkey: SecretStr
    container: str = Field(min_length=3)
    realm: str = "core.windows.net"
    serviceurl: str | None = None
    rootdirectory: str = ""
    chunksize: int = Field(default=4 * MiB, ge=1, le=100 * MiB)
    """Block size of chunked uploads; a blob holds at most 50,000 blocks."""

    @field_validator("rootdirectory")
    @classmethod
    def _root(cls, value: str) -> str:
        return _object_prefix(value)


class GCSParams(Section):
    """Distribution's ``storage.gcs``. Without ``keyfile`` the client finds credentials itself;
    ``endpoint`` points it at another server (an emulator)."""

    bucket: str = Field(min_length=3)
    keyfile: str | None = None
    credentials: SecretStr | None = None
    """A service account key's JSON itself, where no file holds it (an operator's secret)."""
    rootdirectory: str = ""
    chunksize: int = Field(default=5 * MiB, ge=256 * 1024)
    endpoint: str | None = None
    projectid: str | None = None

    @field_validator("rootdirectory")
    @classmethod
    def _root(cls, value: str) -> str:
        return _object_prefix(value)

    @field_validator("chunksize")
    @classmethod
    def _chunk(cls, value: int) -> int:
        if value % (256 * 1024):
            raise ValueError("must be a multiple of 256 KiB, as GCS resumable uploads need")
        return value

    @field_validator("keyfile")
    @classmethod
    def _keyfile(cls, value: str | None) -> str | None:
        return None if value is None else _absolute(value)


class SwiftParams(Section):
    """Distribution's ``storage.swift``: Keystone (or v1) credentials at ``authurl``, or an
    already known ``storageurl`` (with ``authtoken`` when the cluster wants one)."""

    container: str = Field(min_length=1)
    authurl: str | None = None
    username: str | None = None
    password: SecretStr | None = None
    authversion: Literal[0, 1, 2, 3] = 0
    """0 guesses from ``authurl`` (``/v3`` ends Keystone v3 URLs)."""
    tenant: str | None = None
    tenantid: str | None = None
    domain: str | None = None
    domainid: str | None = None
    region: str | None = None
    endpointtype: str = "public"
    insecureskipverify: bool = False
    storageurl: str | None = None
    authtoken: SecretStr | None = None
    prefix: str = ""
    """The key prefix, Distribution's name for ``rootdirectory``."""
    secretkey: SecretStr | None = None
    """The account's TempURL key: blob GETs redirect to temporary URLs signed with it."""
    chunksize: int = Field(default=20 * MiB, ge=MiB, le=5 * GiB)

    @field_validator("prefix")
    @classmethod
    def _root(cls, value: str) -> str:
        return _object_prefix(value)

    @model_validator(mode="after")
    def _credentials(self) -> SwiftParams:
        if self.storageurl is None and not (self.authurl and self.username and self.password):
            raise ValueError("give authurl with username and password, or storageurl")
        return self


class DeleteSettings(Section):
    enabled: bool = True


class RedirectSettings(Section):
    disable: bool = False


class StorageSettings(Section):
    """Distribution's shape: one driver key (its parameters) beside the reserved keys."""

    filesystem: FilesystemParams | None = None
    inmemory: InMemoryParams | None = None
    s3: S3Params | None = None
    azure: AzureParams | None = None
    gcs: GCSParams | None = None
    swift: SwiftParams | None = None
    delete: DeleteSettings = Field(default_factory=DeleteSettings)
    redirect: RedirectSettings = Field(default_factory=RedirectSettings)

    @model_validator(mode="after")
    def _one_driver(self) -> StorageSettings:
        chosen = [name for name in STORAGE_DRIVERS if getattr(self, name) is not None]
        if len(chosen) != 1:
            got = ", ".join(chosen) or "none"
            raise ValueError(f"configure exactly one storage driver (got {got})")
        return self


STORAGE_RESERVED = frozenset({"delete", "redirect"})
STORAGE_DRIVERS = tuple(
    name for name in StorageSettings.model_fields if name not in STORAGE_RESERVED
)
"""Every storage key that is not reserved names a driver, so adding a driver is adding a field."""


DNS_NAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*")

TLS_RELAY_PORT_ENV = "DOCKYARD_TLS_RELAY_PORT"
"""Set by ``dockyard serve`` for its workers: the loopback port that the supervisor relays
HTTPS route traffic to, once TLS has ended; requests on it are https."""


class HttpSettings(Section):
    addr: str = "127.0.0.1:5000"
    secret: SecretStr = Field(default_factory=lambda: SecretStr(secrets.token_urlsafe(32)))
    """A fresh one per process unless configured; ``load_config`` makes it persistent."""
    host: str | None = None
    tlsaddr: str | None = None
    """Where the cluster Config's ``routes`` are served over HTTPS (unset: they are not)."""
    ingressdomain: str = "apps.dockyard.test"
    """The domain of the Config's default route, as OpenShift's cluster ingress domain:
    ``default-route-openshift-image-registry.<ingressdomain>``."""

    @field_validator("addr", "tlsaddr")
    @classmethod
    def _addr(cls, value: str | None) -> str | None:
        if value is not None:
            _split_addr(value)
        return value

    @field_validator("ingressdomain")
    @classmethod
    def _ingressdomain(cls, value: str) -> str:
        if not DNS_NAME.fullmatch(value):
            raise ValueError("must be a DNS name such as apps.example.com")
        return value

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < MIN_SECRET_LENGTH:
            raise ValueError(f"must be at least {MIN_SECRET_LENGTH} characters")
        return value

    @field_validator("host")
    @classmethod
    def _host(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError("must be an absolute http:// or https:// URL")
        return value

    def bind_address(self) -> tuple[str, int]:
        """Host and port for a socket; an empty host (``:5000``) means every IPv4 interface."""
        return _split_addr(self.addr)

    def tls_bind_address(self) -> tuple[str, int] | None:
        return None if self.tlsaddr is None else _split_addr(self.tlsaddr)


class DatabaseSettings(Section):
    url: str

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        scheme = urlsplit(value).scheme
        if scheme.partition("+")[0] not in DATABASE_SCHEMES:
            raise ValueError(
                "must be sqlite+aiosqlite:///PATH or postgresql+asyncpg://USER@HOST/NAME"
            )
        return value

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # The URL may carry a password, and settings get logged.
        yield "url", _hide_password(self.url)


_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_duration(value: Any) -> float:
    """Seconds from a Go duration string (``"500ms"``, ``"1m30s"``), as Distribution reads them.

    A bare number is refused: Go would read it as nanoseconds, a reader of the file as seconds.
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError('must be a duration with a unit, such as "500ms", "1s" or "2m"')
    if not isinstance(value, str):
        raise ValueError('must be a duration such as "500ms", "1s" or "2m"')
    text, seconds, position = value.strip(), 0.0, 0
    while position < len(text):
        part = _DURATION_PART.match(text, position)
        if part is None:
            raise ValueError(f'{value!r} is not a duration such as "500ms", "1s" or "2m"')
        seconds += float(part.group(1)) * _DURATION_UNITS[part.group(2)]
        position = part.end()
    if not text:
        raise ValueError('must be a duration such as "500ms", "1s" or "2m"')
    if seconds <= 0:
        raise ValueError("must be longer than zero")
    return seconds


def format_duration(seconds: float) -> str:
    """The inverse of ``parse_duration``, exact to the nanosecond, for ``dump_settings``."""
    nanoseconds = round(seconds * 1e9)
    for unit, size in (("h", 3600 * 10**9), ("m", 60 * 10**9), ("s", 10**9), ("ms", 10**6)):
        if nanoseconds % size == 0:
            return f"{nanoseconds // size}{unit}"
    return f"{nanoseconds}ns"


Duration = Annotated[
    float, BeforeValidator(parse_duration), PlainSerializer(format_duration, when_used="json")
]
"""Seconds, written in the file as Go durations (``"1s"``), as in Distribution's config."""

EventAction = Literal["push", "pull", "delete", "mount"]

_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


class IgnoreSettings(Section):
    mediatypes: list[str] = Field(default_factory=list)
    actions: list[EventAction] = Field(default_factory=list)


class EndpointSettings(Section):
    """One webhook: Distribution's ``notifications.endpoints[]`` entry."""

    name: str
    """Also the key of the endpoint's delivery cursor: renaming it starts it afresh."""
    url: str
    headers: dict[str, list[SecretStr]] = Field(default_factory=dict)
    """Sent with every request; values are secrets (they often carry credentials)."""
    timeout: Duration = 1.0
    threshold: int = Field(default=10, ge=1)
    backoff: Duration = 1.0
    ignoredmediatypes: list[str] = Field(default_factory=list)
    ignore: IgnoreSettings = Field(default_factory=IgnoreSettings)
    disabled: bool = False

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        if len(value) > 200:
            raise ValueError("must be at most 200 characters")
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an absolute http:// or https:// URL")
        return value

    @field_validator("headers", mode="before")
    @classmethod
    def _headers(cls, value: Any) -> Any:
        """Distribution's ``{Name: [values]}``; a single string is taken as one value."""
        if not isinstance(value, dict):
            return value
        headers: dict[Any, Any] = {}
        for name, values in value.items():
            if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not an HTTP header name")
            values = [values] if isinstance(values, str) else values
            if isinstance(values, list) and any(
                not isinstance(item, str) or any(c in item for c in "\r\n\0") for item in values
            ):
                # The value itself is never shown: it may be a credential.
                raise ValueError(
                    f"{name}: values must be strings (quoted in YAML) without line breaks"
                )
            headers[name] = values
        return headers

    @property
    def ignored_media_types(self) -> frozenset[str]:
        """Both of Distribution's spellings, ``ignoredmediatypes`` and ``ignore.mediatypes``."""
        return frozenset(self.ignoredmediatypes) | frozenset(self.ignore.mediatypes)

    def header_values(self) -> list[tuple[str, str]]:
        return [
            (name, value.get_secret_value())
            for name, values in self.headers.items()
            for value in values
        ]

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for key, value in super().__repr_args__():
            yield key, _hide_password(value) if key == "url" else value


class EventsSettings(Section):
    includereferences: bool = False


class NotificationsSettings(Section):
    endpoints: list[EndpointSettings] = Field(default_factory=list)
    events: EventsSettings = Field(default_factory=EventsSettings)

    @field_validator("endpoints")
    @classmethod
    def _unique_names(cls, value: list[EndpointSettings]) -> list[EndpointSettings]:
        names = [endpoint.name for endpoint in value]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"endpoint names must be unique (repeated: {', '.join(repeated)})")
        return value

    @property
    def enabled(self) -> tuple[EndpointSettings, ...]:
        return tuple(endpoint for endpoint in self.endpoints if not endpoint.disabled)

    def wants(self, action: EventAction) -> bool:
        """Whether some enabled endpoint may be sent events of ``action``."""
        return any(action not in endpoint.ignore.actions for endpoint in self.enabled)


class GCSettings(Section):
    """Online garbage collection (``dockyard.pruning``): how often, and how long a blob or
    manifest that nothing references is left alone (an upload waiting for its manifest)."""

    disabled: bool = False
    interval: Duration = 600.0
    graceperiod: Duration = 3600.0


class ImportSettings(Section):
    """Images from other registries (``dockyard.imports``): how many tags an import of a
    whole repository takes (the rest are reported), and how often scheduled tags re-import."""

    maxtags: int = Field(default=50, ge=1)
    scheduledinterval: Duration = 900.0


class MetricsSettings(Section):
    """``/extensions/v2/metrics`` also answers whoever sends this secret (``curl -u
    any:SECRET``, or as a bearer token), as OpenShift's ``openshift.metrics.secret`` does."""

    secret: SecretStr | None = None


class Settings(Section):
    version: Literal["0.1"] = "0.1"
    data_dir: Path
    log: LogSettings = Field(default_factory=LogSettings)
    storage: StorageSettings
    http: HttpSettings = Field(default_factory=HttpSettings)
    database: DatabaseSettings
    workers: int = Field(default_factory=lambda: _available_cpus(), ge=1)
    notifications: NotificationsSettings = Field(default_factory=NotificationsSettings)
    imports: ImportSettings = Field(default_factory=ImportSettings)
    gc: GCSettings = Field(default_factory=GCSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)

    @model_validator(mode="before")
    @classmethod
    def _derive_defaults(cls, data: Any) -> Any:
        """Fill defaults that live under ``data_dir``; expand Distribution's storage shorthands."""
        if not isinstance(data, dict) or not isinstance(data.get("data_dir"), str | os.PathLike):
            return data
        data_dir = Path(_absolute(data["data_dir"]))
        data = dict(data)
        storage = data.get("storage", {})
        if isinstance(storage, str):  # `storage: inmemory`
            storage = {storage: {}}
        if isinstance(storage, dict):
            # `inmemory:` with no value selects the driver, as in Distribution's docs.
            storage = {
                key: {} if value is None and key not in STORAGE_RESERVED else value
                for key, value in storage.items()
            }
            filesystem = storage.get("filesystem")
            if not any(name in storage for name in STORAGE_DRIVERS):
                storage["filesystem"] = filesystem = {}
            if isinstance(filesystem, dict) and "rootdirectory" not in filesystem:
                storage["filesystem"] = {**filesystem, "rootdirectory": str(data_dir / "storage")}
        data["storage"] = storage
        database = data.get("database", {})
        if isinstance(database, dict) and "url" not in database:
            data["database"] = {**database, "url": f"sqlite+aiosqlite:///{data_dir}/dockyard.db"}
        return data

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, value: Any) -> str:
        # YAML reads an unquoted 0.1 as a float.
        if value == "0.1" or (isinstance(value, float) and value == 0.1):
            return "0.1"
        raise ValueError(f"unsupported version {value!r}; expected 0.1")

    @field_validator("data_dir")
    @classmethod
    def _data_dir(cls, value: Path) -> Path:
        return Path(_absolute(value))

    def storage_driver(self) -> tuple[str, dict[str, Any]]:
        """The configured driver's name and parameters, as ``storage.factory`` takes them."""
        for name in STORAGE_DRIVERS:
            params: BaseModel | None = getattr(self.storage, name)
            if params is not None:
                return name, params.model_dump()
        raise AssertionError("StorageSettings guarantees one driver")


def dump_settings(settings: Settings) -> str:
    """JSON that ``Settings.model_validate_json`` reads back equal, secret included.

    For handing resolved settings to worker processes through a 0600 file.
    """
    data = settings.model_dump(mode="json", exclude_none=True)  # a None driver would select it
    data["http"]["secret"] = settings.http.secret.get_secret_value()
    if settings.metrics.secret is not None:
        data["metrics"]["secret"] = settings.metrics.secret.get_secret_value()
    driver, params = settings.storage_driver()
    for key, value in params.items():
        if isinstance(value, SecretStr):
            data["storage"][driver][key] = value.get_secret_value()
    for endpoint, dumped in zip(
        settings.notifications.endpoints, data["notifications"]["endpoints"], strict=True
    ):
        dumped["headers"] = {
            name: [value.get_secret_value() for value in values]
            for name, values in endpoint.headers.items()
        }
    return json.dumps(data)


def _object_prefix(root: str) -> str:
    """An object store's key prefix: ``"/a/b/"`` and ``"a/b"`` both give ``"a/b"``."""
    parts = root.strip("/").split("/") if root.strip("/") else []
    if any(part in ("", ".", "..") for part in parts):
        raise ValueError("must be a path like a/b, without empty, . or .. parts")
    return "/".join(parts)


def _absolute(path: str | os.PathLike[str]) -> str:
    """Relative paths are taken from the working directory at load time, once for all workers."""
    return os.path.abspath(os.path.expanduser(path))


def _split_addr(addr: str) -> tuple[str, int]:
    host, colon, port = addr.rpartition(":")
    if not colon or not (port.isascii() and port.isdigit()) or not 1 <= int(port) <= 65535:
        raise ValueError("must be HOST:PORT with a port from 1 to 65535")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError("an IPv6 address needs brackets, e.g. [::1]:5000")
    return host or "0.0.0.0", int(port)


def _hide_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{netloc}"))


def _available_cpus() -> int:
    """CPUs this process may run on (affinity and cpusets count), at least one."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)
