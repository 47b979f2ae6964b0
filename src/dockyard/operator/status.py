"""The Config's ``status``: conditions from the spec and the storage report, as OpenShift's
operator words them (``pkg/operator/status.go``), with reasons that say what to do."""

from __future__ import annotations

from typing import Any

from dockyard import __version__
from dockyard.operator import conditions
from dockyard.operator.conditions import Condition
from dockyard.operator.config import ConfigSpec
from dockyard.operator.storage import StorageReport

READY = "The registry is ready"
REMOVED = (
    "The registry is removed: /v2 answers 503 UNAVAILABLE; the resource API stays up."
    " Set spec.managementState to Managed to serve images again"
)
UNMANAGED = "The registry configuration is unmanaged: changes to the Config are not applied"


def conditions_of(
    spec: ConfigSpec,
    storage: StorageReport,
    rolling_out: bool = False,
    ready: int | None = None,
    route_problems: list[str] | None = None,
) -> list[Condition]:
    state = spec.management_state
    rolling = (
        f"{ready} of {spec.replicas} workers are ready"
        if ready is not None and ready != spec.replicas
        else "the workers are being replaced"
    )
    if state == "Removed":
        available = Condition("Available", False, "Removed", REMOVED)
        progressing = Condition("Progressing", False, "Removed", REMOVED)
    elif state == "Unmanaged":
        available = Condition("Available", True, "Unmanaged", UNMANAGED)
        progressing = Condition("Progressing", False, "Unmanaged", UNMANAGED)
    elif not storage.exists:
        available = Condition("Available", False, storage.reason, storage.message)
        progressing = Condition("Progressing", False, "Error", storage.message)
    elif rolling_out:
        available = Condition("Available", bool(ready), "MinimumAvailability", rolling)
        progressing = Condition("Progressing", True, "DeploymentNotCompleted", rolling)
    else:
        available = Condition("Available", True, "Ready", READY)
        progressing = Condition("Progressing", False, "Ready", READY)
    if state == "Removed":
        degraded = Condition("Degraded", False, "Removed", REMOVED)
    elif storage.degraded:
        degraded = Condition("Degraded", True, storage.reason, storage.message)
    elif route_problems:
        degraded = Condition("Degraded", True, "RouteError", "; ".join(route_problems))
    else:
        degraded = Condition("Degraded", False, "AsExpected", "The registry is working as expected")
    removed = Condition(
        "Removed",
        state == "Removed",
        "Removed" if state == "Removed" else "AsExpected",
        REMOVED if state == "Removed" else f"spec.managementState is {state}",
    )
    exists = Condition("StorageExists", storage.exists, storage.reason, storage.message)
    return [available, progressing, degraded, removed, exists]


def status_of(
    spec: ConfigSpec,
    generation: int,
    report: StorageReport,
    ready: int,
    previous: dict[str, Any],
    *,
    progressing: bool = False,
    ignored: list[str] | None = None,
    route_problems: list[str] | None = None,
) -> dict[str, Any]:
    """The new status, or ``previous`` itself when nothing in it would change. ``ignored``:
    process settings the Config overrides, reported rather than silently dropped."""
    found = conditions_of(spec, report, progressing, ready, route_problems or [])
    applied = spec.storage.model_dump(mode="json", by_alias=True, exclude_none=True)
    storage = applied if report.exists else previous.get("storage") or {}
    status = {
        "observedGeneration": generation,
        "readyReplicas": 0 if spec.management_state == "Removed" else ready,
        "version": __version__,
        "storage": storage,
    }
    if ignored:
        status["ignoredSettings"] = ignored
    old_conditions = previous.get("conditions") or []
    if conditions.unchanged(found, old_conditions) and all(
        previous.get(key) == value for key, value in status.items()
    ):
        return previous
    return {**status, "conditions": conditions.render(found, old_conditions)}
