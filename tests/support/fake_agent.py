"""A node agent's logs, exec, attach, port-forward and stats, scripted, for front ends that proxy to agents."""

from __future__ import annotations

import asyncio
import io
import posixpath
import tarfile

import grpc

from podlab.v1 import services_pb2 as api
from podlab.v1 import services_pb2_grpc as rpc


class FakeAgent(rpc.NodeAgentServicer):
    """A node agent's logs and exec, scripted: the API server proxies to it as to a real agent."""

    def __init__(self) -> None:
        self.exec_inputs: list[api.ExecInput] = []
        self.forwards: list[api.PortForwardStart] = []
        self.stats = api.StatsResponse()  # what Stats answers
        self.files: dict[str, bytes] = {}  # the container's files, by absolute path (for tar and test -d)

    async def Logs(self, request: api.LogsRequest, context: grpc.aio.ServicerContext):
        yield api.LogChunk(data=f"Hello World from {request.container}\n".encode())

    async def Exec(self, request_iterator, context: grpc.aio.ServicerContext):
        start = (await anext(aiter(request_iterator))).start
        self.exec_inputs.append(api.ExecInput(start=start))
        command = list(start.command)
        if command[:1] in (["tar"], ["test"]):
            async for out in self._files(command, request_iterator):
                yield out
            return
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

    async def _files(self, command: list[str], inputs):
        """test -d, tar cf - PATH and tar -xmf - [-C DIR] over `files`, as busybox runs them."""
        if command[:2] == ["test", "-d"]:
            inside = command[2].rstrip("/") + "/"
            yield api.ExecOutput(exit_code=0 if any(p.startswith(inside) for p in self.files) else 1)
        elif command[:3] == ["tar", "cf", "-"]:
            path = command[3].rstrip("/")
            chosen = {p: d for p, d in self.files.items() if p == path or p.startswith(path + "/")}
            if not chosen:
                yield api.ExecOutput(stderr=f"tar: {command[3]}: No such file or directory\n".encode())
                yield api.ExecOutput(exit_code=1)
                return
            buffer = io.BytesIO()
            with tarfile.open(fileobj=buffer, mode="w") as tar:
                for name, data in sorted(chosen.items()):
                    info = tarfile.TarInfo(name.lstrip("/"))
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
            if path.startswith("/"):
                yield api.ExecOutput(stderr=b"tar: removing leading '/' from member names\n")
            yield api.ExecOutput(stdout=buffer.getvalue())
            yield api.ExecOutput(exit_code=0)
        else:
            data = bytearray()
            async for message in inputs:
                if message.WhichOneof("input") == "stdin":
                    data += message.stdin
                elif message.WhichOneof("input") == "close_stdin":
                    break
            root = command[command.index("-C") + 1] if "-C" in command else "/"
            with tarfile.open(fileobj=io.BytesIO(bytes(data)), mode="r:") as tar:
                for member in tar:
                    if member.isfile():
                        extracted = tar.extractfile(member)
                        assert extracted is not None
                        self.files[posixpath.join(root, member.name)] = extracted.read()
            yield api.ExecOutput(exit_code=0)

    async def Attach(self, request_iterator, context: grpc.aio.ServicerContext):
        """The main process is `cat`: stdin echoed, Success when it closes."""
        start = (await anext(aiter(request_iterator))).start
        self.exec_inputs.append(api.ExecInput(start=start))
        yield api.ExecOutput(stdout=f"attached to {start.container}\n".encode())
        async for message in request_iterator:
            self.exec_inputs.append(message)
            if message.WhichOneof("input") == "close_stdin":
                break
            if message.WhichOneof("input") == "stdin":
                yield api.ExecOutput(stdout=message.stdin)
        yield api.ExecOutput(exit_code=0)

    async def PortForward(self, request_iterator, context: grpc.aio.ServicerContext):
        """The pod's network is the loopback: connect to 127.0.0.1:port, both ways."""
        it = aiter(request_iterator)
        start = (await anext(it)).start
        self.forwards.append(start)
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", start.port)
        except OSError:
            yield api.PortForwardOutput(error=f"error forwarding port {start.port} to pod {start.name}, uid "
                                              f"{start.uid}: dial tcp 127.0.0.1:{start.port}: connect: "
                                              "connection refused")
            async for _ in it:  # as the agent: the call ends once the client is done
                pass
            return

        async def upstream() -> None:
            async for message in it:
                if message.WhichOneof("input") == "data":
                    writer.write(message.data)
                    await writer.drain()
                else:
                    break
            writer.write_eof()

        pump = asyncio.create_task(upstream())
        while data := await reader.read(65536):
            yield api.PortForwardOutput(data=data)
        yield api.PortForwardOutput(closed=True)
        await asyncio.wait({pump}, timeout=10)
        pump.cancel()
        writer.close()

    async def Stats(self, request: api.StatsRequest, context: grpc.aio.ServicerContext) -> api.StatsResponse:
        return self.stats
