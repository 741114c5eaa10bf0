"""The runbook's public functions: context, charts, rendering, writing."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from shangyun import charts
from shangyun.errors import EstateError
from shangyun.estate.names import shell_word
from shangyun.journal.ports import JournalReader
from shangyun.journal.status import UNDO_FAILED
from shangyun.runbook.context import build_context
from shangyun.runbook.i18n import MESSAGES, translator
from shangyun.runbook.render import render
from shangyun.wave.state import progress_bucket

CHARTS = ("gantt", "graph", "progress")


def estate_words(estate_dir: str | Path) -> str:
    """`` --estate DIR`` (DIR absolute, one shell word) ending every command a document
    suggests: a runbook is read and followed away from the shell that made it, where
    ``$SHANGYUN_ESTATE`` may be unset or name another estate."""
    return f" --estate {shell_word(str(Path(estate_dir).resolve()))}"


def runbook_context(estate_dir: str | Path, number: int, lang: str = "zh", *,
                    journal: JournalReader | None = None) -> dict[str, Any]:
    """Everything the runbook of wave ``number`` shows, as plain JSON-able data; what
    happened comes from ``journal`` (``connectors.journal.history.open_reader``; None:
    the wave has not run). Every command it suggests ends with ``--estate DIR``
    (:func:`estate_words`; ``where`` in the context)."""
    where = estate_words(estate_dir)
    ctx = build_context(estate_dir, number, translator(lang, where), journal=journal,
                        lang=lang)
    ctx["where"] = where
    return ctx


def _gantt_rows(ctx: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    if ctx["ran"]:
        steps = [(s, st) for s in ctx["systems"] for st in s["history"]["steps"]
                 if st["started_ts"] is not None]
        t0 = min((st["started_ts"] for _, st in steps), default=0.0)
        for s, st in steps:
            mark = (charts.MARK_FAILED if st["error"] and st["status"] != UNDO_FAILED else
                    charts.MARK_UNDONE if st["undone"] else "")
            rows.append({"label": s["name"], "kind": st["kind"], "mark": mark,
                         "start": st["started_ts"] - t0, "seconds": st["seconds"] or 0.0})
            if st.get("undo_started_ts") is not None:
                rows.append({"label": s["name"], "kind": charts.ROLLBACK,
                             "mark": charts.MARK_FAILED if st["status"] == UNDO_FAILED
                             else "", "start": st["undo_started_ts"] - t0,
                             "seconds": st.get("undo_seconds") or 0.0})
        return rows
    for s in ctx["systems"]:
        at = s["offset"]
        for st in s["steps"]:
            rows.append({"label": s["name"], "kind": st["kind"], "start": at,
                         "seconds": st["seconds"]})
            at += st["seconds"]
    return rows


def gantt_legend(t: Any) -> dict[str, str]:
    """The Gantt legend's words: each step kind, the rollback bar, failed and undone."""
    words = {k[len("kind_"):]: t(k) for k in MESSAGES if k.startswith("kind_")}
    words.update({charts.ROLLBACK: t("legend_rollback"), charts.MARK_FAILED: t("legend_failed"),
                  charts.MARK_UNDONE: t("legend_undone")})
    return words


def runbook_charts(ctx: dict[str, Any], lang: str = "zh") -> dict[str, bytes]:
    """PNG charts of a runbook context: ``gantt``, ``graph`` (dependencies), ``progress``."""
    t = translator(lang)
    gantt = charts.gantt_png(_gantt_rows(ctx), f"{t('runbook_title', n=ctx['wave'])} · "
                             f"{t('gantt')}", t("duration"), gantt_legend(t))
    nodes = {s["id"]: {"id": s["id"], "label": s["name"], "inside": True}
             for s in ctx["systems"]}
    edges = []
    for s in ctx["systems"]:
        for d in s["dependencies"]:
            nodes.setdefault(d["other"], {"id": d["other"], "label": d["other_name"],
                                          "inside": False})
            edges.append((s["id"], d["other"]) if d["direction"] == "depends_on"
                         else (d["other"], s["id"]))
    graph = charts.dependency_png(list(nodes.values()), sorted(set(edges)), t("graph"))
    per: dict[str, dict[str, Any]] = {}
    for s in ctx["systems"]:
        b = per.setdefault(s["bureau"], {"label": s["bureau_name"], "moved": 0, "pending": 0,
                                         "failed": 0, "excluded": 0})
        b[progress_bucket(s["state"])] += 1
    labels = {k: t(k) for k in ("moved", "pending", "failed", "excluded")}
    progress = charts.progress_png(list(per.values()), labels, t("progress"))
    return {"gantt": gantt, "graph": graph, "progress": progress}


def render_runbook(estate_dir: str | Path, number: int, fmt: str = "md",
                   lang: str = "zh", *, image_prefix: str = "",
                   journal: JournalReader | None = None) -> tuple[str, dict[str, bytes]]:
    """The runbook text and its PNG charts. HTML embeds the charts (base64); Markdown links
    ``<image_prefix><chart>.png`` files that the caller writes beside it."""
    ctx = runbook_context(estate_dir, number, lang, journal=journal)
    pngs = runbook_charts(ctx, lang)
    images = ({k: charts.data_uri(v) for k, v in pngs.items()} if fmt == "html"
              else {k: f"{image_prefix}{k}.png" for k in pngs})
    return render("runbook", fmt, lang, {**ctx, "images": images}), pngs


def default_path(estate_dir: str | Path, number: int, fmt: str, lang: str) -> Path:
    """Where a runbook lands by default: ``<estate>/runbooks/wave-N.<lang>.<fmt>``."""
    return Path(estate_dir) / "runbooks" / f"wave-{number}.{lang}.{fmt}"


def write_document(path: Path, text: str, images: dict[str, bytes] | None = None) -> Path:
    """Write ``text`` (and PNG ``images`` named ``<stem>.<name>.png``) atomically."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        for name, data in (images or {}).items():
            _atomic(path.parent / f"{path.stem}.{name}.png", data)
        _atomic(path, text.encode("utf-8"))
    except OSError as exc:
        raise EstateError(f"{path}: cannot write: {exc}") from exc
    return path


#: The mode of a written document before the umask: what ``open(path, "w")`` would give.
FILE_MODE = 0o666


def _umask() -> int:
    """The process umask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, FILE_MODE & ~_umask())  # mkstemp makes 0600; a document is for sharing
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_runbook(estate_dir: str | Path, number: int, fmt: str = "md", lang: str = "zh",
                  out: str | Path | None = None, *,
                  journal: JournalReader | None = None) -> Path:
    """Render and write the runbook of wave ``number``; returns the file written.

    Default: ``<estate>/runbooks/wave-N.<lang>.<fmt>``; Markdown gets its charts as PNG
    files beside it (``wave-N.<lang>.gantt.png`` …), HTML is self-contained.
    """
    path = Path(out) if out else default_path(estate_dir, number, fmt, lang)
    text, pngs = render_runbook(estate_dir, number, fmt, lang, image_prefix=f"{path.stem}.",
                                journal=journal)
    return write_document(path, text, pngs if fmt == "md" else None)


__all__ = ["default_path", "render_runbook", "runbook_charts", "runbook_context",
           "write_document", "write_runbook"]
