"""Domain dataclasses as Kubernetes JSON objects, and the bodies clients send, as pydantic models.

Rendering is a set of plain functions (the dataclasses stay free of wire concerns). Bodies are
parsed strictly: an unknown field or a wrong type is a 422 ``Invalid`` Status naming the field,
never a silent drop, so a typo in a manifest fails loudly instead of doing half of what was meant.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dockyard.auth.model import (
    Group,
    IssuedToken,
    Project,
    RoleBinding,
    ServiceAccount,
    Subject,
    User,
)
from dockyard.auth.rbac import RBAC_GROUP, PolicyRule, Role
from dockyard.errors import StatusError, invalid

JSON = dict[str, Any]

USER_V1 = "user.openshift.io/v1"
PROJECT_V1 = "project.openshift.io/v1"
RBAC_V1 = f"{RBAC_GROUP}/v1"
CORE_V1 = "v1"
AUTHENTICATION_V1 = "authentication.k8s.io/v1"
DISPLAY_NAME = "openshift.io/display-name"
DESCRIPTION = "openshift.io/description"
SUBJECT_KINDS = ("User", "Group", "ServiceAccount")


def timestamp(seconds: float) -> str:
    """RFC 3339 in UTC with second precision, as Kubernetes writes ``creationTimestamp``."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _metadata(
    name: str,
    uid: str,
    created_at: float,
    namespace: str | None = None,
    annotations: dict[str, str] | None = None,
) -> JSON:
    meta: JSON = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    if uid:
        meta["uid"] = uid
    if created_at:
        meta["creationTimestamp"] = timestamp(created_at)
    if annotations:
        meta["annotations"] = annotations
    return meta


def render_user(user: User) -> JSON:
    return {
        "kind": "User",
        "apiVersion": USER_V1,
        "metadata": _metadata(user.name, user.uid, user.created_at),
        "fullName": user.full_name,
        "identities": [],
        "groups": list(user.groups),
    }


def render_group(group: Group) -> JSON:
    return {
        "kind": "Group",
        "apiVersion": USER_V1,
        "metadata": _metadata(group.name, group.uid, group.created_at),
        "users": list(group.users),
    }


def render_project(project: Project) -> JSON:
    annotations = {DISPLAY_NAME: project.display_name, DESCRIPTION: project.description}
    return {
        "kind": "Project",
        "apiVersion": PROJECT_V1,
        "metadata": _metadata(
            project.name,
            project.uid,
            project.created_at,
            annotations={key: value for key, value in annotations.items() if value},
        ),
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


def render_service_account(account: ServiceAccount) -> JSON:
    return {
        "kind": "ServiceAccount",
        "apiVersion": CORE_V1,
        "metadata": _metadata(account.name, account.uid, account.created_at, account.namespace),
    }


def render_subject(subject: Subject) -> JSON:
    if subject.kind == "ServiceAccount":
        entry: JSON = {"kind": subject.kind, "name": subject.name}
        if subject.namespace:
            entry["namespace"] = subject.namespace
        return entry
    return {"kind": subject.kind, "apiGroup": RBAC_GROUP, "name": subject.name}


def render_role_binding(binding: RoleBinding) -> JSON:
    return {
        "kind": "RoleBinding" if binding.namespace is not None else "ClusterRoleBinding",
        "apiVersion": RBAC_V1,
        "metadata": _metadata(binding.name, binding.uid, binding.created_at, binding.namespace),
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": binding.role_kind, "name": binding.role_name},
        "subjects": [render_subject(subject) for subject in binding.subjects],
    }


def _render_rule(rule: PolicyRule) -> JSON:
    entry: JSON = {
        "verbs": sorted(rule.verbs),
        "apiGroups": sorted(rule.api_groups),
        "resources": sorted(rule.resources),
    }
    if rule.resource_names:
        entry["resourceNames"] = sorted(rule.resource_names)
    return entry


def render_cluster_role(role: Role) -> JSON:
    return {
        "kind": "ClusterRole",
        "apiVersion": RBAC_V1,
        "metadata": {"name": role.name},
        "rules": [_render_rule(rule) for rule in role.rules],
    }


def render_token_request(account: ServiceAccount, token: IssuedToken, seconds: int) -> JSON:
    status: JSON = {"token": token.token}
    if token.expires_at is not None:
        status["expirationTimestamp"] = timestamp(token.expires_at)
    return {
        "kind": "TokenRequest",
        "apiVersion": AUTHENTICATION_V1,
        "metadata": {"name": account.name, "namespace": account.namespace},
        "spec": {"audiences": [], "expirationSeconds": seconds, "boundObjectRef": None},
        "status": status,
    }


def render_list(api_version: str, kind: str, items: Iterable[JSON]) -> JSON:
    return {
        "kind": f"{kind}List",
        "apiVersion": api_version,
        "metadata": {},
        "items": list(items),
    }


def render_success(resource: str, group: str, name: str, message: str = "") -> JSON:
    """The ``Status`` a delete (or another verb without an object to show) answers with."""
    body: JSON = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": {"name": name, "group": group, "kind": resource},
    }
    if message:
        body["message"] = message
    return body


