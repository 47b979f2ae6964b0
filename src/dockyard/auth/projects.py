"""Projects: the namespaces repositories, service accounts and role bindings live in."""

from __future__ import annotations

import re
from typing import Any

from dockyard.auth.access import Principal
from dockyard.auth.identities import IdentityService
from dockyard.auth.model import SERVICE_ACCOUNT_PREFIX, Project, RoleBinding, Subject
from dockyard.auth.policy import PolicyService
from dockyard.auth.rbac import PROJECT_GROUP
from dockyard.errors import StatusError, not_found
from dockyard.metadata import repositories as rows, resources as stored
from dockyard.metadata.engine import Database

# A DNS label, as Kubernetes requires of namespace names.
PROJECT_NAME_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def _project(row: Any) -> Project:
    return Project(row.name, row.uid or "", row.display_name, row.description, row.created_at)


def creator_subject(principal: Principal) -> Subject:
    if principal.name.startswith(SERVICE_ACCOUNT_PREFIX):
        namespace, name = principal.name[len(SERVICE_ACCOUNT_PREFIX) :].split(":", 1)
        return Subject("ServiceAccount", name, namespace)
    return Subject("User", principal.name)


class ProjectService:
    def __init__(self, db: Database, policy: PolicyService, identities: IdentityService) -> None:
        self.db = db
        self.policy = policy
        self.identities = identities

    async def create_project(
        self, name: str, creator: Principal, display_name: str = "", description: str = ""
    ) -> Project:
        """Create a project; its creator administers it, as in OpenShift."""
        if len(name) > 63 or not PROJECT_NAME_RE.fullmatch(name):
            raise StatusError(
                422,
                "Invalid",
                f'projects.{PROJECT_GROUP} "{name}" is invalid: metadata.name: a lowercase RFC'
                " 1123 label of at most 63 characters ([a-z0-9] and '-', starting and ending"
                " with a letter or digit)",
                {"name": name},
            )
        async with self.db.write() as conn:
            if not await rows.insert_project(conn, name, display_name, description):
                raise StatusError(
                    409, "AlreadyExists", f'projects.{PROJECT_GROUP} "{name}" already exists'
                )
        await self.policy.create_binding(
            RoleBinding(
                "system:image-pullers",
                name,
                "ClusterRole",
                "system:image-puller",
                (Subject("Group", f"system:serviceaccounts:{name}"),),
            )
        )
        await self.policy.create_binding(
            RoleBinding(
                "system:image-builders",
                name,
                "ClusterRole",
                "system:image-builder",
                (Subject("ServiceAccount", "builder", name),),
            )
        )
        if creator.authenticated:
            await self.policy.add_role(name, "registry-admin", [creator_subject(creator)])
        return await self.get_project(name)

    async def get_project(self, name: str) -> Project:
        async with self.db.read() as conn:
            row = await rows.get_project(conn, name)
        if row is None:
            raise not_found("projects", name, PROJECT_GROUP)
        return _project(row)

    async def list_projects(self) -> list[Project]:
        async with self.db.read() as conn:
            return [_project(row) for row in await rows.list_projects(conn)]

    async def delete_project(self, name: str) -> None:
        """Delete a project with its repositories, service accounts and role bindings."""
        async with self.db.write() as conn:
            if not await rows.delete_project(conn, name):
                raise not_found("projects", name, PROJECT_GROUP)
            await stored.delete_namespace(conn, name)  # its secrets and config maps
        await self.policy.delete_namespace(name)
        await self.identities.delete_namespace_accounts(name)
