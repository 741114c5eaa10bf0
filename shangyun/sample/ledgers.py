"""Per-bureau ledgers for an estate, written the way bureaus write them.

Each bureau picks a style (deterministically from ``seed``):

- ``zh-xlsx``: one workbook, Chinese headers with full-width brackets (内存（G）), a title and
  a 填报 row above each header, a two-row host header (配置 over CPU/内存/磁盘, 利用率 over the
  utilisation columns), 单位/系统名称 merged down, blank rows between systems, sizes as
  text with units ("16G", "2 TB"), 是/否, a 合计 row under the hosts;
- ``en-xlsx``: one workbook with English headers, Y/N, "16 GB", "17.5%";
- ``gbk-csv``: one CSV per sheet in GBK (what Chinese Excel saves), variant Chinese headers,
  a title line above the header, a 合计 line;
- ``rvtools``: a Chinese workbook for systems, physical servers and which VM belongs to
  which system, plus an RVTools export (vInfo/vDisk/vNetwork, the older MB or newer MiB
  columns) with the VMs' sizes, disks and NICs.

Headquarters (hq) always writes ``zh-xlsx``. Dependencies go to the source system's bureau
when the target is in the same bureau or at headquarters; links between two bureaus are
collected by headquarters in ``zz-跨单位依赖关系`` (one workbook per source bureau, imported
last, when every system is known). A ledger names only its own bureau's hosts: a database
link to a host in another bureau gives the source host, the target system and the port.
``manifest.yaml`` lists the files in import order with the bureau each belongs to.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from shangyun.estate import Estate
from shangyun.sample import rvtools
from shangyun.sample.styles import (
    CSV_VALUES,
    EN_VALUES,
    HEADER_SETS,
    SHEET_COLUMNS,
    ZH_VALUES,
    ValueStyle,
    header,
)
from shangyun.sample.xlsx import SheetLayout, new_workbook, save_workbook, write_sheet

STYLES = ("zh-xlsx", "en-xlsx", "gbk-csv", "rvtools")
CROSS_FOLDER = "zz-跨单位依赖关系"
MANIFEST = "manifest.yaml"
REPORT_DATE = "2026-11-20"
SHEET_NAMES = {
    "zh": {"bureaus": "单位信息", "systems": "业务系统", "hosts": "主机台账", "disks": "磁盘",
           "databases": "数据库", "dependencies": "依赖关系"},
    "en": {"bureaus": "Bureau", "systems": "Systems", "hosts": "Servers", "disks": "Disks",
           "databases": "Databases", "dependencies": "Dependencies"},
}


@dataclass(frozen=True)
class LedgerFile:
    """One written ledger file: where it is, whose it is, and in which style."""

    path: Path
    bureau: str
    style: str


@dataclass
class _Views:
    """The estate's tables joined into what ledgers show: names instead of ids."""

    bureaus: pd.DataFrame
    systems: pd.DataFrame
    hosts: pd.DataFrame
    disks: pd.DataFrame
    databases: pd.DataFrame
    dependencies: pd.DataFrame


def write_ledgers(estate: Estate, out_dir: str | Path, seed: int = 0) -> list[LedgerFile]:
    """Write every bureau's ledgers under ``out_dir`` (one folder per bureau) and a manifest.

    Returns the files in import order. ``out_dir`` is replaced entirely. The same estate and
    ``seed`` always give byte-identical files.
    """
    root = Path(out_dir)
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    v = _views(estate)
    styles = assign_styles(v.bureaus["id"].tolist(), seed)
    rng = np.random.default_rng([seed, 7])
    files: list[LedgerFile] = []
    manifest: list[dict[str, Any]] = []
    for b in v.bureaus.to_dict(orient="records"):
        style = styles[b["id"]]
        folder = root / f"{b['id']}-{b['name']}"
        folder.mkdir()
        part = _bureau_part(v, b["id"], b["name"])
        written = _WRITERS[style](folder, b, part, rng)
        files += [LedgerFile(p, b["name"], style) for p in written]
        manifest.append({"folder": folder.name, "bureau": b["name"], "style": style,
                         "files": [p.name for p in written]})
    cross = v.dependencies[v.dependencies["cross"]]
    if len(cross):
        folder = root / CROSS_FOLDER
        folder.mkdir()
        for b in v.bureaus.to_dict(orient="records"):
            mine = cross[cross["bureau_id"] == b["id"]]
            if not len(mine):
                continue
            path = folder / f"{b['id']}-{b['name']}跨单位依赖关系.xlsx"
            wb = new_workbook()
            layout = SheetLayout(title=f"{b['name']}跨单位系统依赖关系",
                                 subtitle=f"汇总：信息中心  日期：{REPORT_DATE}")
            _sheet(wb, "dependencies", mine, HEADER_SETS["zh"], ZH_VALUES, "依赖关系", layout)
            save_workbook(wb, path)
            files.append(LedgerFile(path, b["name"], "zh-xlsx"))
            manifest.append({"folder": CROSS_FOLDER, "bureau": b["name"], "style": "zh-xlsx",
                             "files": [path.name]})
    (root / MANIFEST).write_text(
        yaml.safe_dump({"seed": int(seed), "order": manifest}, allow_unicode=True,
                       sort_keys=False), encoding="utf-8")
    return files


