"""How objects print in ``get``: tables per kind and ages, as ``oc`` prints them.

Every function takes ``now`` so that output is a pure function of the object (tests pin it).
Ages come in ``oc``'s two styles: the AGE column's ``5s``/``2m30s``/``4d`` (kubectl's
``HumanDuration``) and the image commands' ``5 seconds ago``/``About a minute ago`` (the
``go-units`` wording ``oc get is`` and ``oc describe is`` use).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from dockyard.cli import projects, users
from dockyard.cli.client import JSON
from dockyard.cli.verbs import Column, metadata_name

TAGS_SHOWN = 4
"""``oc get is`` lists this many tags, then ``+ N more...``."""

# --- time --------------------------------------------------------------------------------------


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 timestamp (``2024-05-01T10:00:00Z``), or None when absent or malformed."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def short_age(seconds: float) -> str:
    """kubectl's AGE column: ``45s``, ``2m30s``, ``17m``, ``5h10m``, ``3d4h``, ``400d``,
    ``2y5d``."""
    if seconds < -1:
        return "<invalid>"
    whole = max(int(seconds), 0)
    if whole < 120:
        return f"{whole}s"
    minutes = whole // 60
    if minutes < 10:
        return f"{minutes}m{whole % 60}s" if whole % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if hours < 24 * 8:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    if hours < 24 * 365 * 2:
        return f"{days}d"
    years, rest = divmod(days, 365)
    if hours < 24 * 365 * 8 and rest:
        return f"{years}y{rest}d"
    return f"{years}y"


def human_duration(seconds: float) -> str:
    """``go-units``' words: ``Less than a second``, ``5 seconds``, ``About a minute``,
    ``2 minutes``, ``About an hour``, ``3 hours``, ``4 days``, ``2 weeks``, ``3 months``,
    ``2 years``."""
    whole = int(seconds)
    if whole < 1:
        return "Less than a second"
    if whole == 1:
        return "1 second"
    if whole < 60:
        return f"{whole} seconds"
    minutes = whole // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = round(seconds / 3600)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds // 3600) // 24 // 365} years"


def ago(value: Any, now: datetime) -> str:
    """``5 seconds ago`` for a timestamp; empty when there is none."""
    moment = parse_time(value)
    return f"{human_duration((now - moment).total_seconds())} ago" if moment else ""


def age(item: JSON, now: datetime) -> str:
    moment = parse_time((item.get("metadata") or {}).get("creationTimestamp"))
    return short_age((now - moment).total_seconds()) if moment else "<unknown>"


# --- tables ------------------------------------------------------------------------------------

Table = Callable[[datetime, bool], list[Column]]
"""The columns of one kind's table, given ``now`` and whether ``-o wide`` asked for more."""


def latest_event(tag: JSON) -> datetime | None:
    items = tag.get("items") or []
    return parse_time(items[0].get("created")) if items and isinstance(items[0], dict) else None


def tags_by_update(stream: JSON) -> list[str]:
    """The stream's tags, most recently updated first (then by name), as ``oc`` sorts them."""
    tags = [t for t in (stream.get("status") or {}).get("tags") or [] if isinstance(t, dict)]
    oldest = datetime.min.replace(tzinfo=UTC)
    ordered = sorted(tags, key=lambda t: str(t.get("tag", "")))
    ordered.sort(key=lambda t: latest_event(t) or oldest, reverse=True)
    return [str(t.get("tag", "")) for t in ordered]


def stream_tags(stream: JSON) -> str:
    names = tags_by_update(stream)
    if len(names) > TAGS_SHOWN:
        return f"{','.join(names[:TAGS_SHOWN])} + {len(names) - TAGS_SHOWN} more..."
    return ",".join(names)


def stream_updated(stream: JSON, now: datetime) -> str:
    moments = [latest_event(t) for t in (stream.get("status") or {}).get("tags") or []]
    newest = max((m for m in moments if m is not None), default=None)
    return f"{human_duration((now - newest).total_seconds())} ago" if newest else ""


def stream_repository(stream: JSON) -> str:
    spec, status = stream.get("spec") or {}, stream.get("status") or {}
    return str(
        status.get("publicDockerImageRepository")
        or spec.get("dockerImageRepository")
        or status.get("dockerImageRepository")
        or ""
    )


def _image_streams(now: datetime, wide: bool) -> list[Column]:
    return [
        ("NAME", metadata_name),
        ("IMAGE REPOSITORY", stream_repository),
        ("TAGS", stream_tags),
        ("UPDATED", lambda stream: stream_updated(stream, now)),
    ]


def _image_stream_tags(now: datetime, wide: bool) -> list[Column]:
    columns: list[Column] = [
        ("NAME", metadata_name),
        (
            "IMAGE REFERENCE",
            lambda tag: str((tag.get("image") or {}).get("dockerImageReference", "")),
        ),
        ("UPDATED", lambda tag: ago((tag.get("metadata") or {}).get("creationTimestamp"), now)),
    ]
    if wide:
        columns.append(("IMAGE NAME", lambda tag: metadata_name(tag.get("image") or {})))
    return columns


def _images(now: datetime, wide: bool) -> list[Column]:
    return [
        ("NAME", metadata_name),
        ("IMAGE REFERENCE", lambda image: str(image.get("dockerImageReference") or "")),
    ]


