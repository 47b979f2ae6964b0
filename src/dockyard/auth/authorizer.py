"""The registry's access decisions, as the OpenShift registry makes them (reference §3).

A request that carries a registry bearer token may do what the token grants without a database
read; anything else its principal's roles decide, through the checks each registry action maps
to. The token is the identity, as an OpenShift token is for the OpenShift registry: a token
fetched for ``pull`` lets its user push where their roles allow it. Clients that reuse the token
of their first challenge for the whole push (oras-py) depend on that.
"""

from __future__ import annotations

from dockyard.auth.access import Access, Principal
from dockyard.auth.policy import PolicyService
from dockyard.auth.rbac import IMAGE_GROUP, registry_checks
from dockyard.metadata import repositories
from dockyard.metadata.engine import Database


class RegistryAuthorizer:
    def __init__(self, db: Database, policy: PolicyService) -> None:
        self.db = db
        self.policy = policy

    async def allows(self, principal: Principal, access: Access) -> bool:
        if principal.grants is not None and access.scope in principal.grants:
            return True
        return await self.permits(principal, access)

    async def permits(self, principal: Principal, access: Access) -> bool:
        if access.type == "registry" and access.name == "catalog":
            return await self.visible_projects(principal) != set()
        exists: bool | None = None
        if access.type == "repository" and access.action == "push":
            async with self.db.read() as conn:
                exists = await repositories.find_id(conn, access.name) is not None
        for check in registry_checks(access, stream_exists=exists):
            allowed = await self.policy.can(
                principal, check.verb, check.api_group, check.resource, check.namespace, check.name
            )
            if not allowed:
                return False
        return True

    async def visible_projects(self, principal: Principal) -> set[str] | None:
        """Projects whose repositories the catalog shows; ``None`` for all of them.

        A project shows when the caller may list its image streams or pull from them, so a
        public project (pull granted to ``system:unauthenticated``) is listed to everyone.
        """
        listable = await self.policy.namespaces_where(
            principal, "list", IMAGE_GROUP, "imagestreams"
        )
        pullable = await self.policy.namespaces_where(
            principal, "get", IMAGE_GROUP, "imagestreams/layers"
        )
        if listable is None or pullable is None:
            return None
        return listable | pullable
