"""Role bindings and the RBAC decision: may this principal do this verb on this resource?

Bindings are read per decision with a short per-worker memory (one second), so a role removed
on one worker stops working on every worker within a second.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dockyard.auth.access import Principal
from dockyard.auth.model import RoleBinding, Subject, service_account_user
from dockyard.auth.rbac import BUILTIN_CLUSTER_ROLES, RBAC_GROUP, PolicyRule, Role, allows
from dockyard.errors import StatusError
from dockyard.metadata import policy as rows
from dockyard.metadata.engine import AlreadyExistsError, Database
from dockyard.metadata.epoch import EpochCache

BINDINGS_TTL = 1.0


def _subject_json(subject: Subject) -> dict[str, Any]:
    entry: dict[str, Any] = {"kind": subject.kind, "name": subject.name}
    if subject.namespace is not None:
        entry["namespace"] = subject.namespace
    return entry


def _binding(row: Any) -> RoleBinding:
    subjects = tuple(Subject(s["kind"], s["name"], s.get("namespace")) for s in row.subjects or [])
    return RoleBinding(
        name=row.name,
        namespace=row.namespace or None,
        role_kind=row.role_kind,
        role_name=row.role_name,
        subjects=subjects,
        uid=row.uid,
        created_at=row.created_at,
    )


def binds(subject: Subject, principal: Principal) -> bool:
    if subject.kind == "User":
        return subject.name == principal.name
    if subject.kind == "Group":
        return subject.name in principal.groups
    if subject.kind == "ServiceAccount" and subject.namespace:
        return service_account_user(subject.namespace, subject.name) == principal.name
    return False


def _kind(namespace: str | None) -> str:
    return "rolebindings" if namespace else "clusterrolebindings"


class PolicyService:
    def __init__(self, db: Database) -> None:
        self.db = db
        # Bindings by scope: until the next metadata write, or for BINDINGS_TTL while there is
        # no epoch (PostgreSQL, until the process listens for changes).
        self._cache: EpochCache[str, list[RoleBinding]] = EpochCache(
            db.epoch, 4096, ttl=BINDINGS_TTL
        )

    # bindings

    async def list_bindings(self, namespace: str | None) -> list[RoleBinding]:
        async with self.db.read() as conn:
            return [_binding(r) for r in await rows.list_bindings(conn, namespace or rows.CLUSTER)]

    async def get_binding(self, namespace: str | None, name: str) -> RoleBinding:
        async with self.db.read() as conn:
            row = await rows.get_binding(conn, namespace or rows.CLUSTER, name)
        if row is None:
            raise StatusError(
                404, "NotFound", f'{_kind(namespace)}.{RBAC_GROUP} "{name}" not found'
            )
        return _binding(row)

    async def create_binding(self, binding: RoleBinding) -> RoleBinding:
        self.role(binding.role_kind, binding.role_name)
        async with self.db.write() as conn:
            try:
                await rows.insert_binding(
                    conn,
                    binding.namespace or rows.CLUSTER,
                    binding.name,
                    binding.role_kind,
                    binding.role_name,
                    [_subject_json(s) for s in binding.subjects],
                )
            except AlreadyExistsError as exc:
                raise StatusError(
                    409,
                    "AlreadyExists",
                    f'{_kind(binding.namespace)}.{RBAC_GROUP} "{binding.name}" already exists',
                ) from exc
        self._cache.clear()
        return await self.get_binding(binding.namespace, binding.name)

    async def replace_binding(self, binding: RoleBinding) -> RoleBinding:
        current = await self.get_binding(binding.namespace, binding.name)
        if (current.role_kind, current.role_name) != (binding.role_kind, binding.role_name):
            raise StatusError(
                422,
                "Invalid",
                f'{_kind(binding.namespace)}.{RBAC_GROUP} "{binding.name}" is invalid:'
                " roleRef: cannot change roleRef",
            )
        async with self.db.write() as conn:
            await rows.update_subjects(
                conn,
                binding.namespace or rows.CLUSTER,
                binding.name,
                [_subject_json(s) for s in binding.subjects],
            )
        self._cache.clear()
        return await self.get_binding(binding.namespace, binding.name)

    async def delete_binding(self, namespace: str | None, name: str) -> None:
        async with self.db.write() as conn:
            if not await rows.delete_binding(conn, namespace or rows.CLUSTER, name):
                raise StatusError(
                    404, "NotFound", f'{_kind(namespace)}.{RBAC_GROUP} "{name}" not found'
                )
        self._cache.clear()

    async def delete_namespace(self, namespace: str) -> None:
        async with self.db.write() as conn:
            await rows.delete_namespace_bindings(conn, namespace)
        self._cache.clear()

    async def add_role(
        self, namespace: str | None, role_name: str, subjects: Sequence[Subject]
    ) -> RoleBinding:
        """``oc policy add-role-to-user``: extend the role's binding, or create one for it."""
        self.role("ClusterRole", role_name)
        bindings = await self.list_bindings(namespace)
        for binding in bindings:
            if binding.role_kind == "ClusterRole" and binding.role_name == role_name:
                added = tuple(s for s in subjects if s not in binding.subjects)
                if not added:
                    return binding
                return await self.replace_binding(
                    RoleBinding(
                        binding.name,
                        namespace,
                        binding.role_kind,
                        role_name,
                        binding.subjects + added,
                    )
                )
        taken = {b.name for b in bindings}
        name = role_name
        suffix = 0
        while name in taken:
            name = f"{role_name}-{suffix}"
            suffix += 1
        return await self.create_binding(
            RoleBinding(name, namespace, "ClusterRole", role_name, tuple(dict.fromkeys(subjects)))
        )

    async def remove_role(
        self, namespace: str | None, role_name: str, subjects: Sequence[Subject]
    ) -> None:
        """``oc policy remove-role-from-user``: drop the subjects from every binding of the role."""
        removed = False
        for binding in await self.list_bindings(namespace):
            if binding.role_name != role_name:
                continue
            kept = tuple(s for s in binding.subjects if s not in subjects)
            if len(kept) == len(binding.subjects):
                continue
            removed = True
            if kept:
                await self.replace_binding(
                    RoleBinding(binding.name, namespace, binding.role_kind, role_name, kept)
                )
            else:
                await self.delete_binding(namespace, binding.name)
        if not removed:
            who = ", ".join(f"{s.kind} {s.name!r}" for s in subjects)
            raise StatusError(
                404,
                "NotFound",
                f"role {role_name!r} is not bound to {who}"
                + (f" in namespace {namespace!r}" if namespace else " cluster-wide"),
            )

    # roles

    def roles(self) -> list[Role]:
        return sorted(BUILTIN_CLUSTER_ROLES.values(), key=lambda role: role.name)

    def role(self, kind: str, name: str) -> Role:
        role = BUILTIN_CLUSTER_ROLES.get(name) if kind == "ClusterRole" else None
        if role is None:
            raise StatusError(
                404 if kind == "ClusterRole" else 422,
                "NotFound" if kind == "ClusterRole" else "Invalid",
                f'clusterroles.{RBAC_GROUP} "{name}" not found'
                if kind == "ClusterRole"
                else f"roleRef kind {kind!r} is not supported: bind a ClusterRole",
            )
        return role

    # decisions

    async def can(
        self,
        principal: Principal,
        verb: str,
        api_group: str,
        resource: str,
        namespace: str | None,
        name: str | None = None,
    ) -> bool:
        rules = await self._rules(principal, namespace)
        return allows(rules, verb, api_group, resource, name)

    async def namespaces_where(
        self, principal: Principal, verb: str, api_group: str, resource: str
    ) -> set[str] | None:
        """Namespaces where the principal may do this; ``None`` when it may everywhere."""
        if await self.can(principal, verb, api_group, resource, None):
            return None
        found: set[str] = set()
        for binding in await self._bindings(None):
            if binding.namespace is None or not any(binds(s, principal) for s in binding.subjects):
                continue
            role = BUILTIN_CLUSTER_ROLES.get(binding.role_name)
            if role is not None and allows(role.rules, verb, api_group, resource, None):
                found.add(binding.namespace)
        return found

    async def _rules(self, principal: Principal, namespace: str | None) -> list[PolicyRule]:
        scopes: list[str] = [rows.CLUSTER] if namespace is None else [rows.CLUSTER, namespace]
        rules: list[PolicyRule] = []
        for scope in scopes:
            for binding in await self._bindings(scope):
                if any(binds(s, principal) for s in binding.subjects):
                    role = BUILTIN_CLUSTER_ROLES.get(binding.role_name)
                    if role is not None:
                        rules.extend(role.rules)
        return rules

    async def _bindings(self, scope: str | None) -> list[RoleBinding]:
        key = "*" if scope is None else scope
        snapshot = self._cache.snapshot()
        found = self._cache.get(key)
        if found is None:
            async with self.db.read() as conn:
                found = [_binding(r) for r in await rows.list_bindings(conn, scope)]
            self._cache.put(snapshot, key, found)
        return found
