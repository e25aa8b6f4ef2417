"""podctl get: tables, -o json|yaml|name|wide|jsonpath|go-template, and --watch."""

from __future__ import annotations

from collections.abc import Sequence

import click
from google.protobuf.message import Message

from podlab import errors
from podlab.cli import printers
from podlab.cli._app import cli
from podlab.cli._base import (
    api_error_line,
    connect,
    current_namespace,
    echo_err,
    global_options,
    run,
)
from podlab.cli._objects import as_data, to_dict
from podlab.cli.commands._common import parse_output, ref_name, render, resolve_kind, split_refs
from podlab.client import Client
from podlab.kinds import Kind
from podlab.v1 import objects_pb2 as v1


def format_objects(objs: Sequence[Message], kind: Kind, fmt: str, template: str, single: bool,
                   with_namespace: bool = False, headers: bool = True,
                   pods: Sequence[v1.Pod] = ()) -> str:
    """What `get` prints for `objs` in output format `fmt` ("" for the table)."""
    if fmt in ("", "wide"):
        if not objs:
            return ""
        return printers.print_table(objs, kind, printers.utcnow(), wide=fmt == "wide",
                                    with_namespace=with_namespace, headers=headers, pods=pods)
    if fmt == "name":
        return "".join(ref_name(o) + "\n" for o in objs)
    return render(fmt, template, as_data(objs, single))


async def _node_pods(client: Client, kind: Kind, fmt: str) -> list[v1.Pod]:
    if kind.name != "Node" or fmt != "wide":
        return []
    pods, _ = await client.list(v1.Pod)
    return pods


@cli.command("get")
@click.argument("resource")
@click.argument("names", nargs=-1)
@click.option("-o", "--output", help="json|yaml|wide|name|jsonpath=...|go-template=...")
@click.option("--template", help="The template for -o go-template / jsonpath.")
@click.option("--no-headers", is_flag=True, help="Print tables without the header row.")
@click.option("-w", "--watch", is_flag=True, help="After listing, print every change.")
@click.option("-l", "--selector", default="", help="Label selector: app=web,tier!=db.")
@click.option("--field-selector", default="", help="Field selector: status.phase=Running.")
@click.option("-A", "--all-namespaces", is_flag=True, help="List across every namespace.")
@global_options
def get(resource: str, names: tuple[str, ...], output: str | None, template: str | None,
        no_headers: bool, watch: bool, selector: str, field_selector: str,
        all_namespaces: bool) -> None:
    """Display one or many objects: pods, nodes, events, configmaps, secrets, namespaces, leases."""
    fmt, tmpl = parse_output(output, template)
    refs = split_refs(resource, names)
    kind = refs[0][0] if refs else resolve_kind(resource)
    namespace = "" if all_namespaces else current_namespace()
    with_ns = all_namespaces and kind.namespaced

    async def body() -> int:
        failed = 0
        async with connect() as client:
            objs: list[Message] = []
            resource_version = ""
            if refs:
                for ref_kind, name in refs:
                    try:
                        objs.append(await client.get(ref_kind.name, name, namespace or "default"))
                    except errors.NotFound as err:
                        echo_err(api_error_line(err))
                        failed = 1
            else:
                objs, resource_version = await client.list(kind.name, namespace, selector,
                                                           field_selector)
            pods = await _node_pods(client, kind, fmt)
            text = format_objects(objs, kind, fmt, tmpl, single=bool(refs) and len(refs) == 1,
                                  with_namespace=with_ns, headers=not no_headers, pods=pods)
            click.echo(text, nl=False)
            if not objs and not refs and fmt in ("", "wide"):
                where = f" in {namespace} namespace" if namespace and kind.namespaced else ""
                echo_err(f"No resources found{where}.")
            if watch:
                await _watch(client, kind, namespace, selector, field_selector, resource_version,
                             {name for _, name in refs}, fmt, tmpl, with_ns,
                             headers=not objs and not no_headers)
        return failed

    run(body)


async def _watch(client: Client, kind: Kind, namespace: str, selector: str, field_selector: str,
                 resource_version: str, names: set[str], fmt: str, template: str,
                 with_namespace: bool, headers: bool) -> None:
    """Print a row (or a rendering) for every change, until interrupted, as `kubectl get -w`."""
    if not resource_version:
        _, resource_version = await client.list(kind.name, namespace, selector, field_selector)
    async for event in client.watch(kind.name, namespace, resource_version, selector,
                                    field_selector):
        obj = event.object
        if obj is None or event.type == "BOOKMARK":
            continue
        if names and obj.metadata.name not in names:  # type: ignore[attr-defined]
            continue
        if fmt in ("", "wide"):
            text = printers.print_table([obj], kind, printers.utcnow(), wide=fmt == "wide",
                                        with_namespace=with_namespace, headers=headers)
            headers = False
        elif fmt == "name":
            text = ref_name(obj) + "\n"
        else:
            text = render(fmt, template, to_dict(obj))
        click.echo(text, nl=False)
