"""``last_run_words``: the one reading of a wave's last run's options as ``wave run`` words,
used by ``wave finalize``'s refusals (actions) and by ``wave status`` and ``shangyun status``
(the CLI), on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from connectors.journal import open_journal
from connectors.journal.wave import SqlWaveJournal
from shangyun.wave.runwords import last_run_words


def test_the_last_run_kind_run_of_any_scope_gives_the_words(journal_target: str,
                                                             tmp_path: Path) -> None:
    estate = tmp_path / "e"
    with open_journal(journal_target) as j:
        wj = SqlWaveJournal(j)
        assert last_run_words(wj, 1, estate) == ""  # never run: nothing to repeat
        assert last_run_words(None, 1, estate) == ""  # no journal
        first = {"target": "libvirt", "target_options": {"uri": "test:///default"},
                 "staging_dir": str((estate / "staging").resolve())}
        wj.finish_run(wj.begin_run(1, {"options": first, "only": None}), "failed")
        assert last_run_words(wj, 1, estate) == " --target-uri test:///default"
        # a rollback or a finalize is not a run: its params give no words
        wj.finish_run(wj.begin_run(1, {"system": "s1"}, kind="rollback"), "done")
        assert last_run_words(wj, 1, estate) == " --target-uri test:///default"
        # a bureau's run counts (the latest of any scope), with a staging of its own
        second = {"target": "libvirt", "target_options": {"uri": "qemu+ssh://h/system",
                                                          "pool": "云 池"},
                  "staging_dir": "/srv/staging"}
        wj.finish_run(wj.begin_run(1, {"options": second, "only": None, "bureau": "b1"}),
                      "done")
        assert last_run_words(wj, 1, estate) == (
            " --target-uri qemu+ssh://h/system --pool '云 池' --staging /srv/staging")
        assert last_run_words(wj, 2, estate) == ""  # another wave's runs are not this one's
