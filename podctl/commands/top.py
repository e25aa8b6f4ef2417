"""`top pod` and `top node`: usage from the node agents' Stats (through the API server's NodeStats),
computed as the REST API's metrics.k8s.io computes it for kubectl top (podlab.usage)."""

from __future__ import annotations

import click

from podctl._app import cli
from podctl._base import CliError, connect, current_namespace, echo_err, global_options, run
from podlab import errors, usage
from podlab.printers import format_table
from podlab.v1 import objects_pb2 as v1


@cli.group("top")
def top() -> None:
    """Show CPU and memory use of pods or nodes."""


def _sort(rows: list[list[str]], sort_by: str, cpu: int, memory: int) -> list[list[str]]:
    if not sort_by:
        return rows
    if sort_by not in ("cpu", "memory"):
        raise CliError(f"--sort-by accepts only cpu or memory, not {sort_by!r}")
    column = cpu if sort_by == "cpu" else memory
    return sorted(rows, key=lambda r: -int(r[column].rstrip("mMi") or 0))


@top.command("pod")
@click.argument("name", required=False)
@click.option("-A", "--all-namespaces", is_flag=True, help="Pods in every namespace.")
@click.option("-l", "--selector", default="", help="Only pods with these labels.")
@click.option("--containers", is_flag=True, help="One line per container.")
@click.option("--no-headers", is_flag=True, help="No header line.")
@click.option("--sort-by", default="", help="cpu or memory.")
@global_options
def top_pod(name: str | None, all_namespaces: bool, selector: str, containers: bool, no_headers: bool,
            sort_by: str) -> None:
    """Show the CPU and memory use of pods."""
    namespace = "" if all_namespaces else current_namespace()

    async def body() -> None:
        async with connect() as client:
            if name:
                try:
                    pods = [await client.get(v1.Pod, name, namespace)]
                except errors.NotFound:
                    pods = []
            else:
                pods, _ = await client.list(v1.Pod, namespace, selector)
            stats = await usage.gather_stats(client.node_stats, (p.spec.node_name for p in pods))
        usages = usage.pod_usage(pods, stats)
        if name and not usages:
            raise CliError(f'Error from server (NotFound): podmetrics.metrics.k8s.io "{namespace}/{name}" not '
                           "found", raw=True)
        if not usages:
            echo_err("No resources found" if all_namespaces else f"No resources found in {namespace} namespace.")
            return
        rows = usage.top_pod_rows(usages, containers, all_namespaces)
        lead = int(all_namespaces) + int(containers)
        rows = _sort(rows, sort_by, lead + 1, lead + 2)
        headers = None if no_headers else usage.top_pod_headers(containers, all_namespaces)
        click.echo(format_table(headers, rows), nl=False)

    run(body)


@top.command("node")
@click.argument("name", required=False)
@click.option("-l", "--selector", default="", help="Only nodes with these labels.")
@click.option("--no-headers", is_flag=True, help="No header line.")
@click.option("--sort-by", default="", help="cpu or memory.")
@global_options
def top_node(name: str | None, selector: str, no_headers: bool, sort_by: str) -> None:
    """Show the CPU and memory use of nodes."""

    async def body() -> None:
        async with connect() as client:
            if name:
                nodes = [await client.get(v1.Node, name)]
            else:
                nodes, _ = await client.list(v1.Node, "", selector)
            stats = await usage.gather_stats(client.node_stats, (n.metadata.name for n in nodes))
        rows = [usage.top_node_row(n.metadata.name, usage.node_usage(stats[n.metadata.name]),
                                   dict(n.status.allocatable)) for n in nodes if n.metadata.name in stats]
        if name and not rows:
            raise CliError(f'Error from server (NotFound): nodemetrics.metrics.k8s.io "{name}" not found', raw=True)
        if not rows:
            raise CliError("metrics not available yet")
        rows = _sort(rows, sort_by, 1, 3)
        click.echo(format_table(None if no_headers else usage.TOP_NODE_HEADERS, rows), nl=False)

    run(body)
