"""Webhook delivery from the change log: batches, ignores, retries, leases and metrics.

The dispatcher runs against a real migrated database (SQLite, or PostgreSQL when asked) and an
``httpx.MockTransport`` endpoint; the integration tests do the same with real servers.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from prometheus_client.metrics import MetricWrapperBase

from dockyard.config.model import EndpointSettings, NotificationsSettings
from dockyard.events.delivery import (
    BATCH_SIZE,
    NotificationDispatcher,
    backoff_delay,
    plan_batch,
    settled_prefix,
)
from dockyard.events.model import Source
from dockyard.metadata import changes, events as event_rows
from dockyard.metadata.engine import Database
from dockyard.metadata.events import Change
from dockyard.observability.metrics import (
    NOTIFICATIONS_ERRORS,
    NOTIFICATIONS_EVENTS,
    NOTIFICATIONS_PENDING,
)

pytestmark = pytest.mark.anyio

SOURCE = Source("test:5000", "instance")
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def sample(metric: MetricWrapperBase, **labels: str) -> float:
    """A metric's value read from its own samples: no registry, no exposition endpoint."""
    for family in metric.collect():
        for found in family.samples:
            if found.labels == labels and not found.name.endswith("_created"):
                return float(found.value)
    return 0.0


@dataclass
class Hook:
    """The endpoint: answers ``statuses`` in turn (then 200) and records what it was sent."""

    statuses: list[int] = field(default_factory=list)
    requests: list[tuple[httpx.Request, list[dict[str, Any]], int]] = field(default_factory=list)
    before_answer: Callable[[], Any] | None = None

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        status = self.statuses.pop(0) if self.statuses else 200
        if self.before_answer is not None:
            await self.before_answer()
        self.requests.append((request, json.loads(request.content)["events"], status))
        return httpx.Response(status)

    def delivered(self) -> list[dict[str, Any]]:
        return [e for _, events, status in self.requests if status == 200 for e in events]

    def digests(self) -> list[str]:
        return [event["target"]["digest"] for event in self.delivered()]


def settings(name: str, **options: Any) -> NotificationsSettings:
    endpoint = {
        "name": name,
        "url": "http://hook.test/events",
        "headers": {"Authorization": ["Bearer s3cr3t"]},
        "threshold": 2,
        "backoff": "10ms",
        **options,
    }
    return NotificationsSettings.model_validate({"endpoints": [endpoint]})


def dispatcher(
    db: Database, hook: Hook, config: NotificationsSettings, holder: str = "holder-a"
) -> NotificationDispatcher:
    return NotificationDispatcher(
        db,
        config,
        SOURCE,
        holder=holder,
        transport=httpx.MockTransport(hook),
        lease_renew_every=0.2,
    )


def unique_name() -> str:
    return f"hook-{uuid.uuid4().hex[:8]}"


async def append(db: Database, count: int, action: str = "push", **extra: Any) -> list[str]:
    """Append ``count`` Image changes in one transaction; returns their digests."""
    digests = [f"sha256:{uuid.uuid4().hex}{uuid.uuid4().hex}" for _ in range(count)]
    async with db.write() as conn:
        for digest in digests:
            await append_to(conn, digest, action, **extra)
    return digests


async def append_to(conn: Any, digest: str, action: str = "push", **extra: Any) -> None:
    payload = {
        "repository": "team/app",
        "digest": digest,
        "tag": None,
        "mediaType": OCI_MANIFEST,
        "size": 100,
        "actor": "alice",
        "request": {"id": "r", "method": "PUT", "useragent": "test"},
        **extra,
    }
    await changes.append(
        conn, kind="Image", namespace="team/app", name=digest, action=action, payload=payload
    )


