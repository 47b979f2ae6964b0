"""Core ``v1`` secrets, config maps and pods, kept in the generic store.

Validation is Kubernetes': keys of ``[-._a-zA-Z0-9]``, ``data`` (and ``binaryData``) values in
base64, stored exactly as sent; ``stringData`` is write-only and lands in ``data`` encoded;
an ``immutable`` object keeps its data for good. A secret's values never appear in a message,
a log line or the change log: errors name the key, never the value. Pods are the workers of
``dockyard serve`` in ``openshift-image-registry``, written by its supervisor, read-only here;
their ``log`` subresource is the registry's log.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import replace
from typing import Any

from pydantic import Field

from dockyard.http.resources.handlers import Subresource
from dockyard.http.resources.objects import JSON, ObjectBody
from dockyard.http.resources.podlog import pod_log
from dockyard.http.resources.stored import StoredKind, kind_of, refuse
from dockyard.metadata.resources import CONFIG_MAP, POD, SECRET

_KEY = re.compile(r"[-._a-zA-Z0-9]+")


class SecretBody(ObjectBody):
    type: str = "Opaque"
    data: dict[str, str] | None = Field(None, repr=False)
    string_data: dict[str, str] | None = Field(None, alias="stringData", repr=False)
    immutable: bool | None = None


class ConfigMapBody(ObjectBody):
    data: dict[str, str] | None = None
    binary_data: dict[str, str] | None = Field(None, alias="binaryData", repr=False)
    immutable: bool | None = None


def _key_causes(field: str, keys: Any) -> list[tuple[str, str, str]]:
    return [
        (
            f"{field}[{key}]",
            "FieldValueInvalid",
            f'Invalid value: "{key[:80]}": a valid config key must consist of alphanumeric'
            " characters, '-', '_' or '.'",
        )
        for key in keys
        if len(key) > 253 or not _KEY.fullmatch(key) or key in (".", "..")
    ]


def _base64_causes(field: str, values: dict[str, str]) -> list[tuple[str, str, str]]:
    causes = []
    for key, value in values.items():
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            causes.append((f"{field}[{key}]", "FieldValueInvalid", "Invalid value: not base64"))
    return causes


def _immutable_causes(body: JSON, current: JSON | None, fields: tuple[str, ...]) -> list[Any]:
    """An immutable object keeps its data and stays immutable; a secret keeps its type."""
    if current is None:
        return []
    causes: list[tuple[str, str, str]] = []
    if current.get("immutable"):
        for field in (*fields, "immutable"):
            if body.get(field) != current.get(field):
                causes.append(
                    (
                        field,
                        "FieldValueForbidden",
                        "Forbidden: field is immutable when `immutable` is set",
                    )
                )
    if "type" in current and body.get("type") != current["type"]:
        causes.append(("type", "FieldValueInvalid", "Invalid value: field is immutable"))
    return causes


def prepare_secret(body: SecretBody, current: JSON | None) -> JSON:
    data = dict(body.data or {})
    causes = _key_causes("data", data) + _base64_causes("data", data)
    causes += _key_causes("stringData", body.string_data or {})
    for key, value in (body.string_data or {}).items():
        data[key] = base64.b64encode(value.encode()).decode()
    if not body.type:
        causes.append(("type", "FieldValueRequired", "Required value"))
    stored: JSON = {"type": body.type, "data": data}
    if body.immutable is not None:
        stored["immutable"] = body.immutable
    causes += _immutable_causes(stored, current, ("data",))
    if causes:
        refuse(
            SECRET,
            body.metadata.name or (current or {}).get("metadata", {}).get("name", ""),
            causes,
        )
    return stored


def prepare_config_map(body: ConfigMapBody, current: JSON | None) -> JSON:
    data, binary = dict(body.data or {}), dict(body.binary_data or {})
    causes = _key_causes("data", data) + _key_causes("binaryData", binary)
    causes += _base64_causes("binaryData", binary)
    causes += [
        (f"data[{key}]", "FieldValueInvalid", "Invalid value: duplicate of a binaryData key")
        for key in data.keys() & binary.keys()
    ]
    stored: JSON = {"data": data}
    if binary:
        stored["binaryData"] = binary
    if body.immutable is not None:
        stored["immutable"] = body.immutable
    causes += _immutable_causes(stored, current, ("data", "binaryData"))
    if causes:
        name = body.metadata.name or (current or {}).get("metadata", {}).get("name", "")
        refuse(CONFIG_MAP, name, causes)
    return stored


SECRETS = kind_of(StoredKind(SECRET, SecretBody, prepare_secret, all_namespaces=True))
CONFIG_MAPS = kind_of(
    StoredKind(
        CONFIG_MAP, ConfigMapBody, prepare_config_map, all_namespaces=True, short_names=("cm",)
    )
)


class PodBody(ObjectBody):
    """Never decoded (pods are read-only); the schema discovery shows."""

    spec: dict[str, Any] | None = None
    status: dict[str, Any] | None = None


PODS = replace(
    kind_of(StoredKind(POD, PodBody, writable=False, all_namespaces=True, short_names=("po",))),
    subresources=(Subresource("log", "Pod", ("get",), pod_log),),
)
KINDS = (SECRETS, CONFIG_MAPS, PODS)
