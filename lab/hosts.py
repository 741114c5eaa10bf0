"""Lab hosts as processes: per-host files, the namespaces' network, start, probe and stop.

A lab host is ``ip netns exec <netns> unshare --uts --pid --mount --fork --mount-proc
--kill-child bash init.sh``: its own network namespace (a veth ``eth0`` on the lab bridge),
its own hostname, its own PID namespace (``ps`` shows only its processes; killing the
``unshare`` process kills them all) and its own mount namespace in which ``/etc`` (and for
some OS looks ``/usr/lib``) is an overlay carrying the host's release files and hostname.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import stat
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lab.keys import ensure_keypair, sshd_config
from lab.oses import OSES
from lab.state import LabError, LabHost, LabState

PG_BIN = Path("/usr/lib/postgresql/15/bin")
SYSTEM_PYTHON = "/usr/bin/python3"
LABSVC = Path(__file__).with_name("labsvc.py")
PREFIX_LEN = 16  # address prefix on the lab bridge: 10.<net>.0.0/16


def run(cmd: list[str], *, what: str, timeout: float = 60, input: str | None = None,
        check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a command; :class:`LabError` naming ``what`` if it fails or hangs."""
    try:
        cp = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=input,
                            check=False)
    except FileNotFoundError:
        raise LabError(f"{what}: {cmd[0]} is not installed") from None
    except subprocess.TimeoutExpired:
        raise LabError(f"{what}: {shlex.join(cmd)} did not finish in {timeout:.0f} s") from None
    if check and cp.returncode != 0:
        raise LabError(f"{what}: {shlex.join(cmd[:6])} failed: "
                       f"{(cp.stderr or cp.stdout).strip()[-400:]}")
    return cp


def host_dir(state: LabState, h: LabHost) -> Path:
    """The folder of one host inside the lab dir."""
    return Path(state.lab_dir) / "hosts" / h.id


def _place(upper: Path, rel: str, content: str | None) -> None:
    """Put a file (or, for ``None``, an overlay whiteout that hides it) into an upper dir."""
    target = upper / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() or target.is_symlink():
        target.unlink()
    if content is None:
        os.mknod(target, stat.S_IFCHR | 0o000, os.makedev(0, 0))
    else:
        target.write_text(content, encoding="utf-8")


def prepare_host(state: LabState, h: LabHost, authorized_keys: Path) -> str:
    """Write one host's folder (host key, sshd_config, overlays, files, init.sh); return pub."""
    d = host_dir(state, h)
    d.mkdir(parents=True, exist_ok=True)
    pub = ensure_keypair(d / "ssh_host_ed25519_key", f"root@{h.hostname}")
    (d / "sshd_config").write_text(sshd_config(h, d, authorized_keys))
    if state.mode == "netns":
        _overlays(h, d)
    for rel in h.files:
        p = d / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if not p.exists():
            seed = sum(map(ord, h.id + rel))
            data = bytes((seed + i * 7) % 251 for i in range(4096)) * 16
            p.write_bytes(data if rel.endswith(".bin") else f"{h.id} {rel}\n".encode() * 64)
    (d / "init.sh").write_text(init_script(state, h, d))
    return pub


def _overlays(h: LabHost, d: Path) -> None:
    """Fill the upper dirs of the host's /etc and /usr/lib overlays with its OS look."""
    look = OSES[h.os]
    etc_files: dict[str, str | None] = {"hostname": h.hostname + "\n"}
    lib_files: dict[str, str | None] = {}
    for rel, content in look.files.items():
        top, _, rest = rel.partition("/")
        if top == "etc":
            etc_files[rest] = content
        else:
            lib_files[rel.removeprefix("usr/lib/")] = content
    for name, files in (("etc", etc_files), ("usrlib", lib_files)):
        if not files:
            continue
        (d / f"{name}-work").mkdir(exist_ok=True)
        for rel, content in files.items():
            _place(d / f"{name}-upper", rel, content)