def assign_styles(bureau_ids: Sequence[str], seed: int) -> dict[str, str]:
    """The ledger style of each bureau: hq writes ``zh-xlsx``, the others a fair shuffle."""
    rng = np.random.default_rng([seed, 5])
    others = [b for b in bureau_ids if b != "hq"]
    picks = rng.permutation(np.resize(np.array(STYLES), len(others))).tolist()
    out = dict(zip(others, picks, strict=True))
    if "hq" in bureau_ids:
        out["hq"] = "zh-xlsx"
    return out


def read_manifest(ledger_dir: str | Path) -> list[dict[str, Any]]:
    """The folders of a written ledger set in import order (``folder``, ``bureau``, ``files``)."""
    data = yaml.safe_load((Path(ledger_dir) / MANIFEST).read_text(encoding="utf-8"))
    return list(data["order"])


# ---------------------------------------------------------------------------- views
def _views(est: Estate) -> _Views:
    b = est.tables["bureaus"].copy()
    s = est.tables["systems"].copy()
    h = est.tables["hosts"].copy()
    bname = dict(zip(b["id"], b["name"], strict=True))
    sname = dict(zip(s["id"], s["name"], strict=True))
    sbureau = dict(zip(s["id"], s["bureau_id"], strict=True))
    hname = dict(zip(h["id"], h["hostname"], strict=True))
    hip = dict(zip(h["id"], h["ip"], strict=True))
    s["bureau_name"] = s["bureau_id"].map(bname)
    h["bureau_name"] = h["bureau_id"].map(bname)
    h["system_name"] = h["system_id"].map(sname).fillna("")
    d = est.tables["disks"].copy()
    d["hostname"] = d["host_id"].map(hname)
    d["bureau_id"] = d["host_id"].map(dict(zip(h["id"], h["bureau_id"], strict=True)))
    db = est.tables["databases"].copy()
    db["system_name"] = db["system_id"].map(sname)
    db["hostname"] = db["host_id"].map(hname).fillna("")
    db["bureau_id"] = db["system_id"].map(sbureau)
    dep = est.tables["dependencies"].copy()
    dep["bureau_id"] = dep["source_system"].map(sbureau)
    target_bureau = dep["target_system"].map(sbureau)
    dep["cross"] = (target_bureau != dep["bureau_id"]) & (target_bureau != "hq")
    # a bureau names only its own hosts; a host elsewhere is known by its system and port
    dep.loc[target_bureau != dep["bureau_id"], "target_host"] = ""
    dep["source_ip"] = dep["source_host"].map(hip).fillna("")
    dep["target_ip"] = dep["target_host"].map(hip).fillna("")
    dep["source_host"] = dep["source_host"].map(hname).fillna("")
    dep["target_host"] = dep["target_host"].map(hname).fillna("")
    dep["source_system"] = dep["source_system"].map(sname)
    dep["target_system"] = dep["target_system"].map(sname)
    return _Views(b, s, h, d, db, dep)


