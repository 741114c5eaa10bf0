"""Shared CLI output: JSON for machines, rich for people, one way to report errors."""

from __future__ import annotations

import errno
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any, TypeVar

import click
from click.core import ParameterSource
from rich.console import Console, ConsoleDimensions, RenderableType
from rich.markup import escape as _escape
from rich.table import Table as _RichTable
from rich.text import Text

from shangyun.errors import ShangyunError, ValidationFailed

#: Width used when output is not a terminal (a pipe, a file, a test): wide enough that
#: tables and lines are never cut or wrapped for a reader's ``grep`` or editor.
PIPE_WIDTH = 10_000


class _Console(Console):
    """A console that does not cut lines at 80 columns when it is not writing to a terminal."""

    @property
    def size(self) -> ConsoleDimensions:
        """The terminal's size, or a very wide page when output is piped or captured."""
        if self._width is None and not self.is_terminal and "COLUMNS" not in self._environ:
            return ConsoleDimensions(PIPE_WIDTH, super().size.height)
        return super().size

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        width, height = new_size
        self._width = width
        self._height = height


console = _Console(highlight=False)
err_console = _Console(stderr=True, highlight=False)


class Table(_RichTable):
    """A rich table whose cells are literal text: a value from an estate or a ledger is never
    read as rich markup (a system named ``[/] 系统 [bold]`` prints as written).

    Pass a :class:`rich.text.Text` (see :func:`styled`) for a cell that should carry a style.
    """

    def add_row(self, *renderables: RenderableType | None, **kwargs: Any) -> None:
        """Add a row; plain strings become literal :class:`~rich.text.Text`."""
        cells = [Text(r) if isinstance(r, str) else r for r in renderables]
        super().add_row(*cells, **kwargs)


def styled(text: object, style: str) -> Text:
    """``text`` as a literal cell or line part shown in ``style`` (never parsed as markup)."""
    return Text(str(text), style=style)

F = TypeVar("F", bound=Callable[..., Any])

json_option = click.option("--json", "as_json", is_flag=True,
                           help="Print the result as JSON on stdout instead of tables.")
estate_option = click.option(
    "--estate", "estate_dir", required=True,
    type=click.Path(file_okay=False, path_type=str), envvar="SHANGYUN_ESTATE",
    show_envvar=True, help="The estate folder (an inventory).")


def estate_words(estate_dir: str) -> str:
    """`` --estate DIR`` (plain text, DIR one shell word) for a command the CLI suggests,
    when this command's estate came from ``--estate`` (a person copying the suggestion needs
    it); empty when it came from ``SHANGYUN_ESTATE`` (the suggestion works as printed)."""
    from shangyun.estate.names import shell_word

    ctx = click.get_current_context(silent=True)
    if ctx is None or ctx.get_parameter_source("estate_dir") is ParameterSource.ENVIRONMENT:
        return ""
    return f" --estate {shell_word(estate_dir)}"


def print_json(data: Any) -> None:
    """Print ``data`` as pretty UTF-8 JSON (Chinese kept readable)."""
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def handle_errors(fn: F) -> F:
    """Turn :class:`ShangyunError` (and click's usage errors raised inside a command) into one
    clear message and exit code 1: on stderr for people, or with ``--json`` as
    ``{"ok": false, "error": …}`` on stdout so a script always gets a JSON document.
    """

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        as_json = bool(kwargs.get("as_json"))
        try:
            return fn(*args, **kwargs)
        except ValidationFailed as exc:
            if as_json:
                print_json({"ok": False, "error": str(exc),
                            "problems": [p.to_dict() for p in exc.problems]})
            else:
                fail(str(exc))
            sys.exit(1)
        except ShangyunError as exc:
            if as_json:
                print_json({"ok": False, "error": str(exc)})
            else:
                fail(str(exc))
            sys.exit(1)
        except click.ClickException as exc:
            if not as_json:
                raise
            print_json({"ok": False, "error": exc.format_message()})
            sys.exit(exc.exit_code or 1)
        except OSError as exc:  # a full disk, a read-only folder, a missing file: no traceback
            message = os_error_text(exc)
            if as_json:
                print_json({"ok": False, "error": message})
            else:
                fail(message)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


def os_error_text(exc: OSError) -> str:
    """One sentence for an :class:`OSError`: the file and the system's reason, and for a
    full disk that the command's writes are all-or-nothing."""
    where = f"{exc.filename}: " if exc.filename else ""
    text = f"{where}{exc.strerror or exc}"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        text += " (the disk is full: nothing of this change was kept; free space and run " \
                "the command again)"
    return text


def fail(message: str) -> None:
    """Print ``error: message`` on stderr, the message taken literally."""
    err_console.print(Text.assemble(styled("error:", "bold red"), " ", message), soft_wrap=True)


def warn(message: str) -> None:
    """Print ``warning: message`` on stderr, the message taken literally."""
    err_console.print(Text.assemble(styled("warning:", "yellow"), " ", message), soft_wrap=True)


def gb(value: float | None) -> str:
    """A size in GB as every table and line prints one: whole GB with thousands
    separators (``521,406``); ``-`` when unknown."""
    return "-" if value is None else f"{value:,.0f}"


def escape(text: object) -> str:
    """Escape rich markup in user text (any value; ``None`` becomes an empty string)."""
    return _escape("" if text is None else str(text))


def progress_bars() -> Any:
    """A rich ``Progress`` on stderr (description, bar, done/total, elapsed); add tasks to it.

    rich.progress is imported here, not at the top: most commands never show a bar
    (start-up cost)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=err_console, transient=False)


@contextmanager
def progress(description: str, total: int | None, *, enabled: bool = True) -> Iterator[Any]:
    """A rich progress bar on stderr; yields ``advance(n=1)``. Silent when not enabled."""
    if not enabled:
        yield lambda n=1: None
        return
    with progress_bars() as bar:
        task = bar.add_task(description, total=total)
        yield lambda n=1: bar.advance(task, n)
