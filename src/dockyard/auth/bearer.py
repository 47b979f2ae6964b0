"""Registry bearer tokens (the Docker token protocol): short-lived JWTs every worker verifies
without a database read.

The signing keys live in the database so that every worker and replica shares them; a token
names its key (``kid``), so keys can be rotated. Revocation must still reach tokens already
issued: each worker refreshes, at most once a second, the set of API tokens revoked and users
deleted, and refuses bearer tokens derived from them.

A client sends the same token with every request of a pull or push, so each worker remembers
the tokens it has verified until they expire: the signature is checked once per worker, the
revocations on every request.
"""

from __future__ import annotations

import base64
import time

from dockyard.auth.access import Access, Principal
from dockyard.auth.jwt import (
    LEEWAY,
    InvalidTokenError,
    SigningKey,
    issue,
    new_signing_key,
    verify,
)
from dockyard.metadata import changes, identities, policy as policy_rows
from dockyard.metadata.engine import Database

ISSUER = "dockyard"
SERVICE = "dockyard"
TOKEN_TTL = 300.0
REFRESH_EVERY = 1.0
VERIFIED_CACHE_SIZE = 4096


class BearerTokens:
    def __init__(self, db: Database, ttl: float = TOKEN_TTL) -> None:
        self.db = db
        self.ttl = ttl
        self._keys: dict[str, SigningKey] = {}
        self._revoked_tokens: set[str] = set()
        self._deleted_users: set[str] = set()
        self._checked_at = 0.0
        self._last_change = 0
        # Tokens live at most ``ttl``: revocations older than a worker's start don't matter.
        self._revocations_read_at = time.time() - ttl
        # Verified tokens by their exact text: the principal, and until when it holds.
        self._verified: dict[str, tuple[Principal, float]] = {}

    async def start(self) -> None:
        await self._load_keys()
        self._checked_at = 0.0

    async def issue(self, principal: Principal, accesses: list[Access]) -> tuple[str, float]:
        """A token granting exactly ``accesses``; returns it with its lifetime in seconds."""
        if not self._keys:
            await self._load_keys()
        key = next(iter(self._keys.values()))
        token, _ = issue(
            subject=principal.name,
            groups=principal.groups,
            access=tuple(accesses),
            token_id=principal.token_id,
            key=key,
            issuer=ISSUER,
            audience=SERVICE,
            ttl=self.ttl,
        )
        return token, self.ttl

    async def authenticate(self, token: str) -> Principal | None:
        principal = self._remembered(token) or await self._verify(token)
        if principal is None:
            return None
        await self._refresh_revocations()
        if principal.token_id in self._revoked_tokens or principal.name in self._deleted_users:
            return None
        return principal

    def _remembered(self, token: str) -> Principal | None:
        found = self._verified.get(token)
        if found is None:
            return None
        principal, valid_until = found
        if time.time() >= valid_until:
            del self._verified[token]
            return None
        return principal

    async def _verify(self, token: str) -> Principal | None:
        try:
            claims = verify(token, keys=self._keys, issuer=ISSUER, audience=SERVICE)
        except InvalidTokenError:
            await self._load_keys()  # a key made by another replica since we started
            try:
                claims = verify(token, keys=self._keys, issuer=ISSUER, audience=SERVICE)
            except InvalidTokenError:
                return None
        principal = Principal(
            claims.subject,
            claims.subject != "system:anonymous",
            claims.groups,
            grants=frozenset(access.scope for access in claims.access),
            token_id=claims.token_id,
        )
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified.clear()
        self._verified[token] = (principal, claims.expires_at + LEEWAY)
        return principal

    async def _load_keys(self) -> None:
        async with self.db.read() as conn:
            found = await policy_rows.signing_key_rows(conn)
        self._keys = {row.kid: SigningKey(row.kid, base64.b64decode(row.secret)) for row in found}
        self._verified.clear()  # a key may be gone

    async def _refresh_revocations(self) -> None:
        now = time.monotonic()
        if now - self._checked_at < REFRESH_EVERY:
            return
        self._checked_at = now
        read_at = time.time()
        async with self.db.read() as conn:
            # A second of overlap covers clocks of replicas that differ a little.
            self._revoked_tokens.update(
                await identities.revoked_since(conn, self._revocations_read_at - 1.0)
            )
            for change in await changes.since(conn, self._last_change, kind="User"):
                self._last_change = max(self._last_change, change.id)
                if change.action == "delete":
                    self._deleted_users.add(change.name)
        self._revocations_read_at = read_at


async def ensure_signing_key(db: Database) -> None:
    async with db.write() as conn:
        if not await policy_rows.signing_key_rows(conn):
            key = new_signing_key()
            await policy_rows.insert_signing_key(
                conn, key.kid, base64.b64encode(key.secret).decode()
            )
