"""The gRPC front end refuses a request over Kubernetes' 3 MiB cap before decoding it, as the REST one does."""

from __future__ import annotations

import pytest

from controlplane.apiserver import serve
from controlplane.testing import InMemoryApi
from podlab import errors
from podlab.client import Client
from podlab.names import MAX_REQUEST_BYTES
from podlab.v1 import objects_pb2 as v1

pytestmark = pytest.mark.unit


async def test_an_oversized_create_is_refused_and_nothing_is_stored() -> None:
    fake = InMemoryApi()
    server, port = await serve(fake.api, "127.0.0.1:0")
    try:
        async with Client(f"127.0.0.1:{port}") as client:
            big = v1.ConfigMap(metadata=v1.ObjectMeta(name="big"), data={"x": "y" * (MAX_REQUEST_BYTES + 8192)})
            with pytest.raises(errors.RequestEntityTooLarge) as refused:
                await client.create(big)
            assert "larger than max" in str(refused.value)
            small = await client.create(v1.ConfigMap(metadata=v1.ObjectMeta(name="small"), data={"x": "y"}))
            assert small.metadata.uid
        assert [c.metadata.name for c in fake.objects(v1.ConfigMap)] == ["small"]
    finally:
        await server.stop(0)
        await fake.close()
