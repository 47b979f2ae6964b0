"""The operator in ``dockyard serve``'s supervisor: seeds the Config, converges the worker
processes on it, and writes its status.

A thread of the supervisor process polls the Config twice a second. ``replicas`` becomes the
number of workers. When what workers read only at start changes (``httpSecret``, ``storage``
and its credentials, ``disableRedirect``, ``proxy``), they are replaced: one at a time with
``rolloutStrategy: RollingUpdate`` (each new worker serves before an old one stops, so no
request fails), or all at once with ``Recreate``. ``Unmanaged`` leaves the workers as they
are. The supervisor is the one writer of the status: it knows how many workers are ready and
whether a roll is under way.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import SecretStr

from dockyard.auth.access import ANONYMOUS
from dockyard.auth.identities import IdentityService
from dockyard.auth.policy import PolicyService
from dockyard.auth.projects import ProjectService
from dockyard.config.model import Settings
from dockyard.errors import StatusError
from dockyard.metadata.engine import Database
from dockyard.metadata.resources import POD, ResourceStore, body_of
from dockyard.operator import config, routes, storage
from dockyard.operator.config import CONFIG, NAME, SYSTEM_NAMESPACE, ConfigSpec
from dockyard.operator.reconciler import credentials_of, ensure_config, startup_of
from dockyard.operator.status import status_of

POLL_SECONDS = 0.5
STATUS_SECONDS = 5.0
"""How often the storage checks run again although the Config did not change."""

logger = logging.getLogger(__name__)


class Workers(Protocol):
    """The supervisor's processes, as the operator drives them."""

    def count(self) -> int: ...

    def ready(self) -> int: ...

    def processes(self) -> list[tuple[int, bool]]:
        """Each worker slot's process id and whether it is alive."""
        ...

    def scale(self, replicas: int) -> None: ...

    def roll(self) -> None: ...

    def recreate(self) -> None: ...


async def ensure_system_namespaces(db: Database) -> None:
    """``openshift-image-registry`` and ``openshift-config``, where the operator reads secrets
    and config maps, exist from the first start, so the reference's commands work as written."""
    policy = PolicyService(db)
    projects = ProjectService(db, policy, IdentityService(db))
    for namespace in (SYSTEM_NAMESPACE, config.CONFIG_NAMESPACE):
        with contextlib.suppress(StatusError):
            await projects.create_project(namespace, ANONYMOUS)


def seed(settings: Settings) -> int:
    """At start, once: the Config and the system namespaces; the worker count it asks for."""

    async def run() -> int:
        db = Database(settings.database.url)
        try:
            store = ResourceStore(db)
            await ensure_config(store, settings)
            await ensure_system_namespaces(db)
            found = await store.find(CONFIG, None, NAME)
            return config.parse(found).replicas if found is not None else settings.workers
        finally:
            await db.close()

    return asyncio.run(run())


def rollout_key(
    spec: ConfigSpec,
    credentials: dict[str, str] | None,
    settings: Settings,
    trusted_ca: str | None = None,
) -> str:
    """What workers would start with now: when it changes, they are replaced (so a credentials
    secret created for the Config's storage is taken up too). Secrets of the settings' storage
    count by their digest."""
    return json.dumps(
        asdict(startup_of(spec, credentials, settings, trusted_ca)),
        sort_keys=True,
        default=_digest,
    )


def _digest(value: Any) -> str:
    if not isinstance(value, SecretStr):
        raise TypeError(f"{type(value).__name__} is not JSON serializable")
    return hashlib.sha256(value.get_secret_value().encode()).hexdigest()


@dataclass
class Slot:
    """One worker slot as a pod: replaced by a roll (a new pod), or restarted in place."""

    generation: int
    pid: int
    started: float
    restarts: int = 0


def pod(slot: Slot, alive: bool) -> dict[str, Any]:
    """A worker as ``oc get pods`` shows one: phase, readiness, restarts, start time."""
    started = datetime.fromtimestamp(slot.started, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "metadata": {"labels": {"docker-registry": "default"}},
        "spec": {"containers": [{"name": "registry"}]},
        "status": {
            "phase": "Running" if alive else "Pending",
            "startTime": started,
            "containerStatuses": [
                {
                    "name": "registry",
                    "ready": alive,
                    "restartCount": slot.restarts,
                    "state": {"running": {"startedAt": started}} if alive else {"waiting": {}},
                }
            ],
            "message": f"process {slot.pid}",
        },
    }


