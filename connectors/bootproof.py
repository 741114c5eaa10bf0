"""Proof that a migrated guest booted: its console, its SSH host key, its name, its app.

:func:`prove_boot` watches the guest's serial console (a file the hypervisor writes) until
the login prompt, then logs in over SSH checking the host key against the one the guest
had **before** the move (paramiko with that key alone and a reject policy: a guest that
answers with any other key — a re-installed or wrong machine — fails), asks its hostname,
and fetches its app over an SSH tunnel to the guest's own address (``direct-tcpip``), so
the app is proven to listen on the guest's network, not only on loopback.

A test launch runs on an isolated network the orchestrator cannot route to. ``via_netns``
names a network namespace on that network (the lab's probe namespace; in a cloud, a jump
VM plays that part): the SSH connection is carried by ``ip netns exec <ns> socat``.

A boot that fails shows it on the console: "Gave up waiting for root", an ``(initramfs)``
shell prompt, a kernel panic. :func:`prove_boot` stops at the first of those and raises
:class:`BootFailed` with the console excerpt, without waiting for its timeout.
"""

from __future__ import annotations

import base64
import hashlib
import re
import shlex
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import paramiko

from shangyun.errors import ConnectorError

LOGIN = re.compile(r"^\S+ login: ?$", re.M)
FAILURES = (
    ("Gave up waiting for root", "the kernel did not find its root file system"),
    ("(initramfs)", "the initramfs dropped to a shell"),
    ("Kernel panic", "kernel panic"),
    ("ALERT!", "the initramfs cannot find the root device"),
    ("You are in emergency mode", "systemd emergency mode"),
)
EXCERPT_LINES = 25
#: How far a boot has come, by what its console shows (percent of the proof, for a progress
#: bar): kernel, initramfs, systemd, its targets; the login prompt, SSH and the app follow.
MILESTONES = (("Linux version", 10.0), ("Run /init", 20.0), ("Loading, please wait", 20.0),
              ("Welcome to", 35.0), ("Reached target", 50.0))
LOGIN_PCT, SSH_PCT = 75.0, 90.0
#: Told the percent of the proof reached (:data:`MILESTONES`, then login, SSH, the app).
ProofProgress = Callable[[float], None]


class BootFailed(ConnectorError):
    """The guest did not boot to a working system; ``evidence`` says how far it came."""

    def __init__(self, message: str, evidence: dict[str, Any]) -> None:
        super().__init__(message)
        self.evidence = evidence


@dataclass
class BootTarget:
    """What to prove about one guest and how to reach it."""

    name: str
    console: str                   # the serial console file
    ip: str
    hostname: str                  # the name it must answer with
    host_key: str                  # its original public key line ("ssh-ed25519 AAAA...")
    key_file: str                  # our private key (root's authorized key in the guest)
    user: str = "root"
    port: int = 22
    app_ports: tuple[int, ...] = ()
    app_path: str = "/"
    via_netns: str = ""            # reach the guest from this network namespace
    console_timeout: float = 300.0
    ssh_timeout: float = 120.0


@dataclass
class BootEvidence:
    """What the boot proof saw (journaled, shown in the runbook and the Prefect artifact)."""

    name: str
    console_excerpt: str
    login_prompt_seconds: float
    ssh_seconds: float
    total_seconds: float
    host_key_fingerprint: str
    hostname: str
    app: list[dict[str, Any]] = field(default_factory=list)
    via: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the journal."""
        return asdict(self)


def fingerprint(pub_line: str) -> str:
    """OpenSSH's ``SHA256:`` fingerprint of a public key line."""
    blob = base64.b64decode(pub_line.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def excerpt(text: str, lines: int = EXCERPT_LINES) -> str:
    """The console's last ``lines`` non-empty lines (control characters dropped)."""
    clean = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|[\x00-\x08\x0b-\x1f\x7f]", "",
                   text.replace("\r\n", "\n"))
    kept = [ln.rstrip() for ln in clean.splitlines() if ln.strip()]
    return "\n".join(kept[-lines:])


def milestone(text: str) -> float:
    """The percent of the proof a console ``text`` shows reached (:data:`MILESTONES`)."""
    return max((pct for needle, pct in MILESTONES if needle in text), default=0.0)


