"""Tags, catalog and referrers: the content-discovery endpoints."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from starlette.responses import Response

from dockyard.auth import access
from dockyard.http.distribution.call import Call
from dockyard.registry.digest import parse_digest
from dockyard.registry.listing import DEFAULT_CATALOG_PAGE, Page, parse_page_size
from dockyard.registry.mediatypes import OCI_INDEX


def _json(body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    content = json.dumps(body, separators=(",", ":")).encode()
    return Response(content, media_type="application/json", headers=headers)


def _link(path: str, page: Page, n: int | None) -> dict[str, str]:
    if not page.more or not page.items:
        return {}
    query = {"last": page.items[-1]}
    if n is not None:
        query["n"] = str(n)
    return {"Link": f'<{path}?{urlencode(query)}>; rel="next"'}


async def list_tags(call: Call) -> Response:
    await call.require(access.pull(call.name))
    query = call.request.query_params
    n = parse_page_size(query.get("n"), None)
    page = await call.services.listing.tags(call.name, query.get("last"), n)
    headers = _link(f"/v2/{call.name}/tags/list", page, n)
    return _json({"name": call.name, "tags": page.items}, headers)


async def catalog(call: Call) -> Response:
    await call.require(access.CATALOG)
    query = call.request.query_params
    n = parse_page_size(query.get("n"), DEFAULT_CATALOG_PAGE)
    projects = await call.services.authorizer.visible_projects(call.principal)
    page = await call.services.listing.catalog(query.get("last"), n, projects)
    return _json({"repositories": page.items}, _link("/v2/_catalog", page, n))


async def referrers(call: Call) -> Response:
    await call.require(access.pull(call.name))
    subject = parse_digest(call.arg)
    artifact_type = call.request.query_params.get("artifactType") or None
    content = await call.services.images.referrers(call.name, subject, artifact_type)
    headers = {"OCI-Filters-Applied": "artifactType"} if artifact_type else {}
    return Response(content, media_type=OCI_INDEX, headers=headers)
