"""RVTools exports (VMware inventories): sheets vInfo, vDisk and vNetwork → hosts and disks.

Each VM of ``vInfo`` (templates skipped) becomes a host of kind ``vm`` with its power state,
guest OS, CPUs, memory, provisioned disk, firmware, cluster and ESXi host (as
``hypervisor``); each row of ``vDisk`` becomes a disk of that host; ``vNetwork`` gives the
MAC address (and the IP when vInfo has none). Older RVTools write sizes in columns named
``… MB`` and newer ones ``… MiB``; both are read (RVTools means MiB in both).

The bureau is ``--bureau`` when given, otherwise the ``Datacenter`` column. A VM's system
(and owner) comes from a custom attribute column naming it (业务系统, Owner) or the labels of
its ``Annotation`` (系统：OA系统, 负责人：王五); free text there is not read.
"""

from __future__ import annotations

import re
from typing import Any

from shangyun.errors import LedgerError
from shangyun.estate.merge import stable_id
from shangyun.ledgers.aliases import ALIASES
from shangyun.ledgers.collector import Collector
from shangyun.ledgers.formats.base import FormatRead, LedgerFormat, LedgerInput
from shangyun.ledgers.grid import Grid, column_letter
from shangyun.ledgers.headers import lookup
from shangyun.ledgers.model import Row, SheetReport
from shangyun.ledgers.values import BadValue, clean, clean_text, parse_hostname, value_of

REQUIRED = {"vInfo": ("VM",)}

#: The labels an Annotation (a VM's notes in vCenter) gives its system and owner with
#: (``系统：OA系统⏎负责人：王五``, ``System=OA; Owner=Wang``): the headers of the alias
#: table naming them, as for a custom attribute column — and 应用, a label in a note only
#: (a host sheet's 应用 column often lists middleware, not the system)
_NOTE_LABELS = {
    "name": (*ALIASES["systems.name"], "应用"),
    "owner": ALIASES["systems.owner"],
}
_NOTE_LABEL = re.compile(
    r"(?:^|(?<=[\s;；,，|/]))(?P<label>" + "|".join(
        re.escape(x) for x in sorted((x for xs in _NOTE_LABELS.values() for x in xs),
                                     key=len, reverse=True))
    + r")\s*[:：=]\s*", re.I)
_NOTE_FIELD = {x.lower(): field for field, xs in _NOTE_LABELS.items() for x in xs}


def annotation_fields(text: str) -> dict[str, str]:
    """The system name and owner an RVTools ``Annotation`` cell gives with labels
    (``系统：OA系统⏎负责人：王五`` → {"name": "OA系统", "owner": "王五"}; ``System=OA;
    Owner=Wang``); free text without a label gives nothing (it is not guessed)."""
    found = list(_NOTE_LABEL.finditer(text))
    out: dict[str, str] = {}
    if not found:
        return out
    for m, nxt in zip(found, [*found[1:], None], strict=True):
        value = text[m.end():nxt.start() if nxt else len(text)]
        # up to a separator or another label (电话：…, 用途: … — known or not)
        value = re.split(r"[\n;；,，|]|\s+[^\s:：=]{1,12}\s*[:：=]", value,
                         maxsplit=1)[0].strip(" \t/")
        field = _NOTE_FIELD[m.group("label").lower()]
        if value and field not in out:
            out[field] = value
    return out


#: Columns only RVTools writes, per tab: a CSV file (RVTools "export to csv" writes one
#: file per tab, ``RVTools_tabvInfo.csv`` …) has no sheet name, so its header tells the tab.
_TAB_COLUMNS = {
    "vInfo": ("OS according to the configuration file", "Provisioned MiB", "Provisioned MB",
              "VI SDK Server", "VM ID"),
    "vDisk": ("Capacity MiB", "Capacity MB", "Disk Key", "Disk Mode"),
    "vNetwork": ("NIC label", "Mac Address"),
}


def rvtools_tab(grid: Grid) -> str | None:
    """Which RVTools tab a grid is (``"vInfo"``, ``"vDisk"``, ``"vNetwork"``) or ``None``:
    by its sheet name in a workbook; for a CSV file by its header (first column ``VM`` and
    a column only that tab has) or its file name (``RVTools_tabvInfo.csv``)."""
    if not grid.rows or not grid.rows[0] or clean_text(grid.rows[0][0]).lower() != "vm":
        return None
    if grid.sheet is not None:
        return next((t for t in _TAB_COLUMNS if grid.sheet.lower() == t.lower()), None)
    header = {clean_text(h) for h in grid.rows[0]}
    name = grid.file.replace("\\", "/").rsplit("/", 1)[-1].lower()
    for tab, cols in _TAB_COLUMNS.items():
        if f"tab{tab.lower()}" in name or header & set(cols):
            return tab
    return None


