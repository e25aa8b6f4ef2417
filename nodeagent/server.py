"""The node agent's gRPC server (NodeAgent): Logs, Exec, Stats, and Witness for its peers.

Requests name a pod by namespace/name (and uid when the API server proxies);
a pod with several containers and no container named is INVALID_ARGUMENT with
kubectl's text.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import grpc

from nodeagent.runtime.base import (
    EXITED,
    RUNNING,
    STDERR,
    TYPE_SANDBOX,
    ContainerInfo,
    ContainerRuntimeError,
    ExecSession,
)
from podlab.v1 import objects_pb2 as v1
from podlab.v1 import services_pb2 as api
from podlab.v1 import services_pb2_grpc as rpc

if TYPE_CHECKING:
    from nodeagent.agent import NodeAgent


class _Abort(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def _mem_available() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class NodeAgentService(rpc.NodeAgentServicer):
    def __init__(self, agent: NodeAgent) -> None:
        self.agent = agent

    async def _resolve(self, namespace: str, name: str, uid: str, container: str,
                       previous: bool = False) -> ContainerInfo:
        ns = namespace or "default"
        pod = self.agent.informer.get(f"{ns}/{name}")
        infos = [c for c in await self.agent.runtime.list_containers()
                 if c.pod_name == name and c.namespace == ns and c.type != TYPE_SANDBOX
                 and (not uid or c.pod_uid == uid)]
        if isinstance(pod, v1.Pod) and (not uid or pod.metadata.uid == uid):
            names = [c.name for c in pod.spec.containers]
            infos = [c for c in infos if c.pod_uid == pod.metadata.uid]
        else:
            names = sorted({c.container_name for c in infos if c.type != "init"})
        if not names and not infos:
            raise _Abort(grpc.StatusCode.NOT_FOUND, f'pods "{name}" not found')
        if not container:
            if len(names) != 1:
                raise _Abort(grpc.StatusCode.INVALID_ARGUMENT,
                             f"a container name must be specified for pod {name}, "
                             f"choose one of: [{' '.join(names)}]")
            container = names[0]
        attempts = sorted((c for c in infos if c.container_name == container),
                          key=lambda c: c.attempt, reverse=True)
        if previous:
            attempts = [c for c in attempts[1:] if c.state == EXITED]
            if not attempts:
                raise _Abort(grpc.StatusCode.INVALID_ARGUMENT,
                             f'previous terminated container "{container}" in pod "{name}" '
                             "not found")
        if not attempts:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT,
                         f'container "{container}" in pod "{name}" is waiting to start')
        return attempts[0]

    async def Logs(self, request: api.LogsRequest,  # noqa: N802
                   context: grpc.aio.ServicerContext) -> AsyncIterator[api.LogChunk]:
        try:
            info = await self._resolve(request.namespace, request.name, request.uid,
                                       request.container, request.previous)
        except _Abort as err:
            await context.abort(err.code, err.message)
            return
        since = None
        if request.HasField("since_seconds"):
            since = time.time() - request.since_seconds
        tail = request.tail_lines if request.HasField("tail_lines") else None
        async for chunk in self.agent.runtime.logs(info.id, request.follow and not request.previous,
                                                   tail, request.timestamps, since):
            yield api.LogChunk(data=chunk)

    async def Stats(self, request: api.StatsRequest,  # noqa: N802
                    context: grpc.aio.ServicerContext) -> api.StatsResponse:
        reply = api.StatsResponse(memory_available_bytes=_mem_available())
        with contextlib.suppress(OSError):
            reply.nodefs_available_bytes = shutil.disk_usage(self.agent.config.root_dir).free
        running = [c for c in await self.agent.runtime.list_containers() if c.state == RUNNING]
        sets = await asyncio.gather(*(self.agent.runtime.memory_working_set(c.id) for c in running))
        for c, ws in zip(running, sets, strict=True):
            reply.containers.add(pod_namespace=c.namespace, pod_name=c.pod_name,
                                 pod_uid=c.pod_uid, container=c.container_name,
                                 memory_working_set_bytes=ws)
        return reply

    async def Witness(self, request: api.WitnessRequest,  # noqa: N802
                      context: grpc.aio.ServicerContext) -> api.WitnessResponse:
        """How this agent's own renewals go, for a peer that cannot renew (nodeagent.witness)."""
        return self.agent.heartbeat.witness_report()

    async def Exec(self, request_iterator: AsyncIterator[api.ExecInput],  # noqa: N802
                   context: grpc.aio.ServicerContext) -> AsyncIterator[api.ExecOutput]:
        it = request_iterator.__aiter__()
        first = await it.__anext__()
        if first.WhichOneof("input") != "start":
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the first message must be start")
            return
        start = first.start
        try:
            info = await self._resolve(start.namespace, start.name, start.uid, start.container)
        except _Abort as err:
            await context.abort(err.code, err.message)
            return
        if info.state != RUNNING:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                                f"container {info.container_name} is not running")
            return
        runtime = self.agent.runtime
        if not (start.stdin or start.tty):
            result = await runtime.exec(info.id, list(start.command), 3600.0)
            if result.stdout:
                yield api.ExecOutput(stdout=result.stdout)
            if result.stderr:
                yield api.ExecOutput(stderr=result.stderr)
            yield api.ExecOutput(exit_code=result.exit_code)
            return
        try:
            session = await runtime.open_exec(info.id, list(start.command), start.stdin, start.tty)
        except ContainerRuntimeError as err:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(err))
            return
        async for out in _relay(session, it):
            yield out


async def _feed(session: ExecSession, inputs: AsyncIterator[api.ExecInput]) -> None:
    """The client's stdin, end of input and terminal sizes, into the session."""
    async for msg in inputs:
        kind = msg.WhichOneof("input")
        if kind == "stdin":
            await session.write(msg.stdin)
        elif kind == "close_stdin":
            await session.close_stdin()
        elif kind == "resize":
            with contextlib.suppress(ContainerRuntimeError):
                await session.resize(msg.resize.width, msg.resize.height)


async def _relay(session: ExecSession,
                 inputs: AsyncIterator[api.ExecInput]) -> AsyncIterator[api.ExecOutput]:
    """Output frames as they come, then the exit code; the session is closed either way."""
    feeder = asyncio.create_task(_feed(session, inputs), name="exec-stdin")
    try:
        while (frame := await session.read()) is not None:
            yield (api.ExecOutput(stderr=frame.data) if frame.stream == STDERR
                   else api.ExecOutput(stdout=frame.data))
        code = await session.exit_code()
    finally:
        feeder.cancel()
        await session.close()
    yield api.ExecOutput(exit_code=code)


async def start_server(agent: NodeAgent, listen: str) -> grpc.aio.Server:
    """Start the NodeAgent gRPC server on `listen`; returns it (the caller stops it)."""
    server = grpc.aio.server()
    rpc.add_NodeAgentServicer_to_server(NodeAgentService(agent), server)
    port = server.add_insecure_port(listen)
    agent.listen_port = port
    await server.start()
    return server
