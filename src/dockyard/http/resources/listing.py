"""What a list or watch asks for: label and field selectors, ``limit``/``continue``, ``watch``.

Selectors follow Kubernetes' grammar (``k8s.io/apimachinery/pkg/labels``) so the selectors users
already write for ``oc get -l`` mean the same here. Continue tokens are opaque to clients (base64
of a small JSON document, as Kubernetes' are): they hold the key of the last item sent and the
list's resourceVersion, so paging resumes after that key even if objects come and go meanwhile.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import QueryParams

from dockyard.errors import StatusError
from dockyard.http.resources.objects import JSON, bad_request

_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"
_NAME_RE = re.compile(_NAME)
_PREFIX_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_REQUIREMENT = re.compile(
    r"\s*(?P<not>!)?\s*(?P<key>[^\s!=<>(),]+)\s*"
    r"(?:(?P<op>==|=|!=|<|>)\s*(?P<value>[^\s!=<>(),]*)"
    r"|(?<=\s)(?P<set>in|notin)\s*\((?P<values>[^()]*)\))?\s*"
)
DEFAULT_WATCH_SECONDS = 1800
"""How long a watch runs unless ``timeoutSeconds`` says otherwise (Kubernetes: 30 to 60 min)."""


def label_key_problem(key: str) -> str | None:
    """Kubernetes' qualified name: an optional DNS subdomain prefix and ``/``, then a name."""
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not _PREFIX_RE.fullmatch(prefix)):
        return f'prefix part of "{key}" must be a lowercase RFC 1123 subdomain'
    if not name or len(name) > 63 or not _NAME_RE.fullmatch(name):
        return (
            f'name part of "{key}" must consist of at most 63 alphanumeric characters, "-", "_"'
            ' or ".", and must start and end with an alphanumeric character'
        )
    return None


def label_value_problem(value: str) -> str | None:
    if value and (len(value) > 63 or not _NAME_RE.fullmatch(value)):
        return (
            f'label value "{value[:80]}" must be empty or at most 63 alphanumeric characters,'
            ' "-", "_" or ".", starting and ending with an alphanumeric character'
        )
    return None


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str
    """``exists``, ``!``, ``=``, ``!=``, ``in``, ``notin``, ``<`` or ``>``."""
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        value = labels.get(self.key)
        if self.op == "exists":
            return value is not None
        if self.op == "!":
            return value is None
        if self.op in ("=", "in"):
            return value is not None and value in self.values
        if self.op in ("!=", "notin"):
            return value is None or value not in self.values
        try:  # < and >: integers on both sides, as Kubernetes compares them
            number, bound = int(value or ""), int(self.values[0])
        except ValueError:
            return False
        return number < bound if self.op == "<" else number > bound


