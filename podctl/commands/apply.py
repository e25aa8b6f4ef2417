"""Writing objects: apply, create (-f, configmap, secret generic), replace, delete."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import click
from google.protobuf.message import Message

from podctl._app import cli
from podctl._base import (
    CliError,
    api_error_line,
    connect,
    current_namespace,
    echo_err,
    global_options,
    namespace_given,
    parse_duration,
    run,
)
from podctl._objects import from_dict, to_dict
from podctl.commands._common import (
    load_files,
    quoted_ref,
    resolve_kind,
    split_refs,
)
from podctl.commands._write import WRITE, Write, dry_run_option, write_from, write_options
from podlab import errors
from podlab.client import Client
from podlab.kinds import kind_of
from podlab.names import BACKGROUND, FOREGROUND, ORPHAN
from podlab.v1 import objects_pb2 as v1

FORCE_WARNING = ("Warning: Immediate deletion does not wait for confirmation that the running "
                 "resource has been terminated. The resource may continue to run on the cluster "
                 "indefinitely.")
# Fields the server owns: apply never compares or sends them from the manifest.
SERVER_FIELDS = ("uid", "resourceVersion", "creationTimestamp", "deletionTimestamp",
                 "deletionGracePeriodSeconds", "generation")


def files_option(f: Any) -> Any:
    return click.option("-f", "--filename", "filenames", multiple=True,
                        help="A manifest file, a directory of them, or - for stdin.")(f)


def _with_namespace(obj: Message, namespace: str) -> Message:
    if kind_of(obj).namespaced and not obj.metadata.namespace:
        obj.metadata.namespace = namespace
    return obj


# -- apply -------------------------------------------------------------------------------

def merge(live: Any, desired: Any) -> Any:
    """`desired` laid over `live`: maps merge key by key, lists of named items merge by
    name (containers, env, volumes), other lists and scalars are replaced. Fields the
    manifest leaves out keep their live (defaulted) values."""
    if isinstance(live, dict) and isinstance(desired, dict):
        out = dict(live)
        for key, value in desired.items():
            out[key] = merge(live[key], value) if key in live else value
        return out
    if isinstance(live, list) and isinstance(desired, list):
        if all(isinstance(x, dict) and "name" in x for x in live + desired):
            by_name = {x["name"]: x for x in live}
            return [merge(by_name[x["name"]], x) if x["name"] in by_name else x for x in desired]
        if len(live) == len(desired) and all(isinstance(x, dict) for x in live + desired):
            return [merge(a, b) for a, b in zip(live, desired, strict=True)]
    return desired


async def apply_one(client: Client, obj: Message, write: Write = WRITE) -> tuple[Message, str]:
    """Create or update one object (as `write` says: or only pretend to); returns the object as it is
    (or would be) and "created", "configured" or "unchanged"."""
    kind = kind_of(obj)
    meta = obj.metadata
    try:
        live = await client.get(kind.name, meta.name, meta.namespace)
    except errors.NotFound:
        if write.sends:
            obj = await client.create(obj, dry_run=write.server_dry_run)
        return obj, "created"
    desired = to_dict(obj)
    desired.pop("status", None)
    for key in SERVER_FIELDS:
        desired.get("metadata", {}).pop(key, None)
    live_dict = to_dict(live)
    merged = merge(live_dict, desired)
    if merged == live_dict:
        return live, "unchanged"
    updated = from_dict(merged, kind.message)
    updated.metadata.resource_version = live.metadata.resource_version
    if write.sends:
        updated = await client.update(updated, dry_run=write.server_dry_run)
    return updated, "configured"


async def _each(objs: Sequence[tuple[str, Message]], action: Any, write: Write = WRITE) -> int:
    """Run `action` on every object, reporting each result; errors do not stop the rest."""
    failed = 0
    for _, obj in objs:
        try:
            written, verb = await action(obj)
            write.report(written, verb)
        except errors.ApiError as err:
            echo_err(api_error_line(err))
            failed = 1
    return failed


@cli.command("apply")
@files_option
@write_options
@global_options
def apply(filenames: tuple[str, ...], dry_run: str, output: str | None, template: str | None) -> None:
    """Create objects from manifests, or update the ones that exist."""
    write = write_from(dry_run, output, template)
    objs = load_files(filenames)
    namespace = current_namespace()

    async def body() -> int:
        async with connect() as client:
            return await _each(objs, lambda o: apply_one(client, _with_namespace(o, namespace), write), write)

    run(body)


# -- create ------------------------------------------------------------------------------

@cli.group("create", invoke_without_command=True)
@files_option
@write_options
@global_options
@click.pass_context
def create(ctx: click.Context, filenames: tuple[str, ...], dry_run: str, output: str | None,
           template: str | None) -> None:
    """Create objects from manifests (-f), or a configmap or secret from literals and files."""
    if ctx.invoked_subcommand is not None:
        return
    write = write_from(dry_run, output, template)
    objs = [(source, _with_namespace(o, current_namespace())) for source, o in load_files(filenames)]

    async def body() -> int:
        async with create_client(write) as client:
            return await _each(objs, lambda o: create_one(client, o, write), write)

    run(body)


@contextlib.asynccontextmanager
async def create_client(write: Write) -> AsyncIterator[Client | None]:
    """The connection a create needs: none for a client dry run, which sends nothing."""
    if not write.sends:
        yield None
        return
    async with connect() as client:
        yield client


async def create_one(client: Client | None, obj: Message, write: Write) -> tuple[Message, str]:
    """Create `obj` as `write` says; the object as stored (or as it would be) and "created"."""
    if client is not None:
        obj = await client.create(obj, dry_run=write.server_dry_run)
    return obj, "created"


def _data_items(literals: Sequence[str], files: Sequence[str]) -> list[tuple[str, bytes]]:
    items: list[tuple[str, bytes]] = []
    for literal in literals:
        key, sep, value = literal.partition("=")
        if not sep or not key:
            raise CliError(f"invalid literal source {literal}, expected key=value")
        items.append((key, value.encode()))
    for spec in files:
        key, sep, path = spec.partition("=")
        if not sep:
            key, path = os.path.basename(spec), spec
        if not os.path.exists(path):
            raise CliError(f"error reading {path}: no such file or directory")
        if os.path.isdir(path):
            for name in sorted(os.listdir(path)):
                full = os.path.join(path, name)
                if os.path.isfile(full):
                    with open(full, "rb") as fh:
                        items.append((name, fh.read()))
            continue
        with open(path, "rb") as fh:
            items.append((key, fh.read()))
    seen: set[str] = set()
    for key, _ in items:
        if key in seen:
            raise CliError(f'cannot add key "{key}", another key by that name already exists')
        seen.add(key)
    return items


def create_object(obj: Message, write: Write) -> None:
    """Create one object the command built, and report it as `write` says. What a client dry run
    prints names no namespace unless one was given (-n), as kubectl's does: a manifest to apply anywhere."""
    if not write.sends and not namespace_given():
        obj.metadata.namespace = ""

    async def body() -> None:
        async with create_client(write) as client:
            write.report(*await create_one(client, obj, write))

    run(body)


