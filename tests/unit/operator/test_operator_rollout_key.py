"""What workers start with, as the supervisor compares it to decide on a roll."""

from __future__ import annotations

from pathlib import Path

from dockyard.config.model import Settings
from dockyard.operator import config
from dockyard.operator.supervision import rollout_key


def azure_settings(tmp_path: Path, key: str) -> Settings:
    storage = {"azure": {"accountname": "account", "accountkey": key, "container": "images"}}
    return Settings.model_validate({"data_dir": str(tmp_path), "storage": storage})


def test_settings_with_secrets_give_a_key_that_follows_them(tmp_path: Path) -> None:
    """Cloud storage of the settings holds secrets: they count, by digest, never in clear."""
    settings = azure_settings(tmp_path, "first-account-key")
    spec = config.with_defaults(config.seed(settings), None)
    key = rollout_key(spec, None, settings)
    assert "first-account-key" not in key
    assert key == rollout_key(spec, None, settings)
    assert key != rollout_key(spec, None, azure_settings(tmp_path, "second-account-key"))
    proxied = spec.model_copy(update={"proxy": config.Proxy(http="http://proxy:3128")})
    assert key != rollout_key(proxied, None, settings)


def test_a_changed_s3_trusted_ca_bundle_rolls_the_workers(tmp_path: Path) -> None:
    """The bundle's file is named by its digest: another bundle is another key."""
    settings = Settings.model_validate({"data_dir": str(tmp_path)})
    s3 = config.S3(bucket="images", trusted_ca={"name": "s3-ca"})
    spec = config.with_defaults(config.seed(settings), None).model_copy(
        update={"storage": config.Storage(s3=s3)}
    )
    secret = {"REGISTRY_STORAGE_S3_ACCESSKEY": "QQ==", "REGISTRY_STORAGE_S3_SECRETKEY": "Qg=="}
    first, second = tmp_path / "first.crt", tmp_path / "second.crt"
    for path in (first, second):
        path.write_text("-----BEGIN CERTIFICATE-----\n")
    key = rollout_key(spec, secret, settings, str(first))
    assert str(first) in key
    assert key == rollout_key(spec, secret, settings, str(first))
    assert key != rollout_key(spec, secret, settings, str(second))
