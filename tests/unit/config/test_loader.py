from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from dockyard.config.loader import SECRET_FILE, load_config
from dockyard.config.model import Settings
from dockyard.errors import ConfigError

SECRET = "configured-secret-0123456789"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def load(
    home: Path,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    path: Path | None = None,
) -> Settings:
    return load_config(
        str(path) if path else None, {"HOME": str(home), **(env or {})}, overrides or {}
    )


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yml"
    path.write_text(text)
    return path


def test_defaults_without_file_or_environment(home: Path) -> None:
    result = load(home)
    assert result.data_dir == home / ".local" / "share" / "dockyard"
    assert result.storage_driver() == (
        "filesystem",
        {"rootdirectory": str(result.data_dir / "storage")},
    )


def test_data_dir_default_follows_xdg_data_home(home: Path, tmp_path: Path) -> None:
    result = load(home, {"XDG_DATA_HOME": str(tmp_path / "xdg")})
    assert result.data_dir == tmp_path / "xdg" / "dockyard"


def test_file_values(home: Path, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"""
version: 0.1
data_dir: {tmp_path / "data"}
log: {{level: debug, formatter: json, accesslog: {{disabled: true}}}}
storage:
  filesystem: {{rootdirectory: {tmp_path / "blobs"}}}
  delete: {{enabled: false}}
  redirect: {{disable: true}}
http: {{addr: "0.0.0.0:5001", secret: {SECRET}, host: "https://registry.example"}}
database: {{url: "postgresql+asyncpg://dockyard@db/dockyard"}}
workers: 3
""",
    )
    result = load(home, path=path)
    assert result.data_dir == tmp_path / "data"
    assert (result.log.level, result.log.formatter) == ("debug", "json")
    assert result.log.accesslog.disabled is True
    assert result.storage_driver() == ("filesystem", {"rootdirectory": str(tmp_path / "blobs")})
    assert result.storage.delete.enabled is False
    assert result.storage.redirect.disable is True
    assert result.http.addr == "0.0.0.0:5001"
    assert result.http.secret.get_secret_value() == SECRET
    assert result.http.host == "https://registry.example"
    assert result.database.url == "postgresql+asyncpg://dockyard@db/dockyard"
    assert result.workers == 3


def test_environment_overrides_file(home: Path, tmp_path: Path) -> None:
    path = write(tmp_path, "http: {addr: '127.0.0.1:5000'}\nworkers: 2\n")
    env = {
        "REGISTRY_HTTP_ADDR": "127.0.0.1:6000",
        "REGISTRY_WORKERS": "5",
        "REGISTRY_LOG_LEVEL": "warning",
        "REGISTRY_LOG_ACCESSLOG_DISABLED": "true",
        "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": str(tmp_path / "blobs"),
        "REGISTRY_DATABASE_URL": "postgresql+asyncpg://u@h/d",
    }
    result = load(home, env, path=path)
    assert result.http.addr == "127.0.0.1:6000"
    assert result.workers == 5
    assert result.log.level == "warning"
    assert result.log.accesslog.disabled is True
    assert result.storage_driver() == ("filesystem", {"rootdirectory": str(tmp_path / "blobs")})
    assert result.database.url == "postgresql+asyncpg://u@h/d"


def test_underscored_field_names_resolve_greedily(home: Path, tmp_path: Path) -> None:
    result = load(home, {"REGISTRY_DATA_DIR": str(tmp_path / "data")})
    assert result.data_dir == tmp_path / "data"
    assert result.database.url == f"sqlite+aiosqlite:///{tmp_path / 'data'}/dockyard.db"


def test_environment_applies_in_lexical_order(home: Path) -> None:
    # Given in the opposite order: REGISTRY_STORAGE must still come first, or it would replace
    # the whole section and lose the delete setting.
    env = {"REGISTRY_STORAGE_DELETE_ENABLED": "false", "REGISTRY_STORAGE": "inmemory"}
    result = load(home, env)
    assert result.storage_driver() == ("inmemory", {})
    assert result.storage.delete.enabled is False


def test_environment_extends_distributions_storage_shorthand(home: Path, tmp_path: Path) -> None:
    path = write(tmp_path, "storage: inmemory\n")
    result = load(home, {"REGISTRY_STORAGE_REDIRECT_DISABLE": "true"}, path=path)
    assert result.storage_driver() == ("inmemory", {})
    assert result.storage.redirect.disable is True


@pytest.mark.parametrize("secret", ["0x1f1f1f1f1f1f1f1f", "12345678901234567890", "yes-" * 5])
def test_text_settings_take_the_value_verbatim(home: Path, secret: str) -> None:
    result = load(home, {"REGISTRY_HTTP_SECRET": secret})
    assert result.http.secret.get_secret_value() == secret


