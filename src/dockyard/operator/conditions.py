"""Status conditions as OpenShift's operators write them: a transition time that moves only
when the status does, so ``SINCE`` tells how long a registry has been degraded."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

TYPES = ("Available", "Progressing", "Degraded", "Removed", "StorageExists")


@dataclass(frozen=True)
class Condition:
    type: str
    status: bool
    reason: str
    message: str

    def same_as(self, rendered: dict[str, Any]) -> bool:
        return (
            rendered.get("status") == _status(self.status)
            and rendered.get("reason") == self.reason
            and rendered.get("message") == self.message
        )


def _status(value: bool) -> str:
    return "True" if value else "False"


def _now() -> str:
    return datetime.fromtimestamp(time.time(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def render(conditions: list[Condition], previous: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The conditions as status JSON; each keeps its ``lastTransitionTime`` while its status
    stays the same."""
    before = {entry.get("type"): entry for entry in previous if isinstance(entry, dict)}
    rendered = []
    for condition in conditions:
        old = before.get(condition.type) or {}
        since = old.get("lastTransitionTime")
        if old.get("status") != _status(condition.status) or not since:
            since = _now()
        rendered.append(
            {
                "type": condition.type,
                "status": _status(condition.status),
                "lastTransitionTime": since,
                "reason": condition.reason,
                "message": condition.message,
            }
        )
    return rendered


def unchanged(conditions: list[Condition], previous: list[dict[str, Any]]) -> bool:
    before = {entry.get("type"): entry for entry in previous if isinstance(entry, dict)}
    return len(before) == len(conditions) and all(
        condition.same_as(before.get(condition.type) or {}) for condition in conditions
    )
