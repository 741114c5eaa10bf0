"""Facts about storage: block devices (disks, partitions, LVM) and filesystem usage."""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

from shangyun.facts.base import Fact, split_format, to_int

_COLS = "NAME,KNAME,TYPE,SIZE,FSTYPE,MOUNTPOINT"
_PSEUDO_FS = {"tmpfs", "devtmpfs", "overlay", "squashfs", "proc", "sysfs", "devpts", "cgroup",
              "cgroup2", "nsfs", "shm", "udev", "none", "rootfs", "mqueue", "hugetlbfs",
              "efivarfs", "fuse.lxcfs", "autofs", "binfmt_misc", "tracefs", "debugfs"}


class BlockDevices(Fact):
    """Disks, partitions and LVM volumes: ``lsblk -J``, else ``lsblk -P``, else
    ``/proc/partitions`` (sizes always in bytes).

    Sample output (CentOS 6, util-linux-ng without ``-J``)::

        #fmt pairs
        NAME="sda" KNAME="sda" TYPE="disk" SIZE="21474836480" FSTYPE="" MOUNTPOINT=""
        NAME="sda1" KNAME="sda1" TYPE="part" SIZE="524288000" FSTYPE="ext4" MOUNTPOINT="/boot"

    Then, read with built-ins from ``/sys/block``, each device's world-wide id (a SCSI
    disk's ``device/wwid``, a device-mapper device's ``dm/uuid`` under its ``dm/name``)::

        #wwid sdb naa.600508b4000156d700012000000b0000
        #wwid mpatha mpath-3600508b4000156d700012000000b0000

    Result: one dict per device: ``name``, ``type`` (disk/part/lvm/rom/loop …),
    ``size_bytes``, ``fstype``, ``mountpoint``, ``disk`` (the top-level disk it sits on)
    and, for a disk or multipath device whose id was read, ``wwid`` (``naa.6…`` and
    ``mpath-36…`` both as ``36…``: the same LUN seen by two hosts has the same one).
    """

    name = "block"

    @classmethod
    def command(cls) -> str:
        return (
            f"if o=$(lsblk -J -b -o {_COLS} 2>/dev/null) && [ -n \"$o\" ]; then "
            "echo '#fmt json'; echo \"$o\"; "
            f"elif o=$(lsblk -P -b -o {_COLS},PKNAME 2>/dev/null || lsblk -P -b -o {_COLS} "
            "2>/dev/null) && [ -n \"$o\" ]; then echo '#fmt pairs'; echo \"$o\"; "
            "else echo '#fmt partitions'; cat /proc/partitions; fi; "
            "for _d in /sys/block/*; do _w=; _m=${_d##*/}; if [ -r \"$_d/dm/uuid\" ]; then "
            "read -r _w < \"$_d/dm/uuid\"; read -r _m < \"$_d/dm/name\"; "
            "elif [ -r \"$_d/device/wwid\" ]; then read -r _w < \"$_d/device/wwid\"; fi; "
            "[ -n \"$_w\" ] && echo \"#wwid $_m $_w\"; done")

    @classmethod
    def process(cls, lines: list[str]) -> list[dict[str, Any]]:
        ids: dict[str, str] = {}
        for line in lines:
            if line.startswith("#wwid "):
                _, name, value = [*line.split(None, 2), "", ""][:3]
                ids[name] = _wwid(value)
        lines = [line for line in lines if not line.startswith("#wwid ")]
        fmt, rest = split_format(lines, "partitions")
        if fmt == "json":
            devices = _from_json("\n".join(rest))
        elif fmt == "pairs":
            devices = _from_pairs(rest)
        else:
            devices = _from_partitions(rest)
        for dev in devices:
            if dev["type"] in ("disk", "mpath") and ids.get(dev["name"]):
                dev["wwid"] = ids[dev["name"]]
        return devices


def _wwid(value: str) -> str:
    """A LUN's id as multipath names it: ``naa.6005…`` (sysfs) and ``mpath-36005…``
    (device-mapper) both ``36005…``; an LVM or other device-mapper id is none."""
    value = " ".join(value.split())
    if value.startswith("mpath-"):
        return value[6:].lower()
    if value.startswith("naa."):
        return "3" + value[4:].lower()
    if value.startswith(("LVM-", "CRYPT-", "part")) or not value:
        return ""
    return value


def _device(name: str, dtype: str, size: Any, fstype: Any, mount: Any, disk: str) -> dict[str, Any]:
    return {"name": name, "type": dtype, "size_bytes": to_int(str(size or ""), 0),
            "fstype": fstype or "", "mountpoint": mount or "", "disk": disk}


