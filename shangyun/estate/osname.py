"""An operating system written in one cell ("CentOS 7.9", "Windows Server 2012 R2",
"麒麟V10", "RHEL7.6") as the estate keeps it: the name in ``hosts.os``, the version in
``hosts.os_version`` — as discovery and the sample ledgers write them, so the assessment's
support matrix reads a host the same whichever way its ledger wrote the OS.
"""

from __future__ import annotations

import re
from functools import lru_cache

# the name, then the version: the first number (or V and a number: V10) after it
_SPLIT = re.compile(r"^(?P<name>.*?[^\d\s._\-(（])[\s_\-]*(?P<ver>(?:[vV](?=\d))?\d.*)$")
_RELEASE = re.compile(r"\s+(?:release|版本|版)$", re.I)
#: bitness and architecture notes in the version ("7.9 64位", "18.04 x86_64")
_ARCH = re.compile(r"[\s(（]*(?:(?P<arch>x86_64|amd64|aarch64|arm64)|64\s*位|32\s*位|"
                   r"64-?bit|32-?bit|x64)[)）]?", re.I)


@lru_cache(maxsize=4096)  # an OS column repeats a few texts over many rows
def split_os(text: str) -> tuple[str, str, str]:
    """``(name, version, arch)`` of an OS written in one cell: "CentOS 7.9" → ("CentOS",
    "7.9", ""); "RHEL7.6" → ("RHEL", "7.6", ""); "麒麟V10 SP1" → ("麒麟", "V10 SP1", "");
    "Windows Server 2012 R2 64位" → ("Windows Server", "2012 R2", ""); "Ubuntu 18.04
    aarch64" → ("Ubuntu", "18.04", "aarch64"); "CentOS" → ("CentOS", "", ""). A text
    starting with a number has no name to split off: it is returned whole."""
    t = text.strip()
    m = _SPLIT.match(t)
    if not m:
        return t, "", ""
    arch = ""
    version = m.group("ver")
    found = _ARCH.search(version)
    if found:
        arch = (found.group("arch") or "").lower()
        version = (version[:found.start()] + version[found.end():]).strip()
    name = _RELEASE.sub("", m.group("name").strip()).strip()
    if not version or not re.match(r"(?:[vV])?\d", version):
        return t, "", ""
    return name, version, {"amd64": "x86_64", "arm64": "aarch64"}.get(arch, arch)


def os_name_key(text: object) -> str:
    """An OS name in comparing form: the name of :func:`split_os`, case-folded ("CentOS
    7.9" and "centos" compare equal)."""
    return split_os(str(text or ""))[0].casefold()


__all__ = ["os_name_key", "split_os"]
