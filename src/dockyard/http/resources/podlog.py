"""``pods/{name}/log``: the registry's log, as ``oc logs`` reads a pod's.

Every worker writes to the one log ``dockyard serve`` keeps (``observability.logfile``), so each
pod answers with all of it. ``tailLines`` starts that many lines from the end; ``follow=true``
streams what comes next until the client goes.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from dockyard.errors import StatusError
from dockyard.http.resources.handlers import Call, authorize, method_not_allowed
from dockyard.http.resources.stored import store_of
from dockyard.metadata.resources import POD
from dockyard.observability.logfile import LOG_FILE_ENV, follow, tail

TEXT = "text/plain; charset=utf-8"


def tail_lines(value: str | None) -> int | None:
    if value is None:
        return None
    if not value.isdigit():
        raise StatusError(
            400, "BadRequest", f'tailLines: "{value[:20]}" is not a non-negative integer'
        )
    return int(value)


async def pod_log(request: Request) -> Response:
    call = Call.of(request)
    if request.method not in ("GET", "HEAD"):
        raise method_not_allowed()
    await authorize(call, "get", "", "pods/log", call.namespace, call.name)
    await store_of(call).get(POD, call.namespace, call.name)
    lines = tail_lines(request.query_params.get("tailLines"))
    configured = os.environ.get(LOG_FILE_ENV)
    if not configured:
        raise StatusError(404, "NotFound", "the registry's log is kept only by dockyard serve")
    path = Path(configured)
    text, offset = tail(path, lines)
    if request.query_params.get("follow") not in ("true", "1"):
        return Response(text, media_type=TEXT)

    async def stream() -> AsyncIterator[bytes]:
        yield text
        async for chunk in follow(path, offset):
            yield chunk

    return StreamingResponse(stream(), media_type=TEXT)
