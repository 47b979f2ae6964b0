"""Kubernetes RBAC rule evaluation, OpenShift's built-in registry roles, and the checks per action.

Rules match the way Kubernetes matches them (``k8s.io/component-helpers/auth/rbac``), so roles
written for OpenShift mean the same here. The roles are those of OpenShift's bootstrap policy as
summarised in ``reference/openshift-registry.md`` §3; the registry action → check table is the one
``openshift/image-registry`` ``auth.go`` applies. Bindings and their scopes are decided elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from dockyard.auth.access import CATALOG, Access

ALL = "*"
IMAGE_GROUP = "image.openshift.io"
"""The group of every registry check: the registry asks SubjectAccessReviews in this group."""

CORE_GROUP = ""
USER_GROUP = "user.openshift.io"
PROJECT_GROUP = "project.openshift.io"
BUILD_GROUP = "build.openshift.io"
RBAC_GROUP = "rbac.authorization.k8s.io"

READ = ("get", "list", "watch")
READ_WRITE = (*READ, "create", "update", "patch", "delete", "deletecollection")


@dataclass(frozen=True)
class PolicyRule:
    """A Kubernetes ``PolicyRule`` for resources (non-resource URLs are not modelled)."""

    verbs: frozenset[str]
    api_groups: frozenset[str]
    resources: frozenset[str]
    resource_names: frozenset[str] = frozenset()

    def matches(self, verb: str, api_group: str, resource: str, name: str | None = None) -> bool:
        """Kubernetes semantics: ``*`` matches any verb, group or resource (subresources too),
        ``*/<sub>`` matches that subresource of any resource, ``<resource>/*`` is no wildcard,
        a resource grants none of its subresources, and a rule naming resources never matches a
        request without a name (list, create)."""
        return (
            _matches(self.verbs, verb)
            and _matches(self.api_groups, api_group)
            and self._matches_resource(resource)
            and (not self.resource_names or name in self.resource_names)
        )

    def _matches_resource(self, resource: str) -> bool:
        if _matches(self.resources, resource):
            return True
        _, slash, subresource = resource.partition("/")
        return bool(slash) and f"*/{subresource}" in self.resources


def _matches(allowed: frozenset[str], requested: str) -> bool:
    return ALL in allowed or requested in allowed


@dataclass(frozen=True)
class Role:
    """A ClusterRole (``namespace`` None) or a Role of one namespace."""

    name: str
    rules: tuple[PolicyRule, ...]
    namespace: str | None = None


def allows(
    rules: Iterable[PolicyRule], verb: str, api_group: str, resource: str, name: str | None = None
) -> bool:
    """RBAC is a union of grants: any matching rule allows, nothing denies."""
    return any(rule.matches(verb, api_group, resource, name) for rule in rules)


def _rule(verbs: Iterable[str], groups: Iterable[str], resources: Iterable[str]) -> PolicyRule:
    return PolicyRule(frozenset(verbs), frozenset(groups), frozenset(resources))


# Image resources are served in image.openshift.io and, for old clients, in the core group.
_IMAGE = (IMAGE_GROUP, CORE_GROUP)
_PROJECT = (PROJECT_GROUP, CORE_GROUP)
_BUILD = (BUILD_GROUP, CORE_GROUP)
# The reference's list, plus ``imagetags``: the newer view of a stream's tags, which
# OpenShift's view and edit roles grant alongside ``imagestreamtags``.
_IMAGE_STREAM_RESOURCES = (
    "imagestreams",
    "imagestreamimages",
    "imagestreamtags",
    "imagetags",
    "imagestreammappings",
)

_PULL = _rule(["get"], _IMAGE, ["imagestreams/layers"])
_PUSH = _rule(["get", "update"], _IMAGE, ["imagestreams/layers"])
_GET_PROJECT = (
    _rule(["get"], [CORE_GROUP], ["namespaces"]),
    _rule(["get"], _PROJECT, ["projects"]),
)
_EDIT_IMAGES = (
    _rule(READ_WRITE, [CORE_GROUP], ["serviceaccounts", "secrets"]),
    # Kubernetes' edit role lets its holders issue tokens for the service accounts they manage.
    _rule(["create"], [CORE_GROUP], ["serviceaccounts/token"]),
    _rule(READ_WRITE, _IMAGE, [*_IMAGE_STREAM_RESOURCES, "imagestreams/secrets"]),
    _rule(["create"], _IMAGE, ["imagestreamimports"]),
    _PUSH,
)

