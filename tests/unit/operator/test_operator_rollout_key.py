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
