"""Who is asking (``Principal``), what they ask for (``Access``), and who decides (``Authorizer``).

Every request carries a principal and every registry action is checked through an authorizer,
the way Distribution's access controller sees ``repository:<name>:<action>`` records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    authenticated: bool
    groups: tuple[str, ...] = field(default_factory=tuple)


ANONYMOUS = Principal("system:anonymous", False, ("system:unauthenticated",))


@dataclass(frozen=True, slots=True)
class Access:
    """One scope entry: ``repository:proj/app:pull`` or ``registry:catalog:*``."""

    type: str
    name: str
    action: str

    @property
    def scope(self) -> str:
        return f"{self.type}:{self.name}:{self.action}"


def pull(repository: str) -> Access:
    return Access("repository", repository, "pull")


def push(repository: str) -> Access:
    return Access("repository", repository, "push")


def delete(repository: str) -> Access:
    return Access("repository", repository, "delete")


CATALOG = Access("registry", "catalog", "*")


class Authorizer(Protocol):
    async def allows(self, principal: Principal, access: Access) -> bool: ...


class OpenAuthorizer:
    """Grants every access: the registry's only policy until identities and roles exist."""

    async def allows(self, principal: Principal, access: Access) -> bool:
        return True
