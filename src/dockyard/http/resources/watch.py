"""Watches: a stream of ``{"type", "object"}`` lines built from the change log.

Every change to a watched kind appends to the log in the same transaction as the change itself,
and the entry's id is the object's new resourceVersion; so a watch is a cursor over the log,
polled, that renders each changed object as it is now. Any worker or replica serves any watch,
as all of them read the same log, and a client resumes from the last resourceVersion it saw.

Two things the log can't say directly are recovered here. An object created by a push (or a tag
move into a new stream) is logged as MODIFIED; it is reported ADDED when it had no entry before
(or its last was a deletion). And on PostgreSQL ids are taken before commit, so an entry can
appear behind a newer one; entries of the last few seconds are therefore read again until they
are older than any open write, and each is reported once.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from starlette.responses import JSONResponse, Response, StreamingResponse

from dockyard.errors import StatusError
from dockyard.http.resources.listing import ListQuery
from dockyard.http.resources.objects import JSON, bad_request
from dockyard.metadata import changes

if TYPE_CHECKING:
    from dockyard.http.resources.handlers import Call, Kind

POLL_SECONDS = 0.2
LATE_COMMIT_SECONDS = 5.0
"""How long an entry may take from its insert to its commit and still be streamed."""


def too_large(wanted: int, newest: int) -> Response:
    """Kubernetes' answer to a version it hasn't reached: 504 Timeout, retry in a second."""
    error = StatusError(
        504,
        "Timeout",
        f"Timeout: Too large resource version: {wanted}, current: {newest}",
        {
            "retryAfterSeconds": 1,
            "causes": [
                {"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}
            ],
        },
    )
    return JSONResponse(error.to_json(), 504, headers={"Retry-After": "1"})


def expired(wanted: int, oldest: int) -> StatusError:
    return StatusError(
        410, "Expired", f"too old resource version: {wanted} ({oldest - 1})", {"causes": []}
    )


async def stream(call: Call, kind: Kind[Any, Any], query: ListQuery, name: str | None) -> Response:
    """Check where the watch starts (410, 504 and 400 come before any event), then stream."""
    assert kind.database is not None and kind.changes is not None
    async with kind.database(call).read() as conn:
        newest = await changes.newest(conn)
        oldest = await changes.oldest(conn)
    version = query.resource_version
    if version not in ("", "0"):
        if not version.isdigit():
            raise bad_request(
                f'resourceVersion "{version[:40]}" is not a valid version', "resourceVersion"
            )
        start = int(version)
        if start > newest:
            return too_large(start, newest)
        if oldest is not None and start < oldest - 1:
            raise expired(start, oldest)
        watcher = _Watcher(call, kind, query, name, start, known=False)
        initial: list[JSON] = []
    else:
        watcher = _Watcher(call, kind, query, name, newest, known=True)
        initial = await watcher.existing()
    return StreamingResponse(
        watcher.events(initial),
        media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


def _line(kind: str, obj: JSON) -> bytes:
    return json.dumps({"type": kind, "object": obj}, separators=(",", ":")).encode() + b"\n"


class _Watcher:
    """One watch's cursor and what it has told its client.

    ``visible`` is what the client holds (and matches the selectors): known exactly when the
    watch started with the current objects (``known``); when it resumed, only from what it has
    sent since, and the log's own ADDED/MODIFIED/DELETED stand in for the rest.
    """

    def __init__(
        self,
        call: Call,
        kind: Kind[Any, Any],
        query: ListQuery,
        name: str | None,
        start: int,
        *,
        known: bool,
    ) -> None:
        self.call = call
        self.kind = kind
        self.query = query
        self.name = name
        self.start = start
        self.known = known
        self.visible: dict[tuple[str, str], JSON] = {}
        self.hidden: set[tuple[str, str]] = set()
        self.sent: dict[tuple[str, str], int] = {}

    async def existing(self) -> list[JSON]:
        """The ADDED events a watch from now starts with: every object it selects."""
        kind, call = self.kind, self.call
        one = call.namespace is not None or not kind.namespaced
        if self.name is not None and one and kind.get_one is not None:
            try:
                found = [kind.render(await kind.get_one(call.at(call.namespace, self.name)))]
            except StatusError as exc:
                if exc.code != 404:
                    raise
                found = []
        else:
            assert kind.get_all is not None
            found = [kind.render(obj) for obj in await kind.get_all(call)]
        selected = [obj for obj in found if self.query.selects(obj)]
        for obj in selected:
            key = _key(obj)
            self.visible[key] = obj
            self.sent[key] = _version(obj)
        return selected

    async def events(self, initial: list[JSON]) -> AsyncIterator[bytes]:
        for obj in initial:
            yield _line("ADDED", obj)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.query.timeout
        floor, seen = self.start, set[int]()
        heads: deque[tuple[float, int]] = deque()
        assert self.kind.database is not None and self.kind.changes is not None
        database = self.kind.database(self.call)
        while loop.time() < deadline:
            async with database.read() as conn:
                heads.append((time.time(), await changes.newest(conn)))
                entries = await changes.since_any(
                    conn, floor, (self.kind.changes,), self.call.namespace, self.name
                )
            settled = time.time() - LATE_COMMIT_SECONDS
            while heads and heads[0][0] < settled:
                # The whole log up to a head read that long ago has committed: skip past it
                # even when nothing in it was for this watch.
                floor = max(floor, heads.popleft()[1])
            for entry in entries:
                if entry.id in seen:
                    continue
                seen.add(entry.id)
                line = await self._event(entry)
                if line is not None:
                    yield line
            for entry in entries:
                if entry.created_at < settled:
                    floor = max(floor, entry.id)
            seen = {i for i in seen if i > floor}
            await asyncio.sleep(max(0.0, min(POLL_SECONDS, deadline - loop.time())))

    async def _event(self, entry: Any) -> bytes | None:
        key = (entry.namespace, entry.name)
        if entry.id <= self.sent.get(key, 0):
            return None  # an object already sent as it is at this version or later
        if entry.action == "DELETED":
            return self._deleted(entry, key)
        kind, call = self.kind, self.call
        assert kind.get_one is not None, "a watchable kind can be read"
        try:
            namespace = entry.namespace if kind.namespaced else None
            obj = kind.render(await kind.get_one(call.at(namespace, entry.name)))
        except StatusError as exc:
            if exc.code == 404:
                return None  # deleted since; its DELETED entry follows
            raise
        self.sent[key] = max(entry.id, _version(obj))
        if not self.query.selects(obj):
            self.hidden.add(key)
            if self.visible.pop(key, None) is not None:
                return _line("DELETED", obj)  # it no longer matches: gone from the view
            return None
        self.hidden.discard(key)
        if key in self.visible:
            kind_of_event = "MODIFIED"
        elif self.known or entry.action == "ADDED":
            kind_of_event = "ADDED"
        else:
            kind_of_event = await self._first_or_later(entry)
        self.visible[key] = obj
        return _line(kind_of_event, obj)

    def _deleted(self, entry: Any, key: tuple[str, str]) -> bytes | None:
        self.sent[key] = entry.id
        last = self.visible.pop(key, None)
        if last is None and (self.known or key in self.hidden):
            return None  # the client never saw it
        self.hidden.discard(key)
        if last is None:
            last = {
                "kind": self.kind.kind,
                "apiVersion": self.kind.api_version,
                "metadata": {"name": entry.name},
            }
            if self.kind.namespaced:
                last["metadata"]["namespace"] = entry.namespace
        obj = {**last, "metadata": {**last["metadata"], "resourceVersion": str(entry.id)}}
        if not self.query.fields.matches(obj):
            return None  # (labels can't be told of an object never seen: it is reported)
        return _line("DELETED", obj)

    async def _first_or_later(self, entry: Any) -> str:
        assert self.kind.database is not None
        async with self.kind.database(self.call).read() as conn:
            before = await changes.previous_action(
                conn, entry.kind, entry.namespace, entry.name, entry.id
            )
        return "ADDED" if before in (None, "DELETED") else "MODIFIED"


def _key(obj: JSON) -> tuple[str, str]:
    metadata = obj.get("metadata", {})
    return str(metadata.get("namespace", "")), str(metadata.get("name", ""))


def _version(obj: JSON) -> int:
    text = str(obj.get("metadata", {}).get("resourceVersion", ""))
    return int(text) if text.isdigit() else 0
