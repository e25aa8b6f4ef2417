"""Working with running pods: logs, exec, wait."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import click

from podctl._app import cli
from podctl._base import (
    CliError,
    Exit,
    connect,
    current_namespace,
    echo_err,
    global_options,
    parse_duration,
    run,
)
from podctl.commands._common import resolve_kind, split_refs
from podlab import errors
from podlab.kinds import Kind
from podlab.v1 import services_pb2 as api

DEPRECATED_EXEC = ("podctl exec [POD] [COMMAND] is DEPRECATED and will be removed in a future "
                   "version. Use podctl exec [POD] -- [COMMAND] instead.")
NO_TTY = "Unable to use a TTY - input is not a terminal or the right kind of file"


class DashCommand(click.Command):
    """A command that remembers whether its arguments had a `--` (kubectl's ArgsLenAtDash)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["podctl.dash"] = "--" in args
        return super().parse_args(ctx, args)


def _out(stream: Any, data: bytes) -> None:
    buffer = getattr(stream, "buffer", None)
    if buffer is not None:
        buffer.write(data)
    else:
        stream.write(data.decode(errors="replace"))
    stream.flush()


# -- logs --------------------------------------------------------------------------------

@cli.command("logs")
@click.argument("pod")
@click.argument("container_arg", required=False, metavar="[CONTAINER]")
@click.option("-c", "--container", default="", help="The container to read.")
@click.option("-f", "--follow", is_flag=True, help="Keep streaming new output.")
@click.option("-p", "--previous", is_flag=True, help="The previous (crashed) instance's logs.")
@click.option("--tail", type=int, default=-1, help="Only the last N lines.")
@click.option("--timestamps", is_flag=True, help="Prefix lines with their timestamps.")
@click.option("--since", default="", help="Only logs newer than this duration (5s, 2m, 3h).")
@global_options
def logs(pod: str, container_arg: str | None, container: str, follow: bool, previous: bool,
         tail: int, timestamps: bool, since: str) -> None:
    """Print a container's logs."""
    name = pod.split("/", 1)[1] if pod.startswith(("pod/", "pods/", "po/")) else pod
    request = api.LogsRequest(namespace=current_namespace(), name=name,
                              container=container or container_arg or "", follow=follow,
                              previous=previous, timestamps=timestamps)
    if tail >= 0:
        request.tail_lines = tail
    if since:
        request.since_seconds = int(parse_duration(since, "since"))

    async def body() -> None:
        async with connect() as client:
            async for chunk in client.logs(request):
                _out(sys.stdout, chunk.data)

    run(body)


# -- exec --------------------------------------------------------------------------------

@contextlib.contextmanager
def raw_terminal(fd: int) -> Iterator[None]:
    """The local terminal in raw mode for the duration; restored however we leave."""
    import termios
    import tty

    saved = termios.tcgetattr(fd)
    try:
        tty.setraw(fd)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def terminal_size() -> api.TerminalSize:
    size = os.get_terminal_size(sys.stdout.fileno() if sys.stdout.isatty() else 0)
    return api.TerminalSize(width=size.columns, height=size.lines)


def _stdin_fd() -> int | None:
    try:
        return sys.stdin.fileno()
    except (AttributeError, OSError, ValueError):
        return None


def start_stdin_bridge(loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[bytes]) -> None:
    """The one thread podctl needs: blocking reads of stdin, handed to the event loop.
    b"" marks end of input. A daemon, so a never-ending stdin never holds the exit."""
    fd = _stdin_fd()
    buffer = getattr(sys.stdin, "buffer", None)

    def pump() -> None:
        while True:
            try:
                if fd is not None and os.isatty(fd):
                    data = os.read(fd, 4096)
                elif buffer is not None:
                    data = buffer.read1(4096) if hasattr(buffer, "read1") else buffer.read(4096)
                else:
                    data = sys.stdin.read(4096).encode()
            except (OSError, ValueError):
                data = b""
            loop.call_soon_threadsafe(queue.put_nowait, data)
            if not data:
                return

    threading.Thread(target=pump, name="podctl-stdin-bridge", daemon=True).start()


@cli.command("exec", cls=DashCommand)
@click.argument("pod")
@click.argument("command", nargs=-1)
@click.option("-c", "--container", default="", help="The container to run in.")
@click.option("-i", "--stdin", "interactive", is_flag=True, help="Pass stdin to the command.")
@click.option("-t", "--tty", is_flag=True, help="Stdin is a TTY.")
@global_options
@click.pass_context
def exec_(ctx: click.Context, pod: str, command: tuple[str, ...], container: str,
          interactive: bool, tty: bool) -> None:
    """Run a command in a container: podctl exec POD [-c C] [-i] [-t] -- CMD..."""
    if not command:
        raise CliError("you must specify at least one command for the container")
    if not ctx.meta.get("podctl.dash"):
        echo_err(DEPRECATED_EXEC)
    name = pod.split("/", 1)[1] if pod.startswith(("pod/", "pods/", "po/")) else pod
    fd = _stdin_fd()
    if tty and not (interactive and fd is not None and os.isatty(fd)):
        if interactive:
            echo_err(NO_TTY)
        tty = False
    start = api.ExecStart(namespace=current_namespace(), name=name, container=container,
                          command=list(command), stdin=interactive, tty=tty)

    async def body() -> None:
        code = await _exec(start, interactive, tty)
        if code:
            if not tty:
                echo_err(f"command terminated with exit code {code}")
            raise Exit(code)

    if tty and fd is not None:
        with raw_terminal(fd):
            run(body)
    else:
        run(body)


async def _exec(start: api.ExecStart, interactive: bool, tty: bool, attach: bool = False) -> int:
    """Bridge the terminal to an exec (or, with `attach`, an attach); the remote exit code."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    async with connect() as client:
        call = client.attach() if attach else client.exec()
        await call.write(api.ExecInput(start=start))
        if tty:
            with contextlib.suppress(OSError):
                await call.write(api.ExecInput(resize=terminal_size()))
            loop.add_signal_handler(signal.SIGWINCH, lambda: queue.put_nowait(b"\0resize"))

        async def feed() -> None:
            if interactive:
                start_stdin_bridge(loop, queue)
            while interactive:
                data = await queue.get()
                if data == b"\0resize":
                    await call.write(api.ExecInput(resize=terminal_size()))
                elif data:
                    await call.write(api.ExecInput(stdin=data))
                else:
                    await call.write(api.ExecInput(close_stdin=True))
                    break
            await call.done_writing()

        feeder = asyncio.create_task(feed())
        code = 0
        try:
            async for out in call:
                which = out.WhichOneof("output")
                if which == "stdout":
                    _out(sys.stdout, out.stdout)
                elif which == "stderr":
                    _out(sys.stderr, out.stderr)
                elif which == "exit_code":
                    code = out.exit_code
        finally:
            feeder.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await feeder
            if tty:
                loop.remove_signal_handler(signal.SIGWINCH)
    return code


# -- wait --------------------------------------------------------------------------------

def parse_for(condition: str) -> tuple[str, str, str]:
    """("delete", "", "") or ("condition", Type, "True"/"False") from --for."""
    if condition == "delete":
        return "delete", "", ""
    what, _, rest = condition.partition("=")
    if what != "condition" or not rest:
        raise CliError(f"unrecognized condition: {condition!r}")
    cond, _, value = rest.partition("=")
    return "condition", cond, (value or "true").capitalize()


def condition_met(obj: Any, cond: str, value: str) -> bool:
    conditions = getattr(getattr(obj, "status", None), "conditions", [])
    return any(c.type.lower() == cond.lower() and c.status == value for c in conditions)


@cli.command("wait")
@click.argument("resource")
@click.argument("names", nargs=-1)
@click.option("--for", "for_", required=True, help="condition=Ready[=true] or delete.")
@click.option("--timeout", default="30s", help="Give up after this long.")
@click.option("-l", "--selector", default="", help="Wait for the objects matching this.")
@click.option("--all", "all_", is_flag=True, help="Wait for every object of the type.")
@global_options
def wait(resource: str, names: tuple[str, ...], for_: str, timeout: str, selector: str,
         all_: bool) -> None:
    """Wait for a condition on objects: podctl wait --for=condition=Ready pod/x."""
    mode, cond, value = parse_for(for_)
    limit = parse_duration(timeout)
    namespace = current_namespace()
    refs = split_refs(resource, names) if (names or "/" in resource) else []

    async def body() -> int:
        async with connect() as client:
            targets: list[tuple[Kind, str]] = refs
            if not refs:
                kind = resolve_kind(resource)
                if not (selector or all_):
                    raise CliError("resource(s) were provided, but no name was specified")
                objs, _ = await client.list(kind.name, namespace, selector)
                targets = [(kind, o.metadata.name) for o in objs]
                if not targets:
                    raise CliError("no matching resources found")
            deadline = time.monotonic() + limit
            for kind, name in targets:
                while True:
                    try:
                        obj = await client.get(kind.name, name, namespace)
                        done = mode == "condition" and condition_met(obj, cond, value)
                    except errors.NotFound:
                        if mode == "condition":
                            raise
                        done = True
                    if done:
                        click.echo(f"{kind.name.lower()}/{name} condition met")
                        break
                    if time.monotonic() >= deadline:
                        raise CliError(f"timed out waiting for the condition on "
                                       f"{kind.plural}/{name}")
                    await asyncio.sleep(min(0.25, max(0.0, deadline - time.monotonic())))
        return 0

    run(body)
