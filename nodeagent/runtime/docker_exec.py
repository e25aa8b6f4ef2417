"""Interactive exec on a Docker engine: an `ExecSession` over the exec's hijacked socket.

Docker answers `exec start` by handing over the raw connection. Without a tty
the engine multiplexes stdout and stderr on it, each frame behind an 8-byte
header (stream, 0, 0, 0, big-endian length); with a tty the bytes are the
terminal's, unframed. One thread per session (`_pump`) reads the socket into
an asyncio queue; writes go through the loop's default executor, engine calls
(resize, the exit code) through the runtime's bridge.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from nodeagent.runtime.base import STDERR, STDOUT, ExecFrame, ExecSession

_HEADER = struct.Struct(">BxxxL")
_STREAMS = {1: STDOUT, 2: STDERR}

# How long `exit_code` waits for the engine to notice the process ended after its output did.
EXIT_CODE_WAIT = 2.5


def decode_frames(buf: bytes) -> tuple[list[ExecFrame], bytes]:
    """Split Docker's multiplexed stream: the whole frames in `buf`, and the incomplete rest."""
    frames: list[ExecFrame] = []
    while len(buf) >= _HEADER.size:
        stream, size = _HEADER.unpack_from(buf)
        end = _HEADER.size + size
        if len(buf) < end:
            break
        frames.append(ExecFrame(_STREAMS.get(stream, STDOUT), buf[_HEADER.size:end]))
        buf = buf[end:]
    return frames, buf


Bridge = Callable[..., Awaitable[Any]]


class DockerExecSession(ExecSession):
    """One engine exec. `api` is the docker SDK's APIClient, `bridge` runs its blocking calls."""

    def __init__(self, api: Any, bridge: Bridge, exec_id: str, sock: Any, tty: bool) -> None:
        self._api = api
        self._bridge = bridge
        self._exec_id = exec_id
        self._sock: socket.socket = getattr(sock, "_sock", sock)  # the SDK wraps it on some transports
        self._tty = tty
        self._loop = asyncio.get_running_loop()
        self._frames: asyncio.Queue[ExecFrame | None] = asyncio.Queue()
        threading.Thread(target=self._pump, name=f"exec-pump-{exec_id[:12]}", daemon=True).start()

    def _pump(self) -> None:
        """The one thread reading this exec's socket."""
        buf = b""
        put = self._frames.put_nowait
        try:
            while data := self._sock.recv(65536):
                if self._tty:
                    self._loop.call_soon_threadsafe(put, ExecFrame(STDOUT, data))
                    continue
                frames, buf = decode_frames(buf + data)
                for frame in frames:
                    self._loop.call_soon_threadsafe(put, frame)
        except OSError:
            pass
        finally:
            with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is reading
                self._loop.call_soon_threadsafe(put, None)

    async def read(self) -> ExecFrame | None:
        return await self._frames.get()

    async def write(self, data: bytes) -> None:
        await self._loop.run_in_executor(None, self._sock.sendall, data)

    async def close_stdin(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_WR)

    async def resize(self, width: int, height: int) -> None:
        await self._bridge(self._api.exec_resize, self._exec_id, height=height, width=width)

    async def exit_code(self) -> int:
        deadline = self._loop.time() + EXIT_CODE_WAIT
        while True:
            code = (await self._bridge(self._api.exec_inspect, self._exec_id)).get("ExitCode")
            if code is not None:
                return int(code)
            if self._loop.time() >= deadline:
                return -1
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.close()


class DockerAttachSession(DockerExecSession):
    """The container's own process's streams (`attach`), over two of the engine's attach sockets.

    The engine ends an attach altogether when its client half-closes it, so
    output would stop at the end of input: stdout and stderr come on one
    socket (read as an exec's), stdin goes on another, whose half-close is
    the end of input the container's stdin sees (docker's StdinOnce). Attach
    has no exit code of its own (the kubelet reports Success when the
    streams end), and the terminal resized is the container's.
    """

    def __init__(self, api: Any, bridge: Bridge, container_id: str, output: Any, stdin: Any | None,
                 tty: bool) -> None:
        super().__init__(api, bridge, container_id, output, tty)
        self._container_id = container_id
        self._stdin: socket.socket | None = getattr(stdin, "_sock", stdin)

    async def write(self, data: bytes) -> None:
        if self._stdin is not None:
            await self._loop.run_in_executor(None, self._stdin.sendall, data)

    async def close_stdin(self) -> None:
        if self._stdin is not None:
            with contextlib.suppress(OSError):
                self._stdin.shutdown(socket.SHUT_WR)

    async def resize(self, width: int, height: int) -> None:
        await self._bridge(self._api.resize, self._container_id, height=height, width=width)

    async def exit_code(self) -> int:
        return 0

    async def close(self) -> None:
        await super().close()
        if self._stdin is not None:
            with contextlib.suppress(OSError):
                self._stdin.close()
