"""The estate: every table of one migration programme, loaded, validated and saved.

An estate folder holds ``estate.yaml`` (``schema_version``, name, sources) and one CSV per
table in :mod:`shangyun.estate.schema`. Other stages keep their own files in sub-folders
(``plan/``, ``assessment/``, ``facts/`` …); saving the estate keeps them.

Saving is all-or-nothing: the new folder is written beside the old one and swapped in with
renames, so a failure (or a crash) never leaves a half-written estate.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import functools
import hashlib
import io
import math
import os
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from pandas.api.types import infer_dtype

from shangyun.errors import EstateError, Problem, SchemaVersionError, ValidationFailed
from shangyun.estate import datastores
from shangyun.estate.schema import LATER_COLUMNS, SCHEMA_VERSION, TABLES, Column, Table

META_FILE = "estate.yaml"
TRUE_WORDS = {"true", "1", "yes", "y", "是", "t", "on", "√", "✓"}
FALSE_WORDS = {"false", "0", "no", "n", "否", "f", "off", "×", "✗"}
_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_MONTH = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")


def empty_frame(table: Table) -> pd.DataFrame:
    """An empty frame with the table's columns and dtypes (a new one each call)."""
    return _empty_template(table).copy()


@functools.cache
def _empty_template(table: Table) -> pd.DataFrame:
    """The empty frame of ``table``, built once (building one costs ~100 times a copy)."""
    return pd.DataFrame({c.name: pd.Series([], dtype=_dtype(c)) for c in table.columns})


def _dtype(col: Column) -> str:
    return {"int": "Int64", "float": "float64", "bool": "boolean"}.get(col.kind, "object")


def parse_bool(value: str) -> bool | None:
    """``True``/``False`` for the usual spellings (true/1/yes/Y/是 …), ``None`` otherwise."""
    v = value.strip().lower()
    if v in TRUE_WORDS:
        return True
    if v in FALSE_WORDS:
        return False
    return None


def coerce_table(
    table: Table, raw: pd.DataFrame, file: str,
    kept: dict[tuple[int, str], tuple[str, str]] | None = None,
) -> tuple[pd.DataFrame, list[Problem]]:
    """Turn a frame of strings into the table's typed frame, collecting every problem.

    ``raw`` holds strings ('' for empty). Unknown extra columns are kept as strings. Row
    numbers in problems are spreadsheet rows (header = row 1). A value that does not parse
    is empty in the typed frame; with ``kept``, its text and problem are recorded there
    under ``(row index, column)``.
    """
    problems: list[Problem] = []
    out: dict[str, pd.Series] = {}
    n = len(raw)
    for col in table.columns:
        if col.name not in raw.columns:
            if col.required:
                problems.append(Problem(file, None, col.name, "required column is missing"))
            out[col.name] = pd.Series([pd.NA if col.kind in ("int", "bool") else
                                       (math.nan if col.kind == "float" else "")] * n,
                                      dtype=_dtype(col))
            continue
        values = raw[col.name].astype(str).str.strip().tolist()
        parsed: list[Any] = []
        for i, v in enumerate(values):
            row = i + 2
            if v == "" or v.lower() in ("nan", "none", "<na>"):
                if col.required:
                    problems.append(Problem(file, row, col.name, "a value is required"))
                parsed.append(math.nan if col.kind == "float" else
                              (pd.NA if col.kind in ("int", "bool") else ""))
                continue
            value, err = _parse(col, v)
            if err:
                problems.append(Problem(file, row, col.name, err))
                if kept is not None:
                    kept[(i, col.name)] = (v, err)
                parsed.append(math.nan if col.kind == "float" else
                              (pd.NA if col.kind in ("int", "bool") else ""))
            else:
                parsed.append(value)
        out[col.name] = pd.Series(parsed, dtype=_dtype(col))
    for extra in raw.columns:
        if extra not in out:
            out[extra] = raw[extra].astype(str).reset_index(drop=True)
    return pd.DataFrame(out), problems


