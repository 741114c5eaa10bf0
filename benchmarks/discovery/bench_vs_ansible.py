"""Discovery vs ``ansible -m setup``, side by side in one run, on plain sshd hosts.

    .venv/bin/python benchmarks/discovery/bench_vs_ansible.py --hosts 30 --rounds 3 \\
        [--before DIR] [--concurrency N] [--shared-home] [--ansible /tmp/inv-ansible/bin/ansible]

Needs root. Starts ``--hosts`` network namespaces (``sybench<N>``, veth pairs on one bridge
``sybenchbr``, addresses 10.231.0.0/16), each running one plain ``sshd`` (its own host key,
key-only root login; no databases, no lab) in its own PID namespace with its own ``/proc``
(as on a real host, ``ps`` and ``ss -p`` there see that host's processes only, not every
other host's sshd sessions: without it their cost grows with the number of hosts) and its
own stock root home bind-mounted on ``/root`` (``--shared-home``: this machine's own
``/root``, whose ``.bashrc`` bash runs for every SSH command), then
runs each configuration in turn, round after round (A B A B …), and prints every run,
the medians and the load average:

* ``shangyun``: ``run_discovery`` of this checkout (SSH, parse, dependency map, merge and
  atomic save of the estate, facts JSON), 1 s utilisation sample, concurrency = hosts;
* ``before`` (with ``--before DIR``): the same from another checkout (an export of the
  commit before a change), to measure the change itself;
* ``ansible``: ``ansible all -m setup`` with ansible-core (``--ansible``: its executable, a
  separate venv, not a project dependency), forks = hosts (or ``--concurrency``, which sets
  shangyun's concurrency too), pipelining on,
  ``interpreter_python`` set, ``host_key_checking = True`` against the same known_hosts.

Each measurement runs in its own process (client CPU = that process tree's; hosts' CPU =
what every host's sshd, its sessions and their commands used during the measurement). Every
namespace, veth, bridge and sshd it started is removed at the end, also on failure.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TAG = "sybench"
BRIDGE = f"{TAG}br"
SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


@dataclass
class Farm:
    """The started hosts: addresses, sshd processes, and the client's key and known_hosts."""

    root: Path
    addresses: list[str]
    procs: list[subprocess.Popen[bytes]]
    client_key: Path
    known_hosts: Path


def _ip_batch(cmds: list[str], check: bool = True, netns: str = "") -> None:
    subprocess.run(["ip", *(["-n", netns] if netns else []), "-force", "-batch", "-"],
                   input="\n".join(cmds) + "\n", text=True, check=check, capture_output=True)


def _address(i: int) -> str:
    return f"10.231.{i // 250}.{i % 250 + 1}"


def _keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", str(path)],
                   check=True)
    return Path(f"{path}.pub").read_text().strip()


#: a stock root account's dot-files (Debian's base-files; /etc/skel elsewhere)
STOCK_HOME = [Path("/usr/share/base-files/dot.bashrc"), Path("/usr/share/base-files/dot.profile")]


def _stock_home(folder: Path) -> Path:
    """A root home as a fresh install has it (``.bashrc``, ``.profile``), for one host."""
    home = folder / "root"
    home.mkdir(mode=0o700)
    for src in STOCK_HOME:
        if src.is_file():
            (home / src.name.replace("dot", "", 1)).write_bytes(src.read_bytes())
        elif (skel := Path("/etc/skel", src.name.replace("dot", "", 1))).is_file():
            (home / skel.name).write_bytes(skel.read_bytes())
    return home


