"""Passwords, user names and htpasswd files.

Only bcrypt is accepted: it is salted, slow by design, and what ``htpasswd -B`` writes. The faster
htpasswd formats (MD5 ``$apr1$``, ``{SHA}``, crypt) are refused rather than verified, so a stolen
user table stays expensive to crack.
"""

from __future__ import annotations

import re
import unicodedata

import bcrypt

DEFAULT_ROUNDS = 12
"""bcrypt cost: about 0.25 s per hash on current hardware, which rate-limits guessing."""

MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_BYTES = 72
"""bcrypt ignores every byte after the 72nd; longer passwords are refused, never truncated."""

MAX_USER_NAME_CHARS = 253
RESERVED_USER_PREFIX = "system:"

_BCRYPT_RE = re.compile(r"\$2[aby]\$(?:0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}")
_USER_NAME_FORBIDDEN = frozenset("/%:")
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})
_REFUSED_HASHES = (
    ("$apr1$", "an MD5 ($apr1$) hash"),
    ("{SHA}", "a SHA-1 ({SHA}) hash"),
    ("$2", "a malformed bcrypt hash"),
)


def validate_password(password: str) -> str:
    """Apply the password policy to a new password; return it unchanged."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise ValueError(f"password must have at least {MIN_PASSWORD_CHARS} characters")
    try:
        encoded = password.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("password is not valid Unicode text") from None
    if len(encoded) > MAX_PASSWORD_BYTES:
        raise ValueError(f"password must be at most {MAX_PASSWORD_BYTES} bytes in UTF-8")
    return password


def hash_password(password: str, rounds: int | None = None) -> str:
    """bcrypt-hash a password that passes ``validate_password``; ``rounds`` is for tests."""
    validate_password(password)
    salt = bcrypt.gensalt(DEFAULT_ROUNDS if rounds is None else rounds)
    return bcrypt.hashpw(password.encode("utf-8"), salt).decode("ascii")


def verify_password(password: str, hashed: str) -> bool:
    """Check a password against a bcrypt hash; a malformed hash or password is simply False."""
    if not is_bcrypt_hash(hashed):
        return False
    try:
        encoded = password.encode("utf-8")
    except UnicodeEncodeError:
        return False
    if len(encoded) > MAX_PASSWORD_BYTES:
        # A longer password can only match a hash made by a truncating tool: refuse the alias.
        return False
    try:
        return bcrypt.checkpw(encoded, hashed.encode("ascii"))
    except ValueError:
        # Well-shaped but impossible salts (bad padding bits) still make bcrypt raise.
        return False


def is_bcrypt_hash(value: str) -> bool:
    """True for ``$2a$``/``$2b$``/``$2y$`` hashes of cost 4 to 31 and the exact bcrypt length."""
    return _BCRYPT_RE.fullmatch(value) is not None


def validate_user_name(name: str) -> str:
    """Apply OpenShift's user name rules (a user name is a path segment); return it unchanged."""
    if not name:
        raise ValueError("user name must not be empty")
    if len(name) > MAX_USER_NAME_CHARS:
        raise ValueError(f"user name must have at most {MAX_USER_NAME_CHARS} characters")
    if name.startswith(RESERVED_USER_PREFIX):
        raise ValueError(f"user names starting with {RESERVED_USER_PREFIX!r} are reserved")
    if name in (".", "..", "~"):
        raise ValueError(f"user name must not be {name!r}")
    for char in name:
        if char in _USER_NAME_FORBIDDEN:
            raise ValueError(f"user name must not contain {char!r}")
        if char.isspace() or unicodedata.category(char) in _INVISIBLE_CATEGORIES:
            raise ValueError("user name must not contain whitespace or control characters")
    return name


def parse_htpasswd(content: str) -> list[tuple[str, str]]:
    """Read ``user:bcrypt-hash`` lines; errors name the line but never echo a secret."""
    entries: list[tuple[str, str]] = []
    seen: set[str] = set()
    for number, raw in enumerate(content.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        user, colon, hashed = line.partition(":")
        if not colon:
            raise ValueError(f"htpasswd line {number}: expected <user>:<bcrypt hash>")
        try:
            validate_user_name(user)
        except ValueError as exc:
            raise ValueError(f"htpasswd line {number}: {exc}") from None
        if user in seen:
            raise ValueError(f"htpasswd line {number}: user {user!r} appears twice")
        if not is_bcrypt_hash(hashed):
            raise ValueError(
                f"htpasswd line {number}: user {user!r} has {_describe_hash(hashed)}; only bcrypt"
                " is accepted: re-create the file with `htpasswd -B`"
            )
        seen.add(user)
        entries.append((user, hashed))
    return entries


def _describe_hash(hashed: str) -> str:
    for prefix, description in _REFUSED_HASHES:
        if hashed.startswith(prefix):
            return description
    return "a crypt or unknown hash"
