from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, strategies as st

from dockyard.errors import DigestInvalidError, ErrorCode, UnsupportedError
from dockyard.registry.digest import Digest, Hasher, digest_of, is_digest, parse_digest

SHA256_HEX = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
SHA512_HEX = hashlib.sha512(b"").hexdigest()


def test_sha256() -> None:
    digest = parse_digest(f"sha256:{SHA256_HEX}")
    assert digest == Digest("sha256", SHA256_HEX)
    assert str(digest) == f"sha256:{SHA256_HEX}"


def test_sha512() -> None:
    assert parse_digest(f"sha512:{SHA512_HEX}") == Digest("sha512", SHA512_HEX)


@pytest.mark.parametrize(
    "value",
    [
        f"sha256:{SHA256_HEX.upper()}",
        f"sha256:{SHA256_HEX[:-1]}",
        f"sha256:{SHA256_HEX}0",
        f"sha512:{SHA256_HEX}",
        f"sha256:{SHA256_HEX[:-1]}g",
        f"sha256:{SHA256_HEX[:-1]}=",
    ],
)
def test_bad_encoding_is_digest_invalid(value: str) -> None:
    with pytest.raises(DigestInvalidError) as info:
        parse_digest(value)
    assert info.value.status == 400
    assert info.value.code is ErrorCode.DIGEST_INVALID


@pytest.mark.parametrize(
    "value", ["md5:d41d8cd98f00b204e9800998ecf8427e", f"sha384:{'0' * 96}", "blake3:abc"]
)
def test_unknown_algorithm_is_unsupported_with_400(value: str) -> None:
    with pytest.raises(UnsupportedError) as info:
        parse_digest(value)
    assert info.value.status == 400
    assert info.value.code is ErrorCode.UNSUPPORTED
    assert "sha256 or sha512" in info.value.message


@pytest.mark.parametrize(
    "value",
    [
        "",
        "sha256",
        "sha256:",
        f":{SHA256_HEX}",
        "not a digest",
        f"SHA256:{SHA256_HEX}",
        f"sha256:{SHA256_HEX}\n",
        f" sha256:{SHA256_HEX}",
        f"sha256::{SHA256_HEX}",
        f"sha256:{SHA256_HEX}/x",
    ],
)
def test_garbage_is_digest_invalid(value: str) -> None:
    with pytest.raises(DigestInvalidError):
        parse_digest(value)


@given(st.text(max_size=150))
def test_parse_digest_raises_only_registry_errors(value: str) -> None:
    try:
        digest = parse_digest(value)
    except (DigestInvalidError, UnsupportedError):
        return
    assert str(digest) == value


def test_digest_of_and_hasher_agree() -> None:
    assert digest_of(b"") == Digest("sha256", SHA256_HEX)
    assert digest_of(b"", "sha512") == Digest("sha512", SHA512_HEX)
    hasher = Hasher()
    hasher.update(b"hello ")
    snapshot = hasher.copy()
    hasher.update(memoryview(b"world"))
    assert hasher.digest() == digest_of(b"hello world")
    assert snapshot.digest() == digest_of(b"hello ")


def test_is_digest() -> None:
    assert is_digest(f"sha256:{SHA256_HEX}")
    assert not is_digest("latest")