@create.command("configmap")
@click.argument("name")
@click.option("--from-literal", "literals", multiple=True, help="key=value")
@click.option("--from-file", "files", multiple=True, help="[key=]path, or a directory")
@write_options
@global_options
def create_configmap(name: str, literals: tuple[str, ...], files: tuple[str, ...], dry_run: str,
                     output: str | None, template: str | None) -> None:
    """Create a configmap from literals and files."""
    write = write_from(dry_run, output, template)
    cm = v1.ConfigMap(api_version="v1", kind="ConfigMap",
                      metadata=v1.ObjectMeta(name=name, namespace=current_namespace()))
    for key, value in _data_items(literals, files):
        try:
            cm.data[key] = value.decode()
        except UnicodeDecodeError:
            cm.binary_data[key] = value
    create_object(cm, write)


@create.command("secret")
@click.argument("secret_type", metavar="generic")
@click.argument("name")
@click.option("--from-literal", "literals", multiple=True, help="key=value")
@click.option("--from-file", "files", multiple=True, help="[key=]path, or a directory")
@click.option("--type", "type_", default="Opaque", help="The secret's type.")
@write_options
@global_options
def create_secret(secret_type: str, name: str, literals: tuple[str, ...], files: tuple[str, ...],
                  type_: str, dry_run: str, output: str | None, template: str | None) -> None:
    """Create a secret: `create secret generic NAME --from-literal k=v --from-file f`."""
    write = write_from(dry_run, output, template)
    if secret_type != "generic":
        raise CliError(f'unknown secret type "{secret_type}": only generic is supported')
    secret = v1.Secret(api_version="v1", kind="Secret", type=type_,
                       metadata=v1.ObjectMeta(name=name, namespace=current_namespace()))
    for key, value in _data_items(literals, files):
        secret.data[key] = value
    create_object(secret, write)


