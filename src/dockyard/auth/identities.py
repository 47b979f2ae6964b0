"""Users, groups, service accounts, passwords and API tokens.

Passwords are kept only as bcrypt hashes and tokens only as SHA-256 digests. A password check
costs a bcrypt round, so each worker remembers, for a minute, which (password, stored hash)
pairs it has verified; a changed password has another hash and misses that memory.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict

from dockyard.auth import passwords
from dockyard.auth.access import Principal
from dockyard.auth.model import (
    SERVICE_ACCOUNT_PREFIX,
    Group,
    IssuedToken,
    ServiceAccount,
    User,
    service_account_user,
)
from dockyard.auth.rbac import USER_GROUP
from dockyard.auth.tokens import looks_like_token, new_token, token_digest
from dockyard.errors import StatusError, already_exists, invalid_field, not_found
from dockyard.metadata import changes, identities as rows
from dockyard.metadata.engine import AlreadyExistsError, Database

LOGIN_TOKEN_TTL = 24 * 3600.0
LOGIN_WINDOW = 300.0
LOGIN_MAX_FAILURES = 5
VERIFIED_TTL = 60.0
VERIFIED_CACHE_SIZE = 1024
# Checked against when a user has no password, so an unknown name costs as long as a wrong one.
TIMING_HASH = "$2b$12$7EO/J1iK9CykLsEN2CHmaO3BQ9pp7XDYBCPWO.xLlpd8B0yIfEcYu"
AUTHENTICATED = "system:authenticated"
SERVICE_ACCOUNTS = "system:serviceaccounts"


def unauthorized(message: str = "invalid username or password") -> StatusError:
    return StatusError(401, "Unauthorized", message)


def principal_groups(user: str, groups: list[str]) -> tuple[str, ...]:
    extra = [AUTHENTICATED]
    if user.startswith(SERVICE_ACCOUNT_PREFIX):
        namespace = user[len(SERVICE_ACCOUNT_PREFIX) :].split(":", 1)[0]
        extra += [SERVICE_ACCOUNTS, f"{SERVICE_ACCOUNTS}:{namespace}"]
    return (*groups, *extra)


class IdentityService:
    def __init__(self, db: Database, bcrypt_rounds: int | None = None) -> None:
        self.db = db
        self.bcrypt_rounds = bcrypt_rounds
        self._verified: OrderedDict[tuple[str, str], float] = OrderedDict()

    # users

    async def create_user(
        self, name: str, password: str | None = None, full_name: str = ""
    ) -> User:
        name = self._user_name(name)
        hashed = self._hash(name, password) if password is not None else None
        async with self.db.write() as conn:
            try:
                await rows.insert_user(conn, name, full_name=full_name, password_hash=hashed)
            except AlreadyExistsError as exc:
                raise already_exists("users", name, USER_GROUP) from exc
        return await self.get_user(name)

    async def get_user(self, name: str) -> User:
        async with self.db.read() as conn:
            row = await rows.get_user(conn, name)
            if row is None or row.namespace is not None:
                raise not_found("users", name, USER_GROUP)
            groups = await rows.groups_of(conn, name)
        return User(row.name, row.uid, row.full_name, tuple(groups), row.created_at)

    async def list_users(self) -> list[User]:
        async with self.db.read() as conn:
            found = await rows.list_users(conn)
            return [
                User(
                    r.name,
                    r.uid,
                    r.full_name,
                    tuple(await rows.groups_of(conn, r.name)),
                    r.created_at,
                )
                for r in found
            ]

    async def delete_user(self, name: str) -> None:
        async with self.db.write() as conn:
            row = await rows.get_user(conn, name)
            if row is None or row.namespace is not None:
                raise not_found("users", name, USER_GROUP)
            await rows.revoke_tokens_of(conn, name)
            await rows.delete_user(conn, name)
            await changes.append(
                conn, kind="User", namespace="", name=name, action="delete", payload={}
            )

    async def set_password(
        self, name: str, password: str | None = None, password_hash: str | None = None
    ) -> None:
        if (password is None) == (password_hash is None):
            raise invalid_field("users", name, "give exactly one of password and passwordHash")
        if password_hash is not None and not passwords.is_bcrypt_hash(password_hash):
            raise invalid_field("users", name, "passwordHash must be a bcrypt hash (htpasswd -B)")
        hashed = password_hash if password_hash is not None else self._hash(name, password or "")
        async with self.db.write() as conn:
            row = await rows.get_user(conn, name)
            if row is None or row.namespace is not None:
                raise not_found("users", name, USER_GROUP)
            await rows.set_password_hash(conn, name, hashed)

    async def import_htpasswd(self, content: str) -> list[str]:
        """Create or update each user of an htpasswd file (bcrypt entries only)."""
        try:
            entries = passwords.parse_htpasswd(content)
        except ValueError as exc:
            raise StatusError(422, "Invalid", f"htpasswd file is invalid: {exc}") from exc
        async with self.db.write() as conn:
            for name, hashed in entries:
                row = await rows.get_user(conn, name)
                if row is None:
                    await rows.insert_user(conn, name, password_hash=hashed)
                elif row.namespace is None:
                    await rows.set_password_hash(conn, name, hashed)
        return [name for name, _ in entries]

    # groups

    async def create_group(self, name: str, users: tuple[str, ...] | list[str] = ()) -> Group:
        async with self.db.write() as conn:
            try:
                await rows.insert_group(conn, name)
            except AlreadyExistsError as exc:
                raise already_exists("groups", name, USER_GROUP) from exc
            await rows.set_members(conn, name, list(users))
        return await self.get_group(name)

    async def get_group(self, name: str) -> Group:
        async with self.db.read() as conn:
            row = await rows.get_group(conn, name)
            if row is None:
                raise not_found("groups", name, USER_GROUP)
            members = await rows.members(conn, name)
        return Group(row.name, row.uid, tuple(members), row.created_at)

    async def list_groups(self) -> list[Group]:
        async with self.db.read() as conn:
            return [
                Group(r.name, r.uid, tuple(await rows.members(conn, r.name)), r.created_at)
                for r in await rows.list_groups(conn)
            ]

    async def set_group_users(self, name: str, users: tuple[str, ...] | list[str]) -> Group:
        async with self.db.write() as conn:
            if await rows.get_group(conn, name) is None:
                raise not_found("groups", name, USER_GROUP)
            await rows.set_members(conn, name, list(users))
        return await self.get_group(name)

    async def delete_group(self, name: str) -> None:
        async with self.db.write() as conn:
            if not await rows.delete_group(conn, name):
                raise not_found("groups", name, USER_GROUP)

    # service accounts

    async def create_service_account(self, namespace: str, name: str) -> ServiceAccount:
        user = service_account_user(namespace, name)
        async with self.db.write() as conn:
            try:
                await rows.insert_user(conn, user, namespace=namespace)
            except AlreadyExistsError as exc:
                raise already_exists("serviceaccounts", name) from exc
        return await self.get_service_account(namespace, name)

    async def get_service_account(self, namespace: str, name: str) -> ServiceAccount:
        async with self.db.read() as conn:
            row = await rows.get_user(conn, service_account_user(namespace, name))
        if row is None or row.namespace != namespace:
            raise not_found("serviceaccounts", name)
        return ServiceAccount(namespace, name, row.uid, row.created_at)

    async def list_service_accounts(self, namespace: str) -> list[ServiceAccount]:
        prefix = service_account_user(namespace, "")
        async with self.db.read() as conn:
            found = await rows.list_users(conn, namespace)
        return [
            ServiceAccount(namespace, r.name[len(prefix) :], r.uid, r.created_at) for r in found
        ]

    async def delete_service_account(self, namespace: str, name: str) -> None:
        user = service_account_user(namespace, name)
        async with self.db.write() as conn:
            row = await rows.get_user(conn, user)
            if row is None or row.namespace != namespace:
                raise not_found("serviceaccounts", name)
            await rows.revoke_tokens_of(conn, user)
            await rows.delete_user(conn, user)
            await changes.append(
                conn, kind="User", namespace=namespace, name=user, action="delete", payload={}
            )

    async def delete_namespace_accounts(self, namespace: str) -> None:
        for account in await self.list_service_accounts(namespace):
            await self.delete_service_account(namespace, account.name)

    # tokens and authentication

    async def login(self, username: str, password: str) -> IssuedToken:
        """Trade a password for an API token."""
        retry = await self._locked_for(username)
        if retry:
            raise StatusError(
                429,
                "TooManyRequests",
                f"too many failed logins for {username!r}; try again in {retry} seconds",
                {"retryAfterSeconds": retry},
            )
        principal = await self.authenticate_password(username, password)
        if principal is None:
            raise unauthorized()
        return await self.issue_token(principal.name, LOGIN_TOKEN_TTL)

    async def _locked_for(self, username: str) -> int:
        """Seconds a user name stays locked: five failures in five minutes lock it."""
        async with self.db.read() as conn:
            failures, until = await rows.login_failures_in_window(conn, username, LOGIN_WINDOW)
        return max(1, int(until - time.time())) if failures >= LOGIN_MAX_FAILURES else 0

    async def issue_token(self, user_name: str, ttl: float | None) -> IssuedToken:
        token = new_token()
        expires_at = time.time() + ttl if ttl is not None else None
        async with self.db.write() as conn:
            if await rows.get_user(conn, user_name) is None:
                raise not_found("users", user_name, USER_GROUP)
            token_id = await rows.insert_token(conn, token_digest(token), user_name, expires_at)
        return IssuedToken(token, token_id, user_name, expires_at)

    async def revoke(self, token: str) -> None:
        if not looks_like_token(token):
            raise unauthorized("token is unknown or already revoked")
        async with self.db.write() as conn:
            if not await rows.revoke_token(conn, token_digest(token)):
                raise unauthorized("token is unknown or already revoked")

    async def authenticate_token(self, token: str) -> Principal | None:
        if not looks_like_token(token):
            return None
        async with self.db.read() as conn:
            row = await rows.find_token(conn, token_digest(token))
            if row is None or row.revoked_at is not None:
                return None
            if row.expires_at is not None and row.expires_at <= time.time():
                return None
            user = await rows.get_user(conn, row.user_name)
            if user is None:
                return None
            groups = await rows.groups_of(conn, user.name)
        return Principal(user.name, True, principal_groups(user.name, groups), token_id=row.id)

    async def authenticate_password(self, username: str, password: str) -> Principal | None:
        """Check a password, wherever it is presented; a locked user name never passes."""
        async with self.db.read() as conn:
            user = await rows.get_user(conn, username)
            groups = await rows.groups_of(conn, username) if user is not None else []
            failures, _ = await rows.login_failures_in_window(conn, username, LOGIN_WINDOW)
        if failures >= LOGIN_MAX_FAILURES:
            return None
        if user is None or not user.password_hash:
            passwords.verify_password(password, TIMING_HASH)
            verified = False
        else:
            verified = self._verify(password, user.password_hash)
        if not verified:
            async with self.db.write() as conn:
                await rows.record_login_failure(conn, username, LOGIN_WINDOW)
            return None
        if failures:
            async with self.db.write() as conn:
                await rows.clear_login_failures(conn, username)
        return Principal(username, True, principal_groups(username, groups))

    async def authenticate(self, username: str, secret: str) -> Principal | None:
        """Basic credentials: any user name with a token, or a user name with its password."""
        if looks_like_token(secret):
            return await self.authenticate_token(secret)
        return await self.authenticate_password(username, secret)

    def _verify(self, password: str, hashed: str) -> bool:
        key = (hashlib.sha256(password.encode()).hexdigest(), hashed)
        now = time.monotonic()
        seen = self._verified.get(key)
        if seen is not None and now - seen < VERIFIED_TTL:
            return True
        if not passwords.verify_password(password, hashed):
            return False
        self._verified[key] = now
        while len(self._verified) > VERIFIED_CACHE_SIZE:
            self._verified.popitem(last=False)
        return True

    def _hash(self, name: str, password: str) -> str:
        try:
            passwords.validate_password(password)
        except ValueError as exc:
            raise invalid_field("users", name, str(exc)) from exc
        return passwords.hash_password(password, rounds=self.bcrypt_rounds)

    @staticmethod
    def _user_name(name: str) -> str:
        try:
            return passwords.validate_user_name(name)
        except ValueError as exc:
            raise invalid_field("users", name, str(exc)) from exc
