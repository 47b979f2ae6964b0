"""Webhook delivery: the change log is the outbox, each endpoint a cursor into it.

An event exists exactly when its change committed, so nothing is queued in memory that a crash
could lose. For each endpoint, one process of the whole cluster delivers at a time: whichever
holds the endpoint's lease (a row renewed every few seconds, on SQLite and PostgreSQL alike).
The holder reads the entries after the endpoint's cursor, POSTs them in Distribution's envelope
(at most ``BATCH_SIZE`` events each) and moves the cursor only once the endpoint answered 2xx.
Over HTTPS, the endpoint's certificate is checked against the system's CAs plus the bundle that
the cluster image config's ``additionalTrustedCA`` gives its host, read again every few seconds.
A failed batch is retried as it is, never skipped, so each endpoint sees events in log order:
after ``threshold`` failures in a row it waits ``backoff``, doubling up to a minute, as
Distribution's breaker does.

At least once, not exactly once: a batch is sent again when its sender dies (or loses its lease
while stalled) after the endpoint accepted it but before the cursor moved. Event ids are stable
across such redeliveries, so receivers can drop duplicates.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncConnection

from dockyard.config.model import EndpointSettings, NotificationsSettings, Settings
from dockyard.events.leases import (
    LEASE_MARGIN,
    LEASE_RENEW_EVERY,
    LEASE_TTL,
    Lease,
    process_holder,
)
from dockyard.events.model import (
    EVENTS_MEDIA_TYPE,
    IMAGE_KIND,
    KINDS,
    PULL_KIND,
    Source,
    build_event,
    envelope,
    is_ignored,
)
from dockyard.metadata import events as event_rows
from dockyard.metadata.engine import Database
from dockyard.metadata.events import Change
from dockyard.metadata.resources import ResourceStore
from dockyard.observability.metrics import (
    NOTIFICATIONS_ERRORS,
    NOTIFICATIONS_EVENTS,
    NOTIFICATIONS_PENDING,
)
from dockyard.operator.trust import TrustedCAs, bundle_for, client_context

BATCH_SIZE = 50
READ_LIMIT = 500
POLL_INTERVAL = 0.2
MAX_BACKOFF = 60.0
GAP_WAIT = 0.5
"""How long an id missing after the cursor may be in flight before ``settle`` is asked."""
SETTLE_RETRY = 2.0
PENDING_REFRESH = 1.0
RETRY_AFTER_ERROR = 1.0
STOP_GRACE = 5.0
"""Beyond the endpoint's timeout, how long stopping waits for a cursor write."""

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Batch:
    """What one POST carries, and the cursor once it is accepted (past skipped entries too)."""

    end: int
    events: list[dict[str, Any]] = field(default_factory=list)


def settled_prefix(changes: Sequence[Change], cursor: int, horizon: int) -> list[Change]:
    """The entries after ``cursor`` that no in-flight write can still precede.

    Ids up to ``horizon`` are final (see ``metadata.events.settle``); past it, an entry is
    taken only while ids run on without a gap, since a missing id may still commit.
    """
    edge = max(cursor, horizon)
    settled: list[Change] = []
    for change in changes:
        if change.id > edge + 1:
            break
        settled.append(change)
        edge = max(edge, change.id)
    return settled


def plan_batch(
    changes: Sequence[Change],
    cursor: int,
    endpoint: EndpointSettings,
    source: Source,
    *,
    base_url: str = "",
    references: dict[str, list[dict[str, Any]]] | None = None,
    limit: int = BATCH_SIZE,
) -> Batch | None:
    """The next batch from settled entries: their events, less the ignored ones, up to
    ``limit``; None when there is nothing after ``cursor``."""
    media_types, actions = endpoint.ignored_media_types, frozenset(endpoint.ignore.actions)
    batch = Batch(end=cursor)
    for change in changes:
        event = build_event(change, source, base_url=base_url, references=references)
        if event is not None and not is_ignored(event, media_types, actions):
            if len(batch.events) == limit:
                break
            batch.events.append(event)
        batch.end = change.id
    return batch if batch.end > cursor else None


