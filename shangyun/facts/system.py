"""Facts about the operating system: host name, distribution and version, kernel, arch."""

from __future__ import annotations

import re
from typing import Any

from shangyun.facts.base import Fact, key_values

RELEASE_FILES = ("/etc/os-release", "/etc/redhat-release", "/etc/SuSE-release",
                 "/etc/kylin-release", "/etc/lsb-release")


class Hostname(Fact):
    """The host's name (``/proc/sys/kernel/hostname`` read by the shell, else ``uname -n``).

    Sample output::

        app01.bureau3.gov
    """

    name = "hostname"

    @classmethod
    def command(cls) -> str:
        return ("{ IFS= read -r _h < /proc/sys/kernel/hostname && printf '%s\\n' \"$_h\"; } "
                "|| uname -n")

    @classmethod
    def process(cls, lines: list[str]) -> str:
        return next((ln.strip() for ln in lines if ln.strip()), "")


class Kernel(Fact):
    """Kernel release and machine architecture (``/proc/sys/kernel/osrelease`` read by the
    shell, else ``uname -r``; ``uname -m``).

    Sample output::

        2.6.32-754.35.1.el6.x86_64
        x86_64
    """

    name = "kernel"

    @classmethod
    def command(cls) -> str:
        return ("{ IFS= read -r _r < /proc/sys/kernel/osrelease && printf '%s\\n' \"$_r\"; } "
                "|| uname -r; uname -m")

    @classmethod
    def process(cls, lines: list[str]) -> dict[str, str]:
        vals = [ln.strip() for ln in lines if ln.strip()]
        return {"release": vals[0] if vals else "", "arch": vals[1] if len(vals) > 1 else ""}


class OsRelease(Fact):
    """Distribution and version: os-release, else redhat-release, SuSE-release, lsb-release.

    Every release file that exists is printed after a ``#file <path>`` line. Sample output
    (CentOS 6, which has no os-release)::

        #file /etc/redhat-release
        CentOS release 6.10 (Final)

    Result: ``{"id": "centos", "name": "CentOS", "version": "6.10",
    "pretty": "CentOS release 6.10 (Final)", "source": "/etc/redhat-release"}``.
    """

    name = "os"

    @classmethod
    def command(cls) -> str:
        files = " ".join(RELEASE_FILES)
        # the files are read by the shell itself (no process per file)
        return (f'for f in {files}; do [ -r "$f" ] && {{ echo "#file $f"; '
                'while IFS= read -r _l || [ -n "$_l" ]; do printf \'%s\\n\' "$_l"; done < "$f"; '
                '}; done')

    @classmethod
    def process(cls, lines: list[str]) -> dict[str, str]:
        files: dict[str, list[str]] = {}
        current: list[str] | None = None
        for line in lines:
            if line.startswith("#file "):
                current = files.setdefault(line[6:].strip(), [])
            elif current is not None:
                current.append(line)
        if "/etc/os-release" in files:
            kv = key_values(files["/etc/os-release"])
            if kv.get("NAME") or kv.get("ID"):
                return _from_os_release(kv)
        for path in ("/etc/redhat-release", "/etc/kylin-release"):
            if path in files and any(x.strip() for x in files[path]):
                return _from_release_line(files[path], path)
        if "/etc/SuSE-release" in files:
            return _from_suse(files["/etc/SuSE-release"])
        if "/etc/lsb-release" in files:
            kv = key_values(files["/etc/lsb-release"])
            return {"id": kv.get("DISTRIB_ID", "").lower(), "name": kv.get("DISTRIB_ID", ""),
                    "version": kv.get("DISTRIB_RELEASE", ""),
                    "pretty": kv.get("DISTRIB_DESCRIPTION", ""), "source": "/etc/lsb-release"}
        return {"id": "", "name": "", "version": "", "pretty": "", "source": ""}


def _from_os_release(kv: dict[str, str]) -> dict[str, str]:
    version = kv.get("VERSION_ID", "")
    return {"id": kv.get("ID", "").lower(), "name": kv.get("NAME", kv.get("ID", "")),
            "version": version, "pretty": kv.get("PRETTY_NAME", ""),
            "source": "/etc/os-release"}


_RELEASE = re.compile(r"^(?P<name>.+?)\s+(?:Linux\s+)?release\s+(?P<version>[\w.]+)", re.I)
_IDS = (("red hat", "rhel"), ("centos", "centos"), ("kylin", "kylin"), ("oracle", "ol"),
        ("neokylin", "neokylin"), ("fedora", "fedora"), ("rocky", "rocky"),
        ("alma", "almalinux"), ("euleros", "euleros"), ("openeuler", "openeuler"))


def _guess_id(name: str) -> str:
    low = name.lower()
    found = [ident for word, ident in _IDS if word in low]
    return found[-1] if found else low.split()[0] if low else ""


def _from_release_line(lines: list[str], path: str) -> dict[str, str]:
    line = next(x.strip() for x in lines if x.strip())
    m = _RELEASE.match(line)
    name, version = (m.group("name"), m.group("version")) if m else (line, "")
    return {"id": _guess_id(name), "name": name, "version": version, "pretty": line,
            "source": path}


def _from_suse(lines: list[str]) -> dict[str, str]:
    first = next((x.strip() for x in lines if x.strip()), "")
    kv = key_values(lines[1:])
    name = re.sub(r"\s*\d+\s*\(.*\)\s*$", "", first) or "SUSE Linux"
    version = kv.get("VERSION", "")
    if kv.get("PATCHLEVEL", "0") not in ("", "0"):
        version = f"{version}.{kv['PATCHLEVEL']}"
    ident = "sles" if "enterprise server" in name.lower() else "suse"
    return {"id": ident, "name": name, "version": version, "pretty": first,
            "source": "/etc/SuSE-release"}


def describe(os_fact: dict[str, Any]) -> tuple[str, str]:
    """``(os, os_version)`` for the estate's hosts table from the ``os`` fact."""
    return str(os_fact.get("name", "")), str(os_fact.get("version", ""))