def is_rvtools(grids: list[Grid]) -> bool:
    """``True`` when the workbook is an RVTools export: it has a ``vInfo`` sheet whose first
    row starts with a ``VM`` column, or it is one tab of an RVTools CSV export."""
    return any(rvtools_tab(g) is not None for g in grids
               if g.sheet is None or g.sheet.lower() == "vinfo")


_GUEST = re.compile(r"^(?P<os>.*?)(?:\s+(?P<ver>\d[\w.]*(?:\s+(?:SP|R)\d+)?))?"
                    r"(?:\s+or later)?\s*(?:\((?P<bits>32|64)-bit\))?$", re.I)


def split_guest_os(text: str) -> tuple[str, str, str]:
    """``(os, version, arch)`` of a VMware guest OS name.

    "CentOS 7 (64-bit)" → ("CentOS", "7", "x86_64"); "Microsoft Windows Server 2016
    (64-bit)" → ("Microsoft Windows Server", "2016", "x86_64"); "Other Linux (32-bit)" →
    ("Other Linux", "", "x86").
    """
    m = _GUEST.match(text.strip())
    if not m or not m.group("os"):
        return text, "", ""
    bits = m.group("bits")
    arch = {"64": "x86_64", "32": "x86"}.get(bits or "", "")
    return m.group("os").strip(), (m.group("ver") or "").strip(), arch


def _sheet(grids: list[Grid], name: str) -> Grid | None:
    return next((g for g in grids if rvtools_tab(g) == name), None)


class _Table:
    """One RVTools sheet: header names → column index, with MB/MiB twins resolved."""

    def __init__(self, file: str, grid: Grid) -> None:
        self.file, self.grid = file, grid
        self.index = {clean_text(h): i for i, h in enumerate(grid.rows[0]) if clean_text(h)}

    def col(self, *names: str) -> int | None:
        for n in names:
            if n in self.index:
                return self.index[n]
        return None

    def need(self, *names: str) -> int:
        i = self.col(*names)
        if i is None:
            raise LedgerError(self.file, f"RVTools sheet has no column {' / '.join(names)}",
                              sheet=self.grid.sheet, row=1, column=names[0])
        return i


def _header(table: _Table, i: int | None) -> str:
    """The header of column ``i`` with its letter, as refusals name it (``CPUs (J)``)."""
    if i is None:
        return ""
    return f"{clean_text(table.grid.rows[0][i])} ({column_letter(i)})"


def _cell(row: list[Any], i: int | None) -> Any:
    if i is None or i >= len(row):
        return ""
    return row[i]


def _cleaned(target: str, text: str, file: str, sheet: str | None, row: int,
             column: str) -> Any:
    """``text`` cleaned as the estate column ``target`` wants it; a bad value is a
    :class:`LedgerError` naming the file, sheet, row and column."""
    try:
        return value_of(clean(target, text))
    except BadValue as exc:
        raise LedgerError(file, str(exc), sheet=sheet, row=row, column=column) from exc


def _mib_to_gb(value: Any, file: str, sheet: str, r: int, column: str) -> float | None:
    text = clean_text(value)
    if not text:
        return None
    try:
        return round(float(text.replace(",", "")) / 1024, 6)
    except ValueError:
        raise LedgerError(file, f"{text!r} is not a number of MiB", sheet=sheet, row=r,
                          column=column) from None


def _valid_hostname(text: str) -> str | None:
    """``text`` when it is a host name RFC 1123 allows (as a ledger's 主机名 must be)."""
    try:
        return parse_hostname(text) if text else None
    except BadValue:
        return None


def _vm_names(vm: str, dns: str, ip: str) -> tuple[str | None, str]:
    """A VM's host name and the display name kept beside it (``""`` for none).

    The DNS Name when it is a valid host name, else the VM name when it is one (vCenter
    shows VMs by a display name, often the host name), else the IP — a host known by its
    address, which a bureau ledger listing it gives its name — or ``None`` without one. A
    display name that is no host name ("审批系统-DB (旧)", "web 01") is kept in ``role``
    (用途, where a ledger keeps such a name), as the display name."""
    valid_vm = _valid_hostname(vm)
    display = "" if valid_vm else vm
    return (_valid_hostname(dns) or valid_vm or ip or None), display


