"""Storage checks and status conditions: what they say, and that they say it once."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from dockyard.config.model import Settings
from dockyard.operator import storage
from dockyard.operator.config import GCS, PVC, S3, Azure, ConfigSpec, EmptyDir, Storage, Swift
from dockyard.operator.status import conditions_of, status_of


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.model_validate({"data_dir": str(tmp_path), "workers": 2})


def by_type(spec: ConfigSpec, report: storage.StorageReport) -> dict[str, tuple[bool, str]]:
    return {c.type: (c.status, c.reason) for c in conditions_of(spec, report)}


def test_filesystem_storage_is_ready(settings: Settings) -> None:
    spec = ConfigSpec(storage=Storage(pvc=PVC(claim="c")))
    report = storage.check(spec, None, settings)
    assert report.exists and not report.degraded and "claim c" in report.message
    assert by_type(spec, report) == {
        "Available": (True, "Ready"),
        "Progressing": (False, "Ready"),
        "Degraded": (False, "AsExpected"),
        "Removed": (False, "AsExpected"),
        "StorageExists": (True, "Filesystem"),
    }


def test_local_storage_the_workers_run(settings: Settings) -> None:
    default = ConfigSpec(storage=Storage(pvc=PVC(claim="image-registry-storage")))
    assert storage.driver_of(default, None, settings) == (
        "filesystem",
        {"rootdirectory": str(settings.data_dir / "storage")},
    )
    other = ConfigSpec(storage=Storage(pvc=PVC(claim="big")))
    assert storage.driver_of(other, None, settings) == (
        "filesystem",
        {"rootdirectory": str(settings.data_dir / "claims" / "big")},
    )
    memory = ConfigSpec(storage=Storage(empty_dir=EmptyDir()), replicas=1)
    assert storage.driver_of(memory, None, settings) == ("inmemory", {})


def test_cloud_storage_names_what_is_missing(settings: Settings) -> None:
    no_bucket = storage.check(ConfigSpec(storage=Storage(s3=S3())), None, settings)
    assert no_bucket.reason == "StorageNotConfigured"
    assert "spec.storage.s3.bucket" in no_bucket.message
    s3 = ConfigSpec(storage=Storage(s3=S3(bucket="images")))
    no_secret = storage.check(s3, None, settings)
    assert no_secret.reason == "MissingCredentials"
    assert "image-registry-private-configuration-user" in no_secret.message
    assert "openshift-image-registry" in no_secret.message
    half = storage.check(s3, {"REGISTRY_STORAGE_S3_ACCESSKEY": "QQ=="}, settings)
    assert half.message.endswith("lacks the keys REGISTRY_STORAGE_S3_SECRETKEY")
    full = {"REGISTRY_STORAGE_S3_ACCESSKEY": "QQ==", "REGISTRY_STORAGE_S3_SECRETKEY": "Qg=="}
    assert storage.check(s3, full, settings).reason == "Configured"
    assert storage.driver_of(s3, {"REGISTRY_STORAGE_S3_ACCESSKEY": "QQ=="}, settings) is None
    driver, params = storage.driver_of(s3, full, settings) or ("", {})
    assert driver == "s3" and (params["accesskey"], params["secretkey"]) == ("A", "B")
    assert params["bucket"] == "images" and params["region"] == "us-east-1"
    tiny = storage.check(ConfigSpec(storage=Storage(s3=S3(bucket="b"))), full, settings)
    assert tiny.reason == "InvalidConfiguration"
    assert tiny.message.startswith("the s3 driver refuses bucket:")


def test_s3_trusted_ca_needs_its_config_map_and_becomes_the_drivers_file(
    settings: Settings, tmp_path: Path
) -> None:
    full = {"REGISTRY_STORAGE_S3_ACCESSKEY": "QQ==", "REGISTRY_STORAGE_S3_SECRETKEY": "Qg=="}
    spec = ConfigSpec(storage=Storage(s3=S3(bucket="images", trusted_ca={"name": "s3-ca"})))
    missing = storage.check(spec, full, settings)
    assert (missing.reason, missing.degraded) == ("MissingTrustedCA", True)
    assert missing.message == (
        'spec.storage.s3.trustedCA: config map "s3-ca" in namespace "openshift-config"'
        " has no key ca-bundle.crt"
    )
    assert storage.driver_of(spec, full, settings) is None
    bundle = tmp_path / "bundle.crt"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    assert storage.check(spec, full, settings, str(bundle)).reason == "Configured"
    _, params = storage.driver_of(spec, full, settings, str(bundle)) or ("", {})
    assert params["trustedca"] == str(bundle)
    plain = ConfigSpec(storage=Storage(s3=S3(bucket="images")))
    assert "trustedca" not in (storage.driver_of(plain, full, settings) or ("", {}))[1]
    gcs = ConfigSpec(storage=Storage(gcs=GCS(bucket="bucket")))
    report = storage.check(gcs, {"REGISTRY_STORAGE_GCS_KEYFILE": "e30="}, settings)
    expected = "InvalidConfiguration" if storage.driver_available("gcs") else "DriverNotAvailable"
    assert report.reason == expected
    assert storage.driver_of(gcs, {"REGISTRY_STORAGE_GCS_KEYFILE": "e30="}, settings) is None


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_cloud_kinds_take_the_config_fields_and_the_secret(settings: Settings) -> None:
    key = '{"type": "service_account", "client_email": "r@p.iam", "private_key": "K"}'
    gcs = ConfigSpec(storage=Storage(gcs=GCS(bucket="images", project_id="p")))
    assert storage.driver_of(gcs, {"REGISTRY_STORAGE_GCS_KEYFILE": b64(key)}, settings) == (
        "gcs",
        {"bucket": "images", "projectid": "p", "credentials": key},
    )
    azure = ConfigSpec(
        storage=Storage(
            azure=Azure(account_name="acct", container="images", cloud_name="AzureChinaCloud")
        )
    )
    secret = {"REGISTRY_STORAGE_AZURE_ACCOUNTKEY": b64("account-key")}
    assert storage.driver_of(azure, secret, settings) == (
        "azure",
        {
            "accountname": "acct",
            "container": "images",
            "realm": "core.chinacloudapi.cn",
            "accountkey": "account-key",
        },
    )
    unknown = ConfigSpec(
        storage=Storage(azure=Azure(account_name="acct", container="images", cloud_name="Mars"))
    )
    report = storage.check(unknown, secret, settings)
    assert report.reason == "InvalidConfiguration" and "cloudName" in report.message
    swift = ConfigSpec(
        storage=Storage(
            swift=Swift(auth_url="https://keystone/v3", container="images", auth_version="3")
        )
    )
    users = {
        "REGISTRY_STORAGE_SWIFT_USERNAME": b64("registry"),
        "REGISTRY_STORAGE_SWIFT_PASSWORD": b64("password"),
    }
    driver, params = storage.driver_of(swift, users, settings) or ("", {})
    assert driver == "swift" and params["authversion"] == 3
    assert (params["authurl"], params["username"], params["password"]) == (
        "https://keystone/v3",
        "registry",
        "password",
    )
    short = ConfigSpec(storage=Storage(azure=Azure(account_name="acct", container="ab")))
    refused = storage.check(short, secret, settings)
    assert refused.reason == "InvalidConfiguration" and "refuses container" in refused.message
    assert "account-key" not in refused.message


def test_removed_and_unmanaged(settings: Settings) -> None:
    report = storage.check(ConfigSpec(), None, settings)
    removed = by_type(ConfigSpec(management_state="Removed"), report)
    assert removed["Available"] == (False, "Removed") and removed["Removed"] == (True, "Removed")
    unmanaged = by_type(ConfigSpec(management_state="Unmanaged"), report)
    assert unmanaged["Available"] == (True, "Unmanaged")
    assert unmanaged["Progressing"] == (False, "Unmanaged")


def test_status_is_rewritten_only_when_it_changes(settings: Settings) -> None:
    spec = ConfigSpec(storage=Storage(pvc=PVC(claim="c")))
    report = storage.check(spec, None, settings)
    first = status_of(spec, 1, report, 2, {})
    assert first["observedGeneration"] == 1 and first["readyReplicas"] == 2
    assert first["storage"] == {"pvc": {"claim": "c"}, "managementState": ""}
    assert status_of(spec, 1, report, 2, first) is first
    removed = status_of(ConfigSpec(management_state="Removed"), 2, report, 2, first)
    times = {c["type"]: c["lastTransitionTime"] for c in removed["conditions"]}
    before = {c["type"]: c["lastTransitionTime"] for c in first["conditions"]}
    assert times["StorageExists"] == before["StorageExists"]  # unchanged status keeps its time
    assert removed["readyReplicas"] == 0
