"""The three patch formats of ``PATCH``: JSON merge patch (RFC 7386), JSON patch (RFC 6902)
and Kubernetes' strategic merge patch.

Each is a pure function from the object as fetched to the object to store; the handler does
the fetch, the checks and the update. A patch document that is not of its format is a 400; a
well-formed patch that can't apply to this object (a missing path, a failed ``test``) a 422
naming the operation, as Kubernetes answers.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from dockyard.errors import StatusError
from dockyard.http.resources.objects import JSON, bad_request

MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
MEDIA_TYPES = (JSON_PATCH, MERGE, STRATEGIC)

_DELETE = object()
"""A strategic ``$patch: delete`` on a map: its parent drops the key."""


def unsupported(media_type: str) -> StatusError:
    return StatusError(
        415,
        "UnsupportedMediaType",
        f'the body of the request was in an unknown format ("{media_type}"); accepted media'
        f" types include: {', '.join(MEDIA_TYPES)}",
    )


def apply(media_type: str, target: JSON, patch: Any, merge_keys: Mapping[str, str]) -> JSON:
    """The patched copy of ``target``; ``merge_keys`` maps a list's dotted path to the field
    that identifies its elements (strategic merge only)."""
    if media_type == JSON_PATCH:
        return json_patch(target, patch)
    if not isinstance(patch, dict):
        raise bad_request("a merge patch must be a JSON object")
    if media_type == MERGE:
        result = merge_patch(target, patch)
    else:
        result = strategic_merge(target, patch, merge_keys, "")
    if not isinstance(result, dict):
        raise bad_request("the patch leaves no object")
    return result


# --- RFC 7386 --------------------------------------------------------------------------------


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge key by key, ``null`` removes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# --- RFC 6902 --------------------------------------------------------------------------------

_MEMBERS = {
    "add": ("path", "value"),
    "remove": ("path",),
    "replace": ("path", "value"),
    "move": ("from", "path"),
    "copy": ("from", "path"),
    "test": ("path", "value"),
}


class _Failed(Exception):
    """An operation that does not apply; the caller names it."""


def json_patch(target: JSON, patch: Any) -> JSON:
    if not isinstance(patch, list):
        raise bad_request("a JSON patch must be a JSON array of operations")
    for index, operation in enumerate(patch):
        if not isinstance(operation, dict) or operation.get("op") not in _MEMBERS:
            raise bad_request(
                f"operation {index} of the JSON patch is not an object with an op of"
                f" {', '.join(_MEMBERS)}"
            )
        for member in _MEMBERS[operation["op"]]:
            if member not in operation or (
                member in ("path", "from") and not isinstance(operation[member], str)
            ):
                raise bad_request(f"operation {index} ({operation['op']}) lacks {member!r}")
    document: Any = copy.deepcopy(target)
    for index, operation in enumerate(patch):
        try:
            document = _apply_operation(document, operation)
        except _Failed as exc:
            described = json.dumps(operation, separators=(",", ":"))[:300]
            raise StatusError(
                422,
                "Invalid",
                f"the JSON patch failed at operation {index} {described}: {exc}",
                {
                    "causes": [
                        {
                            "reason": "FieldValueInvalid",
                            "message": str(exc),
                            "field": str(operation.get("path", "")),
                        }
                    ]
                },
            ) from None
    if not isinstance(document, dict):
        raise StatusError(422, "Invalid", "the JSON patch leaves no object")
    return document


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise _Failed(f'"{path}" is not a JSON pointer (it must start with "/")')
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _index(container: list[Any], token: str, *, end_ok: bool) -> int:
    if token == "-" and end_ok:
        return len(container)
    if not token.isdigit() or (token != "0" and token.startswith("0")):
        raise _Failed(f'"{token}" is not an array index')
    index = int(token)
    if index > len(container) or (index == len(container) and not end_ok):
        raise _Failed(f"index {index} is out of range")
    return index


def _parent(document: Any, tokens: list[str]) -> Any:
    node = document
    for token in tokens[:-1]:
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(node, token, end_ok=False)]
        else:
            raise _Failed(f'"{token}" does not exist')
    return node


def _get(document: Any, path: str) -> Any:
    tokens = _pointer(path)
    if not tokens:
        return document
    parent, last = _parent(document, tokens), tokens[-1]
    if isinstance(parent, dict) and last in parent:
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(parent, last, end_ok=False)]
    raise _Failed(f'"{path}" does not exist')


def _add(document: Any, path: str, value: Any) -> Any:
    tokens = _pointer(path)
    if not tokens:
        return value
    parent, last = _parent(document, tokens), tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, end_ok=True), value)
    else:
        raise _Failed(f'the parent of "{path}" is neither an object nor an array')
    return document


def _remove(document: Any, path: str) -> Any:
    tokens = _pointer(path)
    if not tokens:
        raise _Failed("the whole document can't be removed")
    parent, last = _parent(document, tokens), tokens[-1]
    if isinstance(parent, dict) and last in parent:
        del parent[last]
    elif isinstance(parent, list):
        del parent[_index(parent, last, end_ok=False)]
    else:
        raise _Failed(f'"{path}" does not exist')
    return document


def _apply_operation(document: Any, operation: JSON) -> Any:
    op, path = operation["op"], operation["path"]
    if op == "add":
        return _add(document, path, copy.deepcopy(operation["value"]))
    if op == "remove":
        return _remove(document, path)
    if op == "replace":
        tokens = _pointer(path)
        value = copy.deepcopy(operation["value"])
        if not tokens:
            return value
        parent, last = _parent(document, tokens), tokens[-1]
        if isinstance(parent, dict) and last in parent:
            parent[last] = value
        elif isinstance(parent, list):
            parent[_index(parent, last, end_ok=False)] = value
        else:
            raise _Failed(f'"{path}" does not exist')
        return document
    source = operation.get("from", "")
    if op == "move":
        if path.startswith(source + "/"):
            raise _Failed(f'"{source}" can\'t move into its own child "{path}"')
        value = _get(document, source)
        return _add(_remove(document, source), path, value)
    if op == "copy":
        return _add(document, path, copy.deepcopy(_get(document, source)))
    if not _equal(_get(document, path), operation["value"]):
        raise _Failed(f'the value at "{path}" is not the one tested for')
    return document


def _equal(left: Any, right: Any) -> bool:
    """JSON equality: unlike Python's, ``true`` is not ``1``, but ``1`` is ``1.0``."""
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_equal(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(_equal, left, right))
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left == right
    return type(left) is type(right) and bool(left == right)