def _bureau_part(v: _Views, bid: str, name: str) -> _Views:
    deps = v.dependencies
    return _Views(
        v.bureaus[v.bureaus["id"] == bid],
        v.systems[v.systems["bureau_id"] == bid],
        v.hosts[v.hosts["bureau_id"] == bid],
        v.disks[v.disks["bureau_id"] == bid],
        v.databases[v.databases["bureau_id"] == bid],
        deps[(deps["bureau_id"] == bid) & ~deps["cross"]],
    )


_FIELD = {  # view column for each target, per sheet (default: the target's column name)
    "systems": {"bureaus.name": "bureau_name"},
    "hosts": {"bureaus.name": "bureau_name", "systems.name": "system_name"},
    "disks": {"hosts.hostname": "hostname"},
    "databases": {"systems.name": "system_name", "hosts.hostname": "hostname"},
}


def _rows(sheet: str, df: pd.DataFrame, values: ValueStyle,
          columns: Sequence[str], by_ip: bool = False) -> list[list[Any]]:
    """The cells of ``df`` for ``columns``; ``by_ip``: a dependency's source host by its IP
    (the target, often at headquarters, by its name)."""
    fields = []
    for target in columns:
        f = _FIELD.get(sheet, {}).get(target, target.split(".", 1)[1])
        if sheet == "dependencies" and by_ip and f == "source_host":
            f = f.replace("_host", "_ip")
        fields.append(f)
    out = []
    for rec in df[fields].itertuples(index=False, name=None):
        out.append([values.cell(t, _plain(x)) for t, x in zip(columns, rec, strict=True)])
    return out


def _plain(x: Any) -> Any:
    if x is None or x is pd.NA:
        return None
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.floating):
        return float(x)
    return x


def _sheet(wb: Any, sheet: str, df: pd.DataFrame, headers: dict[str, str], values: ValueStyle,
           name: str, layout: SheetLayout | None = None,
           columns: Sequence[str] | None = None) -> None:
    cols = list(columns or SHEET_COLUMNS[sheet])
    write_sheet(wb, name, [header(headers, sheet, t) for t in cols],
                _rows(sheet, df, values, cols), layout)


# ---------------------------------------------------------------------------- styles
def _zh_xlsx(folder: Path, b: dict[str, Any], p: _Views, rng: np.random.Generator,
             host_columns: Sequence[str] | None = None, hosts: pd.DataFrame | None = None,
             disks: pd.DataFrame | None = None) -> list[Path]:
    """One Chinese workbook with titles, merges, blank rows and a 合计 row."""
    H, V, names = HEADER_SETS["zh"], ZH_VALUES, SHEET_NAMES["zh"]
    hosts = p.hosts if hosts is None else hosts
    disks = p.disks if disks is None else disks
    wb = new_workbook()
    sub = f"填报单位：{b['name']}    填报日期：{REPORT_DATE}"
    _sheet(wb, "bureaus", p.bureaus, H, V, names["bureaus"])
    _sheet(wb, "systems", p.systems, H, V, names["systems"],
           SheetLayout(title=f"{b['name']}业务系统清单", subtitle=sub, merge_down=(0,)))
    cols = list(host_columns or SHEET_COLUMNS["hosts"])
    totals = {0: "合计"}
    for t in ("hosts.cpu_cores", "hosts.memory_gb", "hosts.disk_gb"):
        if t in cols:
            total = float(pd.to_numeric(hosts[t.split(".")[1]]).sum())
            totals[cols.index(t)] = V.cell(t, total)
    groups = [(label, cols.index(a), cols.index(z)) for label, a, z in (
        ("配置", "hosts.cpu_cores", "hosts.disk_gb"),
        ("利用率", "hosts.cpu_util_pct", "hosts.mem_p95_pct")) if a in cols and z in cols]
    _sheet(wb, "hosts", hosts.sort_values(["system_name", "hostname"]), H, V, names["hosts"],
           SheetLayout(title=f"{b['name']}服务器资产台账", subtitle=sub, merge_down=(0, 1),
                       group_by=1, blank_between=True, totals=totals, groups=groups), cols)
    if len(disks):
        _sheet(wb, "disks", disks, H, V, names["disks"])
    _sheet(wb, "databases", p.databases, H, V, names["databases"],
           SheetLayout(title=f"{b['name']}数据库台账"))
    if len(p.dependencies):
        _sheet(wb, "dependencies", p.dependencies, H, V, names["dependencies"],
               SheetLayout(title=f"{b['name']}系统依赖关系"))
    path = folder / f"{b['name']}信息系统资产台账.xlsx"
    save_workbook(wb, path)
    return [path]


