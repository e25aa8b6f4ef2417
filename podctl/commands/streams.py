"""Streams to running pods beyond exec: attach, port-forward, cp (tar over exec, as kubectl does).

All go through the API server's gRPC streams (Attach, PortForward, Exec),
which it proxies to the pod's node agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import posixpath
import socket
import sys
import tarfile

import click
import grpc

from podctl._app import cli
from podctl._base import CliError, Exit, connect, current_namespace, echo_err, global_options, run
from podctl.commands.pods import _exec, _out, _stdin_fd, raw_terminal
from podlab import errors
from podlab.client import Client
from podlab.names import TERMINAL_PHASES
from podlab.v1 import objects_pb2 as v1
from podlab.v1 import services_pb2 as api

POD_PREFIXES = ("pod/", "pods/", "po/")


def _pod_name(target: str) -> str:
    if target.startswith(POD_PREFIXES):
        return target.split("/", 1)[1]
    if "/" in target:
        raise CliError(f"cannot attach to {target.split('/', 1)[0]}: only pods are supported")
    return target


# -- attach ------------------------------------------------------------------------------

@cli.command("attach")
@click.argument("pod")
@click.option("-c", "--container", default="", help="The container to attach to.")
@click.option("-i", "--stdin", "interactive", is_flag=True, help="Pass stdin to the container.")
@click.option("-t", "--tty", is_flag=True, help="Stdin is a TTY.")
@click.option("-q", "--quiet", is_flag=True, help="Only print output from the remote session.")
@global_options
def attach(pod: str, container: str, interactive: bool, tty: bool, quiet: bool) -> None:
    """Attach to the main process of a running container: podctl attach POD [-c C] [-i] [-t]."""
    name = _pod_name(pod)
    namespace = current_namespace()

    fd = _stdin_fd()

    async def body() -> None:
        async with connect() as client:
            obj = await client.get("Pod", name, namespace)
        if obj.status.phase in TERMINAL_PHASES:
            raise CliError(f"cannot attach a container in a completed pod; current phase is {obj.status.phase}")
        chosen = container or (obj.spec.containers[0].name if obj.spec.containers else "")
        spec = next((c for c in obj.spec.containers if c.name == chosen), None)
        if spec is None:
            raise CliError(f"cannot attach to the container: container {chosen} not found in pod {name}")
        use_tty = tty
        if tty and not spec.tty:
            if not quiet:
                echo_err(f"error: Unable to use a TTY - container {chosen} did not allocate one")
            use_tty = False
        elif not tty and spec.tty:
            use_tty = True  # the stream is a terminal's; read it as one
        raw = use_tty and interactive and fd is not None and os.isatty(fd)
        start = api.ExecStart(namespace=namespace, name=name, container=chosen, stdin=interactive, tty=use_tty)
        if not quiet:
            echo_err("If you don't see a command prompt, try pressing enter.")
        with raw_terminal(fd) if raw and fd is not None else contextlib.nullcontext():
            await _exec(start, interactive, use_tty, attach=True)
        if raw and not quiet:
            click.echo(f"Session ended, resume using 'podctl attach {name} -c {chosen} -i -t' command when the "
                       "pod is running")

    run(body)


# -- port-forward -------------------------------------------------------------------------

def parse_ports(specs: tuple[str, ...]) -> list[tuple[int, int]]:
    """(local, remote) pairs from LOCAL:REMOTE, PORT (the same both sides) or :REMOTE (any local port)."""
    pairs = []
    for spec in specs:
        local, sep, remote = spec.partition(":")
        if not sep:
            local = remote = spec
        if not remote:
            raise CliError("remote port cannot be empty")
        try:
            lport, rport = int(local or 0), int(remote)
        except ValueError:
            raise CliError(f"error parsing local port '{local}': invalid syntax" if not local.isdigit()
                           else f"error parsing remote port '{remote}': invalid syntax") from None
        if not 0 < rport < 65536 or not 0 <= lport < 65536:
            raise CliError(f"port {spec} is out of range: ports must be between 1 and 65535")
        pairs.append((lport, rport))
    return pairs


def _hosts(address: str) -> list[str]:
    hosts = []
    for part in address.split(","):
        hosts.extend(["127.0.0.1", "::1"] if part == "localhost" else [part])
    return hosts


async def _forward(client: Client, start: api.PortForwardStart, local: int, reader: asyncio.StreamReader,
                   writer: asyncio.StreamWriter) -> None:
    """One local connection, both ways, through the API server's PortForward stream."""
    click.echo(f"Handling connection for {local}")
    call = client.port_forward()
    await call.write(api.PortForwardInput(start=start))

    async def upstream() -> None:
        with contextlib.suppress(OSError, asyncio.InvalidStateError):
            while data := await reader.read(65536):
                await call.write(api.PortForwardInput(data=data))
            await call.write(api.PortForwardInput(close_write=True))
            await call.done_writing()

    pump = asyncio.create_task(upstream())
    try:
        async for out in call:
            which = out.WhichOneof("output")
            if which == "data":
                writer.write(out.data)
                await writer.drain()
            elif which == "closed":
                if writer.can_write_eof():
                    writer.write_eof()
            else:
                echo_err(f"error: an error occurred forwarding {local} -> {start.port}: {out.error}")
                pump.cancel()  # nothing more to send: the agent ends the call once we are done
                with contextlib.suppress(asyncio.InvalidStateError):
                    await call.done_writing()
    except grpc.RpcError as err:  # one connection's failure does not end the command
        echo_err(f"error: an error occurred forwarding {local} -> {start.port}: "
                 f"{errors.from_rpc_error(err).message}")
    except OSError as err:
        echo_err(f"error: an error occurred forwarding {local} -> {start.port}: {err}")
    finally:
        pump.cancel()
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


