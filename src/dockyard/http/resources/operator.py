"""``imageregistry.operator.openshift.io/v1``: the cluster Config, kept in the generic store.

The handler serves it like any stored kind; what is added is the spec model, the checks of
``dockyard.operator.config`` (each refusal a 422 naming the field) and the operator's defaults.
The status is the operator's (a status subresource): workers write it, clients read it.
"""

from __future__ import annotations

from typing import Any

from dockyard.http.resources.objects import JSON, ObjectBody
from dockyard.http.resources.stored import StoredKind, kind_of, refuse
from dockyard.operator.config import CONFIG, NAME, ConfigSpec, dump, parse, problems, with_defaults


class ConfigBody(ObjectBody):
    spec: ConfigSpec = ConfigSpec()
    status: dict[str, Any] | None = None
    """Accepted so that a fetched object can be sent back; the operator owns it."""


def prepare_config(body: ConfigBody, current: JSON | None) -> JSON:
    causes = problems(body.spec)
    if causes:
        refuse(CONFIG, NAME, causes)
    spec = with_defaults(body.spec, parse(current) if current is not None else None)
    return {"spec": dump(spec)}


def cluster_only(name: str) -> str | None:
    return None if name == NAME else f'must be "{NAME}": the registry has one Config'


CONFIGS = kind_of(
    StoredKind(
        CONFIG,
        ConfigBody,
        prepare_config,
        status=True,
        name_rule=cluster_only,
        deletable=False,
    )
)
KINDS = (CONFIGS,)
