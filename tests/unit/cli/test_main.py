"""The ``dockyard`` command as a user runs it: a fresh ``python -m dockyard`` process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import dockyard


def dockyard_command(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {key: value for key, value in os.environ.items() if not key.startswith("REGISTRY_")}
    return subprocess.run(
        [sys.executable, "-m", "dockyard", *args],
        capture_output=True,
        text=True,
        env={**base, "HOME": str(tmp_path / "home"), **(env or {})},
        cwd=tmp_path,
        timeout=60,
        check=False,
    )


def test_version(tmp_path: Path) -> None:
    result = dockyard_command(tmp_path, "--version")
    assert result.returncode == 0
    assert result.stdout == f"dockyard {dockyard.__version__}\n"
    assert dockyard.__version__ == "0.1.0"


def test_help_shows_commands_and_a_first_step(tmp_path: Path) -> None:
    result = dockyard_command(tmp_path, "--help")
    assert result.returncode == 0
    assert result.stdout.startswith("usage: dockyard ")
    assert re.search(r"\n +serve +run the registry server\n", result.stdout)
    assert "  dockyard serve\n" in result.stdout
    assert "docs/configuration.md" in result.stdout


def test_serve_help_lists_its_options(tmp_path: Path) -> None:
    result = dockyard_command(tmp_path, "serve", "--help")
    assert result.returncode == 0
    for option in ("--config FILE", "--data-dir DIR", "--addr HOST:PORT", "--workers N"):
        assert option in result.stdout


def test_no_command_prints_help_and_fails(tmp_path: Path) -> None:
    result = dockyard_command(tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("usage: dockyard ")


def test_unknown_command_is_a_usage_error(tmp_path: Path) -> None:
    result = dockyard_command(tmp_path, "serv")
    assert result.returncode == 2
    assert "invalid choice: 'serv'" in result.stderr


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        ((), {"REGISTRY_WORKERS": "0"}, "REGISTRY_WORKERS: workers: must be ≥ 1"),
        (("--addr", "localhost"), {}, "command line: http.addr: must be HOST:PORT"),
        ((), {"REGISTRY_HTTP_ADRR": ":1"}, "REGISTRY_HTTP_ADRR: names no setting"),
    ],
)
def test_serve_with_a_bad_setting_exits_2_naming_it(
    tmp_path: Path, args: tuple[str, ...], env: dict[str, str], message: str
) -> None:
    data_dir = tmp_path / "data"
    result = dockyard_command(tmp_path, "serve", "--data-dir", str(data_dir), *args, env=env)
    assert result.returncode == 2
    assert result.stderr.startswith(f"dockyard: error: {message}")
    assert result.stderr.count("\n") == 1  # one line, no traceback
    assert not data_dir.exists()


def test_serve_reads_the_config_file_named_by_distributions_variable(tmp_path: Path) -> None:
    config = tmp_path / "config.yml"
    config.write_text("version: 0.1\nlog: {level: loud}\n")
    result = dockyard_command(tmp_path, "serve", env={"REGISTRY_CONFIGURATION_PATH": str(config)})
    assert result.returncode == 2
    assert result.stderr.startswith(f"dockyard: error: {config}: log.level: must be 'debug'")
    assert "Traceback" not in result.stderr


def test_serve_config_flag_wins_over_the_variable(tmp_path: Path) -> None:
    config = tmp_path / "config.yml"
    config.write_text("workers: 0\n")
    result = dockyard_command(
        tmp_path,
        "serve",
        "--config",
        str(config),
        env={"REGISTRY_CONFIGURATION_PATH": str(tmp_path / "absent.yml")},
    )
    assert result.returncode == 2
    assert result.stderr == f"dockyard: error: {config}: workers: must be ≥ 1\n"