# -- delete ------------------------------------------------------------------------------

async def wait_gone(client: Client, obj: Message, timeout: float) -> bool:
    """Poll until `obj` (this incarnation) is gone; False on timeout."""
    kind = kind_of(obj)
    meta = obj.metadata
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            current = await client.get(kind.name, meta.name, meta.namespace)
        except errors.NotFound:
            return True
        if meta.uid and current.metadata.uid != meta.uid:
            return True
        await asyncio.sleep(0.25)
    return False


def grace_for(grace_period: int, force: bool, now: bool) -> int | None:
    """kubectl's rules: --now is 1s; --grace-period=0 without --force becomes 1; --force
    alone means 0; -1 leaves it to the object."""
    if now:
        grace_period = 1
    if grace_period == 0 and not force:
        grace_period = 1
    if force and grace_period < 0:
        grace_period = 0
    return None if grace_period < 0 else grace_period


_GO_TRUE, _GO_FALSE = ("1", "t", "T", "TRUE", "true", "True"), ("0", "f", "F", "FALSE", "false", "False")
CASCADES = {"background": BACKGROUND, "foreground": FOREGROUND, "orphan": ORPHAN}


def propagation_for(cascade: str) -> str:
    """kubectl's --cascade: background, foreground or orphan; the deprecated booleans with its warning."""
    if cascade in CASCADES:
        return CASCADES[cascade]
    if cascade in _GO_TRUE + _GO_FALSE:
        replacement = "background" if cascade in _GO_TRUE else "orphan"
        echo_err(f"warning: --cascade={cascade} is deprecated (boolean value) and can be replaced with "
                 f"--cascade={replacement}.")
        return CASCADES[replacement]
    raise CliError(f'invalid cascade value ({cascade}). Must be "background", "foreground", or "orphan"')


async def delete_objects(client: Client, objs: Sequence[Message], grace: int | None,
                         force: bool, wait: bool, timeout: float, propagation: str = "",
                         write: Write = WRITE) -> int:
    failed = 0
    for obj in objs:
        meta = obj.metadata
        try:
            if write.sends:
                deleted, removed = await client.delete(kind_of(obj).name, meta.name, meta.namespace,
                                                       grace_period_seconds=grace, propagation_policy=propagation,
                                                       dry_run=write.server_dry_run)
            else:  # a client dry run: what exists would be deleted
                deleted, removed = await client.get(kind_of(obj).name, meta.name, meta.namespace), True
        except errors.ApiError as err:
            echo_err(api_error_line(err))
            failed = 1
            continue
        write.report(deleted, "force deleted" if force and grace == 0 else "deleted", quoted_ref(obj))
        if wait and not removed and write.dry_run == "none":
            wait_for = timeout or float((grace if grace is not None else 30) + 60)
            if not await wait_gone(client, deleted, wait_for):
                echo_err(f"error: timed out waiting for the condition on "
                         f"{kind_of(obj).plural}/{meta.name}")
                failed = 1
    return failed


