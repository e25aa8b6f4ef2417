"""The node agent's gRPC server (Logs, Exec, Stats) on real containers."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from _harness import pod_from, running_agent, wait_phase
from conftest import DockerKit, run_async

from nodeagent.server import start_server
from podlab.v1 import services_pb2 as api
from podlab.v1 import services_pb2_grpc as rpc

pytestmark = pytest.mark.e2e


def test_logs_exec_and_stats_are_served_over_grpc(docker_kit: DockerKit, tmp_path: Path) -> None:
    manifest = {"metadata": {"name": "served"}, "spec": {"containers": [
        {"name": "a", "image": "busybox", "command": ["sh", "-c", "echo hello-a; sleep 3600"]},
        {"name": "b", "image": "busybox", "command": ["sh", "-c", "sleep 3600"]}]}}

    async def body() -> None:
        node = docker_kit.node("grpc")
        async with running_agent(docker_kit, node, tmp_path) as (cluster, _rt, agent):
            server = await start_server(agent, "127.0.0.1:0")
            try:
                await cluster.add_pod(pod_from(manifest), node)
                await wait_phase(cluster, "served", "Running")
                async with grpc.aio.insecure_channel(f"127.0.0.1:{agent.listen_port}") as ch:
                    stub = rpc.NodeAgentStub(ch)
                    with pytest.raises(grpc.aio.AioRpcError) as err:
                        async for _ in stub.Logs(api.LogsRequest(namespace="default", name="served")):
                            pass
                    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
                    assert err.value.details() == ("a container name must be specified for pod "
                                                   "served, choose one of: [a b]")
                    data = b"".join([c.data async for c in stub.Logs(api.LogsRequest(
                        namespace="default", name="served", container="a"))])
                    assert b"hello-a" in data

                    async def inputs():
                        yield api.ExecInput(start=api.ExecStart(
                            namespace="default", name="served", container="b",
                            command=["sh", "-c", "echo out; echo err >&2; exit 7"]))
                    outs = [o async for o in stub.Exec(inputs())]
                    assert b"".join(o.stdout for o in outs) == b"out\n"
                    assert b"".join(o.stderr for o in outs) == b"err\n"
                    assert outs[-1].WhichOneof("output") == "exit_code" and outs[-1].exit_code == 7

                    async def interactive():
                        yield api.ExecInput(start=api.ExecStart(
                            namespace="default", name="served", container="b", command=["cat"],
                            stdin=True))
                        yield api.ExecInput(stdin=b"piped\n")
                        yield api.ExecInput(close_stdin=True)
                    outs = [o async for o in stub.Exec(interactive())]
                    assert b"".join(o.stdout for o in outs) == b"piped\n"
                    assert outs[-1].exit_code == 0

                    stats = await stub.Stats(api.StatsRequest())
                    assert stats.memory_available_bytes > 0 and stats.nodefs_available_bytes > 0
                    mine = [c for c in stats.containers if c.pod_name == "served"]
                    assert {c.container for c in mine} == {"a", "b"}
            finally:
                await server.stop(0)
    run_async(body())