_ROLES = (
    # "system:image-puller: get imagestreams/layers."
    Role("system:image-puller", (_PULL,)),
    # "system:image-pusher: get+update imagestreams/layers."
    Role("system:image-pusher", (_PUSH,)),
    # "system:image-builder: pusher + create imagestreams + update builds/details + get builds."
    Role(
        "system:image-builder",
        (
            _PUSH,
            _rule(["create"], _IMAGE, ["imagestreams"]),
            _rule(["update"], _BUILD, ["builds/details"]),
            _rule(["get"], _BUILD, ["builds"]),
        ),
    ),
    # "registry-viewer: read imagestreams, imagestreamimages, imagestreamtags,
    # imagestreammappings; get imagestreams/layers; get namespaces/projects."
    Role(
        "registry-viewer",
        (_rule(READ, _IMAGE, _IMAGE_STREAM_RESOURCES), _PULL, *_GET_PROJECT),
    ),
    # "registry-editor: read-write on the above plus imagestreams/secrets, serviceaccounts,
    # secrets; create imagestreamimports; get+update imagestreams/layers." (+ get its project)
    Role("registry-editor", (*_EDIT_IMAGES, *_GET_PROJECT)),
    # "registry-admin: editor + manage roles/rolebindings + delete project."
    Role(
        "registry-admin",
        (
            *_EDIT_IMAGES,
            _rule(READ_WRITE, [RBAC_GROUP], ["roles", "rolebindings"]),
            _rule(["get"], [CORE_GROUP], ["namespaces"]),
            _rule(["get", "delete"], _PROJECT, ["projects"]),
        ),
    ),
    # "system:registry (the registry's own SA)", one rule per line of the reference.
    Role(
        "system:registry",
        (
            _rule(["list"], [CORE_GROUP], ["limitranges", "resourcequotas"]),
            _rule(["list"], _IMAGE, ["imagestreams"]),
            _rule(["get", "delete"], _IMAGE, ["images", "imagestreamtags"]),
            _rule(
                ["get"],
                _IMAGE,
                ["imagestreamimages", "imagestreams/secrets", "imagestreams/layers"],
            ),
            _rule(["get", "update"], _IMAGE, ["images", "imagestreams"]),
            _rule(["create"], _IMAGE, ["imagestreammappings"]),
        ),
    ),
    # "system:image-pruner: list pods, RCs, builds, DCs, deployments, etc.; delete images; update
    # imagestreams/status." The "etc." is filled in from OpenShift's bootstrap policy: the pruner
    # must read every image and stream to know what is still referenced.
    Role(
        "system:image-pruner",
        (
            _rule(READ, [CORE_GROUP], ["pods", "replicationcontrollers"]),
            _rule(["list"], [CORE_GROUP], ["limitranges"]),
            _rule(["get", "list"], _BUILD, ["buildconfigs", "builds"]),
            _rule(["get", "list"], ["apps.openshift.io", CORE_GROUP], ["deploymentconfigs"]),
            _rule(
                ["get", "list"],
                ["apps", "extensions"],
                ["daemonsets", "deployments", "replicasets"],
            ),
            _rule(["get", "list"], ["apps"], ["statefulsets"]),
            _rule(["get", "list"], ["batch"], ["jobs", "cronjobs"]),
            _rule(["delete"], _IMAGE, ["images"]),
            _rule(READ, _IMAGE, ["images", "imagestreams"]),
            _rule(["update"], _IMAGE, ["imagestreams/status"]),
        ),
    ),
    # Every verb on every resource of every group.
    Role("cluster-admin", (_rule([ALL], [ALL], [ALL]),)),
    # "`metrics:get` → `get registry/metrics` (cluster)", in the registry's SAR group.
    Role("prometheus-scraper", (_rule(["get"], [IMAGE_GROUP], ["registry/metrics"]),)),
)

BUILTIN_CLUSTER_ROLES: Mapping[str, Role] = MappingProxyType({role.name: role for role in _ROLES})


@dataclass(frozen=True)
class Check:
    """One access review: may the subject ``verb`` this resource (in ``namespace``, if any)?"""

    verb: str
    api_group: str
    resource: str
    namespace: str | None
    name: str | None


METRICS_TYPE = "metrics"
"""The access type of the metrics endpoint (``metrics:get`` in the reference)."""


def registry_checks(access: Access, *, stream_exists: bool | None = None) -> list[Check]:
    """The checks that must all pass for ``access``; unknown accesses raise (fail closed).

    ``stream_exists=False`` adds the ``create imagestreams`` a push into a new stream needs;
    None (unknown) and True check the push alone.
    """
    if access.type == "repository":
        namespace, name = _split_repository(access.name)
        if access.action == "pull":
            # `repository:<ns>/<name>:pull` → `get imagestreams/layers` (name, ns)
            return [Check("get", IMAGE_GROUP, "imagestreams/layers", namespace, name)]
        if access.action == "push":
            # `repository:…:push` → `update imagestreams/layers`
            checks = [Check("update", IMAGE_GROUP, "imagestreams/layers", namespace, name)]
            if stream_exists is False:
                # "Pushing into a missing stream needs `create imagestreams`."
                checks.append(Check("create", IMAGE_GROUP, "imagestreams", namespace, name))
            return checks
        if access.action == "delete":
            # `repository:…:delete` on a manifest or blob → `delete images` (cluster-wide)
            return [Check("delete", IMAGE_GROUP, "images", None, None)]
    elif access == CATALOG:
        # `registry:catalog:*` → `list imagestreams` (cluster)
        return [Check("list", IMAGE_GROUP, "imagestreams", None, None)]
    elif access.type == METRICS_TYPE and access.action == "get":
        # `metrics:get` → `get registry/metrics` (cluster)
        return [Check("get", IMAGE_GROUP, "registry/metrics", None, None)]
    raise ValueError(f"no authorization check is defined for {access.scope!r}")


def _split_repository(repository: str) -> tuple[str, str]:
    """``<project>/<name…>``: the project is the namespace, the rest names the image stream."""
    namespace, _, name = repository.partition("/")
    if not namespace or not name:
        raise ValueError(f"repository {repository!r} is not of the form <project>/<name>")
    return namespace, name
