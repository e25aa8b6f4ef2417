"""podctl get: tables, -o json|yaml|name|wide|jsonpath|go-template|custom-columns, and --watch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import click
from google.protobuf.message import Message

from podctl import columns
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
from podctl._objects import as_data, to_dict
from podctl.columns import Column
from podctl.commands._common import (
    parse_output,
    ref_name,
    render,
    resolve_kind,
    split_refs,
    template_errors,
)
from podctl.sorting import sort_objects
from podlab import errors, printers
from podlab.client import Client
from podlab.kinds import Kind
from podlab.names import namespace_or_default
from podlab.v1 import objects_pb2 as v1

TABLES = ("", "wide")


@dataclass(frozen=True)
class Output:
    """How `get` prints: the -o format and its argument, and what shapes its tables."""

    fmt: str = ""
    template: str = ""
    columns: tuple[Column, ...] = ()
    headers: bool = True
    with_namespace: bool = False
    show_labels: bool = False


def output_for(output: str | None, template: str | None, kind: Kind, no_headers: bool = False,
               all_namespaces: bool = False, show_labels: bool = False) -> Output:
    """The Output that `get`'s flags ask for; raises CliError with kubectl's messages."""
    if show_labels and output not in (None, "", "wide"):
        raise CliError(f"--show-labels option cannot be used with {output} printer")
    fmt, arg = parse_output(output, template)
    with template_errors():
        cols = columns.load(fmt, arg) if fmt in columns.FORMATS else ()
    return Output(fmt, arg, cols, headers=not no_headers,
                  with_namespace=all_namespaces and kind.namespaced, show_labels=show_labels)


def format_objects(objs: Sequence[Message], kind: Kind, out: Output, single: bool,
                   pods: Sequence[v1.Pod] = ()) -> str:
    """What `get` prints for `objs` (one named object if `single`) in `out`'s format."""
    if out.fmt in TABLES:
        if not objs:
            return ""
        return printers.print_table(objs, kind, printers.utcnow(), wide=out.fmt == "wide",
                                    with_namespace=out.with_namespace, headers=out.headers,
                                    pods=pods, show_labels=out.show_labels)
    if out.columns:
        with template_errors():
            return columns.print_columns(out.columns, [to_dict(o) for o in objs], out.headers)
    if out.fmt == "name":
        return "".join(ref_name(o) + "\n" for o in objs)
    return render(out.fmt, out.template, as_data(objs, single))


def sort_for_output(objs: list[Message], sort_by: str, out: Output, single: bool) -> list[Message]:
    """`objs` in --sort-by order: kubectl sorts tables, and any other output of a List."""
    if not sort_by or (single and out.fmt not in TABLES):
        return objs
    with template_errors():
        return sort_objects(objs, sort_by)


async def _fetch(client: Client, kind: Kind, refs: Sequence[tuple[Kind, str]], namespace: str,
                 selector: str, field_selector: str) -> tuple[list[Message], str, int]:
    """The named objects (each missing one reported) or the list: (objects, list rv, exit code)."""
    if not refs:
        objs, resource_version = await client.list(kind.name, namespace, selector, field_selector)
        return objs, resource_version, 0
    found: list[Message] = []
    failed = 0
    for ref_kind, name in refs:
        try:
            found.append(await client.get(ref_kind.name, name, namespace_or_default(namespace)))
        except errors.NotFound as err:
            echo_err(api_error_line(err))
            failed = 1
    return found, "", failed


async def _node_pods(client: Client, kind: Kind, fmt: str) -> list[v1.Pod]:
    if kind.name != "Node" or fmt != "wide":
        return []
    pods, _ = await client.list(v1.Pod)
    return pods


def _equals_form(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """`-o=json` means json, as kubectl's flag parser reads it; click would keep the "="."""
    return value[1:] if value and value.startswith("=") else value


@cli.command("get")
@click.argument("resource")
@click.argument("names", nargs=-1)
@click.option("-o", "--output", callback=_equals_form,
              help="json|yaml|wide|name|jsonpath=...|go-template=...|custom-columns=...|"
                   "custom-columns-file=...")
@click.option("--template", help="The template for -o go-template / jsonpath.")
@click.option("--no-headers", is_flag=True, help="Print tables without the header row.")
@click.option("--show-labels", is_flag=True, help="Show all labels as the last column.")
@click.option("--sort-by", default="", metavar="JSONPATH",
              help="Sort list output by this field: .metadata.name, '{.status.podIP}'.")
@click.option("-w", "--watch", is_flag=True, help="After listing, print every change.")
@click.option("-l", "--selector", default="", help="Label selector: app=web,tier!=db.")
@click.option("--field-selector", default="", help="Field selector: status.phase=Running.")
@click.option("-A", "--all-namespaces", is_flag=True, help="List across every namespace.")
@global_options
def get(resource: str, names: tuple[str, ...], output: str | None, template: str | None,
        no_headers: bool, show_labels: bool, sort_by: str, watch: bool, selector: str,
        field_selector: str, all_namespaces: bool) -> None:
    """Display one or many objects: pods, nodes, events, configmaps, secrets, namespaces, leases."""
    refs = split_refs(resource, names)
    kind = refs[0][0] if refs else resolve_kind(resource)
    out = output_for(output, template, kind, no_headers, all_namespaces, show_labels)
    namespace = "" if all_namespaces else current_namespace()
    single = len(refs) == 1
    if watch and sort_by:
        echo_err("warning: --watch or --watch-only requested, --sort-by will be ignored")
        sort_by = ""

    async def body() -> int:
        async with connect() as client:
            objs, resource_version, failed = await _fetch(client, kind, refs, namespace, selector,
                                                          field_selector)
            objs = sort_for_output(objs, sort_by, out, single)
            text = format_objects(objs, kind, out, single, await _node_pods(client, kind, out.fmt))
            click.echo(text, nl=False)
            if not objs and not refs and out.fmt in TABLES:
                where = f" in {namespace} namespace" if namespace and kind.namespaced else ""
                echo_err(f"No resources found{where}.")
            if watch:
                await _watch(client, kind, namespace, selector, field_selector, resource_version,
                             {name for _, name in refs}, replace(out, headers=out.headers and not text))
        return failed

    run(body)


async def _watch(client: Client, kind: Kind, namespace: str, selector: str, field_selector: str,
                 resource_version: str, names: set[str], out: Output) -> None:
    """Print a row (or a rendering) for every change, until interrupted, as `kubectl get -w`."""
    if not resource_version:
        _, resource_version = await client.list(kind.name, namespace, selector, field_selector)
    async for event in client.watch(kind.name, namespace, resource_version, selector,
                                    field_selector):
        obj = event.object
        if obj is None or event.type == "BOOKMARK":
            continue
        if names and obj.metadata.name not in names:
            continue
        click.echo(format_objects([obj], kind, out, single=True), nl=False)
        out = replace(out, headers=False)