# --- strategic merge -------------------------------------------------------------------------


def strategic_merge(target: Any, patch: JSON, merge_keys: Mapping[str, str], path: str) -> Any:
    """Kubernetes' strategic merge patch: a merge patch in which the lists named in
    ``merge_keys`` merge element by element, with the ``$patch``, ``$setElementOrder`` and
    ``$deleteFromPrimitiveList`` directives; other lists are replaced."""
    directive = patch.get("$patch")
    if directive == "delete":
        return _DELETE
    if directive == "replace":
        return _strip(patch)
    if directive not in (None, "merge"):
        raise bad_request(f'unknown $patch directive "{directive}" at "{path or "."}"')
    result = dict(target) if isinstance(target, dict) else {}
    orders: dict[str, Any] = {}
    for key, value in patch.items():
        if key == "$patch":
            continue
        if key.startswith("$setElementOrder/"):
            orders[key.partition("/")[2]] = value
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.partition("/")[2]
            if not isinstance(value, list) or not isinstance(result.get(field, []), list):
                raise bad_request(f'"{key}" must name a list and give a list')
            result[field] = [item for item in result.get(field, []) if item not in value]
            continue
        if key.startswith("$"):
            raise bad_request(f'unsupported directive "{key}" at "{path or "."}"')
        child = f"{path}.{key}" if path else key
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            merged = strategic_merge(result.get(key), value, merge_keys, child)
            if merged is _DELETE:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list) and child in merge_keys:
            result[key] = _merge_list(result.get(key), value, merge_keys, child)
        else:
            result[key] = copy.deepcopy(value)
    for field, order in orders.items():
        result[field] = _reorder(
            result.get(field), order, merge_keys.get(f"{path}.{field}" if path else field), field
        )
    return result


def _merge_list(target: Any, patch: list[Any], merge_keys: Mapping[str, str], path: str) -> Any:
    key = merge_keys[path]
    result = [copy.deepcopy(item) for item in target] if isinstance(target, list) else []
    for element in patch:
        if not isinstance(element, dict):
            raise bad_request(f'the elements of "{path}" must be objects with a "{key}"')
        directive = element.get("$patch")
        if directive == "replace":
            return [_strip(item) for item in patch if item.get("$patch") != "replace"]
        if key not in element:
            raise bad_request(f'an element of "{path}" does not contain the merge key "{key}"')
        position = next(
            (i for i, item in enumerate(result) if _key(item, key) == element[key]), None
        )
        if directive == "delete":
            result = [item for item in result if _key(item, key) != element[key]]
        elif directive not in (None, "merge"):
            raise bad_request(f'unknown $patch directive "{directive}" in "{path}"')
        elif position is None:
            result.append(_strip(element))
        else:
            result[position] = strategic_merge(result[position], element, merge_keys, path)
    return result


def _key(item: Any, key: str) -> Any:
    return item.get(key) if isinstance(item, dict) else None


def _reorder(items: Any, order: Any, key: str | None, field: str) -> Any:
    """``$setElementOrder/<field>``: the listed elements first, in that order."""
    if not isinstance(items, list) or not isinstance(order, list):
        return items
    if key is None:
        wanted = order
        return sorted(items, key=lambda item: wanted.index(item) if item in wanted else len(wanted))
    names = [entry.get(key) if isinstance(entry, dict) else None for entry in order]
    if None in names:
        raise bad_request(f'"$setElementOrder/{field}" entries need the merge key "{key}"')
    return sorted(
        items,
        key=lambda item: (
            names.index(item.get(key))
            if isinstance(item, dict) and item.get(key) in names
            else len(names)
        ),
    )


def _strip(value: Any) -> Any:
    """A value with the strategic directives removed, to be stored as it is."""
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if not k.startswith("$")}
    if isinstance(value, list):
        return [_strip(item) for item in value]
    return value