# --- bodies --------------------------------------------------------------------------------


class Body(BaseModel):
    """Strict: no coercion ("5" is no number), no unknown fields, camelCase on the wire."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ObjectMeta(Body):
    """The metadata a client may send. System fields are accepted (a fetched object can be sent
    back as it is) and ignored, except ``uid`` on update, which must still match."""

    name: str = ""
    namespace: str = ""
    uid: str = ""
    resource_version: str = Field("", alias="resourceVersion")
    generation: int = 0
    creation_timestamp: str | None = Field(None, alias="creationTimestamp")
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None


class ObjectBody(Body):
    api_version: str = Field("", alias="apiVersion")
    kind: str = ""
    metadata: ObjectMeta = ObjectMeta()


class UserBody(ObjectBody):
    full_name: str = Field("", alias="fullName")
    identities: list[str] | None = None
    groups: list[str] | None = None
    password: str | None = Field(None, repr=False)
    """Dockyard's extension: the initial password, set when the user is created."""


class GroupBody(ObjectBody):
    users: list[str] | None = None


class ProjectRequestBody(ObjectBody):
    display_name: str = Field("", alias="displayName")
    description: str = ""


class RoleRefBody(Body):
    api_group: str = Field("", alias="apiGroup")
    kind: str
    name: str


class SubjectBody(Body):
    kind: str
    name: str
    namespace: str = ""
    api_group: str = Field("", alias="apiGroup")


class RoleBindingBody(ObjectBody):
    role_ref: RoleRefBody = Field(alias="roleRef")
    subjects: list[SubjectBody] | None = None


class ServiceAccountBody(ObjectBody):
    pass


class TokenRequestSpec(Body):
    audiences: list[str] | None = None
    expiration_seconds: int | None = Field(None, alias="expirationSeconds")
    bound_object_ref: None = Field(None, alias="boundObjectRef")


class TokenRequestBody(ObjectBody):
    spec: TokenRequestSpec = TokenRequestSpec()
    status: dict[str, Any] | None = None


class PasswordBody(Body):
    """Dockyard's ``users/{name}/password``: exactly one of a password and a bcrypt hash."""

    password: str | None = Field(None, repr=False)
    password_hash: str | None = Field(None, alias="passwordHash", repr=False)


B = TypeVar("B", bound=Body)


def qualified_kind(kind: str, group: str) -> str:
    """``User.user.openshift.io``, or ``ServiceAccount`` for the core group."""
    return f"{kind}.{group}" if group else kind


def bad_request(message: str, field: str | None = None) -> StatusError:
    details = {"causes": [{"reason": "FieldValueInvalid", "field": field}]} if field else None
    return StatusError(400, "BadRequest", message, details)


