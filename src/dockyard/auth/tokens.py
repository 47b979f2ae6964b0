"""Opaque API tokens (``dyt~…``) and constant-time comparison of secrets.

A token carries 256 random bits, so a fast hash is enough to store it: the database keeps only the
SHA-256 digest and looks tokens up by digest, which never compares the secret byte by byte.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

TOKEN_PREFIX = "dyt~"
"""Marks a Dockyard token, so secret scanners and ``looks_like_token`` can recognise one."""

_TOKEN_BYTES = 32
_TOKEN_RE = re.compile(re.escape(TOKEN_PREFIX) + r"[A-Za-z0-9_-]{43}")


def new_token() -> str:
    """A fresh API token: the prefix and 43 urlsafe characters (256 bits)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(_TOKEN_BYTES)


def looks_like_token(value: str) -> bool:
    """True when ``value`` has a token's prefix, alphabet and length (it may still be unknown)."""
    return _TOKEN_RE.fullmatch(value) is not None


def token_digest(token: str) -> str:
    """The hex SHA-256 stored for a token; refuses non-tokens, so no password gets fast-hashed."""
    if not looks_like_token(token):
        raise ValueError("not a Dockyard API token")
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def secrets_equal(a: str, b: str) -> bool:
    """Compare two secrets in time independent of where they differ (e.g. the metrics secret)."""
    return hmac.compare_digest(
        a.encode("utf-8", "surrogatepass"), b.encode("utf-8", "surrogatepass")
    )
