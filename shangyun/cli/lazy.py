"""A click group whose sub-commands are imported only when used.

Pure commands (inventory, assess, plan, runbook) must not pay for importing Prefect or
boto3; each command lives in its own module and is named here as ``"module:attribute"``.
The group's ``--help`` lists each command with its one-line summary from ``summaries``, so
listing them imports none (``shangyun --help`` imported every command module, the journal
and SQLAlchemy with them: 1.3 s). ``tests/test_cli_help_summaries.py`` holds each summary
to the command's own help text.
"""

from __future__ import annotations

import importlib
import textwrap
from typing import Any

import click


class LazyGroup(click.Group):
    """A ``click.Group`` that loads its commands from ``lazy`` = {name: "module:attr"};
    ``summaries`` = {name: the command's first help sentence} lists them in ``--help``
    without loading them (a lazy command without a summary is loaded for its help)."""

    def __init__(self, *args: Any, lazy: dict[str, str] | None = None,
                 summaries: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})
        self.summaries = dict(summaries or {})

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The ``Commands`` section of ``--help``, as click writes it, with each lazy
        command's summary taken from ``summaries`` instead of importing the command."""
        rows: list[tuple[str, str | click.Command]] = []
        for name in self.list_commands(ctx):
            if name in self.lazy and name in self.summaries:
                rows.append((name, self.summaries[name]))
            elif (cmd := self.get_command(ctx, name)) is not None and not cmd.hidden:
                rows.append((name, cmd))
        if not rows:
            return
        limit = formatter.width - 6 - max(len(name) for name, _ in rows)
        with formatter.section("Commands"):
            formatter.write_dl([(name, _short(text, limit) if isinstance(text, str)
                                 else text.get_short_help_str(limit)) for name, text in rows])

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy:
            module, attr = self.lazy[cmd_name].split(":")
            cmd = getattr(importlib.import_module(module), attr)
            if not isinstance(cmd, click.Command):
                raise TypeError(f"{self.lazy[cmd_name]} is not a click command")
            return cmd
        return super().get_command(ctx, cmd_name)


def _short(summary: str, limit: int) -> str:
    """``summary`` cut to ``limit`` characters as click cuts a command's short help."""
    if len(summary) <= limit:
        return summary
    if limit < len("..."):
        return "..."
    return textwrap.shorten(summary, limit, placeholder="...", break_on_hyphens=False)