class _Listener:
    """One forwarded port: each accepted connection gets its own PortForward stream."""

    def __init__(self, client: Client, start: api.PortForwardStart, port: int) -> None:
        self.client, self.start, self.port = client, start, port  # port: 0 until bound
        self.tasks: set[asyncio.Task[None]] = set()

    def accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.create_task(_forward(self.client, self.start, self.port, reader, writer))
        self.tasks.add(task)  # held until done: the loop keeps only weak references
        task.add_done_callback(self.tasks.discard)


@cli.command("port-forward")
@click.argument("target")
@click.argument("ports", nargs=-1, required=True)
@click.option("--address", default="localhost", help="Addresses to listen on (comma-separated).")
@click.option("--pod-running-timeout", default="1m", help="Accepted for kubectl compatibility.")
@global_options
def port_forward(target: str, ports: tuple[str, ...], address: str, pod_running_timeout: str) -> None:
    """Forward local ports to a pod: podctl port-forward pod/NAME [LOCAL:]REMOTE..."""
    name = _pod_name(target)
    pairs = parse_ports(ports)
    namespace = current_namespace()

    async def body() -> None:
        async with connect() as client:
            pod: v1.Pod = await client.get("Pod", name, namespace)
            if pod.status.phase != "Running":
                raise CliError("unable to forward port because pod is not running. "
                               f"Current status={pod.status.phase or 'Pending'}")
            servers: list[asyncio.Server] = []
            for local, remote in pairs:
                listener = _Listener(client, api.PortForwardStart(namespace=namespace, name=name, port=remote),
                                     local)
                failures = []
                for host in _hosts(address):
                    try:
                        family = socket.AF_INET6 if ":" in host else socket.AF_INET
                        server = await asyncio.start_server(listener.accept, host, listener.port, family=family)
                    except OSError as err:
                        failures.append(f"unable to create listener: Error listen tcp {host}:{listener.port}: {err}")
                        continue
                    listener.port = server.sockets[0].getsockname()[1]  # the one chosen for port 0
                    servers.append(server)
                    shown = f"[{host}]" if ":" in host else host
                    click.echo(f"Forwarding from {shown}:{listener.port} -> {remote}")
                if len(failures) == len(_hosts(address)):
                    echo_err(f"Unable to listen on port {local}: Listeners failed to create with the following "
                             f"errors: [{' '.join(failures)}]")
            if not servers:
                raise CliError("unable to listen on any of the requested ports: "
                               + "[" + " ".join(f"{{{lo} {re}}}" for lo, re in pairs) + "]")
            sys.stdout.flush()
            await asyncio.Event().wait()  # until interrupted

    run(body)


# -- cp ----------------------------------------------------------------------------------

def _spec(arg: str) -> tuple[str, str, str]:
    """(namespace, pod, path) of [[namespace/]pod:]path; pod "" for a local path."""
    if ":" not in arg or arg.startswith(("/", ".")):
        return "", "", arg
    pod, _, path = arg.partition(":")
    namespace, _, pod_name = pod.rpartition("/")
    return namespace, pod_name, path


