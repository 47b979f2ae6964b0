"""Discovery (``/api``, ``/apis``, ``/apis/<group>[/<version>]``) and OpenAPI (``/openapi/v2``),
generated from the one table of kinds that the routes are made from, so what they describe is
what is served. Both are public, as Kubernetes' are to every caller: they say what exists, not
what anybody may do.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from dockyard.errors import StatusError
from dockyard.http.resources.handlers import Kind, method_not_allowed, respond
from dockyard.http.resources.objects import JSON
from dockyard.http.resources.patch import MEDIA_TYPES

VERSION = "v1"
_METHODS = {"get": "get", "create": "post", "update": "put", "patch": "patch", "delete": "delete"}


def not_found() -> StatusError:
    return StatusError(404, "NotFound", "the server could not find the requested resource", {})


def _groups(kinds: Sequence[Kind[Any, Any]]) -> list[str]:
    return list(dict.fromkeys(kind.group for kind in kinds if kind.group))


def _group_version(group: str) -> JSON:
    return {"groupVersion": f"{group}/{VERSION}", "version": VERSION}


def api_group(group: str) -> JSON:
    """An APIGroup, as listed in ``/apis`` (``/apis/<group>`` adds its kind and apiVersion)."""
    return {
        "name": group,
        "versions": [_group_version(group)],
        "preferredVersion": _group_version(group),
    }


def resource_list(kinds: Sequence[Kind[Any, Any]], group: str) -> JSON:
    resources: list[JSON] = []
    for kind in kinds:
        if kind.group != group:
            continue
        entry: JSON = {
            "name": kind.resource,
            "singularName": kind.kind.lower(),
            "namespaced": kind.namespaced,
            "kind": kind.kind,
            "verbs": list(kind.verbs),
        }
        if kind.short_names:
            entry["shortNames"] = list(kind.short_names)
        if kind.categories:
            entry["categories"] = list(kind.categories)
        resources.append(entry)
        resources.extend(
            {
                "name": f"{kind.resource}/{sub.name}",
                "singularName": "",
                "namespaced": kind.namespaced,
                "kind": sub.kind,
                "verbs": list(sub.verbs),
            }
            for sub in kind.subresources
        )
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{VERSION}" if group else VERSION,
        "resources": resources,
    }


def discovery_routes(kinds: Sequence[Kind[Any, Any]]) -> list[BaseRoute]:
    """``/api``, ``/api/v1``, ``/apis``, ``/apis/<group>``, ``/apis/<group>/v1``, OpenAPI."""
    groups = _groups(kinds)
    document = openapi(kinds)

    def get_only(build: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            if request.method not in ("GET", "HEAD"):
                raise method_not_allowed()
            return respond(build(request))

        return endpoint

    def versions(request: Request) -> JSON:
        return {
            "kind": "APIVersions",
            "versions": [VERSION],
            "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": request.url.netloc}
            ],
        }

    def group_list(_: Request) -> JSON:
        return {
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": [api_group(g) for g in groups],
        }

    def group_of(request: Request) -> JSON:
        group = request.path_params["group"]
        if group not in groups:
            raise not_found()
        return {"kind": "APIGroup", "apiVersion": "v1", **api_group(group)}

    def group_version(request: Request) -> JSON:
        group, version = request.path_params["group"], request.path_params["version"]
        if group not in groups or version != VERSION:
            raise not_found()
        return resource_list(kinds, group)

    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
    return [
        Route("/api", get_only(versions), methods=methods),
        Route("/api/v1", get_only(lambda _: resource_list(kinds, "")), methods=methods),
        Route("/apis", get_only(group_list), methods=methods),
        Route("/apis/{group}", get_only(group_of), methods=methods),
        Route("/apis/{group}/{version}", get_only(group_version), methods=methods),
        Route("/openapi/v2", get_only(lambda _: document), methods=methods),
    ]


async def unknown_path(request: Request) -> Response:
    """Anything else under ``/api`` or ``/apis``: a 404 ``Status``, as Kubernetes answers."""
    raise not_found()


# --- OpenAPI v2 ------------------------------------------------------------------------------


def definition_name(group: str, kind: str) -> str:
    """``io.openshift.image.v1.ImageStream``: the reversed group, as Kubernetes names them."""
    prefix = ".".join(reversed(group.split("."))) if group else "io.k8s.api.core"
    return f"{prefix}.{VERSION}.{kind}"


def _operation_id(verb: str, kind: Kind[Any, Any], suffix: str = "") -> str:
    words = re.split(r"[.-]", kind.group) if kind.group else ["core"]
    group = "".join(word.capitalize() for word in words)
    scope = "Namespaced" if kind.namespaced and "AllNamespaces" not in suffix else ""
    return f"{verb}{group}V1{scope}{kind.kind}{suffix}"


def _parameter(name: str, where: str = "query", kind: str = "string") -> JSON:
    entry: JSON = {"name": name, "in": where, "type": kind}
    if where == "path":
        entry["required"] = True
    else:
        entry["uniqueItems"] = True
    return entry


_LIST_PARAMETERS = [
    _parameter("labelSelector"),
    _parameter("fieldSelector"),
    _parameter("limit", kind="integer"),
    _parameter("continue"),
    _parameter("watch", kind="boolean"),
    _parameter("resourceVersion"),
    _parameter("timeoutSeconds", kind="integer"),
]


def _ref(name: str) -> JSON:
    return {"$ref": f"#/definitions/{name}"}


def _operation(
    operation_id: str, schema: JSON, *, body: str | None = None, patch: bool = False
) -> JSON:
    operation: JSON = {
        "operationId": operation_id,
        "produces": ["application/json"],
        "responses": {
            "200": {"description": "OK", "schema": schema},
            "401": {"description": "Unauthorized"},
        },
    }
    if body is not None:
        operation["parameters"] = [
            {"name": "body", "in": "body", "required": True, "schema": _ref(body)}
        ]
        operation["consumes"] = list(MEDIA_TYPES) if patch else ["application/json"]
    return operation


def _paths_of(kind: Kind[Any, Any], name: str, list_name: str) -> dict[str, JSON]:
    verbs = set(kind.verbs)
    namespace = [_parameter("namespace", "path")] if kind.namespaced else []
    item_parameters = [*namespace, _parameter("name", "path")]
    body = name if kind.body is not None else None
    collection: JSON = {"parameters": namespace} if namespace else {}
    if "list" in verbs:
        collection["get"] = _operation(_operation_id("list", kind), _ref(list_name))
        collection["get"]["parameters"] = _LIST_PARAMETERS
    if "create" in verbs:
        collection["post"] = _operation(
            _operation_id("create", kind), _ref(name), body=body or name
        )
    paths: dict[str, JSON] = {}
    if set(collection) - {"parameters"}:
        paths[kind.path] = collection
    item: JSON = {"parameters": item_parameters}
    for verb, method, prefix in (
        ("get", "get", "read"),
        ("update", "put", "replace"),
        ("patch", "patch", "patch"),
        ("delete", "delete", "delete"),
    ):
        if verb in verbs and kind.collection is None:
            schema = (
                _ref("io.k8s.apimachinery.pkg.apis.meta.v1.Status")
                if verb == "delete"
                else _ref(name)
            )
            item[method] = _operation(
                _operation_id(prefix, kind),
                schema,
                body=body if verb in ("update", "patch") else None,
                patch=verb == "patch",
            )
            if verb == "patch":
                item[method]["parameters"][0]["schema"] = {"type": "object"}
    if len(item) > 1:
        paths[f"{kind.path}/{{name}}"] = item
    if kind.all_namespaces and "list" in verbs:
        cluster = f"{kind.root}/{kind.resource}"
        operation = _operation(_operation_id("list", kind, "ForAllNamespaces"), _ref(list_name))
        operation["parameters"] = _LIST_PARAMETERS
        paths[cluster] = {"get": operation}
    for sub in kind.subresources:
        entry: JSON = {"parameters": item_parameters}
        for verb in sub.verbs:
            method = _METHODS[verb]
            sub_name = definition_name(kind.group, sub.kind)
            entry[method] = _operation(
                _operation_id({"get": "read", "update": "replace"}.get(verb, verb), kind, sub.kind),
                _ref(sub_name),
                body=sub_name if method in ("put", "post") else None,
            )
        paths[f"{kind.path}/{{name}}/{sub.name}"] = entry
    return paths


def openapi(kinds: Sequence[Kind[Any, Any]]) -> JSON:
    """A Swagger 2.0 document of every path and kind; schemas come from the body models."""
    models: dict[str, type[BaseModel]] = {}
    definitions: dict[str, JSON] = {
        "io.k8s.apimachinery.pkg.apis.meta.v1.Status": {"type": "object"},
    }
    paths: dict[str, JSON] = {}
    for kind in kinds:
        name = definition_name(kind.group, kind.kind)
        list_name = f"{name}List"
        gvk = [{"group": kind.group, "version": VERSION, "kind": kind.kind}]
        definitions[name] = {"type": "object", "x-kubernetes-group-version-kind": gvk}
        definitions[list_name] = {
            "type": "object",
            "required": ["items"],
            "properties": {
                "apiVersion": {"type": "string"},
                "kind": {"type": "string"},
                "metadata": {"type": "object"},
                "items": {"type": "array", "items": _ref(name)},
            },
        }
        if kind.body is not None:
            models[name] = kind.body
        for sub in kind.subresources:
            definitions.setdefault(definition_name(kind.group, sub.kind), {"type": "object"})
        paths.update(_paths_of(kind, name, list_name))
    if models:
        named, schema = models_json_schema(
            [(model, "validation") for model in models.values()],
            by_alias=True,
            ref_template="#/definitions/{model}",
        )
        for def_name, model_schema in schema.get("$defs", {}).items():
            definitions.setdefault(def_name, _swagger(model_schema))
        for name, model in models.items():
            reference = named[(model, "validation")]["$ref"].rpartition("/")[2]
            gvk = definitions[name]["x-kubernetes-group-version-kind"]
            definitions[name] = {
                **_swagger(schema["$defs"][reference]),
                "x-kubernetes-group-version-kind": gvk,
            }
    return {
        "swagger": "2.0",
        "info": {"title": "Dockyard", "version": VERSION},
        "paths": dict(sorted(paths.items())),
        "definitions": dict(sorted(definitions.items())),
    }


def _swagger(schema: Any) -> Any:
    """JSON Schema as pydantic writes it, in Swagger 2.0's subset: ``X | None`` becomes ``X``
    (``x-nullable``), ``const`` an ``enum``."""
    if isinstance(schema, list):
        return [_swagger(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    options = schema.get("anyOf")
    if isinstance(options, list):
        kept = [option for option in options if option != {"type": "null"}]
        if len(kept) == 1:
            rest = {k: v for k, v in schema.items() if k != "anyOf"}
            merged = {**_swagger(kept[0]), **_swagger(rest)}
            if len(kept) < len(options):
                merged["x-nullable"] = True
            if "$ref" in merged and len(merged) > 1:
                merged = {"allOf": [{"$ref": merged.pop("$ref")}], **merged}
            return merged
    converted = {key: _swagger(value) for key, value in schema.items()}
    if "const" in converted:
        converted["enum"] = [converted.pop("const")]
    if converted.get("type") == "null":
        converted.pop("type")
    if "anyOf" in converted:  # no union in Swagger 2.0: any object
        converted.pop("anyOf")
        converted.setdefault("type", "object")
    return converted
