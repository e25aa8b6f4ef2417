"""podctl: the kubectl-like command line for podlab.

`main()` is the console script. Commands live in podctl.commands, the
table and describe printers in podlab.printers and podctl.describers,
and the output templates in podctl.templates.
"""

from __future__ import annotations

import sys

import click

from podctl._app import cli
from podctl._base import CliError, api_error_line
from podctl.commands import (  # noqa: F401
    apply,
    describe,
    discovery,
    editing,
    get,
    nodes,
    pods,
    run,
    streams,
    top,
    version,
    workloads,
)
from podlab import errors


def main(argv: list[str] | None = None) -> None:
    """Run podctl; a usage error is one line and exit code 1, as kubectl's."""
    try:
        cli.main(args=argv, prog_name="podctl", standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.exceptions.NoArgsIsHelpError as err:
        click.echo(err.ctx.get_help() if err.ctx else "")
        sys.exit(0)
    except click.UsageError as err:
        click.echo(f"error: {err.format_message()}", err=True)
        sys.exit(1)
    except click.ClickException as err:
        click.echo(f"error: {err.format_message()}", err=True)
        sys.exit(err.exit_code or 1)
    except CliError as err:
        click.echo(err.message if err.raw else f"error: {err.message}", err=True)
        sys.exit(err.code)
    except errors.ApiError as err:
        click.echo(api_error_line(err), err=True)
        sys.exit(1)
    sys.exit(0)


__all__ = ["cli", "main"]
