"""The options of a wave's last run as the words of a ``wave run`` command line, so a
command the runbook or ``wave status`` suggests (``shangyun wave run 1 --only 档案系统 …``)
is accepted as printed: a libvirt run without ``--target-uri`` is refused, and a run with
other staging or another bucket would not find what the earlier run left. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shangyun.estate.names import shell_word

if TYPE_CHECKING:
    from shangyun.wave.journal_port import WaveJournal

_TARGET_FLAGS = (("uri", "--target-uri"), ("pool", "--pool"), ("endpoint", "--ec2-endpoint"),
                 ("region", "--region"))
"""``RunOptions.target_options`` key -> the ``wave run`` option that sets it."""


def run_words(options: Mapping[str, Any] | None, estate_dir: str | Path | None = None) -> str:
    """`` --target-uri URI --pool P …``: the command-line options that repeat a run journaled
    with ``options`` (``RunOptions.to_dict()``), each value one shell word; only what differs
    from ``wave run``'s defaults (the staging folder is left out when it is the estate's own
    ``staging``). Empty for no options (a wave never run: the caller says what to give)."""
    if not options:
        return ""
    words: list[str] = []
    target = str(options.get("target") or "libvirt")
    if target != "libvirt":
        words += ["--target", target]
    given = options.get("target_options") or {}
    for key, flag in _TARGET_FLAGS:
        if given.get(key):
            words += [flag, str(given[key])]
    staging = str(options.get("staging_dir") or "")
    if staging and (estate_dir is None
                    or Path(staging) != (Path(estate_dir) / "staging").resolve()):
        words += ["--staging", staging]
    if options.get("s3_endpoint"):
        words += ["--s3-endpoint", str(options["s3_endpoint"])]
    if options.get("bucket") and options["bucket"] != "shangyun-staging":
        words += ["--bucket", str(options["bucket"])]
    if options.get("digest") and options["digest"] != "sha256":
        words += ["--digest", str(options["digest"])]
    for root in options.get("datastore_roots") or []:
        words += ["--datastore-root", str(root)]
    return "".join(" " + (w if w.startswith("--") else shell_word(w)) for w in words)


def last_run_words(journal: WaveJournal | None, wave: int,
                   estate_dir: str | Path | None = None) -> str:
    """:func:`run_words` of wave ``wave``'s last ``run``-kind run in ``journal`` (of any
    scope: :meth:`WaveJournal.last_run`), for a ``wave run`` a refusal, ``wave status`` or
    the runbook suggests: a libvirt run without them is refused. Empty with no journal or
    no such run (a wave never run: the caller says what to give)."""
    if journal is None:
        return ""
    last = journal.last_run(wave)
    return run_words(last.get("options") if last else None, estate_dir)
