"""Tag lists and the catalog, paged with ``n`` and ``last`` in byte order."""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.errors import NameUnknownError, PaginationNumberInvalidError
from dockyard.metadata import repositories, tags as tag_rows
from dockyard.metadata.epoch import EpochCache
from dockyard.registry.context import RegistryContext

MAX_PAGE = 10_000
DEFAULT_CATALOG_PAGE = 1_000
TAG_PAGES_CACHED = 1_024


@dataclass(frozen=True, slots=True)
class Page:
    items: list[str]
    more: bool


def parse_page_size(value: str | None, default: int | None) -> int | None:
    """``n`` from the query: a non-negative integer, capped so one answer stays bounded."""
    if not value:  # absent or empty, as Distribution reads it
        return default
    if not value.isdigit():
        raise PaginationNumberInvalidError(
            f"n must be a non-negative integer, got {value[:50]!r}", detail={"n": value[:50]}
        )
    return min(int(value), MAX_PAGE)


class ListingService:
    def __init__(self, ctx: RegistryContext) -> None:
        self.ctx = ctx
        # Tag pages hold until the next metadata write (the epoch).
        self._tag_pages: EpochCache[tuple[str, str | None, int | None], Page] = EpochCache(
            ctx.db.epoch, TAG_PAGES_CACHED
        )

    async def tags(self, repository: str, last: str | None, n: int | None) -> Page:
        snapshot = self._tag_pages.snapshot()
        key = (repository, last, n)
        page = self._tag_pages.get(key)
        if page is None:
            page = await self._read_tags(repository, last, n)
            self._tag_pages.put(snapshot, key, page)
        return page

    async def _read_tags(self, repository: str, last: str | None, n: int | None) -> Page:
        async with self.ctx.db.read() as conn:
            repository_id = await repositories.find_id(conn, repository)
            if repository_id is None:
                raise NameUnknownError(detail={"name": repository})
            limit = MAX_PAGE if n is None else n
            found = await tag_rows.page(conn, repository_id, last, limit + 1) if limit else []
        return Page(found[:limit], len(found) > limit)

    async def catalog(
        self, last: str | None, n: int | None, projects: set[str] | None = None
    ) -> Page:
        """Repository names after ``last``; only those of ``projects`` when it is given."""
        limit = DEFAULT_CATALOG_PAGE if n is None else n
        if not limit or projects == set():
            return Page([], False)
        async with self.ctx.db.read() as conn:
            found = await repositories.page(conn, last, limit + 1, projects)
        return Page(found[:limit], len(found) > limit)
