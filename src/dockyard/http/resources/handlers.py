"""The resource API's one REST handler: parse → authorize → call a service → render.

A ``Kind`` says which service call serves each verb (the tables are in ``access`` and
``images``, gathered in ``routes``); authorization, bodies, names, selectors, paging, patches
and status codes are the same for every kind and live here once. Authorization always comes before
any lookup, so whoever may not ``get`` an object can't learn whether it exists. The few
endpoints that are not plain CRUD (``users/~``, passwords, project requests, token requests)
are in ``actions``, on the same helpers; list parameters in ``listing``, patch formats in
``patch``, watches in ``watch``, the image kinds in ``images``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar, cast

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from dockyard import errors
from dockyard.auth.access import ANONYMOUS, Principal
from dockyard.auth.identities import IdentityService
from dockyard.auth.policy import PolicyService
from dockyard.auth.projects import ProjectService
from dockyard.errors import StatusError
from dockyard.http.resources import listing, objects, patch, watch
from dockyard.http.resources.listing import ListQuery
from dockyard.http.resources.objects import JSON, ObjectBody
from dockyard.imagestreams.images import ImageObjectService
from dockyard.imagestreams.streams import ImageStreamService
from dockyard.metadata import changes
from dockyard.metadata.engine import Database

MAX_BODY_BYTES = 1 << 20
"""Resource objects are small; a larger body is a mistake or an attack, refused before parsing."""
MAX_ANNOTATION_BYTES = 256 << 10
"""Kubernetes' bound on all of an object's annotations together."""
PAGE_SIZE = 500


T = TypeVar("T")
B = TypeVar("B", bound=ObjectBody)
Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Call:
    """One routed resource request: who asks, the services, and the object the path names."""

    request: Request
    principal: Principal
    identities: IdentityService
    projects: ProjectService
    policy: PolicyService
    namespace: str | None
    name: str

    @property
    def project(self) -> str:
        """The namespace of a namespaced route, which always has one."""
        assert self.namespace is not None, "routed without a namespace"
        return self.namespace

    @property
    def streams(self) -> ImageStreamService:
        return cast(ImageStreamService, self.request.app.state.services.imagestreams)

    @property
    def images(self) -> ImageObjectService:
        return cast(ImageObjectService, self.request.app.state.services.images)

    def at(self, namespace: str | None, name: str) -> Call:
        """The same caller, naming another object (a watch renders each object it reports)."""
        return replace(self, namespace=namespace, name=name)

    @classmethod
    def of(cls, request: Request) -> Call:
        state = request.scope.get("state") or {}
        if state.get("auth_failed"):
            # Bad credentials are never downgraded to anonymous: the client must learn they failed.
            raise unauthorized()
        principal: Principal = state.get("principal") or ANONYMOUS
        if principal.grants is not None:
            raise StatusError(
                403,
                "Forbidden",
                f'User "{principal.name}" presented a registry bearer token, which grants registry'
                " access only; use an API token (dockyard whoami -t) for the resource API",
            )
        services = request.app.state.services
        return cls(
            request=request,
            principal=principal,
            identities=services.identities,
            projects=services.projects,
            policy=services.policy,
            namespace=request.path_params.get("namespace"),
            name=request.path_params.get("name", ""),
        )


# --- the shared steps ----------------------------------------------------------------------


def unauthorized() -> StatusError:
    return StatusError(401, "Unauthorized", "Unauthorized")


def forbidden(
    principal: Principal,
    verb: str,
    group: str,
    resource: str,
    namespace: str | None,
    name: str | None,
) -> StatusError:
    """Kubernetes' words: who may not do what, where."""
    base = resource.partition("/")[0]  # a subresource is forbidden on its resource's object
    target = f'{base} "{name}"' if name else base
    where = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
    details: JSON = {"group": group, "kind": base}
    if name:
        details["name"] = name
    return StatusError(
        403,
        "Forbidden",
        f'{target} is forbidden: User "{principal.name}" cannot {verb} resource "{resource}"'
        f' in API group "{group}"{where}',
        details,
    )


async def authorize(
    call: Call,
    verb: str,
    group: str,
    resource: str,
    namespace: str | None,
    name: str | None = None,
) -> None:
    """Continue only if the caller may; anonymous callers are told to authenticate (401)."""
    if await call.policy.can(call.principal, verb, group, resource, namespace, name or None):
        return
    if not call.principal.authenticated:
        raise unauthorized()
    raise forbidden(call.principal, verb, group, resource, namespace, name)


