"""What the Prefect dashboard shows of a wave, in the words of its one state
(:mod:`shangyun.wave.state`): the name and message of a wave flow run's final state, and a
system's state in the flow's table. Pure: the flow (:mod:`flows.wave`) and ``wave
finalize`` (which sets the state again once the wave is closed) send them.

A wave whose every system moved but was cut over is not finished: its flow run ends
Completed named ``AwaitingFinalize`` with the wave state's words (cut over — awaiting
finalize, the source kept for fail-back until ``wave finalize``), not a plain Completed;
``wave finalize`` renames it ``Finalized`` (the wave is done)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from shangyun.runbook.i18n import LANGS, state_label, translator
from shangyun.wave.state import CUT_OVER, SYSTEM_DONE, WAVE_CUT_OVER, WAVE_DONE

AWAITING_FINALIZE: Final = "AwaitingFinalize"
"""The name of a wave flow run's Completed state while the wave is cut over."""
FINALIZED: Final = "Finalized"
"""The name ``wave finalize`` gives the wave's flow runs (the wave is done)."""
COMPLETED: Final = "Completed"


def dashboard_lang(environ: Mapping[str, str]) -> str:
    """The language of what the dashboard shows: ``$SHANGYUN_LANG``, ``zh`` (the default)
    or ``en``."""
    value = (environ.get("SHANGYUN_LANG") or "zh").strip().lower()
    return value if value in LANGS else "zh"


def flow_run_state(number: int, state: str, lang: str, *,
                   finalized: bool = False) -> tuple[str, str]:
    """``(name, message)`` of wave ``number``'s flow run once it ended Completed, from the
    wave's one state (:func:`shangyun.wave.state.wave_state`) in ``lang``: ``cut_over`` is
    ``AwaitingFinalize`` with what comes next; ``finalized`` (``wave finalize`` closed it)
    is ``Finalized``; any other is ``Completed``, its message the state's words."""
    t = translator(lang)
    message = f"wave {number}: " + t(f"wave_{state.replace(' ', '_')}")
    if state == WAVE_CUT_OVER:
        return AWAITING_FINALIZE, f"{message}{'；' if lang == 'zh' else '; '}" + t(
            "pending_finalize", n=number)
    if finalized and state == WAVE_DONE:
        return FINALIZED, message + ("（已收尾）" if lang == "zh" else " (finalized)")
    return COMPLETED, message


def system_words(state: str, lang: str, *, cut_over: bool = False) -> str:
    """A system's state as the dashboard's table shows it, in ``lang``: a system of a
    run that ended ``done`` with its ``cutover`` step done (``cut_over``) is cut over —
    awaiting finalize, as the journal's state (:func:`shangyun.wave.state.system_state`)
    says until ``wave finalize``."""
    if cut_over and state == SYSTEM_DONE:
        state = CUT_OVER
    return state_label(lang, state)


__all__ = ["AWAITING_FINALIZE", "COMPLETED", "FINALIZED", "dashboard_lang", "flow_run_state",
           "system_words"]
