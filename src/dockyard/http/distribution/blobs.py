"""``/v2/<name>/blobs/<digest>``: HEAD, GET (with ``Range``) and DELETE."""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.responses import RedirectResponse, Response, StreamingResponse

from dockyard.auth import access
from dockyard.http.distribution.call import Call
from dockyard.registry.digest import parse_digest
from dockyard.registry.ranges import parse_range


def _blob_headers(digest: str, size: int) -> dict[str, str]:
    return {
        "Docker-Content-Digest": digest,
        "ETag": f'"{digest}"',
        "Accept-Ranges": "bytes",
        "Cache-Control": "max-age=31536000",
        "Content-Length": str(size),
    }


async def head_blob(call: Call) -> Response:
    await call.require(access.pull(call.name))
    digest = parse_digest(call.arg)
    size = await call.services.blobs.stat(call.name, digest)
    return Response(
        b"", headers=_blob_headers(str(digest), size), media_type="application/octet-stream"
    )


async def get_blob(call: Call) -> Response:
    await call.require(access.pull(call.name))
    digest = parse_digest(call.arg)
    blobs = call.services.blobs
    size = await blobs.stat(call.name, digest)
    url = await blobs.redirect_url(digest)
    if url is not None:
        _record_pull(call, str(digest), size)
        return RedirectResponse(
            url, status_code=307, headers={"Docker-Content-Digest": str(digest)}
        )
    headers = _blob_headers(str(digest), size)
    header = call.request.headers.get("range")
    span = parse_range(header, size) if header else None
    if span is None:
        content = await blobs.open(call.name, digest)
        _record_pull(call, str(digest), size)
        return StreamingResponse(
            content.chunks, headers=headers, media_type="application/octet-stream"
        )
    start, end = span
    content = await blobs.open(call.name, digest, start)
    _record_pull(call, str(digest), size)
    headers["Content-Length"] = str(end - start + 1)
    headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    return StreamingResponse(
        _limit(content.chunks, end - start + 1),
        status_code=206,
        headers=headers,
        media_type="application/octet-stream",
    )


def _record_pull(call: Call, digest: str, size: int) -> None:
    """A pull event for webhooks, as Distribution sends for every blob GET it serves
    (redirects and ranges included)."""
    pulls = call.services.pulls
    if pulls is not None:
        pulls.record(
            target="blob", repository=call.name, digest=digest, size=size, origin=call.origin()
        )


async def _limit(chunks: AsyncIterator[bytes], length: int) -> AsyncIterator[bytes]:
    remaining = length
    try:
        async for chunk in chunks:
            if len(chunk) >= remaining:
                yield chunk[:remaining]
                return
            remaining -= len(chunk)
            yield chunk
    finally:
        close = getattr(chunks, "aclose", None)
        if close is not None:
            await close()


async def delete_blob(call: Call) -> Response:
    await call.require(access.delete(call.name))
    digest = parse_digest(call.arg)
    await call.services.blobs.delete(call.name, digest)
    return Response(b"", status_code=202, headers={"Docker-Content-Digest": str(digest)})