@cli.command("delete")
@click.argument("resource", required=False)
@click.argument("names", nargs=-1)
@files_option
@click.option("--all", "all_", is_flag=True, help="Delete every object of the type.")
@click.option("-l", "--selector", default="", help="Delete the objects matching this selector.")
@click.option("--grace-period", type=int, default=-1, help="Seconds to let the pod stop.")
@click.option("--force", is_flag=True, help="Remove at once, without waiting for the node.")
@click.option("--now", is_flag=True, help="Same as --grace-period=1.")
@click.option("--wait/--no-wait", default=True, help="Wait until the objects are gone.")
@click.option("--timeout", default="0s", help="How long to wait (0: grace period + 60s).")
@click.option("--cascade", default="background", is_flag=False, flag_value="background",
              help='Must be "background", "orphan", or "foreground": what happens to the dependents '
                   "(the pods of a ReplicaSet). Defaults to background.")
@dry_run_option
@global_options
def delete(resource: str | None, names: tuple[str, ...], filenames: tuple[str, ...], all_: bool,
           selector: str, grace_period: int, force: bool, now: bool, wait: bool,
           timeout: str, cascade: str, dry_run: str) -> None:
    """Delete objects by name, by manifest (-f), by selector (-l) or all of a type (--all)."""
    write = write_from(dry_run)
    namespace = current_namespace()
    propagation = propagation_for(cascade)
    grace = grace_for(grace_period, force, now)
    wait_timeout = parse_duration(timeout)
    targets: list[Message] = []
    kind = None
    if filenames:
        targets = [_with_namespace(o, namespace) for _, o in load_files(filenames)]
    elif resource is None:
        raise CliError("You must provide one or more resources by argument or filename.")
    elif names:
        for ref_kind, name in split_refs(resource, names):
            targets.append(_ref_object(ref_kind, name, namespace))
    elif "/" in resource:
        targets = [_ref_object(k, n, namespace) for k, n in split_refs(resource, ())]
    else:
        kind = resolve_kind(resource)
        if not all_ and not selector:
            raise CliError("resource(s) were provided, but no name was specified")

    async def body() -> int:
        if force and grace == 0:
            echo_err(FORCE_WARNING)
        async with connect() as client:
            objs = targets
            if kind is not None:
                objs, _ = await client.list(kind.name, namespace, selector)
                if not objs:
                    echo_err("No resources found")
                    return 0
            return await delete_objects(client, objs, grace, force, wait, wait_timeout, propagation, write)

    run(body)


def _ref_object(kind: Any, name: str, namespace: str) -> Message:
    obj = kind.message()
    obj.metadata.name = name
    obj.metadata.namespace = namespace if kind.namespaced else ""
    return obj


# -- replace -----------------------------------------------------------------------------

@cli.command("replace")
@files_option
@click.option("--force", is_flag=True, help="Delete the object, wait until it is gone, create.")
@click.option("--grace-period", type=int, default=-1, help="With --force: the grace period.")
@click.option("--timeout", default="0s", help="With --force: how long to wait for the delete.")
@global_options
def replace(filenames: tuple[str, ...], force: bool, grace_period: int, timeout: str) -> None:
    """Replace objects with the manifests' version (--force: delete and re-create)."""
    namespace = current_namespace()
    objs = [(s, _with_namespace(o, namespace)) for s, o in load_files(filenames)]
    wait_timeout = parse_duration(timeout)
    grace = grace_for(grace_period, False, False) if force else None

    async def replaced(client: Client, obj: Message) -> tuple[Message, str]:
        kind = kind_of(obj)
        meta = obj.metadata
        if force:
            try:
                deleted, removed = await client.delete(kind.name, meta.name, meta.namespace,
                                                       grace_period_seconds=grace)
                click.echo(f"{quoted_ref(obj)} deleted")
                if not removed:
                    limit = wait_timeout or float((grace if grace is not None else 30) + 60)
                    if not await wait_gone(client, deleted, limit):
                        raise CliError(f"timed out waiting for the condition on "
                                       f"{kind.plural}/{meta.name}")
            except errors.NotFound:
                pass
            return await client.create(obj), "replaced"
        live = await client.get(kind.name, meta.name, meta.namespace)
        obj.metadata.resource_version = live.metadata.resource_version
        return await client.update(obj), "replaced"

    async def body() -> int:
        async with connect() as client:
            return await _each(objs, lambda o: replaced(client, o))

    run(body)


__all__ = ["apply_one", "create_object", "merge"]
