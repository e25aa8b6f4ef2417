"""A TCP proxy a test controls: cut() partitions, heal() reconnects.

It runs in its own thread with its own event loop, so a test can partition a
real agent process from the control plane without touching the network.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

from tests.support.procs import free_port


class Proxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self._cut = False
        self._writers: set[asyncio.StreamWriter] = set()
        self._connections: set[asyncio.Task[None]] = set()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"proxy-{self.port}", daemon=True)
        self._thread.start()
        self._ready.wait(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._accept, "127.0.0.1", self.port))
        self._ready.set()
        self._loop.run_forever()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            while not self._cut and (data := await reader.read(65536)):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._cut:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        task = asyncio.current_task()
        assert task is not None
        self._writers |= {writer, up_writer}
        self._connections.add(task)
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            self._writers -= {writer, up_writer}
            self._connections.discard(task)

    def _call(self, fn) -> None:
        asyncio.run_coroutine_threadsafe(fn(), self._loop).result(5)

    def cut(self) -> None:
        """Drop every connection and refuse new ones (a network partition)."""
        async def cut() -> None:
            self._cut = True
            for w in list(self._writers):
                w.transport.abort()
        self._call(cut)

    def heal(self) -> None:
        async def heal() -> None:
            self._cut = False
        self._call(heal)

    def close(self) -> None:
        async def close() -> None:
            self._server.close()
            for w in list(self._writers):
                w.transport.abort()
            # Let every connection's pipes see the abort and finish, so none is
            # destroyed pending when the loop stops.
            if self._connections:
                _, stuck = await asyncio.wait(self._connections, timeout=2)
                for task in stuck:
                    task.cancel()
        with contextlib.suppress(Exception):
            self._call(close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
