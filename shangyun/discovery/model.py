"""Discovery's plain data: the targets, the options, one host's result, what was applied,
and what the SSH port (:class:`~shangyun.discovery.ports.ScriptRunner`) takes and returns.

Shared by the engine (:mod:`shangyun.discovery.engine`), the merge into the estate
(:mod:`shangyun.discovery.merging`) and the Prefect flow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shangyun.discovery.dependencies import DependencyMap

UNASSIGNED_BUREAU = "unassigned"
OK = "ok"


@dataclass(frozen=True)
class Defaults:
    """SSH settings used where the estate (bureau or host) does not say otherwise."""

    user: str = "root"
    jump: str = ""
    port: int = 22


@dataclass(frozen=True)
class Target:
    """One host to discover: estate id (or a provisional one), address and how to log in."""

    host_id: str
    address: str
    port: int = 22
    user: str = "root"
    jump: str = ""
    bureau: str = ""
    system_id: str = ""
    hostname: str = ""
    in_estate: bool = True


@dataclass
class HostResult:
    """What discovering one host gave: ``status`` (``ok``, ``unknown-host-key``,
    ``changed-host-key``, ``auth-failed``, ``unreachable``, ``timeout``, ``error``), the
    reason when not ok, the parsed facts, time spent and connection attempts."""

    target: Target
    status: str
    reason: str = ""
    facts: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    attempts: int = 0
    at: str = ""

    @property
    def ok(self) -> bool:
        """True when the host answered and its facts were parsed."""
        return self.status == OK


@dataclass
class Applied:
    """What :func:`shangyun.discovery.engine.apply_results` changed in the estate."""

    #: estate hosts whose facts were merged (each once), and hosts new to the estate
    hosts_updated: int = 0
    hosts_added: int = 0
    disks: int = 0
    databases: int = 0
    dependencies: int = 0
    conflicts: int = 0
    #: hosts tried but not reached (not ``ok``): their status and time recorded, nothing else
    hosts_not_reached: int = 0
    matched: dict[str, str] = field(default_factory=dict)
    depmap: DependencyMap | None = None
    #: what the merge says a person should know ("os_version '7.9' and '7.9.2009' agree;
    #: kept '7.9.2009', the more precise"), one line each
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SSHSettings:
    """How to reach hosts: the private key, the known_hosts file and the timeouts (seconds;
    ``command_timeout``: the whole gather script on one host, after which the host ends
    ``timeout`` with the facts of the sections it finished)."""

    key_file: str
    known_hosts: str
    connect_timeout: float = 10.0
    banner_timeout: float = 10.0
    auth_timeout: float = 10.0
    command_timeout: float = 120.0
    retries: int = 2
    retry_delay: float = 0.5


def host_port(host: str, port: int) -> str:
    """``host:port``, or ``[host]:port`` for an IPv6 address (``::1:22`` reads as one)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass(frozen=True)
class SSHTarget:
    """One host to reach: its address, port, login user, optional jump host and labels."""

    host: str
    port: int = 22
    user: str = "root"
    jump: str = ""
    name: str = ""
    bureau: str = ""

    @property
    def label(self) -> str:
        """How messages name this host: ``name (host:port)`` or ``host:port``
        (``[v6]:port`` for an IPv6 address)."""
        addr = host_port(self.host, self.port)
        return f"{self.name} ({addr})" if self.name and self.name != self.host else addr


@dataclass
class ScriptResult:
    """What one script run returned."""

    stdout: str
    exit_status: int
    seconds: float
    attempts: int = 1
    stderr: str = ""


@dataclass(frozen=True)
class SSHOptions:
    """Key, known_hosts, login defaults, timeouts and limits of one discovery run
    (``command_timeout``: seconds the gather script may run on one host; ``shangyun
    discover --command-timeout``)."""

    key_file: str
    known_hosts: str
    defaults: Defaults = Defaults()
    concurrency: int = 50
    per_bureau: int | None = None
    connect_timeout: float = 10.0
    command_timeout: float = 120.0
    retries: int = 2
    sample_seconds: float = 1.0

    def settings(self) -> SSHSettings:
        """The SSH connector's settings (one timeout for connect, banner and auth)."""
        return SSHSettings(self.key_file, self.known_hosts,
                           connect_timeout=self.connect_timeout,
                           banner_timeout=self.connect_timeout,
                           auth_timeout=self.connect_timeout,
                           command_timeout=self.command_timeout, retries=self.retries)


__all__ = ["OK", "UNASSIGNED_BUREAU", "Applied", "Defaults", "HostResult", "SSHOptions",
           "SSHSettings", "SSHTarget", "ScriptResult", "Target", "host_port"]
