"""First start: the cluster administrator and the key that signs registry tokens."""

from __future__ import annotations

import asyncio
import secrets
import string

from dockyard.auth.bearer import ensure_signing_key
from dockyard.auth.identities import IdentityService
from dockyard.auth.model import RoleBinding, Subject
from dockyard.auth.policy import PolicyService
from dockyard.errors import StatusError
from dockyard.metadata.engine import Database

ADMIN = "admin"
_PASSWORD_ALPHABET = string.ascii_letters + string.digits
"""Letters and digits only: a password that began with ``-`` would read as an option in
``dockyard login -p PASSWORD``, and shells quote none of these."""


def generate_password(length: int = 24) -> str:
    """About 143 bits of randomness at the default length."""
    return "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(length))


async def _bootstrap(url: str) -> str | None:
    db = Database(url)
    try:
        await ensure_signing_key(db)
        identities = IdentityService(db)
        try:
            await identities.get_user(ADMIN)
            return None
        except StatusError:
            pass
        password = generate_password()
        await identities.create_user(ADMIN, password, full_name="Cluster administrator")
        policy = PolicyService(db)
        try:
            await policy.create_binding(
                RoleBinding(
                    "cluster-admins",
                    None,
                    "ClusterRole",
                    "cluster-admin",
                    (Subject("User", ADMIN),),
                )
            )
        except StatusError as exc:
            if exc.code != 409:
                raise
        return password
    finally:
        await db.close()


def bootstrap(url: str) -> str | None:
    """Create what a fresh registry needs; return the admin password when it was just made."""
    return asyncio.run(_bootstrap(url))
