"""``/v2/...`` skips Starlette's routing (``DistributionDispatch``); what clients see is the same:
the base endpoint's challenge and headers, ``/v2`` redirected to ``/v2/``, an unknown endpoint's
OCI error, and the other APIs routed as before."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest

if TYPE_CHECKING:
    from conftest import RegistryProcess

pytestmark = pytest.mark.integration


def test_v2_paths_answer_as_the_distribution_api(shared_registry: RegistryProcess) -> None:
    with httpx.Client(base_url=shared_registry.url, timeout=30) as anonymous:
        base = anonymous.get("/v2/")
        assert base.status_code == 401
        assert base.headers["docker-distribution-api-version"] == "registry/2.0"
        assert base.headers["www-authenticate"].startswith('Bearer realm="')
        assert len(base.headers["x-request-id"]) == 32

        bare = anonymous.get("/v2")
        assert bare.status_code in (307, 308) and bare.headers["location"].endswith("/v2/")

        other = anonymous.get("/healthz")
        assert other.status_code == 200 and other.text == "ok"
    with shared_registry.client() as admin:
        assert admin.get("/v2/").json() == {}
        unknown = admin.get("/v2/team/app/nothing-here")
        assert unknown.status_code == 404
        assert unknown.json()["errors"][0]["code"] == "NAME_UNKNOWN"
        assert unknown.headers["docker-distribution-api-version"] == "registry/2.0"
