"""``shangyun inventory sample``: write the generated sample estate and its bureaus' ledgers."""

from __future__ import annotations

from collections import Counter

import click

from shangyun.cli.output import Table, console, handle_errors, json_option, print_json


@click.command("sample")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=str),
              help="Folder to write the estate (estate.yaml + CSVs) and ledgers/ into.")
@click.option("--bureaus", default=35, show_default=True, type=click.IntRange(1, 254),
              help="Regional bureaus (besides headquarters).")
@click.option("--systems", default=120, show_default=True, type=click.IntRange(10),
              help="Business systems and shared services.")
@click.option("--hosts", default=None, type=click.IntRange(1),
              help="Hosts (default: about 5.8 per system).")
@click.option("--dependencies", default=None, type=click.IntRange(0),
              help="Dependencies (default: what shared services and links give).")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(0),
              help="Random seed: the same seed writes byte-identical files (but for the "
              "'updated:' time in estate.yaml).")
@click.option("--force", is_flag=True, help="Replace a non-empty folder that is not a sample.")
@json_option
@handle_errors
def sample(out: str, bureaus: int, systems: int, hosts: int | None, dependencies: int | None,
           seed: int, force: bool, as_json: bool) -> None:
    """Generate a realistic sample estate (hq + bureaus) and its per-bureau ledgers.

    Writes OUT/estate.yaml and the CSV tables, and OUT/ledgers/<bureau>/ with each bureau's
    ledgers in its own style (Chinese or English workbooks, GBK CSV, RVTools exports) and
    OUT/ledgers/manifest.yaml listing them in import order.
    """
    from shangyun.sample import write_sample

    result = write_sample(out, bureaus=bureaus, systems=systems, seed=seed, hosts=hosts,
                          dependencies=dependencies, force=force)
    summary = result.estate.summary()
    styles = Counter(f.style for f in result.ledgers)
    data = {
        "ok": True,
        "out": str(result.path),
        "seed": seed,
        "fingerprint": result.estate.fingerprint(),
        "counts": {k: v for k, v in summary["counts"].items() if k != "conflicts"},
        "classified_systems": summary["classified_systems"],
        "ledgers": [str(f.path.relative_to(result.path)) for f in result.ledgers],
        "ledger_styles": dict(sorted(styles.items())),
    }
    if as_json:
        print_json(data)
        return
    t = Table("table", "rows", title=f"sample estate (seed {seed}) → {result.path}")
    for name, n in data["counts"].items():
        t.add_row(name, str(n))
    console.print(t)
    console.print(f"ledgers: {len(result.ledgers)} files in {result.path / 'ledgers'} "
                  f"({', '.join(f'{k}: {v}' for k, v in data['ledger_styles'].items())})")
