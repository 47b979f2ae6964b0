"""The contract every storage driver keeps, after Distribution's ``testsuites.go``.

Each test runs against every driver in ``conftest.DRIVERS``, always inside ``DriverWrapper`` as
production runs them. The last section covers the wrapper and the factory themselves.
"""

from __future__ import annotations

import hashlib
import os
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from dockyard.storage.base import DriverWrapper
from dockyard.storage.driver import (
    FileInfo,
    InvalidOffsetError,
    InvalidPathError,
    PathNotFoundError,
    StorageDriver,
    StorageError,
)
from dockyard.storage.factory import create_driver, register
from dockyard.storage.filesystem import FilesystemDriver
from dockyard.storage.memory import InMemoryDriver

MiB = 1 << 20

Call = Callable[[StorageDriver, str], Awaitable[object]]


def blob(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


async def read(driver: StorageDriver, path: str, offset: int = 0) -> bytes:
    return b"".join([chunk async for chunk in await driver.reader(path, offset)])


async def walk(driver: StorageDriver, path: str) -> list[FileInfo]:
    return [info async for info in driver.walk(path)]


async def local_path(driver: StorageDriver, path: str) -> str | None:
    return driver.local_path(path)


# --- content -------------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("size", [0, 100, 5 * MiB], ids=["empty", "small", "5MiB"])
async def test_put_content_round_trips(driver: StorageDriver, size: int) -> None:
    content = blob(size)
    await driver.put_content("/a/b/file", content)
    assert await driver.get_content("/a/b/file") == content
    assert await read(driver, "/a/b/file") == content
    assert (await driver.stat("/a/b/file")).size == size


@pytest.mark.anyio
async def test_put_content_replaces_the_whole_file(driver: StorageDriver) -> None:
    await driver.put_content("/f", b"x" * 1000)
    await driver.put_content("/f", b"short")
    assert await driver.get_content("/f") == b"short"
    assert (await driver.stat("/f")).size == 5


MISSING_CALLS: dict[str, Call] = {
    "get_content": lambda d, p: d.get_content(p),
    "reader": lambda d, p: d.reader(p),
    "writer_append": lambda d, p: d.writer(p, append=True),
    "stat": lambda d, p: d.stat(p),
    "list": lambda d, p: d.list(p),
    "walk": walk,
    "move": lambda d, p: d.move(p, "/moved"),
    "delete": lambda d, p: d.delete(p),
}


@pytest.mark.anyio
@pytest.mark.parametrize("call", MISSING_CALLS.values(), ids=MISSING_CALLS.keys())
async def test_missing_path_raises_path_not_found(driver: StorageDriver, call: Call) -> None:
    await driver.put_content("/file", b"x")
    await driver.put_content("/dir/other", b"y")
    for path in ["/missing", "/dir/missing", "/file/below"]:
        with pytest.raises(PathNotFoundError):
            await call(driver, path)
        assert await driver.list("/") == ["/dir", "/file"], path
        assert await driver.list("/dir") == ["/dir/other"], path


@pytest.mark.anyio
async def test_a_directory_is_not_a_file_and_a_file_not_a_directory(
    driver: StorageDriver,
) -> None:
    await driver.put_content("/dir/file", b"x")
    with pytest.raises(PathNotFoundError):
        await driver.get_content("/dir")
    with pytest.raises(PathNotFoundError):
        await driver.reader("/dir")
    with pytest.raises(PathNotFoundError):
        await driver.list("/dir/file")


# --- reader --------------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("offset", [0, 1, 3 * MiB // 2 + 7, 3 * MiB], ids=["0", "1", "mid", "end"])
async def test_reader_starts_at_offset(driver: StorageDriver, offset: int) -> None:
    content = blob(3 * MiB)
    await driver.put_content("/r", content)
    assert await read(driver, "/r", offset) == content[offset:]


@pytest.mark.anyio
@pytest.mark.parametrize("offset", [101, 10**9, -1])
async def test_reader_rejects_offset_outside_the_file(driver: StorageDriver, offset: int) -> None:
    await driver.put_content("/r", blob(100))
    with pytest.raises(InvalidOffsetError):
        await driver.reader("/r", offset)


# --- writer --------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_writer_commits_what_it_was_given(driver: StorageDriver) -> None:
    parts: list[bytes | memoryview] = [
        b"head",
        memoryview(blob(2 * MiB, 1)),
        b"",
        blob(MiB - 1, 2),
        b"tail",
    ]
    writer = await driver.writer("/up/data")
    assert writer.size == 0
    total = 0
    for part in parts:
        assert await writer.write(part) == len(part)
        total += len(part)
        assert writer.size == total
    await writer.commit()
    assert await driver.get_content("/up/data") == b"".join(parts)


@pytest.mark.anyio
async def test_writer_resumes_after_close(driver: StorageDriver) -> None:
    first, second = blob(3 * MiB // 2, 1), blob(MiB + 7, 2)
    writer = await driver.writer("/up/data")
    for start in range(0, len(first), 4096):  # small writes: close must flush what is pending
        await writer.write(first[start : start + 4096])
    await writer.close()
    writer = await driver.writer("/up/data", append=True)
    assert writer.size == len(first)
    await writer.write(second)
    assert writer.size == len(first) + len(second)
    await writer.commit()
    assert await driver.get_content("/up/data") == first + second
    assert (await driver.stat("/up/data")).size == len(first) + len(second)


@pytest.mark.anyio
async def test_writer_without_append_starts_afresh(driver: StorageDriver) -> None:
    await driver.put_content("/up/data", b"old content")
    writer = await driver.writer("/up/data")
    assert writer.size == 0
    await writer.write(b"new")
    await writer.commit()
    assert await driver.get_content("/up/data") == b"new"


@pytest.mark.anyio
async def test_writer_refuses_work_once_committed(driver: StorageDriver) -> None:
    writer = await driver.writer("/up/data")
    await writer.write(b"x")
    await writer.commit()
    with pytest.raises(StorageError):
        await writer.write(b"y")
    with pytest.raises(StorageError):
        await writer.commit()
    with pytest.raises(StorageError):
        await writer.cancel()
    assert await driver.get_content("/up/data") == b"x"


@pytest.mark.anyio
@pytest.mark.parametrize("finish", ["close", "cancel"])
async def test_writer_refuses_writes_once_finished(driver: StorageDriver, finish: str) -> None:
    writer = await driver.writer("/up/data")
    await writer.write(b"x")
    await getattr(writer, finish)()
    with pytest.raises(StorageError):
        await writer.write(b"y")
    with pytest.raises(StorageError):
        await writer.commit()


@pytest.mark.anyio
async def test_cancel_discards_everything_written(driver: StorageDriver) -> None:
    writer = await driver.writer("/up/data")
    await writer.write(blob(2 * MiB))
    await writer.close()
    writer = await driver.writer("/up/data", append=True)
    await writer.write(b"more")
    await writer.cancel()
    with pytest.raises(PathNotFoundError):
        await driver.get_content("/up/data")
    with pytest.raises(PathNotFoundError):
        await driver.writer("/up/data", append=True)


# --- move, list, stat, delete, walk --------------------------------------------------------------


@pytest.mark.anyio
async def test_move_replaces_the_destination(driver: StorageDriver) -> None:
    await driver.put_content("/src/f", b"new")
    await driver.put_content("/dst/f", b"old and longer")
    await driver.move("/src/f", "/dst/f")
    assert await driver.get_content("/dst/f") == b"new"
    with pytest.raises(PathNotFoundError):
        await driver.get_content("/src/f")


@pytest.mark.anyio
async def test_move_creates_the_destination_parents(driver: StorageDriver) -> None:
    content = blob(MiB + 1)
    await driver.put_content("/a", content)
    await driver.move("/a", "/x/y/z")
    assert await driver.get_content("/x/y/z") == content
    assert await driver.list("/") == ["/x"]


@pytest.mark.anyio
async def test_list_returns_sorted_direct_children(driver: StorageDriver) -> None:
    for path in ["/r/b/y", "/r/a", "/r/c/d/e", "/r/b/x", "/rr", "/r-x"]:
        await driver.put_content(path, b"x")
    assert await driver.list("/r") == ["/r/a", "/r/b", "/r/c"]
    assert await driver.list("/r/b") == ["/r/b/x", "/r/b/y"]
    assert await driver.list("/r/c") == ["/r/c/d"]


@pytest.mark.anyio
async def test_list_returns_every_key_of_a_large_directory(driver: StorageDriver) -> None:
    names = [f"k{i}" for i in range(300)]
    random.Random(3).shuffle(names)
    limit = anyio.Semaphore(16)

    async def put(name: str) -> None:
        async with limit:
            await driver.put_content(f"/many/{name}", name.encode())

    async with anyio.create_task_group() as tasks:
        for name in names:
            tasks.start_soon(put, name)
    assert await driver.list("/many") == sorted(f"/many/{name}" for name in names)


@pytest.mark.anyio
async def test_list_root(driver: StorageDriver) -> None:
    assert await driver.list("/") == []
    await driver.put_content("/z", b"x")
    await driver.put_content("/x/y", b"x")
    assert await driver.list("/") == ["/x", "/z"]


@pytest.mark.anyio
async def test_stat_describes_files_and_directories(driver: StorageDriver) -> None:
    before = time.time()
    await driver.put_content("/d/f", b"12345")
    info = await driver.stat("/d/f")
    assert (info.path, info.size, info.is_dir) == ("/d/f", 5, False)
    assert before - 5 <= info.mod_time <= time.time() + 5
    info = await driver.stat("/d")
    assert (info.path, info.is_dir) == ("/d", True)
    assert await driver.exists("/d/f")
    assert not await driver.exists("/d/missing")


@pytest.mark.anyio
async def test_delete_file_keeps_its_siblings(driver: StorageDriver) -> None:
    await driver.put_content("/d/a", b"a")
    await driver.put_content("/d/b", b"b")
    await driver.delete("/d/a")
    with pytest.raises(PathNotFoundError):
        await driver.stat("/d/a")
    assert await driver.list("/d") == ["/d/b"]


@pytest.mark.anyio
async def test_delete_tree_removes_everything_below(driver: StorageDriver) -> None:
    doomed = ["/t/a", "/t/b/c", "/t/b/d/e"]
    for path in [*doomed, "/tt/keep", "/t.x"]:
        await driver.put_content(path, b"x")
    await driver.delete("/t")
    for path in ["/t", *doomed]:
        with pytest.raises(PathNotFoundError):
            await driver.stat(path)
    assert await driver.list("/") == ["/t.x", "/tt"]
    assert await driver.get_content("/tt/keep") == b"x"


@pytest.mark.anyio
async def test_walk_visits_everything_parents_first(driver: StorageDriver) -> None:
    for path in ["/w/a", "/w/b/c", "/w/b/d/e", "/other"]:
        await driver.put_content(path, b"x")
    infos = await walk(driver, "/w")
    paths = [info.path for info in infos]
    assert sorted(paths) == ["/w/a", "/w/b", "/w/b/c", "/w/b/d", "/w/b/d/e"]
    assert {info.path for info in infos if info.is_dir} == {"/w/b", "/w/b/d"}
    for index, path in enumerate(paths):
        parent = path.rsplit("/", 1)[0]
        assert parent == "/w" or paths.index(parent) < index
    assert {info.path for info in await walk(driver, "/")} == {"/other", "/w", *paths}


@pytest.mark.anyio
async def test_local_path_is_absent_or_holds_the_content(driver: StorageDriver) -> None:
    await driver.put_content("/l/f", b"local")
    local = driver.local_path("/l/f")
    if local is not None:
        assert Path(local).read_bytes() == b"local"


# --- invalid paths -------------------------------------------------------------------------------

PATH_CALLS: dict[str, Call] = {
    "get_content": lambda d, p: d.get_content(p),
    "put_content": lambda d, p: d.put_content(p, b"x"),
    "reader": lambda d, p: d.reader(p),
    "writer": lambda d, p: d.writer(p),
    "stat": lambda d, p: d.stat(p),
    "list": lambda d, p: d.list(p),
    "walk": walk,
    "move_from": lambda d, p: d.move(p, "/a/c"),
    "move_to": lambda d, p: d.move("/a/b", p),
    "delete": lambda d, p: d.delete(p),
    "redirect_url": lambda d, p: d.redirect_url(p, "GET"),
    "local_path": local_path,
}
INVALID_PATHS = [
    "relative",
    "",
    "/a/../b",
    "/a/..",
    "/..",
    "/a/./b",
    "/a//b",
    "/a/",
    "/a/%2e",
    "/a\n",
    "/a b",
    "/a\\b",
]


@pytest.mark.anyio
@pytest.mark.parametrize("call", PATH_CALLS.values(), ids=PATH_CALLS.keys())
async def test_invalid_path_is_refused_and_changes_nothing(
    driver: StorageDriver, call: Call
) -> None:
    await driver.put_content("/a/b", b"kept")
    for path in INVALID_PATHS:
        with pytest.raises(InvalidPathError):
            await call(driver, path)
    assert await driver.list("/") == ["/a"]
    assert await driver.list("/a") == ["/a/b"]
    assert await driver.get_content("/a/b") == b"kept"


@pytest.mark.anyio
async def test_root_is_only_a_directory_to_list(driver: StorageDriver) -> None:
    for name, call in PATH_CALLS.items():
        if name not in ("list", "walk"):
            with pytest.raises(InvalidPathError):
                await call(driver, "/")


# --- concurrency and size ------------------------------------------------------------------------


@pytest.mark.anyio
async def test_concurrent_writers_of_different_paths(driver: StorageDriver) -> None:
    contents = {f"/c/{i}": blob(MiB + 1000 * i, i) for i in range(8)}
    step = 64 * 1024 + 3

    async def write(path: str, content: bytes) -> None:
        writer = await driver.writer(path)
        for start in range(0, len(content), step):
            await writer.write(content[start : start + step])
            await anyio.sleep(0)
        await writer.commit()

    async with anyio.create_task_group() as tasks:
        for path, content in contents.items():
            tasks.start_soon(write, path, content)
    for path, content in contents.items():
        assert await driver.get_content(path) == content


@pytest.mark.anyio
async def test_concurrent_put_content_leaves_one_whole_version(driver: StorageDriver) -> None:
    versions = [blob(256 * 1024, i) for i in range(16)]
    async with anyio.create_task_group() as tasks:
        for version in versions:
            tasks.start_soon(driver.put_content, "/same/key", version)
    assert await driver.get_content("/same/key") in versions
    assert await driver.list("/same") == ["/same/key"]
    local = driver.local_path("/same/key")
    if local is not None:
        assert os.listdir(os.path.dirname(local)) == ["key"]


@pytest.mark.anyio
async def test_readers_never_see_a_partial_put(driver: StorageDriver) -> None:
    old, new = b"o" * (2 * MiB), b"n" * (2 * MiB)
    await driver.put_content("/atomic", old)
    done = anyio.Event()
    reads = 0

    async def put() -> None:
        for i in range(20):
            await driver.put_content("/atomic", new if i % 2 == 0 else old)
            await anyio.sleep(0)
        done.set()

    async def get() -> None:
        nonlocal reads
        while not done.is_set():
            assert await driver.get_content("/atomic") in (old, new)
            reads += 1
            await anyio.sleep(0)

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(put)
        tasks.start_soon(get)
    assert reads >= 10


@pytest.mark.anyio
async def test_large_object_streams_in_chunks(driver: StorageDriver) -> None:
    rng = random.Random(7)
    size = 12 * MiB  # several parts of every driver, the largest being S3's 5 MiB
    written = hashlib.sha256()
    writer = await driver.writer("/big/data")
    # Sizes below, at and above the drivers' 1 MiB hand-off, so buffering and flushing interleave.
    part_sizes = [1, 1000, 65536, MiB - 1, MiB, 3 * MiB + 5]
    while writer.size < size:
        part = rng.randbytes(min(rng.choice(part_sizes), size - writer.size))
        written.update(part)
        await writer.write(part)
    await writer.commit()
    assert (await driver.stat("/big/data")).size == size

    read_back, chunks = hashlib.sha256(), 0
    async for chunk in await driver.reader("/big/data"):
        assert chunk
        read_back.update(chunk)
        chunks += 1
    assert chunks > 1
    assert read_back.hexdigest() == written.hexdigest()


# --- the wrapper and the factory -----------------------------------------------------------------


@pytest.mark.anyio
async def test_every_call_reports_its_duration(driver: StorageDriver) -> None:
    assert isinstance(driver, DriverWrapper)
    calls: list[tuple[str, str, float]] = []
    driver.on_timing = lambda name, method, seconds: calls.append((name, method, seconds))
    await driver.put_content("/t/a", b"x")
    await driver.get_content("/t/a")
    await read(driver, "/t/a")
    writer = await driver.writer("/t/b")
    await writer.commit()
    await driver.stat("/t/b")
    await driver.list("/t")
    await driver.move("/t/b", "/t/c")
    await driver.delete("/t")
    with pytest.raises(PathNotFoundError):
        await driver.stat("/t")
    methods = [method for _, method, _ in calls]
    assert methods == [
        "put_content", "get_content", "reader", "writer", "stat", "list", "move", "delete", "stat",
    ]  # fmt: skip
    assert all(name == driver.name and seconds >= 0 for name, _, seconds in calls)


class _FailingDriver(InMemoryDriver):
    """Fails the way a real backend does, with exceptions outside the storage family."""

    async def stat(self, path: str) -> FileInfo:
        raise OSError(5, "I/O error")

    async def reader(self, path: str, offset: int = 0) -> AsyncIterator[bytes]:
        async def chunks() -> AsyncIterator[bytes]:
            yield b"first"
            raise ConnectionResetError("peer went away")

        return chunks()


@pytest.mark.anyio
async def test_wrapper_turns_stray_errors_into_storage_errors() -> None:
    driver = DriverWrapper(_FailingDriver())
    with pytest.raises(StorageError) as stat_error:
        await driver.stat("/x")
    assert type(stat_error.value) is StorageError
    assert isinstance(stat_error.value.__cause__, OSError)

    chunks = await driver.reader("/x")
    assert await anext(chunks) == b"first"
    with pytest.raises(StorageError) as read_error:
        await anext(chunks)
    assert isinstance(read_error.value.__cause__, ConnectionResetError)

    with pytest.raises(PathNotFoundError):
        await driver.get_content("/x")


@pytest.mark.anyio
@pytest.mark.parametrize("path", ["/../escape", "/a/../../escape", "/a/.", "relative", "/a//b"])
async def test_filesystem_driver_refuses_to_leave_its_root_unwrapped(
    tmp_path: Path, path: str
) -> None:
    driver = FilesystemDriver(str(tmp_path / "root"))
    with pytest.raises(InvalidPathError):
        driver.local_path(path)
    with pytest.raises(InvalidPathError):
        await driver.put_content(path, b"x")
    assert list(tmp_path.iterdir()) == []


def test_factory_names_the_known_drivers_for_an_unknown_one() -> None:
    with pytest.raises(ValueError, match="azure, filesystem, gcs, inmemory, s3"):
        create_driver("floppy", {})


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("filesystem", {}),
        ("filesystem", {"rootdirectory": ""}),
        ("filesystem", {"rootdirectory": "/srv", "maxthreads": 100}),
        ("inmemory", {"rootdirectory": "/srv"}),
    ],
)
def test_factory_rejects_bad_parameters(name: str, params: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=name):
        create_driver(name, params)


def test_factory_refuses_a_second_driver_of_the_same_name() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register("inmemory", lambda params: InMemoryDriver())
    assert isinstance(create_driver("inmemory", {}), DriverWrapper)
