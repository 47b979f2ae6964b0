"""What the Config's ``storage`` needs, and whether this registry has it.

A cloud kind needs its bucket (or container) in the spec, credentials in the secret
``image-registry-private-configuration-user`` of ``openshift-image-registry`` (the keys the
OpenShift operator reads), and a driver in this installation. Each check that fails is reported
by name, so the status says exactly what to add; nothing here raises.
"""

from __future__ import annotations

import base64
import importlib.util
from dataclasses import dataclass
from typing import Any

from dockyard.config.model import Settings
from dockyard.operator.config import CREDENTIALS_SECRET, DEFAULT_CLAIM, SYSTEM_NAMESPACE, ConfigSpec

REQUIRED_FIELDS = {
    "s3": ("bucket",),
    "gcs": ("bucket",),
    "azure": ("accountName", "container"),
    "swift": ("authURL", "container"),
    "ibmcos": ("bucket",),
    "oss": ("bucket",),
}
CREDENTIAL_KEYS = {
    "s3": ("REGISTRY_STORAGE_S3_ACCESSKEY", "REGISTRY_STORAGE_S3_SECRETKEY"),
    "gcs": ("REGISTRY_STORAGE_GCS_KEYFILE",),
    "azure": ("REGISTRY_STORAGE_AZURE_ACCOUNTKEY",),
    "swift": ("REGISTRY_STORAGE_SWIFT_USERNAME", "REGISTRY_STORAGE_SWIFT_PASSWORD"),
    "ibmcos": ("REGISTRY_STORAGE_IBMCOS_ACCESSKEY", "REGISTRY_STORAGE_IBMCOS_SECRETKEY"),
    "oss": ("REGISTRY_STORAGE_OSS_ACCESSKEYID", "REGISTRY_STORAGE_OSS_ACCESSKEYSECRET"),
}
LOCAL_DRIVERS = ("emptyDir", "pvc")


@dataclass(frozen=True)
class StorageReport:
    """The ``StorageExists`` condition, and whether the registry is degraded by its storage."""

    exists: bool
    reason: str
    message: str
    degraded: bool = False


def driver_available(kind: str) -> bool:
    """Whether this installation has the driver of a storage kind (``dockyard.storage.<kind>``)."""
    return kind in LOCAL_DRIVERS or importlib.util.find_spec(f"dockyard.storage.{kind}") is not None


def _decoded(credentials: dict[str, str], key: str) -> str:
    return base64.b64decode(credentials[key]).decode("utf-8", "replace").strip()


def driver_of(
    spec: ConfigSpec, credentials: dict[str, str] | None, settings: Settings
) -> tuple[str, dict[str, Any]] | None:
    """The driver and parameters workers run for the spec's storage; None when the spec can't
    be served (the report says why) and the process settings' storage stays in use.

    ``pvc``'s default claim is the settings' filesystem root (or ``<data_dir>/storage``);
    another claim is a directory of its own under ``<data_dir>/claims``. A cloud kind the
    settings already configure keeps their parameters, with the Config's fields over them."""
    kinds = spec.storage.kinds
    if len(kinds) != 1 or check(spec, credentials, settings).degraded:
        return None
    kind = kinds[0]
    running, params = settings.storage_driver()
    if kind == "emptyDir":
        return "inmemory", {}
    if kind == "pvc":
        claim = spec.storage.pvc.claim if spec.storage.pvc is not None else DEFAULT_CLAIM
        if claim in ("", DEFAULT_CLAIM):
            root = params["rootdirectory"] if running == "filesystem" else None
            return "filesystem", {"rootdirectory": root or str(settings.data_dir / "storage")}
        return "filesystem", {"rootdirectory": str(settings.data_dir / "claims" / claim)}
    if kind != "s3" or spec.storage.s3 is None:
        return (running, params) if running == kind else None
    s3 = spec.storage.s3
    merged: dict[str, Any] = dict(params) if running == "s3" else {}
    merged.update(bucket=s3.bucket, encrypt=s3.encrypt, virtualhostedstyle=s3.virtual_hosted_style)
    merged["region"] = s3.region or merged.get("region") or "us-east-1"
    if s3.region_endpoint:
        merged["regionendpoint"] = s3.region_endpoint
    if s3.key_id:
        merged["keyid"] = s3.key_id
    if s3.chunk_size_mib:
        merged["chunksize"] = s3.chunk_size_mib << 20
    if credentials is not None and all(credentials.get(k) for k in CREDENTIAL_KEYS["s3"]):
        merged["accesskey"] = _decoded(credentials, "REGISTRY_STORAGE_S3_ACCESSKEY")
        merged["secretkey"] = _decoded(credentials, "REGISTRY_STORAGE_S3_SECRETKEY")
    return "s3", merged


def check(
    spec: ConfigSpec, credentials: dict[str, str] | None, settings: Settings
) -> StorageReport:
    """The storage the spec asks for, given the credentials secret's data (None: no secret);
    credentials the process settings hold for the same kind count too."""
    kinds = spec.storage.kinds
    if not kinds:
        return StorageReport(False, "StorageNotConfigured", "spec.storage selects no storage", True)
    kind = kinds[0]
    running = settings.storage_driver()[0]
    if kind == "emptyDir":
        return StorageReport(
            True, "EmptyDir", "images are kept in memory and are lost when the registry stops"
        )
    if kind == "pvc":
        return StorageReport(
            True, "Filesystem", f"images are stored on disk (claim {_claim(spec)})"
        )
    config: dict[str, Any] = spec.storage.model_dump(by_alias=True)[kind] or {}
    missing = [
        f"spec.storage.{kind}.{field}" for field in REQUIRED_FIELDS[kind] if not config.get(field)
    ]
    if missing:
        return StorageReport(
            False, "StorageNotConfigured", f"{', '.join(missing)} must be set", True
        )
    where = f'secret "{CREDENTIALS_SECRET}" in namespace "{SYSTEM_NAMESPACE}"'
    if running != kind and credentials is None:
        keys = " and ".join(CREDENTIAL_KEYS[kind])
        return StorageReport(
            False, "MissingCredentials", f"no {where}: create it with the keys {keys}", True
        )
    absent = [key for key in CREDENTIAL_KEYS[kind] if not (credentials or {}).get(key)]
    if running != kind and absent:
        return StorageReport(
            False, "MissingCredentials", f"{where} lacks the keys {', '.join(absent)}", True
        )
    if not driver_available(kind):
        return StorageReport(
            False,
            "DriverNotAvailable",
            f"the {kind} storage driver is not available in this installation",
            True,
        )
    if kind != "s3" and running != kind:
        return StorageReport(
            False,
            "NotSupported",
            f"spec.storage.{kind} applies only with the process settings' storage.{kind}",
            True,
        )
    return StorageReport(
        True, "Configured", f"{kind} storage, bucket or container {_bucket(config)}"
    )


def _claim(spec: ConfigSpec) -> str:
    claim = spec.storage.pvc.claim if spec.storage.pvc is not None else ""
    return claim or DEFAULT_CLAIM


def _bucket(config: dict[str, Any]) -> str:
    return str(config.get("bucket") or config.get("container") or "")
