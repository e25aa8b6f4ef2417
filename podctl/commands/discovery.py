"""What the API serves: api-resources and explain, from podlab.kinds and the proto schema.

The gRPC API serves exactly the kinds in podlab.kinds, so podctl reads them
there, as the REST API's discovery and OpenAPI documents are built.
"""

from __future__ import annotations

import click

from podctl._app import cli
from podctl._base import CliError, global_options
from podctl.explain import ExplainError, explain
from podlab import errors
from podlab.kinds import KINDS, kind_for_resource, short_names
from podlab.printers import format_table


@cli.command("api-resources")
@click.option("--namespaced", type=click.BOOL, default=None,
              help="Only namespaced (true) or cluster-scoped (false) resources.")
@click.option("--api-group", default=None, help="Only this API group ('' for the core group).")
@click.option("-o", "--output", type=click.Choice(["name", "wide"]), default=None, help="name or wide.")
@click.option("--no-headers", is_flag=True, help="No header line.")
@global_options
def api_resources(namespaced: bool | None, api_group: str | None, output: str | None, no_headers: bool) -> None:
    """Print the resource types the server serves."""
    kinds = sorted(KINDS, key=lambda k: (k.api_version.rpartition("/")[0], k.plural))
    kinds = [k for k in kinds if (namespaced is None or k.namespaced == namespaced)
             and (api_group is None or k.api_version.rpartition("/")[0] == api_group)]
    if output == "name":
        for k in kinds:
            group = k.api_version.rpartition("/")[0]
            click.echo(f"{k.plural}.{group}" if group else k.plural)
        return
    headers = ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
    rows = [[k.plural, ",".join(short_names(k)), k.api_version, str(k.namespaced).lower(), k.name] for k in kinds]
    if output == "wide":
        verbs = "create delete deletecollection get list patch update watch"
        headers += ["VERBS", "CATEGORIES"]
        rows = [row + [f"[{verbs}]", ",".join(k.categories)] for row, k in zip(rows, kinds, strict=True)]
    click.echo(format_table(None if no_headers else headers, rows), nl=False)


@cli.command("explain")
@click.argument("path")
@global_options
def explain_(path: str) -> None:
    """Describe a resource's fields: podctl explain pod.spec.containers."""
    resource, *fields = path.split(".")
    try:
        kind = kind_for_resource(resource)
    except errors.BadRequest:
        raise CliError(f'the server doesn\'t have a resource type "{resource}"') from None
    try:
        click.echo(explain(kind, fields), nl=False)
    except ExplainError as err:
        raise CliError(str(err)) from None
