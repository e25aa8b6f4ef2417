"""The node agent's gRPC server (NodeAgent): Logs, Exec, Attach, PortForward, Stats, and Witness for its peers.

Requests name a pod by namespace/name (and uid when the API server proxies);
a pod with several containers and no container named is INVALID_ARGUMENT with
kubectl's text.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import grpc

from nodeagent.eviction import host_memory
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


# How long a forwarded connection the pod closed (or that failed) waits for the client to close its
# side: a client message written to a finished call fails the whole call on the client's side.
CLOSE_WAIT = 10.0


class _Abort(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def _node_cpu_seconds() -> float:
    """CPU time the node has spent busy (all but idle and iowait), from /proc/stat; 0 when unknown."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return 0.0
    idle = sum(fields[3:5])
    return (sum(fields[:8]) - idle) / (os.sysconf("SC_CLK_TCK") or 100)


class CpuRates:
    """Mean CPU use (cores) between successive samples of a cumulative CPU time, per key.

    A key's first sample averages since `since` (a container's start), so the
    first answer is not empty. Keys not sampled in a round are forgotten.
    Used by one task at a time (the Stats handler).
    """

    def __init__(self) -> None:
        self._last: dict[str, tuple[float, float]] = {}  # key -> (wall time, CPU seconds)

    def rates(self, now: float, samples: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
        """`samples`: key -> (CPU seconds, since); returns key -> (cores, window seconds)."""
        out = {}
        for key, (cpu, since) in samples.items():
            then, before = self._last.get(key, (since, 0.0))
            window = now - then
            out[key] = (max(0.0, (cpu - before) / window) if window > 0 and then > 0 else 0.0, max(window, 0.0))
        self._last = {key: (now, cpu) for key, (cpu, _) in samples.items()}
        return out


class NodeAgentService(rpc.NodeAgentServicer):
    def __init__(self, agent: NodeAgent) -> None:
        self.agent = agent
        self._cpu = CpuRates()
        self._boot = time.time() - time.monotonic()  # roughly when the node's CPU counters began

    async def _running_container(self, it: AsyncIterator[api.ExecInput]) -> tuple[api.ExecStart, ContainerInfo]:
        """An exec or attach stream's first message (its start) and the running container it names."""
        first = await it.__anext__()
        if first.WhichOneof("input") != "start":
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "the first message must be start")
        start = first.start
        info = await self._resolve(start.namespace, start.name, start.uid, start.container)
        if info.state != RUNNING:
            raise _Abort(grpc.StatusCode.FAILED_PRECONDITION, f"container {info.container_name} is not running")
        return start, info

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
        """Memory and CPU of the node and of each running container (what metrics.k8s.io reports)."""
        memory = host_memory()
        reply = api.StatsResponse(memory_available_bytes=memory.available)
        with contextlib.suppress(OSError):
            reply.nodefs_available_bytes = shutil.disk_usage(self.agent.config.root_dir).free
        running = [c for c in await self.agent.runtime.list_containers() if c.state == RUNNING]
        usages = await asyncio.gather(*(self.agent.runtime.usage(c.id) for c in running))
        now = time.time()
        rates = self._cpu.rates(now, {"": (_node_cpu_seconds(), self._boot)} | {
            c.id: (u.cpu_seconds, c.started_at) for c, u in zip(running, usages, strict=True)})
        for c, usage in zip(running, usages, strict=True):
            reply.containers.add(pod_namespace=c.namespace, pod_name=c.pod_name,
                                 pod_uid=c.pod_uid, container=c.container_name,
                                 memory_working_set_bytes=usage.memory_working_set, cpu_cores=rates[c.id][0])
        reply.node_cpu_cores, reply.window_seconds = rates[""]
        reply.node_memory_working_set_bytes = max(0, memory.capacity - memory.available)
        reply.timestamp_ms = int(now * 1000)
        return reply

    async def Witness(self, request: api.WitnessRequest,  # noqa: N802
                      context: grpc.aio.ServicerContext) -> api.WitnessResponse:
        """How this agent's own renewals go, for a peer that cannot renew (nodeagent.witness)."""
        return self.agent.heartbeat.witness_report()

    async def Exec(self, request_iterator: AsyncIterator[api.ExecInput],  # noqa: N802
                   context: grpc.aio.ServicerContext) -> AsyncIterator[api.ExecOutput]:
        it = request_iterator.__aiter__()
        try:
            start, info = await self._running_container(it)
        except _Abort as err:
            await context.abort(err.code, err.message)
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

    async def Attach(self, request_iterator: AsyncIterator[api.ExecInput],  # noqa: N802
                     context: grpc.aio.ServicerContext) -> AsyncIterator[api.ExecOutput]:
        """The container's main process's streams; ends with exit_code 0 when they close."""
        it = request_iterator.__aiter__()
        try:
            start, info = await self._running_container(it)
            session = await self.agent.runtime.open_attach(info.id, start.stdin, start.tty)
        except _Abort as err:
            await context.abort(err.code, err.message)
            return
        except ContainerRuntimeError as err:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(err))
            return
        async for out in _relay(session, it):
            yield out

    async def PortForward(self, request_iterator: AsyncIterator[api.PortForwardInput],  # noqa: N802
                          context: grpc.aio.ServicerContext) -> AsyncIterator[api.PortForwardOutput]:
        """One TCP connection to a port in the pod's network namespace, both ways.

        A connection refused or broken is the last message, an `error` in the
        kubelet's words; the client's close_write half-closes the connection.
        """
        it = request_iterator.__aiter__()
        first = await it.__anext__()
        if first.WhichOneof("input") != "start":
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the first message must be start")
            return
        start = first.start
        ns = start.namespace or "default"
        sandboxes = [s for s in await self.agent.runtime.list_sandboxes()
                     if s.pod_name == start.name and s.namespace == ns and s.state == RUNNING
                     and (not start.uid or s.pod_uid == start.uid)]
        if not sandboxes:
            await context.abort(grpc.StatusCode.NOT_FOUND, f'pod "{start.name}" has no running sandbox')
            return
        sandbox = max(sandboxes, key=lambda s: s.attempt)
        prefix = f"error forwarding port {start.port} to pod {sandbox.id}, uid {sandbox.pod_uid}: "
        try:
            async with asyncio.timeout(10):
                reader, writer = await self.agent.runtime.open_port(sandbox, start.port)
        except (OSError, TimeoutError) as err:
            yield api.PortForwardOutput(error=prefix + _dial_error(sandbox.ip, start.port, err))
            # The client stops sending on an error; end the RPC once it has (see CLOSE_WAIT).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(CLOSE_WAIT):
                    async for _ in it:
                        pass
            return
        feeder = asyncio.create_task(_feed_port(writer, it), name="port-forward-in")
        try:
            while data := await reader.read(65536):
                yield api.PortForwardOutput(data=data)
            # The pod closed its side: say so, and end the RPC once the client has closed its side
            # too, so that no message of its is written to a finished call.
            yield api.PortForwardOutput(closed=True)
            await asyncio.wait({feeder}, timeout=CLOSE_WAIT)
        except OSError as err:
            yield api.PortForwardOutput(error=prefix + str(err))
        finally:
            feeder.cancel()
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