def init_script(state: LabState, h: LabHost, d: Path) -> str:
    """The bash script that is PID 1 of a lab host: network, overlays, sshd, services."""
    q = shlex.quote
    root = os.geteuid() == 0
    lines = ["#!/bin/bash", "set -u"]
    if state.mode == "netns":  # only ever inside the host's own UTS/mount namespaces
        lines += [
            f"hostname {q(h.hostname)}",
            "ip link set lo up",
            f"ip addr replace {h.ip}/{PREFIX_LEN} dev eth0",
            "ip link set eth0 up",
        ]
    if state.mode == "netns":
        lines.append(f"mount -t overlay lab-etc -o lowerdir=/etc,"
                     f"upperdir={q(str(d / 'etc-upper'))},workdir={q(str(d / 'etc-work'))} "
                     "/etc || exit 3")
    if state.mode == "netns" and (d / "usrlib-upper").exists():
        lines.append(f"mount -t overlay lab-usrlib -o lowerdir=/usr/lib,"
                     f"upperdir={q(str(d / 'usrlib-upper'))},workdir={q(str(d / 'usrlib-work'))}"
                     " /usr/lib || exit 3")
    if root:
        lines.append("mkdir -p /run/sshd")
    lines += [
        f"/usr/sbin/sshd -D -f {q(str(d / 'sshd_config'))} -E {q(str(d / 'sshd.log'))} &",
    ]
    py = f"{SYSTEM_PYTHON} -I -S -B {q(str(LABSVC))}"
    listen = [f"--listen {s.port}:{'http' if s.name == 'http' else 'tcp'}"
              for s in h.services if s.name in ("http", "auth", "nfs")]
    holds = [dep for dep in h.dependencies if dep.process not in ("psql", "mariadb")]
    if listen or holds:
        comm = next((s.process for s in h.services if s.name in ("http", "auth", "nfs")),
                    holds[0].process if holds else "labsvc")
        args = " ".join(listen + [f"--hold {x.target_ip}:{x.port}" for x in holds])
        lines.append(f"{py} --comm {comm} --bind {h.ip} {args} "
                     f">>{q(str(d / 'labsvc.log'))} 2>&1 &")
    if h.database and h.database.engine == "postgresql":
        pg = d / "pgdata"
        lines += [
            f"rm -f {q(str(pg / 'postmaster.pid'))}",
            f"mkdir -p {q(str(d / 'pgrun'))}"
            + (f" && chown postgres: {q(str(d / 'pgrun'))}" if root else ""),
            ("runuser -u postgres -- " if root else "") + f"{PG_BIN / 'postgres'} -D {q(str(pg))} "
            f"-c listen_addresses={h.ip} -c port={h.database.port} "
            f"-c unix_socket_directories={q(str(d / 'pgrun'))} -c shared_buffers=16MB "
            f"-c max_connections=100 -c fsync=off >>{q(str(d / 'postgres.log'))} 2>&1 &",
        ]
    if h.database and h.database.engine == "mariadb":
        my, run_d = d / "mydata", d / "myrun"
        lines += [
            f"mkdir -p {q(str(run_d))}" + (f" && chown mysql: {q(str(run_d))}" if root else ""),
            f"rm -f {q(str(run_d / 'mysqld.pid'))}",
            f"/usr/sbin/mariadbd --no-defaults --datadir={q(str(my))} "
            + ("--user=mysql " if root else "") +
            f"--bind-address={h.ip} --port={h.database.port} "
            f"--socket={q(str(run_d / 'mysqld.sock'))} --pid-file={q(str(run_d / 'mysqld.pid'))} "
            f"--skip-name-resolve --init-file={q(str(d / 'init.sql'))} "
            f"--tmpdir={q(str(d / 'mytmp'))} "
            f"--innodb-buffer-pool-size=16M --innodb-log-file-size=8M --skip-log-bin "
            f"--log-error={q(str(d / 'mysqld.err'))} &",
        ]
    for dep in h.dependencies:
        if dep.process == "psql":
            lines.append(
                f"( while :; do PGCONNECT_TIMEOUT=5 {PG_BIN / 'psql'} -X -q -h {dep.target_ip} "
                f"-p {dep.port} -U shangyun -d appdb -c 'select pg_sleep(86400)' "
                ">/dev/null 2>&1; sleep 1; done ) &")
        elif dep.process == "mariadb":
            lines.append(
                f"( while :; do /usr/bin/mariadb --no-defaults -h {dep.target_ip} "
                f"-P {dep.port} -u shangyun --connect-timeout=5 -e 'select sleep(86400)' "
                "appdb >/dev/null 2>&1; sleep 1; done ) &")
    lines += ["while :; do wait; sleep 1; done", ""]
    return "\n".join(lines)


# -- network --------------------------------------------------------------------------------
def veth_name(state: LabState, index: int) -> str:
    """The root-side veth of host number ``index`` (at most 15 characters)."""
    return f"sy{state.tag}{index}"


def host_mac(tag: str, index: int) -> str:
    """The fixed MAC of host number ``index``'s ``eth0`` (locally administered)."""
    return f"02:{tag[0:2]}:{tag[2:4]}:{tag[4]}0:{index >> 8:02x}:{index & 255:02x}"


def netns_exists(name: str) -> bool:
    """Whether the named network namespace exists."""
    return Path("/run/netns", name).exists()


