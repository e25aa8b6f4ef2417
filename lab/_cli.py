"""What the `podlab` command groups share: click settings, and commands listed as defined."""

from __future__ import annotations

from typing import Any

import click

CONTEXT: dict[str, Any] = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class Group(click.Group):
    """A click group whose help lists its commands in the order they were added, not sorted:
    `up` before `down`, `power-off` before `power-on`, as a user reads them."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)
