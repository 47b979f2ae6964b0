from __future__ import annotations

import pytest

from dockyard.auth.access import CATALOG, Access, delete, pull, push
from dockyard.auth.rbac import (
    BUILTIN_CLUSTER_ROLES,
    Check,
    PolicyRule,
    Role,
    allows,
    registry_checks,
)

IMAGE = "image.openshift.io"
RBAC = "rbac.authorization.k8s.io"
PROJECT = "project.openshift.io"
METRICS = Access("metrics", "", "get")


def rule(
    verbs: set[str], groups: set[str], resources: set[str], names: set[str] | None = None
) -> PolicyRule:
    return PolicyRule(
        frozenset(verbs), frozenset(groups), frozenset(resources), frozenset(names or ())
    )


# PolicyRule.matches


def test_rule_matches_verb_group_and_resource_exactly() -> None:
    r = rule({"get"}, {IMAGE}, {"imagestreams"})
    assert r.matches("get", IMAGE, "imagestreams")
    assert r.matches("get", IMAGE, "imagestreams", "app")
    assert not r.matches("list", IMAGE, "imagestreams")
    assert not r.matches("get", "", "imagestreams")
    assert not r.matches("get", IMAGE, "images")


def test_rule_on_a_resource_grants_none_of_its_subresources() -> None:
    r = rule({"get"}, {IMAGE}, {"imagestreams"})
    assert not r.matches("get", IMAGE, "imagestreams/layers")
    assert not rule({"get"}, {IMAGE}, {"imagestreams/layers"}).matches("get", IMAGE, "imagestreams")


def test_rule_star_verb_and_group_match_anything() -> None:
    r = rule({"*"}, {"*"}, {"imagestreams"})
    assert r.matches("deletecollection", "anything.example.com", "imagestreams")
    assert not r.matches("get", IMAGE, "images")


def test_rule_star_resource_matches_subresources_too() -> None:
    r = rule({"get"}, {IMAGE}, {"*"})
    assert r.matches("get", IMAGE, "imagestreams")
    assert r.matches("get", IMAGE, "imagestreams/layers")
    assert r.matches("get", IMAGE, "registry/metrics")


def test_rule_star_slash_subresource_matches_that_subresource_of_any_resource() -> None:
    r = rule({"get"}, {IMAGE}, {"*/layers"})
    assert r.matches("get", IMAGE, "imagestreams/layers")
    assert r.matches("get", IMAGE, "other/layers")
    assert not r.matches("get", IMAGE, "imagestreams")
    assert not r.matches("get", IMAGE, "imagestreams/secrets")
    assert not r.matches("get", IMAGE, "layers")


def test_rule_resource_slash_star_is_not_a_wildcard_as_in_kubernetes() -> None:
    r = rule({"get"}, {IMAGE}, {"imagestreams/*"})
    assert not r.matches("get", IMAGE, "imagestreams/layers")
    assert not r.matches("get", IMAGE, "imagestreams")


def test_rule_resource_names_restrict_to_those_names() -> None:
    r = rule({"get"}, {IMAGE}, {"imagestreams/layers"}, {"app"})
    assert r.matches("get", IMAGE, "imagestreams/layers", "app")
    assert not r.matches("get", IMAGE, "imagestreams/layers", "other")
    assert not r.matches("get", IMAGE, "imagestreams/layers", None)


def test_rule_empty_group_is_the_core_group_not_a_wildcard() -> None:
    r = rule({"get"}, {""}, {"secrets"})
    assert r.matches("get", "", "secrets")
    assert not r.matches("get", IMAGE, "secrets")


def test_allows_is_a_union_of_rules() -> None:
    rules = [rule({"get"}, {IMAGE}, {"images"}), rule({"list"}, {IMAGE}, {"imagestreams"})]
    assert allows(rules, "get", IMAGE, "images")
    assert allows(rules, "list", IMAGE, "imagestreams")
    assert not allows(rules, "list", IMAGE, "images")
    assert not allows([], "get", IMAGE, "images")
    assert allows(iter(rules), "list", IMAGE, "imagestreams")


def test_role_is_cluster_wide_unless_given_a_namespace() -> None:
    assert Role("r", ()).namespace is None
    assert Role("r", (), "proj").namespace == "proj"


# built-in roles


def test_builtin_cluster_roles_are_exactly_these() -> None:
    assert set(BUILTIN_CLUSTER_ROLES) == {
        "system:image-puller",
        "system:image-pusher",
        "system:image-builder",
        "registry-viewer",
        "registry-editor",
        "registry-admin",
        "system:registry",
        "system:image-pruner",
        "cluster-admin",
        "prometheus-scraper",
    }
    for name, role in BUILTIN_CLUSTER_ROLES.items():
        assert role.name == name
        assert role.namespace is None
        assert role.rules


