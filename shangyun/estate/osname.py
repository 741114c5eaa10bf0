"""An operating system written in one cell ("CentOS 7.9", "Windows Server 2012 R2",
"麒麟V10", "RHEL7.6") as the estate keeps it: the name in ``hosts.os``, the version in
``hosts.os_version`` — as discovery and the sample ledgers write them, so the assessment's
support matrix reads a host the same whichever way its ledger wrote the OS.
"""

from __future__ import annotations

import re
import unicodedata
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


#: Windows names written short or run together (win2012, WindowsServer2016, Win Server)
_WINDOWS = re.compile(r"^(?:microsoft\s*)?(?:win|windows)\s*(?:server|svr|srv)?$", re.I)
#: Windows Server releases (a version that is a year is a server's: Windows 2012)
_SERVER_YEAR = re.compile(r"^(?:2003|2008|2012|2016|2019|2022|2025)\b")
#: R2 and SP1 written onto the version (2008R2, 2008R2SP1): split off by a space
_VERSION_WORD = re.compile(r"(?<=\d)(?=r2)|(?<=[0-9a-z])(?=sp\d)", re.I)


def tidy_os(name: str, version: str) -> tuple[str, str]:
    """An OS name and version as people write them in full: ``win``/``Win``/
    ``WindowsServer``/``Windows`` with a server year ("2012", "2008R2") → "Windows
    Server" and "2012" / "2008 R2"; ``win``/``windows`` with another version ("10", "7")
    → "Windows"; R2 and SP written onto the version are set apart ("2008R2SP1" → "2008
    R2 SP1"). Other names and versions are returned as they are."""
    version = _VERSION_WORD.sub(" ", version).replace("r2", "R2") if version else version
    if version:
        version = re.sub(r"\bsp(?=\d)", "SP", version)
    if _WINDOWS.match(name.strip()):
        name = "Windows Server" if (_SERVER_YEAR.match(version) or re.search(
            r"server|svr|srv", name, re.I)) else "Windows"
    return name, version


def os_name_key(text: object) -> str:
    """An OS name in comparing form: the name of :func:`split_os`, case-folded ("CentOS
    7.9" and "centos" compare equal)."""
    return split_os(str(text or ""))[0].casefold()


#: words that say nothing about which OS it is ("CentOS Linux" is CentOS)
_NOISE = re.compile(r"gnu/linux|linux|gnu|server|enterprise|edition|microsoft|release|"
                    r"操作系统|系统|高级服务器版|服务器版|[\s._\-/()（）®™]+", re.I)
#: a family's other names, after :data:`_NOISE` is dropped
_FAMILY = {"redhat": "rhel", "rhel": "rhel", "redhatenterprise": "rhel", "rhes": "rhel",
           "红帽": "rhel", "sles": "suse", "suse": "suse", "opensuse": "suse",
           "银河麒麟": "kylin", "麒麟": "kylin", "kylin": "kylin", "kylinadvanced": "kylin",
           "中标麒麟": "neokylin", "neokylin": "neokylin", "统信": "uos", "统信uos": "uos",
           "uos": "uos", "uniontechos": "uos", "oracle": "oracle", "ol": "oracle",
           "win": "windows", "windows": "windows", "欧拉": "openeuler",
           "openeuler": "openeuler", "deepin": "deepin", "深度": "deepin"}


def os_family(name: object) -> str:
    """The family an OS name names, in comparing form: "CentOS Linux", "centos" and
    "CentOS" → "centos"; "Red Hat Enterprise Linux Server" and "RHEL" → "rhel";
    "Debian GNU/Linux" → "debian"; "Microsoft Windows Server" → "windows". A name that is
    only noise ("Linux") keeps its folded text ("linux"): it names no family."""
    text = unicodedata.normalize("NFKC", str(name or "")).casefold().strip()
    key = _NOISE.sub("", text)
    if not key:
        return re.sub(r"\s+", "", text)
    return _FAMILY.get(key, key)


def version_parts(version: object) -> tuple[str, ...]:
    """A version in comparing form: its numbers and words, without a leading V, brackets
    or separators: "7.9.2009 (Core)" → ("7", "9", "2009"); "V10 SP1" → ("10", "sp1");
    "2012 R2" → ("2012", "r2"); "18.04.6 LTS" → ("18", "04", "6", "lts")."""
    text = unicodedata.normalize("NFKC", str(version or "")).casefold()
    text = re.sub(r"[(（][^)）]*[)）]?", " ", text)
    parts = [p for p in re.split(r"[\s._\-/,]+", text) if p]
    if parts and re.fullmatch(r"v\d+", parts[0]):
        parts[0] = parts[0][1:]
    return tuple(p.lstrip("0") or "0" if p.isdigit() else p for p in parts)


def versions_agree(a: object, b: object) -> bool:
    """``True`` when one version is the other written less precisely ("7.9" and
    "7.9.2009", "7" and "7.9", "V10" and "V10 SP1") or either is empty; "7.9" and "7.10",
    "7" and "6.10" disagree."""
    pa, pb = version_parts(a), version_parts(b)
    n = min(len(pa), len(pb))
    return pa[:n] == pb[:n]


def more_precise_version(a: str, b: str) -> str:
    """Of two agreeing versions (:func:`versions_agree`), the one that says more (``a``
    when they say as much)."""
    return b if len(version_parts(b)) > len(version_parts(a)) else a


def os_agrees(name_a: object, version_a: object, name_b: object, version_b: object) -> bool:
    """``True`` when two sources describe the same OS: the same family (:func:`os_family`)
    and versions that agree (:func:`versions_agree`); a name with the version in it
    ("CentOS 7.9", an older import) is split first."""
    (na, va, _), (nb, vb, _) = split_os(str(name_a or "")), split_os(str(name_b or ""))
    va, vb = str(version_a or "") or va, str(version_b or "") or vb
    return os_family(na) == os_family(nb) and versions_agree(va, vb)


__all__ = ["more_precise_version", "os_agrees", "os_family", "os_name_key", "split_os",
           "tidy_os", "version_parts", "versions_agree"]
