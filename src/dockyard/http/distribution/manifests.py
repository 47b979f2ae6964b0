"""``/v2/<name>/manifests/<reference>``: GET, HEAD, PUT and DELETE by tag or digest."""

from __future__ import annotations

from starlette.responses import Response

from dockyard.auth import access
from dockyard.errors import ManifestInvalidError, ManifestUnknownError
from dockyard.http.distribution.call import Call
from dockyard.registry.digest import Digest
from dockyard.registry.images import MAX_MANIFEST_SIZE
from dockyard.registry.mediatypes import accepted_types, is_acceptable
from dockyard.registry.reference import parse_reference


async def _serve(call: Call, head: bool) -> Response:
    await call.require(access.pull(call.name))
    reference = parse_reference(call.arg)
    manifest = await call.services.images.get(call.name, reference)
    if isinstance(reference, str):
        accepted = accepted_types(call.request.headers.getlist("accept"))
        if not is_acceptable(manifest.media_type, accepted):
            raise ManifestUnknownError(
                f"tag {reference!r} is a {manifest.media_type} but the Accept header does"
                " not allow it",
                detail={"tag": reference, "mediaType": manifest.media_type},
            )
    headers = {
        "Docker-Content-Digest": manifest.digest,
        "ETag": f'"{manifest.digest}"',
        "Content-Length": str(len(manifest.content)),
    }
    return Response(
        b"" if head else manifest.content, headers=headers, media_type=manifest.media_type
    )


async def get_manifest(call: Call) -> Response:
    response = await _serve(call, head=False)
    pulls = call.services.pulls
    if pulls is not None:
        reference = parse_reference(call.arg)
        pulls.record(
            target="manifest",
            repository=call.name,
            digest=response.headers["Docker-Content-Digest"],
            size=int(response.headers["Content-Length"]),
            media_type=response.media_type,
            tag=reference if isinstance(reference, str) else None,
            origin=call.origin(),
        )
    return response


async def head_manifest(call: Call) -> Response:
    return await _serve(call, head=True)


async def _read_body(call: Call) -> bytes:
    declared = call.request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_MANIFEST_SIZE:
        raise ManifestInvalidError(
            f"manifest is {declared} bytes; at most {MAX_MANIFEST_SIZE} are accepted", status=413
        )
    body = bytearray()
    async for chunk in call.request.stream():
        body += chunk
        if len(body) > MAX_MANIFEST_SIZE:
            raise ManifestInvalidError(
                f"manifest is over {MAX_MANIFEST_SIZE} bytes, the most accepted", status=413
            )
    return bytes(body)


async def put_manifest(call: Call) -> Response:
    await call.require(access.push(call.name), also=[access.pull(call.name)])
    reference = parse_reference(call.arg)
    content = await _read_body(call)
    result = await call.services.images.put(
        call.name, reference, content, call.request.headers.get("content-type"), call.origin()
    )
    if call.services.changed is not None:
        call.services.changed()
    headers = {
        "Location": call.location(f"/v2/{call.name}/manifests/{result.digest}"),
        "Docker-Content-Digest": str(result.digest),
    }
    if result.manifest.subject is not None:
        headers["OCI-Subject"] = str(result.manifest.subject.digest)
    return Response(b"", status_code=201, headers=headers)


async def delete_manifest(call: Call) -> Response:
    await call.require(access.delete(call.name))
    reference = parse_reference(call.arg)
    await call.services.images.delete(call.name, reference, call.origin())
    if call.services.changed is not None:
        call.services.changed()
    headers = {"Docker-Content-Digest": str(reference)} if isinstance(reference, Digest) else {}
    return Response(b"", status_code=202, headers=headers)