def test_builtin_cluster_roles_cannot_be_changed() -> None:
    with pytest.raises(TypeError):
        BUILTIN_CLUSTER_ROLES["cluster-admin"] = Role("cluster-admin", ())  # type: ignore[index]


def can(role: str, verb: str, group: str, resource: str) -> bool:
    return allows(BUILTIN_CLUSTER_ROLES[role].rules, verb, group, resource)


@pytest.mark.parametrize("role", ["registry-viewer", "registry-editor", "registry-admin"])
def test_registry_roles_can_get_their_project(role: str) -> None:
    assert can(role, "get", PROJECT, "projects")
    assert can(role, "get", "", "projects")
    assert can(role, "get", "", "namespaces")
    assert not can(role, "get", "user.openshift.io", "projects")


def test_only_registry_admin_deletes_the_project_and_manages_bindings() -> None:
    assert can("registry-admin", "delete", PROJECT, "projects")
    for verb in ("create", "update", "delete", "list"):
        assert can("registry-admin", verb, RBAC, "rolebindings")
        assert can("registry-admin", verb, RBAC, "roles")
    for role in ("registry-editor", "registry-viewer"):
        assert not can(role, "delete", PROJECT, "projects")
        assert not can(role, "create", RBAC, "rolebindings")
    assert not can("registry-admin", "create", "user.openshift.io", "users")


def test_registry_viewer_reads_but_does_not_write() -> None:
    streams = ("imagestreams", "imagestreamimages", "imagestreamtags", "imagestreammappings")
    for resource in (*streams, "imagetags"):
        for verb in ("get", "list", "watch"):
            assert can("registry-viewer", verb, IMAGE, resource)
            assert can("registry-viewer", verb, "", resource)
        assert not can("registry-viewer", "create", IMAGE, resource)
    assert not can("registry-viewer", "get", IMAGE, "imagestreams/secrets")
    assert not can("registry-viewer", "get", "", "secrets")


def test_registry_editor_writes_streams_secrets_and_service_accounts() -> None:
    for resource in ("imagestreams", "imagestreamtags", "imagetags", "imagestreams/secrets"):
        for verb in ("create", "update", "patch", "delete", "deletecollection"):
            assert can("registry-editor", verb, IMAGE, resource)
    for resource in ("secrets", "serviceaccounts"):
        assert can("registry-editor", "create", "", resource)
        assert not can("registry-editor", "create", IMAGE, resource)
    assert can("registry-editor", "create", IMAGE, "imagestreamimports")
    assert not can("registry-editor", "delete", IMAGE, "imagestreamimports")
    assert not can("registry-editor", "delete", IMAGE, "images")


def test_image_builder_reaches_builds() -> None:
    assert can("system:image-builder", "update", "build.openshift.io", "builds/details")
    assert can("system:image-builder", "get", "build.openshift.io", "builds")
    assert not can("system:image-builder", "update", "build.openshift.io", "builds")


def test_system_registry_rules() -> None:
    role = "system:registry"
    assert can(role, "list", "", "limitranges")
    assert can(role, "list", "", "resourcequotas")
    assert can(role, "get", IMAGE, "imagestreams/secrets")
    assert can(role, "get", IMAGE, "imagestreamimages")
    assert can(role, "delete", IMAGE, "imagestreamtags")
    assert can(role, "update", IMAGE, "images")
    assert can(role, "update", IMAGE, "imagestreams")
    assert can(role, "create", IMAGE, "imagestreammappings")
    assert not can(role, "create", IMAGE, "imagestreams")
    assert not can(role, "update", IMAGE, "imagestreams/layers")


def test_image_pruner_rules() -> None:
    role = "system:image-pruner"
    assert can(role, "list", "", "pods")
    assert can(role, "list", "", "replicationcontrollers")
    assert can(role, "list", "build.openshift.io", "builds")
    assert can(role, "list", "apps.openshift.io", "deploymentconfigs")
    assert can(role, "list", "apps", "deployments")
    assert can(role, "update", IMAGE, "imagestreams/status")
    assert can(role, "delete", IMAGE, "images")
    assert not can(role, "update", IMAGE, "imagestreams")
    assert not can(role, "delete", IMAGE, "imagestreams")


def test_cluster_admin_can_do_anything() -> None:
    assert can("cluster-admin", "impersonate", "user.openshift.io", "users")
    assert can("cluster-admin", "escalate", RBAC, "clusterroles")
    assert can("cluster-admin", "delete", "", "namespaces")


def test_prometheus_scraper_reads_metrics_only_in_the_image_group() -> None:
    assert can("prometheus-scraper", "get", IMAGE, "registry/metrics")
    assert not can("prometheus-scraper", "get", "", "registry/metrics")
    assert not can("prometheus-scraper", "get", IMAGE, "registry")
    assert not can("prometheus-scraper", "list", IMAGE, "registry/metrics")


