"""Shared CLI output: JSON for machines, rich for people, one way to report errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any, TypeVar

import click
from rich.console import Console

from shangyun.errors import ShangyunError, ValidationFailed

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

F = TypeVar("F", bound=Callable[..., Any])

json_option = click.option("--json", "as_json", is_flag=True,
                           help="Print the result as JSON on stdout instead of tables.")
estate_option = click.option(
    "--estate", "estate_dir", required=True,
    type=click.Path(file_okay=False, path_type=str), envvar="SHANGYUN_ESTATE",
    show_envvar=True, help="The estate folder (an inventory).")


def print_json(data: Any) -> None:
    """Print ``data`` as pretty UTF-8 JSON (Chinese kept readable)."""
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def handle_errors(fn: F) -> F:
    """Turn :class:`ShangyunError` into one clear message on stderr and exit code 1."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ValidationFailed as exc:
            if kwargs.get("as_json"):
                print_json({"ok": False, "problems": [p.to_dict() for p in exc.problems]})
            else:
                err_console.print(f"[bold red]error:[/] {exc}", markup=True, soft_wrap=True)
            sys.exit(1)
        except ShangyunError as exc:
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


def escape(text: str) -> str:
    """Escape rich markup in user text."""
    from rich.markup import escape as _escape

    return _escape(text)


@contextmanager
def progress(description: str, total: int | None, *, enabled: bool = True) -> Iterator[Any]:
    """A rich progress bar on stderr; yields ``advance(n=1)``. Silent when not enabled."""
    if not enabled:
        yield lambda n=1: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err_console, transient=False) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n=1: bar.advance(task, n)
