"""Cleaning ledger cell values into estate values.

Ledgers hold numbers as text with units ("16G", "2 TB", "2*300G", "8核"), booleans as
是/否, Y/N or √/×, MLPS levels as "三级" or "等保3级", network zones in Chinese
(互联网区, 政务外网 …), full-width digits and punctuation, and placeholders such as "-",
"/", "待定" for "unknown". :func:`clean` turns one cell into the value of one estate
column (a ``"table.column"`` target) or raises :class:`BadValue` saying what is wrong.

Every function here is pure; ``clean`` is called once per distinct cell value of a column
(the reader memoises), so it need not be fast, only right.
"""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
import math
import re
import unicodedata
from collections.abc import Callable
from typing import Any

from shangyun.estate.schema import DB_ENGINES, TABLES
from shangyun.ledgers.aliases import SIZE_UNITS


class BadValue(ValueError):
    """A cell value that cannot be turned into its column's value; the message says why.

    ``target`` ("table.column") says which column a row-level problem is about."""

    def __init__(self, message: str, target: str | None = None) -> None:
        super().__init__(message)
        self.target = target


class Doubtful:
    """A cell value that is used, with a warning (several IPs in one cell: the first is
    used). ``kind`` groups the warnings of a column (one line per column and kind);
    ``detail`` says what this cell lost, beside its row ("dropped 10.0.0.6")."""

    __slots__ = ("detail", "kind", "value")

    def __init__(self, value: Any, kind: str, detail: str | None = None) -> None:
        self.value, self.kind, self.detail = value, kind, detail

    def __repr__(self) -> str:
        return f"Doubtful({self.value!r}, {self.kind!r})"


