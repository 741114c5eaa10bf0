"""The discovery engine: many hosts in parallel, one script each, never aborting the run.

Plain Python (threads), no Prefect: the CLI calls it directly and :mod:`flows.discovery`
wraps the same functions in tasks. The network is reached only through the ports of
:mod:`shangyun.discovery.ports`: :func:`run_discovery` takes a
:class:`~shangyun.discovery.ports.ScriptRunner` opener (the CLI passes
:func:`connectors.ssh.discovery_pool`), :func:`discover_hosts` a per-host
:class:`~shangyun.discovery.ports.Runner`, so this module stays testable without servers.

::

    targets_from_estate(estate, defaults)  -> [Target]
    discover_hosts(targets, runner, ...)   -> [HostResult]   (status per host, facts if ok)
    apply_results(estate, results)         -> Applied        (hosts/disks/dbs/deps merged)
    write_facts(estate_dir, results, applied.depmap, applied.matched)  (facts/<host>.json)
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from shangyun.discovery.dependencies import DependencyMap
from shangyun.discovery.merging import merge_discovered
from shangyun.discovery.model import (
    OK,
    UNASSIGNED_BUREAU,
    Applied,
    Defaults,
    HostResult,
    SSHOptions,
    SSHTarget,
    Target,
    host_port,
)
from shangyun.discovery.ports import OpenScriptRunner, Runner, ScriptRunner
from shangyun.discovery.script import MARKER, gather_script, parse_output, split_sections
from shangyun.errors import AuthError, HostKeyError, ShangyunError, TransientError
from shangyun.estate import Estate


def parse_target(spec: str, defaults: Defaults) -> Target:
    """``HOST[:PORT]`` (``[v6]:PORT`` for IPv6) from ``--target`` as a :class:`Target`."""
    host, port = spec, defaults.port
    if spec.startswith("["):
        host, _, rest = spec[1:].partition("]")
        port = int(rest[1:]) if rest.startswith(":") else port
    elif spec.count(":") == 1:
        host, p = spec.split(":")
        if not p.isdigit() or not 0 < int(p) < 65536:
            raise ShangyunError(f"--target {spec!r}: {p!r} is not a port number")
        port = int(p)
    suffix = "" if port == 22 else f"-{port}"
    return Target(host_id=f"disc-{host.replace(':', '_')}{suffix}", address=host, port=port,
                  user=defaults.user, jump=defaults.jump, bureau=UNASSIGNED_BUREAU,
                  in_estate=False)


def targets_from_estate(estate: Estate, defaults: Defaults,
                        extra: Iterable[str] = ()) -> list[Target]:
    """Every estate host with an IP (bureau SSH settings win over ``defaults``; the host's
    ``ssh_port`` over the bureau's), then the ``extra`` ``HOST[:PORT]`` targets."""
    bureaus = {b["id"]: b for b in estate.rows("bureaus")}
    out: list[Target] = []
    seen: set[tuple[str, int]] = set()
    for h in estate.rows("hosts"):
        if not h.get("ip"):
            continue
        b = bureaus.get(h["bureau_id"], {})
        port = int(h.get("ssh_port") or b.get("ssh_port") or defaults.port)
        t = Target(host_id=h["id"], address=str(h["ip"]), port=port,
                   user=b.get("ssh_user") or defaults.user, jump=b.get("ssh_jump") or
                   defaults.jump, bureau=h["bureau_id"], system_id=h.get("system_id") or "",
                   hostname=h.get("hostname") or "")
        seen.add((t.address, t.port))
        out.append(t)
    for spec in extra:
        t = parse_target(spec, defaults)
        if (t.address, t.port) not in seen:
            seen.add((t.address, t.port))
            out.append(t)
    return out


def status_of(exc: BaseException) -> str:
    """The host status for a failure (never-retried ones are distinct from transient)."""
    status = getattr(exc, "status", None)
    if isinstance(status, str):
        return status
    if isinstance(exc, HostKeyError):
        return "host-key"
    if isinstance(exc, AuthError):
        return "auth-failed"
    if isinstance(exc, TransientError):
        return "unreachable"
    return "error"


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


def who(target: Target) -> str:
    """How a person knows ``target``: its host name; an estate host without one by its id;
    an extra target (``--target``, no name yet) by nothing but its address."""
    return target.hostname or (target.host_id if target.in_estate else "")


def partial_note(target: Target, facts: dict[str, Any]) -> str:
    """The note of a host discovered without root (``ok``, but partial facts), else ``""``."""
    uid = (facts.get("session") or {}).get("uid")
    if not uid:
        return ""
    return (f"partial facts: logged in as {target.user or 'a user'} (uid {uid}), not root — "
            "the processes behind other users' sockets are not visible, so dependencies "
            "and databases may be missing; log in as root for complete facts")


def _incomplete(target: Target, stdout: str) -> str:
    """Why a host's output is not a whole gather run, naming the host."""
    name = f"{who(target) or target.host_id} ({host_port(target.address, target.port)})"
    if MARKER not in stdout:
        said = next((ln.strip() for ln in stdout.splitlines() if ln.strip()), "")
        return (f"{name}: the login shell of {target.user or 'the user'} ran no discovery "
                "script" + (f" (it said: {said[:200]!r})" if said else "")
                + " — a nologin/restricted shell? log in as a user with a POSIX shell")
    return (f"{name}: the gather script did not run to its end (the connection dropped "
            "or the shell stopped it)")


def cut_short(exc: BaseException, partial: str) -> tuple[dict[str, Any], str]:
    """The facts of the sections a gather run stopped at its command timeout had finished
    (``partial``: its output until then) and the reason: ``exc``'s text (naming the host)
    and the section that was still running. The running section's output is cut, so it is
    not kept: it and every later section are listed under ``_errors``."""
    sections = list(split_sections(partial))
    if not sections:
        return {}, str(exc)
    running = sections[-1]
    facts = parse_output(partial)
    facts.pop(running, None)
    facts["_errors"][running] = "still running at the command timeout: output cut, not kept"
    done = len(sections) - 1
    return facts, (f"{exc}; stopped in the '{running}' section (still running), the facts "
                   f"of the {done} section(s) before it are kept, the later ones are missing")


def discover_one(target: Target, runner: Runner) -> HostResult:
    """Discover one host; every failure becomes a status, never an exception. A host whose
    gather script ran past the command timeout ends ``timeout`` with the facts of the
    sections it finished (:func:`cut_short`)."""
    start = time.monotonic()
    try:
        stdout, attempts = runner(target)
        facts = parse_output(stdout)
        status, reason = OK, partial_note(target, facts)
        if not facts["_complete"]:
            status, reason = "error", _incomplete(target, stdout)
        return HostResult(target, status, reason, facts, time.monotonic() - start, attempts,
                          _now())
    except Exception as exc:
        facts, reason = cut_short(exc, str(getattr(exc, "partial_output", "") or ""))
        return HostResult(target, status_of(exc), reason, facts, time.monotonic() - start,
                          int(getattr(exc, "attempts", 1) or 1), _now())


def discover_hosts(targets: list[Target], runner: Runner, *, concurrency: int = 50,
                   on_result: Callable[[HostResult], None] | None = None) -> list[HostResult]:
    """Discover ``targets`` with at most ``concurrency`` at once; results in target order."""
    results: dict[int, HostResult] = {}
    with ThreadPoolExecutor(max_workers=max(1, concurrency),
                            thread_name_prefix="discover") as pool:
        futures = {pool.submit(discover_one, t, runner): i for i, t in enumerate(targets)}
        for fut in as_completed(futures):
            res = fut.result()
            results[futures[fut]] = res
            if on_result is not None:
                on_result(res)
    return [results[i] for i in range(len(targets))]


def apply_results(estate: Estate, results: list[HostResult],
                  hypervisor_rows: dict[str, list[dict[str, Any]]] | None = None) -> Applied:
    """Merge discovery into ``estate`` (in memory; the caller saves it).

    Hosts go through :func:`shangyun.estate.merge.merge` (matching by IP, hostname and
    MAC; differences with the ledger are listed as conflicts, not overwritten); disks and
    databases of discovered hosts are replaced by what was found; observed dependencies of
    discovered hosts are replaced and the system roll-up recomputed (``Applied.depmap``
    holds the dependency map, keyed by the estate's host ids after matching).
    """
    return merge_discovered(estate, results, hypervisor_rows or {})


def write_facts(estate_dir: str | os.PathLike[str], results: list[HostResult],
                depmap: DependencyMap, renamed: dict[str, str] | None = None) -> Path:
    """Raw facts per host as ``facts/<host id>.json`` (each written atomically) and
    ``facts/discovery.json`` (the run's statuses). An extra target found to be an estate
    host discovered in the same run (``renamed`` to its id) does not overwrite that host's
    file; ``discovery.json`` lists both. Returns the facts folder."""
    folder = Path(estate_dir) / "facts"
    folder.mkdir(parents=True, exist_ok=True)
    renamed = renamed or {}
    estate_ids = {r.target.host_id for r in results if r.target.in_estate}
    for r in results:
        hid = renamed.get(r.target.host_id, r.target.host_id)
        if not r.target.in_estate and hid in estate_ids:
            continue  # the estate host reached again at another address: its own run's file
        doc = {"host_id": hid, "target": asdict(r.target), "status": r.status,
               "reason": r.reason, "discovered_at": r.at, "seconds": round(r.seconds, 3),
               "attempts": r.attempts, "facts": r.facts,
               "derived": {"unused_listening_ports": depmap.unused_ports.get(hid, []),
                           "external_clients": depmap.external_clients.get(hid, []),
                           "udp_services": depmap.udp_services.get(hid, [])}}
        _write_json(folder / f"{_safe(hid)}.json", doc)
    _write_json(folder / "discovery.json", summary(results))
    return folder


def summary(results: list[HostResult]) -> dict[str, Any]:
    """Counts per status and one line per host (id, address, status, reason, seconds)."""
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    return {"total": len(results), "counts": counts,
            "hosts": [{"host_id": r.target.host_id, "hostname": r.target.hostname,
                       "address": host_port(r.target.address, r.target.port),
                       "status": r.status, "reason": r.reason,
                       "seconds": round(r.seconds, 3), "attempts": r.attempts}
                      for r in results]}


def markdown_summary(results: list[HostResult], applied: Applied | None = None) -> str:
    """The run as a markdown table (the Prefect artifact and ``--json``-less CLI report)."""
    s = summary(results)
    lines = ["# Discovery", "",
             "Status counts: " + ", ".join(f"{k} {v}" for k, v in sorted(s["counts"].items())),
             ""]
    if applied is not None:
        lines += [f"Hosts updated {applied.hosts_updated}, added {applied.hosts_added}"
                  + (f", {applied.hosts_not_reached} not reached (status recorded)"
                     if applied.hosts_not_reached else "") + "; "
                  f"disks {applied.disks}; databases {applied.databases}; observed "
                  f"dependencies {applied.dependencies}; conflicts {applied.conflicts}.", ""]
        lines += [f"- {n}" for n in applied.notes] + ([""] if applied.notes else [])
    lines += ["| host | id | address | status | seconds | reason |", "|---|---|---|---|---|---|"]
    for h in s["hosts"]:
        reason = str(h["reason"]).replace("|", "\\|").replace("\n", " ")
        name = str(h["hostname"] or h["host_id"]).replace("|", "\\|")
        lines.append(f"| {name} | {h['host_id']} | {h['address']} | {h['status']} | "
                     f"{h['seconds']:.2f} | {reason} |")
    return "\n".join(lines) + "\n"


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1, default=str),
                   encoding="utf-8")
    os.replace(tmp, path)


