"""The eviction replacement controller in the one shape, and controllers sharing one informer factory."""

from __future__ import annotations

from controlplane.controllers.evictions import EvictionReplacementController
from controlplane.controllers.garbagecollector import GarbageCollector
from controlplane.controllers.nodelifecycle import NodeLifecycleConfig, NodeLifecycleController
from controlplane.controllers.replicaset import ReplicaSetController
from controlplane.testing import InMemoryApi
from podlab.informers import SharedInformerFactory
from podlab.v1 import objects_pb2 as v1
from scheduler.testing import make_node
from tests.support.controllers import running


def evicted(cluster: InMemoryApi, name: str, restart: str = "Always", owner: str = "",
            reason: str = "Evicted") -> v1.Pod:
    pod = v1.Pod(metadata=v1.ObjectMeta(name=name))
    pod.spec.containers.add(name="app", image="busybox")
    pod.spec.restart_policy = restart
    pod.spec.node_name = "n1"
    if owner:
        pod.metadata.owner_references.add(api_version="apps/v1", kind="ReplicaSet", name=owner,
                                          uid=f"{owner}-uid", controller=True)
    created = cluster.create_now(pod)
    created.status.phase, created.status.reason = "Failed", reason
    return cluster.update_status_now(created)


async def test_only_a_bare_evicted_pod_that_would_restart_comes_back() -> None:
    cluster = InMemoryApi()
    cluster.create_now(make_node("n1"))
    old = {p.metadata.name: p for p in (
        evicted(cluster, "bare"), evicted(cluster, "never", restart="Never"),
        evicted(cluster, "web-abcde", owner="web"), evicted(cluster, "crashed", reason="Error"))}
    controller = EvictionReplacementController(cluster, cluster.api.pods)
    async with running(controller):
        await controller.quiesced()
        bare = cluster.pod("bare")
        assert bare.metadata.uid != old["bare"].metadata.uid
        assert (bare.status.phase, bare.spec.node_name) == ("Pending", "")
        for name in ("never", "web-abcde", "crashed"):
            pod = cluster.pod(name)
            assert (pod.metadata.uid, pod.status.phase) == (old[name].metadata.uid, "Failed"), name
        # A pod evicted while the controller runs is replaced too.
        late = evicted(cluster, "late")
        await controller.quiesced()
        assert cluster.pod("late").metadata.uid != late.metadata.uid
    assert controller.metrics.replacements.labels("Evicted")._value.get() == 2


async def test_controllers_given_one_factory_share_one_watch_per_kind() -> None:
    cluster = InMemoryApi()
    factory = SharedInformerFactory(cluster)
    api = cluster.api
    controllers = [
        NodeLifecycleController(cluster, NodeLifecycleConfig(), api.heartbeats, api.pods, api.events,
                                informers=factory),
        EvictionReplacementController(cluster, api.pods, informers=factory),
        ReplicaSetController(cluster, informers=factory),
        GarbageCollector(cluster, informers=factory)]
    async with running(factory, *controllers):
        for controller in controllers:
            await controller.quiesced()
    pods = factory.informer(v1.Pod)
    assert all(pods in c.informers for c in controllers[:3])
    assert cluster.calls["watch"] == len(factory.informers()), "one watch per kind, however many ask"
