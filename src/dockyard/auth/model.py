"""Identities and policy as the auth services hand them out."""

from __future__ import annotations

from dataclasses import dataclass

SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"


@dataclass(frozen=True, slots=True)
class User:
    name: str
    uid: str
    full_name: str
    groups: tuple[str, ...]
    created_at: float


@dataclass(frozen=True, slots=True)
class Group:
    name: str
    uid: str
    users: tuple[str, ...]
    created_at: float


@dataclass(frozen=True, slots=True)
class ServiceAccount:
    namespace: str
    name: str
    uid: str
    created_at: float

    @property
    def user_name(self) -> str:
        return service_account_user(self.namespace, self.name)


def service_account_user(namespace: str, name: str) -> str:
    return f"{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}"


@dataclass(frozen=True, slots=True)
class Project:
    name: str
    uid: str
    display_name: str
    description: str
    created_at: float


@dataclass(frozen=True, slots=True)
class Subject:
    kind: str  # "User", "Group" or "ServiceAccount"
    name: str
    namespace: str | None = None


@dataclass(frozen=True, slots=True)
class RoleBinding:
    name: str
    namespace: str | None  # None for a ClusterRoleBinding
    role_kind: str
    role_name: str
    subjects: tuple[Subject, ...]
    uid: str = ""
    created_at: float = 0.0


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    id: str
    user: str
    expires_at: float | None