def _en_xlsx(folder: Path, b: dict[str, Any], p: _Views, rng: np.random.Generator) -> list[Path]:
    """One English workbook: Y/N, "16 GB", percentages with a % sign, no titles."""
    H, V, names = HEADER_SETS["en"], EN_VALUES, SHEET_NAMES["en"]
    wb = new_workbook()
    for sheet in ("bureaus", "systems", "hosts", "disks", "databases", "dependencies"):
        df = getattr(p, sheet)
        if sheet in ("disks", "dependencies") and not len(df):
            continue
        _sheet(wb, sheet, df, H, V, names[sheet])
    path = folder / f"{b['region']}_IT_asset_inventory.xlsx"
    save_workbook(wb, path)
    return [path]


def _gbk_csv(folder: Path, b: dict[str, Any], p: _Views, rng: np.random.Generator) -> list[Path]:
    """One GBK CSV per sheet with variant Chinese headers, a title line and a 合计 line."""
    H, V = HEADER_SETS["zh-variant"], CSV_VALUES
    out = []
    for sheet in ("bureaus", "systems", "hosts", "disks", "databases", "dependencies"):
        df = getattr(p, sheet)
        if sheet in ("disks", "dependencies") and not len(df):
            continue
        cols = list(SHEET_COLUMNS[sheet])
        rows = _rows(sheet, df, V, cols, by_ip=True)
        lines = [[header(H, sheet, t) for t in cols], *rows]
        title = None
        if sheet == "hosts":
            title = f"{b['name']}服务器台账（{REPORT_DATE}）"
            total = [""] * len(cols)
            total[0] = "合计"
            total[cols.index("hosts.cpu_cores")] = int(df["cpu_cores"].sum())
            total[cols.index("hosts.memory_gb")] = V.cell("hosts.memory_gb",
                                                          float(df["memory_gb"].sum()))
            lines += [[""] * len(cols), total]
        frame = pd.DataFrame(lines)
        path = folder / f"{b['name']}_{SHEET_NAMES['zh'][sheet]}.csv"
        text = frame.to_csv(index=False, header=False, lineterminator="\r\n")
        if title:
            text = title + "," * (len(cols) - 1) + "\r\n" + text
        path.write_bytes(text.encode("gbk"))
        out.append(path)
    return out


def _rvtools(folder: Path, b: dict[str, Any], p: _Views, rng: np.random.Generator) -> list[Path]:
    """A Chinese workbook (physical servers in full; VMs only name, IP, system, role) plus an
    RVTools export of the VMs."""
    vm = p.hosts["kind"] == "vm"
    keep = ("bureaus.name", "systems.name", "hosts.hostname", "hosts.ip", "hosts.kind",
            "hosts.role", "hosts.cpu_util_pct", "hosts.mem_util_pct", "hosts.cpu_p95_pct",
            "hosts.mem_p95_pct")
    hosts = p.hosts.copy()
    blank = [t.split(".")[1] for t in SHEET_COLUMNS["hosts"] if t not in keep
             and t.startswith("hosts.")]
    for c in blank:
        if c in ("cpu_cores", "memory_gb", "disk_gb", "ssh_port"):
            hosts[c] = hosts[c].astype("float64").where(~vm)
        else:
            hosts[c] = hosts[c].where(~vm, "")
    phys_disks = p.disks[p.disks["host_id"].isin(p.hosts.loc[~vm, "id"])]
    written = _zh_xlsx(folder, b, p, rng, hosts=hosts, disks=phys_disks)
    mib = bool(rng.random() < 0.5)
    vms = p.hosts[vm]
    if len(vms):
        path = folder / f"RVTools_export_all_{b['id']}.xlsx"
        rvtools.write_export(path, vms, p.disks[p.disks["host_id"].isin(vms["id"])], mib,
                             datacenter=f"{b['region']}机房")
        written.append(path)
    return written


_WRITERS = {"zh-xlsx": _zh_xlsx, "en-xlsx": _en_xlsx, "gbk-csv": _gbk_csv, "rvtools": _rvtools}
