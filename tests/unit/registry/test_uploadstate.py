from __future__ import annotations

import base64
import hashlib
import hmac
import re

import pytest
from hypothesis import given, strategies as st

from dockyard.errors import BlobUploadUnknownError, ErrorCode
from dockyard.registry.uploadstate import UploadState, decode_state, encode_state

SECRET = b"http-secret-for-tests"
STATE = UploadState(name="proj/app", upload_id="0f3c-uuid", offset=1024, started_at=1700000000.25)
MESSAGE = "upload state is invalid or was tampered with"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed(payload: bytes, secret: bytes = SECRET) -> str:
    """A correctly signed token around any payload, to reach the checks after the HMAC."""
    encoded = b64(payload)
    return f"{encoded}.{b64(hmac.new(secret, encoded.encode(), hashlib.sha256).digest())}"


def rejected(token: str, secret: bytes = SECRET) -> None:
    with pytest.raises(BlobUploadUnknownError) as info:
        decode_state(token, secret)
    assert info.value.status == 404
    assert info.value.code is ErrorCode.BLOB_UPLOAD_UNKNOWN
    assert info.value.message == MESSAGE


def test_roundtrip() -> None:
    assert decode_state(encode_state(STATE, SECRET), SECRET) == STATE


def test_token_is_url_safe_without_padding() -> None:
    token = encode_state(STATE, SECRET)
    assert re.fullmatch(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", token)


def test_signature_is_hmac_sha256_of_the_payload() -> None:
    token = encode_state(STATE, SECRET)
    assert token == signed(base64.urlsafe_b64decode(token.split(".")[0] + "=="))


def test_wrong_secret() -> None:
    rejected(encode_state(STATE, SECRET), b"another-secret")


def test_tampered_offset_is_rejected() -> None:
    good = encode_state(STATE, SECRET)
    moved = encode_state(UploadState(STATE.name, STATE.upload_id, 0, STATE.started_at), SECRET)
    rejected(moved.split(".")[0] + "." + good.split(".")[1])
    rejected(encode_state(UploadState(STATE.name, STATE.upload_id, 0, STATE.started_at), b"guess"))


def test_every_single_character_change_is_rejected() -> None:
    token = encode_state(STATE, SECRET)
    for i, char in enumerate(token):
        for replacement in {"A", "_", "."} - {char}:
            with pytest.raises(BlobUploadUnknownError):
                decode_state(token[:i] + replacement + token[i + 1 :], SECRET)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: "",
        lambda t: t[:-1],
        lambda t: t[:10],
        lambda t: t.split(".")[0],
        lambda t: t + "=",
        lambda t: t + ".x",
        lambda t: t.replace(".", ".."),
        lambda t: "." + t,
        lambda t: t + "\u00e9",
        lambda t: t + "\n",
        lambda t: t + "A" * 10_000,
    ],
)
def test_mangled_tokens(mangle: object) -> None:
    assert callable(mangle)
    rejected(mangle(encode_state(STATE, SECRET)))


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"\xff\xfe",
        b"[]",
        b"null",
        b'{"name":"a/b","upload_id":"u","offset":0}',
        b'{"name":"a/b","upload_id":"u","offset":0,"started_at":1,"extra":1}',
        b'{"name":1,"upload_id":"u","offset":0,"started_at":1}',
        b'{"name":"a/b","upload_id":null,"offset":0,"started_at":1}',
        b'{"name":"a/b","upload_id":"u","offset":-1,"started_at":1}',
        b'{"name":"a/b","upload_id":"u","offset":true,"started_at":1}',
        b'{"name":"a/b","upload_id":"u","offset":1.5,"started_at":1}',
        b'{"name":"a/b","upload_id":"u","offset":0,"started_at":"now"}',
        b'{"name":"a/b","upload_id":"u","offset":0,"started_at":NaN}',
        b'{"name":"a/b","upload_id":"u","offset":0,"started_at":Infinity}',
        b'{"name":"a/b","upload_id":"u","offset":0,"started_at":1' + b"0" * 400 + b"}",
        b'{"name":"a/b","upload_id":"u","offset":' + b"9" * 5000 + b',"started_at":1}',
        b"[" * 50_000,
    ],
)
def test_signed_but_malformed_payloads(payload: bytes) -> None:
    rejected(signed(payload))


def test_signed_well_formed_payload_is_accepted() -> None:
    token = signed(b'{"name":"a/b","upload_id":"u","offset":3,"started_at":12}')
    assert decode_state(token, SECRET) == UploadState("a/b", "u", 3, 12.0)


@given(st.text(max_size=200))
def test_arbitrary_strings_only_raise_upload_unknown(token: str) -> None:
    with pytest.raises(BlobUploadUnknownError):
        decode_state(token, SECRET)


@given(st.from_regex(r"[A-Za-z0-9_-]{0,80}\.[A-Za-z0-9_-]{0,50}", fullmatch=True))
def test_well_shaped_forgeries_are_rejected(token: str) -> None:
    with pytest.raises(BlobUploadUnknownError):
        decode_state(token, SECRET)


@given(
    st.text(),
    st.text(),
    st.integers(0, 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.binary(min_size=1, max_size=64),
)
def test_roundtrip_property(
    name: str, upload_id: str, offset: int, started_at: float, secret: bytes
) -> None:
    state = UploadState(name, upload_id, offset, started_at)
    assert decode_state(encode_state(state, secret), secret) == state