def read_rvtools(inp: LedgerInput) -> FormatRead:
    """Read an RVTools export's vInfo/vDisk/vNetwork sheets into hosts and disks."""
    file, grids, bureau = inp.file, inp.grids, inp.bureau
    col = Collector(inp.source, None)
    info_grid = _sheet(grids, "vInfo")
    if info_grid is None:  # a vDisk or vNetwork tab exported alone as CSV
        tab = next((rvtools_tab(g) for g in grids), None)
        return col.rows, [SheetReport(tab, "rvtools", 1, 0, 0, warnings=[
            f"an RVTools {tab} tab exported as CSV without its VMs: skipped (its rows "
            "belong to the VMs of the vInfo tab; import the RVTools .xlsx export, or "
            "RVTools_tabvInfo.csv for the VMs alone)"])]
    info = _Table(file, info_grid)
    c_vm = info.need("VM")
    c_power = info.col("Powerstate", "Power state")
    c_template = info.col("Template")
    c_dns = info.col("DNS Name")
    c_cpu = info.col("CPUs", "# CPU")
    c_mem = info.col("Memory", "Memory MiB", "Memory MB")
    c_prov = info.col("Provisioned MiB", "Provisioned MB", "Total disk capacity MiB",
                      "Total disk capacity MB")
    c_used = info.col("In Use MiB", "In Use MB")
    c_ip = info.col("Primary IP Address", "IP Address")
    c_os = info.col("OS according to the VMware Tools", "OS according to the configuration file",
                    "OS")
    c_os_cfg = info.col("OS according to the configuration file")
    c_fw = info.col("Firmware")
    c_cluster = info.col("Cluster")
    c_host = info.col("Host")
    c_dc = info.col("Datacenter")
    c_note = info.col("Annotation", "Notes")
    # custom attribute columns naming the system or its owner (业务系统, System, Owner …)
    c_attr: dict[str, int] = {}
    for header, i in info.index.items():
        target = lookup(header, "hosts")[0]
        if target in ("systems.name", "systems.owner") and i != c_note:
            c_attr.setdefault(target.split(".")[1], i)
    by_note: list[str] = []  # VMs given their system by the Annotation
    unread_notes: list[str] = []  # VMs whose Annotation is text without a label
    vms = _VmIndex(info)
    vm_ids: dict[tuple[str, ...], str] = {}  # vInfo key (see _VmIndex) -> host id
    vm_rows: dict[tuple[str, ...], Row] = {}
    in_use: dict[tuple[str, ...], float] = {}  # VM -> GB its disks hold (vInfo In Use)
    bad_ips: list[str] = []  # VMs whose reported address is no usable host address
    off: list[str] = []
    by_address: list[str] = []  # VMs whose display name is no host name, named by IP
    nameless: list[str] = []  # … and without an IP: not imported
    report = SheetReport(info_grid.sheet or "vInfo", "hosts", 1, 0, 0, columns={})
    for r, row in enumerate(info_grid.rows[1:], start=2):
        vm = clean_text(_cell(row, c_vm))
        if not vm:
            continue
        if clean_text(_cell(row, c_template)).lower() in ("true", "1", "yes"):
            report.skipped += 1
            continue
        bname = bureau or clean_text(_cell(row, c_dc))
        if not bname:
            raise LedgerError(file, "no bureau for this VM: pass --bureau NAME (the "
                                    "Datacenter column is empty)", sheet=info_grid.sheet,
                              row=r, column="Datacenter")
        dns = clean_text(_cell(row, c_dns))
        host: Row = {"kind": "vm"}
        for key, target, c in (("power_state", "hosts.power_state", c_power),
                               ("cpu_cores", "hosts.cpu_cores", c_cpu),
                               ("ip", "hosts.ip", c_ip), ("firmware", "hosts.firmware", c_fw)):
            text = clean_text(_cell(row, c))
            if not text:
                continue
            if key == "ip":
                host[key] = _address(text, f"{vm} (row {r})", bad_ips)
                continue
            host[key] = _cleaned(target, text, file, info_grid.sheet, r, _header(info, c))
        mem = _mib_to_gb(_cell(row, c_mem), file, info_grid.sheet or "", r, "Memory")
        if mem:
            host["memory_gb"] = mem
        prov = _mib_to_gb(_cell(row, c_prov), file, info_grid.sheet or "", r, "Provisioned MiB")
        if prov is not None:
            host["disk_gb"] = prov
        used = _mib_to_gb(_cell(row, c_used), file, info_grid.sheet or "", r, "In Use MiB")
        vm_key = vms.key(info, row, c_vm)
        if used:  # (0: not reported, e.g. an inaccessible VM; its disks count in full)
            in_use[vm_key] = used
        os_name = clean_text(_cell(row, c_os)) or clean_text(_cell(row, c_os_cfg))
        if os_name:
            host["os"], version, arch = split_guest_os(os_name)
            if version:
                host["os_version"] = version
            if arch:
                host["arch"] = arch
        for key, c in (("cluster", c_cluster), ("hypervisor", c_host)):
            if clean_text(_cell(row, c)):
                host[key] = clean_text(_cell(row, c))
        host = {k: v for k, v in host.items() if v is not None}
        name, display = _vm_names(vm, dns, str(host.get("ip") or ""))
        if name is None:
            nameless.append(f"{vm!r} (row {r})")
            report.skipped += 1
            continue
        host["hostname"] = name
        if display:
            host["role"] = display
            if name == host.get("ip"):
                by_address.append(f"{vm!r} (row {r}) as {name}")
        if host.get("power_state") == "off":
            off.append(f"{vm} (row {r})")
        system = {f: clean_text(_cell(row, i)) for f, i in c_attr.items()}
        system = {f: v for f, v in system.items() if v}
        note = clean_text(_cell(row, c_note))
        if note and not system.get("name"):
            noted = annotation_fields(note)
            if noted.get("name"):
                system = {**noted, **system}
                by_note.append(f"{vm} → {noted['name']}")
            else:
                unread_notes.append(f"{vm} (row {r})")
        if system.get("name"):
            name_of = system.pop("name")
            host["system_id"] = col.system(bname, name_of, system or None)
        vm_ids[vm_key] = col.host(bname, host)
        vm_rows[vm_key] = host
        vms.keys.append(vm_key)
        vms.rows[vm_key] = r
        report.rows += 1
    inp.progress(report.rows)  # (the rows the import counts: templates are not)
    templates = report.skipped - len(nameless)
    if templates:
        report.warnings.append(f"{templates} template(s) skipped (Template = True: a "
                               "template is not a machine to move)")
    sheet = info_grid.sheet or "vInfo"
    if by_address:
        report.warnings.append(
            f"{len(by_address)} VM name(s) of {sheet} are no host names (RFC 1123: letters, "
            "digits, hyphens) and have no DNS Name: each kept as the host's 用途 (role) "
            "and the host named by its IP until a bureau ledger gives its 主机名: "
            + _first(by_address))
    if nameless:
        report.warnings.append(
            f"{len(nameless)} VM(s) of {sheet} not imported: the VM name is no host name "
            "(RFC 1123) and there is neither a DNS Name nor an IP address (VMware Tools not "
            "running?) — list them in the bureau's ledger with 主机名 and IP地址: "
            + _first(nameless))
    # (that the VMs name no system is said by the import, once every file is merged: a
    # bureau ledger of the same import usually gives each VM its system)
    if bad_ips:
        report.warnings.append(
            f"{len(bad_ips)} VM address(es) of {sheet} are no usable host address (VMware "
            "Tools reports what the guest has: a Windows 169.254.x.x when DHCP failed, an "
            "IPv6 fe80:: link-local address): not kept as the host's IP — the bureau's "
            "ledger or discovery gives it: " + _first(bad_ips))
    if by_note:
        report.warnings.append(
            f"{len(by_note)} VM(s) of {sheet} given their system (and owner) by the labels "
            "of their Annotation (系统：…, 负责人：…; RVTools has no system column): "
            + _first(by_note))
    if unread_notes:
        report.warnings.append(
            f"the Annotation of {len(unread_notes)} VM(s) of {sheet} is text without a "
            "label (系统：NAME, 负责人：NAME, System=NAME): not read — a note is not "
            "guessed into a system; write the labels in vCenter's notes, or import the "
            "bureau's ledger listing the VMs: " + _first(unread_notes))
    if off:
        shown = ", ".join(off[:20]) + (f" … and {len(off) - 20} more" if len(off) > 20 else "")
        report.warnings.append(f"{len(off)} VM(s) powered off, kept with power_state off "
                               f"(retired, or needed? ask the bureau): {shown}")
    reports = [report]
    disk_grid = _sheet(grids, "vDisk")
    if disk_grid is not None and disk_grid.rows:
        reports.append(_read_disks(file, disk_grid, vms, vm_ids, col, in_use))
        inp.progress(reports[-1].rows)
    net_grid = _sheet(grids, "vNetwork")
    if net_grid is not None and net_grid.rows:
        reports.append(_read_network(file, net_grid, vms, vm_rows))
        inp.progress(reports[-1].rows)
    return col.rows, reports


