"""Render runbooks (and the report) from their context with the Jinja2 templates in
``runbooks/``: one template per format (md, html) serving both languages via ``t()``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
import markupsafe

from shangyun.errors import ShangyunError
from shangyun.runbook.i18n import reason_text, state_label, translator

TEMPLATES = Path(__file__).resolve().parents[2] / "runbooks"
FORMATS = ("md", "html")


def environment(fmt: str) -> jinja2.Environment:
    """The Jinja2 environment for ``fmt`` (HTML autoescaped; undefined names are errors)."""
    if fmt not in FORMATS:
        raise ShangyunError(f"format {fmt!r}: choose one of {', '.join(FORMATS)}")
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                              autoescape=fmt == "html", undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


def _md_cell(value: Any) -> str:
    return str(value if value is not None else "").replace("|", "\\|").replace("\n", " ")


def _ticks(value: Any) -> markupsafe.Markup:
    """HTML: ``text`` escaped, with each `` `command` `` in it set as ``<code>``."""
    parts = str(markupsafe.escape(value)).split("`")
    out = "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))
    return markupsafe.Markup(out)  # every part was escaped above


def render(template: str, fmt: str, lang: str, context: dict[str, Any]) -> str:
    """Render ``<template>.<fmt>.j2`` in ``lang`` with ``context`` (its ``where``,
    `` --estate DIR``, ends every command the template's texts suggest)."""
    env = environment(fmt)
    env.filters["cell"] = _md_cell
    env.filters["ticks"] = _ticks if fmt == "html" else str
    env.filters["reason"] = lambda text: reason_text(lang, text)
    t = translator(lang, str(context.get("where") or ""))
    return env.get_template(f"{template}.{fmt}.j2").render(
        t=t, lang=lang, state=lambda s: state_label(lang, s), **context)


__all__ = ["FORMATS", "TEMPLATES", "environment", "render"]
