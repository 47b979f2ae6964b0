"""Distribution's notification envelope, built from change-log entries.

The shape is Distribution's ``notifications/event.go`` (media type ``…events.v1+json``, the one
its 2.x releases send), so receivers written for it work unchanged: empty fields are left out,
except ``request.id``, ``request.method`` and ``request.useragent``, which Go always writes.

Two choices differ from Distribution for the sake of at-least-once delivery: an event's ``id`` is
derived from its change-log entry, so a redelivered event carries the same id and receivers can
drop duplicates; and ``source`` names the process that delivered the event, which is not always
the one that served the request (the change log does not record that).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dockyard.metadata.events import Change

EVENTS_MEDIA_TYPE = "application/vnd.docker.distribution.events.v1+json"
BLOB_MEDIA_TYPE = "application/octet-stream"
"""What Distribution reports for a blob pull: blobs carry no media type of their own."""

IMAGE_KIND = "Image"
PULL_KIND = "Pull"
KINDS = (IMAGE_KIND, PULL_KIND)
"""The change-log kinds that become events."""

_EVENT_IDS = uuid.UUID("5d0c6b0e-4a8e-4b51-9d36-5f3a1c0e7a21")


@dataclass(frozen=True, slots=True)
class Source:
    """The registry node that generates events: ``host:port`` and an id that changes on
    every start."""

    addr: str
    instance_id: str


def event_id(change: Change) -> str:
    """The same for every delivery of one change, and unique across registries in practice:
    it covers the entry's id, time and subject."""
    key = f"{change.id}/{change.created_at!r}/{change.kind}/{change.namespace}/{change.name}"
    return str(uuid.uuid5(_EVENT_IDS, key))


def timestamp(seconds: float) -> str:
    """RFC 3339 in UTC, with microseconds (Go writes up to nanoseconds; both parse alike)."""
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def build_event(
    change: Change,
    source: Source,
    *,
    base_url: str = "",
    references: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
) -> dict[str, Any] | None:
    """The event for one change-log entry, or None for entries that are not events.

    ``base_url`` is the registry's external URL (``http.host``) for ``target.url``; without it,
    the ``Host`` the client used, over plain HTTP. ``references``, when given (the
    ``includereferences`` setting), maps manifest digests to the descriptors they reference.
    """
    payload = change.payload
    if change.kind == IMAGE_KIND and change.action == "push":
        action, target = "push", _manifest_target(payload, base_url, references)
    elif change.kind == IMAGE_KIND and change.action == "delete":
        action, target = "delete", {"digest": payload.get("digest") or change.name}
    elif change.kind == IMAGE_KIND and change.action == "untag":
        action, target = "delete", {"tag": payload.get("tag") or change.name}
    elif change.kind == PULL_KIND and change.action == "pull":
        action = "pull"
        if payload.get("type") == "blob":
            target = _descriptor(payload, base_url, "blobs")
        else:
            target = _manifest_target(payload, base_url, references)
    else:
        return None
    target["repository"] = payload.get("repository") or change.namespace
    request = payload.get("request") or {}
    event: dict[str, Any] = {
        "id": event_id(change),
        "timestamp": timestamp(float(payload.get("timestamp") or change.created_at)),
        "action": action,
        "target": {key: target[key] for key in _TARGET_ORDER if target.get(key)},
        "request": {
            "id": str(request.get("id", "")),
            **{key: str(request[key]) for key in ("addr", "host") if request.get(key)},
            "method": str(request.get("method", "")),
            "useragent": str(request.get("useragent", "")),
        },
        "actor": {"name": str(payload["actor"])} if payload.get("actor") else {},
        "source": {"addr": source.addr, "instanceID": source.instance_id},
    }
    return event


_TARGET_ORDER = (
    "mediaType",
    "size",
    "digest",
    "length",
    "repository",
    "url",
    "tag",
    "references",
)


def _descriptor(payload: Mapping[str, Any], base_url: str, route: str) -> dict[str, Any]:
    digest = str(payload.get("digest", ""))
    size = int(payload.get("size") or 0)
    target: dict[str, Any] = {
        "mediaType": payload.get("mediaType"),
        "size": size,
        "digest": digest,
        "length": size,
    }
    root = base_url.rstrip("/") or _request_root(payload)
    if root and digest:
        target["url"] = f"{root}/v2/{payload.get('repository', '')}/{route}/{digest}"
    return target


def _manifest_target(
    payload: Mapping[str, Any],
    base_url: str,
    references: Mapping[str, Sequence[Mapping[str, Any]]] | None,
) -> dict[str, Any]:
    target = _descriptor(payload, base_url, "manifests")
    if payload.get("tag"):
        target["tag"] = payload["tag"]
    if references is not None:
        target["references"] = [dict(item) for item in references.get(target["digest"], ())]
    return target


def _request_root(payload: Mapping[str, Any]) -> str:
    host = (payload.get("request") or {}).get("host")
    return f"http://{host}" if host else ""


def is_ignored(
    event: Mapping[str, Any], media_types: Collection[str], actions: Collection[str]
) -> bool:
    """Distribution's ``ignoredSink``: drop events by action, or by target media type (events
    without one, deletes, are never dropped by media type)."""
    if event["action"] in actions:
        return True
    media_type = event["target"].get("mediaType")
    return media_type is not None and media_type in media_types


def envelope(events: Sequence[Mapping[str, Any]]) -> bytes:
    """The request body: ``{"events": [...]}``."""
    return json.dumps({"events": list(events)}, separators=(",", ":")).encode()
