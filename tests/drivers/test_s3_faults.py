"""The S3 driver against a store that throttles, fails and drops connections: a fault-injecting
proxy (``faultproxy``) in front of moto's server. What is safe to retry is retried; what keeps
failing surfaces as a ``StorageError``, and nothing half-written becomes visible."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest

from dockyard.storage.driver import PathNotFoundError, StorageDriver, StorageError
from dockyard.storage.factory import create_driver
from emulators import Emulator, s3_params
from faultproxy import FaultProxy

MiB = 1 << 20
pytestmark = pytest.mark.anyio


@pytest.fixture
def proxy(moto_s3: Emulator) -> Iterator[FaultProxy]:
    proxy = FaultProxy(moto_s3.endpoint).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def params(moto_s3: Emulator, proxy: FaultProxy) -> dict[str, Any]:
    return s3_params(moto_s3, regionendpoint=proxy.endpoint)


@pytest.fixture
async def driver(params: dict[str, Any]) -> StorageDriver:
    driver = create_driver("s3", params)
    await driver.list("/")  # the bucket exists before faults start
    return driver


def blob(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


@pytest.mark.parametrize("fault", ["503", "reset"])
async def test_transient_failures_are_retried(
    driver: StorageDriver, proxy: FaultProxy, fault: str
) -> None:
    content = blob(MiB)
    proxy.inject(fault, times=2)
    await driver.put_content("/a", content)
    proxy.inject(fault, times=2)
    assert await driver.get_content("/a") == content
    assert proxy.served[fault] == 4


async def test_a_multipart_write_survives_throttling(
    driver: StorageDriver, proxy: FaultProxy
) -> None:
    content = blob(12 * MiB, 1)
    writer = await driver.writer("/up/data")
    proxy.inject("503", times=3, method="PUT")  # parts, and the writer's state on close
    await writer.write(content[: 6 * MiB])
    await writer.close()
    writer = await driver.writer("/up/data", append=True)
    proxy.inject("503", times=2, method="POST")  # completing the multipart upload
    await writer.write(content[6 * MiB :])
    await writer.commit()
    assert proxy.served["503"] == 5
    assert await driver.get_content("/up/data") == content


async def test_a_read_dropped_mid_stream_resumes_where_it_broke(
    driver: StorageDriver, proxy: FaultProxy
) -> None:
    content = blob(6 * MiB, 2)
    await driver.put_content("/big", content)
    proxy.inject("drop", times=2, method="GET")
    chunks = [chunk async for chunk in await driver.reader("/big", 1000)]
    assert b"".join(chunks) == content[1000:]
    assert proxy.served["drop"] == 2


async def test_a_store_that_keeps_failing_gives_an_error_and_no_partial_object(
    params: dict[str, Any], proxy: FaultProxy
) -> None:
    driver = create_driver("s3", params | {"maxretries": 1})  # one retry fails as all would
    writer = await driver.writer("/up/data")
    await writer.write(blob(6 * MiB, 3))
    proxy.inject("503", times=50)
    with pytest.raises(StorageError):
        await writer.commit()
    assert proxy.served["503"] >= 2  # tried again before giving up
    proxy.clear()
    with pytest.raises(PathNotFoundError):
        await driver.get_content("/up/data")