def method_not_allowed() -> StatusError:
    return StatusError(
        405, "MethodNotAllowed", "the server does not allow this method on the requested resource"
    )


async def read_json(request: Request) -> Any:
    """The body as JSON, at most ``MAX_BODY_BYTES``; an empty body is ``None``."""
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type and media_type != "application/json" and not media_type.endswith("+json"):
        raise StatusError(
            415,
            "UnsupportedMediaType",
            f'the body of the request was in an unknown format ("{media_type}"); accepted media'
            " types include: application/json",
        )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _too_large()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise _too_large()
    if not body.strip():
        return None
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise objects.bad_request(f"the request body is not valid JSON: {exc}") from None


def _too_large() -> StatusError:
    return StatusError(
        413,
        "RequestEntityTooLarge",
        f"the request body is too large: the limit is {MAX_BODY_BYTES} bytes",
    )


def respond(body: JSON, status: int = 200) -> Response:
    return JSONResponse(body, status)


# --- the table of kinds --------------------------------------------------------------------


@dataclass(frozen=True)
class Subresource:
    """An endpoint below an object (``imagestreams/{name}/layers``), listed in discovery."""

    name: str
    kind: str
    verbs: tuple[str, ...]
    endpoint: Endpoint


@dataclass(frozen=True)
class Kind(Generic[T, B]):
    """One kind: where it lives, how it renders, and the service call behind each verb.

    A verb left ``None`` answers 405. ``own_namespace``: the object is its own namespace for
    RBAC (a project). ``lists_visible``: ``list`` needs no check of its own because
    ``get_all`` returns only what the caller may see. Discovery and OpenAPI are generated from
    these fields, so what a kind serves is declared once, here.
    """

    kind: str
    group: str
    resource: str
    namespaced: bool
    render: Callable[[T], JSON]
    body: type[B] | None = None
    get_one: Callable[[Call], Awaitable[T]] | None = None
    get_all: Callable[[Call], Awaitable[Sequence[T]]] | None = None
    create: Callable[[Call, B], Awaitable[T]] | None = None
    update: Callable[[Call, B], Awaitable[T]] | None = None
    delete: Callable[[Call], Awaitable[None]] | None = None
    name_rule: Callable[[str], str | None] | None = None
    own_namespace: bool = False
    lists_visible: bool = False
    get_page: Callable[[Call, str | None, int], Awaitable[Sequence[T]]] | None = None
    """Instead of ``get_all``: up to N objects after a name, for kinds too many to list whole."""
    database: Callable[[Call], Database] | None = None
    """The database whose change log versions these objects: lists carry its newest id, and
    updates through ``patch`` are conditional on the version fetched."""
    changes: str | None = None
    """The change-log kind that makes the kind watchable."""
    labels: bool = False
    """Labels and annotations are stored (else refused rather than dropped)."""
    merge_keys: tuple[tuple[str, str], ...] = ()
    """Strategic merge: ``(list path, key field)``; other lists are replaced."""
    slashed_names: bool = False
    """Names may contain ``/`` (deeper repositories), so the item route takes a path."""
    all_namespaces: bool = False
    """Also listed (and watched) across namespaces at ``/apis/<group>/v1/<resource>``."""
    subresources: tuple[Subresource, ...] = ()
    collection: Endpoint | None = None
    """A collection served by an endpoint of its own (``projectrequests``), with ``verbs``."""
    custom_verbs: tuple[str, ...] = ()
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/v1" if self.group else "v1"

    @property
    def qualified(self) -> str:
        return objects.qualified_kind(self.kind, self.group)

    @property
    def root(self) -> str:
        return f"/apis/{self.group}/v1" if self.group else "/api/v1"

    @property
    def path(self) -> str:
        """The collection's path, with ``{namespace}`` for namespaced kinds."""
        scope = "/namespaces/{namespace}" if self.namespaced else ""
        return f"{self.root}{scope}/{self.resource}"

    @property
    def item_path(self) -> str:
        return f"{self.path}/{{name:path}}" if self.slashed_names else f"{self.path}/{{name}}"

    @property
    def patchable(self) -> bool:
        return None not in (self.get_one, self.update, self.database, self.body)

    @property
    def verbs(self) -> tuple[str, ...]:
        if self.custom_verbs:
            return self.custom_verbs
        served = {
            "get": self.get_one is not None,
            "list": self.get_all is not None or self.get_page is not None,
            "create": self.create is not None,
            "update": self.update is not None,
            "patch": self.patchable,
            "delete": self.delete is not None,
            "watch": self.changes is not None,
        }
        return tuple(sorted(verb for verb, on in served.items() if on))


