"""Short-lived registry bearer tokens (the Docker token protocol), HS256 with rotatable keys.

The token endpoint checks roles once and signs what it granted; every worker then verifies the
token with a key from the shared key set, without a database read. Verification trusts nothing in
the token before its signature is checked: the algorithm is pinned to HS256 and the key is chosen
by ``kid`` from our own set, so neither ``alg: none`` nor a public-key confusion can get through.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jwt

from dockyard.auth.access import Access
from dockyard.auth.scopes import group_by_resource

ALGORITHM = "HS256"
MIN_SECRET_BYTES = 32
"""RFC 7518 §3.2: an HS256 key must be at least as long as the hash output."""

MAX_TOKEN_CHARS = 16_384
"""Longer input is refused before any decoding work; granted tokens are far smaller."""
LEEWAY = 5.0
"""Seconds of clock difference between replicas allowed on ``exp``, ``nbf`` and ``iat``."""

REQUIRED_CLAIMS = ("iss", "sub", "aud", "exp", "nbf", "iat", "jti")


class InvalidTokenError(Exception):
    """A bearer token that must not be trusted; the message is a short reason for the logs."""


@dataclass(frozen=True)
class SigningKey:
    """One key of the key set; ``kid`` names it in token headers so keys can rotate."""

    kid: str
    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not self.kid:
            raise ValueError("signing key id must not be empty")
        if len(self.secret) < MIN_SECRET_BYTES:
            raise ValueError(f"signing key secret must have at least {MIN_SECRET_BYTES} bytes")


def new_signing_key() -> SigningKey:
    """A random 256-bit key with a random id."""
    return SigningKey(kid=secrets.token_urlsafe(12), secret=secrets.token_bytes(MIN_SECRET_BYTES))


@dataclass(frozen=True)
class RegistryClaims:
    """What a verified token says: who, with which groups, may do what, until when."""

    subject: str
    groups: tuple[str, ...]
    access: tuple[Access, ...]
    token_id: str | None
    """The API token this one was issued from, so revoking that token can reject this one."""
    issued_at: float
    expires_at: float
    jwt_id: str


def issue(
    subject: str,
    access: Sequence[Access],
    *,
    groups: Sequence[str] = (),
    token_id: str | None = None,
    key: SigningKey,
    issuer: str,
    audience: str,
    ttl: float,
    now: float | None = None,
) -> tuple[str, RegistryClaims]:
    """Sign a token granting ``access`` to ``subject`` for ``ttl`` seconds."""
    if not (math.isfinite(ttl) and ttl > 0):
        raise ValueError("token ttl must be a positive number of seconds")
    issued_at = time.time() if now is None else now
    grouped = group_by_resource(access)
    claims = RegistryClaims(
        subject=subject,
        groups=tuple(groups),
        access=tuple(Access(t, n, a) for t, n, actions in grouped for a in actions),
        token_id=token_id,
        issued_at=issued_at,
        expires_at=issued_at + ttl,
        jwt_id=secrets.token_urlsafe(16),
    )
    payload = {
        "iss": issuer,
        "sub": subject,
        "aud": audience,
        "exp": claims.expires_at,
        "nbf": issued_at,
        "iat": issued_at,
        "jti": claims.jwt_id,
        "grp": list(claims.groups),
        "tid": token_id,
        "access": [{"type": t, "name": n, "actions": list(a)} for t, n, a in grouped],
    }
    token = jwt.encode(payload, key.secret, algorithm=ALGORITHM, headers={"kid": key.kid})
    return token, claims


def verify(
    token: str,
    *,
    keys: Mapping[str, SigningKey],
    issuer: str,
    audience: str,
    now: float | None = None,
    leeway: float = LEEWAY,
) -> RegistryClaims:
    """Check signature, algorithm, key id, issuer, audience and times; return the claims.

    Every failure, whatever the input, is an ``InvalidTokenError``.
    """
    if len(token) > MAX_TOKEN_CHARS:
        raise InvalidTokenError("token too long")
    if not token.isascii():
        raise InvalidTokenError("malformed token")
    key = _select_key(token, keys)
    try:
        payload = jwt.decode(
            token,
            key.secret,
            algorithms=[ALGORITHM],
            audience=audience,
            issuer=issuer,
            options={
                "require": list(REQUIRED_CLAIMS),
                "strict_aud": True,
                # Times are checked below against the caller's clock, as floats.
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
            },
        )
    except jwt.MissingRequiredClaimError as exc:
        raise InvalidTokenError(f"missing claim {exc.claim}") from None
    except jwt.InvalidAudienceError:
        raise InvalidTokenError("wrong audience") from None
    except jwt.InvalidIssuerError:
        raise InvalidTokenError("wrong issuer") from None
    except jwt.InvalidSignatureError:
        raise InvalidTokenError("bad signature") from None
    except jwt.PyJWTError:
        raise InvalidTokenError("malformed token") from None
    _check_times(payload, time.time() if now is None else now, leeway)
    return _claims(payload)


def _select_key(token: str, keys: Mapping[str, SigningKey]) -> SigningKey:
    """Read the unverified header only to refuse other algorithms and pick our key by id."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise InvalidTokenError("malformed token") from None
    if header.get("alg") != ALGORITHM:
        raise InvalidTokenError("algorithm not allowed")
    if "crit" in header:
        # We use no JWS extension; pyjwt only checks these itself from 2.10 on.
        raise InvalidTokenError("critical header extensions are not supported")
    kid = header.get("kid")
    if not isinstance(kid, str) or kid not in keys:
        raise InvalidTokenError("unknown signing key")
    return keys[kid]