def _parse(col: Column, v: str) -> tuple[Any, str | None]:
    if col.kind == "int":
        try:
            f = float(v)
        except ValueError:
            return None, f"{v!r} is not a whole number"
        if not f.is_integer():
            return None, f"{v!r} is not a whole number"
        return _bounded(col, int(f))
    if col.kind == "float":
        try:
            f = float(v)
        except ValueError:
            return None, f"{v!r} is not a number"
        if math.isnan(f) or math.isinf(f):
            return None, f"{v!r} is not a number"
        return _bounded(col, f)
    if col.kind == "bool":
        b = parse_bool(v)
        if b is None:
            return None, f"{v!r} is not yes/no (true/false, 是/否)"
        return b, None
    if col.kind == "enum":
        low = v.lower()
        if low not in col.choices:
            return None, f"{v!r} is not one of: {', '.join(col.choices)}"
        return low, None
    if col.kind == "time":
        if not _TIME.match(v):
            return None, f"{v!r} is not a time HH:MM"
        hh, mm = v.split(":")
        return f"{int(hh):02d}:{mm}", None
    if col.kind == "month":
        m = _MONTH.match(v)
        try:
            if not m:
                raise ValueError(v)
            dt.date(int(m.group(1)), int(m.group(2) or 1), int(m.group(3) or 1))
        except ValueError:
            return None, f"{v!r} is not a date YYYY-MM-DD, YYYY-MM or YYYY"
        return v, None
    if col.kind == "dates":
        days = [d.strip() for d in re.split(r"[;,；，\s]+", v) if d.strip()]
        for d in days:
            try:
                dt.date.fromisoformat(d)
            except ValueError:
                return None, f"{d!r} is not a date YYYY-MM-DD"
        return ";".join(days), None
    return v, None


def _bounded(col: Column, x: float) -> tuple[Any, str | None]:
    if col.low is not None and x < col.low:
        return None, f"{x:g} is below the minimum {col.low:g}"
    if col.high is not None and x > col.high:
        return None, f"{x:g} is above the maximum {col.high:g}"
    return x, None