class External:
    """A dependency target the ledger labels external (``外部:税务总局``, ``（外部）…``):
    the name of a system outside the estate, kept as the dependency's ``external``
    endpoint (what discovery writes for a peer outside the estate), never a system."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"External({self.name!r})"


#: Cell texts that mean "nothing here".
BLANKS = frozenset({
    "", "-", "--", "---", "—", "——", "/", "\\", "n/a", "na", "null", "none", "nan", "nat",
    "#n/a", "#null!", "待定", "暂无", "不详", "未知", "待补充", "?", "？", "<na>",
})

_SPACES = re.compile(r"\s+")
#: Invisible characters web exports and copy-paste leave in cells (zero-width space,
#: joiners, word joiner, a BOM): dropped, they made `8\u200b` no number.
_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
_NUM = r"\d+(?:\.\d+)?"
_THOUSANDS = re.compile(r"(?<![\d.])(\d{1,3}(?:,\d{3})+)(?![\d])")
_SIZE_TERM = re.compile(
    rf"^(?:(?P<mul>{_NUM})\s*(?:[*x×]|(?:块|个|片|条|根)\s*[*x×]?)\s*)?(?P<num>{_NUM})\s*"
    rf"(?P<unit>[a-z兆吉]*)(?:\s*[*x×]\s*(?P<mul2>{_NUM})(?:\s*(?:块|个|盘|条|根|disks?))?)?$")


def clean_text(value: Any) -> str:
    """Any cell as tidy text: trimmed, single spaces (full-width spaces too).

    Free text keeps its full-width punctuation (a Chinese description stays as written);
    :func:`clean` folds full-width characters (NFKC) before parsing numbers, addresses and
    words.

    ``None``/NaN give ``""``; whole floats lose their ``.0`` (Excel stores phone numbers
    and ids as numbers); dates become ISO text. A leading apostrophe (Excel's "keep this as
    text" prefix, written into the cell by programs that export to Excel: ``'8``,
    ``'13800000000``) is dropped.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    text = _SPACES.sub(" ", _INVISIBLE.sub("", str(value))).strip()
    return text[1:].lstrip() if text[:1] == "'" else text


def fold(text: str) -> str:
    """NFKC: full-width digits, letters and punctuation as their ASCII forms."""
    return text if text.isascii() else unicodedata.normalize("NFKC", text)


def is_blank(text: str) -> bool:
    """``True`` for empty text and placeholders such as ``-``, ``/``, ``N/A``, ``待定``."""
    return text.lower() in BLANKS


# --------------------------------------------------------------------------- numbers
_RANGE = re.compile(rf"^\s*{_NUM}\s*[a-z%]*\s*(?:-|~|～|—|至|到)\s*{_NUM}")
_STRICT = re.compile(rf"^(?P<sign>[-−+]?)\s*(?P<num>{_NUM})\s*(?P<unit>[^\d\s.,+\-*/]{{0,8}})$")


def _refuse_range_or_sign(text: str, what: str) -> None:
    t = text.strip()
    if _RANGE.match(t):
        raise BadValue(f"{text!r} is a range; give one {what} (the upper bound if in doubt)")
    if t[:1] in "-−" and re.match(r"^[-−]\s*\d", t):
        raise BadValue(f"{text!r} is negative")


def _number(text: str) -> float:
    """One number, optionally followed by a short unit ("22端口", "100Mbps", "8 h").

    Ranges ("4-8"), negative numbers and garbled text ("abc8", "8 8") are refused."""
    t = _THOUSANDS.sub(lambda m: m.group(1).replace(",", ""), text.lower()).strip()
    _refuse_range_or_sign(t, "number")
    m = _STRICT.match(t)
    if not m:
        raise BadValue(f"{text!r} is not a number")
    return float(m.group("num"))


_SIZE_NOTE = re.compile(r"\((?:ssd|hdd|sas|sata|san|nas|本地盘?|共享|存储|云盘)\)"
                        r"|\s*(?:ram|memory|mem|内存|硬盘|磁盘|空间)$"
                        r"|(?<=[\dbgkmt])\s+(?:ssd|hdd|sas|sata|nvme|nl-sas)$"
                        r"|(?<=[\dbgkmt])\s*(?:ddr[2-5]?(?:\s*ecc)?|ecc)$")
_SIZE_DETAIL = re.compile(r"\(([^()]*\d[^()]*)\)$")
# a disk's label before its size: 系统盘40G, 数据盘:500G, C:100G, /data 500G
# (and a drive letter with 盘: C盘100G, d盘:500G)
_SIZE_LABEL = re.compile(r"^(?:[a-z]:|/[\w/]*\s|[a-z]?[\u4e00-\u9fff]+:?)\s*(?=\d)")


_BARE = re.compile(r"\d+(?:\.\d+)?")
#: a RAID level written beside disks: "RAID5", "raid 10", "RAID1+0", "(RAID-6)"
_RAID = re.compile(r"[(（]?\s*\braid\s*-?\s*(?:\d{1,2}(?:\s*\+\s*\d)?)?\s*[)）]?", re.I)
_MEDIUM = re.compile(r"(?<![a-z])(?:nl-sas|sas|sata|ssd|hdd|nvme)(?![a-z])", re.I)
#: the columns of disk space (a RAID note is read there, nowhere else)
_DISK_SIZES = frozenset({"hosts.disk_gb", "disks.size_gb"})


def parse_raid_disks(text: str, unit: str = "g") -> Doubtful | None:
    """Disks with a RAID level ("4*1.2T SAS RAID5", "500G*2(RAID1)"): their **raw** size
    (4 × 1.2 TB = 4.8 TB), with a doubt saying RAID overhead is not deducted; ``None`` when
    the text names no RAID level. A RAID note beside one size ("1T RAID5": raw or usable?)
    is refused with the forms that are read."""
    found = _RAID.search(text)
    if not found:
        return None
    rest = _MEDIUM.sub(" ", text[:found.start()] + " " + text[found.end():])
    rest = re.sub(r"\s+", " ", rest).strip().replace(" *", "*").replace("* ", "*")
    accepted = ("write the disks and their count (4*1.2T RAID5: the raw size, 4.8 TB) or "
                "the usable size alone (3.6T)")
    if not re.search(r"\d", rest):
        raise BadValue(f"{text!r} gives a RAID level and no size; {accepted}")
    if not re.search(r"[*x×]", rest):
        raise BadValue(f"{text!r}: one size with a RAID level — is it the raw or the usable "
                       f"size? {accepted}")
    try:
        raw = parse_size_gb(rest, unit)
    except BadValue:
        raise BadValue(f"{text!r} is not a size with a RAID level; {accepted}") from None
    return Doubtful(raw, "with a RAID level: the raw size of the disks is recorded (RAID "
                         "overhead is not deducted; write the usable size alone to record it)")



def parse_size_gb(text: str, unit: str = "g") -> float:
    """A size in GB: "16G", "2 TB" (2048), "512MB", "2*300G", "100G+500G", "16" (in the
    header's ``unit``, default GB). Binary units: 1 TB = 1024 GB. Ranges and negative
    sizes are refused."""
    t = _THOUSANDS.sub(lambda m: m.group(1).replace(",", ""), text.lower())
    _refuse_range_or_sign(t, "size")
    if _DECIMAL_COMMA.search(t):  # 1,5 (a European-locale export): 1.5, or 1 and 5?
        raise BadValue(f"{text!r} has a comma between two digits: a decimal comma (1,5 for "
                       "1.5) or two sizes (1 and 5)? Write a decimal point (1.5T) or each "
                       "size with its unit (1T+5T)")
    t = t.replace("（", "(").replace("）", ")").replace("：", ":")
    t = _SIZE_NOTE.sub("", t).strip()  # (ssd), (san), 内存, ram: words that are not sizes
    # a count of disks in Chinese before the size (两块600G): a number, not a label
    t = _CN_COUNT.sub(lambda m: str(_CN_COUNTS[m.group(1)]), t)
    t = _PER_PIECE.sub("", t)  # 300G/块*2: the size of each disk, then their count
    inner = _SIZE_DETAIL.search(t)
    if inner:  # "16G(2*8G)": the detail must add up to the total written before it
        try:
            outer = parse_size_gb(t[:inner.start()] + t[inner.end():], unit)
            detail = parse_size_gb(inner.group(1), unit)
        except BadValue:
            raise BadValue(f"{text!r} is not a size (like 16G, 2 TB or 512MB)") from None
        if detail != outer:
            raise BadValue(f"{text!r}: the size in brackets does not add up to the total")
        return outer
    total = 0.0
    for term in re.split(r"\s*[+＋;；、,，]\s*|(?<=[a-z])\s+(?!x\s*\d)"
                         r"(?=[a-z\u4e00-\u9fff]+:?\s*\d)"
                         r"|\s*/\s*(?=(?:[a-z]:|[a-z]?[\u4e00-\u9fff]+:?)\s*\d)", t):
        term = _SIZE_LABEL.sub("", term.strip()).strip()
        m = _SIZE_TERM.match(term)
        if not m:  # each disk with its medium: 500GB SSD + 2TB HDD
            term = _SIZE_NOTE.sub("", term).strip()
            m = _SIZE_TERM.match(term)
        if not m:
            raise BadValue(f"{text!r} is not a size (like 16G, 2 TB or 512MB)")
        u = (m.group("unit") or unit or "g").removesuffix("ssd").removesuffix("hdd")
        factor = SIZE_UNITS.get(u)
        if factor is None:
            raise BadValue(f"{text!r}: unknown size unit {u!r}")
        n = float(m.group("num")) * float(m.group("mul") or 1) * float(m.group("mul2") or 1)
        total += n * factor
    return round(total, 6)


#: a comma between two digits left after thousands separators were read (1,5 — not
#: 1,500): a decimal comma or two sizes without units, never guessed
_DECIMAL_COMMA = re.compile(r"\d\s*[,，]\s*\d")
#: "/块" after a disk's size (300G/块*2: 300 GB each, two of them)
_PER_PIECE = re.compile(r"\s*/\s*(?:块|个|盘|片|disk)(?=\s*(?:[*x×]|$))")
#: 两块600G: a count of disks written in Chinese before their size
_CN_COUNT = re.compile(r"(?<![\u4e00-\u9fff])([一二两三四五六七八九十])(?=\s*[块个片条根]\s*\d)")
_CN_COUNTS = {c: n for n, c in enumerate("一二三四五六七八九十", start=1)} | {"两": 2}


_COUNT_UNIT = r"(?:核心?|c|cores?|vcpus?|cpus?|个|颗|u)?"
_COUNT = re.compile(rf"^(?P<a>{_NUM})\s*{_COUNT_UNIT}$")
_COUNT_PROD = re.compile(
    rf"^(?P<a>{_NUM})\s*(?:[*x×]|(?:路|颗|个|sockets?)\s*[*x×]?)\s*(?P<b>{_NUM})\s*{_COUNT_UNIT}$")
_THREADS = re.compile(r"^\d+\s*(?:核心?|c|cores?)\s*[/,，]?\s*(\d+)\s*(?:线程|t|threads?)$")
_THREADS_ONLY = re.compile(r"^(\d+)\s*(?:线程|threads?)$")
#: a count of cores (or vCPUs) inside other words: "Intel Xeon 8核", "E5-2650 v4 10C"
_CORES_IN = re.compile(r"(?<![\d.a-z])(\d+)\s*(?:核心?|cores?|c(?![a-z])|vcpus?)", re.I)
#: a count of processors (sockets) inside other words: "2颗 E5-2650 10核"
_SOCKETS_IN = re.compile(r"(?<![\d.a-z])(\d+)\s*(?:颗|路|sockets?)", re.I)
#: a count of processors written with a times sign before the model or after it (and its
#: cores): "2×E5-2680 v4 (14核)", "2*Xeon Gold 6248 20核", "Xeon 6248 20核 x2" — 1 to 8
#: (an "x86" or "x64" is no count)
_SOCKETS_TIMES = re.compile(r"^([1-8])\s*[*x×]\s*(?=[a-z\u4e00-\u9fff])"
                            r"|(?<![a-z])[*x×]\s*([1-8])\s*(?:颗|路)?\s*$", re.I)
#: a CPU and memory written together (8C16G, 4核8G): the CPU count comes first
_CPU_MEM = re.compile(r"^(\d+)\s*(?:核心?|c|vcpus?|cpus?)\s*[/,，+]?\s*\d+(?:\.\d+)?\s*(?:gb?|g)"
                      r"(?:\s*[/,，+]?\s*\d+(?:\.\d+)?\s*(?:[gt]b?))?$", re.I)
_THREAD_DOUBT = ("gives threads: the threads are the vCPU count (a cloud vCPU is one "
                 "thread, and the OS schedules on threads)")


def parse_count(text: str) -> int | Doubtful:
    """A count such as CPU cores: "8", "8核", "8C", "8 vCPU", "2*8" / "2路8核" / "2颗8核" (16).

    The count is of the CPUs the host's OS schedules on, which is what a cloud sells as
    vCPUs: threads, when given, are the count ("8核16线程" and "32线程": 16 and 32, with a
    warning). A cell naming the processor model ("Intel Xeon 8核", "Xeon Gold 6248 20核",
    "2颗 E5-2650 10核") gives its count written with 核/cores/C (times the processors
    counted with 颗/路), with a warning; "8C16G" gives its CPU count. Ranges ("4-8"),
    negative numbers and garbled text ("abc8", "Xeon 8 16") are refused."""
    t = text.lower().strip().replace("（", "(").replace("）", ")")
    _refuse_range_or_sign(t, "count")
    t = re.sub(r"^(\d+)\s*\((\D+)\)$", r"\1\2", t)  # 8(vCPU)
    threads = _THREADS.match(t) or _THREADS_ONLY.match(t)
    if threads:  # 8核16线程, 4C8T, 32线程: the threads are the vCPUs
        count = int(threads.group(1))
        if count < 1:
            raise BadValue(f"{text!r} is below the minimum 1")
        return Doubtful(count, _THREAD_DOUBT)
    m = _COUNT.match(t)
    if m:
        value = float(m.group("a"))
    elif _COUNT_PROD.match(t):
        m = _COUNT_PROD.match(t)
        assert m is not None
        value = float(m.group("a")) * float(m.group("b"))
    elif _CPU_MEM.match(t):
        return Doubtful(int(_CPU_MEM.match(t).group(1)),  # type: ignore[union-attr]
                        "gives the memory (or disk) too, like 8C16G: the CPU count is used")
    else:
        return _count_in_words(text, t)
    if not value.is_integer():
        raise BadValue(f"{text!r} is not a whole number")
    return int(value)


def _count_in_words(text: str, low: str) -> Doubtful:
    """The count of a cell naming the processor model ("Intel Xeon 8核"): its one number
    written with 核/cores/C/vCPU, times its one count of processors (颗/路) if any."""
    cores = _CORES_IN.findall(low)
    sockets = _SOCKETS_IN.findall(low) + [a or b for a, b in _SOCKETS_TIMES.findall(low)]
    # the words left: the model
    model = _CORES_IN.sub("", _SOCKETS_TIMES.sub(" ", _SOCKETS_IN.sub("", low)))
    if not cores and len(sockets) <= 1 and re.search(r"[a-z]{2}|[a-z]\d|[\u4e00-\u9fff]",
                                                     model):
        raise BadValue(f"{text!r} is not a whole number: it names the processor model (its "
                       "digits are no count) but no count of cores — write the cores, like "
                       "2颗*12核 or 24")
    if len(cores) != 1 or len(sockets) > 1 or not re.search(r"[a-z\u4e00-\u9fff]", model):
        raise BadValue(f"{text!r} is not a whole number (like 8, 8核, 2*8 or 2路8核)")
    count = int(cores[0]) * (int(sockets[0]) if sockets else 1)
    if count < 1:
        raise BadValue(f"{text!r} is below the minimum 1")
    return Doubtful(count, "names the processor model: the count written with 核/cores is "
                           "used (times the processors, 颗/路/×N, when given)")


#: headers of a column giving a host's CPU, memory and disk in one cell (8C16G500G)
SPEC_HEADERS = frozenset({"配置", "规格", "配置信息", "服务器配置", "主机配置", "硬件配置",
                          "资源配置", "规格配置", "虚拟机配置", "配置规格", "spec", "specs",
                          "flavor", "flavour", "configuration", "config"})
#: what a spec column gives: the unit marking its columns, and the targets it fills
SPEC = "spec"
SPEC_TARGETS = ("hosts.cpu_cores", "hosts.memory_gb", "hosts.disk_gb")
_SPEC_CPU = re.compile(r"(?<![\d.])(\d+)\s*(?:核心?|c|vcpus?|cpus?)(?![a-z])", re.I)
_SPEC_LABEL = re.compile(
    r"(?:cpu|vcpu|处理器|内存|memory|mem|ram|硬盘|磁盘|存储|disk|hdd)\s*[:：]?", re.I)
_SPEC_SIZE = re.compile(r"\d+(?:\.\d+)?\s*(?:[kmgt]i?b|[kmgt])(?![a-z])", re.I)


def parse_spec(text: str) -> tuple[int, float, float | None]:
    """A host's configuration in one cell (配置/规格): "8C16G", "4核8G500G", "8C/16G/1T",
    "CPU:4核 内存:8G 硬盘:100G+200G", "16vCPU 64GB" → (CPU count, memory GB, disk GB or
    ``None``): the CPU count written with C/核/vCPU, then the first size (the memory),
    then the sum of the others (the disks)."""
    t = fold(text).lower().strip()
    cpu = _SPEC_CPU.findall(t)
    rest = _SPEC_LABEL.sub(" ", _SPEC_CPU.sub(" ", t, count=1))
    sizes = _SPEC_SIZE.findall(rest)
    left = _SPEC_SIZE.sub(" ", rest)
    if len(cpu) != 1 or not sizes or re.search(r"[^\s/,，;；+、|]", left):
        raise BadValue(f"{text!r} is not a configuration (配置) like 8C16G or 4核8G500G (CPU "
                       "cores, memory, disk)")
    memory = parse_size_gb(sizes[0])
    disk = round(sum(parse_size_gb(x) for x in sizes[1:]), 6) if len(sizes) > 1 else None
    return int(cpu[0]), memory, disk


def _spec_part(target: str, text: str) -> Any:
    """The part of a spec cell (:func:`parse_spec`) that ``target`` takes; only the CPU
    column of the three reports a bad cell (one problem per cell)."""
    try:
        cpu, memory, disk = parse_spec(text)
    except BadValue:
        if target == SPEC_TARGETS[0]:
            raise
        return None
    return {SPEC_TARGETS[0]: cpu, SPEC_TARGETS[1]: memory, SPEC_TARGETS[2]: disk}[target]


def parse_percent(text: str) -> float:
    """A percentage: "15%", "15", "15.5 %"."""
    return _number(text.replace("%", ""))


def parse_int(text: str) -> int:
    """A whole number, allowing thousands separators and trailing units ("22端口")."""
    f = _number(text)
    if not f.is_integer():
        raise BadValue(f"{text!r} is not a whole number")
    return int(f)


def parse_ports(text: str) -> list[int]:
    """Every port in "80", "80,443", "3306/tcp", "8080-8081" (a range gives both ends)."""
    ports = [int(p) for p in re.findall(r"\d+", text)]
    if not ports:
        raise BadValue(f"{text!r} is not a port number")
    return ports


# --------------------------------------------------------------------------- words
_TRUE = {"true", "t", "1", "yes", "y", "是", "√", "✓", "✔", "on", "有", "涉密", "对", "共享",
         "v", "☑", "●"}
_FALSE = {"false", "f", "0", "no", "n", "否", "×", "✗", "✘", "x", "off", "无", "非涉密",
          "不涉密", "错", "不共享", "独享", "独占", "不是", "☐", "☒", "○"}


def parse_bool(text: str) -> bool:
    """是/否, Y/N, yes/no, true/false, 1/0, √/×, v (a typed tick), ☑/☐, ●/○, 有/无,
    涉密/非涉密; a word with a note in brackets (是（涉密）) is the word."""
    t = text.strip().lower()
    if t in _TRUE:
        return True
    if t in _FALSE:
        return False
    m = re.fullmatch(r"(.+?)\s*[(（](.*)[)）]", t)
    if m and m.group(1) in _TRUE | _FALSE:
        return m.group(1) in _TRUE
    raise BadValue(f"{text!r} is not yes/no (是/否, Y/N)")


_CN_DIGITS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5}
_ROMAN = {"i": 1, "ii": 2, "iii": 3, "iv": 4, "v": 5}


