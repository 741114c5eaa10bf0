"""The demo's main job, run by ``scripts/demo`` as ``python -m shangyun.demo``.

A clear sequence of named stages, each printed with rich as it runs:

1. ``generate`` — write the sample estate and its bureaus' ledgers (``shangyun inventory
   sample``) into ``<out>/sample``;
2. ``import``   — import every bureau's ledgers, in the manifest's order, into a fresh
   estate ``<out>/imported`` (``shangyun inventory import … --bureau NAME``);
3. ``validate`` — load the imported estate and list every problem;
4. ``summary``  — counts per table and per bureau;
5. ``compare``  — imported against generated counts, table by table.

Running it again starts the imported estate afresh, so a second run gives the same result.
Later stages (assess, plan, wave run) are added here as their issues land.
"""

from __future__ import annotations

import io
import json
import shutil
import time
from collections import Counter
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from shangyun.errors import ShangyunError, ValidationFailed
from shangyun.estate import Estate

console = Console(highlight=False)
COMPARED = ("bureaus", "systems", "hosts", "disks", "databases", "dependencies")
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

    @property
    def sample_dir(self) -> Path:
        """Where the generated sample (estate + ledgers) goes."""
        return self.out / "sample"

    @property
    def imported_dir(self) -> Path:
        """Where the estate built from the ledgers goes."""
        return self.out / "imported"


class StageSkipped(Exception):
    """A stage cannot run yet (a part it needs has not landed); the demo says so and goes on."""


# ---------------------------------------------------------------------------- stages
def stage_generate(st: DemoState) -> str:
    """Generate the sample estate and write its ledgers."""
    from shangyun.sample import write_sample
    from shangyun.sample.ledgers import CROSS_FOLDER

    result = write_sample(st.sample_dir, bureaus=st.bureaus, systems=st.systems, seed=st.seed)
    st.generated = result.estate
    counts = result.estate.summary()["counts"]
    styles = Counter(f.style for f in result.ledgers if f.path.parent.name != CROSS_FOLDER)
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(styles.items()))
    return (f"{counts['bureaus']} bureaus, {counts['systems']} systems, {counts['hosts']} hosts,"
            f" {counts['dependencies']} dependencies; {len(result.ledgers)} ledger files "
            f"({kinds}) → {result.path}")


def stage_import(st: DemoState) -> str:
    """Import every bureau's ledgers into a fresh estate, in the manifest's order."""
    from shangyun.cli import main
    from shangyun.sample.ledgers import read_manifest
    from shangyun.sample.writer import LEDGER_DIR

    if "import" not in _inventory_commands():
        raise StageSkipped("'shangyun inventory import' is not available yet")
    if st.imported_dir.exists():
        shutil.rmtree(st.imported_dir)
    ledger_dir = st.sample_dir / LEDGER_DIR
    order = read_manifest(ledger_dir)
    n_files, conflicts = 0, 0
    from shangyun.cli.output import progress

    with progress("importing ledgers", len(order)) as advance:
        for entry in order:
            files = [str(ledger_dir / entry["folder"] / f) for f in entry["files"]]
            args = ["inventory", "import", *files, "--estate", str(st.imported_dir),
                    "--bureau", entry["bureau"], "--no-progress", "--json"]
            code, out, err = _run_cli(main, args)
            if code != 0:
                console.print(err.strip(), markup=False)
                raise ShangyunError(f"import of {entry['folder']} failed (exit {code})")
            conflicts += len(json.loads(out).get("conflicts") or [])
            n_files += len(files)
            advance()
    return (f"{n_files} files in {len(order)} imports → {st.imported_dir} "
            f"({conflicts} conflicts between ledgers)")


def stage_validate(st: DemoState) -> str:
    """Load the imported estate and check it: every problem is listed."""
    if not (st.imported_dir / "estate.yaml").exists():
        raise StageSkipped("nothing imported")
    try:
        st.imported = Estate.load(st.imported_dir, check=True)
    except ValidationFailed as exc:
        st.imported = Estate.load(st.imported_dir, check=False)
        for p in exc.problems[:20]:
            console.print(f"  [red]•[/] {p}")
        raise ShangyunError(f"{len(exc.problems)} problem(s) in the imported estate") from exc
    return "no problems"


def stage_summary(st: DemoState) -> str:
    """Show the estate: counts per table and per bureau."""
    est = st.imported or st.generated
    if est is None:
        raise StageSkipped("no estate")
    summary = est.summary()
    t = Table("bureau", "systems", "hosts", "VMs", "physical", "databases", "disk TB",
              title="imported estate" if st.imported is not None else "generated estate")
    for e in summary["per_bureau"].values():
        t.add_row(e["name"], str(e["systems"]), str(e["hosts"]), str(e["vms"]),
                  str(e["physical"]), str(e["databases"]), f"{e['disk_gb'] / 1024:,.1f}")
    console.print(t)
    c = summary["counts"]
    return (f"{c['systems']} systems ({summary['classified_systems']} classified), "
            f"{c['hosts']} hosts, {summary['disk_gb'] / 1024:,.0f} TB of disks, "
            f"{c['conflicts']} conflicts")


