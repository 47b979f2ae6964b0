"""``/v2/<name>/blobs/uploads/[<id>]``: start (or mount, or upload whole), chunks, finish."""

from __future__ import annotations

from urllib.parse import quote

from starlette.responses import Response

from dockyard.auth import access
from dockyard.errors import (
    BlobUploadInvalidError,
    BlobUploadUnknownError,
    DigestInvalidError,
    RangeInvalidError,
)
from dockyard.http.distribution.call import Call
from dockyard.registry.digest import Digest, parse_digest
from dockyard.registry.ranges import parse_content_range
from dockyard.registry.reference import validate_name
from dockyard.registry.uploadstate import UploadState, decode_state, encode_state


def _session_response(call: Call, state: UploadState, status: int) -> Response:
    token = quote(encode_state(state, call.services.secret), safe="")
    end = state.offset - 1 if state.offset else 0
    return Response(
        b"",
        status_code=status,
        headers={
            "Location": call.location(
                f"/v2/{call.name}/blobs/uploads/{state.upload_id}?_state={token}"
            ),
            "Range": f"0-{end}",
            "Docker-Upload-UUID": state.upload_id,
        },
    )


def _created(call: Call, digest: Digest) -> Response:
    return Response(
        b"",
        status_code=201,
        headers={
            "Location": call.location(f"/v2/{call.name}/blobs/{digest}"),
            "Docker-Content-Digest": str(digest),
        },
    )


def _content_length(call: Call) -> int | None:
    value = call.request.headers.get("content-length")
    if value is None:
        return None
    if not value.isdigit():
        raise BlobUploadInvalidError(f"invalid Content-Length {value[:40]!r}")
    return int(value)


def _chunk(call: Call) -> tuple[int | None, int | None]:
    """Where a chunk starts (``Content-Range``) and how long it is, checked against each other."""
    length = _content_length(call)
    header = call.request.headers.get("content-range")
    if header is None:
        return None, length
    start, end = parse_content_range(header)
    if length is not None and length != end - start + 1:
        raise RangeInvalidError(
            f"Content-Range {header[:60]!r} covers {end - start + 1} bytes but Content-Length"
            f" is {length}"
        )
    return start, end - start + 1


def _state(call: Call) -> UploadState:
    token = call.request.query_params.get("_state")
    if not token:
        raise BlobUploadUnknownError(
            "upload state missing: use the Location URL the registry returned",
            detail={"uuid": call.arg},
        )
    state = decode_state(token, call.services.secret)
    if state.upload_id != call.arg or state.name != call.name:
        raise BlobUploadUnknownError(
            "upload state belongs to another upload", detail={"uuid": call.arg}
        )
    return state


async def start_upload(call: Call) -> Response:
    query = call.request.query_params
    mount, source = query.get("mount"), query.get("from")
    if mount is None:
        source = None  # Distribution ignores ``from`` without ``mount``
    elif source is not None:
        validate_name(source)
    from_source = [access.pull(source)] if source is not None else []
    await call.require(access.push(call.name), also=[access.pull(call.name), *from_source])
    uploads = call.services.uploads
    if mount is not None:
        digest = parse_digest(mount)
        readable = await call.allowed(access.pull(source)) if source is not None else True
        if readable and await call.services.blobs.mount(call.name, digest, source) is not None:
            return _created(call, digest)
    value = query.get("digest")
    state = await uploads.start(call.name)
    if value is None:
        return _session_response(call, state, 202)
    digest = parse_digest(value)
    await uploads.finish(state, digest, call.request.stream())
    return _created(call, digest)


async def patch_upload(call: Call) -> Response:
    await call.require(access.push(call.name), also=[access.pull(call.name)])
    state = _state(call)
    start, length = _chunk(call)
    state = await call.services.uploads.append(state, call.request.stream(), start, length)
    return _session_response(call, state, 202)


async def put_upload(call: Call) -> Response:
    await call.require(access.push(call.name), also=[access.pull(call.name)])
    state = _state(call)
    value = call.request.query_params.get("digest")
    if not value:
        raise DigestInvalidError("the digest query parameter is required to finish an upload")
    digest = parse_digest(value)
    start, length = _chunk(call)
    await call.services.uploads.finish(state, digest, call.request.stream(), start, length)
    return _created(call, digest)


async def get_upload(call: Call) -> Response:
    await call.require(access.push(call.name), also=[access.pull(call.name)])
    state = _state(call)
    size = await call.services.uploads.size(state)
    current = UploadState(state.name, state.upload_id, size, state.started_at)
    return _session_response(call, current, 204)


async def delete_upload(call: Call) -> Response:
    await call.require(access.push(call.name), also=[access.pull(call.name)])
    await call.services.uploads.cancel(_state(call))
    return Response(b"", status_code=204)
