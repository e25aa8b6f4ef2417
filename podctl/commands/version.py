"""podctl version: the client's version and the API server's."""

from __future__ import annotations

from importlib import metadata

import click

from podctl._app import cli
from podctl._base import connect, global_options, run


def client_version() -> str:
    try:
        return metadata.version("podlab")
    except metadata.PackageNotFoundError:
        return "0.1.0-dev"


@cli.command("version")
@click.option("--client", "client_only", is_flag=True, help="Only the client's version.")
@global_options
def version(client_only: bool) -> None:
    """Print the client and server versions."""
    click.echo(f"Client Version: v{client_version()}")
    if client_only:
        return

    async def body() -> None:
        async with connect() as client:
            reply = await client.version()
        click.echo(f"Server Version: {reply.version}")
        if reply.etcd_version:
            click.echo(f"etcd Version: {reply.etcd_version}")

    run(body)
