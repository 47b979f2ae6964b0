"""What the Config's ``storage`` needs, and whether this registry has it.

A cloud kind needs its bucket (or container) in the spec, credentials in the secret
``image-registry-private-configuration-user`` of ``openshift-image-registry`` (the keys the
OpenShift operator reads), and a driver in this installation. Each check that fails is reported
by name, so the status says exactly what to add; nothing here raises.

``spec.storage.s3.trustedCA`` names a config map in ``openshift-config`` whose ``ca-bundle.crt``
holds the CAs of the S3 endpoint, as OpenShift's Config has it. The driver reads CAs from a
file, so the bundle is written under the data directory, named by its digest: a changed bundle
is a new path, which replaces the workers like any other storage change.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr, ValidationError

from dockyard.config.model import AzureParams, GCSParams, S3Params, Settings, SwiftParams
from dockyard.metadata.resources import CONFIG_MAP, ResourceStore
from dockyard.operator.config import (
    CREDENTIALS_SECRET,
    DEFAULT_CLAIM,
    GCS,
    S3,
    SYSTEM_NAMESPACE,
    Azure,
    ConfigSpec,
    Storage,
    Swift,
)

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
PARAMS: dict[str, type[BaseModel]] = {
    "s3": S3Params,
    "gcs": GCSParams,
    "azure": AzureParams,
    "swift": SwiftParams,
}
GCS_KEY_FIELDS = ("type", "client_email", "private_key")
CONFIG_NAMESPACE = "openshift-config"
TRUSTED_CA_KEY = "ca-bundle.crt"
TRUSTED_CA_DIR = "trusted-ca"
AZURE_REALMS = {
    "AzurePublicCloud": "core.windows.net",
    "AzureUSGovernmentCloud": "core.usgovcloudapi.net",
    "AzureChinaCloud": "core.chinacloudapi.cn",
    "AzureGermanCloud": "core.cloudapi.de",
}


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


def trusted_ca_name(spec: ConfigSpec) -> str:
    """The config map ``spec.storage.s3.trustedCA`` names ("" when none)."""
    reference = spec.storage.s3.trusted_ca if spec.storage.s3 is not None else None
    return (reference or {}).get("name") or ""


async def trusted_ca_of(store: ResourceStore, spec: ConfigSpec, settings: Settings) -> str | None:
    """The file holding the ``ca-bundle.crt`` of the config map the spec's S3 ``trustedCA``
    names, written if new; None when it names none, or the config map or its key is missing."""
    name = trusted_ca_name(spec)
    if not name:
        return None
    found = await store.find(CONFIG_MAP, CONFIG_NAMESPACE, name)
    bundle = ((found or {}).get("data") or {}).get(TRUSTED_CA_KEY)
    if not isinstance(bundle, str) or not bundle.strip():
        return None
    digest = hashlib.sha256(bundle.encode()).hexdigest()[:32]
    path = Path(settings.data_dir) / TRUSTED_CA_DIR / f"{digest}.crt"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}")
        partial.write_text(bundle)
        partial.replace(path)  # whole or absent for a worker reading it at once
    return str(path)


def driver_of(
    spec: ConfigSpec,
    credentials: dict[str, str] | None,
    settings: Settings,
    trusted_ca: str | None = None,
) -> tuple[str, dict[str, Any]] | None:
    """The driver and parameters workers run for the spec's storage; None when the spec can't
    be served (the report says why) and the process settings' storage stays in use.

    ``pvc``'s default claim is the settings' filesystem root (or ``<data_dir>/storage``);
    another claim is a directory of its own under ``<data_dir>/claims``. A cloud kind the
    settings already configure keeps their parameters, with the Config's fields over them;
    ``trusted_ca`` is the file ``trusted_ca_of`` wrote."""
    kinds = spec.storage.kinds
    if len(kinds) != 1 or check(spec, credentials, settings, trusted_ca).degraded:
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
    return kind, cloud_params(spec.storage, credentials, settings, trusted_ca)


def cloud_params(
    storage: Storage,
    credentials: dict[str, str] | None,
    settings: Settings,
    trusted_ca: str | None = None,
) -> dict[str, Any]:
    """A cloud kind's driver parameters: the settings' own when they configure the same driver
    (endpoints, chunk sizes), the Config's fields over them, then the secret's credentials."""
    kind = storage.kinds[0]
    running, params = settings.storage_driver()
    merged: dict[str, Any] = dict(params) if running == kind else {}
    found = {
        key: _decoded(credentials, key)
        for key in CREDENTIAL_KEYS[kind]
        if credentials is not None and credentials.get(key)
    }
    if storage.s3 is not None:
        _s3(storage.s3, merged, found)
        if trusted_ca is not None:
            merged["trustedca"] = trusted_ca
    elif storage.gcs is not None:
        _gcs(storage.gcs, merged, found)
    elif storage.azure is not None:
        _azure(storage.azure, merged, found)
    elif storage.swift is not None:
        _swift(storage.swift, merged, found)
    return merged


def _s3(s3: S3, merged: dict[str, Any], found: dict[str, str]) -> None:
    merged.update(bucket=s3.bucket, encrypt=s3.encrypt, virtualhostedstyle=s3.virtual_hosted_style)
    merged["region"] = s3.region or merged.get("region") or "us-east-1"
    if s3.region_endpoint:
        merged["regionendpoint"] = s3.region_endpoint
    if s3.key_id:
        merged["keyid"] = s3.key_id
    if s3.chunk_size_mib:
        merged["chunksize"] = s3.chunk_size_mib << 20
    if len(found) == len(CREDENTIAL_KEYS["s3"]):
        merged["accesskey"] = found["REGISTRY_STORAGE_S3_ACCESSKEY"]
        merged["secretkey"] = found["REGISTRY_STORAGE_S3_SECRETKEY"]


def _gcs(gcs: GCS, merged: dict[str, Any], found: dict[str, str]) -> None:
    merged["bucket"] = gcs.bucket
    if gcs.project_id:
        merged["projectid"] = gcs.project_id
    if "REGISTRY_STORAGE_GCS_KEYFILE" in found:  # the key's JSON, as OpenShift's secret has it
        merged.pop("keyfile", None)
        merged["credentials"] = found["REGISTRY_STORAGE_GCS_KEYFILE"]


def _azure(azure: Azure, merged: dict[str, Any], found: dict[str, str]) -> None:
    merged.update(accountname=azure.account_name, container=azure.container)
    if azure.cloud_name:
        merged["realm"] = AZURE_REALMS.get(azure.cloud_name, "")
    if "REGISTRY_STORAGE_AZURE_ACCOUNTKEY" in found:
        merged["accountkey"] = found["REGISTRY_STORAGE_AZURE_ACCOUNTKEY"]


def _swift(swift: Swift, merged: dict[str, Any], found: dict[str, str]) -> None:
    merged["container"] = swift.container
    fields = {
        "authurl": swift.auth_url,
        "domain": swift.domain,
        "domainid": swift.domain_id,
        "tenant": swift.tenant,
        "tenantid": swift.tenant_id,
        "region": swift.region_name,
    }
    merged.update({key: value for key, value in fields.items() if value})
    if swift.auth_version:
        merged["authversion"] = int(swift.auth_version) if swift.auth_version.isdigit() else -1
    if len(found) == len(CREDENTIAL_KEYS["swift"]):
        merged["username"] = found["REGISTRY_STORAGE_SWIFT_USERNAME"]
        merged["password"] = found["REGISTRY_STORAGE_SWIFT_PASSWORD"]


def check(
    spec: ConfigSpec,
    credentials: dict[str, str] | None,
    settings: Settings,
    trusted_ca: str | None = None,
) -> StorageReport:
    """The storage the spec asks for, given the credentials secret's data (None: no secret)
    and the trusted CA file (``trusted_ca_of``); credentials the process settings hold for the
    same kind count too."""
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
    if trusted_ca_name(spec) and trusted_ca is None:
        return StorageReport(
            False,
            "MissingTrustedCA",
            f'spec.storage.s3.trustedCA: config map "{trusted_ca_name(spec)}" in namespace'
            f' "{CONFIG_NAMESPACE}" has no key {TRUSTED_CA_KEY}',
            True,
        )
    if not driver_available(kind):
        return StorageReport(
            False,
            "DriverNotAvailable",
            f"the {kind} storage driver is not available in this installation",
            True,
        )
    invalid = _invalid(kind, cloud_params(spec.storage, credentials, settings, trusted_ca))
    if invalid:
        return StorageReport(False, "InvalidConfiguration", invalid, True)
    return StorageReport(
        True, "Configured", f"{kind} storage, bucket or container {_bucket(config)}"
    )


def _invalid(kind: str, params: dict[str, Any]) -> str:
    """What the driver would refuse in the parameters (field names, never their values)."""
    model = PARAMS.get(kind)
    if model is None:
        return ""
    try:
        model.model_validate(params)
    except ValidationError as exc:
        return "; ".join(
            f"the {kind} driver refuses {'.'.join(str(part) for part in error['loc']) or kind}:"
            f" {error['msg']}"
            for error in exc.errors(include_input=False, include_url=False)
        )
    if kind == "azure" and not params.get("realm", "core.windows.net"):
        return f"spec.storage.azure.cloudName: one of {', '.join(AZURE_REALMS)}"
    key = params.get("credentials")
    text = key.get_secret_value() if isinstance(key, SecretStr) else key
    if kind == "gcs" and text is not None and not _service_account_key(str(text)):
        return (
            f'the key REGISTRY_STORAGE_GCS_KEYFILE of secret "{CREDENTIALS_SECRET}" must be a'
            " service account key's JSON (type, client_email, private_key)"
        )
    return ""


def _service_account_key(text: str) -> bool:
    try:
        key = json.loads(text)
    except ValueError:
        return False
    return isinstance(key, dict) and all(key.get(field) for field in GCS_KEY_FIELDS)


def _claim(spec: ConfigSpec) -> str:
    claim = spec.storage.pvc.claim if spec.storage.pvc is not None else ""
    return claim or DEFAULT_CLAIM


def _bucket(config: dict[str, Any]) -> str:
    return str(config.get("bucket") or config.get("container") or "")
