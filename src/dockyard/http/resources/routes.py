"""The resource API's routes, mounted by ``dockyard.http.app``.

Every route takes every method, so a verb a kind does not serve gets a 405 ``Status`` from the
handler rather than Starlette's plain-text one. Fixed paths come before ``{name}`` so that
``users/~`` is never read as a user called ``~``.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from dockyard.http.resources import actions, handlers

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
USERS = handlers.USERS.path
SERVICE_ACCOUNTS = handlers.SERVICE_ACCOUNTS.path


def resource_routes() -> list[BaseRoute]:
    routes: list[BaseRoute] = [
        Route(f"{USERS}/~", actions.current_user, methods=METHODS),
        Route(f"{USERS}/{{name}}/password", actions.set_password, methods=METHODS),
        Route(
            "/apis/project.openshift.io/v1/projectrequests",
            actions.request_project,
            methods=METHODS,
        ),
        Route(f"{SERVICE_ACCOUNTS}/{{name}}/token", actions.request_token, methods=METHODS),
    ]
    for kind in handlers.KINDS:
        routes.append(Route(kind.path, handlers.collection_endpoint(kind), methods=METHODS))
        routes.append(Route(f"{kind.path}/{{name}}", handlers.item_endpoint(kind), methods=METHODS))
    return routes
