"""Drivers by name, as the ``storage`` section of the config names them (Distribution's names).

Cloud drivers are imported only when chosen, so a registry on local disk never loads their SDKs.
Every driver takes the parameters of its ``storage.<name>`` settings key, as a mapping.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from dockyard.storage.base import DriverWrapper
from dockyard.storage.driver import StorageDriver
from dockyard.storage.filesystem import FilesystemDriver
from dockyard.storage.memory import InMemoryDriver

DriverFactory = Callable[[Mapping[str, Any]], StorageDriver]

_factories: dict[str, DriverFactory] = {}


def register(name: str, factory: DriverFactory) -> None:
    """Add a driver; a second one under the same name is a mistake, not an override."""
    if name in _factories:
        raise ValueError(f"storage driver {name!r} is already registered")
    _factories[name] = factory


def create_driver(name: str, params: Mapping[str, Any]) -> DriverWrapper:
    """Build the named driver inside its wrapper; set ``on_timing`` on the result for metrics."""
    factory = _factories.get(name)
    if factory is None:
        known = ", ".join(sorted(_factories))
        raise ValueError(f"unknown storage driver {name!r}; known drivers: {known}")
    return DriverWrapper(factory(params))


def _reject_unknown(name: str, params: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ValueError(f"storage driver {name!r} does not take {', '.join(unknown)}")


def _filesystem(params: Mapping[str, Any]) -> StorageDriver:
    _reject_unknown("filesystem", params, {"rootdirectory"})
    root = params.get("rootdirectory")
    if not isinstance(root, str) or not root:
        raise ValueError("storage driver 'filesystem' needs rootdirectory, a non-empty string")
    return FilesystemDriver(root)


def _inmemory(params: Mapping[str, Any]) -> StorageDriver:
    _reject_unknown("inmemory", params, set())
    return InMemoryDriver()


def _s3(params: Mapping[str, Any]) -> StorageDriver:
    from dockyard.config.model import S3Params
    from dockyard.storage.s3 import S3Driver

    return S3Driver(S3Params.model_validate(dict(params)))


def _azure(params: Mapping[str, Any]) -> StorageDriver:
    from dockyard.config.model import AzureParams
    from dockyard.storage.azure import AzureDriver

    return AzureDriver(AzureParams.model_validate(dict(params)))


def _gcs(params: Mapping[str, Any]) -> StorageDriver:
    from dockyard.config.model import GCSParams
    from dockyard.storage.gcs import GCSDriver

    return GCSDriver(GCSParams.model_validate(dict(params)))


def _swift(params: Mapping[str, Any]) -> StorageDriver:
    from dockyard.config.model import SwiftParams
    from dockyard.storage.swift import SwiftDriver

    return SwiftDriver(SwiftParams.model_validate(dict(params)))


register("filesystem", _filesystem)
register("inmemory", _inmemory)
register("s3", _s3)
register("azure", _azure)
register("gcs", _gcs)
register("swift", _swift)