def watch_console(path: Path, timeout: float, *, since: int = 0,
                  progress: ProofProgress | None = None) -> tuple[str, float]:
    """Wait for the login prompt on the console file; (console text, seconds waited).

    Raises :class:`BootFailed` as soon as a failure line appears, or at the timeout.
    ``since`` skips bytes written before (a console file of an earlier boot); ``progress``
    is told each new :func:`milestone` the console shows.
    """
    t0 = time.monotonic()
    deadline = t0 + timeout
    text = ""
    shown = 0.0
    while True:
        if path.exists():
            if path.stat().st_size < since:  # the hypervisor truncated it at start
                since = 0
            with open(path, "rb") as fh:
                fh.seek(since)
                text = fh.read().decode("utf-8", errors="replace")
            reached = milestone(text)
            if progress is not None and reached > shown:
                shown = reached
                progress(reached)
            if LOGIN.search(text.replace("\r", "")):
                return text, time.monotonic() - t0
            for needle, why in FAILURES:
                if needle in text:
                    raise BootFailed(f"{path.name}: boot failed: {why} ({needle!r} on the "
                                     "console)", {"console_excerpt": excerpt(text),
                                                  "failure": why,
                                                  "seconds": round(time.monotonic() - t0, 1)})
        if time.monotonic() >= deadline:
            raise BootFailed(f"{path.name}: no login prompt on the console in {timeout:.0f} s",
                             {"console_excerpt": excerpt(text), "failure": "timeout",
                              "seconds": round(timeout, 1)})
        time.sleep(0.5)


KEY_PREFERENCE = ("ssh-ed25519", "ecdsa-sha2-nistp256", "rsa-sha2-512", "ssh-rsa")


def original_host_key(known_hosts: str, *names: str) -> str:
    """The host's key line as the operator's ``known_hosts`` has it (looked up by each of
    ``names``: address, hostname), ed25519 first. :class:`BootFailed` if there is none:
    without the original key there is nothing to prove the guest against."""
    try:
        keys = paramiko.HostKeys(known_hosts)
    except OSError as exc:
        raise BootFailed(f"known_hosts {known_hosts}: {exc}", {"failure": "no host key"}) \
            from exc
    for name in names:
        if not name:
            continue
        found = keys.lookup(name)
        if found:
            for kind in KEY_PREFERENCE:
                if kind in found:
                    return f"{kind} {found[kind].get_base64()}"
            kind = next(iter(found.keys()))
            return f"{kind} {found[kind].get_base64()}"
    raise BootFailed(f"known_hosts {known_hosts} has no key for {', '.join(n for n in names if n)}"
                     "; the boot proof needs the guest's original host key",
                     {"failure": "no host key"})


def _trust_only(client: paramiko.SSHClient, host_key: str, ip: str, port: int) -> None:
    """Make the original host key the only one ``client`` accepts for ``ip:port``."""
    kind, b64 = host_key.split()[:2]
    key = paramiko.PKey.from_type_string(kind, base64.b64decode(b64))
    client.get_host_keys().add(ip if port == 22 else f"[{ip}]:{port}", kind, key)


def _connect(t: BootTarget, deadline: float) -> paramiko.SSHClient:
    """Log in, retrying refused/unreachable connections until ``deadline`` (the guest's
    sshd may start a little after the login prompt). A wrong host key is never retried."""
    last: Exception | None = None
    while time.monotonic() < deadline:
        client = paramiko.SSHClient()
        _trust_only(client, t.host_key, t.ip, t.port)  # no system or user known_hosts
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        sock = None
        if t.via_netns:
            sock = paramiko.ProxyCommand(shlex.join(["ip", "netns", "exec", t.via_netns,
                                                     "socat", "-", f"TCP:{t.ip}:{t.port}"]))
        try:
            client.connect(t.ip, t.port, username=t.user, key_filename=t.key_file, sock=sock,
                           timeout=10, banner_timeout=20, auth_timeout=20,
                           look_for_keys=False, allow_agent=False)
            return client
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise BootFailed(f"{t.name}: {t.ip} answers with host key "
                             f"{fingerprint(exc.key.get_name() + ' ' + exc.key.get_base64())}"
                             f", not its original {fingerprint(t.host_key)}",
                             {"failure": "host key changed"}) from exc
        except paramiko.SSHException as exc:
            client.close()
            if "not found in known_hosts" in str(exc):
                raise BootFailed(f"{t.name}: {t.ip} offers no key of the original's type "
                                 f"({t.host_key.split()[0]})",
                                 {"failure": "host key changed"}) from exc
            last = exc
        except OSError as exc:
            client.close()
            last = exc
        time.sleep(2)
    raise BootFailed(f"{t.name}: no SSH login at {t.ip}:{t.port}"
                     + (f" (via netns {t.via_netns})" if t.via_netns else "") + f": {last}",
                     {"failure": "ssh"})


