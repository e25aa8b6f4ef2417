"""Changing nodes and pods in place: cordon, uncordon, taint, label, drain, evict."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
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
    parse_duration,
    run,
)
from podctl.commands._common import ref_name, resolve_kind
from podctl.commands.apply import wait_gone
from podlab import errors
from podlab.client import Client
from podlab.kinds import Kind
from podlab.names import TERMINAL_PHASES
from podlab.v1 import objects_pb2 as v1


async def mutate(client: Client, kind: Kind | str, name: str, namespace: str,
                 change: Callable[[Any], str | None]) -> tuple[Message, str | None]:
    """Read, change, write back; retry on conflicts. `change` returns a verb, or None when
    there is nothing to write."""
    for attempt in range(10):
        obj = await client.get(kind if isinstance(kind, str) else kind.name, name, namespace)
        verb = change(obj)
        if verb is None:
            return obj, None
        try:
            return await client.update(obj), verb
        except errors.Conflict:
            await asyncio.sleep(0.05 * (attempt + 1))
    raise CliError(f"could not update {name}: too many conflicting writes")


def _set_unschedulable(value: bool) -> Callable[[v1.Node], str | None]:
    def change(node: v1.Node) -> str | None:
        if node.spec.unschedulable == value:
            return None
        node.spec.unschedulable = value
        return "cordoned" if value else "uncordoned"
    return change


def _cordon(names: tuple[str, ...], value: bool) -> None:
    async def body() -> None:
        async with connect() as client:
            for name in names:
                node, verb = await mutate(client, "Node", name, "", _set_unschedulable(value))
                word = "cordoned" if value else "uncordoned"
                click.echo(f"node/{name} {verb or 'already ' + word}")

    run(body)


@cli.command("cordon")
@click.argument("names", nargs=-1, required=True)
@global_options
def cordon(names: tuple[str, ...]) -> None:
    """Mark nodes unschedulable."""
    _cordon(names, True)


@cli.command("uncordon")
@click.argument("names", nargs=-1, required=True)
@global_options
def uncordon(names: tuple[str, ...]) -> None:
    """Mark nodes schedulable again."""
    _cordon(names, False)


# -- taint -------------------------------------------------------------------------------

def parse_taints(specs: tuple[str, ...]) -> tuple[list[v1.Taint], list[v1.Taint]]:
    """(to add, to remove) from `key=value:Effect`, `key:Effect-` and `key-`."""
    add: list[v1.Taint] = []
    remove: list[v1.Taint] = []
    for spec in specs:
        removing = spec.endswith("-")
        body = spec[:-1] if removing else spec
        keyval, _, effect = body.partition(":")
        key, _, value = keyval.partition("=")
        if effect and effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
            raise CliError(f"invalid taint effect: {effect}, unsupported taint effect")
        if not key or (not removing and not effect):
            raise CliError(f"invalid taint spec: {spec}")
        (remove if removing else add).append(v1.Taint(key=key, value=value, effect=effect))
    return add, remove


@cli.command("taint")
@click.argument("resource")
@click.argument("name")
@click.argument("taints", nargs=-1, required=True)
@click.option("--overwrite", is_flag=True, help="Replace a taint with the same key and effect.")
@global_options
def taint(resource: str, name: str, taints: tuple[str, ...], overwrite: bool) -> None:
    """Add (key=value:Effect) or remove (key:Effect-, key-) taints on a node."""
    if resolve_kind(resource).name != "Node":
        raise CliError(f'taint applies to nodes only, not "{resource}"')
    add, remove = parse_taints(taints)

    def change(node: v1.Node) -> str | None:
        kept = []
        removed = False
        for t in node.spec.taints:
            if any(r.key == t.key and r.effect in ("", t.effect) for r in remove):
                removed = True
                continue
            clash = [a for a in add if a.key == t.key and a.effect == t.effect]
            if clash and not overwrite:
                raise CliError(f"node {name} already has {t.key} taint(s) with same effect(s) "
                               "and --overwrite is false")
            if not clash:
                kept.append(t)
        if remove and not removed:
            raise CliError(f"taint {remove[0].key!r} not found")
        node.spec.ClearField("taints")
        node.spec.taints.extend(kept + add)
        return "tainted" if add else "untainted"

    async def body() -> None:
        async with connect() as client:
            _, verb = await mutate(client, "Node", name, "", change)
        click.echo(f"node/{name} {verb}")

    run(body)


# -- label -------------------------------------------------------------------------------

@cli.command("label")
@click.argument("resource")
@click.argument("name")
@click.argument("labels", nargs=-1, required=True)
@click.option("--overwrite", is_flag=True, help="Replace existing values.")
@global_options
def label(resource: str, name: str, labels: tuple[str, ...], overwrite: bool) -> None:
    """Set (k=v) or remove (k-) labels on an object."""
    kind = resolve_kind(resource)
    namespace = current_namespace()

    def change(obj: Any) -> str | None:
        current = obj.metadata.labels
        before = dict(current)
        for spec in labels:
            if spec.endswith("-") and "=" not in spec:
                current.pop(spec[:-1], None)
                continue
            key, sep, value = spec.partition("=")
            if not sep or not key:
                raise CliError(f"invalid label spec: {spec}")
            if key in current and current[key] != value and not overwrite:
                raise CliError(f"'{key}' already has a value ({current[key]}), and --overwrite "
                               "is false")
            current[key] = value
        if dict(current) == before:
            return None
        return "labeled" if len(current) >= len(before) else "unlabeled"

    async def body() -> None:
        async with connect() as client:
            obj, verb = await mutate(client, kind, name, namespace, change)
        click.echo(f"{ref_name(obj)} {verb or 'not labeled'}")

    run(body)


# -- drain and evict ---------------------------------------------------------------------

async def evict_and_wait(client: Client, pod: v1.Pod, grace: int | None, timeout: float) -> None:
    await client.evict(pod.metadata.namespace, pod.metadata.name, grace_period_seconds=grace,
                       reason="Evicted", message="evicted by podctl")
    if not await wait_gone(client, pod, timeout):
        raise CliError(f"timed out waiting for the condition on pods/{pod.metadata.name}")
    click.echo(f"pod/{pod.metadata.name} evicted")


@cli.command("drain")
@click.argument("name")
@click.option("--force", is_flag=True, help="Also evict pods that will not come back (restartPolicy Never).")
@click.option("--grace-period", type=int, default=-1, help="Seconds each pod gets to stop.")
@click.option("--timeout", default="0s", help="Give up after this long (0: no limit).")
@click.option("--ignore-daemonsets", is_flag=True, help="Accepted for kubectl compatibility.")
@click.option("--delete-emptydir-data", is_flag=True, help="Evict pods with emptyDir volumes.")
@global_options
def drain(name: str, force: bool, grace_period: int, timeout: str, ignore_daemonsets: bool,
          delete_emptydir_data: bool) -> None:
    """Cordon a node, then evict every pod on it."""
    limit = parse_duration(timeout) or 3600.0
    grace = None if grace_period < 0 else grace_period

    async def body() -> int:
        async with connect() as client:
            _, verb = await mutate(client, "Node", name, "", _set_unschedulable(True))
            click.echo(f"node/{name} {verb or 'already cordoned'}")
            pods, _ = await client.list(v1.Pod, field_selector=f"spec.nodeName={name}")
            pods = [p for p in pods if p.spec.node_name == name
                    and p.status.phase not in TERMINAL_PHASES]
            # An evicted pod that would restart comes back elsewhere as a new pod (podlab's
            # stand-in for kubectl's "managed by a controller"); a Never pod would be lost.
            unmanaged = [p for p in pods if p.spec.restart_policy == "Never" and not p.metadata.owner_references]
            if unmanaged and not force:
                listed = ", ".join(f"{p.metadata.namespace}/{p.metadata.name}" for p in unmanaged)
                raise CliError(f'unable to drain node "{name}" due to error: cannot delete Pods '
                               f"that will not come back (restartPolicy Never; use --force to override): {listed}")
            with_empty = [p for p in pods if any(v.HasField("empty_dir") for v in p.spec.volumes)]
            if with_empty and not delete_emptydir_data:
                listed = ", ".join(f"{p.metadata.namespace}/{p.metadata.name}" for p in with_empty)
                raise CliError(f'unable to drain node "{name}" due to error: cannot delete Pods '
                               "with local storage (use --delete-emptydir-data to override): "
                               f"{listed}")
            for p in unmanaged:
                echo_err(f"Warning: deleting Pods that will not come back: "
                         f"{p.metadata.namespace}/{p.metadata.name}")
            for p in pods:
                click.echo(f"evicting pod {p.metadata.namespace}/{p.metadata.name}")
            async with asyncio.timeout(limit):
                async with asyncio.TaskGroup() as group:
                    for p in pods:
                        group.create_task(evict_and_wait(client, p, grace, limit))
            click.echo(f"node/{name} drained")
        return 0

    run(body)


@cli.command("evict")
@click.argument("names", nargs=-1, required=True)
@click.option("--grace-period", type=int, default=-1, help="Seconds the pod gets to stop.")
@click.option("--wait/--no-wait", default=False, help="Wait until the pod is gone.")
@global_options
def evict(names: tuple[str, ...], grace_period: int, wait: bool) -> None:
    """Evict pods (the eviction API: the pod is stopped and marked Evicted)."""
    namespace = current_namespace()
    grace = None if grace_period < 0 else grace_period

    async def body() -> int:
        failed = 0
        async with connect() as client:
            for name in names:
                try:
                    pod = await client.evict(namespace, name, grace_period_seconds=grace,
                                             reason="Evicted", message="evicted by podctl")
                    if wait:
                        await wait_gone(client, pod, 3600.0)
                    click.echo(f"pod/{name} evicted")
                except errors.ApiError as err:
                    echo_err(api_error_line(err))
                    failed = 1
        return failed

    run(body)
