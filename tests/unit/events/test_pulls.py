"""Pull events wait in memory and reach the change log in one insert per flush."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from dockyard.config.model import NotificationsSettings
from dockyard.events.pulls import PullRecorder
from dockyard.metadata.engine import Database
from dockyard.metadata.schema import changes

pytestmark = pytest.mark.anyio

DIGEST = "sha256:" + "ab" * 32
ORIGIN = {"actor": "alice", "request": {"id": "r1", "method": "GET", "useragent": "podman"}}


async def pull_rows(db: Database) -> list[dict[str, object]]:
    async with db.read() as conn:
        query = select(changes).where(changes.c.kind == "Pull").order_by(changes.c.id)
        return [dict(row._mapping) for row in await conn.execute(query)]


async def test_record_buffers_and_flush_appends_in_order(db: Database) -> None:
    flushed: list[int] = []
    recorder = PullRecorder(db, on_flush=lambda: flushed.append(1))
    recorder.record(target="blob", repository="team/app", digest=DIGEST, size=10, origin=ORIGIN)
    recorder.record(
        target="manifest",
        repository="team/app",
        digest=DIGEST,
        size=500,
        media_type="application/vnd.oci.image.manifest.v1+json",
        tag="v1",
        origin=ORIGIN,
    )
    assert await pull_rows(db) == []  # nothing written until a flush
    assert await recorder.flush() == 2
    rows = await pull_rows(db)
    assert [(row["namespace"], row["name"], row["action"]) for row in rows] == [
        ("team/app", DIGEST, "pull"),
        ("team/app", DIGEST, "pull"),
    ]
    blob, manifest = (row["payload"] for row in rows)
    assert isinstance(blob, dict) and isinstance(manifest, dict)
    assert blob["type"] == "blob"
    assert blob["mediaType"] == "application/octet-stream"
    assert manifest["tag"] == "v1"
    assert manifest["actor"] == "alice"
    assert manifest["request"] == ORIGIN["request"]
    assert flushed == [1]
    assert await recorder.flush() == 0


async def test_stop_writes_what_is_left(db: Database) -> None:
    recorder = PullRecorder(db, interval=3600)
    recorder.start()
    recorder.record(target="blob", repository="team/app", digest=DIGEST, size=1)
    await recorder.stop()
    assert len(await pull_rows(db)) == 1


class UnreachableDatabase(Database):
    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        raise OSError("database unreachable")
        yield  # pragma: no cover


async def test_failed_flush_keeps_pulls_and_the_buffer_is_bounded(tmp_path: Path) -> None:
    unreachable = UnreachableDatabase(f"sqlite+aiosqlite:///{tmp_path}/db.sqlite")
    recorder = PullRecorder(unreachable, limit=3)
    for _ in range(5):
        recorder.record(target="blob", repository="team/app", digest=DIGEST, size=1)
    assert recorder.buffered == 3
    with pytest.raises(OSError, match="unreachable"):
        await recorder.flush()
    assert recorder.buffered == 3
    await unreachable.close()


def test_recorder_only_when_an_endpoint_wants_pulls(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/db.sqlite")
    endpoint = {"name": "a", "url": "http://127.0.0.1:1/"}
    none = NotificationsSettings()
    no_pulls = NotificationsSettings.model_validate(
        {"endpoints": [{**endpoint, "ignore": {"actions": ["pull"]}}]}
    )
    disabled = NotificationsSettings.model_validate({"endpoints": [{**endpoint, "disabled": True}]})
    wanted = NotificationsSettings.model_validate({"endpoints": [endpoint]})
    for settings in (none, no_pulls, disabled):
        assert PullRecorder.from_settings(db, settings, None) is None
    assert isinstance(PullRecorder.from_settings(db, wanted, None), PullRecorder)
