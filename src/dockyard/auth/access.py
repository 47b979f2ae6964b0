"""Who is asking (``Principal``), what they ask for (``Access``), and who decides (``Authorizer``).

Every request carries a principal and every registry action is checked through an authorizer,
the way Distribution's access controller sees ``repository:<name>:<action>`` records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Principal:
    """Who makes a request.

    ``grants`` is set when the request carried a registry bearer token: what it grants (scope
    strings) is allowed without asking the roles; ``token_id`` names the API token the
    credentials came from, so revoking that token ends them.
    """

    name: str
    authenticated: bool
    groups: tuple[str, ...] = field(default_factory=tuple)
    grants: frozenset[str] | None = None
    token_id: str | None = None


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
    async def allows(self, principal: Principal, access: Access) -> bool:
        """Whether this request may do ``access`` (its token's grants, else its roles)."""

    async def permits(self, principal: Principal, access: Access) -> bool:
        """Whether the principal's roles allow ``access``, whatever its token grants."""

    async def visible_projects(self, principal: Principal) -> set[str] | None:
        """Projects whose repositories the principal may list; ``None`` for every project."""
