"""Progress bars of a wave run (``shangyun wave run``, ``wave resume`` and the demo's wave 1).

One bar counts the wave's finished steps; each long step that reports how far it is
(convert, upload, the guest's adaptation, the test launch's boot proof) gets a bar of its
own while it runs. When such a step ends after :data:`SHOW_SECONDS` or more, a line above
the bars says how long it took, so the guest's long parts stay visible in the output.

The events are plain strings and numbers (:meth:`StepBars.progress`,
:meth:`StepBars.ended`), so a wave run in another process (the demo's) can send them over
a queue; :meth:`StepBars.on_progress` and :meth:`StepBars.on_step` take the wave's
:class:`~shangyun.wave.steps.Step` objects directly.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

from shangyun.wave.steps import NOT_RUN, UNDONE, Step

#: The steps that report a percentage while they run, and what their bars are called.
LONG_STEPS = {"convert": "convert", "upload": "upload", "adapt": "adapt",
              "launch": "test launch + boot proof"}
#: A long step lasting at least this many seconds is listed with its time when it ends.
SHOW_SECONDS = 5.0


def wave_progress(console: Console) -> Progress:
    """A rich ``Progress`` for a wave run on ``console`` (description, bar, percent,
    elapsed)."""
    return Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                    TimeElapsedColumn(), console=console, transient=False)


@contextmanager
def phase_bar(console: Console, label: str) -> Iterator[Callable[[str, float], None]]:
    """One bar for a long job told (what it does now, percent done), such as the build of
    the lab's legacy guest image (``lab.guests.ensure_guest_image(progress=...)``)."""
    with wave_progress(console) as bar:
        task = bar.add_task(label, total=100.0)

        def told(what: str, pct: float) -> None:
            bar.update(task, completed=max(0.0, min(100.0, pct)),
                       description=f"{label}: {what}")

        yield told


def step_label(step: Step) -> str:
    """What a long step's bar is called: ``adapt legacy-web01``, ``convert <disk>``."""
    what = getattr(step.args, "hostname", "") or "/".join(step.key.split("/")[2:])
    return f"{LONG_STEPS.get(step.kind, step.kind)} {what}".strip()


class StepBars:
    """The bars of one wave run on ``bar``: finished steps (of ``total``, if known) and one
    bar per long step while it runs. Thread-safe (steps of several systems run at once).

    When a system stops (a failure and its rollback, a refusal, a failed move group), each
    of its steps that will not run is told :data:`NOT_RUN` and leaves the total, and each
    step its rollback undid is told :data:`UNDONE` and counted apart; so the steps bar
    still ends full, saying ``wave 1: steps 9/9 (14 planned: 9 run, 5 not run; 3 undone by
    rollback)``.
    """

    def __init__(self, bar: Progress, label: str, total: int | None) -> None:
        self.bar = bar
        self.label = label
        self.total = total
        self.planned = total
        self.finished = 0
        self.undone = 0
        self.not_run = 0
        self.steps = bar.add_task(self._steps_text(), total=total)
        self._long: dict[str, tuple[TaskID, float, str]] = {}
        self._ended: set[str] = set()
        self._lock = threading.Lock()
        #: (label, seconds, outcome) of every long step that ended, in order
        self.timings: list[tuple[str, float, str]] = []

    def _steps_text(self) -> str:
        """``wave 1: steps 3/14``; once steps will not run or were undone, the shares of
        the planned steps that add up to it, and the undone ones (of those run) apart:
        ``wave 1: steps 9/9 (14 planned: 9 run, 5 not run; 3 undone by rollback)``."""
        of = f"/{self.total}" if self.total is not None else ""
        text = f"{self.label}: steps {self.finished}{of}"
        if not (self.undone or self.not_run):
            return text
        shares = [f"{self.finished} run"]
        if self.planned is not None:
            to_go = self.planned - self.finished - self.not_run
            shares += [f"{to_go} to run"] if to_go > 0 else []
        shares += [f"{self.not_run} {NOT_RUN}"] if self.not_run else []
        head = f"{self.planned} planned: " if self.planned is not None else ""
        undone = f"; {self.undone} {UNDONE} by rollback" if self.undone else ""
        return f"{text} ({head}{', '.join(shares)}{undone})"

    def progress(self, key: str, label: str, pct: float) -> None:
        """Step ``key`` (its bar called ``label``) is ``pct`` percent done."""
        with self._lock:
            if key in self._ended:  # a late report of a step that ended
                return
            if key not in self._long:
                task = self.bar.add_task(f"  {label}", total=100.0)
                self._long[key] = (task, time.monotonic(), label)
            task = self._long[key][0]
            self.bar.update(task, completed=max(0.0, min(100.0, pct)))

    def ended(self, key: str, outcome: str) -> None:
        """Step ``key`` ended (``done``, ``skipped``, ``failed``): count it, drop its bar.
        :data:`NOT_RUN`: it never will, the total drops by one; :data:`UNDONE`: a rollback
        undid it (counted apart, the finished count stays)."""
        with self._lock:
            if outcome == UNDONE:
                self.undone += 1
                self.bar.update(self.steps, description=self._steps_text())
                return
            self._ended.add(key)
            if outcome == NOT_RUN:
                self.not_run += 1
                if self.total is not None:
                    self.total = max(self.finished, self.total - 1)
                self.bar.update(self.steps, total=self.total, description=self._steps_text())
            else:
                self.finished += 1
                self.bar.update(self.steps, advance=1, description=self._steps_text())
            long = self._long.pop(key, None)
        if long is None:
            return
        task, started, label = long
        seconds = time.monotonic() - started
        self.bar.remove_task(task)
        self.timings.append((label, round(seconds, 1), outcome))
        if seconds >= SHOW_SECONDS or outcome == "failed":
            self.bar.console.print(f"  {label}: {outcome} in {seconds:.1f} s")

    def on_progress(self, step: Step, pct: float) -> None:
        """The wave's ``on_progress`` listener."""
        self.progress(step.key, step_label(step), pct)

    def on_step(self, step: Step, outcome: str) -> None:
        """The wave's ``on_step`` listener."""
        self.ended(step.key, outcome)

    def apply(self, event: tuple[Any, ...]) -> None:
        """One event sent from another process: ``("progress", key, label, pct)`` or
        ``("ended", key, outcome)``."""
        if event[0] == "progress":
            self.progress(str(event[1]), str(event[2]), float(event[3]))
        elif event[0] == "ended":
            self.ended(str(event[1]), str(event[2]))

    def close(self) -> None:
        """Drop the bars of steps that never said they ended (a run that stopped)."""
        with self._lock:
            left, self._long = list(self._long.values()), {}
        for task, _, _ in left:
            self.bar.remove_task(task)