def _constant(body: dict[str, Any]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda _: body


def overridden(spec: ConfigSpec, settings: Settings) -> list[str]:
    """The process settings that contradict the Config, which wins."""
    found = []
    driver = settings.storage_driver()[0]
    kind = (spec.storage.kinds or [""])[0]
    if {"filesystem": "pvc", "inmemory": "emptyDir"}.get(driver, driver) != kind:
        found.append(f"storage.{driver}: the Config's spec.storage.{kind} is used")
    if spec.http_secret and spec.http_secret != settings.http.secret.get_secret_value():
        found.append("http.secret: the Config's spec.httpSecret is used")
    return found


class Operator:
    """The supervisor's thread: converge the workers, write the status."""

    def __init__(self, settings: Settings, workers: Workers, relay_port: int | None = None) -> None:
        self.settings = settings
        self.workers = workers
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name="operator", daemon=True)
        self._key: str | None = None
        self._rolled_at = 0.0
        self._checked = 0.0
        self._version = ""
        self._generation = 1
        self._slots: list[Slot] = []
        self._pods: dict[str, dict[str, Any]] = {}
        self._route_problems: list[str] = []
        listen = settings.http.tls_bind_address()
        self.routes = (
            None
            if listen is None or relay_port is None
            else routes.RouteListener(listen, ("127.0.0.1", relay_port))
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _main(self) -> None:
        asyncio.run(self._loop())

    async def _loop(self) -> None:
        db = Database(self.settings.database.url)
        store = ResourceStore(db)
        if self.routes is not None:
            await self.routes.start()
        try:
            while not self._stop.is_set():
                try:
                    await self.reconcile(store)
                except Exception:
                    logger.warning("cannot reconcile the registry Config", exc_info=True)
                await asyncio.sleep(POLL_SECONDS)
        finally:
            if self.routes is not None:
                await self.routes.stop()
            await db.close()

    async def reconcile(self, store: ResourceStore) -> None:
        found = await store.find(CONFIG, None, NAME)
        if found is None:
            return
        spec = config.parse(found)
        credentials = await credentials_of(store)
        trusted_ca = await storage.trusted_ca_of(store, spec, self.settings)
        if spec.management_state != "Unmanaged":
            self._converge(spec, rollout_key(spec, credentials, self.settings, trusted_ca))
        progressing = self.workers.count() != self.workers.ready() or (
            time.monotonic() - self._rolled_at < POLL_SECONDS * 4
        )
        await self._write_pods(store)
        version = found["metadata"]["resourceVersion"]
        due = time.monotonic() - self._checked >= STATUS_SECONDS
        if version != self._version or due:
            await self._load_routes(store, spec)
        if version != self._version or due or progressing:
            await self._write_status(store, found, spec, credentials, trusted_ca, progressing)

    async def _load_routes(self, store: ResourceStore, spec: ConfigSpec) -> None:
        """The routes' certificates (again: a secret may have come or changed)."""
        if not spec.routes and not spec.default_route:
            self._route_problems = []
            return
        if self.routes is None:
            self._route_problems = ["routes are served only with http.tlsaddr set"]
            return
        self.routes.certificates, self._route_problems = await routes.load(
            store, spec, self.settings
        )

    def _converge(self, spec: ConfigSpec, key: str) -> None:
        if self.workers.count() != spec.replicas:
            logger.info(
                "scaling the registry",
                extra={"from": self.workers.count(), "replicas": spec.replicas},
            )
            self.workers.scale(spec.replicas)
        if self._key is not None and key != self._key:
            logger.info("replacing the workers", extra={"strategy": spec.rollout_strategy})
            self._rolled_at = time.monotonic()
            self._generation += 1
            if spec.rollout_strategy == "Recreate":
                self.workers.recreate()
            else:
                self.workers.roll()
        self._key = key

    async def _write_pods(self, store: ResourceStore) -> None:
        """Publish the workers as pods of ``openshift-image-registry`` when they change."""
        now = time.time()
        current = self.workers.processes()
        for index, (pid, _) in enumerate(current):
            if index >= len(self._slots):
                self._slots.append(Slot(self._generation, pid, now))
                continue
            slot = self._slots[index]
            if slot.pid == pid:
                continue
            if slot.generation < self._generation:  # replaced by a roll: a new pod
                self._slots[index] = Slot(self._generation, pid, now)
            else:  # the same pod, restarted
                slot.pid, slot.started, slot.restarts = pid, now, slot.restarts + 1
        del self._slots[len(current) :]
        pods = {
            f"image-registry-{slot.generation}-{index}": pod(slot, alive)
            for index, (slot, (_, alive)) in enumerate(zip(self._slots, current, strict=True))
        }
        if pods == self._pods:
            return
        if not self._pods:  # the first round: pods an earlier run left go
            listed = await store.list(POD, SYSTEM_NAMESPACE)
            self._pods = {obj["metadata"]["name"]: {} for obj in listed}
        for name in self._pods.keys() - pods.keys():
            with contextlib.suppress(StatusError):
                await store.delete(POD, SYSTEM_NAMESPACE, name)
        for name, body in pods.items():
            if name not in self._pods:
                await store.create(POD, SYSTEM_NAMESPACE, name, body)
            elif body != self._pods[name]:
                await store.replace(POD, SYSTEM_NAMESPACE, name, _constant(body))
        self._pods = pods

    async def _write_status(
        self,
        store: ResourceStore,
        found: dict[str, Any],
        spec: ConfigSpec,
        credentials: dict[str, str] | None,
        trusted_ca: str | None,
        progressing: bool,
    ) -> None:
        self._checked = time.monotonic()
        self._version = found["metadata"]["resourceVersion"]
        report = storage.check(spec, credentials, self.settings, trusted_ca)
        previous = found.get("status") or {}
        status = status_of(
            spec,
            found["metadata"]["generation"],
            report,
            self.workers.ready(),
            previous,
            progressing=progressing,
            ignored=overridden(spec, self.settings),
            route_problems=self._route_problems,
        )
        if status is previous:
            return
        try:
            updated = await store.replace(
                CONFIG,
                None,
                NAME,
                lambda current: {**body_of(current), "status": status},
                self._version,
            )
        except StatusError as exc:
            if exc.code not in (404, 409):
                raise  # 409: the Config changed meanwhile; the next round sees it
            return
        self._version = updated["metadata"]["resourceVersion"]
