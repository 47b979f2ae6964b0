"""The drivers the conformance suite runs against; a new backend adds one entry to ``DRIVERS``.

A factory gets the fixture request, so it can reach whatever it needs (``tmp_path`` here, an
emulator fixture for a cloud driver) and register its own cleanup.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from dockyard.storage.driver import StorageDriver
from dockyard.storage.factory import create_driver
from emulators import (
    azure_params,
    azurite,
    gcs_emulator,
    gcs_params,
    moto_s3,
    s3_params,
    swift_cluster,
    swift_params,
)

__all__ = ["azurite", "gcs_emulator", "moto_s3", "swift_cluster"]

DriverFactory = Callable[[pytest.FixtureRequest], StorageDriver]


def _filesystem(request: pytest.FixtureRequest) -> StorageDriver:
    tmp_path: Path = request.getfixturevalue("tmp_path")
    # A root that does not exist yet, as on a fresh data directory.
    return create_driver("filesystem", {"rootdirectory": str(tmp_path / "storage")})


def _inmemory(request: pytest.FixtureRequest) -> StorageDriver:
    return create_driver("inmemory", {})


def _s3(request: pytest.FixtureRequest) -> StorageDriver:
    return create_driver("s3", s3_params(request.getfixturevalue("moto_s3")))


def _azure(request: pytest.FixtureRequest) -> StorageDriver:
    return create_driver("azure", azure_params(request.getfixturevalue("azurite")))


def _gcs(request: pytest.FixtureRequest) -> StorageDriver:
    return create_driver("gcs", gcs_params(request.getfixturevalue("gcs_emulator")))


def _swift(request: pytest.FixtureRequest) -> StorageDriver:
    return create_driver("swift", swift_params(request.getfixturevalue("swift_cluster")))


DRIVERS: dict[str, DriverFactory] = {
    "filesystem": _filesystem,
    "inmemory": _inmemory,
    "s3": _s3,
    "azure": _azure,
    "gcs": _gcs,
    "swift": _swift,
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=[pytest.param(factory, id=name) for name, factory in DRIVERS.items()])
def driver(request: pytest.FixtureRequest) -> StorageDriver:
    factory: DriverFactory = request.param
    return factory(request)
