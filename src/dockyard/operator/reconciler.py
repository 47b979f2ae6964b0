"""The Config as each worker follows it.

Every worker polls the Config's resourceVersion (one indexed read, twice a second), so a change
made through any worker or replica applies everywhere within a second, without a restart: the
management state, ``readOnly``, the request limits, the log level and the routes' public host
are swapped in as one ``RegistryState`` that the middleware reads per request. Status is
written by the supervisor (``operator.supervision``), which knows the workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from dataclasses import dataclass, field
from typing import Any

from dockyard.config.model import Settings
from dockyard.errors import StatusError
from dockyard.metadata.resources import SECRET, ResourceStore
from dockyard.observability import metrics
from dockyard.operator import config, routes, storage
from dockyard.operator.config import CONFIG, CREDENTIALS_SECRET, NAME, SYSTEM_NAMESPACE, ConfigSpec
from dockyard.operator.limits import Limit, RequestLimiter

NO_LIMIT = Limit()
POLL_SECONDS = 0.5
LOG_LEVELS = {"Normal": None, "Debug": logging.DEBUG, "Trace": logging.DEBUG, "TraceAll": 1}
"""``logLevel`` to Python levels; Normal is the process settings' ``log.level``."""

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RegistryState:
    """What the workers enforce per request; the defaults are a registry without a Config."""

    management_state: str = "Managed"
    read_only: bool = False
    read: Limit = NO_LIMIT
    write: Limit = NO_LIMIT
    log_level: str = "Normal"
    public_host: str = ""
    """Where clients outside pull from (a route's host), for image streams; empty: nowhere."""

    @property
    def removed(self) -> bool:
        return self.management_state == "Removed"


def _limit(limits: config.Limits) -> Limit:
    return Limit(
        limits.max_running, limits.max_in_queue, config.seconds(limits.max_wait_in_queue) or 0.0
    )


def state_of(spec: ConfigSpec, public_host: str = "") -> RegistryState:
    return RegistryState(
        management_state=spec.management_state,
        read_only=spec.read_only,
        read=_limit(spec.requests.read),
        write=_limit(spec.requests.write),
        log_level=spec.log_level,
        public_host=public_host,
    )


async def ensure_config(store: ResourceStore, settings: Settings) -> None:
    """Create the Config from the process settings unless there is one."""
    if await store.find(CONFIG, None, NAME) is not None:
        return
    body = {"spec": config.dump(config.seed(settings))}
    with contextlib.suppress(StatusError):  # another process made it first
        await store.create(CONFIG, None, NAME, body)


@dataclass(frozen=True)
class Startup:
    """What a worker reads from the Config once, when it starts (a change replaces workers)."""

    http_secret: str
    driver: str
    params: dict[str, Any]
    redirect: bool
    proxy: dict[str, str] = field(default_factory=dict)
    """Environment variables of the Config's ``proxy``, for every outbound client."""


def proxy_environment(proxy: config.Proxy) -> dict[str, str]:
    """``spec.proxy`` as the variables HTTP clients read, in both spellings (the lowercase one
    wins where both are set); an empty field leaves the process's own variable in force."""
    variables = {"HTTP_PROXY": proxy.http, "HTTPS_PROXY": proxy.https, "NO_PROXY": proxy.no_proxy}
    found = {name: value for name, value in variables.items() if value}
    return {**found, **{name.lower(): value for name, value in found.items()}}


def apply_proxy(start: Startup) -> None:
    """Put the Config's proxy into this worker's environment, where imports, pull-through and
    webhook deliveries read it each time they open a client."""
    os.environ.update(start.proxy)


def startup_of(
    spec: ConfigSpec | None,
    credentials: dict[str, str] | None,
    settings: Settings,
    trusted_ca: str | None = None,
) -> Startup:
    """The Config's ``httpSecret``, storage, ``disableRedirect`` and ``proxy``, over the settings;
    storage the Config can't have yet (its status says why) stays the settings'. ``trusted_ca``
    is the file of the S3 ``trustedCA`` bundle (``storage.trusted_ca_of``)."""
    driver, params = settings.storage_driver()
    secret = settings.http.secret.get_secret_value()
    redirect = not settings.storage.redirect.disable
    if spec is None:
        return Startup(secret, driver, params, redirect)
    chosen = storage.driver_of(spec, credentials, settings, trusted_ca)
    driver, params = chosen or (driver, params)
    return Startup(
        spec.http_secret or secret,
        driver,
        params,
        redirect and not spec.disable_redirect,
        proxy_environment(spec.proxy),
    )


async def credentials_of(store: ResourceStore) -> dict[str, str] | None:
    """The data of the storage credentials secret (base64 values), None when there is none."""
    found = await store.find(SECRET, SYSTEM_NAMESPACE, CREDENTIALS_SECRET)
    return None if found is None else dict(found.get("data") or {})


async def startup(store: ResourceStore, settings: Settings) -> Startup:
    """What this worker starts with (``startup_of`` the current Config)."""
    await ensure_config(store, settings)
    found = await store.find(CONFIG, None, NAME)
    if found is None:
        return startup_of(None, await credentials_of(store), settings)
    spec = config.parse(found)
    trusted_ca = await storage.trusted_ca_of(store, spec, settings)
    return startup_of(spec, await credentials_of(store), settings, trusted_ca)


class Reconciler:
    """One worker's view of the Config: the state in force, its limiters, and the status loop."""

    def __init__(self, store: ResourceStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.state = RegistryState()
        self.read_limiter = RequestLimiter(self.state.read)
        self.write_limiter = RequestLimiter(self.state.write)
        self._version: int | None = None
        self._seen: bytes | None = None
        self._applied = False
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await ensure_config(self.store, self.settings)
        await self.sync()
        self._task = asyncio.create_task(self._run(), name="config-reconciler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(POLL_SECONDS)
            try:
                await self.sync()
            except Exception:
                logger.warning("cannot reconcile the registry Config", exc_info=True)

    async def sync(self) -> None:
        """Apply the Config when it changed. While nothing at all was written (the metadata
        epoch stands), not even the database is asked."""
        epoch = self.store.db.epoch.current()
        if epoch is not None and epoch == self._seen:
            return
        version = await self.store.version(CONFIG, None, NAME)
        if version is not None and version != self._version:
            found = await self.store.find(CONFIG, None, NAME)
            if found is not None:
                self._version = int(found["metadata"]["resourceVersion"])
                self._apply(config.parse(found))
        self._seen = epoch

    def _apply(self, spec: ConfigSpec) -> None:
        """Swap in the spec's state; Unmanaged leaves what runs as it is."""
        if spec.management_state == "Unmanaged" and self._applied:
            return
        new = state_of(spec, routes.public_host(spec, self.settings))
        if new.read != self.state.read:
            self.read_limiter = RequestLimiter(new.read)
        if new.write != self.state.write:
            self.write_limiter = RequestLimiter(new.write)
        if new.log_level != self.state.log_level:
            level = LOG_LEVELS[new.log_level] or self.settings.log.level.upper()
            logging.getLogger().setLevel(level)
        if new != self.state:
            logger.info(
                "registry Config applied",
                extra={
                    "managementState": new.management_state,
                    "readOnly": new.read_only,
                    "logLevel": new.log_level,
                },
            )
        metrics.REMOVED.set(1 if new.removed else 0)
        self.state = new
        self._applied = True
