"""podctl describe TYPE NAME...: a kind's own describer where it has one, the generic one otherwise."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import click
from google.protobuf.message import Message

from podctl import describers
from podctl._app import cli
from podctl._base import (
    CliError,
    api_error_line,
    connect,
    current_namespace,
    echo_err,
    global_options,
    run,
)
from podctl.commands._common import split_refs
from podlab import errors
from podlab.client import Client
from podlab.kinds import kind_of, meta
from podlab.names import POD_TEMPLATE_HASH
from podlab.v1 import objects_pb2 as v1


async def events_about(client: Client, kind: str, name: str, uid: str, namespace: str) \
        -> list[v1.Event]:
    """Events whose involvedObject is this object (by uid when both sides have one)."""
    selector = f"involvedObject.name={name}"
    try:
        events, _ = await client.list(v1.Event, namespace, field_selector=selector)
    except errors.BadRequest:  # a server without that field selector: filter here
        events, _ = await client.list(v1.Event, namespace)
    return [e for e in events
            if e.involved_object.name == name and e.involved_object.kind in ("", kind)
            and (not uid or not e.involved_object.uid or e.involved_object.uid == uid)]


Describer = Callable[[Client, Any], Awaitable[str]]


async def _describe_pod(client: Client, pod: v1.Pod) -> str:
    md = pod.metadata
    return describers.describe_pod(pod, await events_about(client, "Pod", md.name, md.uid, md.namespace))


async def _describe_node(client: Client, node: v1.Node) -> str:
    pods, _ = await client.list(v1.Pod)
    return describers.describe_node(node, pods, await events_about(client, "Node", node.metadata.name, "", ""))


async def _describe_replica_set(client: Client, rs: v1.ReplicaSet) -> str:
    md = rs.metadata
    pods, _ = await client.list(v1.Pod, md.namespace)
    mine = [p for p in pods if any(r.uid == md.uid and r.controller for r in p.metadata.owner_references)]
    return describers.describe_replica_set(rs, mine, await events_about(client, "ReplicaSet", md.name, md.uid,
                                                                        md.namespace))


async def _describe_generic(client: Client, obj: Message) -> str:
    md = meta(obj)
    return describers.describe_generic(obj, await events_about(client, kind_of(obj).name, md.name, md.uid,
                                                               md.namespace))


async def _describe_deployment(client: Client, d: v1.Deployment) -> str:
    """Its new ReplicaSet (the current template's hash) and the old ones that still have pods, as kubectl."""
    sets, _ = await client.list(v1.ReplicaSet, d.metadata.namespace)
    mine = [rs for rs in sets if any(r.uid == d.metadata.uid and r.controller for r in rs.metadata.owner_references)]
    new = next((rs for rs in mine if _bare(rs.spec.template) == _bare(d.spec.template)), None)
    old = sorted((rs for rs in mine if rs is not new and rs.spec.replicas), key=lambda rs: rs.metadata.name)
    events = await events_about(client, "Deployment", d.metadata.name, d.metadata.uid, d.metadata.namespace)
    return describers.describe_deployment(d, new, old, events)


def _bare(template: v1.PodTemplateSpec) -> v1.PodTemplateSpec:
    """The template without its pod-template-hash label (kubectl's EqualIgnoreHash)."""
    bare = v1.PodTemplateSpec()
    bare.CopyFrom(template)
    bare.metadata.labels.pop(POD_TEMPLATE_HASH, None)
    return bare


# Kinds with a describer of their own (kubectl's DescriberFor); every other kind gets the generic one.
_DESCRIBERS: dict[str, Describer] = {"Pod": _describe_pod, "Node": _describe_node,
                                     "ReplicaSet": _describe_replica_set, "Deployment": _describe_deployment}


@cli.command("describe")
@click.argument("resource")
@click.argument("names", nargs=-1)
@global_options
def describe(resource: str, names: tuple[str, ...]) -> None:
    """Show details of objects of any kind, with their events."""
    refs = split_refs(resource, names)
    if not refs:
        raise CliError("you must specify the name of the resource to describe")
    namespace = current_namespace()

    async def body() -> int:
        failed = 0
        async with connect() as client:
            for i, (kind, name) in enumerate(refs):
                try:
                    obj = await client.get(kind.name, name, namespace)
                except errors.NotFound as err:
                    echo_err(api_error_line(err))
                    failed = 1
                    continue
                describer = _DESCRIBERS.get(kind.name, _describe_generic)
                text = await describer(client, obj)
                click.echo(("\n\n" if i else "") + text, nl=False)
        return failed

    run(body)
