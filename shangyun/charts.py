"""Charts for runbooks and reports (matplotlib, Agg backend): PNG bytes, base64 for HTML.

- :func:`gantt_png`: the wave's schedule, one bar per step per system (estimated, or the
  journal's real start/end when the wave has run);
- :func:`dependency_png`: the wave's systems and their dependencies (networkx layout);
- :func:`progress_png`: per bureau, systems moved / pending / failed / excluded.

Chinese needs a CJK font: :func:`cjk_font` finds one through ``font_manager`` (Debian's
``fonts-noto-cjk``); without one a warning says Chinese will show as boxes.
"""

from __future__ import annotations

import base64
import io
import warnings
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import matplotlib
import networkx as nx

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib import font_manager

CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Serif CJK SC", "WenQuanYi Zen Hei",
                "WenQuanYi Micro Hei", "Source Han Sans SC", "SimHei", "Microsoft YaHei")
KIND_COLOURS = {"precheck": "#8da0cb", "convert": "#66c2a5", "upload": "#fc8d62",
                "import": "#e78ac3", "launch": "#a6d854", "copy": "#1f78b4",
                "freeze": "#6a3d9a", "delta": "#33a02c", "verify": "#b15928",
                "start": "#ffd92f", "dns": "#17becf", "health": "#e5c494",
                "cutover": "#000000"}
"""The colour of each step kind in the Gantt chart (the legend names each one drawn)."""
OTHER_COLOUR = "#999999"
STATE_COLOURS = {"moved": "#4daf4a", "pending": "#bdbdbd", "failed": "#e41a1c",
                 "excluded": "#984ea3"}


class FontWarning(UserWarning):
    """No CJK font was found: Chinese text in charts will show as boxes."""


@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """The first installed CJK font family (set as matplotlib's sans-serif), or None."""
    for f in font_manager.findSystemFonts():
        if "NotoSansCJK" in f or "notosanscjk" in f.lower():
            font_manager.fontManager.addfont(f)
    names = {f.name for f in font_manager.fontManager.ttflist}
    for family in CJK_FAMILIES:
        if family in names:
            matplotlib.rcParams["font.sans-serif"] = [family, "DejaVu Sans"]
            matplotlib.rcParams["font.family"] = "sans-serif"
            matplotlib.rcParams["axes.unicode_minus"] = False
            return family
    warnings.warn("no CJK font found (install fonts-noto-cjk): Chinese text in charts will "
                  "show as boxes", FontWarning, stacklevel=2)
    return None


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def data_uri(png: bytes) -> str:
    """A ``data:image/png;base64,…`` URI for embedding in self-contained HTML."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


MARK_FAILED = "failed"
"""A Gantt row's ``mark``: the step failed (drawn hatched, red edge)."""
MARK_UNDONE = "undone"
"""A Gantt row's ``mark``: the step ran and was undone later (drawn pale)."""
ROLLBACK = "rollback"
"""A Gantt row's ``kind`` for the undo of a step (drawn in :data:`ROLLBACK_COLOUR`)."""
ROLLBACK_COLOUR = "#7f0000"
FAILED_EDGE = "#e41a1c"