# --- the generic verbs ---------------------------------------------------------------------


def collection_endpoint(kind: Kind[Any, Any]) -> Endpoint:
    """GET lists (or watches), POST creates."""

    async def endpoint(request: Request) -> Response:
        call = Call.of(request)
        listable = kind.get_all is not None or kind.get_page is not None
        if request.method in ("GET", "HEAD") and listable:
            return await _list(call, kind)
        if request.method == "POST" and kind.create is not None:
            await authorize(call, "create", kind.group, kind.resource, call.namespace)
            body = await _read_object(call, kind)
            name = body.metadata.name
            if not name:
                raise errors.invalid(
                    kind.qualified,
                    "",
                    [("metadata.name", "FieldValueRequired", "Required value: name is required")],
                )
            _check_name(kind, name)
            if call.namespace is not None:
                await call.projects.get_project(call.namespace)  # no objects in a missing one
            return respond(kind.render(await kind.create(call, body)), 201)
        raise method_not_allowed()

    return endpoint


def item_endpoint(kind: Kind[Any, Any]) -> Endpoint:
    """GET reads (or watches one object), PUT replaces, PATCH patches, DELETE deletes."""

    async def endpoint(request: Request) -> Response:
        call = Call.of(request)
        scope = call.name if kind.own_namespace else call.namespace
        if request.method in ("GET", "HEAD") and kind.get_one is not None:
            query = (
                ListQuery.parse(request.query_params) if "watch" in request.query_params else None
            )
            if query is not None and query.watch:
                return await _watch(call, kind, query, call.name)
            await authorize(call, "get", kind.group, kind.resource, scope, call.name)
            return respond(kind.render(await kind.get_one(call)))
        if request.method == "PUT" and kind.update is not None:
            await authorize(call, "update", kind.group, kind.resource, scope, call.name)
            body = await _read_object(call, kind)
            if body.metadata.name and body.metadata.name != call.name:
                raise objects.bad_request(
                    f"the name of the object ({body.metadata.name}) does not match the name on"
                    f" the URL ({call.name})",
                    "metadata.name",
                )
            if body.metadata.uid and kind.get_one is not None:
                current = kind.render(await kind.get_one(call))
                _check_immutable(kind, current, {"metadata": {"uid": body.metadata.uid}})
            return respond(kind.render(await kind.update(call, body)))
        if request.method == "PATCH" and kind.patchable:
            return await _patch(call, kind, scope)
        if request.method == "DELETE" and kind.delete is not None:
            await authorize(call, "delete", kind.group, kind.resource, scope, call.name)
            await kind.delete(call)
            return respond(objects.render_success(kind.resource, kind.group, call.name))
        raise method_not_allowed()

    return endpoint


async def _list(call: Call, kind: Kind[Any, Any]) -> Response:
    """A list: selected, paged, with the resourceVersion a watch can continue from."""
    query = ListQuery.parse(call.request.query_params)
    if query.watch:
        return await _watch(call, kind, query, query.fields.equal_to("metadata.name"))
    if not kind.lists_visible:
        await authorize(call, "list", kind.group, kind.resource, call.namespace)
    version = query.continued_version
    if version is None and kind.database is not None:
        async with kind.database(call).read() as conn:
            version = str(await changes.newest(conn))
    if kind.get_page is not None:
        items, more = await _paged(call, kind, query)
    else:
        assert kind.get_all is not None
        items, more = listing.page([kind.render(obj) for obj in await kind.get_all(call)], query)
    body = objects.render_list(kind.api_version, kind.kind, items)
    if version is not None:
        body["metadata"]["resourceVersion"] = version
    if more is not None:
        body["metadata"]["continue"] = listing.encode_continue(more, version or "")
    return respond(body)


async def _paged(
    call: Call, kind: Kind[Any, Any], query: ListQuery
) -> tuple[list[JSON], tuple[str, str] | None]:
    """Read page by page from the service until ``limit`` objects are selected."""
    assert kind.get_page is not None
    found: list[JSON] = []
    last = query.after[1] if query.after is not None else None
    while True:
        batch = [kind.render(obj) for obj in await kind.get_page(call, last, PAGE_SIZE)]
        for obj in batch:
            if not query.selects(obj):
                continue
            if query.limit is not None and len(found) == query.limit:
                return found, listing.key_of(found[-1])
            found.append(obj)
        if len(batch) < PAGE_SIZE:
            return found, None
        last = listing.key_of(batch[-1])[1]


