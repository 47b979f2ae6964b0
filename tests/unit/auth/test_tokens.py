from __future__ import annotations

import base64
import hashlib
import hmac
import re

import pytest

from dockyard.auth.tokens import looks_like_token, new_token, secrets_equal, token_digest

BODY = "A" * 43


def test_new_token_is_prefix_and_43_urlsafe_characters_of_256_bits() -> None:
    token = new_token()
    assert re.fullmatch(r"dyt~[A-Za-z0-9_-]{43}", token)
    assert len(base64.urlsafe_b64decode(token[4:] + "=")) == 32
    assert looks_like_token(token)


def test_new_token_is_random() -> None:
    assert len({new_token() for _ in range(200)}) == 200


def test_token_digest_is_hex_sha256_of_the_whole_token() -> None:
    token = new_token()
    digest = token_digest(token)
    assert digest == hashlib.sha256(token.encode()).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert token_digest(token) == digest
    assert token_digest(new_token()) != digest


@pytest.mark.parametrize("value", ["correct horse battery staple", "", "dyt~short"])
def test_token_digest_refuses_what_is_not_a_token(value: str) -> None:
    with pytest.raises(ValueError, match="not a Dockyard API token"):
        token_digest(value)


@pytest.mark.parametrize("value", ["dyt~" + BODY, "dyt~" + "-_09azAZ" * 5 + "abc"])
def test_looks_like_token_accepts_the_shape(value: str) -> None:
    assert looks_like_token(value)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "dyt~",
        "password123",
        BODY + "dyt~",
        "dyx~" + BODY,
        "DYT~" + BODY,
        "dyt~" + BODY[:-1],
        "dyt~" + BODY + "A",
        "dyt~" + BODY[:-1] + "+",
        "dyt~" + BODY[:-1] + "/",
        "dyt~" + BODY[:-1] + "=",
        "dyt~" + BODY + "\n",
        " dyt~" + BODY,
        "dyt~" + BODY[:-1] + "é",
        "dyt~" + BODY[:-1] + "٣",  # a Unicode digit that \w or isalnum would let through
    ],
)
def test_looks_like_token_refuses_other_shapes(value: str) -> None:
    assert not looks_like_token(value)


def test_secrets_equal_compares_values() -> None:
    assert secrets_equal("metrics-secret", "metrics-secret")
    assert not secrets_equal("metrics-secret", "metrics-secreT")
    assert not secrets_equal("metrics-secret", "metrics-secret-longer")
    assert not secrets_equal("", "x")
    assert secrets_equal("", "")
    assert secrets_equal("grüße", "grüße")
    assert not secrets_equal("grüße", "grusse")


def test_secrets_equal_uses_a_constant_time_comparison(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []

    def compare_digest(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return a == b

    monkeypatch.setattr(hmac, "compare_digest", compare_digest)
    assert secrets_equal("s3cret", "s3cret")
    assert calls == [(b"s3cret", b"s3cret")]