def _subjects(kind: str) -> Callable[[JSON], str]:
    def cell(binding: JSON) -> str:
        found = [s for s in binding.get("subjects") or [] if s.get("kind") == kind]
        if kind == "ServiceAccount":
            return ", ".join(f"{s.get('namespace', '')}/{s.get('name', '')}" for s in found)
        return ", ".join(str(s.get("name", "")) for s in found)

    return cell


def _role(binding: JSON) -> str:
    ref = binding.get("roleRef") or {}
    return f"{ref.get('kind', '')}/{ref.get('name', '')}"


def _role_bindings(now: datetime, wide: bool) -> list[Column]:
    columns: list[Column] = [
        ("NAME", metadata_name),
        ("ROLE", _role),
        ("AGE", lambda b: age(b, now)),
    ]
    if wide:
        columns += [
            ("USERS", _subjects("User")),
            ("GROUPS", _subjects("Group")),
            ("SERVICEACCOUNTS", _subjects("ServiceAccount")),
        ]
    return columns


def _condition(kind: str, field: str = "status") -> Callable[[JSON], str]:
    def cell(item: JSON) -> str:
        for condition in (item.get("status") or {}).get("conditions") or []:
            if condition.get("type") == kind:
                return str(condition.get(field, ""))
        return ""

    return cell


def _since(item: JSON, now: datetime) -> str:
    """``oc``'s SINCE: the age of the newest condition transition."""
    times = [
        moment
        for condition in (item.get("status") or {}).get("conditions") or []
        if (moment := parse_time(condition.get("lastTransitionTime"))) is not None
    ]
    return short_age((now - max(times)).total_seconds()) if times else ""


def _cluster_operators(now: datetime, wide: bool) -> list[Column]:
    def version(item: JSON) -> str:
        versions = (item.get("status") or {}).get("versions") or []
        return str(versions[0].get("version", "")) if versions else ""

    def message(item: JSON) -> str:
        for kind in ("Degraded", "Progressing", "Available"):
            text = _condition(kind, "message")(item)
            status = _condition(kind)(item)
            if text and (status == "True") == (kind != "Available"):
                return text
        return ""

    return [
        ("NAME", metadata_name),
        ("VERSION", version),
        ("AVAILABLE", _condition("Available")),
        ("PROGRESSING", _condition("Progressing")),
        ("DEGRADED", _condition("Degraded")),
        ("SINCE", lambda item: _since(item, now)),
        ("MESSAGE", message),
    ]


def _container(item: JSON) -> JSON:
    statuses = (item.get("status") or {}).get("containerStatuses") or [{}]
    return dict(statuses[0])


def _pods(now: datetime, wide: bool) -> list[Column]:
    """``oc get pods``: NAME READY STATUS RESTARTS AGE."""
    return [
        ("NAME", metadata_name),
        ("READY", lambda item: "1/1" if _container(item).get("ready") else "0/1"),
        ("STATUS", lambda item: str((item.get("status") or {}).get("phase", ""))),
        ("RESTARTS", lambda item: str(_container(item).get("restartCount", 0))),
        ("AGE", lambda item: ago_short((item.get("status") or {}).get("startTime"), now)),
    ]


def ago_short(value: Any, now: datetime) -> str:
    moment = parse_time(value)
    return short_age((now - moment).total_seconds()) if moment is not None else ""


def _default(now: datetime, wide: bool) -> list[Column]:
    return [("NAME", metadata_name), ("AGE", lambda item: age(item, now))]


TABLES: dict[str, Table] = {
    "image.openshift.io/ImageStream": _image_streams,
    "image.openshift.io/ImageStreamTag": _image_stream_tags,
    "image.openshift.io/Image": _images,
    "project.openshift.io/Project": lambda now, wide: list(projects.COLUMNS),
    "user.openshift.io/User": lambda now, wide: list(users.USER_COLUMNS),
    "user.openshift.io/Group": lambda now, wide: list(users.GROUP_COLUMNS),
    "rbac.authorization.k8s.io/RoleBinding": _role_bindings,
    "rbac.authorization.k8s.io/ClusterRoleBinding": _role_bindings,
    "config.openshift.io/ClusterOperator": _cluster_operators,
    "/Pod": _pods,
}
"""``group/Kind`` → its columns; any other kind prints NAME and AGE."""


def columns_for(group: str, kind: str, now: datetime, wide: bool = False) -> list[Column]:
    return TABLES.get(f"{group}/{kind}", _default)(now, wide)


def with_namespace(columns: list[Column]) -> list[Column]:
    """``-A``: the NAMESPACE column first."""
    namespace: Column = (
        "NAMESPACE",
        lambda item: str((item.get("metadata") or {}).get("namespace", "")),
    )
    return [namespace, *columns]


def pad_row(cells: list[str], widths: list[int]) -> str:
    """One row aligned to the widths of a table already printed (``get -w`` events)."""
    padded = [
        cell.ljust(max(width, len(cell)) + 3)
        for cell, width in zip(cells[:-1], widths[:-1], strict=False)
    ]
    return ("".join(padded) + cells[-1]).rstrip()


def widths_of(headers: list[str], rows: list[list[str]]) -> list[int]:
    return [max(len(line[i]) for line in [headers, *rows]) for i in range(len(headers))]