def network_up(state: LabState, hosts: list[tuple[int, LabHost]]) -> None:
    """Create the bridge (once) and, for each host missing it, its netns and veth pair."""
    br = state.bridge
    cmds: list[str] = []
    if not Path("/sys/class/net", br).exists():
        cmds += [f"link add {br} type bridge", f"addr add {state.gateway}/{PREFIX_LEN} dev {br}",
                 f"link set {br} up"]
    for i, h in hosts:
        v = veth_name(state, i)
        if Path("/sys/class/net", v).exists():
            cmds.append(f"link del {v}")
        if netns_exists(h.netns):
            cmds.append(f"netns del {h.netns}")
        # a fixed MAC per host: a restarted host keeps it, so no stale ARP entry delays it
        mac = host_mac(state.tag, i)
        cmds += [f"netns add {h.netns}",
                 f"link add {v} type veth peer name eth0 address {mac} netns {h.netns}",
                 f"link set {v} master {br}", f"link set {v} up"]
    if cmds:
        run(["ip", "-batch", "-"], input="\n".join(cmds) + "\n", what=f"lab network {br}",
            timeout=120)
        flush = [f"neigh flush to {h.ip} dev {br}" for _, h in hosts]
        run(["ip", "-force", "-batch", "-"], input="\n".join(flush) + "\n",
            what=f"lab network {br}", timeout=60, check=False)


def network_down(tag: str, bridge: str) -> None:
    """Delete every netns and veth whose name carries the lab's tag, and the bridge."""
    prefix = f"sy{tag}"
    cmds = []
    if Path("/run/netns").is_dir():
        cmds += [f"netns del {n}" for n in sorted(os.listdir("/run/netns"))
                 if n.startswith(prefix + "-")]
    if Path("/sys/class/net").is_dir():
        cmds += [f"link del {n}" for n in sorted(os.listdir("/sys/class/net"))
                 if n.startswith(prefix) and n != bridge]
    if Path("/sys/class/net", bridge).exists():
        cmds.append(f"link del {bridge}")
    if cmds:
        run(["ip", "-force", "-batch", "-"], input="\n".join(cmds) + "\n",
            what=f"lab network {bridge}", timeout=120, check=False)


# -- processes ------------------------------------------------------------------------------
def pid_alive(pid: int | None) -> bool:
    """Whether ``pid`` is a live (not zombie) process."""
    if not pid:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def host_alive(h: LabHost, mode: str = "netns") -> bool:
    """Whether the host's holder (``unshare``, or bash in loopback mode) still runs."""
    if not pid_alive(h.pid) or (mode == "netns" and not netns_exists(h.netns)):
        return False
    try:
        cmd = Path(f"/proc/{h.pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    holder = b"unshare" if mode == "netns" else b"bash"
    return holder in cmd[0] and any(a.endswith(b"init.sh") for a in cmd)


def start_host(state: LabState, h: LabHost) -> int:
    """Start the host's PID-1 holder in its netns; return the pid of ``unshare``."""
    d = host_dir(state, h)
    log = open(d / "init.log", "ab")  # noqa: SIM115 - handed to the child
    cmd = ["/bin/bash", str(d / "init.sh")]
    if state.mode == "netns":
        cmd = ["ip", "netns", "exec", h.netns, "unshare", "--uts", "--pid", "--mount", "--fork",
               "--mount-proc", "--kill-child=SIGKILL", *cmd]
    try:
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                             start_new_session=True, close_fds=True)
    finally:
        log.close()
    p.returncode = 0  # detached on purpose: `lab down` stops it by pid
    return p.pid


def stop_pids(pids: list[int], timeout: float = 15.0) -> list[int]:
    """SIGKILL each pid (its PID namespace dies with it); return those still alive after."""
    for pid in pids:
        if pid_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    left = [p for p in pids if pid_alive(p)]
    while left and time.monotonic() < deadline:
        for p in left:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(p, os.WNOHANG)
        time.sleep(0.05)
        left = [p for p in left if pid_alive(p)]
    return left


def stop_groups(pids: list[int], timeout: float = 15.0) -> list[int]:
    """Loopback mode: SIGKILL each host's process group; return leaders still alive after."""
    for pid in pids:
        if pid_alive(pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
    return stop_pids(pids, timeout)


def netns_pids(names: list[str]) -> list[int]:
    """The pids of every process in the named network namespaces (one pass over /proc)."""
    inodes = set()
    for n in names:
        with contextlib.suppress(OSError):
            st = os.stat(f"/run/netns/{n}")
            inodes.add((st.st_dev, st.st_ino))
    if not inodes:
        return []
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                st = os.stat(f"/proc/{entry}/ns/net")
                if (st.st_dev, st.st_ino) in inodes:
                    out.append(int(entry))
    return out


def remove_tree(path: Path) -> None:
    """Delete a folder tree (whiteouts and other users' files too), subfolders in parallel."""
    if not path.is_dir():
        return
    subdirs = [p for p in path.iterdir() if p.is_dir() and not p.is_symlink()]
    if len(subdirs) > 8:
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(shutil.rmtree, subdirs))
    shutil.rmtree(path)
