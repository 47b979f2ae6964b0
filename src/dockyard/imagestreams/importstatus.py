"""The outcome of the last import of each tag that comes from another registry.

One object per tag (``<stream>:<tag>``) in the generic store: when it was last tried and, after a
failure, the ``ImportSuccess`` condition OpenShift shows in the tag's status (a success clears
it). Streams render the conditions; scheduled imports read when each tag is due.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from dockyard.metadata.resources import ResourceType
from dockyard.metadata.schema import resources

JSON = dict[str, Any]
TAG_IMPORTS = ResourceType("image.openshift.io", "TagImportStatus", "tagimportstatuses", True)


def name_of(stream: str, tag: str) -> str:
    return f"{stream}:{tag}"


async def of_stream(conn: AsyncConnection, namespace: str, stream: str) -> dict[str, JSON]:
    """Each tag's record (``lastAttempt``, ``conditions``), by tag."""
    prefix = f"{stream}:"
    query = select(resources.c.name, resources.c.body).where(
        resources.c.api_group == TAG_IMPORTS.group,
        resources.c.kind == TAG_IMPORTS.kind,
        resources.c.namespace == namespace,
        resources.c.name.startswith(prefix, autoescape=True),
    )
    return {row.name[len(prefix) :]: dict(row.body) for row in await conn.execute(query)}
