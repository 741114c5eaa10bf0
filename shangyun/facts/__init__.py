"""Facts: typed pieces of discovered truth about a host, parsed from command output.

A fact (pyinfra style) is a small class with ``command()`` — the POSIX shell snippet that
prints what it needs, falling back to older tools on legacy systems — and
``process(lines)`` — a pure parser of that output. Snippets that can fall back print a first
line ``#fmt <name>`` saying which source answered, so the parser knows the format.

The discovery engine runs every fact of :data:`ALL_FACTS` in one shell script over one SSH
connection (see :mod:`shangyun.discovery.script`).
"""

from __future__ import annotations

from shangyun.facts.base import Fact, split_format
from shangyun.facts.hardware import Cpu, Firmware, Memory, Virtualisation
from shangyun.facts.network import Interfaces, Session, TcpConnections, UdpSockets
from shangyun.facts.schedule import ScheduledJobs, Timers
from shangyun.facts.services import DatabaseBinaries, Processes, Services
from shangyun.facts.storage import BlockDevices, Filesystems
from shangyun.facts.system import Hostname, Kernel, OsRelease
from shangyun.facts.utilisation import Utilisation

ALL_FACTS: tuple[type[Fact], ...] = (
    Hostname, OsRelease, Kernel, Cpu, Memory, Firmware, Virtualisation, BlockDevices,
    Filesystems, Interfaces, Session, TcpConnections, UdpSockets, Services, Processes,
    DatabaseBinaries, ScheduledJobs, Timers, Utilisation,
)
"""Every fact gathered by discovery, in script order (utilisation last: it sleeps)."""

FACTS_BY_NAME: dict[str, type[Fact]] = {f.name: f for f in ALL_FACTS}

__all__ = [
    "ALL_FACTS", "FACTS_BY_NAME", "BlockDevices", "Cpu", "DatabaseBinaries", "Fact",
    "Filesystems", "Firmware", "Hostname", "Interfaces", "Kernel", "Memory", "OsRelease",
    "Processes", "ScheduledJobs", "Services", "Session", "TcpConnections", "Timers",
    "UdpSockets", "Utilisation", "Virtualisation",
    "split_format",
]