@dataclass
class Estate:
    """Everything known about one migration programme.

    ``tables`` maps each table name of :data:`TABLES` to a typed ``pandas.DataFrame``;
    ``meta`` is the content of ``estate.yaml`` (without ``schema_version``, which is
    written on save).
    """

    meta: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    #: Hand-typed cells that did not parse when the estate was loaded (``cpu_cores = '8
    #: cores'``): table -> {(row id, column): (text, problem)}. They are empty in
    #: ``tables``; :meth:`save` writes each text back while its cell is still empty, so a
    #: command that did not change the cell never blanks it (one that set a valid value
    #: replaces it).
    kept: dict[str, dict[tuple[str, str], tuple[str, str]]] = field(
        default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name, table in TABLES.items():
            if name not in self.tables:
                self.tables[name] = empty_frame(table)

    # ----------------------------------------------------------------- construction
    @classmethod
    def new(cls, name: str, **meta: Any) -> Estate:
        """An empty estate called ``name``."""
        now = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
        return cls(meta={"name": name, "created": now, "sources": [], **meta})

    @classmethod
    def from_records(
        cls, meta: Mapping[str, Any], records: Mapping[str, Iterable[Mapping[str, Any]]]
    ) -> Estate:
        """An estate from plain rows (dicts) per table; values are coerced like a load."""
        est = cls(meta=dict(meta))
        for name, rows in records.items():
            est.set_rows(name, rows)
        return est

    def set_rows(self, name: str, rows: Iterable[Mapping[str, Any]]) -> list[Problem]:
        """Replace table ``name`` with ``rows``; returns the coercion problems (if any)."""
        table = TABLES[name]
        raw = pd.DataFrame([{k: _to_text(v) for k, v in r.items()} for r in rows])
        if raw.empty:
            self.tables[name] = empty_frame(table)
            return []
        typed, problems = coerce_table(table, raw.fillna(""), table.file)
        self.tables[name] = typed
        return problems

    def rows(self, name: str) -> list[dict[str, Any]]:
        """Table ``name`` as a list of dicts with plain Python values (None for empty)."""
        df = self.tables[name]
        if not len(df):  # (an empty table: pandas' own to_dict costs ~0.4 ms)
            return []
        out = []
        for rec in df.to_dict(orient="records"):
            out.append({k: _plain(v) for k, v in rec.items()})
        return out

    def __iter__(self) -> Iterator[str]:
        return iter(self.tables)

    def kept_cells(self) -> list[str]:
        """The invalid hand-typed cells :attr:`kept` holds that are still empty (so
        :meth:`save` writes them back), one sentence each."""
        out = []
        for name, cells in self.kept.items():
            df = self.tables[name]
            for (key, col), (_, problem) in cells.items():
                if col not in df.columns:
                    continue
                values = df.loc[df["id"] == key, col].tolist()
                if values and all(_plain(v) in (None, "") for v in values):
                    out.append(f"{TABLES[name].file} {key} {col}: {problem}; kept as typed "
                               f"(fix it by hand)")
        return out

    # ----------------------------------------------------------------- validation
    def validate(self) -> list[Problem]:
        """Every problem of the estate at once: types, duplicates, references, impossibles.

        Type and range problems are found when a table is loaded or set; this checks what
        spans rows and tables (duplicate ids, dangling references, cross-column rules).
        """
        problems: list[Problem] = []
        ids: dict[str, set[str]] = {}
        for name, table in TABLES.items():
            keys = self.tables[name]["id"].tolist()
            distinct = set(keys)
            if len(distinct) < len(keys):  # some id repeats: name each repetition
                repeated = {k for k, count in Counter(keys).items()
                            if count > 1 and not (k == "" or k is None)}
                first: dict[str, int] = {}
                for i, key in enumerate(keys):
                    if key not in repeated:
                        continue
                    if key in first:
                        problems.append(Problem(
                            table.file, i + 2, "id",
                            f"duplicate id {key!r} (first at row {first[key]})"))
                    else:
                        first[key] = i + 2
            distinct.discard("")
            distinct.discard(None)
            ids[name] = distinct
        for name, table in TABLES.items():
            df = self.tables[name]
            for col in table.columns:
                if not col.ref:
                    continue
                values = df[col.name].tolist()
                unknown = {v for v in set(values).difference(ids[col.ref]) if v}
                if not unknown:
                    continue
                for i, v in enumerate(values):  # the rows holding an unknown one, in order
                    if v in unknown:
                        problems.append(Problem(table.file, i + 2, col.name,
                                                f"refers to unknown {col.ref[:-1]} {v!r}"))
        problems += self._cross_checks()
        problems += self._duplicate_ips()[0]
        problems += [Problem(META_FILE, None, datastores.KEY, why) for why in
                     datastores.setting_problems(self.meta, ids["bureaus"])]
        return problems

    def warnings(self) -> list[Problem]:
        """What is doubtful but not wrong (``inventory validate`` lists them and still
        passes): an address a powered-off host shares with another host of its bureau, or
        one two bureaus' hosts share in the same network zone (see :meth:`_duplicate_ips`)."""
        return self._duplicate_ips()[1]

    def _duplicate_ips(self) -> tuple[list[Problem], list[Problem]]:
        """Hosts sharing an IP address: ``(errors, warnings)``.

        Two hosts of one bureau with the same IP, neither powered off, are an **error**: a
        copied ledger row, and the cut-over's DNS cannot point one name at two machines. If
        each has its own SSH port on that address (port forwarding: NAT, a jump host) or
        one of them is powered off (a retired copy kept in RVTools) it is a **warning**, as
        is the same IP in two bureaus whose systems are in the same network zone (a shared
        network such as 政务外网: one of the two is wrong, or NAT hides the clash). Each
        message names both hosts, the bureau(s), the address and the files they came from.
        """
        hosts = self.tables["hosts"]
        if hosts.empty:
            return [], []
        keys = [ip.strip().lower() if isinstance(ip, str) else "" for ip in hosts["ip"].tolist()]
        distinct = set(keys)
        distinct.discard("")
        if len(distinct) == len(keys) - keys.count(""):  # no address held twice (the usual
            return [], []  # case): nothing to tell
        shared = {k for k, count in Counter(keys).items() if count > 1 and k}
        by_ip: dict[str, list[int]] = {}
        for i, key in enumerate(keys):
            if key in shared:
                by_ip.setdefault(key, []).append(i)
        bureau_names = dict(zip(self.tables["bureaus"]["id"].tolist(),
                                self.tables["bureaus"]["name"].tolist(), strict=True))
        zones = dict(zip(self.tables["systems"]["id"].tolist(),
                         self.tables["systems"]["network_zone"].tolist(), strict=True))
        errors: list[Problem] = []
        warnings: list[Problem] = []
        names = hosts["hostname"].tolist()
        bureaus = hosts["bureau_id"].tolist()
        systems = hosts["system_id"].tolist()
        power = hosts["power_state"].tolist()
        sources = hosts["source"].tolist() if "source" in hosts.columns else [""] * len(hosts)
        ports = (hosts["ssh_port"].tolist() if "ssh_port" in hosts.columns
                 else [None] * len(hosts))

        def forwarded(i: int, j: int) -> bool:
            """Both hosts have their own SSH port on the shared address: port forwarding
            (NAT, a jump host, a lab), not a copied row."""
            a, b = ports[i], ports[j]
            return bool(pd.notna(a) and pd.notna(b) and a != b)

        def who(i: int) -> str:
            src = sources[i] if isinstance(sources[i], str) and sources[i] else "estate"
            return f"{names[i]!r} (hosts.csv row {i + 2}, from {src.replace(';', ', ')})"

        def bureau(i: int) -> str:
            b = bureaus[i]
            return str(bureau_names.get(b) or b)

        for ip, rows in by_ip.items():
            if len(rows) < 2:
                continue
            for n, j in enumerate(rows[1:], 1):
                same = [i for i in rows[:n] if bureaus[i] == bureaus[j]]
                if same:
                    i = same[0]
                    off = [h for h in (i, j) if power[h] == "off"]
                    text = (f"hosts {who(i)} and {who(j)} of bureau {bureau(i)} have the "
                            f"same IP {ip}")
                    if forwarded(i, j):
                        warnings.append(Problem(
                            "hosts.csv", j + 2, "ip",
                            text + f" on SSH ports {int(ports[i])} and {int(ports[j])}: "
                            "forwarded ports of one address (NAT, a jump host)? the "
                            "cut-over's DNS must name each host's own address"))
                    elif off:
                        warnings.append(Problem(
                            "hosts.csv", j + 2, "ip",
                            text + f" ({', '.join(repr(names[h]) for h in off)} is powered "
                            "off: a retired copy? give it no IP or remove it)"))
                    else:
                        errors.append(Problem(
                            "hosts.csv", j + 2, "ip",
                            text + ": one address per host (a copied ledger row?); the "
                            "cut-over's DNS cannot point two hosts at one address"))
                    continue
                zj = zones.get(systems[j])
                for i in rows[:n]:
                    if isinstance(zj, str) and zj and zones.get(systems[i]) == zj:
                        warnings.append(Problem(
                            "hosts.csv", j + 2, "ip",
                            f"hosts {who(i)} of bureau {bureau(i)} and {who(j)} of bureau "
                            f"{bureau(j)} have the same IP {ip} in network zone {zj}: one of "
                            "them is wrong, unless NAT separates them"))
                        break
        return errors, warnings

    def datastore_roots(self, root: str | os.PathLike[str]) -> datastores.RootsByBureau:
        """Bureau id (``"*"``: every bureau) -> the folders source images may be read from
        (``estate.yaml`` ``datastore_roots``, relative ones from the estate folder ``root``;
        :mod:`shangyun.estate.datastores`); :class:`EstateError` for a bad setting."""
        return datastores.roots_by_bureau(self.meta, root)

    def _cross_checks(self) -> list[Problem]:
        """Rules across columns; each found with column masks (only flagged rows are
        visited), in the order a row-by-row check would report them."""
        problems: list[Problem] = []
        disks = self.tables["disks"]
        size = pd.to_numeric(disks["size_gb"], errors="coerce")
        used = pd.to_numeric(disks["used_gb"], errors="coerce")
        over = (size.notna() & used.notna() & (used > size * 1.0001)).to_numpy(bool)
        for i in over.nonzero()[0].tolist():
            problems.append(Problem("disks.csv", i + 2, "used_gb",
                                    f"used {used.iat[i]:g} GB is more than the size "
                                    f"{size.iat[i]:g} GB"))
        deps = self.tables["dependencies"]
        no_src = ~(_truthy(deps["source_system"]) | _truthy(deps["source_host"]))
        no_dst = ~(_truthy(deps["target_system"]) | _truthy(deps["target_host"])
                   | _truthy(deps["external"]))
        for i in (no_src | no_dst).nonzero()[0].tolist():
            if no_src[i]:
                problems.append(Problem("dependencies.csv", i + 2, "source_system",
                                        "a dependency needs a source system or host"))
            if no_dst[i]:
                problems.append(Problem("dependencies.csv", i + 2, "target_system",
                                        "a dependency needs a target system, host or external"))
        bureaus = self.tables["bureaus"]
        has = [_truthy(bureaus["window_day"]), _truthy(bureaus["window_start"]),
               bureaus["window_hours"].notna().to_numpy(bool)]
        partial = (has[0] | has[1] | has[2]) & ~(has[0] & has[1] & has[2])
        for i in partial.nonzero()[0].tolist():
            problems.append(Problem("bureaus.csv", i + 2, "window_start",
                                    "a maintenance window needs window_day, window_start "
                                    "and window_hours together"))
        systems = self.tables["systems"]
        own = systems["id"].astype(str).to_numpy()
        primary = systems["dr_primary"].fillna("").astype(str).to_numpy()
        for i in (primary == own).nonzero()[0].tolist():
            problems.append(Problem("systems.csv", i + 2, "dr_primary",
                                    "a system cannot be the DR standby of itself"))
        return problems

    def check(self) -> None:
        """Raise :class:`ValidationFailed` listing every problem, if there is any."""
        problems = self.validate()
        if problems:
            raise ValidationFailed(problems)

    # ----------------------------------------------------------------- summaries
    def fingerprint(self) -> str:
        """SHA-256 over every table's content (not ``meta``): what a plan was made from.

        Two estates with the same rows (in any order) have the same fingerprint; the wave
        pre-check compares it with the one recorded in the plan.
        """
        h = hashlib.sha256()
        for name in TABLES:
            if name == "conflicts":
                continue
            df = self.tables[name]
            text_of = {c: _text_column(df[c]).tolist() for c in df.columns}
            cols = sorted(c for c in df.columns if (name, c) not in LATER_COLUMNS
                          or any(text_of[c]))
            text = [text_of[c] for c in cols]
            lines = sorted("\x1f".join(row) for row in zip(*text, strict=True))
            h.update(f"{name}\x1e{','.join(cols)}\x1e".encode())
            h.update("\n".join(lines).encode())
        return h.hexdigest()

    def summary(self) -> dict[str, Any]:
        """Counts per table and per bureau (systems, hosts, disks, databases, data).

        Disk space (``disk_gb``, per bureau and in all) counts each host once: its disk
        rows' sizes, or the host's own size when no disk row lists it (a ledger giving
        磁盘(GB) per host, before discovery); ``disk_gb_unlisted`` is that second part."""
        counts = {name: len(df) for name, df in self.tables.items()}
        hosts, systems = self.tables["hosts"], self.tables["systems"]
        dbs, disks = self.tables["databases"], self.tables["disks"]
        # a host's disk space: its disk rows' sizes when it has any, else the size the
        # ledger gives the host (what the planner counts too) — one rule for the bureau
        # lines and the total
        listed = disks["size_gb"].fillna(0).groupby(disks["host_id"]).sum()
        host_gb = hosts["id"].map(listed)
        unlisted = host_gb.isna()
        host_gb = host_gb.where(~unlisted, hosts["disk_gb"]).fillna(0).astype(float)
        hosts = hosts.assign(_disk_gb=host_gb)
        per: dict[str, dict[str, Any]] = {}
        for b in self.rows("bureaus"):
            per[b["id"]] = {"name": b["name"], "systems": 0, "hosts": 0, "vms": 0,
                            "physical": 0, "databases": 0, "disk_gb": 0.0}
        for bid, n in systems["bureau_id"].value_counts().items():
            per.setdefault(str(bid), _blank_bureau(str(bid)))["systems"] = int(n)
        for bid, grp in hosts.groupby("bureau_id"):
            e = per.setdefault(str(bid), _blank_bureau(str(bid)))
            e["hosts"] = len(grp)
            e["vms"] = int((grp["kind"] == "vm").sum())
            e["physical"] = int((grp["kind"] == "physical").sum())
            e["disk_gb"] = round(float(grp["_disk_gb"].sum()), 1)
            live = sorted(v for v in grp["go_live"].tolist() if isinstance(v, str) and v)
            if live:
                e["go_live"] = [live[0], live[-1]]
        sys_bureau = dict(zip(systems["id"], systems["bureau_id"], strict=True))
        for sid in dbs["system_id"].tolist():
            b = sys_bureau.get(sid)
            if b is not None:
                per.setdefault(b, _blank_bureau(b))["databases"] += 1
        return {
            "name": self.meta.get("name", ""),
            "schema_version": SCHEMA_VERSION,
            "counts": counts,
            "classified_systems": int(systems["classified"].fillna(False).sum()),
            "disk_gb": round(float(host_gb.sum()), 1),
            #: the part of ``disk_gb`` from host sizes (hosts no disk row lists)
            "disk_gb_unlisted": round(float(host_gb[unlisted].sum()), 1),
            "per_bureau": per,
        }

    # ----------------------------------------------------------------- files
    @classmethod
    def load(cls, path: str | os.PathLike[str], *, check: bool = True) -> Estate:
        """Read the estate folder at ``path``.

        Raises :class:`SchemaVersionError` for another schema version,
        :class:`EstateError` when the folder is not an estate, and (with ``check``)
        :class:`ValidationFailed` with every problem found.
        """
        root = Path(path)
        if not root.is_dir():
            raise EstateError(f"{root}: no such estate folder")
        stage = _committed_stage(root)  # a committed save not yet rolled forward: read it
        meta_path = _current(root, stage, META_FILE)
        if not meta_path.is_file():
            raise EstateError(f"{root}: not an estate (no {META_FILE}); create one with "
                              "'shangyun inventory import' or 'shangyun inventory sample'")
        try:
            meta = yaml.safe_load(meta_path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise EstateError(f"{meta_path}: not valid YAML: {exc}") from exc
        if not isinstance(meta, dict):
            raise EstateError(f"{meta_path}: expected a mapping at the top level")
        version = meta.pop("schema_version", None)
        if version != SCHEMA_VERSION:
            raise SchemaVersionError(
                f"{meta_path}: schema_version is {version!r}, this shangyun reads "
                f"schema_version {SCHEMA_VERSION}")
        est = cls(meta=meta)
        problems: list[Problem] = []
        unreadable: list[Problem] = []
        for name, table in TABLES.items():
            f = _current(root, stage, table.file)
            if not f.exists():
                continue
            try:
                try:
                    raw = _read_table(f)
                except FileNotFoundError:  # renamed into place by the writer meanwhile
                    raw = _read_table(root / table.file)
            except (pd.errors.ParserError, UnicodeError, ValueError) as exc:
                unreadable.append(Problem(table.file, None, None, f"cannot be read: {exc}"))
                continue
            except pd.errors.EmptyDataError:
                continue
            kept: dict[tuple[int, str], tuple[str, str]] = {}
            typed, probs = coerce_table(table, raw, table.file, kept)
            est.tables[name] = typed
            problems += probs
            if kept:
                ids = typed["id"].tolist()
                est.kept[name] = {(str(ids[i]), c): v for (i, c), v in kept.items()
                                  if isinstance(ids[i], str) and ids[i]}
        if unreadable and not check:  # never hand on (and so never save) a table as empty
            raise EstateError(f"{root}: " + "; ".join(f"{p.file} {p.message}" for p in unreadable)
                              + " — fix or restore the file; nothing was read or written")
        if check:
            problems = unreadable + problems + est.validate()
            if problems:
                raise ValidationFailed(problems, what=str(root))
        return est

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the estate to ``path`` all-or-nothing; other files in the folder are kept.

        The new tables and ``estate.yaml`` are written to a staging folder inside the
        estate, then a commit marker is written (the commit point), then each staged file is
        renamed into place. A crash before the marker leaves the old estate untouched; a
        crash after it is rolled forward by the next load or save. Files of other stages
        (``plan/``, ``journal.db`` …) are never copied or moved.
        """
        root = Path(path).resolve()
        root.mkdir(parents=True, exist_ok=True)
        _recover_save(root)
        stage = Path(tempfile.mkdtemp(prefix=_STAGE_PREFIX, dir=root))
        try:
            meta = {"schema_version": SCHEMA_VERSION, **self.meta}
            meta["updated"] = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
            # each staged file is fsynced on a thread of its own as soon as it is written
            # (fsync waits on the disk with the GIL released): the next table's text is
            # built meanwhile, and the disk gets the syncs together (one journal commit
            # instead of one per file); every one has ended before the commit marker
            with ThreadPoolExecutor(max_workers=len(TABLES) + 1) as pool:
                synced = []
                (stage / META_FILE).write_text(
                    yaml.safe_dump(meta, allow_unicode=True, sort_keys=False), encoding="utf-8")
                synced.append(pool.submit(_fsync, stage / META_FILE))
                for name, table in TABLES.items():
                    _to_csv(self.tables[name], table, stage / table.file, self.kept.get(name))
                    synced.append(pool.submit(_fsync, stage / table.file))
                for done in synced:
                    done.result()  # (an fsync that failed raises here, before the marker)
            marker_tmp = root / (_COMMIT_MARKER + ".tmp")
            marker_tmp.write_text(stage.name, encoding="utf-8")
            _fsync(marker_tmp)
            os.replace(marker_tmp, root / _COMMIT_MARKER)  # the commit point
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise
        _recover_save(root)
        return root


_STAGE_PREFIX = ".estate-staging-"
_COMMIT_MARKER = ".estate-commit"


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_table(f: Path) -> pd.DataFrame:
    """A table file as strings; raises when it is not UTF-8 CSV (UTF-16, a stray quote)."""
    data = f.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in data:
        raise ValueError("not UTF-8 text (UTF-16? save it as CSV UTF-8)")
    try:
        return pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False,
                           encoding="utf-8-sig")
    except pd.errors.ParserError as exc:
        # pandas' C reader swallows a KeyboardInterrupt raised inside its read of the
        # buffer and says "Calling read(nbytes) on source failed": reading memory fails only
        # so. It is Ctrl-C, never a damaged file ("fix or restore the file" would be false).
        if "Calling read(nbytes) on source failed" in str(exc):
            raise KeyboardInterrupt from exc
        raise


def _committed_stage(root: Path) -> Path | None:
    """The staging folder of a committed save that was not yet renamed into place."""
    try:
        name = (root / _COMMIT_MARKER).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return root / name if name.startswith(_STAGE_PREFIX) else None


def _current(root: Path, stage: Path | None, name: str) -> Path:
    """Where file ``name`` of the estate is now: in a committed stage, else in ``root``."""
    if stage is not None and (stage / name).is_file():
        return stage / name
    return root / name


def _recover_save(root: Path) -> None:
    """Roll a committed save forward and drop staging folders that were never committed."""
    if not root.is_dir():
        return
    marker = root / _COMMIT_MARKER
    committed = marker.read_text(encoding="utf-8").strip() if marker.exists() else None
    if committed:
        stage = root / committed
        if stage.is_dir():
            for f in sorted(stage.iterdir()):
                os.replace(f, root / f.name)
        with contextlib.suppress(FileNotFoundError):
            marker.unlink()
    (root / (_COMMIT_MARKER + ".tmp")).unlink(missing_ok=True)
    for leftover in root.glob(_STAGE_PREFIX + "*"):
        shutil.rmtree(leftover, ignore_errors=True)


def _truthy(s: pd.Series) -> Any:
    """A boolean array: which values of ``s`` are true (as ``bool(v)``; NA is false)."""
    if s.dtype == object:
        values = s.tolist()
        try:
            return np.fromiter(map(bool, values), bool, len(values))
        except TypeError:  # bool(pd.NA) raises: NA is false here, so value by value
            return np.fromiter((v is not pd.NA and bool(v) for v in values), bool, len(s))
    return (s.notna() & (s != 0)).to_numpy(bool)


def _blank_bureau(bid: str) -> dict[str, Any]:
    return {"name": bid, "systems": 0, "hosts": 0, "vms": 0, "physical": 0,
            "databases": 0, "disk_gb": 0.0}


def _to_text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        if math.isnan(v):
            return ""
        return repr(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is pd.NA:
        return ""
    return str(v)


def _plain(v: Any) -> Any:
    if v is pd.NA or v is None:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    if hasattr(v, "item"):
        return v.item()
    return v


def cell_text(v: Any) -> str:
    """``v`` as the estate's CSV files write it: whole-number floats without ``.0``
    (``200.0`` → ``200``), booleans as ``true``/``false``, empty for ``None`` and NaN."""
    return _to_text(_plain(v))


def _to_csv(df: pd.DataFrame, table: Table, path: Path,
            kept: Mapping[tuple[str, str], tuple[str, str]] | None = None) -> None:
    """Write ``df`` as the table's CSV file (UTF-8 with BOM, ``\\n`` line ends, quoting
    as :mod:`csv` does by default): columns as text (:func:`_text_list`), quoted column by
    column and joined into lines (:func:`_csv_lines`) — the bytes ``csv.writer`` (and
    ``DataFrame.to_csv``) would write."""
    cols = table.column_names + [c for c in df.columns if c not in table.column_names]
    n = len(df)
    text = {c: (_text_list(df[c]) if c in df.columns else [""] * n) for c in cols}
    if kept:  # invalid hand-typed cells nobody changed: written back as they were typed
        at: dict[str, list[int]] = {}
        for i, key in enumerate(text["id"]):
            at.setdefault(key, []).append(i)
        for (key, col), (value, _) in kept.items():
            column = text.get(col)
            if column is None:
                continue
            for i in at.get(key, ()):
                if column[i] == "":
                    column[i] = value
    lines = _csv_lines([[c] for c in cols], 1) + _csv_lines([text[c] for c in cols], n)
    # the BOM as bytes: a table of ASCII text stays one byte a character, encoded by a copy
    path.write_bytes(b"\xef\xbb\xbf" + lines.encode("utf-8"))


def _csv_quotes(char: str) -> bool:
    """Whether ``csv.writer`` (default dialect, ``\\n`` line ends) quotes a field holding
    ``char`` (asked once at import: the rule is the running Python's own)."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(["a" + char, "b"])
    return buf.getvalue().startswith('"')


#: The characters that make ``csv.writer`` quote a field.
_CSV_SPECIAL = "".join(c for c in ',"\n\r' if _csv_quotes(c))


def _csv_field(value: str) -> str:
    """One field as ``csv.writer`` writes it (minimal quoting, quotes doubled)."""
    if any(c in value for c in _CSV_SPECIAL):
        return '"' + value.replace('"', '""') + '"'
    return value


def _csv_lines(columns: list[list[str]], n: int) -> str:
    """``n`` CSV lines (each ending in ``\\n``) of the text ``columns`` (``n`` values each),
    the text ``csv.writer.writerows`` writes, built column by column: a column is quoted
    only where a value needs it (one scan of the column for a special character), columns
    holding one value in every row (often empty) are joined once into one constant field,
    and the fields are joined row by row with ``str.join``."""
    if not n:
        return ""
    if len(columns) == 1:  # csv writes a record of one empty field as '""'
        return "".join((_csv_field(v) or '""') + "\n" for v in columns[0])
    fields: list[Iterable[str]] = []
    constant: list[str] = []  # the constant columns since the last varying one
    for values in columns:
        if values.count(values[0]) == n:
            constant.append(_csv_field(values[0]))
            continue
        if constant:
            fields.append(repeat(",".join(constant), n))
            constant = []
        joined = "".join(values)  # (once, not once per special character)
        if any(c in joined for c in _CSV_SPECIAL):
            values = [_csv_field(v) for v in values]
        fields.append(values)
    if not fields:
        return (",".join(constant) + "\n") * n
    if constant:
        fields.append(repeat(",".join(constant), n))
    return "\n".join(map(",".join, zip(*fields, strict=True))) + "\n"


def _text_column(s: pd.Series) -> pd.Series:
    """A column as the text written to CSV (same result as ``_to_text`` of each value)."""
    return pd.Series(_text_list(s), dtype=object)


def _text_list(s: pd.Series) -> list[str]:
    """A column as the list of texts written to CSV (``_to_text`` of each value, computed
    once per distinct value)."""
    if s.dtype == "float64":
        arr = s.to_numpy()
        if not len(arr):
            return []
        uniq, inverse = np.unique(arr, return_inverse=True)
        texts = np.array([_float_text(float(v)) for v in uniq.tolist()], dtype=object)
        return texts[inverse.reshape(-1)].tolist()
    if str(s.dtype) in ("Int64", "boolean"):  # a masked array: texts per distinct value
        values = s.array
        if not len(values):
            return []
        absent = values.isna()
        if str(s.dtype) == "Int64":
            uniq, inverse = np.unique(values.to_numpy("int64", na_value=0),
                                      return_inverse=True)
            texts = np.array([str(v) for v in uniq.tolist()], dtype=object)
        else:
            inverse = values.to_numpy(bool, na_value=False).astype(np.intp)
            texts = np.array(["false", "true"], dtype=object)
        out = texts[inverse.reshape(-1)]
        out[absent] = ""
        return out.tolist()
    values = s.tolist()
    if infer_dtype(s.to_numpy(), skipna=False) == "string":  # every value a str (usually)
        return values
    return [_to_text(_plain(v)) for v in values]


def _float_text(v: float) -> str:
    """A float as written to CSV: empty for NaN and ±inf, whole numbers below 1e15 without
    ``.0``, others as ``repr``."""
    if math.isnan(v) or math.isinf(v):
        return ""
    if v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return repr(v)
