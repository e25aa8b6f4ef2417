"""podctl describe pod|node|replicaset|deployment NAME..."""

from __future__ import annotations

import click

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


@cli.command("describe")
@click.argument("resource")
@click.argument("names", nargs=-1)
@global_options
def describe(resource: str, names: tuple[str, ...]) -> None:
    """Show details of pods, nodes, replica sets or deployments, with their events."""
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
                if kind.name == "Pod":
                    events = await events_about(client, "Pod", name, obj.metadata.uid,
                                                obj.metadata.namespace)
                    text = describers.describe_pod(obj, events)
                elif kind.name == "Node":
                    pods, _ = await client.list(v1.Pod)
                    events = await events_about(client, "Node", name, "", "")
                    text = describers.describe_node(obj, pods, events)
                elif kind.name == "ReplicaSet":
                    pods, _ = await client.list(v1.Pod, obj.metadata.namespace)
                    mine = [p for p in pods if any(r.uid == obj.metadata.uid and r.controller
                                                   for r in p.metadata.owner_references)]
                    events = await events_about(client, "ReplicaSet", name, obj.metadata.uid, obj.metadata.namespace)
                    text = describers.describe_replica_set(obj, mine, events)
                elif kind.name == "Deployment":
                    text = await _describe_deployment(client, obj)
                else:
                    raise CliError(f'describe does not support "{kind.plural}" yet')
                click.echo(("\n\n" if i else "") + text, nl=False)
        return failed

    run(body)
