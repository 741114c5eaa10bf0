"""The lab-free path (``--sample``): generate the sample estate, import its ledgers bureau by
bureau, validate, summarise and compare the imported counts with the generated ones."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

from openpyxl import load_workbook
from rich.progress import track
from rich.table import Table

from connectors.grid import read_grids
from demo.state import DemoState, Stages, StageSkipped, console
from shangyun.errors import ShangyunError, ValidationFailed
from shangyun.estate import Estate
from shangyun.ledgers.importer import import_ledgers
from shangyun.sample import write_sample
from shangyun.sample.ledgers import CROSS_FOLDER, read_manifest
from shangyun.sample.writer import LEDGER_DIR

COMPARED = ("bureaus", "systems", "hosts", "disks", "databases", "dependencies")


def stage_generate(st: DemoState) -> str:
    """Generate the sample estate and write its ledgers."""
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
    if st.imported_dir.exists():
        shutil.rmtree(st.imported_dir)
    ledger_dir = st.sample_dir / LEDGER_DIR
    order = read_manifest(ledger_dir)
    n_files, conflicts = 0, 0
    for entry in track(order, description="importing ledgers", console=console,
                       transient=True):
        files = [ledger_dir / entry["folder"] / f for f in entry["files"]]
        report = import_ledgers(files, st.imported_dir, reader=read_grids, bureau=entry["bureau"])
        conflicts += len(report.conflicts or [])
        n_files += len(files)
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
    vdisk = rvtools_disk_rows(st.sample_dir / LEDGER_DIR)
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
    n = 0
    for path in sorted(ledger_dir.rglob("RVTools*.xlsx")):
        wb = load_workbook(path, read_only=True)
        n += max(0, wb["vDisk"].max_row - 1) if "vDisk" in wb.sheetnames else 0
        wb.close()
    return n


SAMPLE_STAGES: Stages = (
    ("generate", stage_generate),
    ("import", stage_import),
    ("validate", stage_validate),
    ("summary", stage_summary),
    ("compare", stage_compare),
)
