"""What every registry service shares within one worker process."""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.metadata.engine import Database
from dockyard.storage.driver import StorageDriver


@dataclass(frozen=True)
class RegistryContext:
    db: Database
    storage: StorageDriver
    secret: bytes
    delete_enabled: bool = True
    redirect_enabled: bool = False
