"""The ``image.openshift.io/v1`` kinds: what each verb calls in the image services.

The services render Kubernetes JSON themselves (they are shared with ``/v2`` and hold the
semantics), so these kinds render by identity; what is added here is the strict body models
(unknown fields are 422s naming the field), the name rules, and ImageTag, which is a view of a
stream's spec and status tag by tag.
"""

from __future__ import annotations

from typing import Any, cast

from pydantic import Field
from starlette.requests import Request
from starlette.responses import Response

from dockyard.errors import StatusError
from dockyard.http.resources.handlers import (
    Call,
    Kind,
    Subresource,
    authorize,
    method_not_allowed,
    respond,
)
from dockyard.http.resources.objects import JSON, ObjectBody
from dockyard.imagestreams.spec import ImageStreamSpec, TagReference, parse_model
from dockyard.imagestreams.streams import GROUP, not_found, split_tag_name
from dockyard.imports.importer import Importer
from dockyard.metadata.engine import Database
from dockyard.registry.reference import NAME_RE, TAG_RE

API_VERSION = f"{GROUP}/v1"
STREAM_MERGE_KEYS = (("spec.tags", "name"), ("status.tags", "tag"))
"""openshift/api's patch merge keys: TagReference by name, NamedTagEventList by tag."""


class ImageStreamBody(ObjectBody):
    spec: ImageStreamSpec | None = None
    status: dict[str, Any] | None = None
    """Accepted so that a fetched object can be sent back; the server owns it."""


class ImageStreamTagBody(ObjectBody):
    tag: dict[str, Any] | None = None
    """A TagReference; the service validates it, with ``name`` taken from the object name."""
    generation: int | None = None
    lookup_policy: dict[str, Any] | None = Field(None, alias="lookupPolicy")
    image: dict[str, Any] | None = None
    conditions: list[dict[str, Any]] | None = None


class ImageStreamMappingBody(ObjectBody):
    image: dict[str, Any]
    tag: str


def as_json(body: ObjectBody) -> JSON:
    """The body as the client sent it (checked): what the image services take."""
    return body.model_dump(mode="json", by_alias=True, exclude_unset=True)


def _same(obj: JSON) -> JSON:
    return obj


def stream_name(name: str) -> str | None:
    """A repository path below the project: components of the distribution grammar."""
    if not NAME_RE.fullmatch(name):
        return (
            "must be lowercase letters and digits, separated by '.', '_', '__' or '-', in"
            " components joined by '/'"
        )
    return None


def tag_name(name: str) -> str | None:
    stream, colon, tag = name.rpartition(":")
    if not colon or not stream:
        return "must be <stream>:<tag>"
    if not TAG_RE.fullmatch(tag):
        return "the tag must be up to 128 of [A-Za-z0-9_.-], not starting with '.' or '-'"
    return stream_name(stream)


def _database(call: Call) -> Database:
    return call.streams.db


# --- image streams ---------------------------------------------------------------------------


def _stream_body(call: Call, body: ObjectBody) -> JSON:
    data = as_json(body)
    data["metadata"] = {**data.get("metadata", {}), "name": body.metadata.name or call.name}
    return data


async def stream_layers(request: Request) -> Response:
    """``imagestreams/{name}/layers``: what pulling the stream needs, checked as a pull is."""
    call = Call.of(request)
    if request.method not in ("GET", "HEAD"):
        raise method_not_allowed()
    await authorize(call, "get", GROUP, "imagestreams/layers", call.namespace, call.name)
    return respond(await call.streams.layers(call.project, call.name))


IMAGE_STREAMS: Kind[JSON, ImageStreamBody] = Kind(
    "ImageStream",
    GROUP,
    "imagestreams",
    namespaced=True,
    render=_same,
    body=ImageStreamBody,
    get_one=lambda call: call.streams.get(call.project, call.name),
    get_all=lambda call: call.streams.list_streams(call.namespace),
    create=lambda call, body: call.streams.create(call.project, _stream_body(call, body)),
    update=lambda call, body: call.streams.update(
        call.project, call.name, _stream_body(call, body)
    ),
    delete=lambda call: call.streams.delete(call.project, call.name),
    name_rule=stream_name,
    database=_database,
    changes="ImageStream",
    labels=True,
    merge_keys=STREAM_MERGE_KEYS,
    slashed_names=True,
    all_namespaces=True,
    subresources=(Subresource("layers", "ImageStreamLayers", ("get",), stream_layers),),
    short_names=("is",),
    categories=("all",),
)


# --- image stream tags -----------------------------------------------------------------------


async def _current_tag(call: Call) -> JSON | None:
    try:
        return await call.streams.get_tag(call.project, call.name)
    except StatusError as exc:
        if exc.code == 404:
            return None
        raise


async def _create_tag(call: Call, body: ImageStreamTagBody) -> JSON:
    name = body.metadata.name
    if await _current_tag(call.at(call.namespace, name)) is not None:
        raise StatusError(
            409,
            "AlreadyExists",
            f'imagestreamtags.{GROUP} "{name}" already exists',
            {"name": name, "group": GROUP, "kind": "imagestreamtags"},
        )
    return await _external_tag(call, name, body) or await call.streams.put_tag(
        call.project, name, as_json(body)
    )