@dataclass(frozen=True)
class Selector:
    """A conjunction of requirements; the empty selector matches everything."""

    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        return all(r.matches(labels or {}) for r in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements


def parse_label_selector(text: str) -> Selector:
    """``a=b,c!=d,e in (x,y),f notin (z),g,!h`` → a Selector; a bad one is a 400."""
    if not text.strip():
        return Selector()
    found: list[Requirement] = []
    position = 0
    while position < len(text):
        match = _REQUIREMENT.match(text, position)
        if match is None or match.end() == position:
            raise _bad_selector(text, position)
        position = match.end()
        if position < len(text):
            if text[position] != ",":
                raise _bad_selector(text, position)
            position += 1
            if position == len(text):
                raise _bad_selector(text, position)
        found.append(_requirement(text, match))
    return Selector(tuple(found))


def _requirement(text: str, match: re.Match[str]) -> Requirement:
    key, negated = match["key"], bool(match["not"])
    problem = label_key_problem(key)
    if negated and (match["op"] or match["set"]):
        problem = "'!' takes a key alone"
    if problem is not None:
        raise bad_request(f'unable to parse requirement: {problem} (selector "{text}")')
    if match["set"]:
        values = tuple(v.strip() for v in match["values"].split(","))
        op = match["set"]
    elif match["op"]:
        values, op = (match["value"],), "=" if match["op"] == "==" else match["op"]
    else:
        return Requirement(key, "!" if negated else "exists")
    for value in values:
        problem = label_value_problem(value)
        if op in ("<", ">") and not re.fullmatch(r"-?[0-9]+", value):
            problem = f'"{value}" is not an integer'
        if problem is not None:
            raise bad_request(f'unable to parse requirement: {problem} (selector "{text}")')
    return Requirement(key, op, values)


def _bad_selector(text: str, position: int) -> StatusError:
    return bad_request(
        f'unable to parse the label selector "{text}" at position {position}: expected'
        " key, !key, key=value, key!=value, key in (…) or key notin (…), separated by commas"
    )


FIELDS: dict[str, Callable[[JSON], str]] = {
    "metadata.name": lambda obj: str(obj.get("metadata", {}).get("name", "")),
    "metadata.namespace": lambda obj: str(obj.get("metadata", {}).get("namespace", "")),
}
"""The fields every kind may be selected by, as in Kubernetes."""


@dataclass(frozen=True)
class FieldSelector:
    terms: tuple[tuple[str, bool, str], ...] = ()
    """``(field, equal, value)``."""

    def matches(self, obj: JSON) -> bool:
        return all((FIELDS[f](obj) == value) == equal for f, equal, value in self.terms)

    def equal_to(self, field: str) -> str | None:
        """The value ``field`` must equal, if the selector pins it (a single-object watch)."""
        return next((v for f, equal, v in self.terms if f == field and equal), None)


def parse_field_selector(text: str) -> FieldSelector:
    terms: list[tuple[str, bool, str]] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        match = re.fullmatch(r"([^=!\s]+)\s*(==|=|!=)\s*(.*)", part)
        if match is None:
            raise bad_request(f'invalid field selector "{text}": expected field=value')
        field, op, value = match.groups()
        if field not in FIELDS:
            raise bad_request(f'"{field}" is not a known field selector: only {", ".join(FIELDS)}')
        terms.append((field, op != "!=", value))
    return FieldSelector(tuple(terms))


@dataclass(frozen=True)
class ListQuery:
    """The query parameters of a list or watch, checked."""

    labels: Selector = Selector()
    fields: FieldSelector = FieldSelector()
    limit: int | None = None
    after: tuple[str, str] | None = None
    continued_version: str | None = None
    watch: bool = False
    resource_version: str = ""
    timeout: float = DEFAULT_WATCH_SECONDS

    @classmethod
    def parse(cls, params: QueryParams) -> ListQuery:
        limit = _integer(params, "limit")
        after, version = _decode_continue(params.get("continue", ""))
        timeout = _integer(params, "timeoutSeconds")
        return cls(
            labels=parse_label_selector(params.get("labelSelector", "")),
            fields=parse_field_selector(params.get("fieldSelector", "")),
            limit=limit or None,
            after=after,
            continued_version=version,
            watch=_boolean(params, "watch"),
            resource_version=params.get("resourceVersion", ""),
            timeout=float(timeout) if timeout else DEFAULT_WATCH_SECONDS,
        )

    def selects(self, obj: JSON) -> bool:
        return self.fields.matches(obj) and self.labels.matches(
            obj.get("metadata", {}).get("labels")
        )


def _integer(params: QueryParams, name: str) -> int | None:
    text = params.get(name)
    if text is None or text == "":
        return None
    if not re.fullmatch(r"[0-9]{1,12}", text):
        raise bad_request(f'{name} must be a non-negative integer, not "{text[:40]}"', name)
    return int(text)


def _boolean(params: QueryParams, name: str) -> bool:
    text = params.get(name, "").lower()
    if text in ("", "0", "false"):
        return False
    if text in ("1", "true"):
        return True
    raise bad_request(f'{name} must be true or false, not "{text[:40]}"', name)


def key_of(obj: JSON) -> tuple[str, str]:
    """Where an object sorts in a list: by namespace, then name (codepoint order)."""
    metadata = obj.get("metadata", {})
    return str(metadata.get("namespace", "")), str(metadata.get("name", ""))


def encode_continue(after: tuple[str, str], version: str) -> str:
    document = json.dumps({"v": 1, "rv": version, "start": list(after)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(document.encode()).decode().rstrip("=")


def _decode_continue(token: str) -> tuple[tuple[str, str] | None, str | None]:
    if not token:
        return None, None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        document: Any = json.loads(raw)
        namespace, name = document["start"]
        version = document["rv"]
        if document["v"] != 1 or not all(isinstance(v, str) for v in (namespace, name, version)):
            raise ValueError("unexpected content")
    except (binascii.Error, ValueError, TypeError, KeyError) as exc:
        raise bad_request(f"continue key is not valid: {exc}", "continue") from None
    return (namespace, name), version


def page(items: list[JSON], query: ListQuery) -> tuple[list[JSON], tuple[str, str] | None]:
    """The selected items after the continue key, at most ``limit``; and the key to continue
    after, when more remain. A paged list is in key order, the one order every database and
    every request agrees on; a whole list keeps the service's order."""
    paged = query.limit is not None or query.after is not None
    ordered = sorted(items, key=key_of) if paged else items
    if query.after is not None:
        ordered = [obj for obj in ordered if key_of(obj) > query.after]
    selected = [obj for obj in ordered if query.selects(obj)]
    if query.limit is None or len(selected) <= query.limit:
        return selected, None
    kept = selected[: query.limit]
    return kept, key_of(kept[-1])
