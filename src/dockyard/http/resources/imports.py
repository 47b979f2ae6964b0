"""``imagestreamimports``: create-only, as in OpenShift; the result is in the returned status.
``spec.import: true`` writes the stream, so it also needs the right to change the stream;
a dry run only reads the upstream.

``images.config.openshift.io/cluster``: which registries imports and pull-through may reach
(``dockyard.imports.policy``), kept in the generic store.
"""

from __future__ import annotations

from typing import Any, cast

from pydantic import Field

from dockyard.http.resources.handlers import Call, Kind, authorize
from dockyard.http.resources.images import as_json, stream_name
from dockyard.http.resources.objects import JSON, ObjectBody
from dockyard.http.resources.stored import StoredKind, kind_of, refuse
from dockyard.imagestreams.streams import GROUP
from dockyard.imports.importer import Importer
from dockyard.imports.policy import ImageConfigSpec
from dockyard.operator.trust import CLUSTER, IMAGE_CONFIG


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


class ImageConfigBody(ObjectBody):
    spec: ImageConfigSpec = Field(default_factory=ImageConfigSpec)
    status: dict[str, Any] | None = None


def prepare_image_config(body: ImageConfigBody, current: JSON | None) -> JSON:
    """OpenShift's rule: a cluster allows some registries or blocks some, never both."""
    sources = body.spec.registrySources
    if sources.allowedRegistries and sources.blockedRegistries:
        refuse(
            IMAGE_CONFIG,
            CLUSTER,
            [
                (
                    "spec.registrySources",
                    "FieldValueForbidden",
                    "Forbidden: only one of blockedRegistries or allowedRegistries may be set",
                )
            ],
        )
    return {"spec": body.spec.model_dump(mode="json", exclude_none=True)}


def cluster_only(name: str) -> str | None:
    return None if name == CLUSTER else f'must be "{CLUSTER}": the config is cluster-wide'


IMAGE_CONFIGS = kind_of(
    StoredKind(IMAGE_CONFIG, ImageConfigBody, prepare_image_config, name_rule=cluster_only)
)

KINDS: tuple[Kind[Any, Any], ...] = (IMAGE_STREAM_IMPORTS, IMAGE_CONFIGS)
