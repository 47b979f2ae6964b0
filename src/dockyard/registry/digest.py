"""Content digests: the ``algorithm:hex`` grammar of the OCI image spec, sha256 and sha512."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from dockyard.errors import DigestInvalidError, UnsupportedError

HEX_LENGTHS = {"sha256": 64, "sha512": 128}
# The OCI grammar: algorithm ":" encoded; only registered algorithms are accepted.
DIGEST_RE = re.compile(r"^([a-z0-9]+(?:[+._-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$")


@dataclass(frozen=True, slots=True)
class Digest:
    algorithm: str
    hex: str

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"


def parse_digest(value: str) -> Digest:
    match = DIGEST_RE.fullmatch(value)
    if match is None:
        raise DigestInvalidError(f"invalid digest {value[:200]!r}: expected algorithm:hex")
    algorithm, encoded = match.groups()
    length = HEX_LENGTHS.get(algorithm)
    if length is None:
        raise UnsupportedError(
            f"digest algorithm {algorithm!r} is not supported (use sha256 or sha512)",
            status=400,
        )
    if len(encoded) != length or not re.fullmatch(r"[a-f0-9]+", encoded):
        raise DigestInvalidError(
            f"invalid {algorithm} digest: expected {length} lowercase hex characters"
        )
    return Digest(algorithm, encoded)


def is_digest(value: str) -> bool:
    return ":" in value


class Hasher:
    """An incremental hasher that yields a ``Digest``."""

    __slots__ = ("_hash", "algorithm")

    def __init__(self, algorithm: str = "sha256") -> None:
        self.algorithm = algorithm
        self._hash = hashlib.new(algorithm)

    def update(self, data: bytes | memoryview) -> None:
        self._hash.update(data)

    def digest(self) -> Digest:
        return Digest(self.algorithm, self._hash.hexdigest())

    def copy(self) -> Hasher:
        clone = Hasher.__new__(Hasher)
        clone.algorithm = self.algorithm
        clone._hash = self._hash.copy()
        return clone


def digest_of(data: bytes, algorithm: str = "sha256") -> Digest:
    return Digest(algorithm, hashlib.new(algorithm, data).hexdigest())
