from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from dockyard.config.model import Settings, dump_settings

SECRET = "a-secret-of-thirty-two-characters"


def settings(tmp_path: Path, **values: Any) -> Settings:
    return Settings.model_validate({"data_dir": str(tmp_path), **values})


def test_defaults_live_under_data_dir(tmp_path: Path) -> None:
    result = settings(tmp_path)
    assert result.storage_driver() == ("filesystem", {"rootdirectory": str(tmp_path / "storage")})
    assert result.database.url == f"sqlite+aiosqlite:///{tmp_path}/dockyard.db"
    assert result.http.addr == "127.0.0.1:5000"
    assert (result.log.level, result.log.formatter) == ("info", "logfmt")
    assert result.log.accesslog.disabled is False
    assert result.storage.delete.enabled is True
    assert result.storage.redirect.disable is False
    assert result.workers >= 1


def test_relative_paths_become_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = Settings.model_validate(
        {"data_dir": "data", "storage": {"filesystem": {"rootdirectory": "blobs/../layers"}}}
    )
    assert result.data_dir == tmp_path / "data"
    assert result.storage_driver() == ("filesystem", {"rootdirectory": str(tmp_path / "layers")})


@pytest.mark.parametrize("version", ["0.1", 0.1])
def test_version_accepts_distributions_string_or_float(tmp_path: Path, version: object) -> None:
    assert settings(tmp_path, version=version).version == "0.1"


@pytest.mark.parametrize("version", ["1", 1, "0.2", 0.2, None])
def test_version_rejects_others(tmp_path: Path, version: object) -> None:
    with pytest.raises(ValidationError, match=r"unsupported version"):
        settings(tmp_path, version=version)


@pytest.mark.parametrize(
    "storage", ["inmemory", {"inmemory": None}, {"inmemory": {}, "delete": {"enabled": False}}]
)
def test_inmemory_in_distributions_forms(tmp_path: Path, storage: object) -> None:
    assert settings(tmp_path, storage=storage).storage_driver() == ("inmemory", {})


def test_storage_without_driver_key_keeps_default_driver(tmp_path: Path) -> None:
    result = settings(tmp_path, storage={"delete": {"enabled": False}})
    assert result.storage_driver()[0] == "filesystem"
    assert result.storage.delete.enabled is False


def test_two_storage_drivers_are_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"exactly one storage driver \(got filesystem, inm"):
        settings(tmp_path, storage={"filesystem": {"rootdirectory": "/srv"}, "inmemory": {}})


def test_unknown_keys_are_errors(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"storage.filesytem"):
        settings(tmp_path, storage={"filesytem": {"rootdirectory": "/srv"}})


def test_settings_are_frozen(tmp_path: Path) -> None:
    result = settings(tmp_path)
    with pytest.raises(ValidationError):
        result.workers = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("addr", "expected"),
    [
        ("127.0.0.1:5000", ("127.0.0.1", 5000)),
        ("registry.example:443", ("registry.example", 443)),
        (":5000", ("0.0.0.0", 5000)),
        ("[::1]:5001", ("::1", 5001)),
    ],
)
def test_bind_address(tmp_path: Path, addr: str, expected: tuple[str, int]) -> None:
    assert settings(tmp_path, http={"addr": addr}).http.bind_address() == expected


@pytest.mark.parametrize(
    "addr", ["localhost", "localhost:", "h:0", "h:65536", "h:http", "::1:5000", "h:\uff15"]
)
def test_bad_addr(tmp_path: Path, addr: str) -> None:
    with pytest.raises(ValidationError, match=r"http.addr"):
        settings(tmp_path, http={"addr": addr})


def test_secret_is_hidden_from_repr_and_dumps(tmp_path: Path) -> None:
    result = settings(tmp_path, http={"secret": SECRET})
    assert result.http.secret.get_secret_value() == SECRET
    for text in (repr(result), str(result), result.model_dump_json()):
        assert SECRET not in text


def test_short_secret_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"at least 16 characters"):
        settings(tmp_path, http={"secret": "too-short"})


def test_unconfigured_secret_is_random_per_settings(tmp_path: Path) -> None:
    assert settings(tmp_path).http.secret != settings(tmp_path).http.secret


def test_database_password_is_hidden_from_repr(tmp_path: Path) -> None:
    url = "postgresql+asyncpg://dockyard:hunter2-password@db.example:5432/dockyard"
    result = settings(tmp_path, database={"url": url})
    assert result.database.url == url
    assert "hunter2" not in repr(result)
    assert "dockyard:***@db.example:5432" in repr(result)


@pytest.mark.parametrize("url", ["mysql://db/dockyard", "/var/lib/dockyard.db", ""])
def test_unsupported_database_is_rejected(tmp_path: Path, url: str) -> None:
    with pytest.raises(ValidationError, match=r"database.url"):
        settings(tmp_path, database={"url": url})


@pytest.mark.parametrize("host", ["registry.example", "ftp://registry.example", "https://"])
def test_http_host_must_be_an_absolute_url(tmp_path: Path, host: str) -> None:
    with pytest.raises(ValidationError, match=r"http.host"):
        settings(tmp_path, http={"host": host})


@pytest.mark.parametrize("storage", [{}, "inmemory"])
def test_dump_settings_round_trips_with_the_secret(tmp_path: Path, storage: object) -> None:
    original = settings(
        tmp_path,
        storage=storage,
        http={"secret": SECRET, "host": "https://registry.example"},
        log={"level": "debug", "formatter": "json"},
        workers=3,
    )
    text = dump_settings(original)
    assert SECRET in text
    assert Settings.model_validate_json(text) == original