def stage_compare(st: DemoState) -> str:
    """Compare imported against generated counts, table by table."""
    if st.generated is None or st.imported is None:
        raise StageSkipped("needs both the generated and the imported estate")
    rows = compare_counts(st.generated, st.imported)
    vdisk = rvtools_disk_rows(st.sample_dir / "ledgers")
    t = Table("table", "generated", "imported", "", title="imported vs generated")
    bad, notes = [], []
    for name, gen, imp in rows:
        mark = "[green]✓[/]"
        if gen != imp and name == "disks" and imp == vdisk:
            mark = "[yellow]RVTools only[/]"
            notes.append(f"disks: the importer read the {vdisk} disks of the RVTools exports; "
                         f"the other {gen - vdisk} are in 磁盘 sheets, which it does not read")
        elif gen != imp:
            mark = "[red]✗[/]"
            bad.append(name)
        t.add_row(name, str(gen), str(imp), mark)
    console.print(t)
    for note in notes:
        console.print(f"[yellow]note[/]: {note}")
    st.notes += notes
    if bad:
        raise ShangyunError(f"counts differ for: {', '.join(bad)}")
    return "every table matches" + (" (but see the note on disks)" if notes else "")


def compare_counts(generated: Estate, imported: Estate) -> list[tuple[str, int, int]]:
    """``(what, generated, imported)``: rows of each compared table, then a few totals
    (classified systems, shared databases, disk GB) that the ledgers must carry too."""
    rows = [(n, len(generated.tables[n]), len(imported.tables[n])) for n in COMPARED]
    for label, fn in (
        ("classified systems", lambda e: int(e.tables["systems"]["classified"].sum())),
        ("shared databases", lambda e: int(e.tables["databases"]["shared"].sum())),
        ("disk GB", lambda e: round(float(e.tables["disks"]["size_gb"].sum()))),
    ):
        rows.append((label, fn(generated), fn(imported)))
    return rows


def rvtools_disk_rows(ledger_dir: Path) -> int:
    """How many disks the RVTools exports among the ledgers list (rows of their vDisk)."""
    from openpyxl import load_workbook

    n = 0
    for path in sorted(ledger_dir.rglob("RVTools*.xlsx")):
        wb = load_workbook(path, read_only=True)
        n += max(0, wb["vDisk"].max_row - 1) if "vDisk" in wb.sheetnames else 0
        wb.close()
    return n


STAGES: tuple[tuple[str, Callable[[DemoState], str]], ...] = (
    ("generate", stage_generate),
    ("import", stage_import),
    ("validate", stage_validate),
    ("summary", stage_summary),
    ("compare", stage_compare),
)


# ---------------------------------------------------------------------------- running
def run(out: Path, bureaus: int = 35, systems: int = 120, seed: int = 0) -> DemoState:
    """Run every stage in order; a failed stage stops the ones after it."""
    st = DemoState(out=out.resolve(), bureaus=bureaus, systems=systems, seed=seed)
    st.out.mkdir(parents=True, exist_ok=True)
    for number, (name, fn) in enumerate(STAGES, start=1):
        console.rule(f"[bold]{number}. {name}[/] — {(fn.__doc__ or '').strip()}")
        started = time.perf_counter()
        try:
            result = fn(st)
        except StageSkipped as exc:
            console.print(f"[yellow]skipped[/]: {exc}")
            st.notes.append(f"{name}: skipped ({exc})")
            continue
        except ShangyunError as exc:
            console.print(f"[bold red]failed[/]: {exc}")
            st.notes.append(f"{name}: failed ({exc})")
            st.failed = True
            break
        console.print(f"[green]done[/] in {time.perf_counter() - started:.1f} s: {result}")
    return st


def _inventory_commands() -> list[str]:
    from shangyun.cli.inventory import inventory

    return inventory.list_commands(click.Context(inventory))


def _run_cli(main: click.Command, args: list[str]) -> tuple[int, str, str]:
    """Run a ``shangyun`` command in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with redirect_stdout(out), redirect_stderr(err):
        try:
            main.main(args=args, prog_name="shangyun", standalone_mode=False)
        except SystemExit as exc:
            code = int(exc.code or 0)
        except click.ClickException as exc:
            exc.show()
            code = exc.exit_code
    return code, out.getvalue(), err.getvalue()


@click.command()
@click.option("--out", default=str(DEFAULT_OUT), show_default=True,
              type=click.Path(file_okay=False), help="Work folder of the demo.")
@click.option("--bureaus", default=35, show_default=True, type=click.IntRange(1, 254),
              help="Regional bureaus of the sample (besides headquarters).")
@click.option("--systems", default=120, show_default=True, type=click.IntRange(10),
              help="Systems of the sample.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(0),
              help="Seed of the sample.")
def cli(out: str, bureaus: int, systems: int, seed: int) -> None:
    """Generate the sample estate, import its ledgers, validate, summarise and compare."""
    st = run(Path(out), bureaus=bureaus, systems=systems, seed=seed)
    console.rule("[bold]result")
    for note in st.notes:
        console.print(f"• {note}")
    console.print("[bold red]demo failed[/]" if st.failed else "[bold green]demo finished[/]")
    raise SystemExit(1 if st.failed else 0)


def main(argv: list[str] | None = None) -> Any:
    """Entry point of ``python -m shangyun.demo``."""
    return cli.main(args=argv, prog_name="shangyun.demo")


if __name__ == "__main__":
    main()
