"""The node agent running real pods on Docker (seed manifests and lifecycle), no API server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import docker
import pytest
from _harness import (
    exec_in,
    logs_of,
    pod_from,
    running_agent,
    status,
    wait_phase,
)
from conftest import DockerKit, run_async

from podlab.v1 import objects_pb2 as v1
from tests.support.agent_api import AgentApi

pytestmark = pytest.mark.e2e


def test_seed_pod_network_test_busybox_reaches_nginx_on_localhost(docker_kit: DockerKit,
                                                                   tmp_path: Path) -> None:
    manifest = {"metadata": {"name": "pod-network-test"}, "spec": {"containers": [
        {"image": "busybox", "name": "busybox", "command": ["/bin/sh", "-c", "sleep 3600"]},
        {"image": "nginx", "name": "nginx"}]}}

    async def body() -> None:
        async with running_agent(docker_kit, docker_kit.node("net"), tmp_path) as (cluster, rt, _):
            pod = await cluster.add_pod(pod_from(manifest), docker_kit.node("net"))
            st = await wait_phase(cluster, "pod-network-test", "Running")
            assert st.pod_ip and st.qos_class == "BestEffort"
            uid = pod.metadata.uid
            page = ""
            for _ in range(50):
                page = await exec_in(rt, uid, "busybox", ["wget", "-q", "-O-", "127.0.0.1:80"])
                if "Welcome to nginx" in page:
                    break
                await asyncio.sleep(0.2)
            assert "Welcome to nginx" in page
            assert ":80" in await exec_in(rt, uid, "busybox", ["netstat", "-tln"])
            assert (await exec_in(rt, uid, "busybox", ["hostname"])).strip() == "pod-network-test"
    run_async(body())


def test_seed_pod_volume_test_shares_an_empty_dir_between_containers(docker_kit: DockerKit,
                                                                     tmp_path: Path) -> None:
    manifest = {"metadata": {"name": "pod-volume-test"}, "spec": {
        "containers": [
            {"image": "busybox", "name": "busybox", "command": ["/bin/sh", "-c", "sleep 3600"],
             "volumeMounts": [{"name": "data", "mountPath": "/data"}]},
            {"image": "nginx", "name": "nginx", "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
        "volumes": [{"name": "data", "emptyDir": {}},
                    {"name": "mem", "emptyDir": {"medium": "Memory", "sizeLimit": "8Mi"}}]}}

    async def body() -> None:
        node = docker_kit.node("vol")
        async with running_agent(docker_kit, node, tmp_path) as (cluster, rt, _):
            pod = await cluster.add_pod(pod_from(manifest), node)
            await wait_phase(cluster, "pod-volume-test", "Running")
            uid = pod.metadata.uid
            await exec_in(rt, uid, "nginx", ["sh", "-c", "echo from-nginx > /data/hello"])
            assert (await exec_in(rt, uid, "busybox", ["cat", "/data/hello"])).strip() == "from-nginx"
            await cluster.delete(v1.Pod, "pod-volume-test", grace_period_seconds=1)
            await cluster.wait_for(lambda: cluster.find_pod("pod-volume-test") is None, 60)
            assert not (tmp_path / "pods" / uid).exists()
            assert not docker.from_env().volumes.list(filters={"label": f"io.podlab.pod.uid={uid}"})
    run_async(body())


def test_seed_hello_world_completes_with_its_output_in_the_logs(docker_kit: DockerKit,
                                                                tmp_path: Path) -> None:
    manifest = {"metadata": {"name": "hello-world"}, "spec": {"restartPolicy": "OnFailure",
                "containers": [{"name": "hello", "image": "ubuntu:14.04",
                                "command": ["/bin/echo", "Hello", "World"]}]}}

    async def body() -> None:
        node = docker_kit.node("hello")
        async with running_agent(docker_kit, node, tmp_path) as (cluster, rt, _):
            pod = await cluster.add_pod(pod_from(manifest), node)
            st = await wait_phase(cluster, "hello-world", "Succeeded")
            term = st.container_statuses[0].state.terminated
            assert term.reason == "Completed" and term.exit_code == 0
            assert "Hello World" in await logs_of(rt, pod.metadata.uid, "hello")
    run_async(body())


def test_seed_downwardapi_env_shows_pod_name_namespace_and_ip(docker_kit: DockerKit,
                                                              tmp_path: Path) -> None:
    def ref(path: str) -> dict:
        return {"fieldRef": {"fieldPath": path}}
    manifest = {"metadata": {"name": "test-env-pod", "namespace": "kube-system"}, "spec": {
        "containers": [{"name": "test-containers", "image": "ubuntu:14.04",
                        "command": ["/bin/bash", "-c", "while true;do sleep 5;done"],
                        "env": [{"name": "MY_POD_NAME", "valueFrom": ref("metadata.name")},
                                {"name": "MY_POD_NAMESPACE", "valueFrom": ref("metadata.namespace")},
                                {"name": "MY_POD_IP", "valueFrom": ref("status.podIP")}]}]}}

    async def body() -> None:
        node = docker_kit.node("env")
        async with running_agent(docker_kit, node, tmp_path) as (cluster, rt, _):
            pod = await cluster.add_pod(pod_from(manifest), node)
            await cluster.wait_for(lambda: (s := cluster.find_pod("test-env-pod", "kube-system"))
                                   and s.status.phase == "Running", 90)
            stored = cluster.find_pod("test-env-pod", "kube-system")
            assert stored is not None
            env = await exec_in(rt, pod.metadata.uid, "test-containers", ["env"])
            assert "MY_POD_NAME=test-env-pod" in env
            assert "MY_POD_NAMESPACE=kube-system" in env
            assert f"MY_POD_IP={stored.status.pod_ip}" in env and stored.status.pod_ip
    run_async(body())


def test_seed_hello_world_wr_shares_a_host_path_between_containers(docker_kit: DockerKit,
                                                                   tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    manifest = {"metadata": {"name": "hello-world-wr"}, "spec": {"restartPolicy": "Never",
                "containers": [
                    {"name": "write", "image": "ubuntu:14.04",
                     "command": ["bash", "-c", "echo \"Hello World\" >> /data/hello"],
                     "volumeMounts": [{"name": "data", "mountPath": "/data"}]},
                    {"name": "hello", "image": "ubuntu:14.04",
                     "command": ["bash", "-c", "sleep 2; cat /data/hello"],
                     "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
                "volumes": [{"name": "data", "hostPath": {"path": str(shared)}}]}}

    async def body() -> None:
        node = docker_kit.node("wr")
        async with running_agent(docker_kit, node, tmp_path / "root") as (cluster, rt, _):
            pod = await cluster.add_pod(pod_from(manifest), node)
            await wait_phase(cluster, "hello-world-wr", "Succeeded")
            assert "Hello World" in await logs_of(rt, pod.metadata.uid, "hello")
            assert (shared / "hello").read_text() == "Hello World\n"
    run_async(body())


def test_init_containers_run_in_order_before_the_app(docker_kit: DockerKit, tmp_path: Path) -> None:
    mount = [{"name": "work", "mountPath": "/work"}]
    manifest = {"metadata": {"name": "init-order"}, "spec": {
        "initContainers": [
            {"name": "first", "image": "busybox", "command": ["sh", "-c", "echo 1 >> /work/order"],
             "volumeMounts": mount},
            {"name": "second", "image": "busybox", "command": ["sh", "-c", "echo 2 >> /work/order"],
             "volumeMounts": mount}],
        "containers": [{"name": "app", "image": "busybox",
                        "command": ["sh", "-c", "cat /work/order; sleep 3600"], "volumeMounts": mount}],
        "volumes": [{"name": "work", "emptyDir": {}}]}}

    async def body() -> None:
        node = docker_kit.node("init")
        async with running_agent(docker_kit, node, tmp_path) as (cluster, rt, _):
            pod = await cluster.add_pod(pod_from(manifest), node)
            st = await wait_phase(cluster, "init-order", "Running")
            assert [c.state.terminated.reason for c in st.init_container_statuses] == ["Completed"] * 2
            assert {c.type: c.status for c in st.conditions}["Initialized"] == "True"
            async with asyncio.timeout(30):  # the app runs; its first line may still be on its way
                while not (out := await logs_of(rt, pod.metadata.uid, "app")):
                    await asyncio.sleep(0.1)
            assert out.split() == ["1", "2"]
    run_async(body())


def test_crashing_container_restarts_with_growing_back_off(docker_kit: DockerKit,
                                                           tmp_path: Path) -> None:
    manifest = {"metadata": {"name": "crasher"}, "spec": {"containers": [
        {"name": "c", "image": "busybox", "command": ["sh", "-c", "echo run; exit 3"]}]}}

    async def body() -> None:
        node = docker_kit.node("crash")
        async with running_agent(docker_kit, node, tmp_path) as (cluster, rt, _):
            pod = await cluster.add_pod(pod_from(manifest), node)
            await cluster.wait_for(lambda: (s := status(cluster, "crasher")) and
                                   s.container_statuses and
                                   s.container_statuses[0].restart_count >= 3, 90)
            assert any(u.status.container_statuses[0].state.waiting.reason == "CrashLoopBackOff"
                       for u in cluster.status_updates
                       if u.metadata.name == "crasher" and u.status.container_statuses)
            st = status(cluster, "crasher")
            assert st is not None and st.phase == "Running"
            assert st.container_statuses[0].last_state.terminated.exit_code == 3
            infos = await rt.list_containers(pod.metadata.uid)
            assert len(infos) <= 2  # current attempt and the previous one
            starts = sorted(i.started_at for i in infos)
            if len(starts) == 2:
                assert starts[1] - starts[0] >= 1.5  # attempt 3 waited ~2 s (base 1 s)
    run_async(body())


def test_graceful_deletion_runs_pre_stop_then_sigterm(docker_kit: DockerKit, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o777)
    script = "trap 'echo term >> /out/log; exit 0' TERM; while true; do sleep 0.1; done"
    manifest = {"metadata": {"name": "graceful"}, "spec": {
        "terminationGracePeriodSeconds": 10,
        "containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", script],
                        "lifecycle": {"preStop": {"exec": {"command": [
                            "sh", "-c", "echo prestop >> /out/log"]}}},
                        "volumeMounts": [{"name": "out", "mountPath": "/out"}]}],
        "volumes": [{"name": "out", "hostPath": {"path": str(out), "type": "Directory"}}]}}

    async def body() -> None:
        node = docker_kit.node("grace")
        async with running_agent(docker_kit, node, tmp_path / "root") as (cluster, rt, _):
            pod = await cluster.add_pod(pod_from(manifest), node)
            await wait_phase(cluster, "graceful", "Running")
            await cluster.delete(v1.Pod, "graceful")
            await cluster.wait_for(lambda: cluster.find_pod("graceful") is None, 60)
            assert (out / "log").read_text().split() == ["prestop", "term"]
            assert await rt.list_containers(pod.metadata.uid) == []
            assert await rt.list_sandboxes(pod.metadata.uid) == []
    run_async(body())


def test_container_past_its_memory_limit_is_reported_oom_killed(docker_kit: DockerKit,
                                                                tmp_path: Path) -> None:
    manifest = {"metadata": {"name": "oom"}, "spec": {"restartPolicy": "Never", "containers": [
        {"name": "hog", "image": "busybox", "command": ["sh", "-c", "head -c 50m /dev/zero | tail"],
         "resources": {"limits": {"memory": "20Mi"}}}]}}

    async def body() -> None:
        node = docker_kit.node("oom")
        async with running_agent(docker_kit, node, tmp_path) as (cluster, rt, _):
            await cluster.add_pod(pod_from(manifest), node)
            st = await wait_phase(cluster, "oom", "Failed")
            term = st.container_statuses[0].state.terminated
            assert term.reason == "OOMKilled" and term.exit_code == 137
            assert st.qos_class == "Burstable"
    run_async(body())


def test_restarted_agent_adopts_running_containers_without_restarting(docker_kit: DockerKit,
                                                                      tmp_path: Path) -> None:
    manifest = {"metadata": {"name": "adopt"}, "spec": {"containers": [
        {"name": "c", "image": "busybox", "command": ["sh", "-c", "sleep 3600"]}]}}

    async def body() -> None:
        node = docker_kit.node("adopt")
        async with running_agent(docker_kit, node, tmp_path) as (cluster, rt, _):
            pod = await cluster.add_pod(pod_from(manifest), node)
            first = await wait_phase(cluster, "adopt", "Running")
            before = {c.id: c.started_at for c in await rt.list_containers(pod.metadata.uid)}
        # the agent is gone; its containers are not
        published = len(cluster.status_updates)
        async with running_agent(docker_kit, node, tmp_path, cluster=cluster) as (_, rt2, _a):
            # A new pod worker publishes the status its first sync found, after that sync has
            # started or killed whatever it meant to: from then on the adoption is decided.
            await cluster.wait_for(lambda: any(p.metadata.name == "adopt"
                                               for p in cluster.status_updates[published:]), 60)
            after = {c.id: c.started_at for c in await rt2.list_containers(pod.metadata.uid)}
            assert after == before
            st = status(cluster, "adopt")
            assert st is not None and st.phase == "Running"
            assert st.container_statuses[0].restart_count == 0
            assert st.pod_ip == first.pod_ip
    run_async(body())


def test_containers_of_pods_no_longer_bound_are_removed_on_restart(docker_kit: DockerKit,
                                                                   tmp_path: Path) -> None:
    manifest = {"metadata": {"name": "orphan"}, "spec": {"containers": [
        {"name": "c", "image": "busybox", "command": ["sh", "-c", "sleep 3600"]}]}}

    async def body() -> None:
        node = docker_kit.node("orphan")
        async with running_agent(docker_kit, node, tmp_path) as (cluster, rt, _):
            pod = await cluster.add_pod(pod_from(manifest), node)
            await wait_phase(cluster, "orphan", "Running")
        cluster.delete_now(v1.Pod, "orphan")  # gone while the agent was down
        async with running_agent(docker_kit, node, tmp_path, cluster=cluster) as (_, rt2, _a):
            uid = pod.metadata.uid

            async def gone() -> None:
                while await rt2.list_containers(uid) or await rt2.list_sandboxes(uid):
                    await asyncio.sleep(0.3)
            async with asyncio.timeout(60):
                await gone()
    run_async(body())


def test_a_leftover_container_holding_the_sandbox_name_is_replaced(docker_kit: DockerKit,
                                                                  tmp_path: Path) -> None:
    """A create whose answer was lost leaves a container under the name the next
    attempt wants; the agent clears it (Docker's 409 Conflict) instead of failing the pod."""
    node = docker_kit.node("leftover")
    cluster = AgentApi()
    pod = cluster.create_now(pod_from({"metadata": {"name": "leftover"}, "spec": {
        "nodeName": node, "containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", "sleep 3600"]}]}}))
    name = f"podlab_{node}_default_leftover_POD_0_{pod.metadata.uid[:8]}"
    client = docker.from_env(timeout=60)
    stale = client.containers.create("podlab/pause:3.9", name=name, labels={"io.podlab.test": "leftover"})

    async def body() -> None:
        async with running_agent(docker_kit, node, tmp_path, cluster=cluster) as (_, rt, _a):
            await wait_phase(cluster, "leftover", "Running")
            [sandbox] = await rt.list_sandboxes(pod.metadata.uid)
            assert sandbox.id != stale.id
    try:
        run_async(body())
        with pytest.raises(docker.errors.NotFound):
            client.containers.get(stale.id)
    finally:
        for c in client.containers.list(all=True, filters={"label": "io.podlab.test=leftover"}):
            c.remove(force=True)
        client.close()


def test_kubernetes_command_demo_prints_its_hostname_and_the_apis_service_url(docker_kit: DockerKit,
                                                                              tmp_path: Path) -> None:
    # Kubernetes' "Define a Command and Arguments for a Container" example, verbatim.
    manifest = {"metadata": {"name": "command-demo", "labels": {"purpose": "demonstrate-command"}},
                "spec": {"containers": [{"name": "command-demo-container", "image": "debian",
                                         "command": ["printenv"], "args": ["HOSTNAME", "KUBERNETES_PORT"]}],
                         "restartPolicy": "OnFailure"}}

    async def body() -> None:
        node = docker_kit.node("svc")
        async with running_agent(docker_kit, node, tmp_path, kubernetes_service="10.244.255.10:443") \
                as (cluster, rt, _):
            pod = await cluster.add_pod(pod_from(manifest), node)
            await wait_phase(cluster, "command-demo", "Succeeded")
            assert await logs_of(rt, pod.metadata.uid, "command-demo-container") == \
                "command-demo\ntcp://10.244.255.10:443\n"
    run_async(body())
