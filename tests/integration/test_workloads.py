"""Workloads with real processes: a ReplicaSet over gRPC, its pods scheduled and run by sim agents."""

from __future__ import annotations

import pytest

from podlab import errors
from podlab.client import Client
from podlab.v1 import objects_pb2 as v1
from tests.support.cluster import eventually

pytestmark = pytest.mark.integration


def replica_set(replicas: int) -> v1.ReplicaSet:
    rs = v1.ReplicaSet(metadata=v1.ObjectMeta(name="frontend"))
    rs.spec.replicas = replicas
    rs.spec.selector.match_labels["tier"] = "frontend"
    rs.spec.template.metadata.labels["tier"] = "frontend"
    rs.spec.template.spec.containers.add(name="php-redis", image="busybox", command=["sleep", "3600"])
    return rs


async def _status(client: Client) -> v1.ReplicaSetStatus:
    rs = await client.get(v1.ReplicaSet, "frontend")
    return rs.status


async def test_a_replica_set_runs_its_replicas_and_follows_a_scale(make_cluster) -> None:
    _, client = await make_cluster(2)
    await client.create(replica_set(3))

    async def ready(n: int) -> bool:
        status = await _status(client)
        return status.ready_replicas == n and status.replicas == n

    await eventually(lambda: ready(3), 30, "3 ready replicas")
    pods, _ = await client.list(v1.Pod, "default", "tier=frontend")
    assert len(pods) == 3 and all(p.spec.node_name for p in pods)
    rs = await client.get(v1.ReplicaSet, "frontend")
    rs.spec.replicas = 1
    await client.update(rs)
    await eventually(lambda: ready(1), 30, "a scale down to 1")


async def test_an_invalid_replica_set_is_refused_over_grpc(make_cluster) -> None:
    _, client = await make_cluster(1)
    bad = replica_set(-1)
    with pytest.raises(errors.Invalid, match="spec.replicas: Invalid value: -1"):
        await client.create(bad)
    with pytest.raises(errors.NotFound):
        await client.get(v1.ReplicaSet, "frontend")
