"""podctl's workload verbs against the real API server over the in-memory API, with the ReplicaSet and
Deployment controllers and a stand-in kubelet running in the server's loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import pytest

from controlplane.controllers.deployment import DeploymentController
from controlplane.controllers.garbagecollector import GarbageCollector
from controlplane.controllers.replicaset import ReplicaSetController
from podlab.events import EventRecorder
from podlab.v1 import objects_pb2 as v1
from tests.support.podctl_server import Fake, podctl, wait_until
from tests.unit.test_deployment_controller import kubelet

pytestmark = pytest.mark.unit


@pytest.fixture
def lab() -> Iterator[Fake]:
    fake = Fake()

    async def start() -> list[asyncio.Task[None]]:
        recorders = [EventRecorder(fake.cluster, name) for name in ("replicaset-controller", "deployment-controller")]
        controllers = [ReplicaSetController(fake.cluster, recorders[0]),
                       DeploymentController(fake.cluster, recorders[1]), GarbageCollector(fake.cluster)]
        return [asyncio.create_task(c.run()) for c in [*controllers, *recorders]] + \
            [asyncio.create_task(kubelet(fake.cluster))]

    tasks = fake.call(start())
    yield fake

    async def stop() -> None:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
    fake.call(stop())
    fake.stop()


def available(fake: Fake, n: int, image: str = "") -> bool:
    d = fake.get("Deployment", "nginx")
    pods = [p for p in fake.objects("Pod") if not p.metadata.HasField("deletion_timestamp")]
    return (d is not None and d.status.available_replicas == n and d.status.updated_replicas == n
            and d.status.replicas == n and len(pods) == n
            and (not image or all(p.spec.containers[0].image == image for p in pods)))


def test_create_scale_set_image_history_and_undo(lab: Fake) -> None:
    s = lab.address
    assert podctl("-s", s, "create", "deployment", "nginx", "--image=nginx:1.14.2", "--replicas=3").out == \
        "deployment.apps/nginx created\n"
    wait_until(lambda: available(lab, 3))
    r = podctl("-s", s, "rollout", "status", "deployment/nginx")
    assert (r.code, r.out.splitlines()[-1]) == (0, 'deployment "nginx" successfully rolled out')
    rows = podctl("-s", s, "get", "deployments").out.splitlines()
    assert rows[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert rows[1].split()[:4] == ["nginx", "3/3", "3", "3"]
    wide = podctl("-s", s, "get", "rs", "-o", "wide").out.splitlines()
    assert wide[0].split() == ["NAME", "DESIRED", "CURRENT", "READY", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"]
    assert wide[1].split()[1:4] == ["3", "3", "3"] and "app=nginx,pod-template-hash=" in wide[1]

    assert podctl("-s", s, "scale", "deployment", "nginx", "--replicas=5").out == "deployment.apps/nginx scaled\n"
    wait_until(lambda: available(lab, 5))

    assert podctl("-s", s, "set", "image", "deployment/nginx", "nginx=nginx:1.16.1").out == \
        "deployment.apps/nginx image updated\n"
    wait_until(lambda: available(lab, 5, "nginx:1.16.1"))
    history = podctl("-s", s, "rollout", "history", "deployment/nginx").out.splitlines()
    assert history[:2] == ["deployment.apps/nginx ", "REVISION  CHANGE-CAUSE"]
    assert [line.split()[0] for line in history[2:] if line] == ["1", "2"]

    assert podctl("-s", s, "rollout", "undo", "deployment/nginx").out == "deployment.apps/nginx rolled back\n"
    wait_until(lambda: available(lab, 5, "nginx:1.14.2"))


def test_scale_refuses_negative_replicas_and_other_kinds(lab: Fake) -> None:
    r = podctl("-s", lab.address, "scale", "deployment", "nginx", "--replicas=-1")
    assert r.code == 1 and "must be greater than or equal to 0" in r.err
    lab.create(v1.ConfigMap(metadata=v1.ObjectMeta(name="c")))
    r = podctl("-s", lab.address, "scale", "configmap", "c", "--replicas=1")
    assert r.code == 1


def test_rollout_undo_without_history_is_an_error(lab: Fake) -> None:
    podctl("-s", lab.address, "create", "deployment", "nginx", "--image=nginx:1.14.2")
    wait_until(lambda: available(lab, 1))
    r = podctl("-s", lab.address, "rollout", "undo", "deployment/nginx")
    assert (r.code, r.err) == (1, "error: no rollout history found for deployment 'nginx'\n")


def test_delete_cascade_orphan_keeps_replica_sets_and_foreground_waits_for_pods(lab: Fake) -> None:
    s = lab.address
    podctl("-s", s, "create", "deployment", "nginx", "--image=nginx:1.14.2", "--replicas=2")
    wait_until(lambda: available(lab, 2))
    assert podctl("-s", s, "delete", "deployment", "nginx", "--cascade=orphan").out == \
        'deployment.apps "nginx" deleted\n'
    assert lab.get("Deployment", "nginx") is None
    [rs] = lab.objects("ReplicaSet")
    assert not rs.metadata.owner_references and len(lab.objects("Pod")) == 2
    r = podctl("-s", s, "delete", "rs", rs.metadata.name, "--cascade=foreground")
    assert (r.code, r.out) == (0, f'replicaset.apps "{rs.metadata.name}" deleted\n')
    assert lab.get("ReplicaSet", rs.metadata.name) is None and not lab.objects("Pod"), \
        "foreground: the command returns once the pods are gone and the replica set after them"


def test_delete_cascade_takes_kubectls_deprecated_booleans_and_refuses_the_rest(lab: Fake) -> None:
    lab.create(v1.ConfigMap(metadata=v1.ObjectMeta(name="c")))
    r = podctl("-s", lab.address, "delete", "configmap", "c", "--cascade=false")
    assert (r.code, r.err) == (0, "warning: --cascade=false is deprecated (boolean value) and can be replaced "
                                  "with --cascade=orphan.\n")
    r = podctl("-s", lab.address, "delete", "configmap", "c", "--cascade=sideways")
    assert (r.code, r.err) == (1, 'error: invalid cascade value (sideways). Must be "background", "foreground", '
                                  'or "orphan"\n')


def test_describe_deployment_and_replica_set_as_kubectl(lab: Fake) -> None:
    s = lab.address
    podctl("-s", s, "create", "deployment", "nginx", "--image=nginx:1.14.2", "--replicas=3")
    wait_until(lambda: available(lab, 3))
    podctl("-s", s, "set", "image", "deployment/nginx", "nginx=nginx:1.16.1")
    wait_until(lambda: available(lab, 3, "nginx:1.16.1"))
    wait_until(lambda: any(c.reason == "NewReplicaSetAvailable"
                           for c in lab.get("Deployment", "nginx").status.conditions))
    lines = podctl("-s", s, "describe", "deployment", "nginx").out.splitlines()
    assert lines[0].split() == ["Name:", "nginx"] and lines[1].split() == ["Namespace:", "default"]
    assert "Replicas:               3 desired | 3 updated | 3 total | 3 available | 0 unavailable" in lines
    assert "StrategyType:           RollingUpdate" in lines
    assert "RollingUpdateStrategy:  25% max unavailable, 25% max surge" in lines
    assert "Annotations:            deployment.kubernetes.io/revision: 2" in lines
    template = lines.index("Pod Template:")
    assert lines[template + 1].split() == ["Labels:", "app=nginx"]
    containers = lines.index("  Containers:")
    assert lines[containers + 1] == "   nginx:" and lines[containers + 2].split() == ["Image:", "nginx:1.16.1"]
    conditions = lines.index("Conditions:")
    assert [line.split() for line in lines[conditions + 1:conditions + 5]] == [
        ["Type", "Status", "Reason"], ["----", "------", "------"],
        ["Available", "True", "MinimumReplicasAvailable"], ["Progressing", "True", "NewReplicaSetAvailable"]]
    [new] = [rs for rs in lab.objects("ReplicaSet") if rs.spec.replicas == 3]
    assert ["OldReplicaSets:", "<none>"] in [line.split() for line in lines]
    assert f"NewReplicaSet:   {new.metadata.name} (3/3 replicas created)" in lines
    events = [line.split(None, 4) for line in lines[lines.index("Events:") + 3:]]
    assert ["Normal", "ScalingReplicaSet"] == events[0][:2] and events[0][3] == "deployment-controller"
    messages = [e[4] for e in events]
    assert any(m.startswith(f"Scaled up replica set {new.metadata.name} to ") for m in messages)
    assert any(m.startswith("Scaled down replica set ") and m.endswith(" from 1") or " to 0 from " in m
               for m in messages)

    rs_out = podctl("-s", s, "describe", "rs", new.metadata.name).out.splitlines()
    assert rs_out[0].split() == ["Name:", new.metadata.name]
    assert "Controlled By:  Deployment/nginx" in rs_out
    assert "Replicas:       3 current / 3 desired" in rs_out
    assert "Pods Status:    3 Running / 0 Waiting / 0 Succeeded / 0 Failed" in rs_out
    assert any(line.startswith("Selector:       app=nginx,pod-template-hash=") for line in rs_out)