async def eventually(check: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def cursor_of(db: Database, name: str) -> int | None:
    async with db.read() as conn:
        return await event_rows.cursor(conn, name)


# --- pure parts ------------------------------------------------------------------------------


def entry(
    id: int, kind: str = "Image", action: str = "push", media_type: str = OCI_MANIFEST
) -> Change:
    payload = {"repository": "r/a", "digest": f"sha256:{id:064x}", "mediaType": media_type}
    return Change(id, kind, "r/a", payload["digest"], action, payload, 1.7e9)


@pytest.mark.parametrize(
    ("ids", "cursor", "horizon", "settled"),
    [
        ([11, 12, 13], 10, 0, [11, 12, 13]),
        ([11, 13, 14], 10, 0, [11]),  # 12 may still commit
        ([12, 13], 10, 0, []),
        ([12, 13, 15], 10, 13, [12, 13]),  # 11 is settled (rolled back): step over it
        ([12, 13, 14], 10, 12, [12, 13, 14]),
        ([], 10, 0, []),
    ],
)
def test_settled_prefix_stops_at_gaps_until_settled(
    ids: list[int], cursor: int, horizon: int, settled: list[int]
) -> None:
    found = settled_prefix([entry(id) for id in ids], cursor, horizon)
    assert [change.id for change in found] == settled


def test_plan_batch_caps_events_and_steps_over_what_it_skips() -> None:
    endpoint = EndpointSettings(name="e", url="http://h/", ignore={"actions": ["delete"]})
    entries = [entry(11), entry(12, action="delete"), entry(13, kind="ImageStream"), entry(14)]
    batch = plan_batch(entries, 10, endpoint, SOURCE)
    assert batch is not None
    assert [e["target"]["digest"] for e in batch.events] == [entries[0].name, entries[3].name]
    assert batch.end == 14
    only_skipped = plan_batch(entries[1:3], 11, endpoint, SOURCE)
    assert only_skipped is not None and only_skipped.events == [] and only_skipped.end == 13
    assert plan_batch([], 10, endpoint, SOURCE) is None


def test_plan_batch_holds_at_most_batch_size_events() -> None:
    endpoint = EndpointSettings(name="e", url="http://h/")
    entries = [entry(id) for id in range(1, 2 * BATCH_SIZE)]
    batch = plan_batch(entries, 0, endpoint, SOURCE)
    assert batch is not None
    assert len(batch.events) == BATCH_SIZE
    assert batch.end == BATCH_SIZE


def test_backoff_follows_distributions_threshold_then_doubles_to_a_minute() -> None:
    delays = [backoff_delay(failures, threshold=3, backoff=1.0) for failures in range(1, 12)]
    assert delays == [0.0, 0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0]
    assert backoff_delay(1, threshold=1, backoff=90.0) == 90.0
    assert backoff_delay(10_000, threshold=1, backoff=0.5) == 60.0


# --- against a database ----------------------------------------------------------------------


async def test_delivers_changes_after_its_start_not_history(db: Database) -> None:
    name, hook = unique_name(), Hook()
    await append(db, 2)  # history: a new endpoint does not replay it
    notifier = dispatcher(db, hook, settings(name))
    await notifier.start()
    try:
        digests = await append(db, 3)
        await eventually(lambda: len(hook.delivered()) == 3, "three events")
        await eventually(lambda: sample(NOTIFICATIONS_PENDING, endpoint=name) == 0, "pending 0")
    finally:
        await notifier.stop()
    assert hook.digests() == digests
    request = hook.requests[0][0]
    assert request.headers["content-type"] == "application/vnd.docker.distribution.events.v1+json"
    assert request.headers["authorization"] == "Bearer s3cr3t"
    async with db.read() as conn:
        assert await cursor_of(db, name) == await event_rows.latest_change_id(conn)
    assert sample(NOTIFICATIONS_EVENTS, endpoint=name, status="sent") == 3
    assert sample(NOTIFICATIONS_EVENTS, endpoint=name, status="failed") == 0
    assert sample(NOTIFICATIONS_ERRORS, endpoint=name) == 0


async def test_failures_retry_the_same_batch_and_the_cursor_waits_for_2xx(db: Database) -> None:
    name = unique_name()
    cursors: list[int | None] = []
    hook = Hook(statuses=[500, 503, 500, 404])

    async def note_cursor() -> None:
        cursors.append(await cursor_of(db, name))

    hook.before_answer = note_cursor
    notifier = dispatcher(db, hook, settings(name))
    await notifier.start()
    start = await cursor_of(db, name)
    try:
        digests = await append(db, 3)
        await eventually(lambda: len(hook.delivered()) == 3, "delivery after failures")
        await eventually(lambda: sample(NOTIFICATIONS_PENDING, endpoint=name) == 0, "pending 0")
    finally:
        await notifier.stop()
    bodies = [request.content for request, _, _ in hook.requests]
    assert len(bodies) == 5 and len(set(bodies)) == 1, "the same batch, byte for byte"
    assert cursors == [start] * 5, "the cursor moves only after a 2xx"
    assert await cursor_of(db, name) == start + 3 if start is not None else False
    assert hook.digests() == digests
    assert sample(NOTIFICATIONS_EVENTS, endpoint=name, status="failed") == 4 * 3
    assert sample(NOTIFICATIONS_EVENTS, endpoint=name, status="sent") == 3
    assert sample(NOTIFICATIONS_ERRORS, endpoint=name) == 4


async def test_pending_counts_what_waits_while_the_endpoint_fails(db: Database) -> None:
    name = unique_name()
    hook = Hook(statuses=[500] * 1000)
    notifier = dispatcher(db, hook, settings(name, threshold=1, backoff="50ms"))
    await notifier.start()
    try:
        await append(db, 4)
        await eventually(lambda: sample(NOTIFICATIONS_PENDING, endpoint=name) == 4, "pending 4")
        hook.statuses.clear()
        await eventually(lambda: sample(NOTIFICATIONS_PENDING, endpoint=name) == 0, "pending 0")
    finally:
        await notifier.stop()
    assert len(hook.delivered()) == 4


async def test_batches_hold_at_most_fifty_events_in_order(db: Database) -> None:
    name, hook = unique_name(), Hook()
    notifier = dispatcher(db, hook, settings(name))
    await notifier.start()
    try:
        digests = await append(db, 120)
        await eventually(lambda: len(hook.delivered()) == 120, "120 events")
    finally:
        await notifier.stop()
    assert [len(events) for _, events, _ in hook.requests] == [50, 50, 20]
    assert hook.digests() == digests


async def test_ignored_actions_and_media_types_are_skipped(db: Database) -> None:
    name, hook = unique_name(), Hook()
    config = settings(
        name, ignore={"actions": ["delete"]}, ignoredmediatypes=["application/vnd.test+json"]
    )
    notifier = dispatcher(db, hook, config)
    await notifier.start()
    try:
        kept = await append(db, 1)
        await append(db, 1, action="delete")
        await append(db, 1, mediaType="application/vnd.test+json")
        kept += await append(db, 1)
        await eventually(lambda: len(hook.delivered()) == 2, "two events")
        await asyncio.sleep(0.5)
    finally:
        await notifier.stop()
    assert hook.digests() == kept


async def test_one_process_delivers_at_a_time_and_hands_over_on_stop(db: Database) -> None:
    name, hook = unique_name(), Hook()
    config = settings(name)
    notifiers = [dispatcher(db, hook, config, holder=holder) for holder in ("a", "b")]
    for notifier in notifiers:
        await notifier.start()
    appended: list[str] = []
    try:
        for _ in range(10):
            appended += await append(db, 3)
            await asyncio.sleep(0.03)
        await eventually(lambda: len(hook.delivered()) == 30, "30 events")
        holders = [n for n in notifiers if n.deliveries[0].lease.held]
        assert len(holders) == 1
        await holders[0].stop()
        appended += await append(db, 5)
        await eventually(lambda: len(hook.delivered()) >= 35, "events after the handover")
    finally:
        for notifier in notifiers:
            await notifier.stop()
    assert hook.digests() == appended, "each once, in order"


async def test_a_restarted_endpoint_resumes_and_a_disabled_one_starts_afresh(
    db: Database,
) -> None:
    name, hook = unique_name(), Hook()
    notifier = dispatcher(db, hook, settings(name))
    await notifier.start()
    first = await append(db, 1)
    await eventually(lambda: len(hook.delivered()) == 1, "first event")
    await notifier.stop()

    missed_while_down = await append(db, 2)
    notifier = dispatcher(db, hook, settings(name))
    await notifier.start()
    await eventually(lambda: len(hook.delivered()) == 3, "events from while it was down")
    await notifier.stop()
    assert hook.digests() == first + missed_while_down

    await dispatcher(db, hook, settings(name, disabled=True)).start()
    assert await cursor_of(db, name) is None
    await append(db, 2)  # while disabled: never sent
    notifier = dispatcher(db, hook, settings(name))
    await notifier.start()
    try:
        later = await append(db, 1)
        await eventually(lambda: len(hook.delivered()) == 4, "the event after re-enabling")
    finally:
        await notifier.stop()
    assert hook.digests() == first + missed_while_down + later


async def test_an_id_committed_late_is_delivered_in_order(db: Database) -> None:
    """PostgreSQL draws ids before commit: a later id may commit first. It must wait."""
    if not db.url.startswith("postgresql"):
        pytest.skip("SQLite writers are serialised: ids always commit in order")
    name, hook = unique_name(), Hook()
    notifier = dispatcher(db, hook, settings(name))
    await notifier.start()
    try:
        slow_digest = f"sha256:{'1' * 64}"
        async with db.write() as slow:
            await append_to(slow, slow_digest)  # draws id N, commits only at the end
            fast = await append(db, 1)  # id N+1, committed first
            await asyncio.sleep(1.0)
            assert hook.delivered() == [], "N+1 must wait for N"
        await eventually(lambda: len(hook.delivered()) == 2, "both, in id order")
        assert hook.digests() == [slow_digest, *fast]

        with pytest.raises(RuntimeError):
            async with db.write() as rolled_back:
                await append_to(rolled_back, f"sha256:{'2' * 64}")  # id M, never committed
                raise RuntimeError("roll back")
        after = await append(db, 1)
        await eventually(lambda: len(hook.delivered()) == 3, "the gap is stepped over")
        assert hook.digests()[-1:] == after
    finally:
        await notifier.stop()