def start_farm(n: int, root: Path, shared_home: bool = False) -> Farm:
    """``n`` namespaces on one bridge, one sshd each; returns when every sshd accepts.

    Each host's sshd sees its own ``/root`` (a stock ``.bashrc`` and ``.profile``, as on a
    fresh install), bind-mounted in its own mount namespace, unless ``shared_home``: then
    the hosts log in to this machine's own ``/root``, whose ``.bashrc`` (run by bash for
    every SSH command) is whatever this machine's admin put there."""
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)
    cmds = [f"link add {BRIDGE} type bridge", f"addr add 10.231.255.254/16 dev {BRIDGE}",
            f"link set {BRIDGE} up"]
    for i in range(n):
        ns, veth = f"{TAG}{i}", f"{TAG}v{i}"
        cmds += [f"netns add {ns}", f"link add {veth} type veth peer name eth0 netns {ns}",
                 f"link set {veth} master {BRIDGE} up"]
    _ip_batch(cmds)
    for i in range(n):
        _ip_batch([f"addr add {_address(i)}/16 dev eth0", "link set eth0 up", "link set lo up"],
                  netns=f"{TAG}{i}")
    client_key = root / "id_client"
    (root / "authorized_keys").write_text(_keygen(client_key) + "\n")
    known, procs, addresses = [], [], []
    for i in range(n):
        folder, addr = root / f"h{i}", _address(i)
        folder.mkdir()
        known.append(f"{addr} {_keygen(folder / 'host_ed25519')}")
        cfg = folder / "sshd_config"
        cfg.write_text("\n".join([
            "Port 22", f"ListenAddress {addr}", f"HostKey {folder / 'host_ed25519'}",
            f"PidFile {folder / 'sshd.pid'}", f"AuthorizedKeysFile {root / 'authorized_keys'}",
            "StrictModes no", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password", "UsePAM no", "MaxStartups 1000",
            "MaxSessions 50", "LogLevel ERROR", ""]))
        sshd = [SSHD, "-D", "-e", "-f", str(cfg)]
        if not shared_home:  # sh binds the host's own /root, then becomes sshd (same pid)
            sshd = ["sh", "-c", 'mount --bind "$0" /root && exec "$@"',
                    str(_stock_home(folder)), *sshd]
        procs.append(subprocess.Popen(["ip", "netns", "exec", f"{TAG}{i}", "unshare", "--pid",
                                       "--fork", "--kill-child", "--mount-proc", *sshd],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        addresses.append(addr)
    known_hosts = root / "known_hosts"
    known_hosts.write_text("\n".join(known) + "\n")
    farm = Farm(root, addresses, procs, client_key, known_hosts)
    deadline = time.monotonic() + 120
    for i, (addr, proc) in enumerate(zip(addresses, procs, strict=True)):
        while subprocess.run(["ip", "netns", "exec", f"{TAG}{i}", "ss",
                              "-Htln", "sport = :22"], capture_output=True,
                             text=True).stdout.strip() == "":
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"sshd on {addr} did not start")
            time.sleep(0.1)
    return farm


def stop_farm(n: int, procs: list[subprocess.Popen[bytes]]) -> None:
    """Stop our sshd (by pid) and delete our namespaces, veths and bridge."""
    for p in procs:  # unshare ignores SIGTERM; SIGKILL it and --kill-child ends its sshd,
        if p.poll() is None:  # whose PID namespace (with every session in it) goes too
            p.kill()
    for p in procs:
        p.wait(timeout=30)
    _ip_batch([f"netns del {TAG}{i}" for i in range(n)
               if Path("/run/netns", f"{TAG}{i}").exists()]
              + [f"link del {TAG}v{i}" for i in range(n)] + [f"link del {BRIDGE}"],
              check=False)


# ---------------------------------------------------------------- one measurement (child)
def measure_shangyun(spec: dict[str, object]) -> dict[str, float]:
    """One discovery of the farm by the checkout ``spec["checkout"]`` (in a child process:
    the editable install's finder is dropped so that checkout's packages are imported)."""
    sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
    sys.path.insert(0, str(spec["checkout"]))
    from connectors.ssh import discovery_pool
    from shangyun.discovery.engine import run_discovery
    from shangyun.discovery.model import Defaults, SSHOptions
    from shangyun.estate import Estate

    addrs = list(spec["addresses"])  # type: ignore[call-overload]
    estate_dir = Path(str(spec["work"])) / f"estate-{time.monotonic_ns()}"
    Estate.from_records({"name": "bench"}, {
        "bureaus": [{"kind": "bureau", "id": "B01", "name": "bench"}],
        "hosts": [{"id": f"h{i:03d}", "hostname": f"h{i}", "ip": a, "bureau_id": "B01"}
                  for i, a in enumerate(addrs)],
    }).save(estate_dir)
    opts = SSHOptions(str(spec["key"]), str(spec["known_hosts"]), Defaults(user="root"),
                      concurrency=int(spec.get("concurrency") or len(addrs)),  # type: ignore[call-overload]
                      connect_timeout=60, retries=1,
                      sample_seconds=1.0)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    c0, t0 = usage.ru_utime + usage.ru_stime, time.perf_counter()
    run = run_discovery(str(estate_dir), opts, discovery_pool)
    wall = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    shutil.rmtree(estate_dir, ignore_errors=True)
    assert Path(sys.modules["shangyun"].__file__ or "").is_relative_to(str(spec["checkout"]))
    return {"wall": wall, "ok": sum(1 for r in run.results if r.ok),
            "cpu": usage.ru_utime + usage.ru_stime - c0,
            "host_max": max(r.seconds for r in run.results)}


def run_ansible(ansible: str, farm: Farm, work: Path, forks: int = 0) -> dict[str, float]:
    """``ansible all -m setup`` at ``forks`` (default: hosts), pipelining, interpreter set,
    keys checked."""
    n = len(farm.addresses)
    inv = work / "inventory.ini"
    inv.write_text("[bench]\n" + "".join(f"h{i} ansible_host={a}\n"
                                         for i, a in enumerate(farm.addresses)))
    cfg = work / "ansible.cfg"
    cfg.write_text("\n".join([
        "[defaults]", f"forks = {forks or n}", "host_key_checking = True",
        "interpreter_python = /usr/bin/python3", "gathering = explicit", "remote_user = root",
        f"private_key_file = {farm.client_key}", f"local_tmp = {work / 'ansible-tmp'}",
        "nocolor = True", "",
        "[ssh_connection]", "pipelining = True", f"control_path_dir = {work / 'cp'}",
        f"ssh_args = -o ControlMaster=no -o UserKnownHostsFile="
        f"{farm.known_hosts} -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes "
        "-o ForwardAgent=no", ""]))
    env = {**os.environ, "ANSIBLE_CONFIG": str(cfg)}
    t0 = time.perf_counter()
    proc = subprocess.Popen([ansible, "all", "-i", str(inv), "-m", "setup"], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=work,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=1800)
    except BaseException:  # interrupted or too slow: stop Ansible's forks too (its group)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    wall = time.perf_counter() - t0
    ok = out.count("| SUCCESS")
    if ok != n:
        print(out[-1500:], err[-1500:], file=sys.stderr)
    return {"wall": wall, "ok": ok}


def hosts_cpu(farm: Farm) -> float:
    """CPU seconds the hosts have used so far: each host's sshd (the child of its
    ``unshare``) with its reaped sessions and their scripts (utime+stime+cutime+cstime)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in farm.procs:
        try:
            kids = Path(f"/proc/{p.pid}/task/{p.pid}/children").read_text().split()
            for k in kids:
                fields = Path(f"/proc/{k}/stat").read_text().rsplit(")", 1)[1].split()
                total += sum(int(x) for x in fields[11:15])
        except OSError:
            continue
    return total / tick


def _child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def one_run(config: str, farm: Farm, work: Path, args: argparse.Namespace) -> dict[str, float]:
    """One measurement of ``config`` (its wall time, hosts ok, client CPU, the hosts' CPU,
    load average)."""
    h0 = hosts_cpu(farm)
    if config == "ansible":
        c0 = _child_cpu()
        res = run_ansible(args.ansible, farm, work, args.concurrency)
        res["cpu"] = _child_cpu() - c0
    else:
        checkout = ROOT if config == "shangyun" else Path(args.before)
        spec = {"addresses": farm.addresses, "key": str(farm.client_key),
                "known_hosts": str(farm.known_hosts), "work": str(work),
                "checkout": str(checkout), "concurrency": args.concurrency}
        cp = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)],
                            capture_output=True, text=True, timeout=1800)
        if cp.returncode:
            raise RuntimeError(cp.stderr[-2000:])
        res = json.loads(cp.stdout.strip().splitlines()[-1])
    res["hosts_cpu"] = hosts_cpu(farm) - h0
    res["load"] = os.getloadavg()[0]
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hosts", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=0,
                    help="shangyun's concurrency and Ansible's forks (default: hosts)")
    ap.add_argument("--before", help="another checkout to measure as 'before'")
    ap.add_argument("--ansible", default="/tmp/inv-ansible/bin/ansible")
    ap.add_argument("--no-ansible", action="store_true")
    ap.add_argument("--shared-home", action="store_true",
                    help="hosts log in to this machine's own /root (its .bashrc runs for "
                         "every SSH command) instead of a stock root home each")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(measure_shangyun(json.loads(args.child))))
        return 0
    if os.geteuid() != 0:
        print("needs root (network namespaces)", file=sys.stderr)
        return 2
    configs = (["before"] if args.before else []) + ["shangyun"]
    configs += [] if args.no_ansible else ["ansible"]
    root = Path(tempfile.mkdtemp(prefix="shangyun-bench-vs-ansible-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        t0 = time.perf_counter()
        farm = start_farm(args.hosts, root, args.shared_home)
        procs = farm.procs
        print(f"{args.hosts} sshd hosts up in {time.perf_counter() - t0:.1f} s; "
              f"configs {configs}; concurrency/forks {args.concurrency or args.hosts}; "
              f"load average {os.getloadavg()}", flush=True)
        runs: dict[str, list[dict[str, float]]] = {c: [] for c in configs}
        for rnd in range(args.rounds):
            for c in configs:
                r = one_run(c, farm, root, args)
                runs[c].append(r)
                print(f"round {rnd + 1} {c:<9} ok {int(r['ok']):>4}/{args.hosts}  wall "
                      f"{r['wall']:7.2f} s  client CPU {r['cpu']:6.2f} s  hosts' CPU "
                      f"{r['hosts_cpu']:6.2f} s  load1 "
                      f"{r['load']:.1f}" + (f"  slowest host {r['host_max']:.2f} s"
                                            if "host_max" in r else ""), flush=True)
        med = {c: statistics.median(r["wall"] for r in rs) for c, rs in runs.items()}
        for c, rs in runs.items():
            print(f"median {c:<9} wall {med[c]:7.2f} s  ({args.hosts / med[c]:.1f} hosts/s)  "
                  f"client CPU {statistics.median(r['cpu'] for r in rs):6.2f} s  hosts' CPU "
                  f"{statistics.median(r['hosts_cpu'] for r in rs):6.2f} s")
        if "ansible" in med:
            print(f"ansible / shangyun (medians): {med['ansible'] / med['shangyun']:.1f}x")
        if "before" in med:
            print(f"before / shangyun (medians): {med['before'] / med['shangyun']:.2f}x")
        print(f"load average at the end: {os.getloadavg()}")
    finally:
        stop_farm(args.hosts, procs)
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