@dataclass
class DiscoveryRun:
    """A whole discovery: per-host results, what changed in the estate, where facts went."""

    estate_dir: str
    results: list[HostResult]
    applied: Applied
    facts_dir: str
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """The run as plain JSON-able data (for ``--json``)."""
        a = self.applied
        return {"estate": self.estate_dir, "seconds": round(self.seconds, 3),
                "facts_dir": self.facts_dir, **summary(self.results),
                "applied": {"hosts_updated": a.hosts_updated, "hosts_added": a.hosts_added,
                            "hosts_not_reached": a.hosts_not_reached,
                            "disks": a.disks, "databases": a.databases,
                            "observed_dependencies": a.dependencies,
                            "conflicts": a.conflicts, "notes": a.notes}}


def script_runner(ssh: ScriptRunner, sample_seconds: float = 1.0) -> Runner:
    """A per-host :class:`Runner` that sends the gather script through ``ssh``."""
    script = gather_script(sample_seconds=sample_seconds)

    def run(t: Target) -> tuple[str, int]:
        res = ssh.run_script(SSHTarget(t.address, t.port, t.user, t.jump, who(t),
                                       t.bureau), script)
        return res.stdout, res.attempts

    return run


def run_discovery(estate_dir: str, options: SSHOptions, connect: OpenScriptRunner, *,
                  extra_targets: Iterable[str] = (),
                  hypervisor_rows: dict[str, list[dict[str, Any]]] | None = None,
                  on_start: Callable[[int], None] | None = None,
                  on_result: Callable[[HostResult], None] | None = None) -> DiscoveryRun:
    """Discover every host of the estate at ``estate_dir`` (and ``extra_targets``) through
    the script runner ``connect(options)`` opens (the CLI passes
    :func:`connectors.ssh.discovery_pool`), merge the results (and ``hypervisor_rows``) into
    the estate, save it and write ``facts/``.

    Never raises for one bad host: each ends with its status. Raises
    :class:`~shangyun.errors.ShangyunError` for a bad estate (before connecting), then for
    a bad key or known_hosts file (from ``connect``).
    """
    start = time.monotonic()
    estate = Estate.load(estate_dir, check=True)
    targets = targets_from_estate(estate, options.defaults, extra_targets)
    with connect(options) as ssh:
        if on_start is not None:
            on_start(len(targets))
        results = discover_hosts(targets, script_runner(ssh, options.sample_seconds),
                                 concurrency=options.concurrency, on_result=on_result)
    applied = apply_results(estate, results, hypervisor_rows)
    estate.save(estate_dir)
    assert applied.depmap is not None
    folder = write_facts(estate_dir, results, applied.depmap, applied.matched)
    return DiscoveryRun(str(estate_dir), as_found(results, applied.matched, estate), applied,
                        str(folder), time.monotonic() - start)


def as_found(results: list[HostResult], matched: dict[str, str],
             estate: Estate) -> list[HostResult]:
    """``results`` with each extra target (``--target``) that turned out to be an estate
    host named as that host (its id and host name), so the run's table says which host a
    second address reached; the others as they are."""
    names = {str(h["id"]): str(h.get("hostname") or "") for h in estate.rows("hosts")}
    out = []
    for r in results:
        t = r.target
        hid = matched.get(t.host_id, t.host_id)
        if not t.in_estate and hid != t.host_id and hid in names:
            r = replace(r, target=replace(t, host_id=hid, hostname=names[hid]))
        out.append(r)
    return out


__all__ = [
    "DiscoveryRun", "apply_results", "cut_short", "discover_hosts", "discover_one",
    "markdown_summary", "parse_target", "partial_note", "run_discovery", "script_runner",
    "status_of", "summary", "targets_from_estate", "write_facts",
]