async def _run_in_pod(client: Client, start: api.ExecStart, stdin: bytes | None) -> tuple[bytes, bytes, int]:
    """Run a command to its end, feeding it `stdin`; (stdout, stderr, exit code)."""
    call = client.exec()
    await call.write(api.ExecInput(start=start))

    async def feed() -> None:
        if stdin is not None:
            for i in range(0, len(stdin), 1 << 20):
                await call.write(api.ExecInput(stdin=stdin[i:i + (1 << 20)]))
            await call.write(api.ExecInput(close_stdin=True))
        await call.done_writing()

    feeder = asyncio.create_task(feed())
    out, err, code = bytearray(), bytearray(), 0
    try:
        async for message in call:
            which = message.WhichOneof("output")
            if which == "stdout":
                out += message.stdout
            elif which == "stderr":
                err += message.stderr
            elif which == "exit_code":
                code = message.exit_code
    finally:
        feeder.cancel()
    return bytes(out), bytes(err), code


def make_tar(src: str, dest: str) -> bytes:
    """`src` (a file or a directory, recursively) as a tar whose entries are named under `dest`."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(src, arcname=dest.lstrip("/") or ".", recursive=True)
    return buffer.getvalue()


def untar(data: bytes, prefix: str, dest: str) -> list[str]:
    """Write the tar's entries under `prefix` to `dest` (the prefix stripped), as kubectl's untarAll;
    returns its warnings. Raises CliError for entries outside the prefix."""
    warnings = []
    root = os.path.abspath(dest)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for member in tar:
            if not member.name.startswith(prefix):
                raise CliError("tar contents corrupted")
            target = os.path.abspath(os.path.join(dest, member.name[len(prefix):].lstrip("/")))
            if target != root and not target.startswith(root + os.sep):
                warnings.append(f'warning: file "{target}" is outside target destination, skipping')
                continue
            if member.issym() or member.islnk():
                warnings.append(f'warning: skipping symlink: "{target}" -> "{member.linkname}"')
                continue
            if member.isdir():
                os.makedirs(target, exist_ok=True)
                continue
            os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
            source = tar.extractfile(member)
            if source is None:
                continue
            with open(target, "wb") as f:
                f.write(source.read())
    return warnings


@cli.command("cp")
@click.argument("src")
@click.argument("dest")
@click.option("-c", "--container", default="", help="The container to copy from or to.")
@click.option("--no-preserve", is_flag=True, help="Do not keep the files' ownership and permissions.")
@global_options
def cp(src: str, dest: str, container: str, no_preserve: bool) -> None:
    """Copy files to and from containers: podctl cp [[NS/]POD:]SRC [[NS/]POD:]DEST (tar must be in the image)."""
    (src_ns, src_pod, src_path), (dest_ns, dest_pod, dest_path) = _spec(src), _spec(dest)
    if src_pod and dest_pod:
        raise CliError("one of src or dest must be a local file specification")
    if not src_path or not dest_path:
        raise CliError("filepath can not be empty")
    if not src_pod and not dest_pod:
        raise CliError("one of src or dest must be a remote file specification")

    async def body() -> None:
        async with connect() as client:
            if src_pod:
                await _from_pod(client, src_ns or current_namespace(), src_pod, src_path, dest_path)
            else:
                await _to_pod(client, dest_ns or current_namespace(), dest_pod, src_path, dest_path)

    async def _from_pod(client: Client, namespace: str, pod: str, path: str, local: str) -> None:
        start = api.ExecStart(namespace=namespace, name=pod, container=container, command=["tar", "cf", "-", path])
        data, err, code = await _run_in_pod(client, start, None)
        if err:
            _out(sys.stdout, err)  # kubectl shows tar's own words on stdout
        if code:
            raise Exit(code)
        prefix = posixpath.normpath(path.lstrip("/"))
        while prefix.startswith("../"):
            prefix = prefix[3:]
        for warning in untar(data, "" if prefix == "." else prefix, local):
            echo_err(warning)

    async def _to_pod(client: Client, namespace: str, pod: str, local: str, path: str) -> None:
        if not os.path.exists(local):
            raise CliError(f"{local} doesn't exist in local filesystem")
        probe = api.ExecStart(namespace=namespace, name=pod, container=container, command=["test", "-d", path])
        _, _, code = await _run_in_pod(client, probe, None)
        target = posixpath.join(path, os.path.basename(os.path.normpath(local))) if code == 0 else path
        directory, base = posixpath.split(target)
        command = ["tar", "--no-same-permissions", "--no-same-owner", "-xmf", "-"] if no_preserve \
            else ["tar", "-xmf", "-"]
        if directory:
            command += ["-C", directory]
        start = api.ExecStart(namespace=namespace, name=pod, container=container, command=command, stdin=True)
        out, err, code = await _run_in_pod(client, start, make_tar(local, base))
        _out(sys.stdout, out)
        if err:
            _out(sys.stderr, err)
        if code:
            raise Exit(code)

    run(body)
