"""A small LAN of network namespaces for discovery tests: a switch namespace holding a
bridge, one namespace per host (its own IPv4 and IPv6 address on a veth to the bridge),
each host's sshd in its own mount and UTS namespace (so it has its own host name and its
own ``/etc`` files bind-mounted over the real ones), reached from 127.0.0.1 through socat.

Everything is started by the test and stopped (by pid) at the end; nothing is added to the
namespaces of the machine."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.discovery.sshd import SSHD, SshdFarm, _wait_port, free_port, keygen


@dataclass
class LanHost:
    """One host of the LAN: its namespace pid, addresses and the local port to its sshd."""

    name: str
    pid: int
    ip: str
    ip6: str
    port: int = 0
    host_pub: str = ""


@dataclass
class Lan:
    """The LAN's processes; :meth:`stop` ends them all, by pid."""

    farm: SshdFarm
    root: Path
    prefix: str
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    hosts: dict[str, LanHost] = field(default_factory=dict)
    switch: int = 0

    def netns(self) -> int:
        """A new network namespace (held by a ``sleep`` we started); its pid."""
        p = subprocess.Popen(["unshare", "-n", "sleep", "900"])
        self.procs.append(p)
        deadline = time.monotonic() + 5
        while os.readlink(f"/proc/{p.pid}/ns/net") == os.readlink("/proc/self/ns/net"):
            assert time.monotonic() < deadline, "unshare did not make a network namespace"
            time.sleep(0.02)
        subprocess.run(in_ns(p.pid, "ip", "link", "set", "lo", "up"), check=True)
        return p.pid

    def start_switch(self) -> None:
        """The bridge every host's veth joins."""
        self.switch = self.netns()
        run = subprocess.run
        run(in_ns(self.switch, "ip", "link", "add", "br0", "type", "bridge"), check=True)
        run(in_ns(self.switch, "ip", "link", "set", "br0", "up"), check=True)

    def add_host(self, name: str, last: int) -> LanHost:
        """A host at ``{prefix}.{last}`` and ``fd00:{prefix-ish}::{last}`` on the bridge."""
        pid = self.netns()
        run = subprocess.run
        ip, ip6 = f"{self.prefix}.{last}", f"fd00:5959::{last}"
        veth = f"v{name[:6]}{last}"
        run(in_ns(pid, "ip", "link", "add", "eth0", "type", "veth", "peer", "name", veth,
                  "netns", str(self.switch)), check=True)
        run(in_ns(pid, "ip", "addr", "add", f"{ip}/24", "dev", "eth0"), check=True)
        run(in_ns(pid, "ip", "-6", "addr", "add", f"{ip6}/64", "dev", "eth0", "nodad"),
            check=True)
        run(in_ns(pid, "ip", "link", "set", "eth0", "up"), check=True)
        run(in_ns(self.switch, "ip", "link", "set", veth, "master", "br0"), check=True)
        run(in_ns(self.switch, "ip", "link", "set", veth, "up"), check=True)
        h = LanHost(name, pid, ip, ip6)
        self.hosts[name] = h
        return h

    def python(self, host: LanHost, code: str, *args: str) -> None:
        """Run ``code`` with python in ``host``'s namespace; waits for it to print ready."""
        p = subprocess.Popen(in_ns(host.pid, sys.executable, "-c", code, *args),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.procs.append(p)
        assert p.stdout is not None
        line = p.stdout.readline().strip()
        if line != b"ready":
            err = p.stderr.read(2000) if p.stderr and p.poll() is not None else b""
            raise AssertionError(f"{host.name}: {code[:60]!r} {args}: {line!r} {err!r}")

    def start_sshd(self, host: LanHost, files: dict[str, str]) -> None:
        """``host``'s sshd on port 22 of its address, in its own mount and UTS namespace
        where each path of ``files`` (``/etc/crontab``, ``/etc/cron.d/x``,
        ``/var/spool/cron/…``) holds the text given (an overlay on ``/etc`` or
        ``/var/<dir>``: the machine's own files stay as they are)."""
        folder = self.root / f"sshd-{host.name}"
        folder.mkdir()
        host.host_pub = keygen(folder / "host_ed25519")
        (folder / "sshd_config").write_text("\n".join([
            "Port 22", f"ListenAddress {host.ip}", f"HostKey {folder / 'host_ed25519'}",
            f"PidFile {folder / 'sshd.pid'}",
            f"AuthorizedKeysFile {self.farm.root / 'authorized_keys'}",
            "StrictModes no", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password", "UsePAM no", "LogLevel ERROR", ""]))
        mounts = [f"hostname {host.name}"]
        tops: set[str] = set()
        for path, text in files.items():
            top = "/" + "/".join(Path(path).parts[1:3 if path.startswith("/var/") else 2])
            local = folder / "upper" / top.strip("/").replace("/", "_") / \
                Path(path).relative_to(top)
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_text(text)
            tops.add(top)
        for top in sorted(tops):  # an overlay on the real folder: the files added on top
            upper = folder / "upper" / top.strip("/").replace("/", "_")
            work = folder / "work" / top.strip("/").replace("/", "_")
            work.mkdir(parents=True)
            mounts.append(f"mount -t overlay overlay -o lowerdir={top},upperdir={upper},"
                          f"workdir={work} {top}")
        script = " && ".join(mounts) + ' && exec "$@"'
        cmd = in_ns(host.pid, "unshare", "-m", "-u", "--propagation", "private", "sh", "-c",
                    script, "sh", SSHD, "-D", "-e", "-f", str(folder / "sshd_config"))
        self.procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                           stderr=subprocess.DEVNULL))
        host.port = free_port()
        proxy = subprocess.Popen(
            ["socat", f"TCP-LISTEN:{host.port},bind=127.0.0.1,reuseaddr,fork",
             f"EXEC:nsenter -t {host.pid} -n socat STDIO TCP\\:{host.ip}\\:22"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(proxy)
        _wait_port("127.0.0.1", host.port, proxy)
        deadline = time.monotonic() + 10
        while subprocess.run(in_ns(host.pid, "sh", "-c", f"ss -tlnH | grep -q {host.ip}:22"),
                             check=False).returncode:
            assert time.monotonic() < deadline, f"sshd of {host.name} did not start"
            time.sleep(0.05)

    def known_hosts(self) -> Path:
        """A known_hosts file for every host's local sshd port."""
        path = self.root / "known_hosts"
        path.write_text("".join(f"[127.0.0.1]:{h.port} {h.host_pub}\n"
                                for h in self.hosts.values() if h.port))
        return path

    def stop(self) -> None:
        """End every process started here (by pid), then remove the folder."""
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)
        self.farm.stop()


def in_ns(pid: int, *cmd: str) -> list[str]:
    """``cmd`` run in the network namespace of ``pid``."""
    return ["nsenter", "-t", str(pid), "-n", *cmd]


def quoted(*words: str) -> str:
    """A shell command line of ``words``."""
    return " ".join(shlex.quote(w) for w in words)