#: The columns (besides ``VM``) that tell two VMs of one name apart: RVTools writes them on
#: every tab, and a VM name is unique only within one folder of one vCenter.
_VM_KEY_COLUMNS = ("VI SDK Server", "Datacenter", "VM UUID")


def _vm_key(table: _Table, row: list[Any], c_vm: int, parts: tuple[int, ...]) -> tuple[str, ...]:
    """A VM's key in ``table``: its name and the values of the key columns ``parts``."""
    return (clean_text(_cell(row, c_vm)), *(clean_text(_cell(row, i)) for i in parts))


class _VmIndex:
    """The VMs of vInfo, found from another tab's row by VM name and whichever of
    :data:`_VM_KEY_COLUMNS` both tabs have — so the disks and NICs of two VMs of one name
    (``web01`` in two datacenters, or two vCenters) are never mixed up."""

    def __init__(self, info: _Table) -> None:
        self.names = tuple(n for n in _VM_KEY_COLUMNS if info.col(n) is not None)
        self._info_cols = tuple(info.index[n] for n in self.names)
        self.keys: list[tuple[str, ...]] = []  # full keys of vInfo, in row order
        self.rows: dict[tuple[str, ...], int] = {}  # full key -> vInfo row number

    def key(self, info: _Table, row: list[Any], c_vm: int) -> tuple[str, ...]:
        """The full key of a vInfo row."""
        return _vm_key(info, row, c_vm, self._info_cols)

    def finder(self, file: str, table: _Table, c_vm: int) -> _VmFinder:
        """A lookup of ``table``'s rows (a vDisk or vNetwork tab) into vInfo."""
        shared = [k for k, n in enumerate(self.names) if table.col(n) is not None]
        by: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
        for full in self.keys:
            by.setdefault((full[0], *(full[1 + k] for k in shared)), []).append(full)
        cols = tuple(table.index[self.names[k]] for k in shared)
        return _VmFinder(file, table, c_vm, cols, by, self.rows)