def _dial_error(ip: str, port: int, err: BaseException) -> str:
    address = f"{ip or '127.0.0.1'}:{port}"
    if isinstance(err, ConnectionRefusedError):
        return f"dial tcp {address}: connect: connection refused"
    if isinstance(err, TimeoutError):
        return f"dial tcp {address}: i/o timeout"
    return f"dial tcp {address}: {err}"


async def _feed_port(writer: asyncio.StreamWriter, inputs: AsyncIterator[api.PortForwardInput]) -> None:
    """The client's bytes into the connection; its end (or close_write) half-closes it."""
    with contextlib.suppress(OSError):
        async for msg in inputs:
            kind = msg.WhichOneof("input")
            if kind == "data":
                writer.write(msg.data)
                await writer.drain()
            elif kind == "close_write":
                break
        if writer.can_write_eof():
            writer.write_eof()


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
    # The API server's channel pings every 5 s (podlab.client); a long exec, attach or
    # port-forward must not be cut off as "too many pings".
    server = grpc.aio.server(options=[("grpc.keepalive_permit_without_calls", 1),
                                      ("grpc.http2.min_ping_interval_without_data_ms", 4_000),
                                      ("grpc.http2.max_ping_strikes", 0)])
    rpc.add_NodeAgentServicer_to_server(NodeAgentService(agent), server)
    port = server.add_insecure_port(listen)
    agent.listen_port = port
    await server.start()
    return server
