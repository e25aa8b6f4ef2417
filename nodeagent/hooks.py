"""Lifecycle handlers (postStart, preStop): exec, httpGet, tcpSocket, sleep."""

from __future__ import annotations

import asyncio
import ssl

from google.protobuf.struct_pb2 import Value

from nodeagent.runtime.base import ContainerRuntimeError, Runtime
from podlab.v1 import objects_pb2 as v1


class HookError(Exception):
    """The handler failed (non-zero exit, HTTP error, timeout)."""


def resolve_port(port: Value, container: v1.Container) -> int:
    """An IntOrString port: a number, or the name of one of the container's ports."""
    kind = port.WhichOneof("kind")
    if kind == "number_value":
        return int(port.number_value)
    if kind == "string_value":
        text = port.string_value
        if text.isdigit():
            return int(text)
        for p in container.ports:
            if p.name == text:
                return p.container_port
        raise HookError(f'port "{text}" not found in container {container.name}')
    raise HookError("no port given")


async def http_get(host: str, port: int, path: str, headers: list[v1.HTTPHeader],
                   timeout: float, tls: ssl.SSLContext | None = None) -> int:
    """GET http(s)://host:port/path (HTTPS when `tls` is given); returns the status code."""
    return (await http_get_location(host, port, path, headers, timeout, tls))[0]


async def http_get_location(host: str, port: int, path: str, headers: list[v1.HTTPHeader],
                            timeout: float, tls: ssl.SSLContext | None = None) -> tuple[int, str]:
    """GET http(s)://host:port/path; returns the status code and the Location header ("")."""
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(host, port, ssl=tls)
    try:
        lines = [f"GET {path or '/'} HTTP/1.0"]
        if not any(h.name.lower() == "host" for h in headers):
            lines.append(f"Host: {host}:{port}")
        if not any(h.name.lower() == "user-agent" for h in headers):
            lines.append("User-Agent: kube-probe/podlab")
        lines += [f"{h.name}: {h.value}" for h in headers]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await writer.drain()
        async with asyncio.timeout(timeout):
            first = await reader.readline()
        parts = first.decode("latin-1").split()
        if len(parts) < 2 or not parts[1].isdigit():
            raise HookError(f"bad HTTP response: {first!r}")
        location = ""
        async with asyncio.timeout(timeout):
            while (line := await reader.readline()) not in (b"", b"\r\n", b"\n"):
                name, _, value = line.decode("latin-1").partition(":")
                if name.strip().lower() == "location":
                    location = value.strip()
        return int(parts[1]), location
    finally:
        writer.close()


async def run_handler(runtime: Runtime, container_id: str, container: v1.Container,
                      handler: v1.LifecycleHandler, pod_ip: str, timeout: float) -> None:
    """Run one lifecycle handler to completion within `timeout`; raises HookError."""
    try:
        if handler.HasField("exec") and handler.exec.command:
            result = await runtime.exec(container_id, list(handler.exec.command), timeout)
            if result.exit_code != 0:
                raise HookError(f"command {list(handler.exec.command)} exited with "
                                f"{result.exit_code}: {result.stderr.decode(errors='replace')}")
        elif handler.HasField("http_get"):
            hg = handler.http_get
            code = await http_get(hg.host or pod_ip or "127.0.0.1", resolve_port(hg.port, container),
                                  hg.path, list(hg.http_headers), timeout)
            if not 200 <= code < 400:
                raise HookError(f"HTTP GET {hg.path} returned {code}")
        elif handler.HasField("tcp_socket"):
            ts = handler.tcp_socket
            async with asyncio.timeout(timeout):
                _, writer = await asyncio.open_connection(ts.host or pod_ip,
                                                          resolve_port(ts.port, container))
            writer.close()
        elif handler.HasField("sleep"):
            await asyncio.sleep(min(float(handler.sleep.seconds), timeout))
    except (TimeoutError, OSError, ContainerRuntimeError) as err:
        raise HookError(f"{type(err).__name__}: {err}") from err
