"""``imagepruners.imageregistry.operator.openshift.io``: the ``cluster`` ImagePruner, kept in
the generic store. What is added is the spec model, its checks and the operator's defaults
(``dockyard.pruning.imagepruner``); the status is the scheduler's, which records each run.
"""

from __future__ import annotations

from typing import Any

from dockyard.http.resources.objects import JSON, ObjectBody
from dockyard.http.resources.stored import StoredKind, kind_of, refuse
from dockyard.pruning.imagepruner import (
    IMAGE_PRUNER,
    NAME,
    ImagePrunerSpec,
    dump,
    problems,
    with_defaults,
)


class ImagePrunerBody(ObjectBody):
    spec: ImagePrunerSpec = ImagePrunerSpec()
    status: dict[str, Any] | None = None
    """Accepted so that a fetched object can be sent back; the scheduler owns it."""


def prepare_image_pruner(body: ImagePrunerBody, current: JSON | None) -> JSON:
    causes = problems(body.spec)
    if causes:
        refuse(IMAGE_PRUNER, NAME, causes)
    return {"spec": dump(with_defaults(body.spec))}


def cluster_only(name: str) -> str | None:
    return None if name == NAME else f'must be "{NAME}": the registry has one ImagePruner'


IMAGE_PRUNERS = kind_of(
    StoredKind(
        IMAGE_PRUNER, ImagePrunerBody, prepare_image_pruner, status=True, name_rule=cluster_only
    )
)
KINDS = (IMAGE_PRUNERS,)
