"""A node agent's logs and exec, scripted, for front ends that proxy to agents (gRPC and REST)."""

from __future__ import annotations

import grpc

from podlab.v1 import services_pb2 as api
from podlab.v1 import services_pb2_grpc as rpc


class FakeAgent(rpc.NodeAgentServicer):
    """A node agent's logs and exec, scripted: the API server proxies to it as to a real agent."""

    def __init__(self) -> None:
        self.exec_inputs: list[api.ExecInput] = []

    async def Logs(self, request: api.LogsRequest, context: grpc.aio.ServicerContext):
        yield api.LogChunk(data=f"Hello World from {request.container}\n".encode())

    async def Exec(self, request_iterator, context: grpc.aio.ServicerContext):
        start = (await anext(aiter(request_iterator))).start
        self.exec_inputs.append(api.ExecInput(start=start))
        if list(start.command) == ["env"]:
            yield api.ExecOutput(stdout=f"MY_POD_NAME={start.name}\n".encode())
        elif list(start.command) == ["cat"]:
            async for message in request_iterator:
                self.exec_inputs.append(message)
                if message.WhichOneof("input") == "close_stdin":
                    break
                if message.WhichOneof("input") == "stdin":
                    yield api.ExecOutput(stdout=message.stdin)
        elif list(start.command[:1]) == ["false"]:
            yield api.ExecOutput(stderr=b"failing\n")
            yield api.ExecOutput(exit_code=3)
            return
        yield api.ExecOutput(exit_code=0)
