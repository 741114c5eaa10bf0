"""A system the estate marks classified (涉密) never moves to the cloud — also when a
re-imported ledger marks it after its wave ran.

The planner excludes a classified system (``shangyun.assess.constraints``), but a wave
that has run keeps the systems it holds (``docs/planning.md``): a system cut over, failed
back or left unfinished in wave N stays in wave N's plan whatever the ledger says now.
So the commands that would move it further or make the cloud its home read the estate
themselves: ``wave run``/``wave resume`` refuse it before anything runs, ``wave
finalize`` refuses it (after a finalize no fail-back is possible), and the re-plan says
so in its notes. The words are made here, once, with the command that brings it home.
Pure: the callers pass the estate and what the journal says.
"""

from __future__ import annotations

from collections.abc import Mapping

from shangyun.estate import Estate
from shangyun.estate.names import command_arg
from shangyun.wave.state import CUT_OVER

CLASSIFIED_WORDS = ("classified (涉密) in the estate, and a classified system never moves "
                    "to the cloud")
"""How every refusal of a classified system begins (after ``NAME is``)."""

MARK_WRONG = ("if the 涉密 mark is wrong, correct 是否涉密 in the ledger and import it "
              "again (shangyun inventory import)")


def classified_ids(estate: Estate) -> set[str]:
    """The ids of the systems ``estate`` marks classified (涉密)."""
    return {str(r["id"]) for r in estate.rows("systems") if r.get("classified") is True}


def way_home(wave: int, state: str, system_id: str, names: Mapping[str, str],
             where: str = "") -> str:
    """The commands that take everything of ``system_id`` off the cloud, where it is
    ``state`` (:func:`shangyun.wave.state.system_state`) in ``wave``: a cut-over system is
    failed back (its production writes carried home) and then rolled back; any other is
    rolled back. ``where``: `` --estate DIR``, ending each command, when one was given."""
    arg = command_arg("system", system_id, names)
    back = f"shangyun wave rollback {wave} --system {arg}"
    if state == CUT_OVER:
        return (f"fail it back ({back} --fail-back{where}), then roll it back there "
                f"({back}{where})")
    return f"roll it back there ({back}{where})"


def classified_refusal(system_id: str, wave: int, held: tuple[int, str] | None,
                       names: Mapping[str, str], estate: str = "") -> str:
    """Why a classified system may not run in (or close) ``wave``, after ``NAME is``:
    ``held`` is the wave that holds it and its state there
    (:func:`shangyun.wave.journal_port.holding_wave`; None: nothing of it on the cloud);
    ``estate``: `` --estate DIR`` for the commands, when one was given."""
    if held is None:
        return (f"{CLASSIFIED_WORDS}: take it out of wave {wave} (shangyun plan{estate} "
                f"excludes it); {MARK_WRONG}")
    where, state = held
    return (f"{CLASSIFIED_WORDS}: it is {state.replace('_', ' ')} in wave {where} — "
            f"{way_home(where, state, system_id, names, estate)}, then re-plan (shangyun "
            f"plan{estate}); {MARK_WRONG}")


__all__ = ["CLASSIFIED_WORDS", "classified_ids", "classified_refusal", "way_home"]