def _check_times(payload: Mapping[str, Any], now: float, leeway: float) -> None:
    exp, nbf, iat = (_numeric_date(payload, claim) for claim in ("exp", "nbf", "iat"))
    if exp <= now - leeway:
        raise InvalidTokenError("token expired")
    if nbf > now + leeway:
        raise InvalidTokenError("token not yet valid")
    if iat > now + leeway:
        raise InvalidTokenError("token issued in the future")


def _numeric_date(payload: Mapping[str, Any], claim: str) -> float:
    value = payload[claim]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidTokenError(f"claim {claim} is not a number")
    try:
        result = float(value)
    except OverflowError:
        raise InvalidTokenError(f"claim {claim} is out of range") from None
    if not math.isfinite(result):
        raise InvalidTokenError(f"claim {claim} is out of range")
    return result


def _claims(payload: Mapping[str, Any]) -> RegistryClaims:
    subject, jwt_id = payload["sub"], payload["jti"]
    groups, token_id = payload.get("grp", []), payload.get("tid")
    if not isinstance(subject, str) or not isinstance(jwt_id, str):
        raise InvalidTokenError("malformed token")
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        raise InvalidTokenError("malformed groups claim")
    if token_id is not None and not isinstance(token_id, str):
        raise InvalidTokenError("malformed token id claim")
    return RegistryClaims(
        subject=subject,
        groups=tuple(groups),
        access=_access(payload.get("access", [])),
        token_id=token_id,
        issued_at=float(payload["iat"]),
        expires_at=float(payload["exp"]),
        jwt_id=jwt_id,
    )


def _access(entries: Any) -> tuple[Access, ...]:
    if not isinstance(entries, list):
        raise InvalidTokenError("malformed access claim")
    accesses: list[Access] = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise InvalidTokenError("malformed access claim")
        type_, name, actions = entry.get("type"), entry.get("name"), entry.get("actions")
        if not (isinstance(type_, str) and isinstance(name, str) and isinstance(actions, list)):
            raise InvalidTokenError("malformed access claim")
        for action in actions:
            if not isinstance(action, str):
                raise InvalidTokenError("malformed access claim")
            accesses.append(Access(type_, name, action))
    return tuple(accesses)
