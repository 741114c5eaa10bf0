"""Running the stages: each named, timed and printed; a failed stage stops the rest."""

from __future__ import annotations

import time
from pathlib import Path

from rich.markup import escape

from connectors.journal.history import open_reader
from demo.documents import stage_documents, stage_where
from demo.estate import stage_assess, stage_discover, stage_lab, stage_lab_import, stage_plan
from demo.sample import SAMPLE_STAGES
from demo.state import DemoState, Stages, StageSkipped, console
from demo.wave import stage_dashboard, stage_wave
from shangyun.errors import ShangyunError
from shangyun.report import programme_status
from shangyun.wave.state import state_words

LAB_STAGES: Stages = (
    ("lab up", stage_lab),
    ("import", stage_lab_import),
    ("discover", stage_discover),
    ("assess", stage_assess),
    ("plan", stage_plan),
    ("dashboard", stage_dashboard),
    ("wave 1", stage_wave),
    ("runbooks", stage_documents),
    ("where to look", stage_where),
)


def run_stages(st: DemoState, stages: Stages) -> DemoState:
    """Run ``stages`` in order, timing each; a failed stage stops the ones after it."""
    st.out.mkdir(parents=True, exist_ok=True)
    for number, (name, fn) in enumerate(stages, start=1):
        console.rule(f"[bold]{number}. {name}[/] — {(fn.__doc__ or '').strip()}")
        started = time.perf_counter()
        try:
            result = fn(st)
        except KeyboardInterrupt:
            st.interrupted = f"{number} ({name})"
            st.failed = True
            console.print(interrupted_words(st, name, time.perf_counter() - started,
                                            sample=stages is SAMPLE_STAGES), soft_wrap=True)
            break
        except StageSkipped as exc:
            console.print(f"[bold yellow]SKIPPED[/]: {exc}")
            st.notes.append(f"{name}: skipped ({exc})")
            continue
        except ShangyunError as exc:
            console.print(f"[bold red]failed[/]: {exc}")
            st.notes.append(f"{name}: failed ({exc})")
            st.failed = True
            break
        except Exception as exc:  # a bug in a piece the stage calls: show it, stop
            console.print_exception(max_frames=4)
            console.print(f"[bold red]failed[/] with an unexpected {type(exc).__name__}")
            st.notes.append(f"{name}: failed (unexpected {type(exc).__name__}: {exc})")
            st.failed = True
            break
        seconds = time.perf_counter() - started
        st.results.setdefault("seconds", {})[name] = round(seconds, 1)
        console.print(f"[green]done[/] in {seconds:.1f} s: {result}")
    return st


def interrupted_words(st: DemoState, stage: str, seconds: float, *, sample: bool = False) -> str:
    """What a Ctrl-C in ``stage`` left, in one paragraph: nothing is half-written (the
    estate, its plan and the documents are each written whole, the wave's steps are
    journaled and a stopped wave rolls back what it was moving), and what to do next."""
    words = (f"[bold yellow]interrupted[/] in stage {st.interrupted} after {seconds:.1f} s "
             "(Ctrl-C): the stages after it did not run. Nothing is half-written: the "
             "estate, its plan and the documents are each written whole, ")
    if stage == "wave 1" and not sample:
        words += (f"and wave 1 stopped and rolled back the systems it was moving — "
                  f"{escape(wave_words(st))} (its journal: 'shangyun wave status 1 --estate "
                  f"{escape(str(st.estate_dir))}'). ")
    elif sample:
        words += (f"though the estate in {escape(str(st.imported_dir))} holds only the ledgers "
                  "imported so far. ")
    else:
        words += "and the lab and the dashboard stay as they are. "
    if sample:
        return words + ("To start over, run the demo again (./scripts/demo --sample): it "
                        "generates the sample and imports it afresh.")
    return words + ("To start over, run the demo again (./scripts/demo): it reuses the lab "
                    "and the dashboard and builds the estate afresh.")


def wave_words(st: DemoState) -> str:
    """Wave 1's state from its journal, in the words of ``wave status`` (never raises: the
    journal may not exist yet)."""
    try:
        with open_reader(st.estate_dir) as journal:
            if journal is None:
                return "its run had not begun"
            data = programme_status(st.estate_dir, journal=journal)
        wave = next(w for w in data["waves"] if w["wave"] == 1)
    except (ShangyunError, OSError, StopIteration) as exc:
        return f"its state could not be read ({exc})"
    return f"its state now: {state_words(str(wave['state']))}"


def run(out: Path, bureaus: int = 35, systems: int = 120, seed: int = 0) -> DemoState:
    """The sample path: generate, import, validate, summarise, compare."""
    st = DemoState(out=out.resolve(), bureaus=bureaus, systems=systems, seed=seed)
    return run_stages(st, SAMPLE_STAGES)


def run_lab(out: Path, bureaus: int = 2, *, lab_dir: Path | None = None, quick: bool = False,
            fail_health: str | None = None, guest: bool = False) -> DemoState:
    """The full pipeline on the lab (see the package's docstring); ``guest``: the lab's
    real legacy guest is moved in wave 1 too."""
    st = DemoState(out=out.resolve(), bureaus=bureaus, systems=0, seed=0,
                   lab_dir=lab_dir.resolve() if lab_dir else None, quick=quick,
                   fail_health=fail_health, guest=guest)
    return run_stages(st, LAB_STAGES)
