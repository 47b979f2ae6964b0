"""The Docker token scope grammar: ``type[(class)]:name:action[,action…]``, space separated.

Parsing is where a client states what it wants, so it expands ``*`` into the concrete actions and
drops what it does not know: every action that comes out is then authorized on its own, and a
wildcard can never reach a token. Malformed text is a client error (``ValueError``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from dockyard.auth.access import CATALOG, Access
from dockyard.errors import NameInvalidError
from dockyard.registry.reference import MAX_NAME_LENGTH, validate_name

REPOSITORY = "repository"
REGISTRY = "registry"
REPOSITORY_ACTIONS = ("pull", "push", "delete")
"""The repository actions Dockyard knows, and what ``repository:<name>:*`` stands for."""


_TYPE_RE = re.compile(r"([a-z0-9]+)(?:\([a-z0-9]+\))?")
_ACTION_RE = re.compile(r"[a-z]+|\*")
_HEADER_SAFE_RE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e ]*")


def parse_scope(value: str) -> list[Access]:
    """One ``Access`` per requested action, without duplicates, in the order asked."""
    if not value:
        raise ValueError("empty scope")
    return list(dict.fromkeys(a for entry in value.split(" ") for a in _parse_entry(entry)))


def _parse_entry(entry: str) -> list[Access]:
    shown = entry[:MAX_NAME_LENGTH]
    first, last = entry.find(":"), entry.rfind(":")
    if first <= 0 or first == last:
        raise ValueError(f"scope {shown!r} is not of the form type:name:actions")
    type_match = _TYPE_RE.fullmatch(entry[:first])
    if type_match is None:
        raise ValueError(f"scope {shown!r} has an invalid resource type")
    name, actions = entry[first + 1 : last], entry[last + 1 :].split(",")
    if not all(_ACTION_RE.fullmatch(action) for action in actions):
        raise ValueError(f"scope {shown!r} has an invalid action list")
    resource_type = type_match.group(1)
    if resource_type == REPOSITORY:
        _validate_repository_name(name)
        wanted = (a for action in actions for a in _expand(action) if a in REPOSITORY_ACTIONS)
        return [Access(REPOSITORY, name, a) for a in wanted]
    if resource_type == REGISTRY and name == CATALOG.name and CATALOG.action in actions:
        return [CATALOG]
    return []


def _expand(action: str) -> tuple[str, ...]:
    return REPOSITORY_ACTIONS if action == "*" else (action,)


def _validate_repository_name(name: str) -> None:
    try:
        validate_name(name)
    except NameInvalidError as exc:
        raise ValueError(f"invalid repository name in scope: {exc.message}") from exc


def group_by_resource(accesses: Iterable[Access]) -> list[tuple[str, str, tuple[str, ...]]]:
    """``(type, name, actions)`` per resource, in first-seen order: the token ``access`` shape."""
    grouped: dict[tuple[str, str], list[str]] = {}
    for access in accesses:
        actions = grouped.setdefault((access.type, access.name), [])
        if access.action not in actions:
            actions.append(access.action)
    return [(type_, name, tuple(actions)) for (type_, name), actions in grouped.items()]


def format_scope(accesses: Iterable[Access]) -> str:
    """The inverse of ``parse_scope``: one ``type:name:a,b`` entry per resource, space separated."""
    return " ".join(
        f"{type_}:{name}:{','.join(actions)}"
        for type_, name, actions in group_by_resource(accesses)
    )


def challenge_scope(accesses: Sequence[Access]) -> str:
    """The ``scope`` parameter of a ``WWW-Authenticate: Bearer`` challenge.

    The value goes inside a quoted string, so a name that could end the quote or smuggle another
    parameter is refused rather than rendered.
    """
    scope = format_scope(accesses)
    if _HEADER_SAFE_RE.fullmatch(scope) is None:
        raise ValueError("scope contains characters not allowed in a challenge header")
    return scope