def _run(client: paramiko.SSHClient, cmd: str) -> str:
    _, out, _ = client.exec_command(cmd, timeout=30)
    return str(out.read().decode(errors="replace")).strip()


def _http_via(client: paramiko.SSHClient, ip: str, port: int, path: str) -> dict[str, Any]:
    """GET ``path`` from ``ip:port`` through the SSH connection (a direct-tcpip channel)."""
    transport = client.get_transport()
    if transport is None:
        raise BootFailed("ssh transport closed", {"failure": "ssh"})
    t0 = time.monotonic()
    try:
        chan = transport.open_channel("direct-tcpip", (ip, port), ("127.0.0.1", 0), timeout=15)
    except (paramiko.ChannelException, paramiko.SSHException) as exc:
        return {"port": port, "ok": False, "error": f"connection refused: {exc}"}
    chan.settimeout(15)
    try:
        chan.sendall(f"GET {path} HTTP/1.0\r\nHost: {ip}\r\n\r\n".encode())
        data = b""
        while len(data) < 65536:
            chunk = chan.recv(4096)
            if not chunk:
                break
            data += chunk
    finally:
        chan.close()
    head, _, body = data.decode(errors="replace").partition("\r\n\r\n")
    status = head.split(" ", 2)[1] if head.startswith("HTTP/") and " " in head else "?"
    return {"port": port, "ok": status.startswith("2"), "status": status,
            "body": body[:200], "seconds": round(time.monotonic() - t0, 3)}


def prove_boot(t: BootTarget, *, started: float | None = None, console_since: int = 0,
               progress: ProofProgress | None = None) -> BootEvidence:
    """Console → SSH with the original host key → hostname → app. :class:`BootFailed` if any
    part fails (its ``evidence`` holds the console excerpt). ``progress`` is told the
    percent reached (console milestones, login prompt, SSH, app: 100)."""
    def told(pct: float) -> None:
        if progress is not None:
            progress(pct)

    t0 = started if started is not None else time.monotonic()
    text, _ = watch_console(Path(t.console), t.console_timeout, since=console_since,
                            progress=progress)
    login_at = time.monotonic() - t0
    told(LOGIN_PCT)
    client = _connect(t, time.monotonic() + t.ssh_timeout)
    try:
        ssh_at = time.monotonic() - t0
        told(SSH_PCT)
        transport = client.get_transport()
        served = transport.get_remote_server_key() if transport else None
        got_fp = fingerprint(f"{served.get_name()} {served.get_base64()}") if served else ""
        hostname = _run(client, "hostname")
        if hostname != t.hostname:
            raise BootFailed(f"{t.name}: the guest calls itself {hostname!r}, not "
                             f"{t.hostname!r}", {"failure": "hostname",
                                                 "console_excerpt": excerpt(text)})
        apps = [_http_via(client, t.ip, p, t.app_path) for p in t.app_ports]
    finally:
        client.close()
    evidence = BootEvidence(
        name=t.name, console_excerpt=excerpt(text), login_prompt_seconds=round(login_at, 1),
        ssh_seconds=round(ssh_at, 1), total_seconds=round(time.monotonic() - t0, 1),
        host_key_fingerprint=got_fp, hostname=hostname, app=apps,
        via=f"netns {t.via_netns}" if t.via_netns else "direct")
    bad = [a for a in apps if not a["ok"]]
    if bad:
        raise BootFailed(f"{t.name}: app on port(s) {', '.join(str(a['port']) for a in bad)}"
                         " does not answer", {"failure": "app", **evidence.to_dict()})
    told(100.0)
    return evidence


__all__ = ["BootEvidence", "BootFailed", "BootTarget", "excerpt", "fingerprint", "milestone",
           "original_host_key", "prove_boot", "watch_console"]
