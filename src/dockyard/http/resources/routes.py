"""The resource API's routes, mounted by ``dockyard.http.app``."""

from __future__ import annotations

from starlette.routing import BaseRoute


def resource_routes() -> list[BaseRoute]:
    return []
