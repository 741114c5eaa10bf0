"""The operating systems lab hosts pretend to run, as the files that reveal them.

Each lab host runs the machine's real Debian kernel and userland; only the release files
under ``/etc`` (and ``/usr/lib/os-release``) differ, through a private overlay mount inside
the host's own mount namespace. A value of ``None`` for a file means the file is *absent*
on that host (old systems such as CentOS 6, RHEL 6 and SLES 11 had no ``os-release``), so
discovery has to fall back to ``/etc/redhat-release`` or ``/etc/SuSE-release``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class LabOS:
    """One operating system look: its id, a human name and the files that show it."""

    key: str
    pretty: str
    os_id: str
    version: str
    files: dict[str, str | None] = field(default_factory=dict)


def _osr(name: str, os_id: str, version: str, pretty: str, like: str = "") -> str:
    lines = [f'NAME="{name}"', f'VERSION="{version}"', f'ID="{os_id}"']
    if like:
        lines.append(f'ID_LIKE="{like}"')
    lines += [f'VERSION_ID="{version.split()[0]}"', f'PRETTY_NAME="{pretty}"']
    return "\n".join(lines) + "\n"


OSES: dict[str, LabOS] = {o.key: o for o in (
    LabOS("debian12", "Debian GNU/Linux 12 (bookworm)", "debian", "12"),
    LabOS("centos6", "CentOS release 6.10 (Final)", "centos", "6.10", {
        "etc/os-release": None,
        "usr/lib/os-release": None,
        "etc/redhat-release": "CentOS release 6.10 (Final)\n",
        "etc/centos-release": "CentOS release 6.10 (Final)\n",
        "etc/system-release": "CentOS release 6.10 (Final)\n",
    }),
    LabOS("centos7", "CentOS Linux 7 (Core)", "centos", "7", {
        "etc/os-release": _osr("CentOS Linux", "centos", "7 (Core)", "CentOS Linux 7 (Core)",
                               "rhel fedora"),
        "usr/lib/os-release": None,
        "etc/redhat-release": "CentOS Linux release 7.9.2009 (Core)\n",
        "etc/centos-release": "CentOS Linux release 7.9.2009 (Core)\n",
    }),
    LabOS("rhel6", "Red Hat Enterprise Linux Server release 6.10 (Santiago)", "rhel", "6.10", {
        "etc/os-release": None,
        "usr/lib/os-release": None,
        "etc/redhat-release": "Red Hat Enterprise Linux Server release 6.10 (Santiago)\n",
    }),
    LabOS("sles11", "SUSE Linux Enterprise Server 11 SP4", "sles", "11.4", {
        "etc/os-release": None,
        "usr/lib/os-release": None,
        "etc/SuSE-release": "SUSE Linux Enterprise Server 11 (x86_64)\nVERSION = 11\n"
                            "PATCHLEVEL = 4\n",
    }),
    LabOS("kylin10", "Kylin Linux Advanced Server V10 (Sword)", "kylin", "V10", {
        "etc/os-release": _osr("Kylin Linux Advanced Server", "kylin", "V10 (Sword)",
                               "Kylin Linux Advanced Server V10 (Sword)"),
        "usr/lib/os-release": None,
        "etc/kylin-release": "Kylin Linux Advanced Server release V10 (Sword)\n",
    }),
    LabOS("uos20", "UnionTech OS Server 20", "uos", "20", {
        "etc/os-release": _osr("UnionTech OS Server 20", "uos", "20", "UnionTech OS Server 20",
                               "debian"),
        "usr/lib/os-release": None,
    }),
)}

ROTATION: tuple[str, ...] = ("centos7", "centos6", "rhel6", "kylin10", "sles11", "uos20",
                             "debian12")
"""The order in which hosts are given an OS look (host index modulo its length)."""
