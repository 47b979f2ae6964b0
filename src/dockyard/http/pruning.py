"""The pruning endpoints under ``/extensions/v2``, which ``dockyard adm prune`` and ``adm top``
call: the CLI is a client of these, as ``oc adm prune`` is of the registry's and API's.

Pruning needs ``delete images`` at the cluster scope (the ``admin:prune`` check of OpenShift's
registry; ``cluster-admin`` and ``system:image-pruner`` have it), usage ``list images``. Errors
are Kubernetes ``Status`` objects, as on the resource API, and bodies are strict JSON.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from typing import Any

from pydantic import Field
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from dockyard.auth.rbac import IMAGE_GROUP
from dockyard.config.model import Settings
from dockyard.errors import StatusError
from dockyard.http.resources import objects
from dockyard.http.resources.handlers import (
    Call,
    authorize,
    method_not_allowed,
    read_json,
    respond,
)
from dockyard.metadata.engine import Database
from dockyard.metadata.resources import ResourceStore
from dockyard.observability.logging import current_request_id
from dockyard.pruning import collector
from dockyard.pruning.collector import GarbageCollector
from dockyard.pruning.orphans import RegistryPruner
from dockyard.pruning.plan import Plan, PruneOptions
from dockyard.pruning.pruner import ImagePruner, planned
from dockyard.pruning.scheduler import PruneScheduler
from dockyard.pruning.usage import read_usage
from dockyard.storage.driver import StorageDriver

PREFIX = "/extensions/v2"
NDJSON = "application/x-ndjson"

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PruningServices:
    """What these endpoints reach through ``request.app.state.pruning``."""

    db: Database
    storage: StorageDriver
    images: ImagePruner
    registry: RegistryPruner
    grace: float


class ImagePruneBody(objects.Body):
    keep_tag_revisions: int = Field(3, alias="keepTagRevisions", ge=0)
    keep_younger_than_seconds: float = Field(3600.0, alias="keepYoungerThanSeconds", ge=0)
    all: bool = True
    prune_registry: bool = Field(True, alias="pruneRegistry")
    ignore_invalid_refs: bool = Field(False, alias="ignoreInvalidRefs")
    keep_referrers: bool = Field(False, alias="keepReferrers")
    confirm: bool = False


class RegistryPruneBody(objects.Body):
    keep_younger_than_seconds: float = Field(3600.0, alias="keepYoungerThanSeconds", ge=0)
    confirm: bool = False


class PruningTasks:
    """The background work of pruning in this process: the collector and the scheduler."""

    def __init__(self, collector: GarbageCollector | None, scheduler: PruneScheduler) -> None:
        self.collector = collector
        self.scheduler = scheduler

    async def stop(self) -> None:
        if self.collector is not None:
            await self.collector.stop()
        await self.scheduler.stop()


def start_pruning(
    app: Starlette, db: Database, storage: StorageDriver, settings: Settings
) -> PruningTasks:
    """Give the endpoints their services; start the ImagePruner's scheduler and, unless
    disabled, the garbage collector."""
    images = ImagePruner(db, storage)
    app.state.pruning = PruningServices(
        db=db,
        storage=storage,
        images=images,
        registry=RegistryPruner(db, storage),
        grace=settings.gc.graceperiod,
    )
    collector = None
    if not settings.gc.disabled:
        collector = GarbageCollector(
            db, storage, grace=settings.gc.graceperiod, interval=settings.gc.interval
        )
        collector.start()
    scheduler = PruneScheduler(ResourceStore(db), images)
    scheduler.start()
    return PruningTasks(collector, scheduler)


def _services(request: Request) -> PruningServices:
    services: PruningServices = request.app.state.pruning
    return services


def _origin(call: Call) -> dict[str, Any]:
    request = call.request
    return {
        "actor": call.principal.name,
        "request": {
            "id": current_request_id.get() or "",
            "addr": request.client.host if request.client else "",
            "method": request.method,
            "useragent": request.headers.get("user-agent", ""),
        },
    }


async def _body(request: Request, model: type[objects.B], kind: str) -> objects.B:
    data = await read_json(request)
    return objects.decode(model, {} if data is None else data, kind, name="")


async def prune_images(request: Request) -> Response:
    """A dry run answers the plan; a confirmed run its result, or with ``?progress=true``
    a stream of NDJSON lines (``progress`` events, then the ``result``) for long runs."""
    call = Call.of(request)
    if request.method != "POST":
        raise method_not_allowed()
    await authorize(call, "delete", IMAGE_GROUP, "images", None)
    body = await _body(request, ImagePruneBody, "ImagePrune")
    options = PruneOptions(
        keep_tag_revisions=body.keep_tag_revisions,
        keep_younger_than=body.keep_younger_than_seconds,
        all=body.all,
        prune_registry=body.prune_registry,
        ignore_invalid_refs=body.ignore_invalid_refs,
        keep_referrers=body.keep_referrers,
    )
    pruner = _services(request).images
    plan = await pruner.plan(options)
    if not body.confirm:
        return respond(planned(plan).render())
    origin = {**_origin(call), "by": "prune"}
    if request.query_params.get("progress") != "true":
        return respond((await pruner.apply(plan, origin)).render())
    return StreamingResponse(_streamed(pruner, plan, origin), media_type=NDJSON)


async def _streamed(
    pruner: ImagePruner, plan: Plan, origin: dict[str, Any]
) -> AsyncIterator[bytes]:
    """Progress as it happens, then the result (or a ``Status`` if the run failed)."""
    events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    def progress(phase: str, done: int, total: int) -> None:
        events.put_nowait({"type": "progress", "phase": phase, "done": done, "total": total})

    task = asyncio.create_task(pruner.apply(plan, origin, progress))
    try:
        while not task.done() or not events.empty():
            getter = asyncio.ensure_future(events.get())
            await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
            if getter.done():
                yield _line(getter.result())
            else:
                getter.cancel()
        try:
            yield _line({"type": "result", "object": task.result().render()})
        except Exception:
            logger.exception("pruning failed")
            failure = StatusError(500, "InternalError", "pruning failed; see the registry's log")
            yield _line({"type": "error", "object": failure.to_json()})
    finally:
        task.cancel()


def _line(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode() + b"\n"


async def prune_registry(request: Request) -> Response:
    call = Call.of(request)
    if request.method != "POST":
        raise method_not_allowed()
    await authorize(call, "delete", IMAGE_GROUP, "images", None)
    body = await _body(request, RegistryPruneBody, "RegistryPrune")
    report = await _services(request).registry.run(
        keep_younger_than=body.keep_younger_than_seconds, confirm=body.confirm
    )
    return respond(report.render())


async def collect_garbage(request: Request) -> Response:
    """A collection now, with the configured grace period (the background one runs anyway)."""
    call = Call.of(request)
    if request.method != "POST":
        raise method_not_allowed()
    await authorize(call, "delete", IMAGE_GROUP, "images", None)
    services = _services(request)
    done = await collector.collect(services.db, services.storage, services.grace)
    return respond({"kind": "GarbageCollectionResult", **asdict(done)})


async def usage(request: Request) -> Response:
    call = Call.of(request)
    if request.method not in ("GET", "HEAD"):
        raise method_not_allowed()
    await authorize(call, "list", IMAGE_GROUP, "images", None)
    async with _services(request).db.read() as conn:
        found = await read_usage(conn)
    return respond(
        {
            "kind": "StorageUsage",
            "total": found.total,
            "stored": found.stored,
            "images": [asdict(image) for image in found.images],
            "repositories": [asdict(group) for group in found.repositories],
            "projects": [asdict(group) for group in found.projects],
        }
    )


def pruning_routes() -> list[BaseRoute]:
    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
    return [
        Route(f"{PREFIX}/prune/images", prune_images, methods=methods),
        Route(f"{PREFIX}/prune/registry", prune_registry, methods=methods),
        Route(f"{PREFIX}/gc", collect_garbage, methods=methods),
        Route(f"{PREFIX}/usage", usage, methods=methods),
    ]