def backoff_delay(failures: int, threshold: int, backoff: float) -> float:
    """Seconds to wait before the next try: none until ``threshold`` failures in a row, then
    ``backoff``, doubling with each further failure up to a minute (or ``backoff`` if longer)."""
    if failures < threshold:
        return 0.0
    return float(min(backoff * 2 ** min(failures - threshold, 32), max(MAX_BACKOFF, backoff)))


class EndpointClient:
    """The HTTP client of one endpoint, made anew when the CA bundle for its host changes."""

    def __init__(
        self,
        endpoint: EndpointSettings,
        *,
        trust: TrustedCAs | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.endpoint = endpoint
        url = httpx.URL(endpoint.url)
        self.trust = trust if url.scheme == "https" else None
        self.host, self.port = url.host, url.port
        self.transport = transport
        self._client: httpx.AsyncClient | None = None
        self._bundle: str | None = None

    async def current(self) -> httpx.AsyncClient:
        bundle = None
        if self.trust is not None:
            bundle = bundle_for(await self.trust.bundles(), self.host, self.port)
        if self._client is None or bundle != self._bundle:
            await self.aclose()
            self._client = httpx.AsyncClient(
                timeout=self.endpoint.timeout,
                follow_redirects=False,
                transport=self.transport,
                verify=self._verify(bundle),
            )
            self._bundle = bundle
        return self._client

    def _verify(self, bundle: str | None) -> ssl.SSLContext | bool:
        if bundle is None:
            return True
        try:
            return client_context(bundle)
        except ValueError:
            # Sends then fail verification, with the reason in their warnings, and are retried.
            logger.warning(
                "trusted CA bundle is not a PEM certificate; using the system CAs alone",
                extra={"endpoint": self.endpoint.name, "host": self.host},
            )
            return True

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()


class EndpointDelivery:
    """Delivers the change log to one endpoint while this process holds its lease."""

    def __init__(
        self,
        db: Database,
        endpoint: EndpointSettings,
        source: Source,
        *,
        holder: str,
        base_url: str = "",
        include_references: bool = False,
        trust: TrustedCAs | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        lease_ttl: float = LEASE_TTL,
        lease_renew_every: float = LEASE_RENEW_EVERY,
    ) -> None:
        self.db = db
        self.endpoint = endpoint
        self.name = endpoint.name
        self.source = source
        self.base_url = base_url
        self.include_references = include_references
        self.client = EndpointClient(endpoint, trust=trust, transport=transport)
        # Long enough that a send which starts with the lease held ends before it lapses.
        ttl = max(lease_ttl, endpoint.timeout + lease_renew_every + 2 * LEASE_MARGIN)
        self.lease = Lease(
            db, f"notifications/{endpoint.name}", holder, ttl=ttl, renew_every=lease_renew_every
        )
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._cursor: int | None = None
        self._batch: Batch | None = None
        self._failures = 0
        self._retry_at = 0.0
        self._horizon = 0
        self._gap_since: float | None = None
        self._settle_after = 0.0
        self._pending_at = 0.0

    def wake(self) -> None:
        """Look at the log now instead of at the next poll (after a local change)."""
        self._wake.set()

    def stop_soon(self) -> None:
        """Finish the send in flight (and move the cursor after it), then return from ``run``:
        stopping mid-send would make the next holder send that batch again."""
        self._stopping.set()
        self._wake.set()

    async def run(self) -> None:
        keeper = asyncio.create_task(self.lease.keep(), name=f"lease {self.lease.name}")
        try:
            while not self._stopping.is_set():
                try:
                    await self.step(await self.client.current())
                except Exception:
                    logger.warning(
                        "notifications delivery interrupted",
                        extra={"endpoint": self.name},
                        exc_info=True,
                    )
                    self._reset()
                    await self._pause(RETRY_AFTER_ERROR)
        finally:
            await self.client.aclose()
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
            await self.lease.release()

    async def step(self, client: httpx.AsyncClient) -> None:
        """One turn: wait for the lease, read a batch, or send it."""
        if not self.lease.held:
            self._reset()
            await self._idle(self.lease.acquire_every / 2)
            return
        if self._cursor is None:
            async with self.db.write() as conn:
                self._cursor = await event_rows.start_cursor(conn, self.name)
        if self._batch is None:
            self._batch = await self._next_batch(self._cursor)
            if self._batch is None:
                await self._idle(POLL_INTERVAL)
                return
        wait = self._retry_at - time.monotonic()
        if wait > 0:
            await self._pause(wait)
            return
        if not self._batch.events:
            await self._advance(self._batch)
            return
        if self.lease.remaining() <= self.endpoint.timeout:
            await self._pause(POLL_INTERVAL)  # the lease is being renewed, or has been lost
            return
        await self._send(client, self._batch)

    def _reset(self) -> None:
        """Forget what was read: the next holder, maybe this process again, reads the cursor."""
        self._cursor, self._batch = None, None
        self._failures, self._retry_at = 0, 0.0
        self._gap_since = None
        with contextlib.suppress(KeyError):
            NOTIFICATIONS_PENDING.remove(self.name)

    async def _idle(self, seconds: float) -> None:
        """Wait for a wake-up (a local change, or stopping), at most ``seconds``."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def _pause(self, seconds: float) -> None:
        """Wait ``seconds`` unless stopping."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _next_batch(self, cursor: int) -> Batch | None:
        self._wake.clear()
        references = None
        async with self.db.read() as conn:
            changes = await event_rows.changes_after(conn, cursor, READ_LIMIT)
            await self._update_pending(conn, cursor, bool(changes))
            settled = settled_prefix(changes, cursor, self._horizon)
            if self.include_references and settled:
                digests = [c.name for c in settled if c.kind in (IMAGE_KIND, PULL_KIND)]
                references = await event_rows.references_of(conn, digests)
        if changes and not settled:
            await self._settle_gap()
            return None
        self._gap_since = None
        return plan_batch(
            settled,
            cursor,
            self.endpoint,
            self.source,
            base_url=self.base_url,
            references=references,
        )

    async def _update_pending(self, conn: AsyncConnection, cursor: int, any_after: bool) -> None:
        now = time.monotonic()
        if not any_after:
            NOTIFICATIONS_PENDING.labels(self.name).set(0)
        elif now - self._pending_at >= PENDING_REFRESH:
            count = await event_rows.count_changes_after(conn, cursor, KINDS)
            NOTIFICATIONS_PENDING.labels(self.name).set(count)
        else:
            return
        self._pending_at = now

    async def _settle_gap(self) -> None:
        """The id after the cursor is missing: in flight, or rolled back for good. After
        ``GAP_WAIT``, wait for writers to finish so the next read knows which."""
        now = time.monotonic()
        if self._gap_since is None:
            self._gap_since = now
        if now - self._gap_since < GAP_WAIT or now < self._settle_after:
            return
        self._settle_after = now + SETTLE_RETRY
        try:
            async with self.db.write() as conn:
                self._horizon = await event_rows.settle(conn)
        except Exception:
            logger.warning(
                "change log writers still busy", extra={"endpoint": self.name}, exc_info=True
            )
            return
        self._gap_since = None

    async def _send(self, client: httpx.AsyncClient, batch: Batch) -> None:
        count = len(batch.events)
        status: int | None = None
        try:
            async with asyncio.timeout(self.endpoint.timeout):
                response = await client.post(
                    self.endpoint.url,
                    content=envelope(batch.events),
                    headers=[("Content-Type", EVENTS_MEDIA_TYPE), *self.endpoint.header_values()],
                )
            status = response.status_code
            reason = f"status {status}"
        except (httpx.HTTPError, OSError, TimeoutError) as exc:
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if status is not None and 200 <= status < 300:
            NOTIFICATIONS_EVENTS.labels(self.name, "sent").inc(count)
            logger.info(
                "notifications delivered",
                extra={"endpoint": self.name, "events": count, "status": status},
            )
            await self._advance(batch)
            return
        self._failures += 1
        delay = backoff_delay(self._failures, self.endpoint.threshold, self.endpoint.backoff)
        self._retry_at = time.monotonic() + delay
        NOTIFICATIONS_EVENTS.labels(self.name, "failed").inc(count)
        NOTIFICATIONS_ERRORS.labels(self.name).inc()
        logger.warning(
            "notifications not delivered",
            extra={
                "endpoint": self.name,
                "events": count,
                "reason": reason,
                "failures": self._failures,
                "retry_in": f"{delay:.3f}s",
            },
        )

    async def _advance(self, batch: Batch) -> None:
        assert self._cursor is not None
        async with self.db.write() as conn:
            moved = await event_rows.advance_cursor(conn, self.name, self._cursor, batch.end)
        if not moved:
            # Another process took over (this one stalled past its lease): start again from
            # the cursor it left. The batch may reach the endpoint twice.
            logger.warning("notifications cursor moved elsewhere", extra={"endpoint": self.name})
            self._reset()
            return
        self._cursor, self._batch = batch.end, None
        self._failures, self._retry_at = 0, 0.0


class NotificationDispatcher:
    """Runs one ``EndpointDelivery`` per enabled endpoint in this process's event loop."""

    def __init__(
        self,
        db: Database,
        settings: NotificationsSettings,
        source: Source,
        *,
        base_url: str = "",
        holder: str | None = None,
        trust: TrustedCAs | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        lease_ttl: float = LEASE_TTL,
        lease_renew_every: float = LEASE_RENEW_EVERY,
    ) -> None:
        self.db = db
        self.settings = settings
        # httpx narrates every request at INFO, with its URL (which may carry a token); only
        # its warnings belong in the registry's log. Deliveries log their own outcome.
        logging.getLogger("httpx").setLevel(logging.WARNING)
        holder = holder or process_holder()
        self.deliveries = [
            EndpointDelivery(
                db,
                endpoint,
                source,
                holder=holder,
                base_url=base_url,
                include_references=settings.events.includereferences,
                trust=trust,
                transport=transport,
                lease_ttl=lease_ttl,
                lease_renew_every=lease_renew_every,
            )
            for endpoint in settings.enabled
        ]
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def from_settings(cls, db: Database, settings: Settings) -> NotificationDispatcher | None:
        """None when no endpoint is configured: nothing to run. HTTPS endpoints trust what the
        cluster image config adds to the system's CAs."""
        if not settings.notifications.endpoints:
            return None
        _, port = settings.http.bind_address()
        source = Source(f"{socket.gethostname()}:{port}", str(uuid.uuid4()))
        base_url = (settings.http.host or "").rstrip("/")
        trust = TrustedCAs(ResourceStore(db))
        return cls(db, settings.notifications, source, base_url=base_url, trust=trust)

    async def start(self) -> None:
        """Place the cursors, then deliver in the background.

        Cursors are placed before the worker serves a request, so a new endpoint starts at the
        end of the log as it stood when the registry first ran with it, and no change served
        afterwards can fall before its start. A disabled endpoint gets no events, as in
        Distribution: its cursor is dropped, so enabled again it starts at the end of the log
        instead of replaying what it was spared.
        """
        if self._task is not None:
            return
        async with self.db.write() as conn:
            for endpoint in self.settings.endpoints:
                if endpoint.disabled:
                    await event_rows.forget_cursor(conn, endpoint.name)
                else:
                    await event_rows.start_cursor(conn, endpoint.name)
        self._task = asyncio.create_task(self._run(), name="notifications")

    def wake(self) -> None:
        for delivery in self.deliveries:
            delivery.wake()

    async def stop(self) -> None:
        """Stop after the sends in flight, then release the leases so that another process
        takes over at once; cancel whatever has not stopped within the endpoints' timeout."""
        task, self._task = self._task, None
        if task is None:
            return
        for delivery in self.deliveries:
            delivery.stop_soon()
        timeouts = [delivery.endpoint.timeout for delivery in self.deliveries]
        await asyncio.wait({task}, timeout=max(timeouts, default=0) + STOP_GRACE)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _run(self) -> None:
        await asyncio.gather(*(delivery.run() for delivery in self.deliveries))
