"""The podctl command group; podctl.commands modules attach their commands to it."""

from __future__ import annotations

import click

from podctl._base import global_options

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT)
@global_options
def cli() -> None:
    """podctl controls a podlab cluster, as kubectl controls Kubernetes."""
