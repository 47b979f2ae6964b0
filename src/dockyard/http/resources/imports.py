"""``imagestreamimports``: create-only, as in OpenShift; the result is in the returned status.

``spec.import: true`` writes the stream, so it also needs the right to change the stream;
a dry run only reads the upstream.
"""

from __future__ import annotations

from typing import Any, cast

from dockyard.http.resources.handlers import Call, Kind, authorize
from dockyard.http.resources.images import GROUP, as_json, stream_name
from dockyard.http.resources.objects import JSON, ObjectBody
from dockyard.imports.importer import Importer


class ImageStreamImportBody(ObjectBody):
    spec: dict[str, Any] | None = None
    """Validated by the importer, which names the field at fault."""
    status: dict[str, Any] | None = None
    """Accepted and ignored: the server fills it."""


def importer(call: Call) -> Importer:
    return cast(Importer, call.request.app.state.services.imports)


async def _create(call: Call, body: ImageStreamImportBody) -> JSON:
    name = body.metadata.name
    data = as_json(body)
    if (data.get("spec") or {}).get("import") is True:
        await authorize(call, "update", GROUP, "imagestreams", call.namespace, name)
    return await importer(call).create(call.project, name, data)


def _same(obj: JSON) -> JSON:
    return obj


IMAGE_STREAM_IMPORTS: Kind[JSON, ImageStreamImportBody] = Kind(
    "ImageStreamImport",
    GROUP,
    "imagestreamimports",
    namespaced=True,
    render=_same,
    body=ImageStreamImportBody,
    create=_create,
    name_rule=stream_name,
)

KINDS: tuple[Kind[Any, Any], ...] = (IMAGE_STREAM_IMPORTS,)
