"""The cluster ``Config`` (``configs.imageregistry.operator.openshift.io/cluster``): its spec as
OpenShift's operator reads it, defaults, and the checks that refuse what cannot work.

Field names and enumerations are openshift/api's (``imageregistry/v1/types.go``) so manifests
written for OpenShift apply unchanged; fields that only mean something on Kubernetes (pod
placement, resources) are accepted and kept, and do nothing here. Models are strict: a typo is a
422 naming the field, never a silently ignored knob.
"""

from __future__ import annotations

import re
import secrets
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

from dockyard.config.model import MIN_SECRET_LENGTH, Settings
from dockyard.metadata.resources import ResourceType

GROUP = "imageregistry.operator.openshift.io"
CONFIG = ResourceType(GROUP, "Config", "configs", namespaced=False)
NAME = "cluster"
SYSTEM_NAMESPACE = "openshift-image-registry"
CONFIG_NAMESPACE = "openshift-config"
CREDENTIALS_SECRET = "image-registry-private-configuration-user"
DEFAULT_CLAIM = "image-registry-storage"

PROXY_SCHEMES = ("http", "https")

Cause = tuple[str, str, str]
"""``(field, reason, message)`` of a refused spec, as Kubernetes' ``Status`` causes."""


class Spec(BaseModel):
    """Strict and camelCase, like every body of the resource API."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)


class Proxy(Spec):
    http: str = ""
    https: str = ""
    no_proxy: str = Field("", alias="noProxy")


class Limits(Spec):
    """At most ``maxRunning`` requests at once (0: no limit), ``maxInQueue`` more waiting for
    at most ``maxWaitInQueue`` (a Go duration; 0: as long as it takes)."""

    max_running: int = Field(0, alias="maxRunning", ge=0)
    max_in_queue: int = Field(0, alias="maxInQueue", ge=0)
    max_wait_in_queue: str = Field("0s", alias="maxWaitInQueue")


class Requests(Spec):
    read: Limits = Limits()
    write: Limits = Limits()


class Route(Spec):
    name: str
    hostname: str = ""
    secret_name: str = Field("", alias="secretName")


class EmptyDir(Spec):
    pass


class PVC(Spec):
    claim: str = ""


class S3(Spec):
    bucket: str = ""
    region: str = ""
    region_endpoint: str = Field("", alias="regionEndpoint")
    chunk_size_mib: int | None = Field(None, alias="chunkSizeMiB", ge=5, le=5120)
    encrypt: bool = False
    key_id: str = Field("", alias="keyID")
    virtual_hosted_style: bool = Field(False, alias="virtualHostedStyle")
    cloud_front: dict[str, Any] | None = Field(None, alias="cloudFront")
    trusted_ca: dict[str, str] | None = Field(None, alias="trustedCA")


class GCS(Spec):
    bucket: str = ""
    region: str = ""
    project_id: str = Field("", alias="projectID")
    key_id: str = Field("", alias="keyID")


class Azure(Spec):
    account_name: str = Field("", alias="accountName")
    container: str = ""
    cloud_name: str = Field("", alias="cloudName")
    network_access: dict[str, Any] | None = Field(None, alias="networkAccess")


class Swift(Spec):
    auth_url: str = Field("", alias="authURL")
    auth_version: str = Field("", alias="authVersion")
    container: str = ""
    domain: str = ""
    domain_id: str = Field("", alias="domainID")
    tenant: str = ""
    tenant_id: str = Field("", alias="tenantID")
    region_name: str = Field("", alias="regionName")


class Storage(Spec):
    """One kind of storage; ``managementState`` says whether the operator owns the bucket."""

    empty_dir: EmptyDir | None = Field(None, alias="emptyDir")
    pvc: PVC | None = None
    s3: S3 | None = None
    gcs: GCS | None = None
    azure: Azure | None = None
    swift: Swift | None = None
    ibmcos: dict[str, Any] | None = None
    oss: dict[str, Any] | None = None
    management_state: Literal["Managed", "Unmanaged", ""] = Field("", alias="managementState")

    @property
    def kinds(self) -> list[str]:
        """The storage kinds set, by their names in the spec."""
        dumped = self.model_dump(by_alias=True, exclude_none=True)
        return [key for key in dumped if key != "managementState"]


LOG_LEVELS = ("Normal", "Debug", "Trace", "TraceAll")
LogLevel = Literal["Normal", "Debug", "Trace", "TraceAll"]


class ConfigSpec(Spec):
    management_state: Literal["Managed", "Unmanaged", "Removed", "Force"] = Field(
        "Managed", alias="managementState"
    )
    log_level: LogLevel = Field("Normal", alias="logLevel")
    operator_log_level: LogLevel = Field("Normal", alias="operatorLogLevel")
    unsupported_config_overrides: dict[str, Any] | None = Field(
        None, alias="unsupportedConfigOverrides"
    )
    observed_config: dict[str, Any] | None = Field(None, alias="observedConfig")
    http_secret: str = Field("", alias="httpSecret", repr=False)
    proxy: Proxy = Proxy()
    read_only: bool = Field(False, alias="readOnly")
    disable_redirect: bool = Field(False, alias="disableRedirect")
    requests: Requests = Requests()
    default_route: bool = Field(False, alias="defaultRoute")
    routes: list[Route] = []
    replicas: int = Field(1, ge=1, le=64)
    rollout_strategy: Literal["RollingUpdate", "Recreate"] = Field(
        "RollingUpdate", alias="rolloutStrategy"
    )
    storage: Storage = Storage()
    logging: int | None = None
    resources: dict[str, Any] | None = None
    node_selector: dict[str, str] | None = Field(None, alias="nodeSelector")
    tolerations: list[dict[str, Any]] | None = None
    affinity: dict[str, Any] | None = None
    topology_spread_constraints: list[dict[str, Any]] | None = Field(
        None, alias="topologySpreadConstraints"
    )


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def seconds(duration: str) -> float | None:
    """A Go duration (``1m30s``, ``500ms``, ``0``) in seconds; None when it is none."""
    if duration in ("0", ""):
        return 0.0
    parts = _DURATION.findall(duration)
    if not parts or "".join(number + unit for number, unit in parts) != duration:
        return None
    return sum(float(number) * _UNITS[unit] for number, unit in parts)


def problems(spec: ConfigSpec) -> list[Cause]:
    """What the models can't say alone: one storage kind, durations, proxy URLs, unique
    routes."""
    causes: list[Cause] = []
    kinds = spec.storage.kinds
    if len(kinds) > 1:
        causes.append(
            (
                "spec.storage",
                "FieldValueInvalid",
                f"Invalid value: only one storage kind may be set, not {', '.join(kinds)}",
            )
        )
    if "emptyDir" in kinds and spec.replicas > 1:
        causes.append(
            (
                "spec.replicas",
                "FieldValueInvalid",
                f"Invalid value: {spec.replicas}: emptyDir storage is private to one process;"
                " use 1 replica or shared storage (pvc, s3, ...)",
            )
        )
    for kind, limits in (("read", spec.requests.read), ("write", spec.requests.write)):
        wait = seconds(limits.max_wait_in_queue)
        if wait is None:
            causes.append(
                (
                    f"spec.requests.{kind}.maxWaitInQueue",
                    "FieldValueInvalid",
                    f'Invalid value: "{limits.max_wait_in_queue[:40]}": a duration such as'
                    ' "30s", "1m30s" or "500ms"',
                )
            )
    if spec.http_secret and len(spec.http_secret) < MIN_SECRET_LENGTH:
        causes.append(
            (
                "spec.httpSecret",
                "FieldValueInvalid",
                f"Invalid value: must be at least {MIN_SECRET_LENGTH} characters (it signs"
                " upload URLs); leave it empty to have one generated",
            )
        )
    for field, url in (("http", spec.proxy.http), ("https", spec.proxy.https)):
        parts = urlsplit(url)
        if url and (parts.scheme not in PROXY_SCHEMES or not parts.hostname):
            causes.append(
                (
                    f"spec.proxy.{field}",
                    "FieldValueInvalid",
                    f'Invalid value: "{url[:80]}": a proxy URL such as "http://proxy:3128"',
                )
            )
    names: set[str] = set()
    for index, route in enumerate(spec.routes):
        if not route.name:
            causes.append((f"spec.routes[{index}].name", "FieldValueRequired", "Required value"))
        elif route.name in names:
            causes.append((f"spec.routes[{index}].name", "FieldValueDuplicate", "Duplicate value"))
        names.add(route.name)
    return causes


def with_defaults(spec: ConfigSpec, current: ConfigSpec | None) -> ConfigSpec:
    """What the operator fills in: a generated ``httpSecret`` (kept once made) and storage."""
    update: dict[str, Any] = {}
    if not spec.http_secret:
        update["http_secret"] = (
            current.http_secret if current is not None and current.http_secret else None
        ) or secrets.token_urlsafe(48)
    if not spec.storage.kinds:
        kept = current.storage if current is not None and current.storage.kinds else None
        update["storage"] = kept or Storage(pvc=PVC(claim=DEFAULT_CLAIM))
    return spec.model_copy(update=update) if update else spec


def seed(settings: Settings) -> ConfigSpec:
    """The Config made on first start from the process settings: their storage, workers and
    ``http.secret``, so the registry keeps serving exactly as it was configured."""
    driver, params = settings.storage_driver()
    storage = _seed_storage(driver, params)
    replicas = 1 if driver == "inmemory" else settings.workers
    return ConfigSpec(
        http_secret=settings.http.secret.get_secret_value(),
        storage=storage,
        replicas=min(replicas, 64),
    )


def _seed_storage(driver: str, params: dict[str, Any]) -> Storage:
    """The Config's storage kind for the settings' driver, its bucket or container named."""
    text = {key: str(value) for key, value in params.items() if value is not None}
    if driver == "inmemory":
        return Storage(empty_dir=EmptyDir())
    if driver == "s3":
        return Storage(
            s3=S3(
                bucket=text.get("bucket", ""),
                region=text.get("region", ""),
                region_endpoint=text.get("regionendpoint", ""),
            )
        )
    if driver == "gcs":
        return Storage(gcs=GCS(bucket=text.get("bucket", "")))
    if driver == "azure":
        return Storage(
            azure=Azure(
                account_name=text.get("accountname", ""), container=text.get("container", "")
            )
        )
    if driver == "swift":
        return Storage(
            swift=Swift(auth_url=text.get("authurl", ""), container=text.get("container", ""))
        )
    return Storage(pvc=PVC(claim=DEFAULT_CLAIM))


def dump(spec: ConfigSpec) -> dict[str, Any]:
    return spec.model_dump(mode="json", by_alias=True, exclude_none=True)


def parse(obj: dict[str, Any]) -> ConfigSpec:
    """The spec of a stored Config (validated when it was written)."""
    return ConfigSpec.model_validate(obj.get("spec") or {})
