"""The resource API's routes, mounted by ``dockyard.http.app``, made from one table of kinds.

``KINDS`` is every kind served (with the endpoints that are not plain CRUD attached as
subresources or collections of their own); routes, discovery and OpenAPI are all made from it.
Every route takes every method, so a verb a kind does not serve gets a 405 ``Status`` from the
handler rather than Starlette's plain-text one. Fixed paths come before ``{name}`` so that
``users/~`` is never read as a user called ``~``, and subresources before ``{name:path}`` so
that ``imagestreams/a/layers`` is the layers of ``a`` (a stream can't be called ``a/layers``
through this API). Any other path under ``/api`` or ``/apis`` is a 404 ``Status``.
"""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute, Route

from dockyard.http.resources import (
    access,
    actions,
    core,
    discovery,
    handlers,
    images,
    imports,
    operator,
    pruner,
)
from dockyard.http.resources.handlers import Kind

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
KINDS: tuple[Kind[Any, Any], ...] = (
    *access.KINDS,
    *images.KINDS,
    *core.KINDS,
    *imports.KINDS,
    *operator.KINDS,
    *pruner.KINDS,
)


def resource_routes() -> list[BaseRoute]:
    routes: list[BaseRoute] = [
        Route(f"{access.USERS.path}/~", actions.current_user, methods=METHODS),
    ]
    for kind in KINDS:
        if kind.collection is not None:
            routes.append(Route(kind.path, kind.collection, methods=METHODS))
            continue
        name = "{name:path}" if kind.slashed_names else "{name}"
        for sub in kind.subresources:
            routes.append(Route(f"{kind.path}/{name}/{sub.name}", sub.endpoint, methods=METHODS))
        collection = handlers.collection_endpoint(kind)
        routes.append(Route(kind.path, collection, methods=METHODS))
        routes.append(Route(kind.item_path, handlers.item_endpoint(kind), methods=METHODS))
        if kind.all_namespaces:
            routes.append(Route(f"{kind.root}/{kind.resource}", collection, methods=METHODS))
    routes += discovery.discovery_routes(KINDS)
    routes += [
        Route("/api/{rest:path}", discovery.unknown_path, methods=METHODS),
        Route("/apis/{rest:path}", discovery.unknown_path, methods=METHODS),
    ]
    return routes
