"""``wave run --dry-run`` as the journal and the estate judge it, read-only: what the CLI
prints and what the demo builds its cutover file from (one path)."""

from __future__ import annotations

from typing import Any

from connectors.journal.history import open_reader
from connectors.journal.wave import SqlWaveJournal
from shangyun.errors import ShangyunError
from shangyun.estate import Estate
from shangyun.estate.names import names_of
from shangyun.wave.classified import classified_ids, classified_refusal
from shangyun.wave.dryrun import dry_run
from shangyun.wave.engine import cut_over
from shangyun.wave.journal_port import run_refusal
from shangyun.wave.model import WaveWork
from shangyun.wave.steps import RunOptions


def wave_dry_run(estate_dir: str, work: WaveWork, opts: RunOptions,
                 where: str = "") -> dict[str, Any]:
    """The dry run of ``work`` (:func:`shangyun.wave.dryrun.dry_run`) with the systems the
    run would refuse (classified, or held by another wave:
    :func:`shangyun.wave.journal_port.run_refusal`) and those it leaves alone (the journal
    has them cut over: none of their steps runs). An estate without a journal has none
    left alone; nothing is written. ``where``: `` --estate DIR`` ending the commands the
    refusals print, when the command was given one."""
    try:
        estate: Estate | None = Estate.load(estate_dir, check=False)
    except ShangyunError:
        estate = None
    secret = classified_ids(estate) if estate is not None else set()
    names = names_of(estate, "system") if estate is not None else {}
    with open_reader(estate_dir) as journal:
        if journal is None:
            held = {s.id: classified_refusal(s.id, work.number, None, names, where)
                    for s in work.systems if s.id in secret}
            return dry_run(work, opts, held, [])
        j = SqlWaveJournal(journal)
        held = {s.id: why for s in work.systems
                if (why := run_refusal(j, work.number, s.id, names, secret, where))
                is not None}
        alone = [s.id for s in work.systems if cut_over(j, work.number, s.id)]
    return dry_run(work, opts, held, alone)
