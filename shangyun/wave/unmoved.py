"""A cut-over system the estate now gives a host its run never moved.

A ledger re-imported after the cutover may add a host (a forgotten VM of the application)
to a system that is cut over. The run leaves a cut-over system alone, so that host would
never move: ``wave finalize`` refuses the wave over it, and ``wave status`` and the runbook
say so with the same words (one judgement, :func:`hosts_never_moved`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from shangyun.estate.names import command_arg

LAUNCH = "launch"


def launched_hosts(steps: Iterable[tuple[str, str, str]]) -> set[str]:
    """The host ids a system's steps launched: ``steps`` are ``(key, kind, status)`` with
    the host id last in a ``launch`` step's key (``sys/launch/host``); only done ones."""
    return {key.rsplit("/", 1)[-1] for key, kind, status in steps
            if kind == LAUNCH and status == "done"}


def hosts_never_moved(launched: Mapping[str, set[str]],
                      hosts: Iterable[Mapping[str, Any]]) -> dict[str, list[str]]:
    """System id -> the hostnames the estate (``hosts`` rows) gives it that its run never
    launched, for each system of ``launched`` (cut-over system id -> host ids launched).
    A system with no launch step journaled is left out: nothing to compare with."""
    rows = list(hosts)
    out: dict[str, list[str]] = {}
    for sid in sorted(launched):
        if not launched[sid]:
            continue
        missing = [str(h.get("hostname") or h["id"]) for h in rows
                   if str(h.get("system_id") or "") == sid
                   and str(h["id"]) not in launched[sid]]
        if missing:
            out[sid] = missing
    return out


def never_moved_reason(number: int, system_id: str, hostnames: list[str],
                       names: Mapping[str, str], again: str = "", where: str = "") -> str:
    """Why ``wave finalize`` refuses wave ``number`` over ``system_id`` (its
    ``hostnames`` never moved), with the commands that move it whole (``again``: the
    options that repeat the wave's last run, :func:`shangyun.wave.runwords.run_words`;
    ``where``: `` --estate DIR`` when the command was given one)."""
    who, arg = names.get(system_id) or system_id, command_arg("system", system_id, names)
    return (f"{who}: {', '.join(hostnames)} never moved (the estate gives {who} "
            f"{'a host' if len(hostnames) == 1 else 'hosts'} its cutover did not move — "
            f"added to the ledgers since?); the run leaves a cut-over system alone, so "
            f"move it whole: fail it back (shangyun wave rollback {number} --system "
            f"{arg} --fail-back{where}), then run it again (shangyun wave run {number} --only "
            f"{arg}{again}{where}); or, if it is not that system's host, correct the ledger and "
            "import it again")


__all__ = ["hosts_never_moved", "launched_hosts", "never_moved_reason"]
