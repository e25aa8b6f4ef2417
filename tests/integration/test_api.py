"""The API server against real etcd: the shared contract (tests/support/api_contract.py) over gRPC, and
what only a real server has (health, reflection, a dead peer)."""

from __future__ import annotations

import pytest

from podlab import errors
from podlab.client import Client
from podlab.v1 import objects_pb2 as v1
from tests.support.api_contract import *  # noqa: F403 - the contract's cases run in this tier too

pytestmark = pytest.mark.integration


async def test_health_and_reflection_are_served(cluster) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from podlab.client import open_channel

    channel = open_channel(cluster.server_address)
    try:
        reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        await channel.close()


async def test_dead_server_is_unavailable_not_a_crash() -> None:
    from tests.support.procs import free_port

    async with Client(f"127.0.0.1:{free_port()}", timeout=2) as client:
        with pytest.raises(errors.Unavailable):
            await client.get(v1.Pod, "x")