class _VmFinder:
    """Finds the vInfo VM of a row of another tab (see :class:`_VmIndex`)."""

    def __init__(self, file: str, table: _Table, c_vm: int, cols: tuple[int, ...],
                 by: dict[tuple[str, ...], list[tuple[str, ...]]],
                 info_rows: dict[tuple[str, ...], int]) -> None:
        self.file, self.table, self.c_vm, self.cols = file, table, c_vm, cols
        self.by, self.info_rows = by, info_rows

    def __call__(self, row: list[Any], r: int) -> tuple[str, ...] | None:
        """The full vInfo key of the VM of ``row`` (spreadsheet row ``r``), ``None`` when
        vInfo has no such VM; two candidates are an error naming both."""
        found = self.by.get(_vm_key(self.table, row, self.c_vm, self.cols))
        if not found:
            return None
        if len(found) > 1:
            where = "; ".join(f"row {self.info_rows[k]} ({', '.join(k[1:]) or k[0]})"
                              for k in found)
            raise LedgerError(self.file, f"VM {found[0][0]!r} is in vInfo more than once "
                              f"({where}) and this sheet has no "
                              f"{' / '.join(_VM_KEY_COLUMNS)} column to tell which: export "
                              "the RVTools workbook again with all its columns",
                              sheet=self.table.grid.sheet, row=r, column="VM")
        return found[0]


def _first(items: list[str], n: int = 20) -> str:
    return ", ".join(items[:n]) + (f" … and {len(items) - n} more" if len(items) > n else "")


def _address(text: str, vm: str, bad: list[str]) -> str | None:
    """The host address in an RVTools cell, or ``None`` (and ``vm``: why, added to ``bad``)
    when it is no usable host address: RVTools writes what VMware Tools saw in the guest,
    which a bureau cannot correct in the export."""
    try:
        return str(value_of(clean("hosts.ip", text)))
    except BadValue as exc:
        bad.append(f"{vm}: {exc}")
        return None


