"""Scheduled pruning: the ``cluster`` ImagePruner runs on its cron schedule, in one process of
the cluster at a time, as OpenShift's operator runs a CronJob. Every worker reads the object
once a second; one that finds a run due takes the ``imagepruner`` lease, reads it again (another
may just have run it) and only then records the firing and runs.

Like a CronJob, a run is due at the first firing after ``status.lastScheduleTime`` (or the
object's creation); missed firings are not caught up one by one, only the latest runs. Each
run is recorded in ``status.runs`` (newest first: start, completion, result, what it freed),
trimmed to ``successfulJobsHistoryLimit`` and ``failedJobsHistoryLimit``, and the conditions
say whether pruning is scheduled and whether the last run failed. ``--prune-registry`` follows
the registry's ``managementState``: off when the registry is ``Removed``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import Any

from dockyard.events.leases import Lease, LeasedLoop, process_holder
from dockyard.metadata.resources import ResourceStore, body_of
from dockyard.operator.config import CONFIG, NAME as CONFIG_NAME
from dockyard.pruning.imagepruner import IMAGE_PRUNER, NAME, ImagePrunerSpec, options_of, parse
from dockyard.pruning.pruner import ImagePruner
from dockyard.pruning.schedule import parse_schedule

LEASE_NAME = "imagepruner"
POLL_SECONDS = 1.0
MAX_CATCH_UP = 10_000
ACTOR = "system:serviceaccount:openshift-image-registry:pruner"

logger = logging.getLogger(__name__)


def _time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def latest_due(spec: ImagePrunerSpec, since: datetime, now: datetime) -> datetime | None:
    """The latest firing after ``since`` and not after ``now``; None when none is due."""
    schedule = parse_schedule(spec.schedule)
    due = schedule.next_after(since)
    if due > now:
        return None
    for _ in range(MAX_CATCH_UP):
        following = schedule.next_after(due)
        if following > now:
            break
        due = following
    return due


def conditions(spec: ImagePrunerSpec, failed: bool, message: str, now: str) -> list[dict[str, str]]:
    def condition(kind: str, status: bool, reason: str, text: str) -> dict[str, str]:
        return {
            "type": kind,
            "status": "True" if status else "False",
            "lastTransitionTime": now,
            "reason": reason,
            "message": text,
        }

    return [
        condition("Available", True, "AsExpected", "the pruner is ready"),
        condition(
            "Scheduled",
            not spec.suspend,
            "Suspended" if spec.suspend else "Scheduled",
            "pruning is suspended" if spec.suspend else f"runs on {spec.schedule!r}",
        ),
        condition("Failed", failed, "JobFailed" if failed else "Complete", message),
    ]


def trimmed(runs: list[dict[str, Any]], spec: ImagePrunerSpec) -> list[dict[str, Any]]:
    """The newest runs, at most the history limit of each result."""
    limits = {
        "Succeeded": spec.successful_jobs_history_limit or 0,
        "Failed": spec.failed_jobs_history_limit or 0,
    }
    kept: list[dict[str, Any]] = []
    counts = dict.fromkeys(limits, 0)
    for run in runs:
        result = run.get("result", "Failed")
        if counts.get(result, 0) < limits.get(result, 0):
            counts[result] = counts.get(result, 0) + 1
            kept.append(run)
    return kept


class PruneScheduler(LeasedLoop):
    """Polls the ImagePruner while this process holds the lease, and runs it when due."""

    def __init__(
        self, store: ResourceStore, pruner: ImagePruner, *, poll: float = POLL_SECONDS
    ) -> None:
        self.store = store
        self.pruner = pruner
        self.poll = poll
        super().__init__(Lease(store.db, LEASE_NAME, process_holder()), "scheduled pruning")

    async def _run(self) -> None:
        while True:
            try:
                await self.tick(datetime.now(UTC))
            except Exception:
                logger.warning("scheduled pruning interrupted", exc_info=True)
            await asyncio.sleep(self.poll)

    async def _due(self, now: datetime) -> tuple[ImagePrunerSpec, datetime] | None:
        found = await self.store.find(IMAGE_PRUNER, None, NAME)
        if found is None:
            return None
        spec = parse(found)
        if spec.suspend:
            return None
        status = found.get("status") or {}
        since = _parse_time(status.get("lastScheduleTime")) or _parse_time(
            found["metadata"].get("creationTimestamp")
        )
        due = latest_due(spec, since or now, now)
        return None if due is None else (spec, due)

    async def tick(self, now: datetime) -> bool:
        """Run the pruner if it is due; True if it ran."""
        if await self._due(now) is None or not await self.lease.renew():
            return False
        found = await self._due(now)  # under the lease, as another holder may have left it
        if found is None:
            return False
        spec, due = found
        await self._record(spec, {"lastScheduleTime": _time(due)}, None)
        await self._record(spec, {}, await self._run_once(spec, due))
        return True

    async def _run_once(self, spec: ImagePrunerSpec, due: datetime) -> dict[str, Any]:
        registry = await self.store.find(CONFIG, None, CONFIG_NAME)
        state = ((registry or {}).get("spec") or {}).get("managementState", "Managed")
        started = time.time()
        run: dict[str, Any] = {"scheduleTime": _time(due), "startTime": _time(datetime.now(UTC))}
        try:
            report = await self.pruner.run(
                options_of(spec, prune_registry=state != "Removed"),
                confirm=True,
                origin={"actor": ACTOR},
            )
        except Exception as exc:
            logger.warning("scheduled pruning failed", exc_info=True)
            run.update(result="Failed", message=str(exc) or type(exc).__name__)
        else:
            run.update(result="Succeeded", message="pruned", summary=report.summary())
        run["completionTime"] = _time(datetime.now(UTC))
        logger.info(
            "scheduled pruning finished",
            extra={"result": run["result"], "duration": f"{time.time() - started:.3f}s"},
        )
        return run

    async def _record(
        self, spec: ImagePrunerSpec, fields: dict[str, Any], run: dict[str, Any] | None
    ) -> None:
        def build(current: dict[str, Any]) -> dict[str, Any]:
            status = dict(current.get("status") or {})
            status.update(fields)
            status["observedGeneration"] = current["metadata"].get("generation", 1)
            if run is not None:
                status["runs"] = trimmed([run, *(status.get("runs") or [])], spec)
                failed = run["result"] == "Failed"
                status["conditions"] = conditions(
                    spec, failed, run.get("message", ""), run["completionTime"]
                )
            return {**body_of(current), "status": status}

        await self.store.replace(IMAGE_PRUNER, None, NAME, build)
