"""Upload state carried in the upload URL's ``_state`` parameter, signed with the HTTP secret.

Any worker or replica can continue an upload from the URL alone, as with Distribution's
HMAC-signed ``_state``. The signature stops a client from moving its offset or switching the
upload to another repository; the handler still checks ``name`` and ``upload_id`` against the URL.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from dockyard.errors import BlobUploadUnknownError

# Tokens are far smaller than this; the cap keeps a hostile query string from costing work.
MAX_TOKEN_LENGTH = 8192
_B64URL_RE = re.compile(r"[A-Za-z0-9_-]+")
_INVALID = "upload state is invalid or was tampered with"


@dataclass(frozen=True, slots=True)
class UploadState:
    name: str
    upload_id: str
    offset: int
    started_at: float


def encode_state(state: UploadState, secret: bytes) -> str:
    """``<payload>.<signature>``, both unpadded urlsafe base64, so it needs no URL escaping."""
    payload = json.dumps(
        {
            "name": state.name,
            "upload_id": state.upload_id,
            "offset": state.offset,
            "started_at": float(state.started_at),
        },
        separators=(",", ":"),
        sort_keys=True,
        allow_nan=False,
    )
    encoded = _b64encode(payload.encode("utf-8"))
    return f"{encoded}.{_sign(encoded, secret)}"


def decode_state(token: str, secret: bytes) -> UploadState:
    """Verify and read a token; every failure is the same 404 so nothing leaks about why."""
    if len(token) > MAX_TOKEN_LENGTH:
        raise BlobUploadUnknownError(_INVALID)
    encoded, sep, signature = token.partition(".")
    if not sep or not _B64URL_RE.fullmatch(encoded) or not _B64URL_RE.fullmatch(signature):
        raise BlobUploadUnknownError(_INVALID)
    # Comparing the encoded text, not decoded bytes, leaves no second spelling of a signature.
    if not hmac.compare_digest(signature.encode("ascii"), _sign(encoded, secret).encode("ascii")):
        raise BlobUploadUnknownError(_INVALID)
    try:
        data = json.loads(_b64decode(encoded).decode("utf-8"))
    except (binascii.Error, ValueError, RecursionError):
        raise BlobUploadUnknownError(_INVALID) from None
    state = _state_from(data)
    if state is None:
        raise BlobUploadUnknownError(_INVALID)
    return state


def _state_from(data: Any) -> UploadState | None:
    if not isinstance(data, dict) or set(data) != {"name", "upload_id", "offset", "started_at"}:
        return None
    name, upload_id = data["name"], data["upload_id"]
    offset, started_at = data["offset"], data["started_at"]
    if not isinstance(name, str) or not isinstance(upload_id, str):
        return None
    if type(offset) is not int or offset < 0:
        return None
    if type(started_at) not in (int, float):
        return None
    try:
        started = float(started_at)
    except OverflowError:
        return None
    if not math.isfinite(started):
        return None
    return UploadState(name, upload_id, offset, started)


def _sign(encoded: str, secret: bytes) -> str:
    return _b64encode(hmac.new(secret, encoded.encode("ascii"), hashlib.sha256).digest())


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