async def _update_tag(call: Call, body: ImageStreamTagBody) -> JSON:
    """A stale ``resourceVersion`` is a conflict, as it is for the stream itself."""
    return await _external_tag(call, call.name, body) or await call.streams.put_tag(
        call.project, call.name, as_json(body), body.metadata.resource_version
    )


async def _external_tag(call: Call, name: str, body: ImageStreamTagBody) -> JSON | None:
    """A tag ``from`` a ``DockerImage`` is imported now (``dockyard tag --source=docker``)."""
    source = (body.tag or {}).get("from")
    if not isinstance(source, dict) or source.get("kind") != "DockerImage":
        return None
    stream, tag = split_tag_name(name)
    reference = parse_model(
        TagReference, {**(body.tag or {}), "name": tag}, "ImageStreamTag", name, "tag"
    )
    assert reference.from_ is not None
    importer = cast(Importer, call.request.app.state.services.imports)
    await importer.import_tag(
        call.project,
        stream,
        tag,
        reference.from_.name,
        reference.importPolicy,
        reference.referencePolicy,
    )
    return await call.streams.get_tag(call.project, name)


IMAGE_STREAM_TAGS: Kind[JSON, ImageStreamTagBody] = Kind(
    "ImageStreamTag",
    GROUP,
    "imagestreamtags",
    namespaced=True,
    render=_same,
    body=ImageStreamTagBody,
    get_one=lambda call: call.streams.get_tag(call.project, call.name),
    get_all=lambda call: call.streams.list_tags(call.project),
    create=_create_tag,
    update=_update_tag,
    delete=lambda call: call.streams.delete_tag(call.project, call.name),
    name_rule=tag_name,
    database=_database,
    slashed_names=True,
    short_names=("istag",),
)


# --- image tags: a stream's spec and status, tag by tag --------------------------------------


def image_tags(stream: JSON) -> list[JSON]:
    """One ImageTag per tag in the stream's spec or status, sorted by tag; no ``image``."""
    metadata = stream["metadata"]
    spec = {entry["name"]: entry for entry in stream["spec"].get("tags", [])}
    status = {entry["tag"]: entry for entry in stream["status"].get("tags", [])}
    return [
        {
            "kind": "ImageTag",
            "apiVersion": API_VERSION,
            "metadata": {
                "name": f"{metadata['name']}:{tag}",
                "namespace": metadata["namespace"],
                "uid": metadata.get("uid", ""),
                "resourceVersion": metadata["resourceVersion"],
                "creationTimestamp": metadata["creationTimestamp"],
            },
            "spec": spec.get(tag),
            "status": status.get(tag),
            "image": None,
        }
        for tag in sorted(spec.keys() | status.keys())
    ]


async def _get_image_tag(call: Call) -> JSON:
    stream = split_tag_name(call.name)[0]
    try:
        found = await call.streams.get(call.project, stream)
    except StatusError as exc:
        if exc.code == 404:
            raise not_found("imagetags", call.name) from None
        raise
    view = next((t for t in image_tags(found) if t["metadata"]["name"] == call.name), None)
    if view is None:
        raise not_found("imagetags", call.name)
    items = (view["status"] or {}).get("items") or []
    if items:
        view["image"] = await call.images.get(items[0]["image"])
    return view


async def _list_image_tags(call: Call) -> list[JSON]:
    return [view for s in await call.streams.list_streams(call.namespace) for view in image_tags(s)]


IMAGE_TAGS: Kind[JSON, ObjectBody] = Kind(
    "ImageTag",
    GROUP,
    "imagetags",
    namespaced=True,
    render=_same,
    get_one=_get_image_tag,
    get_all=_list_image_tags,
    database=_database,
    slashed_names=True,
    all_namespaces=True,
    short_names=("itag",),
)


# --- the rest --------------------------------------------------------------------------------

IMAGE_STREAM_IMAGES: Kind[JSON, ObjectBody] = Kind(
    "ImageStreamImage",
    GROUP,
    "imagestreamimages",
    namespaced=True,
    render=_same,
    get_one=lambda call: call.streams.get_stream_image(call.project, call.name),
    slashed_names=True,
    short_names=("isimage",),
)
IMAGE_STREAM_MAPPINGS: Kind[JSON, ImageStreamMappingBody] = Kind(
    "ImageStreamMapping",
    GROUP,
    "imagestreammappings",
    namespaced=True,
    render=_same,
    body=ImageStreamMappingBody,
    create=lambda call, body: call.streams.create_mapping(call.project, as_json(body)),
    name_rule=stream_name,
)
IMAGES: Kind[JSON, ObjectBody] = Kind(
    "Image",
    GROUP,
    "images",
    namespaced=False,
    render=_same,
    get_one=lambda call: call.images.get(call.name),
    get_page=lambda call, last, limit: call.images.list_images(last, limit),
    database=_database,
)

KINDS: tuple[Kind[Any, Any], ...] = (
    IMAGES,
    IMAGE_STREAMS,
    IMAGE_STREAM_TAGS,
    IMAGE_TAGS,
    IMAGE_STREAM_IMAGES,
    IMAGE_STREAM_MAPPINGS,
)
