"""Fixtures the unit tier's API and podctl tests share."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from controlplane.rest import make_app
from controlplane.testing import InMemoryApi
from tests.support.podctl_server import HELLO, Fake


@pytest.fixture
def fake() -> Iterator[Fake]:
    """The real gRPC API server over the in-memory API, for podctl to talk to."""
    server = Fake()
    yield server
    server.stop()


@pytest.fixture
def hello(tmp_path: Path) -> Path:
    """The seed's hello-world pod manifest, in a file of its own."""
    path = tmp_path / "hello-world-pod.yaml"
    path.write_text(HELLO)
    return path


@pytest_asyncio.fixture
async def world() -> AsyncIterator[tuple[InMemoryApi, TestClient]]:
    """The REST front end over the in-memory API, and an HTTP client of it."""
    fake = InMemoryApi()
    client = TestClient(TestServer(make_app(fake.api)))
    await client.start_server()
    try:
        yield fake, client
    finally:
        await client.close()
        await fake.close()