def _read_disks(file: str, grid: Grid, vms: _VmIndex, vm_ids: dict[tuple[str, ...], str],
                col: Collector, in_use: dict[tuple[str, ...], float]) -> SheetReport:
    """The vDisk rows of the VMs of vInfo (``vm_ids``) as disks. RVTools gives a VM's used
    space only in all (vInfo In Use, ``in_use``): it is spread over the VM's disks by
    capacity (at most each disk's size), so a system's data to copy is what its VMs hold,
    not their provisioned size (a thin 100 GB disk holding 15 GB moves 15 GB)."""
    t = _Table(file, grid)
    c_vm = t.need("VM")
    c_disk = t.need("Disk", "Label")
    c_cap = t.need("Capacity MiB", "Capacity MB")
    c_path = t.col("Path", "Disk Path")
    report = SheetReport(grid.sheet, "disks", 1, 0, 0)
    find = vms.finder(file, t, c_vm)
    by_vm: dict[tuple[str, ...], list[Row]] = {}
    for r, row in enumerate(grid.rows[1:], start=2):
        if not clean_text(_cell(row, c_vm)):
            continue
        vm = find(row, r)
        hid = None if vm is None else vm_ids.get(vm)
        if vm is None or hid is None:  # a template's disk, or a VM not in vInfo
            report.skipped += 1
            continue
        name = clean_text(_cell(row, c_disk))
        size = _mib_to_gb(_cell(row, c_cap), file, str(grid.sheet), r, "Capacity MiB")
        if not size:
            raise LedgerError(file, "a disk needs a capacity", sheet=grid.sheet, row=r,
                              column="Capacity MiB")
        disk: Row = {"id": stable_id("d", hid, name), "host_id": hid, "name": name,
                     "size_gb": size, "format": "vmdk", "source": col.source}
        dpath = clean_text(_cell(row, c_path))
        if dpath:
            disk["path"] = dpath
            if dpath.startswith("[") and "]" in dpath:
                disk["datastore"] = dpath[1:dpath.index("]")]
        col.rows["disks"].append(disk)
        by_vm.setdefault(vm, []).append(disk)
        report.rows += 1
    for vm, disks in by_vm.items():
        used, total = in_use.get(vm), sum(d["size_gb"] for d in disks)
        if used is None or not total:
            continue
        for d in disks:
            d["used_gb"] = round(min(d["size_gb"], used * d["size_gb"] / total), 1)
    return report


def _read_network(file: str, grid: Grid, vms: _VmIndex,
                  vm_rows: dict[tuple[str, ...], Row]) -> SheetReport:
    """The vNetwork rows: each VM's first MAC address, and its IP when vInfo had none (an
    address that is no usable host address is skipped with a warning)."""
    t = _Table(file, grid)
    c_vm = t.need("VM")
    c_mac = t.col("Mac Address", "MAC Address")
    c_ip = t.col("IPv4 Address", "IP Address")
    report = SheetReport(grid.sheet, "network", 1, 0, 0)
    find = vms.finder(file, t, c_vm)
    bad_ips: list[str] = []
    for r, row in enumerate(grid.rows[1:], start=2):
        if not clean_text(_cell(row, c_vm)):
            continue
        vm = find(row, r)
        host = None if vm is None else vm_rows.get(vm)
        if host is None:
            continue
        for key, target, c in (("mac", "hosts.mac", c_mac), ("ip", "hosts.ip", c_ip)):
            text = clean_text(_cell(row, c))
            if not text or host.get(key):
                continue
            if key == "ip":
                ip = _address(text, f"{vm[0]} (row {r})", bad_ips)
                if ip is not None:
                    host[key] = ip
                continue
            host[key] = _cleaned(target, text, file, grid.sheet, r, _header(t, c))
        report.rows += 1
    if bad_ips:
        report.warnings.append(
            f"{len(bad_ips)} address(es) of {grid.sheet or 'vNetwork'} are no usable host "
            "address (link-local, loopback …): skipped: " + _first(bad_ips))
    return report


#: RVTools exports, recognised by their vInfo sheet.
RVTOOLS = LedgerFormat("rvtools", is_rvtools, read_rvtools)

__all__ = ["RVTOOLS", "is_rvtools", "read_rvtools", "split_guest_os"]