def test_command_line_overrides_environment_and_file(home: Path, tmp_path: Path) -> None:
    path = write(tmp_path, "workers: 2\nhttp: {addr: '127.0.0.1:5000'}\n")
    env = {"REGISTRY_WORKERS": "3", "REGISTRY_DATA_DIR": str(tmp_path / "env")}
    overrides = {"workers": 4, "http.addr": "127.0.0.1:7000", "data_dir": str(tmp_path / "cli")}
    result = load(home, env, overrides, path=path)
    assert result.workers == 4
    assert result.http.addr == "127.0.0.1:7000"
    assert result.data_dir == tmp_path / "cli"
    assert result.storage_driver()[1]["rootdirectory"] == str(tmp_path / "cli" / "storage")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"REGISTRY_WORKERS": "0"}, "REGISTRY_WORKERS: workers: must be ≥ 1"),
        ({"REGISTRY_WORKERS": "many"}, "REGISTRY_WORKERS: workers: must be an integer"),
        (
            {"REGISTRY_LOG_LEVEL": "verbose"},
            "REGISTRY_LOG_LEVEL: log.level: must be 'debug', 'info', 'warning' or 'error'",
        ),
        (
            {"REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": ""},
            "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: storage.filesystem.rootdirectory: must",
        ),
        ({"REGISTRY_HTTP_ADDR": "localhost"}, "REGISTRY_HTTP_ADDR: http.addr: must be HOST:PORT"),
        ({"REGISTRY_STORAGE": "floppy"}, "REGISTRY_STORAGE: storage.floppy: unknown key (known:"),
        ({"REGISTRY_STORAGE": "s3"}, "REGISTRY_STORAGE: storage.s3.bucket: field required"),
        ({"REGISTRY_LOG_ACCESSLOG_DISABLED": "maybe"}, "log.accesslog.disabled: must be true"),
    ],
)
def test_environment_errors_name_variable_and_key(
    home: Path, env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load(home, env)
    assert message in str(info.value)


def test_variables_naming_no_setting_are_errors(home: Path) -> None:
    env = {"REGISTRY_HTTP_ADRR": "127.0.0.1:1", "REGISTRY_FOO": "1", "REGISTRY_http_addr": "x"}
    with pytest.raises(ConfigError) as info:
        load(home, env)
    assert str(info.value) == (
        "REGISTRY_FOO: names no setting; REGISTRY_HTTP_ADRR: names no setting; "
        "REGISTRY_http_addr: names no setting"
    )


@pytest.mark.parametrize(
    "name",
    [
        "REGISTRY_CONFIGURATION_PATH",
        "REGISTRY_SERVICE_HOST",
        "REGISTRY_SERVICE_PORT_HTTP",
        "REGISTRY_PORT",
        "REGISTRY_PORT_5000_TCP_ADDR",
    ],
)
def test_allow_listed_variables_are_not_errors(home: Path, name: str) -> None:
    assert load(home, {name: "10.0.0.1"}).http.addr == "127.0.0.1:5000"


def test_other_variables_are_ignored(home: Path) -> None:
    assert load(home, {"DOCKYARD_X": "1", "XREGISTRY_FOO": "1"}).workers >= 1


def test_file_errors_name_file_and_key(home: Path, tmp_path: Path) -> None:
    path = write(tmp_path, "log:\n  formater: json\nhttp: {addr: 5000}\n")
    with pytest.raises(ConfigError) as info:
        load(home, path=path)
    assert str(info.value) == (
        f"{path}: log.formater: unknown key (known: level, formatter, accesslog); "
        f"{path}: http.addr: must be a string (quote it in YAML)"
    )


def test_command_line_errors_say_so(home: Path) -> None:
    with pytest.raises(ConfigError, match=r"^command line: workers: must be ≥ 1$"):
        load(home, overrides={"workers": 0})


def test_error_below_a_variable_names_the_variable(home: Path) -> None:
    with pytest.raises(ConfigError, match=r"^REGISTRY_LOG: log.level: must be 'debug'"):
        load(home, {"REGISTRY_LOG": "{level: loud}"})


def test_error_above_a_variable_names_the_variable(home: Path, tmp_path: Path) -> None:
    path = write(tmp_path, "storage: {filesystem: {rootdirectory: /srv}}\n")
    with pytest.raises(ConfigError) as info:
        load(home, {"REGISTRY_STORAGE_INMEMORY": ""}, path=path)
    assert str(info.value) == (
        "REGISTRY_STORAGE_INMEMORY: storage: "
        "configure exactly one storage driver (got filesystem, inmemory)"
    )


def test_errors_never_show_the_secret(home: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load(home, {"REGISTRY_HTTP_SECRET": "hunter2-pw"})
    assert "hunter2" not in str(info.value)
    assert "REGISTRY_HTTP_SECRET: http.secret: must be at least 16 characters" in str(info.value)
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: [\n", "config.yml:2:1: not valid YAML"),
        ("- version: 0.1\n", "config.yml: must be a mapping of settings"),
    ],
)
def test_unreadable_files(home: Path, tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load(home, path=write(tmp_path, text))


def test_missing_file(home: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"absent.yml: cannot read: No such file"):
        load(home, path=tmp_path / "absent.yml")


def test_empty_file_means_defaults(home: Path, tmp_path: Path) -> None:
    assert load(home, path=write(tmp_path, "")).http.addr == "127.0.0.1:5000"


def test_secret_is_generated_once_and_reused(home: Path, tmp_path: Path) -> None:
    env = {"REGISTRY_DATA_DIR": str(tmp_path / "data")}
    first = load(home, env)
    second = load(home, env)
    path = tmp_path / "data" / SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert first.http.secret == second.http.secret
    assert first.http.secret.get_secret_value() == path.read_text().strip()
    assert len(first.http.secret.get_secret_value()) >= 32
    assert sorted(os.listdir(tmp_path / "data")) == [SECRET_FILE]  # no temporary file left


def test_configured_secret_writes_no_file(home: Path, tmp_path: Path) -> None:
    env = {"REGISTRY_DATA_DIR": str(tmp_path / "data"), "REGISTRY_HTTP_SECRET": SECRET}
    assert load(home, env).http.secret.get_secret_value() == SECRET
    assert not (tmp_path / "data").exists()


def test_invalid_settings_write_no_secret(home: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load(home, {"REGISTRY_DATA_DIR": str(tmp_path / "data"), "REGISTRY_WORKERS": "0"})
    assert not (tmp_path / "data").exists()


def test_empty_secret_file_is_an_error(home: Path, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / SECRET_FILE).write_text("\n")
    with pytest.raises(ConfigError, match=r"holds no usable secret"):
        load(home, {"REGISTRY_DATA_DIR": str(tmp_path / "data")})
