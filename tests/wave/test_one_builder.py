"""One step builder: the product's code builds a wave's steps only in
:mod:`shangyun.wave.builder`, and every path that needs the list — the run, its
rehearsal, the dry run, the progress bar, the runbook, the plan's time estimate — asks
it. (The run executing exactly the dry run's list is shown for real in
``tests/cutover/test_one_list.py``.)"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parents[2]
PRODUCT = ("shangyun", "connectors", "flows", "actions", "lab", "demo")
PARTS = {"system_steps", "cutover_steps", "build_steps"}
"""The builder's parts: only the builder calls them."""
MAKERS = {"shangyun/wave/steps.py", "shangyun/wave/cutover.py", "shangyun/wave/engine.py"}
"""Where a ``Step`` may be made: part 1's steps, the cutover's, and the engine's undo
(a journal record turned back into a step to undo it)."""
USERS = {"flows/wave.py", "shangyun/wave/dryrun.py", "shangyun/cli/wave.py",
         "shangyun/runbook/context.py", "shangyun/planner/plan.py"}


def _calls(path: Path) -> set[str]:
    """The names this module calls (``f(...)`` and ``x.f(...)``)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            f = node.func
            out.add(f.id if isinstance(f, ast.Name) else getattr(f, "attr", ""))
    return out


def _product() -> dict[str, set[str]]:
    return {str(p.relative_to(ROOT)): _calls(p) for top in PRODUCT
            for p in sorted((ROOT / top).rglob("*.py")) if ".venv" not in p.parts}


def test_steps_are_built_in_one_place() -> None:
    calls = _product()
    assert calls, "no product code found"
    parts = {f: sorted(c & PARTS) for f, c in calls.items()
             if c & PARTS and f != "shangyun/wave/builder.py"}
    assert parts == {}, f"a second step builder: {parts}"
    makers = sorted(f for f, c in calls.items() if "Step" in c and f not in MAKERS)
    assert makers == [], f"steps made outside the builder: {makers}"


def test_every_user_of_the_list_asks_the_builder() -> None:
    calls = _product()
    missing = sorted(f for f in USERS if "wave_steps" not in calls.get(f, set()))
    assert missing == [], f"not built by shangyun.wave.builder.wave_steps: {missing}"