def decode(
    model: type[B],
    data: Any,
    qualified: str,
    *,
    api_version: str | None = None,
    kind: str | None = None,
    name: str | None = None,
) -> B:
    """Validate ``data`` against ``model``; every problem becomes one cause of a 422.

    ``apiVersion`` and ``kind`` may be left out; if given, they must be this endpoint's, and
    they are checked first, as Kubernetes does: a Group sent to ``users`` is the wrong kind, not
    a User with an unknown field ``users``. ``name`` names the object in messages (else the
    body's ``metadata.name``)."""
    if data is None:
        raise bad_request("the request body is empty; send a JSON object")
    if not isinstance(data, dict):
        raise bad_request(f"the request body must be a JSON object, not {type(data).__name__}")
    given_version, given_kind = data.get("apiVersion"), data.get("kind")
    if api_version is not None and given_version and given_version != api_version:
        raise bad_request(
            f"the API version in the data ({given_version}) does not match the expected"
            f" API version ({api_version})",
            "apiVersion",
        )
    if kind is not None and given_kind and given_kind != kind:
        raise bad_request(
            f"the kind in the data ({given_kind}) does not match the expected kind ({kind})",
            "kind",
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        causes = [_cause(error) for error in exc.errors()]
        raise invalid(qualified, _name_of(data) if name is None else name, causes) from None


def _name_of(data: dict[str, Any]) -> str:
    metadata = data.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return name if isinstance(name, str) else ""


def _cause(error: Any) -> tuple[str, str, str]:
    """One pydantic error as Kubernetes names it; the input is never echoed (it may be a
    password)."""
    field = ""
    for part in error["loc"]:
        field += f"[{part}]" if isinstance(part, int) else f".{part}" if field else str(part)
    if error["type"] == "missing":
        return field, "FieldValueRequired", "Required value"
    if error["type"] == "extra_forbidden":
        return field, "FieldValueInvalid", f'unknown field "{field}"'
    return field, "FieldValueInvalid", f"Invalid value: {error['msg'].lower()}"


# --- kind validation -------------------------------------------------------------------------

_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def path_segment_name(name: str) -> str | None:
    """Kubernetes' rule for names that only need to be one URL path segment."""
    if name in (".", ".."):
        return f'may not be "{name}"'
    for char in "/%":
        if char in name:
            return f'may not contain "{char}"'
    return None


def dns_subdomain_name(name: str) -> str | None:
    """Kubernetes' rule for most object names (service accounts among them)."""
    if len(name) > 253 or not _DNS_SUBDOMAIN.fullmatch(name):
        return (
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters,"
            " '-' or '.', and must start and end with an alphanumeric character"
        )
    return None


def check_metadata(body: ObjectBody, qualified: str, name: str) -> None:
    """Labels and annotations are not stored yet: refuse them rather than drop them."""
    for field in ("labels", "annotations"):
        if getattr(body.metadata, field):
            raise invalid(
                qualified,
                name,
                [
                    (
                        f"metadata.{field}",
                        "FieldValueForbidden",
                        f"Forbidden: {field} are not stored",
                    )
                ],
            )


def to_role_binding(body: RoleBindingBody, namespace: str | None, name: str) -> RoleBinding:
    """Kubernetes' RoleBinding validation; a ServiceAccount subject of a RoleBinding defaults
    to the binding's namespace, as the RBAC authorizer reads it."""
    kind = "RoleBinding" if namespace is not None else "ClusterRoleBinding"
    causes: list[tuple[str, str, str]] = []
    ref = body.role_ref
    if ref.api_group != RBAC_GROUP:
        causes.append(_unsupported("roleRef.apiGroup", ref.api_group, [RBAC_GROUP]))
    role_kinds = ["ClusterRole", "Role"] if namespace is not None else ["ClusterRole"]
    if ref.kind not in role_kinds:
        causes.append(_unsupported("roleRef.kind", ref.kind, role_kinds))
    if not ref.name:
        causes.append(("roleRef.name", "FieldValueRequired", "Required value"))
    subjects: list[Subject] = []
    for index, entry in enumerate(body.subjects or []):
        path = f"subjects[{index}]"
        if entry.kind not in SUBJECT_KINDS:
            causes.append(_unsupported(f"{path}.kind", entry.kind, list(SUBJECT_KINDS)))
            continue
        if not entry.name:
            causes.append((f"{path}.name", "FieldValueRequired", "Required value"))
        if entry.kind == "ServiceAccount":
            if entry.api_group:
                causes.append(_unsupported(f"{path}.apiGroup", entry.api_group, [""]))
            subject_namespace = entry.namespace or namespace
            if not subject_namespace:
                causes.append((f"{path}.namespace", "FieldValueRequired", "Required value"))
            subjects.append(Subject(entry.kind, entry.name, subject_namespace))
        else:
            if entry.api_group not in ("", RBAC_GROUP):
                causes.append(_unsupported(f"{path}.apiGroup", entry.api_group, [RBAC_GROUP]))
            subjects.append(Subject(entry.kind, entry.name))
    if causes:
        raise invalid(qualified_kind(kind, RBAC_GROUP), name, causes)
    return RoleBinding(name, namespace, ref.kind, ref.name, tuple(dict.fromkeys(subjects)))


def _unsupported(field: str, value: str, supported: Sequence[str]) -> tuple[str, str, str]:
    choices = ", ".join(f'"{choice}"' for choice in supported)
    return (
        field,
        "FieldValueNotSupported",
        f'Unsupported value: "{value}": supported values: {choices}',
    )