_UNGRADED = re.compile(r"(?:未|暂未|尚未|没有|无需|不需|不)(?:定级|评级|备案|测评|涉及|需要|需)"
                       r"|^(?:无|未定|待定级|待定|待评|待评定|无等级|不定级|未分级|n/?a|none)$")
_SAG = re.compile(r"s\s*([1-5])\s*a\s*([1-5])\s*g\s*([1-5])")


#: A year in an MLPS cell (三级（2023年测评）, 等保三级(2022年备案)): when it was assessed
_YEAR = re.compile(r"(?<![\d.])(?:19|20)\d{2}(?![\d.])\s*年?")
_LEVEL_WORD = re.compile(r"[1-5一二三四五]|\b[iv]+\b|s\d+a\d+g\d+")


def parse_mlps(text: str) -> int | None:
    """An MLPS (等保) level 1–5: "3", "三级", "等保3级", "第三级", "III", "L3", "等保2.0三级";
    the 2008 notation S3A3G3 (and "三级（S2A3G3）") gives its overall level G (the higher of
    S and A); "未定级", "未备案", "不涉及", "待定级" give no level (blank). A year beside
    the level ("三级（2023年测评）") is when it was assessed, not a level.

    A cell naming several levels ("二级/三级") is refused: the level decides controls."""
    low = text.strip().lower()
    sag = _SAG.search(low)
    if sag:  # S: business information, A: service, G: overall = max(S, A)
        s_, a_, g_ = (int(x) for x in sag.groups())
        if g_ != max(s_, a_):
            raise BadValue(f"{text!r}: the overall level G{g_} should be the higher of S{s_} "
                           f"and A{a_}; give one level (1-5)")
        rest = parse_mlps(low[:sag.start()] + low[sag.end():]) if (
            low[:sag.start()] + low[sag.end():]).strip("()（） ") else None
        if rest is not None and rest != g_:
            raise BadValue(f"{text!r} names several MLPS levels; give one (1-5)")
        return g_
    if _UNGRADED.search(low):
        return None
    if re.fullmatch(r"\s*[1-5]\.0+\s*", low):  # 2.0: a level saved as a decimal number
        return int(float(low))
    t = re.sub(r"等保\s*[12]\.0|mlps\s*[12]\.0|gb/?t\s*22239(?:-\d+)?"
               r"|(?<![\d.])2\.0(?:\s*版)?(?![\d.])", "", low)  # 三级(2.0): the standard
    if _YEAR.search(t):  # 三级（2023年测评）: the year of the assessment, no level
        t = _YEAR.sub(" ", t)
        if not _LEVEL_WORD.search(t):
            raise BadValue(f"{text!r} is not an MLPS level (1-5, 三级, 等保3级)")
    levels = {int(d) for d in re.findall(r"\d", t)} | {
        _CN_DIGITS[ch] for ch in t if ch in _CN_DIGITS}
    if len(levels) > 1:
        raise BadValue(f"{text!r} names several MLPS levels; give one (1-5)")
    if levels:
        level = levels.pop()
        if not 1 <= level <= 5:
            raise BadValue(f"{text!r} is not an MLPS level (1-5)")
        return level
    if not t.strip(" ()（）") and low.strip():
        raise BadValue(f"{text!r} names the MLPS standard (等保2.0), not a level; give the "
                       "level (1-5, 三级, 等保3级)")
    roman = re.sub(r"[^iv]", "", t.replace("级", ""))
    if roman in _ROMAN and re.fullmatch(r"(等保|level|l)?\s*[iv]+\s*(级)?", t):
        return _ROMAN[roman]
    raise BadValue(f"{text!r} is not an MLPS level (1-5, 三级, 等保3级)")


