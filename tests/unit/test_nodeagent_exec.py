"""Interactive exec through the agent's gRPC server, on the simulated runtime; and the
Docker stream framing the Docker session decodes."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from google.protobuf.json_format import ParseDict

from nodeagent.agent import NodeAgent
from nodeagent.config import AgentConfig
from nodeagent.runtime.base import RUNNING, STDERR, STDOUT, ExecFrame
from nodeagent.runtime.docker_exec import decode_frames
from nodeagent.runtime.sim import SimRuntime
from nodeagent.server import start_server
from podlab.v1 import objects_pb2 as v1
from podlab.v1 import services_pb2 as api
from podlab.v1 import services_pb2_grpc as rpc
from tests.support.agent_api import AgentApi

pytestmark = pytest.mark.unit
NODE = "sim-exec"


class Steps:
    """A client's exec input stream that the test feeds one message at a time."""

    def __init__(self, start: api.ExecStart) -> None:
        self.queue: asyncio.Queue[api.ExecInput | None] = asyncio.Queue()
        self.queue.put_nowait(api.ExecInput(start=start))

    def send(self, **kw: object) -> None:
        self.queue.put_nowait(api.ExecInput(**kw))

    async def __aiter__(self) -> AsyncIterator[api.ExecInput]:
        while (msg := await self.queue.get()) is not None:
            yield msg


async def until(outs: AsyncIterator[api.ExecOutput], wanted: bytes) -> tuple[bytes, bytes]:
    """Read output messages until stdout ends with `wanted`; (stdout, stderr) read so far."""
    out = err = b""
    while not out.endswith(wanted):
        msg = await outs.__anext__()
        out += msg.stdout
        err += msg.stderr
    return out, err


def run_with_server(tmp_path: Path, body) -> None:
    async def main() -> None:
        cluster, rt = AgentApi(), SimRuntime(NODE)
        config = AgentConfig(node_name=NODE, root_dir=str(tmp_path), heartbeat=0.1,
                             resync_period=0.5)
        agent = NodeAgent(config, cluster, rt)
        task = asyncio.create_task(agent.run())
        server = await start_server(agent, "127.0.0.1:0")
        try:
            pod = ParseDict({"metadata": {"name": "shell"}, "spec": {"containers": [
                {"name": "main", "image": "busybox", "env": [{"name": "GREETING", "value": "hi"}]}]}},
                v1.Pod())
            await cluster.add_pod(pod, NODE)
            await cluster.wait_for(lambda: (p := cluster.find_pod("shell")) and p.status.phase == "Running")
            async with asyncio.timeout(20), \
                    grpc.aio.insecure_channel(f"127.0.0.1:{agent.listen_port}") as channel:
                await body(rpc.NodeAgentStub(channel), rt)
        finally:
            await server.stop(0)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    asyncio.run(main())


def test_interactive_shell_answers_each_line_and_reports_the_exit_code(tmp_path: Path) -> None:
    async def body(stub: rpc.NodeAgentStub, rt: SimRuntime) -> None:
        steps = Steps(api.ExecStart(namespace="default", name="shell", command=["sh"], stdin=True))
        outs = stub.Exec(steps).__aiter__()
        steps.send(stdin=b"echo hello\n")
        assert await until(outs, b"hello\n") == (b"hello\n", b"")
        steps.send(stdin=b"printenv GREETING\n")
        assert (await until(outs, b"hi\n"))[0] == b"hi\n"
        steps.send(resize=api.TerminalSize(width=120, height=40))
        steps.send(stdin=b"oops >&2\nhostname\n")
        out, err = await until(outs, b"shell\n")
        assert out == b"shell\n" and err == b"sh: oops: not found\n"
        steps.send(stdin=b"exit 3\n")
        rest = [m async for m in outs]
        assert rest[-1].WhichOneof("output") == "exit_code" and rest[-1].exit_code == 3
        [session] = [s for sessions in rt.sessions.values() for s in sessions]
        assert session.resizes == [(120, 40)]
        steps.queue.put_nowait(None)
    run_with_server(tmp_path, body)


def test_cat_echoes_stdin_until_it_is_closed(tmp_path: Path) -> None:
    async def body(stub: rpc.NodeAgentStub, rt: SimRuntime) -> None:
        steps = Steps(api.ExecStart(namespace="default", name="shell", command=["cat"], stdin=True))
        outs = stub.Exec(steps).__aiter__()
        steps.send(stdin=b"piped\n")
        assert (await until(outs, b"piped\n"))[0] == b"piped\n"
        steps.send(close_stdin=True)
        rest = [m async for m in outs]
        assert rest == [api.ExecOutput(exit_code=0)]
        steps.queue.put_nowait(None)
    run_with_server(tmp_path, body)


def test_a_tty_session_has_one_stream_and_ends_with_its_container(tmp_path: Path) -> None:
    async def body(stub: rpc.NodeAgentStub, rt: SimRuntime) -> None:
        steps = Steps(api.ExecStart(namespace="default", name="shell", command=["sh"],
                                    stdin=True, tty=True))
        outs = stub.Exec(steps).__aiter__()
        steps.send(stdin=b"nope\n")
        out, err = await until(outs, b"not found\n")
        assert (out, err) == (b"sh: nope: not found\n", b"")
        [cid] = [c.id for c in await rt.list_containers() if c.state == RUNNING]
        rt.exit_container(cid, 137)
        rest = [m async for m in outs]
        assert rest[-1].exit_code == 137
        steps.queue.put_nowait(None)
    run_with_server(tmp_path, body)


def test_docker_stream_frames_are_split_by_their_headers_across_reads() -> None:
    def frame(stream: int, data: bytes) -> bytes:
        return struct.pack(">BxxxL", stream, len(data)) + data

    wire = frame(1, b"out\n") + frame(2, b"err\n") + frame(1, b"tail")
    frames, rest = decode_frames(wire[:-2])
    assert frames == [ExecFrame(STDOUT, b"out\n"), ExecFrame(STDERR, b"err\n")]
    assert rest == wire[len(frame(1, b"out\n") + frame(2, b"err\n")):-2]
    frames, rest = decode_frames(rest + wire[-2:])
    assert frames == [ExecFrame(STDOUT, b"tail")] and rest == b""


def test_a_tty_without_stdin_runs_its_script_and_merges_stderr_into_the_terminal(tmp_path: Path) -> None:
    async def body(stub: rpc.NodeAgentStub, rt: SimRuntime) -> None:
        steps = Steps(api.ExecStart(namespace="default", name="shell", tty=True,
                                    command=["sh", "-c", "echo a; echo b >&2; exit 4"]))
        outs = [m async for m in stub.Exec(steps)]
        assert b"".join(m.stdout for m in outs) == b"a\nb\n"
        assert not any(m.stderr for m in outs) and outs[-1].exit_code == 4
        steps.queue.put_nowait(None)
    run_with_server(tmp_path, body)