def _from_json(text: str) -> list[dict[str, Any]]:
    data = json.loads(text) if text.strip() else {}
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()

    def walk(dev: dict[str, Any], disk: str) -> None:
        name = str(dev.get("name", ""))
        top = disk or name
        if (name, top) not in seen:
            seen.add((name, top))
            out.append(_device(name, str(dev.get("type", "")), dev.get("size"),
                               dev.get("fstype"), dev.get("mountpoint"), top))
        for child in dev.get("children", []) or []:
            walk(child, top)

    for dev in data.get("blockdevices", []):
        walk(dev, "")
    return out


def _from_pairs(lines: list[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    names: dict[str, str] = {}
    disk = ""
    for line in lines:
        if "=" not in line:
            continue
        kv = dict(p.split("=", 1) for p in shlex.split(line) if "=" in p)
        # util-linux-ng 2.17 (RHEL 6) lists device-mapper names as "vg-lv (dm-0)"
        name, dtype = re.sub(r" \(.*\)$", "", kv.get("NAME", "")), kv.get("TYPE", "")
        if dtype in ("disk", "rom", "loop") or not disk:
            disk = name
        parent = kv.get("PKNAME", "")
        top = names.get(parent, disk) if parent else (name if dtype in ("disk", "rom", "loop")
                                                      else disk)
        names[kv.get("KNAME", name)] = top
        out.append(_device(name, dtype, kv.get("SIZE"), kv.get("FSTYPE"),
                           kv.get("MOUNTPOINT"), top))
    return out


_PART = (re.compile(r"^(?P<disk>(?:[shv]d|xvd)[a-z]+)(?P<n>\d+)?$"),
         re.compile(r"^(?P<disk>nvme\d+n\d+|mmcblk\d+)(?:p(?P<n>\d+))?$"))


def _from_partitions(lines: list[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for line in lines:
        parts = line.split()
        if len(parts) != 4 or not parts[0].isdigit():
            continue
        blocks, name = to_int(parts[2], 0) or 0, parts[3]
        m = _PART[0].match(name) or _PART[1].match(name)
        if m and m.group("n"):
            dtype, disk = "part", m.group("disk")
        elif m:
            dtype, disk = "disk", name
        elif name.startswith("dm-"):
            dtype, disk = "lvm", ""
        elif name.startswith(("sr", "loop", "ram")):
            dtype, disk = ("rom" if name.startswith("sr") else name.rstrip("0123456789")), name
        else:
            dtype, disk = "disk", name
        out.append(_device(name, dtype, blocks * 1024, "", "", disk))
    return out


class Filesystems(Fact):
    """Mounted filesystems and their usage (``df -P -k -T``, else ``df -P -k``; killed after
    ten seconds where ``timeout`` exists: a df hung on a dead NFS mount gives no rows, not
    a hung host).

    Sample output::

        Filesystem     Type  1024-blocks    Used Available Capacity Mounted on
        /dev/sda1      ext4     20511312 9123420  10323000      47% /
        tmpfs          tmpfs      816452       0    816452       0% /dev/shm

    Result: one dict per filesystem: ``device``, ``fstype`` ('' without ``-T``),
    ``size_kib``, ``used_kib``, ``available_kib``, ``mount`` and ``pseudo`` (tmpfs & co).
    """

    name = "filesystems"

    @classmethod
    def command(cls) -> str:
        # $_sy_t (the gather script's) kills a df hung on a dead network mount; a killed
        # df (status 137) is not run again without -T
        return "$_sy_t df -P -k -T 2>/dev/null || { [ $? -ne 137 ] && $_sy_t df -P -k; }"

    @classmethod
    def process(cls, lines: list[str]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        has_type = bool(lines) and lines[0].split()[1:2] == ["Type"]
        for line in lines[1:]:
            parts = line.split()
            need = 7 if has_type else 6
            if len(parts) < need:
                continue
            dev = parts[0]
            fstype = parts[1] if has_type else ""
            nums = parts[2:5] if has_type else parts[1:4]
            mount = " ".join(parts[need - 1:])
            size, used, avail = (to_int(n) for n in nums)
            if size is None or used is None:
                continue
            pseudo = fstype in _PSEUDO_FS or dev in _PSEUDO_FS or not dev.startswith("/")
            out.append({"device": dev, "fstype": fstype, "size_kib": size, "used_kib": used,
                        "available_kib": avail or 0, "mount": mount, "pseudo": pseudo})
        return out