@pytest.mark.parametrize("group", [IMAGE, ""])
def test_image_roles_answer_in_the_legacy_core_group_too(group: str) -> None:
    assert can("system:image-puller", "get", group, "imagestreams/layers")
    assert can("system:image-pusher", "update", group, "imagestreams/layers")
    assert not can("system:image-puller", "get", "apps", "imagestreams/layers")


# registry_checks


def test_pull_checks_get_layers_of_the_stream() -> None:
    assert registry_checks(pull("proj/app")) == [
        Check("get", IMAGE, "imagestreams/layers", "proj", "app")
    ]


def test_the_rest_of_a_deeper_path_names_the_stream() -> None:
    assert registry_checks(pull("proj/team/app")) == [
        Check("get", IMAGE, "imagestreams/layers", "proj", "team/app")
    ]


@pytest.mark.parametrize("exists", [True, None])
def test_push_checks_update_layers(exists: bool | None) -> None:
    assert registry_checks(push("proj/app"), stream_exists=exists) == [
        Check("update", IMAGE, "imagestreams/layers", "proj", "app")
    ]


def test_push_into_a_new_stream_also_checks_create_imagestreams() -> None:
    assert registry_checks(push("proj/app"), stream_exists=False) == [
        Check("update", IMAGE, "imagestreams/layers", "proj", "app"),
        Check("create", IMAGE, "imagestreams", "proj", "app"),
    ]


def test_pull_ignores_stream_existence() -> None:
    assert registry_checks(pull("proj/app"), stream_exists=False) == registry_checks(
        pull("proj/app")
    )


def test_delete_checks_delete_images_cluster_wide() -> None:
    assert registry_checks(delete("proj/app")) == [Check("delete", IMAGE, "images", None, None)]


def test_catalog_checks_list_imagestreams_cluster_wide() -> None:
    assert registry_checks(CATALOG) == [Check("list", IMAGE, "imagestreams", None, None)]


def test_metrics_checks_get_registry_metrics_cluster_wide() -> None:
    assert registry_checks(METRICS) == [Check("get", IMAGE, "registry/metrics", None, None)]


@pytest.mark.parametrize(
    "access",
    [
        Access("repository", "proj/app", "*"),
        Access("repository", "proj/app", "frobnicate"),
        Access("repository", "proj/app", ""),
        Access("registry", "catalog", "pull"),
        Access("registry", "other", "*"),
        Access("signature", "proj/app", "get"),
        Access("metrics", "", "put"),
        Access("", "", ""),
    ],
)
def test_unknown_access_fails_closed(access: Access) -> None:
    with pytest.raises(ValueError, match="no authorization check"):
        registry_checks(access)


@pytest.mark.parametrize("name", ["app", "/app", "proj/", ""])
def test_repository_must_be_project_slash_name(name: str) -> None:
    with pytest.raises(ValueError, match="<project>/<name>"):
        registry_checks(pull(name))


# The role matrix, written from reference/openshift-registry.md §3 (roles bound cluster-wide):
# pull = get imagestreams/layers; push = update imagestreams/layers; push-new = push + create
# imagestreams; delete = delete images; catalog = list imagestreams; metrics = get registry/metrics.
ACTIONS = ("pull", "push", "push-new", "delete", "catalog", "metrics")
MATRIX = {
    #                          pull   push   push-new delete catalog metrics
    "system:image-puller": (True, False, False, False, False, False),
    "system:image-pusher": (True, True, False, False, False, False),
    "system:image-builder": (True, True, True, False, False, False),
    "registry-viewer": (True, False, False, False, True, False),
    "registry-editor": (True, True, True, False, True, False),
    "registry-admin": (True, True, True, False, True, False),
    "system:registry": (True, False, False, True, True, False),
    "system:image-pruner": (False, False, False, True, True, False),
    "cluster-admin": (True, True, True, True, True, True),
    "prometheus-scraper": (False, False, False, False, False, True),
}


def _checks(action: str) -> list[Check]:
    repo = "proj/app"
    return {
        "pull": lambda: registry_checks(pull(repo)),
        "push": lambda: registry_checks(push(repo), stream_exists=True),
        "push-new": lambda: registry_checks(push(repo), stream_exists=False),
        "delete": lambda: registry_checks(delete(repo)),
        "catalog": lambda: registry_checks(CATALOG),
        "metrics": lambda: registry_checks(METRICS),
    }[action]()


def test_matrix_covers_every_builtin_role() -> None:
    assert set(MATRIX) == set(BUILTIN_CLUSTER_ROLES)


@pytest.mark.parametrize(
    ("role", "action", "expected"),
    [
        (role, action, allowed)
        for role, row in MATRIX.items()
        for action, allowed in zip(ACTIONS, row, strict=True)
    ],
)
def test_role_matrix(role: str, action: str, expected: bool) -> None:
    rules = BUILTIN_CLUSTER_ROLES[role].rules
    allowed = all(
        allows(rules, check.verb, check.api_group, check.resource, check.name)
        for check in _checks(action)
    )
    assert allowed is expected