def gantt_png(rows: Sequence[dict[str, Any]], title: str, xlabel: str,
              legend: dict[str, str] | None = None) -> bytes:
    """A Gantt chart. ``rows``: ``{"label", "kind", "start", "seconds"}`` (start and
    seconds in seconds from the wave's start) and an optional ``mark``
    (:data:`MARK_FAILED`, :data:`MARK_UNDONE`); kind :data:`ROLLBACK` is an undo. One lane
    per label, coloured by kind; the legend names every colour and mark drawn, in the
    words of ``legend`` (kind or mark → text; the key itself otherwise)."""
    cjk_font()
    words = legend or {}
    labels = list(dict.fromkeys(r["label"] for r in rows))
    fig, ax = plt.subplots(figsize=(10, 0.45 * max(len(labels), 2) + 1.4))
    total = max((r["start"] + r["seconds"] for r in rows), default=0.0)
    scale, unit = _time_scale(total)
    kinds: list[str] = []
    marks: set[str] = set()
    for r in rows:
        y = labels.index(r["label"])
        mark = r.get("mark") or ""
        colour = ROLLBACK_COLOUR if r["kind"] == ROLLBACK else KIND_COLOURS.get(
            r["kind"], OTHER_COLOUR)
        if r["kind"] not in kinds:
            kinds.append(r["kind"])
        style: dict[str, Any] = {"linewidth": 0}
        if mark == MARK_FAILED:
            style = {"edgecolor": FAILED_EDGE, "hatch": "xxx", "linewidth": 1.5}
        elif mark == MARK_UNDONE:
            style["alpha"] = 0.4
        if mark:
            marks.add(mark)
        ax.barh(y, max(r["seconds"], total * 0.004) / scale, left=r["start"] / scale,
                height=0.6 if r["kind"] != ROLLBACK else 0.3, color=colour, **style)
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.set_xlabel(f"{xlabel} ({unit})")
    ax.set_title(title)
    handles, names = [], []
    for k in [k for k in KIND_COLOURS if k in kinds] + [k for k in kinds
                                                         if k not in KIND_COLOURS]:
        colour = ROLLBACK_COLOUR if k == ROLLBACK else KIND_COLOURS.get(k, OTHER_COLOUR)
        handles.append(plt.Rectangle((0, 0), 1, 1, color=colour))
        names.append(words.get(k, k))
    if MARK_FAILED in marks:
        handles.append(plt.Rectangle((0, 0), 1, 1, facecolor="white", edgecolor=FAILED_EDGE,
                                     hatch="xxx", linewidth=1.5))
        names.append(words.get(MARK_FAILED, MARK_FAILED))
    if MARK_UNDONE in marks:
        handles.append(plt.Rectangle((0, 0), 1, 1, color=OTHER_COLOUR, alpha=0.4))
        names.append(words.get(MARK_UNDONE, MARK_UNDONE))
    if handles:
        ax.legend(handles, names, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)


def _time_scale(total: float) -> tuple[float, str]:
    if total >= 3 * 3600:
        return 3600.0, "h"
    if total >= 180:
        return 60.0, "min"
    return 1.0, "s"


def dependency_png(nodes: Sequence[dict[str, Any]], edges: Sequence[tuple[str, str]],
                   title: str) -> bytes:
    """The dependency graph. ``nodes``: ``{"id", "label", "inside"}`` (inside: in this
    wave, drawn filled; outside: grey); ``edges``: (consumer, provider)."""
    cjk_font()
    g = nx.DiGraph()
    for n in nodes:
        g.add_node(n["id"])
    g.add_edges_from(edges)
    fig, ax = plt.subplots(figsize=(8, 6))
    pos = nx.spring_layout(g, seed=7) if len(g) else {}
    inside = {n["id"] for n in nodes if n["inside"]}
    nx.draw_networkx_nodes(g, pos, nodelist=[n for n in g if n in inside], node_color="#66c2a5",
                           node_size=900, ax=ax)
    nx.draw_networkx_nodes(g, pos, nodelist=[n for n in g if n not in inside],
                           node_color="#dddddd", node_size=700, ax=ax)
    nx.draw_networkx_edges(g, pos, ax=ax, arrows=True, arrowsize=14, node_size=900,
                           edge_color="#555555")
    names = {n["id"]: n["label"] for n in nodes}
    font = matplotlib.rcParams["font.sans-serif"][0]
    nx.draw_networkx_labels(g, pos, labels={n: names.get(n, n) for n in g}, font_size=9,
                            font_family=font, ax=ax)
    ax.set_title(title)
    ax.margins(0.15)
    ax.axis("off")
    return _png(fig)


def progress_png(per_bureau: Sequence[dict[str, Any]], labels: dict[str, str],
                 title: str) -> bytes:
    """Stacked bars per bureau. ``per_bureau``: ``{"label", "moved", "pending", "failed",
    "excluded"}``; ``labels`` names those four states in the document's language."""
    cjk_font()
    fig, ax = plt.subplots(figsize=(10, 0.4 * max(len(per_bureau), 2) + 1.5))
    names = [b["label"] for b in per_bureau]
    left = [0.0] * len(per_bureau)
    for state, colour in STATE_COLOURS.items():
        vals = [float(b.get(state, 0)) for b in per_bureau]
        ax.barh(names, vals, left=left, color=colour, label=labels.get(state, state))
        left = [a + b for a, b in zip(left, vals, strict=True)]
    ax.invert_yaxis()
    ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)


__all__ = ["FontWarning", "cjk_font", "data_uri", "dependency_png", "gantt_png",
           "progress_png"]
