"""What every podctl command shares: global options, the connection, and error reporting.

Every command body is a coroutine run under one `asyncio.run` by `run()`.
Failures surface as one line on stderr and exit code 1, as kubectl's do:
`CliError` for the client's own errors, `ApiError` for the server's.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import click
import grpc

from podlab import errors
from podlab.client import Client
from podlab.config import resolve_server, strip_scheme
from podlab.names import namespace_or_default

F = TypeVar("F", bound=Callable[..., Any])

CONNECT_TIMEOUT = 3.0


class CliError(Exception):
    """A failure podctl reports itself: printed as `error: <message>` unless `raw`."""

    def __init__(self, message: str, raw: bool = False, code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.raw = raw
        self.code = code


class Exit(Exception):
    """Leave with `code` and nothing more to say (exec's remote exit code)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def api_error_line(err: errors.ApiError, server: str = "") -> str:
    """The one line kubectl would print for a server error."""
    if isinstance(err, errors.Invalid):
        return err.message
    if isinstance(err, errors.Unavailable):
        return f"Unable to connect to the server: {err.message}"
    return f"Error from server ({err.reason}): {err.message}"


def echo_err(line: str) -> None:
    click.echo(line, err=True)


# -- global options ------------------------------------------------------------------

def _remember(key: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value:
            ctx.find_root().meta[f"podctl.{key}"] = value
        return value
    return callback


def global_options(f: F) -> F:
    """-s/--server and -n/--namespace, accepted by every command as kubectl's are."""
    f = click.option("-n", "--namespace", metavar="NS", expose_value=False,
                     callback=_remember("namespace"),
                     help="The namespace for this request.")(f)
    f = click.option("-s", "--server", metavar="HOST:PORT", expose_value=False,
                     callback=_remember("server"),
                     help="The API server (default: $PODLAB_SERVER, ~/.podlab/config, "
                          "127.0.0.1:7443).")(f)
    return f


def current_server() -> str:
    ctx = click.get_current_context()
    return strip_scheme(resolve_server(ctx.find_root().meta.get("podctl.server")))


def current_namespace() -> str:
    ctx = click.get_current_context()
    return namespace_or_default(str(ctx.find_root().meta.get("podctl.namespace") or ""))


def namespace_given() -> bool:
    return bool(click.get_current_context().find_root().meta.get("podctl.namespace"))


# -- connection ------------------------------------------------------------------------

def _split(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise CliError(f'invalid server address "{address}": want host:port')
    return host.strip("[]") or "127.0.0.1", int(port)


async def probe(address: str, timeout: float = CONNECT_TIMEOUT) -> None:
    """Fail fast, with kubectl's wording, when nothing listens at `address`."""
    host, port = _split(address)
    prefix = f"Unable to connect to the server: {address}"
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except TimeoutError:
        raise CliError(f"{prefix}: i/o timeout - is the control plane running?",
                       raw=True) from None
    except ConnectionRefusedError:
        raise CliError(f"{prefix}: connection refused - is the control plane running?",
                       raw=True) from None
    except socket.gaierror:
        raise CliError(f"{prefix}: lookup {host}: no such host", raw=True) from None
    except OSError as err:
        reason = (err.strerror or str(err)).lower()
        raise CliError(f"{prefix}: {reason}", raw=True) from None
    writer.close()


@asynccontextmanager
async def connect() -> Any:
    """A Client for the current server, after checking that something listens there."""
    address = current_server()
    await probe(address)
    client = Client(address)
    try:
        yield client
    finally:
        await client.close()


# -- running a command ------------------------------------------------------------------

def run(body: Callable[[], Awaitable[int | None]]) -> None:
    """Run an async command body; map every failure to one stderr line and an exit code."""
    code = 0
    try:
        code = asyncio.run(_guarded(body)) or 0
    except KeyboardInterrupt:
        code = 130
    except CliError as err:
        echo_err(err.message if err.raw else f"error: {err.message}")
        code = err.code
    except errors.ApiError as err:
        echo_err(api_error_line(err))
        code = 1
    except Exit as err:
        code = err.code
    except Exception as err:  # a bug: still one line, unless PODCTL_DEBUG asks for the trace
        if os.environ.get("PODCTL_DEBUG"):
            raise
        echo_err(f"error: {type(err).__name__}: {err}")
        code = 1
    sys.stdout.flush()
    raise SystemExit(code)


async def _guarded(body: Callable[[], Awaitable[int | None]]) -> int | None:
    try:
        return await body()
    except BaseExceptionGroup as group:  # from a TaskGroup: report the first real failure
        raise _first(group) from None
    except grpc.RpcError as err:  # raw streams (logs, exec) raise these directly
        raise errors.from_rpc_error(err) from None
    except TimeoutError:
        raise CliError("timed out waiting for the condition") from None


def _first(group: BaseExceptionGroup) -> BaseException:
    leaf: BaseException = group
    while isinstance(leaf, BaseExceptionGroup):
        leaf = leaf.exceptions[0]
    if isinstance(leaf, grpc.RpcError):
        return errors.from_rpc_error(leaf)
    return leaf


def parse_duration(text: str, what: str = "timeout") -> float:
    """Seconds in a kubectl duration: "30s", "2m", "1h", "1m30s", "500ms", or a bare number."""
    text = text.strip()
    if not text:
        raise CliError(f"invalid {what}: empty")
    try:
        return float(text)
    except ValueError:
        pass
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    total, number = 0.0, ""
    i = 0
    while i < len(text):
        c = text[i]
        if c.isdigit() or c == ".":
            number += c
            i += 1
            continue
        unit = "ms" if text.startswith("ms", i) else c
        if unit not in units or not number:
            raise CliError(f'invalid {what} "{text}": want a duration such as 30s or 2m')
        total += float(number) * units[unit]
        number = ""
        i += len(unit)
    if number:
        raise CliError(f'invalid {what} "{text}": missing unit in duration')
    return total
