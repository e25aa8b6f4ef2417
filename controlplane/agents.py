"""The node agents the API server proxies to (logs, exec, attach, port-forward, stats), for both front ends.

One gRPC channel per agent endpoint, opened on first use and kept. A pod's
agent is found through its node's status.agentEndpoint; the container
defaults as kubectl expects (the only one, else the caller must choose).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from controlplane.registry import Registry
from podlab import errors
from podlab.client import open_channel
from podlab.kinds import NODES, PODS
from podlab.names import namespace_or_default
from podlab.v1 import objects_pb2 as v1
from podlab.v1 import services_pb2 as api
from podlab.v1 import services_pb2_grpc as rpc


class NodeAgents:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._channels: dict[str, grpc.aio.Channel] = {}  # endpoint -> channel; only grows

    async def for_pod(self, namespace: str, name: str, container: str) -> tuple[rpc.NodeAgentStub, v1.Pod, str]:
        """The agent stub serving pod `name`, the pod, and the container meant.

        Raises NotFound (pod or node), BadRequest (container not chosen or not
        in the pod, pod not bound) and Unavailable (no agent endpoint).
        """
        pod = await self.registry.get(PODS, name, namespace_or_default(namespace))
        names = [c.name for c in pod.spec.containers]
        if not container:
            if len(names) > 1:
                raise errors.BadRequest(
                    f"a container name must be specified for pod {name}, choose one of: "
                    f"[{' '.join(names)}]")
            container = names[0]
        elif container not in names + [c.name for c in pod.spec.init_containers]:
            raise errors.BadRequest(f"container {container} is not valid for pod {name}")
        if not pod.spec.node_name:
            raise errors.BadRequest(f"pod {name} does not have a host assigned")
        return await self.for_node(pod.spec.node_name), pod, container

    async def for_node(self, node_name: str) -> rpc.NodeAgentStub:
        """The agent stub of node `node_name`; raises NotFound and Unavailable (no agent endpoint)."""
        node = await self.registry.get(NODES, node_name)
        endpoint = node.status.agent_endpoint
        if not endpoint:
            raise errors.Unavailable(f"node {node.metadata.name} has no agent endpoint")
        channel = self._channels.get(endpoint)
        if channel is None:
            channel = self._channels[endpoint] = open_channel(endpoint)
        return rpc.NodeAgentStub(channel)

    async def logs(self, request: api.LogsRequest) -> AsyncIterator[bytes]:
        """The container's log, as the agent streams it; raises ApiError, and grpc.RpcError from the agent."""
        stub, pod, container = await self.for_pod(request.namespace, request.name, request.container)
        forwarded = api.LogsRequest()
        forwarded.CopyFrom(request)
        forwarded.namespace, forwarded.container = pod.metadata.namespace, container
        forwarded.uid = pod.metadata.uid
        async for chunk in stub.Logs(forwarded):
            yield chunk.data

    async def exec_session(self, start: api.ExecStart) -> ExecSession:
        """An exec in the pod `start` names, resolved (pod, container, agent) but not yet begun."""
        stub, pod, container = await self.for_pod(start.namespace, start.name, start.container)
        resolved = api.ExecStart()
        resolved.CopyFrom(start)
        resolved.namespace, resolved.container, resolved.uid = pod.metadata.namespace, container, pod.metadata.uid
        return ExecSession(stub, resolved)

    async def attach_session(self, start: api.ExecStart) -> ExecSession:
        """An attach to the main process of the container `start` names (its command is ignored)."""
        session = await self.exec_session(start)
        del session.start.command[:]
        return ExecSession(session.stub, session.start, attach=True)

    async def port_forward(self, start: api.PortForwardStart) -> PortForwardSession:
        """A connection to a port of the pod `start` names, resolved (pod, agent) but not yet opened.

        Raises NotFound, BadRequest (not bound, not running: kubectl's words) and Unavailable.
        """
        pod = await self.registry.get(PODS, start.name, namespace_or_default(start.namespace))
        if not pod.spec.node_name:
            raise errors.BadRequest(f"pod {start.name} does not have a host assigned")
        if pod.status.phase != "Running":
            raise errors.BadRequest("unable to forward port because pod is not running. "
                                    f"Current status={pod.status.phase or 'Pending'}")
        resolved = api.PortForwardStart()
        resolved.CopyFrom(start)
        resolved.namespace, resolved.uid = pod.metadata.namespace, pod.metadata.uid
        return PortForwardSession(await self.for_node(pod.spec.node_name), resolved)

    async def stats(self, node_name: str) -> api.StatsResponse:
        """The agent's Stats of node `node_name`; raises ApiError, and grpc.RpcError from the agent."""
        stub = await self.for_node(node_name)
        response: api.StatsResponse = await stub.Stats(api.StatsRequest(), timeout=10)
        return response


class PortForwardSession:
    def __init__(self, stub: rpc.NodeAgentStub, start: api.PortForwardStart) -> None:
        self.stub, self.start = stub, start

    def run(self, inputs: AsyncIterator[api.PortForwardInput]) -> AsyncIterator[api.PortForwardOutput]:
        """The connection's bytes from the pod (or its error), fed `inputs` after the start."""

        async def forward() -> AsyncIterator[api.PortForwardInput]:
            yield api.PortForwardInput(start=self.start)
            async for message in inputs:
                yield message

        return self.stub.PortForward(forward())


class ExecSession:
    def __init__(self, stub: rpc.NodeAgentStub, start: api.ExecStart, attach: bool = False) -> None:
        self.stub, self.start, self.attach = stub, start, attach

    def run(self, inputs: AsyncIterator[api.ExecInput]) -> AsyncIterator[api.ExecOutput]:
        """The agent's output for the command, fed `inputs` (stdin, close, resize) after the start."""

        async def forward() -> AsyncIterator[api.ExecInput]:
            yield api.ExecInput(start=self.start)
            async for message in inputs:
                yield message

        return (self.stub.Attach if self.attach else self.stub.Exec)(forward())
