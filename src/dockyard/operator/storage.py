"""What the Config's ``storage`` needs, and whether this registry has it.

A cloud kind needs its bucket (or container) in the spec, credentials in the secret
``image-registry-private-configuration-user`` of ``openshift-image-registry`` (the keys the
OpenShift operator reads), and a driver in this installation. Each check that fails is reported
by name, so the status says exactly what to add; nothing here raises.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any

from dockyard.config.model import Settings
from dockyard.operator.config import CREDENTIALS_SECRET, SYSTEM_NAMESPACE, ConfigSpec

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
LOCAL_DRIVERS = {"emptyDir": "inmemory", "pvc": "filesystem"}


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


def check(
    spec: ConfigSpec, credentials: dict[str, str] | None, settings: Settings
) -> StorageReport:
    """The storage the spec asks for, given the credentials secret's data (None: no secret)
    and the driver the process runs."""
    kinds = spec.storage.kinds
    if not kinds:
        return StorageReport(False, "StorageNotConfigured", "spec.storage selects no storage", True)
    kind = kinds[0]
    running, params = settings.storage_driver()
    if kind in LOCAL_DRIVERS:
        return _local(kind, running, params)
    config: dict[str, Any] = spec.storage.model_dump(by_alias=True)[kind] or {}
    missing = [
        f"spec.storage.{kind}.{field}" for field in REQUIRED_FIELDS[kind] if not config.get(field)
    ]
    if missing:
        return StorageReport(
            False, "StorageNotConfigured", f"{', '.join(missing)} must be set", True
        )
    where = f'secret "{CREDENTIALS_SECRET}" in namespace "{SYSTEM_NAMESPACE}"'
    if credentials is None:
        keys = " and ".join(CREDENTIAL_KEYS[kind])
        return StorageReport(
            False, "MissingCredentials", f"no {where}: create it with the keys {keys}", True
        )
    absent = [key for key in CREDENTIAL_KEYS[kind] if not credentials.get(key)]
    if absent:
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
    if running != kind:
        return StorageReport(
            False,
            "StorageNotApplied",
            f"spec.storage selects {kind}; the workers still run {running} storage from the"
            " process settings",
            True,
        )
    return StorageReport(True, "Configured", f"{kind} storage is configured")


def _local(kind: str, running: str, params: dict[str, Any]) -> StorageReport:
    driver = LOCAL_DRIVERS[kind]
    if running != driver:
        return StorageReport(
            False,
            "StorageNotApplied",
            f"spec.storage selects {kind} ({driver}); the workers run {running} storage from"
            " the process settings",
            True,
        )
    if driver == "inmemory":
        return StorageReport(
            True, "EmptyDir", "images are kept in memory and are lost when the registry stops"
        )
    return StorageReport(True, "Filesystem", f"images are stored in {params['rootdirectory']}")
