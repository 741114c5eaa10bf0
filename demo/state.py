"""What the demo's stages share: the console, the state passed from stage to stage, and the
exception a stage raises when it cannot run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from lab import LabState
from shangyun.estate import Estate

console = Console(highlight=False)
PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: demo-out/ at the project root (gitignored); in the current folder for an installed copy.
DEFAULT_OUT = (PROJECT_ROOT / "demo-out" if (PROJECT_ROOT / "pyproject.toml").is_file()
               else Path("demo-out"))


@dataclass
class DemoState:
    """What the stages pass on to each other."""

    out: Path
    bureaus: int
    systems: int
    seed: int
    generated: Estate | None = None
    imported: Estate | None = None
    notes: list[str] = field(default_factory=list)
    failed: bool = False
    lab_dir: Path | None = None
    quick: bool = False
    fail_health: str | None = None
    guest: bool = False
    lab: LabState | None = None
    results: dict[str, Any] = field(default_factory=dict)
    api_url: str | None = None
    #: ``"7 (wave 1)"`` when Ctrl-C stopped the demo in that stage, else None
    interrupted: str | None = None

    def guest_system_id(self) -> str | None:
        """The estate id of the real legacy guest's system (``--guest``), else None."""
        if not self.guest or self.lab is None or not self.lab.guests:
            return None
        g = self.lab.guests[0]
        name = next(s["name"] for s in self.lab.systems if s["id"] == g.system)
        est = Estate.load(self.estate_dir, check=False)
        return next((str(r["id"]) for r in est.rows("systems") if r["name"] == name), None)

    @property
    def estate_dir(self) -> Path:
        """The estate the lab pipeline builds (fresh on every run)."""
        return self.out / "estate"

    @property
    def sample_dir(self) -> Path:
        """Where the generated sample (estate + ledgers) goes."""
        return self.out / "sample"

    @property
    def imported_dir(self) -> Path:
        """Where the estate built from the ledgers goes."""
        return self.out / "imported"

    @property
    def the_lab(self) -> LabState:
        """The lab the ``lab up`` stage brought up (the later lab stages need it)."""
        if self.lab is None:
            raise StageSkipped("the lab is not up")
        return self.lab


class StageSkipped(Exception):
    """A stage cannot run yet (a part it needs is missing); the demo says so and goes on."""


#: A stage: takes the state, returns its one-line result (raises to fail or skip).
Stage = Callable[[DemoState], str]
Stages = tuple[tuple[str, Stage], ...]