async def _watch(call: Call, kind: Kind[Any, Any], query: ListQuery, name: str | None) -> Response:
    if kind.changes is None or kind.database is None:
        raise method_not_allowed()
    await authorize(call, "watch", kind.group, kind.resource, call.namespace, name)
    return await watch.stream(call, kind, query, name)


async def _patch(call: Call, kind: Kind[Any, Any], scope: str | None) -> Response:
    """Fetch, apply, update with the version fetched: a change in between is a 409, never
    overwritten."""
    media_type = call.request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type not in patch.MEDIA_TYPES:
        raise patch.unsupported(media_type)
    await authorize(call, "patch", kind.group, kind.resource, scope, call.name)
    document = await read_json(call.request)
    if document is None:
        raise objects.bad_request("the patch is empty")
    assert kind.get_one is not None and kind.update is not None
    current = kind.render(await kind.get_one(call))
    patched = patch.apply(media_type, current, document, dict(kind.merge_keys))
    if len(json.dumps(patched, separators=(",", ":"))) > MAX_BODY_BYTES:
        raise _too_large()
    _check_immutable(kind, current, patched, ("name", "namespace", "uid"))
    metadata = patched.get("metadata")
    if isinstance(metadata, dict) and not metadata.get("resourceVersion"):
        metadata["resourceVersion"] = current.get("metadata", {}).get("resourceVersion", "")
    body = _decode(call, kind, patched)
    return respond(kind.render(await kind.update(call, body)))


async def _read_object(call: Call, kind: Kind[Any, B]) -> B:
    return _decode(call, kind, await read_json(call.request))


def _decode(call: Call, kind: Kind[Any, B], data: Any) -> B:
    assert kind.body is not None, f"{kind.kind} takes no body"
    body = objects.decode(
        kind.body, data, kind.qualified, api_version=kind.api_version, kind=kind.kind
    )
    name = body.metadata.name or call.name
    if kind.labels:
        _check_labels(kind, body, name)
    else:
        objects.check_metadata(body, kind.qualified, name)
    if kind.namespaced and body.metadata.namespace not in ("", call.namespace):
        raise objects.bad_request(
            f"the namespace of the provided object ({body.metadata.namespace}) does not match"
            f" the namespace sent on the request ({call.namespace})",
            "metadata.namespace",
        )
    return body


def _check_labels(kind: Kind[Any, Any], body: ObjectBody, name: str) -> None:
    """Kubernetes' rules for label keys and values and annotation keys."""
    causes: list[tuple[str, str, str]] = []
    for key, value in (body.metadata.labels or {}).items():
        problem = listing.label_key_problem(key) or listing.label_value_problem(value)
        if problem is not None:
            causes.append(("metadata.labels", "FieldValueInvalid", f"Invalid value: {problem}"))
    annotations = body.metadata.annotations or {}
    for key in annotations:
        problem = listing.label_key_problem(key)
        if problem is not None:
            causes.append(
                ("metadata.annotations", "FieldValueInvalid", f"Invalid value: {problem}")
            )
    size = sum(len(k.encode()) + len(v.encode()) for k, v in annotations.items())
    if size > MAX_ANNOTATION_BYTES:
        causes.append(
            (
                "metadata.annotations",
                "FieldValueTooLong",
                f"Too long: must have at most {MAX_ANNOTATION_BYTES} bytes",
            )
        )
    if causes:
        raise errors.invalid(kind.qualified, name, causes)


def _check_immutable(
    kind: Kind[Any, Any],
    current: JSON,
    proposed: JSON,
    fields: Sequence[str] = ("uid",),
) -> None:
    """A change to a system field is refused (422), never silently undone."""
    before = current.get("metadata") or {}
    after = proposed.get("metadata")
    after = after if isinstance(after, dict) else {}
    causes = []
    for field in fields:
        old, new = before.get(field), after.get(field)
        if field == "uid" and not new:
            continue  # left out: the object keeps its uid
        if old is not None and new != old:
            causes.append(
                (
                    f"metadata.{field}",
                    "FieldValueInvalid",
                    f"Invalid value: {json.dumps(new)}: field is immutable",
                )
            )
    if causes:
        raise errors.invalid(kind.qualified, str(before.get("name", "")), causes)


def _check_name(kind: Kind[Any, Any], name: str) -> None:
    problem = kind.name_rule(name) if kind.name_rule is not None else None
    if problem is not None:
        raise errors.invalid(
            kind.qualified,
            name,
            [("metadata.name", "FieldValueInvalid", f"Invalid value: {problem}")],
        )