_ZONES = (
    ("dmz", ("dmz", "隔离区", "非军事区")),
    ("management", ("管理", "运维", "带外", "management", "mgmt", "oob")),
    ("internet", ("互联网", "公网", "internet", "public")),
    ("extranet", ("外网", "extranet", "电子政务外网")),
    ("intranet", ("内网", "intranet", "专网", "private", "internal")),
)


def parse_zone(text: str) -> str:
    """A network zone: 互联网区→internet, 政务外网→extranet, 政务内网→intranet, DMZ→dmz,
    管理区→management (and the English names)."""
    t = text.lower()
    for zone, words in _ZONES:
        if any(w in t for w in words):
            return zone
    raise BadValue(f"{text!r} is not a network zone (互联网区, 政务外网, 政务内网, DMZ, 管理区)")


def _word_map(table: tuple[tuple[str, tuple[str, ...]], ...], what: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        t = text.lower().replace(" ", "")
        for value, words in table:
            if t == value or any(w in t for w in words):
                return value
        raise BadValue(f"{text!r} is not {what}")

    parse.__doc__ = f"Parse {what}."
    return parse


parse_host_kind = _word_map((
    ("vm", ("虚拟", "虚机", "云主机", "云服务器", "virtual", "vm", "guest", "ecs")),
    ("physical", ("物理", "实体", "physical", "bare", "pm", "服务器", "server", "小型机",
                  "机架", "刀片", "塔式", "rack", "blade", "一体机", "工作站")),
), "a host kind (物理机/虚拟机, physical/vm)")
def kind_question(header: str) -> str:
    """The kind a yes (是) means under a yes/no host-kind header: ``"vm"`` for 是否虚拟机 /
    虚拟机 / is VM, ``"physical"`` for 是否物理机 / 物理机 / physical, ``""`` for a header
    naming both or neither (设备类型, 物理机/虚拟机: the cells hold kinds, not yes/no)."""
    h = header.lower()
    vm = any(w in h for w in ("虚拟", "虚机", "virtual", "vm"))
    phys = any(w in h for w in ("物理", "physical", "实体"))
    return "vm" if vm and not phys else "physical" if phys and not vm else ""


def parse_host_kind_answer(text: str, yes: str) -> str:
    """A host kind in a yes/no column whose header asks "is it ``yes``?" (是否虚拟机: yes
    is ``"vm"``): a kind word (物理机, VM …) is the kind; 是/否, Y/N, √/× … answer the
    question. Anything else is refused."""
    try:
        return parse_host_kind(text)
    except BadValue:
        pass
    try:
        answer = parse_bool(text)
    except BadValue:
        raise BadValue(f"{text!r} is neither yes/no (是/否) nor a host kind "
                       "(物理机/虚拟机, physical/vm)") from None
    return yes if answer else ("physical" if yes == "vm" else "vm")


parse_power = _word_map((
    ("suspended", ("挂起", "暂停", "suspend")),
    ("off", ("poweredoff", "关机", "停机", "下线", "stopped", "down", "离线", "shutoff",
             "停用", "报废", "退役", "off")),
    ("on", ("poweredon", "开机", "运行", "running", "在线", "online", "up", "正常", "在用",
            "在运", "使用中", "on")),
), "a power state (on/off/suspended, 开机/关机)")
parse_criticality = _word_map((
    ("critical", ("核心", "关键", "critical", "极高", "特别重要")),
    ("high", ("高", "重要", "high")),
    ("medium", ("中", "一般", "medium", "normal")),
    ("low", ("低", "low", "次要")),
), "a criticality (低/中/高/核心, low/medium/high/critical)")
parse_system_kind = _word_map((
    ("shared-service", ("共享", "公共", "基础", "shared", "common", "platform", "平台")),
    ("business", ("业务", "business", "应用", "app")),
), "a system kind (业务系统/共享服务, business/shared-service)")
parse_bureau_kind = _word_map((
    ("hq", ("总部", "机关", "本部", "总局", "hq", "headquarter")),
    ("bureau", ("局", "分", "bureau", "branch", "site", "单位")),
), "a bureau kind (总部/直属局, hq/bureau)")
parse_firmware = _word_map((
    ("uefi", ("uefi", "efi")),
    ("bios", ("bios", "legacy", "传统")),
), "a firmware (bios/uefi)")
parse_dep_type = _word_map((
    ("database", ("数据库", "database", "jdbc", "sql", "db")),
    ("async", ("异步", "async", "mq", "消息", "kafka", "queue")),
    ("file", ("文件", "file", "ftp", "nfs", "smb", "共享目录")),
    ("sync", ("同步", "sync", "http", "api", "接口", "rpc", "webservice", "rest", "调用")),
    ("other", ("其他", "other")),
), "a dependency type (database/sync/async/file/other)")
parse_disk_format = _word_map((
    ("qcow2", ("qcow2",)), ("vmdk", ("vmdk",)), ("vhdx", ("vhdx",)), ("vhd", ("vhd",)),
    ("raw", ("raw", "img")),
), "a disk format (raw/qcow2/vmdk/vhd/vhdx)")
parse_origin = _word_map((
    ("observed", ("observed", "发现", "观测", "采集")),
    ("declared", ("declared", "申报", "登记", "台账", "ledger")),
), "an origin (declared/observed)")

_ENGINES = (
    ("postgresql", ("postgres", "pgsql", "pg")), ("mariadb", ("mariadb",)),
    ("mysql", ("mysql",)), ("oracle", ("oracle", "ora")),
    ("sqlserver", ("sqlserver", "mssql", "sql server")), ("kingbase", ("kingbase", "金仓")),
    ("gbase", ("gbase", "南大通用")), ("dm", ("达梦", "dameng", "dm")),
)


#: A 数据库 cell saying there is none.
_NO_DATABASE = frozenset({"无", "没有", "不涉及", "未部署", "未使用", "不使用", "无数据库", "否",
                          "no", "nil", "none"})


#: A 数据库 cell saying "another product" without naming it.
_OTHER_WORDS = frozenset({"other", "其他", "其它", "其他数据库", "其它数据库"})
#: The doubt of a 数据库 cell naming a product the estate's engine list lacks (its text is
#: kept as the database's version by the ledger reader).
OTHER_ENGINE = ("names a database product not in the engine list (" + ", ".join(DB_ENGINES[:-1])
                + "): read as engine 'other', the product as written kept as its version")


def other_product(text: str) -> bool:
    """Whether a 数据库 cell read as engine 'other' names a product (``DB2 10.5``), not
    just "other" (其他)."""
    return bool(text) and text.strip().lower() not in _OTHER_WORDS


def parse_engine(text: str) -> tuple[str, str]:
    """A database engine and the version written with it: "Oracle 11g" → ("oracle", "11g"),
    "达梦DM8" → ("dm", "8"), "MySQL" → ("mysql", ""). Unknown products are "other"."""
    t = text.lower()
    for engine, words in _ENGINES:
        for w in words:
            if w in t:
                rest = t.split(w, 1)[1]
                m = re.search(r"\d[\w.]*", rest)
                return engine, (m.group(0) if m else "")
    return "other", ""


_DAYS = (
    ("daily", ("每天", "每日", "daily", "everyday")),
    ("mon", ("周一", "星期一", "礼拜一", "mon")), ("tue", ("周二", "星期二", "tue")),
    ("wed", ("周三", "星期三", "wed")), ("thu", ("周四", "星期四", "thu")),
    ("fri", ("周五", "星期五", "fri")), ("sat", ("周六", "星期六", "sat")),
    ("sun", ("周日", "周天", "星期日", "星期天", "sun")),
)


def parse_weekday(text: str) -> str:
    """A maintenance day: 周六/星期六/sat/saturday/每天 → sat … daily."""
    t = text.lower()
    for day, words in _DAYS:
        if any(w in t for w in words):
            return day
    raise BadValue(f"{text!r} is not a weekday (周一…周日, mon…sun, 每天)")


def parse_time(text: str) -> str:
    """A time of day as HH:MM: "22:00", "22：00", "22点", "22:00:00", Excel fractions."""
    t = text.strip()
    m = re.fullmatch(r"(\d{1,2})\s*[:：点时]\s*(\d{1,2})?(?:\s*[:：]\s*\d{1,2})?\s*(分)?", t)
    if m:
        hh, mm = int(m.group(1)), int(m.group(2) or 0)
    else:
        try:
            frac = float(t)
        except ValueError:
            raise BadValue(f"{text!r} is not a time (HH:MM)") from None
        if not 0 <= frac < 1:
            raise BadValue(f"{text!r} is not a time (HH:MM)")
        minutes = round(frac * 24 * 60)
        hh, mm = divmod(minutes, 60)
    if hh > 23 or mm > 59:
        raise BadValue(f"{text!r} is not a time (HH:MM)")
    return f"{hh:02d}:{mm:02d}"


_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = re.compile(rf"(?:{_OCTET}\.){{3}}{_OCTET}")


def unusable_ip(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why ``addr`` cannot be a host's address (``None`` when it is a usable unicast one)."""
    if addr.is_unspecified:
        return "is the unspecified address"
    if addr.is_loopback:
        return "is a loopback address"
    if addr.is_multicast:
        return "is a multicast address"
    if addr.is_link_local:
        return "is a link-local address"
    if addr.version == 4 and (addr == ipaddress.IPv4Address("255.255.255.255")
                              or addr.is_reserved):
        return "is a broadcast/reserved address"
    return None


def _one_ip(part: str, text: str) -> str:
    addr_text, _, prefix = part.partition("/")
    try:
        addr = ipaddress.ip_address(addr_text)
    except ValueError:
        raise BadValue(f"{text!r} is not an IP address") from None
    why = unusable_ip(addr)
    if why:
        raise BadValue(f"{text!r} {why}, not a host's address")
    if prefix and addr.version == 4:
        try:
            net = ipaddress.ip_network(part, strict=False)
        except ValueError:
            raise BadValue(f"{text!r} has a bad prefix length") from None
        if net.prefixlen < 31 and addr in (net.network_address, net.broadcast_address):
            raise BadValue(f"{text!r} is the network or broadcast address of {net}")
    return str(addr)


def _is_address(part: str) -> bool:
    """``True`` when ``part`` (an address, maybe with a prefix) is an IP address as it
    stands: an IPv6 address starting with letters (``fd00::15``) is not a label ``fd``
    before ``00::15``."""
    try:
        ipaddress.ip_interface(part)
    except ValueError:
        return False
    return True


def quick_ip(text: str) -> bool:
    """``True`` for a plain dotted IPv4 text that is a usable unicast host address (the
    fast path; anything else goes through :func:`parse_ip`). Four parts each an octet as
    ``str(n)`` writes it are told by set lookups; other texts by :data:`_IPV4`."""
    parts = text.split(".")
    if len(parts) == 4 and parts[0] in _OCTETS and parts[1] in _OCTETS and (
            parts[2] in _OCTETS and parts[3] in _OCTETS):
        first = int(parts[0])
    elif _IPV4.fullmatch(text):  # (also non-ASCII digits, which \d matches)
        first = int(text[: text.index(".")])
    else:
        return False
    return 0 < first < 224 and first != 127 and not text.startswith("169.254.")


#: The texts :data:`_OCTET` matches in ASCII digits: 0 to 255 without leading zeros.
_OCTETS = frozenset(str(n) for n in range(256))


_IP_PORT = re.compile(r"(\d{1,3}(?:\.\d{1,3}){3})\s*[:：]\s*\d{1,5}")


def parse_ip(text: str) -> str | Doubtful:
    """The IP address in the cell ("10.0.0.5", "10.0.0.5/24", "10. 0. 0. 5").

    The address must be a usable unicast host address (not 0.0.0.0, loopback, multicast,
    broadcast, reserved or link-local). Several addresses in one cell ("10.0.0.5；10.0.0.6")
    give the first, as a :class:`Doubtful` value; an address labelled virtual (VIP, 浮动IP)
    or management (管理, 运维, mgmt, BMC) gives way to the host's own business address
    beside it ("管理:10.8.0.4 业务:10.9.0.4" → 10.9.0.4, as when 业务IP and 管理IP are
    separate columns). A range ("10.1.1.1-10.1.1.3", "10.1.1.1~3") is several addresses of
    the host (its NICs or VIPs) when it holds at most :data:`MAX_RANGE` addresses; a larger
    (or backward) range is refused."""
    if quick_ip(text):
        return text
    port = _IP_PORT.fullmatch(text.strip())
    if port:  # 10.0.0.5:8080
        return Doubtful(_one_ip(port.group(1), text),
                        "has a port after the address: the address is used, the port dropped")
    t = re.sub(r"\s*([.:/])\s*(?=[\da-f])", r"\1", text.strip().lower())
    ranged = "-" in t or "~" in t or "～" in t or "–" in t or "—" in t
    if ranged:  # 10.1.1.1 - 10.1.1.3, 10.1.1.1～3: one part of the cell
        t = _IP_RANGE_DASH.sub("~", t)
    parts = [p for p in re.split(r"[\s,;；，、|]+|/(?=\D|\d+\.\d+\.)|[()（）]", t) if p]
    found: list[str] = []
    refused: list[BadValue] = []
    #: the label of found[i] when it is not the host's own business address
    labelled: dict[int, str] = {}
    label_before: str | None = None  # a word of its own before the address: 浮动IP 10.1.1.21
    in_range = False
    for part in parts:
        p = part if part[:1].isdigit() or _is_address(part) else \
            re.sub(r"^[^\d:]*?[:：=]?(?=\d|::)", "", part)
        if not re.search(r"\d", p):
            label = _label_of(part)
            if label is not None or _BUSINESS.search(part):
                if found and re.search(r"[(（]\s*" + re.escape(part) + r"\s*[)）]", t):
                    if label is not None:  # 10.1.1.10（VIP）: the label after it
                        labelled[len(found) - 1] = label
                else:
                    label_before = label
            continue  # a label such as 业务 or 实IP
        label = label_before or _label_of(part[:len(part) - len(p)])
        label_before = None
        addresses = [p]
        if ranged and "~" in p:
            got = _range(p, text)
            if got is None:
                refused.append(BadValue(f"{text!r} is not an IP address (nor a range of "
                                        "them like 10.1.1.1-10.1.1.3)"))
                continue
            addresses, in_range = got, True
        for a in addresses:
            try:
                found.append(_one_ip(a, text))
            except BadValue as exc:
                refused.append(exc)
                continue
            if label is not None:
                labelled[len(found) - 1] = label
    if not found:
        raise refused[0] if refused else BadValue(f"{text!r} is not an IP address")
    if labelled:
        own = [a for i, a in enumerate(found) if i not in labelled]
        kinds = set(labelled.values())
        if own and kinds == {"virtual"}:
            return Doubtful(own[0], "holds a virtual address (VIP, 浮动IP) beside the host's "
                                    "own: the host's own (the first) is used")
        if own and kinds == {"management"}:
            return Doubtful(own[0], _MANAGEMENT_DROPPED)
        if own:
            return Doubtful(own[0], "holds a virtual address (VIP, 浮动IP) and a management "
                                    "address (管理, 运维, mgmt, BMC) beside the business one: "
                                    "the business address is used")
        real = [a for i, a in enumerate(found) if labelled[i] != "virtual"]
        if real and "virtual" in kinds:
            return Doubtful(real[0], "holds a virtual address (VIP, 浮动IP) beside the host's "
                                     "own: the host's own (the first) is used")
    if in_range:
        return Doubtful(found[0], _RANGE_USED)
    if len(found) + len(refused) > 1:
        return Doubtful(found[0], "holds several IP addresses; the first usable one is used",
                        _dropped(found[1:], refused))
    return found[0]


def _dropped(others: list[str], refused: list[BadValue]) -> str:
    """What a cell of several IPs lost: "dropped 10.0.0.6, 10.0.0.7 and 1 unusable"."""
    parts = [", ".join(others[:5]) + (" …" if len(others) > 5 else "")] if others else []
    if refused:
        parts.append(f"{len(refused)} unusable")
    return "dropped " + " and ".join(parts)


#: The most addresses a range in one host's IP cell may hold (read as that host's NICs or
#: VIPs); a larger range is a subnet or a pool, not one host, and is refused.
MAX_RANGE = 16

_IP_RANGE_DASH = re.compile(r"(?<=\d)\s*[-~～–—]\s*(?=\d)")
_IP_RANGE = re.compile(r"(\d{1,3}(?:\.\d{1,3}){3})~(\d{1,3}(?:\.\d{1,3}){3}|\d{1,3})")

_RANGE_USED = ("holds an address range (several addresses of one host: its NICs or VIPs); "
               "the first usable one is used")

_MANAGEMENT_DROPPED = ("holds a management address (管理, 运维, mgmt, BMC) beside the "
                       "business one: the business address is used, the management one "
                       "dropped (as when 业务IP and 管理IP are separate columns)")


def _range(part: str, text: str) -> list[str] | None:
    """The addresses of the range ``part`` ("10.1.1.1~10.1.1.3", "10.1.1.1~3") of the cell
    ``text``, ``None`` when it is not two IPv4 addresses; raises :class:`BadValue` for a
    range of more than :data:`MAX_RANGE` addresses or a backward one."""
    m = _IP_RANGE.fullmatch(part)
    try:
        first = ipaddress.IPv4Address(m.group(1)) if m else None
        end = m.group(2) if m else ""
        last = ipaddress.IPv4Address(end if "." in end else
                                     m.group(1).rsplit(".", 1)[0] + "." + end) if m else None
    except ValueError:
        first = last = None
    if first is None or last is None:
        return None
    n = int(last) - int(first) + 1
    if n < 1:
        raise BadValue(f"{text!r} is a range that runs backwards ({first} to {last}): "
                       "give the host's own address")
    if n > MAX_RANGE:
        raise BadValue(f"{text!r} is a range of {n} addresses ({first} to {last}), more "
                       "than one host has: give the host's own address (a range of at "
                       f"most {MAX_RANGE} is read as several addresses of one host)")
    return [str(first + i) for i in range(n)]


def _label_of(words: str) -> str | None:
    """``virtual`` or ``management`` for a label saying an address is one (VIP, 浮动IP;
    管理, 运维, mgmt, BMC), ``None`` for any other text (业务, 实IP, …)."""
    if not words:
        return None
    if _VIRTUAL.search(words):
        return "virtual"
    if _MANAGEMENT.search(words):
        return "management"
    return None


#: A label saying an address is a management one (what a 管理IP column's header says).
_MANAGEMENT = re.compile(r"管理|运维|带外|mgmt|manage|oob|bmc|ipmi|ilo", re.I)
#: A label saying an address is the host's business one.
_BUSINESS = re.compile(r"业务|应用|服务|business|service|app", re.I)


#: A label saying an address is virtual (shared by a cluster, moved on failover): VIP,
#: 虚IP, 虚拟IP, 浮动IP, 漂移IP, an Oracle RAC SCAN address (not 虚拟机: a VM's own IP).
_VIRTUAL = re.compile(r"vip|虚ip|虚拟ip|浮动|漂移|scan|floating", re.I)



def value_of(value: Any) -> Any:
    """The value itself of a :class:`Doubtful` value (anything else as it is)."""
    return value.value if type(value) is Doubtful else value


_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?", re.I)


_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


#: a host name with a note in brackets after it: HB-OA-01（主）, db01(备机), web01 (旧)
_NAME_NOTE = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*[(（](?P<note>[^()（）]{1,20})[)）]$")


#: The doubt of a host name holding "_" (hb_oa_01): kept, but no RFC 1123 name.
UNDERSCORE_NAME = ("holds '_' (a Windows name: an RFC 1123 host name has letters, digits and "
                   "hyphens only): kept as written — check the cut-over's DNS record, which "
                   "a DNS server may refuse, and the target's host name, which a cloud may "
                   "rewrite (OpenStack gives hb_oa_01 the host name hb-oa-01)")


def parse_hostname_cell(text: str) -> str | Doubtful:
    """A host sheet's 主机名 cell: :func:`parse_hostname`, or a host name with a short note
    in brackets after it (``HB-OA-01（主）``, ``db01(备机)``): the name, with a doubt saying
    the note is dropped (it was refused as no host name)."""
    m = _NAME_NOTE.match(text.strip())
    if m is None:
        name = parse_hostname(text)
        return Doubtful(name, UNDERSCORE_NAME) if "_" in name else name
    name = parse_hostname(m.group("name"))
    return Doubtful(name, "holds a note in brackets after the host name (主, 备 …): the "
                          "host name is used and the note dropped — put it in a 用途 column "
                          "to keep it")


def parse_hostname(text: str) -> str:
    """A host name as RFC 1123 allows: labels of letters, digits and hyphens (and ``_``,
    common in Windows names), 1–63 characters each, 253 in all, separated by dots."""
    t = text.strip()
    if len(t) > 253:
        raise BadValue(f"a host name of {len(t)} characters is longer than 253 (RFC 1123)")
    labels = t.removesuffix(".").split(".")
    for label in labels:
        if not _LABEL.fullmatch(label):
            shown = t if len(t) <= 60 else t[:57] + "…"
            hint = ("; a name in Chinese is a description: put it in a 用途 column and the "
                    "machine's host name (hostname) here") if _CJK.search(t) else ""
            raise BadValue(f"{shown!r} is not a host name (RFC 1123: letters, digits and "
                           f"hyphens, labels of 1-63 characters separated by dots){hint}")
    return t


_MAC = re.compile(r"[0-9a-f]{2}(?::[0-9a-f]{2}){5}")


def parse_mac(text: str) -> str:
    """A MAC address as aa:bb:cc:dd:ee:ff (accepts -, . and no separators)."""
    if _MAC.fullmatch(text):
        return text
    hexes = re.sub(r"[^0-9a-f]", "", text.lower())
    if len(hexes) != 12:
        raise BadValue(f"{text!r} is not a MAC address")
    return ":".join(hexes[i:i + 2] for i in range(0, 12, 2))


def excel_date(serial: float) -> dt.date:
    """The date of an Excel serial day number (1900 date system: 45292 = 2024-01-01)."""
    return dt.date(1899, 12, 30) + dt.timedelta(days=int(serial))


def parse_dates(text: str) -> str:
    """Dates separated by ; , or spaces, as ISO "YYYY-MM-DD;…" (accepts 2024/10/01)."""
    out = []
    for d in re.split(r"[;,；，、\s]+", text):
        if not d:
            continue
        if re.fullmatch(r"\d{5}(?:\.\d+)?", d) and 20000 <= float(d) < 80000:
            out.append(excel_date(float(d)).isoformat())  # an Excel serial day number
            continue
        norm = re.sub(r"[/.年月]", "-", d).rstrip("日")
        try:
            out.append(dt.date.fromisoformat(
                "-".join(p.zfill(2) for p in norm.split("-"))).isoformat())
        except ValueError:
            raise BadValue(f"{d!r} is not a date (YYYY-MM-DD)") from None
    return ";".join(out)


_GO_LIVE = re.compile(r"^(?P<y>(?:19|20)\d{2})\s*(?:[-/.年]\s*(?P<m>\d{1,2})\s*(?:月\s*)?"
                      r"(?:[-/.]?\s*(?P<d>\d{1,2})\s*日?)?)?\s*年?(?:\s+0?0:00(?::00)?)?$")
#: 20190301 / 201903: an asset system's compact date (yyyymmdd, yyyymm)
_GO_LIVE_COMPACT = re.compile(r"^(?P<y>(?:19|20)\d{2})(?P<m>0[1-9]|1[0-2])(?P<d>\d{2})?$")


def parse_go_live(text: str) -> str:
    """A go-live date (上线时间) as precise as it is written: "2019-03-01", "2019/3/1",
    "2019年3月1日" → "2019-03-01"; "2019.3", "2019年3月", "2019-03" → "2019-03"; "2019",
    "2019年" → "2019"; an asset system's compact "20190301" / "201903" too; an Excel
    serial day number (43525) → its date. Anything else is
    refused naming the forms that are read."""
    t = text.strip()
    if re.fullmatch(r"\d{5}(?:\.\d+)?", t) and 20000 <= float(t) < 80000:
        return excel_date(float(t)).isoformat()  # a date cell saved as its serial number
    m = _GO_LIVE.match(t) or _GO_LIVE_COMPACT.match(t)
    if m:
        y, mo, d = int(m.group("y")), m.group("m"), m.group("d")
        try:
            day = dt.date(y, int(mo or 1), int(d or 1))
        except ValueError:
            day = None
        if day is not None:
            return day.isoformat() if d else (f"{y}-{int(mo):02d}" if mo else str(y))
    raise BadValue(f"{text!r} is not a go-live date (like 2019-03-01, 2019.3, 2019年3月 or "
                   "2019)")


#: The label of an external system in a dependency's target: 外部:税务总局,
#: 外部系统：国家税务总局接口, （外部）国家税务总局, 人社部接口(外部), external: …
_EXTERNAL_WORD = r"(?:外部(?:系统|单位|接口|机构|平台)?|external(?:\s+system)?)"
_EXTERNAL = re.compile(
    rf"^(?:[(（\[【]\s*{_EXTERNAL_WORD}\s*[)）\]】]\s*[:：]?|{_EXTERNAL_WORD}\s*[:：])\s*"
    rf"(?P<a>.+)$|^(?P<b>.+?)\s*[(（\[【]\s*{_EXTERNAL_WORD}\s*[)）\]】]$", re.I)

#: The warning of a dependency target labelled external (one per column, naming rows).
EXTERNAL_TARGET = ("names an external system (外部: …): recorded by its name as the "
                   "dependency's external endpoint (外部地址), as discovery records a peer "
                   "outside the estate — not a system: it is not planned or moved, and no "
                   "placeholder system is made")


def external_target(text: str) -> str | None:
    """The name of the external system a dependency's target cell labels
    (``外部:税务总局`` → ``税务总局``), ``None`` for any other text (a system whose name
    merely starts with 外部, such as 外部门户, is a system)."""
    if "外部" not in text and "xternal" not in text and "XTERNAL" not in text:
        return None
    m = _EXTERNAL.match(text.strip())
    if m is None:
        return None
    name = (m.group("a") or m.group("b") or "").strip()
    return name or None


def external_targets(values: list[Any]) -> None:
    """Each cell of a cleaned 目标系统 column (``values``, changed in place) labelled
    external (:func:`external_target`) as a :class:`Doubtful` :class:`External`. The
    column's distinct texts are looked at once; only those holding 外部 or external are
    matched (the column keeps the memo it shares with 系统名称)."""
    distinct = dict.fromkeys(values)
    found: dict[str, Doubtful] = {}
    for v in distinct:
        if type(v) is str and ("外部" in v or "xternal" in v or "XTERNAL" in v):
            name = external_target(v)
            if name is not None:
                found[v] = Doubtful(External(name), EXTERNAL_TARGET)
    if found:
        for j, v in enumerate(values):
            hit = found.get(v) if type(v) is str else None
            if hit is not None:
                values[j] = hit


# --------------------------------------------------------------------------- dispatch
_SPECIAL: dict[str, Callable[[str], Any]] = {
    "systems.mlps_level": parse_mlps,
    "systems.network_zone": parse_zone,
    "systems.criticality": parse_criticality,
    "systems.kind": parse_system_kind,
    "hosts.kind": parse_host_kind,
    "hosts.power_state": parse_power,
    "hosts.firmware": parse_firmware,
    "hosts.ip": parse_ip,
    "hosts.hostname": parse_hostname_cell,
    "hosts.mac": parse_mac,
    "hosts.cpu_cores": parse_count,
    "bureaus.kind": parse_bureau_kind,
    "bureaus.window_day": parse_weekday,
    "bureaus.window_start": parse_time,
    "bureaus.blackout_dates": parse_dates,
    "hosts.go_live": parse_go_live,
    "systems.go_live": parse_go_live,
    "dependencies.type": parse_dep_type,
    "dependencies.origin": parse_origin,
    "disks.format": parse_disk_format,
    "dependencies.port": lambda t: ";".join(str(p) for p in parse_ports(t)),
}


#: Two sizes split by a slash (16G/32G, 40G/500G): used/total, or two values?
_SLASH_PAIR = re.compile(rf"\s*({_NUM}\s*[a-zA-Z]*)\s*/\s*({_NUM}\s*[a-zA-Z]*)\s*")


def _two_sizes(text: str, target: str, first: str, second: str) -> str:
    """The refusal of a size cell holding two sizes split by a slash, saying what each
    reading would be and what to write."""
    if target == "hosts.memory_gb":
        return (f"{text!r} gives two sizes: used/total ({first} in use of {second}?) or "
                f"two values? Give the host's memory alone (its total: {second})")
    if target in _DISK_SIZES:
        return (f"{text!r} gives two sizes: used/total ({first} in use of {second}?) or two "
                f"disks? Give the total size ({second}), or each disk labelled "
                f"(系统盘{first}+数据盘{second}) or added up ({first}+{second})")
    return (f"{text!r} gives two sizes: used/total ({first} of {second}?) or two values? "
            "Give one size")


#: Text columns that are identifiers or addresses: full-width characters are folded.
_FOLDED = frozenset({"hosts.hostname", "hosts.ip", "hosts.mac", "dependencies.external",
                     "bureaus.ssh_user", "bureaus.ssh_jump", "dependencies.source_host",
                     "dependencies.target_host"})


def clean(target: str, value: Any, unit: str = "") -> Any:
    """The estate value of one cell for ``target`` ("table.column"); ``None`` when blank.

    ``unit`` is the unit written in the header ("g", "mb", "tb", "%", "核" …); sizes
    without a unit of their own are read in it. Raises :class:`BadValue`. (A doubtful value
    — several IPs in a cell — gives its value; :func:`cleaner` keeps the doubt.)
    """
    return value_of(clean_or_doubt(target, value, unit))


def clean_or_doubt(target: str, value: Any, unit: str = "") -> Any:
    """:func:`clean`, but a value read with a doubt comes as a :class:`Doubtful`."""
    table, column = target.split(".", 1)
    col = TABLES[table].column(column)
    if col.kind == "bool" and isinstance(value, bool):
        return value
    if col.kind in ("int", "float") and isinstance(value, dt.date | dt.time):
        raise BadValue(f"{clean_text(value)!r} is a date: Excel turned this number into a "
                       "date (format the column as a number and type the value again)")
    text = clean_text(value)
    if col.kind != "str" or target in _FOLDED:
        text = fold(text)
    if col.kind == "bool":
        if text.lower() in ("", "-", "/", "无", "n/a"):
            return False if text == "无" else None
        return parse_bool(text)
    if is_blank(text):
        return None
    if unit == SPEC:  # a 配置 column (8C16G500G): this target's part of it
        result = _spec_part(target, text)
        if result is None:
            return None
        if (col.low is not None and result < col.low) or (
                col.high is not None and result > col.high):
            raise BadValue(f"{text!r}: {result:g} is outside {col.low:g}-{col.high:g} for "
                           f"{column}")
        return result
    if target == "databases.engine":
        if text.lower() in _NO_DATABASE:
            return None  # 无: the host has no database (not a database of engine 'other')
        engine, _version = parse_engine(text)
        if engine == "other" and other_product(text):
            return Doubtful(engine, OTHER_ENGINE)
        return engine
    parser = _SPECIAL.get(target)
    if target == "hosts.kind" and unit in ("vm", "physical"):  # 是否虚拟机: 是/否
        result = parse_host_kind_answer(text, unit)
    elif parser is not None:
        result = parser(text)
    elif col.kind == "float" and column.endswith("_gb"):
        factor_unit = unit if unit in SIZE_UNITS else "g"
        raid = parse_raid_disks(text, factor_unit) if target in _DISK_SIZES else None
        if raid is not None:
            if col.high is not None and raid.value > col.high:
                raise BadValue(f"{text!r} is above the maximum {col.high:g}")
            return raid
        try:
            result = parse_size_gb(text, factor_unit)
        except BadValue:
            pair = _SLASH_PAIR.fullmatch(text)
            if pair:  # 16G/32G: used/total, or two values?
                raise BadValue(_two_sizes(text, target, *pair.groups())) from None
            raise
        if (target == "hosts.memory_gb" and unit not in SIZE_UNITS and result >= 1024
                and _BARE.fullmatch(text)):  # 16384 under 内存: MB, most likely
            if col.high is not None and result > col.high:
                raise BadValue(f"{text!r} is above the maximum {col.high:g} GB (if it is MB, "
                               f"write {text}MB or head the column 内存(MB))")
            return Doubtful(result, "has no unit and is 1024 or more: read as GB (if it is "
                                    "MB, write it as 16384MB or head the column 内存(MB))")
    elif col.kind == "float" and column.endswith("_pct"):
        result = parse_percent(text)
    elif col.kind == "float":
        result = _number(text)
    elif col.kind == "int":
        result = parse_int(text)
    elif col.kind == "enum":
        low = text.lower()
        if low not in col.choices:
            raise BadValue(f"{text!r} is not one of: {', '.join(col.choices)}")
        result = low
    elif target in _SYSTEM_NAMES and " " in text and not text.isascii():
        return _CJK_GAP.sub("", text)
    else:
        return text
    if isinstance(result, int | float) and not isinstance(result, bool):
        if col.low is not None and result < col.low:
            raise BadValue(f"{text!r} is below the minimum {col.low:g}")
        if col.high is not None and result > col.high:
            raise BadValue(f"{text!r} is above the maximum {col.high:g}")
    return result


_HOSTNAME_RE = re.compile(
    r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}"
    r"[A-Za-z0-9_])?)*")


def _hostname_fast(text: str) -> bool:
    return len(text) <= 253 and "_" not in text and _HOSTNAME_RE.fullmatch(text) is not None



#: Columns holding a system's name: a space between two Chinese characters is dropped
#: (综合 办公系统, typed with a space to align it, is 综合办公系统 of the 系统清单 sheet)
_SYSTEM_NAMES = frozenset({"systems.name", "dependencies.source_system",
                           "dependencies.target_system", "systems.dr_primary"})
_CJK_CHARS = "\u3000-\u303f\u4e00-\u9fff\uff00-\uffef"
_CJK_GAP = re.compile(f"(?<=[{_CJK_CHARS}])\\s+(?=[{_CJK_CHARS}])")


def _system_name(value: Any) -> Any:
    """The cleaner of a system-name column: :func:`_plain`, without a space between two
    Chinese characters (a name's spelling, not a word break)."""
    text = _plain(value)
    if text is not None and " " in text and not text.isascii():
        return _CJK_GAP.sub("", text)
    return text


def _plain(value: Any) -> Any:
    """The cleaner of a free-text column (:func:`cleaner`): tidy text, ``None`` when blank."""
    text = value.strip() if type(value) is str and value.isascii() else clean_text(value)
    if " " in text or "\t" in text or text[:1] == "'":
        text = clean_text(text)
    return None if text.lower() in BLANKS else text


@functools.lru_cache(maxsize=1024)
def cleaner(target: str, unit: str = "", doubts: bool = False) -> Callable[[Any], Any]:
    """A one-argument :func:`clean` for ``target`` that returns a :class:`BadValue` instead
    of raising it (what a reader memoises per distinct cell value); with ``doubts`` a value
    read with a doubt comes as a :class:`Doubtful` (the reader turns it into a warning).

    The same arguments give the same function, and every free-text column (``str``, not
    folded) the same one: a reader may share one memo between the columns of one cleaner
    (a file's 系统名称, 源系统 and 目标系统 hold the same names)."""
    parse = clean_or_doubt if doubts else clean
    table, column = target.split(".", 1)
    kind = TABLES[table].column(column).kind
    if kind == "str" and target not in _FOLDED:
        return _system_name if target in _SYSTEM_NAMES else _plain

    def checked(value: Any) -> Any:
        try:
            return parse(target, value, unit)
        except BadValue as exc:
            return exc

    fast: Callable[[str], object] | None = {
        "hosts.ip": quick_ip, "hosts.mac": _MAC.fullmatch,
        "hosts.hostname": _hostname_fast}.get(target)
    if fast is not None:
        def address(value: Any) -> Any:
            if type(value) is str and fast(value):
                return value
            return checked(value)

        return address
    if kind == "str":
        def folded(value: Any) -> Any:
            if type(value) is str and value.isascii():
                text = value.strip()
                if " " not in text and "\t" not in text and text[:1] != "'":
                    return None if text.lower() in BLANKS else text
            return checked(value)

        return folded
    return checked


__all__ = [
    "BLANKS",
    "DB_ENGINES",
    "EXTERNAL_TARGET",
    "SPEC",
    "SPEC_HEADERS",
    "SPEC_TARGETS",
    "UNDERSCORE_NAME",
    "BadValue",
    "Doubtful",
    "External",
    "clean",
    "clean_text",
    "cleaner",
    "excel_date",
    "external_target",
    "external_targets",
    "fold",
    "is_blank",
    "kind_question",
    "parse_bool",
    "parse_count",
    "parse_dates",
    "parse_engine",
    "parse_go_live",
    "parse_host_kind_answer",
    "parse_hostname",
    "parse_hostname_cell",
    "parse_ip",
    "parse_mac",
    "parse_mlps",
    "parse_percent",
    "parse_ports",
    "parse_raid_disks",
    "parse_size_gb",
    "parse_spec",
    "parse_time",
    "parse_weekday",
    "parse_zone",
    "quick_ip",
    "unusable_ip",
    "value_of",
]
