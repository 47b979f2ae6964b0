"""``imageregistry.operator.openshift.io/v1``: the cluster Config, kept in the generic store.

The handler serves it like any stored kind; what is added is the spec model, the checks of
``dockyard.operator.config`` (each refusal a 422 naming the field) and the operator's defaults.
The status is the operator's (a status subresource): workers write it, clients read it.
"""

from __future__ import annotations

from typing import Any

from dockyard import __version__
from dockyard.errors import StatusError
from dockyard.http.resources.handlers import Call, Kind
from dockyard.http.resources.objects import JSON, ObjectBody
from dockyard.http.resources.stored import StoredKind, kind_of, refuse, store_of
from dockyard.operator.config import (
    CONFIG,
    NAME,
    SYSTEM_NAMESPACE,
    ConfigSpec,
    dump,
    parse,
    problems,
    with_defaults,
)

CLUSTER_OPERATOR = "image-registry"
CONFIG_GROUP = "config.openshift.io"


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


def cluster_operator(config: JSON) -> JSON:
    """``clusteroperators.config.openshift.io/image-registry``: the Config's health as
    ``oc get clusteroperator`` shows it (Available, Progressing, Degraded)."""
    metadata = config["metadata"]
    conditions = (config.get("status") or {}).get("conditions") or []
    return {
        "kind": "ClusterOperator",
        "apiVersion": f"{CONFIG_GROUP}/v1",
        "metadata": {
            "name": CLUSTER_OPERATOR,
            "uid": metadata["uid"],
            "resourceVersion": metadata["resourceVersion"],
            "creationTimestamp": metadata["creationTimestamp"],
        },
        "spec": {},
        "status": {
            "conditions": [
                c for c in conditions if c.get("type") in ("Available", "Progressing", "Degraded")
            ],
            "versions": [{"name": "operator", "version": __version__}],
            "relatedObjects": [
                {"group": CONFIG.group, "resource": CONFIG.resource, "name": NAME},
                {"group": "", "resource": "namespaces", "name": SYSTEM_NAMESPACE},
            ],
        },
    }


async def _get_cluster_operator(call: Call) -> JSON:
    if call.name != CLUSTER_OPERATOR:
        raise StatusError(
            404,
            "NotFound",
            f'clusteroperators.{CONFIG_GROUP} "{call.name}" not found',
            {"name": call.name, "group": CONFIG_GROUP, "kind": "clusteroperators"},
        )
    return cluster_operator(await store_of(call).get(CONFIG, None, NAME))


async def _list_cluster_operators(call: Call) -> list[JSON]:
    found = await store_of(call).find(CONFIG, None, NAME)
    return [] if found is None else [cluster_operator(found)]


CLUSTER_OPERATORS: Kind[JSON, ObjectBody] = Kind(
    "ClusterOperator",
    CONFIG_GROUP,
    "clusteroperators",
    namespaced=False,
    render=lambda obj: obj,
    get_one=_get_cluster_operator,
    get_all=_list_cluster_operators,
    short_names=("co",),
)
KINDS = (CONFIGS, CLUSTER_OPERATORS)
