"""What the writing verbs share, as kubectl's do: --dry-run, and -o for the object written.

`--dry-run=client` builds the object and sends nothing; `--dry-run=server`
sends it with the API's dry_run, so the server defaults, validates and checks
for conflicts and stores nothing; `none` (the default) writes. With `-o`, a
verb prints the object (the server's answer, or what a client dry run built)
instead of its one-line report: `podctl create deployment web --image=nginx
--dry-run=client -o yaml` writes a manifest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import click
from google.protobuf.message import Message

from podctl._base import CliError, echo_err
from podctl._objects import as_data
from podctl.commands._common import parse_output, ref_name, render, template_errors

F = TypeVar("F", bound=Callable[..., Any])
STRATEGIES = ("none", "client", "server")
_BARE = "unchanged"  # what a bare --dry-run gives: kubectl's deprecated spelling of client
_SUFFIX = {"none": "", "client": " (dry run)", "server": " (server dry run)"}
FORMATS = ("json", "yaml", "name", "go-template", "jsonpath")


@dataclass(frozen=True)
class Write:
    """How one invocation writes (its --dry-run) and reports (its -o)."""

    dry_run: str = "none"
    fmt: str = ""  # "" prints "<kind>/<name> <verb>"
    template: str = ""

    @property
    def sends(self) -> bool:
        """Whether anything goes to the server (not a client dry run)."""
        return self.dry_run != "client"

    @property
    def server_dry_run(self) -> bool:
        return self.dry_run == "server"

    def report(self, obj: Message, verb: str, line: str = "") -> None:
        """Print what the write did: `line` (default "<kind>/<name>") and `verb`, marked as a dry run
        when it was one; or, with -o, the object."""
        if not self.fmt:
            click.echo(f"{line or ref_name(obj)} {verb}{_SUFFIX[self.dry_run]}")
        elif self.fmt == "name":
            click.echo(ref_name(obj))
        else:
            with template_errors():
                click.echo(render(self.fmt, self.template, as_data([obj], single=True)), nl=False)


WRITE = Write()  # a plain write, reported in one line


def write_from(dry_run: str, output: str | None = None, template: str | None = None) -> Write:
    """The Write the flags ask for; CliError with kubectl's messages for a bad value."""
    if dry_run == _BARE:
        echo_err("warning: --dry-run is deprecated and can be replaced with --dry-run=client.")
        dry_run = "client"
    if dry_run not in STRATEGIES:
        raise CliError(f'Invalid dry-run value ({dry_run}). Must be "none", "server", or "client".')
    fmt, arg = parse_output(output, template)
    if fmt and fmt not in FORMATS:
        raise CliError(f'unable to match a printer suitable for the output format "{output}", '
                       f"allowed formats are: {','.join(sorted(FORMATS))}")
    return Write(dry_run, fmt, arg)


def dry_run_option(f: F) -> F:
    return click.option("--dry-run", "dry_run", default="none", is_flag=False, flag_value=_BARE,
                        help='Must be "none", "server", or "client". client: only print the object that '
                             "would be sent; server: the server checks it and stores nothing.")(f)


def write_options(f: F) -> F:
    """--dry-run, -o/--output and --template, as kubectl's create, run and apply take them."""
    f = click.option("--template", default=None, help="The template of -o go-template or jsonpath.")(f)
    f = click.option("-o", "--output", default=None,
                     help="Print the object written: json, yaml, name, go-template=..., jsonpath=...")(f)
    return dry_run_option(f)
