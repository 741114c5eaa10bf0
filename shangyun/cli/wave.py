"""``shangyun wave``: run a wave of the plan, see its status, resume it, roll it back.

``wave run N --dry-run`` is pure (no Prefect, no connector): it prints exactly the steps a
run would do. The other commands import the flow or the step actions only when called.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from shangyun.cli.output import (
    Table,
    console,
    err_console,
    escape,
    estate_option,
    estate_words,
    handle_errors,
    json_option,
    print_json,
)
from shangyun.cli.wavestatus import (
    estate_names,
    finalize_refusal,
    journaled_wave,
    last_run_options,
)
from shangyun.errors import PlanError, ShangyunError
from shangyun.estate import Estate
from shangyun.estate.names import (
    command_arg,
    label,
    names_of,
    readable,
    resolve_in,
    shell_word,
)
from shangyun.wave.state import (
    FAILED_BACK,
    PENDING,
    REFUSED,
    ROLLED_BACK,
    SKIPPED,
    counted,
    counts_words,
    state_counts,
    state_words,
)
from shangyun.wave.steps import TARGET_FORMATS, RunOptions


def _target_options(target: str, uri: str | None, pool: str | None, endpoint: str | None,
                    region: str | None) -> dict[str, str]:
    if target == "libvirt":
        return {k: v for k, v in (("uri", uri), ("pool", pool)) if v}
    return {k: v for k, v in (("endpoint", endpoint), ("region", region)) if v}


def run_options(estate_dir: str, target: str, uri: str | None, pool: str | None,
                endpoint: str | None, region: str | None, staging: str | None,
                s3_endpoint: str | None, bucket: str, digest: str,
                datastore_roots: tuple[str, ...] = ()) -> RunOptions:
    """The :class:`RunOptions` of a ``wave run`` command line (staging defaults inside
    the estate)."""
    return RunOptions(
        target=target, target_options=_target_options(target, uri, pool, endpoint, region),
        staging_dir=str(Path(staging or Path(estate_dir) / "staging").resolve()),
        s3_endpoint=s3_endpoint or "", bucket=bucket, digest=digest,
        datastore_roots=[str(Path(r).resolve()) for r in datastore_roots])


_run_opts = [
    click.option("--target", type=click.Choice(sorted(TARGET_FORMATS)), default="libvirt",
                 show_default=True, help="The target cloud kind."),
    click.option("--target-uri", "uri", envvar="SHANGYUN_TARGET_URI", show_envvar=True,
                 help="libvirt: the target cloud's connection URI (a libvirt run "
                      "without it is refused before anything starts)."),
    click.option("--pool", help="libvirt: the storage pool for imported disks."),
    click.option("--ec2-endpoint", "endpoint", envvar="SHANGYUN_EC2_ENDPOINT", show_envvar=True,
                 help="ec2: the EC2-compatible endpoint URL."),
    click.option("--region", envvar="AWS_DEFAULT_REGION", show_envvar=True,
                 help="ec2: the region."),
    click.option("--staging", type=click.Path(file_okay=False),
                 help="Folder for converted images [default: <estate>/staging]."),
    click.option("--s3-endpoint", envvar="SHANGYUN_S3_ENDPOINT", show_envvar=True,
                 help="S3-compatible staging endpoint URL (credentials from the "
                      "environment)."),
    click.option("--bucket", default="shangyun-staging", show_default=True,
                 help="S3 staging bucket."),
    click.option("--digest", type=click.Choice(["sha256", "sm3"]), default="sha256",
                 show_default=True, help="Digest used to verify every image end to end."),
    click.option("--datastore-root", "datastore_roots", multiple=True,
                 type=click.Path(file_okay=False), envvar="SHANGYUN_DATASTORE_ROOTS",
                 show_envvar=True,
                 help="A folder source images may be read from (repeatable; in the "
                      "environment variable, folders separated by ':'); replaces "
                      "estate.yaml's datastore_roots for this run. A disk path outside "
                      "every root (or with '..', or under /dev) is refused by the "
                      "pre-check and the convert; with no root configured anywhere, every "
                      "disk is."),
]


_dist_opts = [
    click.option("--distributed", is_flag=True,
                 help="Send each bureau's share to its worker (Prefect work pool 'shangyun', "
                      "queue bureau-<id>) and follow; needs PREFECT_API_URL, a PostgreSQL "
                      "SHANGYUN_JOURNAL and SHANGYUN_REDIS_URL."),
    click.option("--max-resumes", type=click.IntRange(0), default=1, show_default=True,
                 help="--distributed: resubmit a bureau whose worker died this many times."),
    click.option("--start-timeout", type=click.FloatRange(1), default=600.0,
                 show_default=True,
                 help="--distributed: seconds a bureau's run may wait for its worker."),
]


def _distributed_opts(fn: Any) -> Any:
    for opt in reversed(_dist_opts):
        fn = opt(fn)
    return fn


def _distributed(estate_dir: str, number: int, as_json: bool, **kwargs: Any) -> None:
    """Run (or resume) the wave on the bureau workers, printing what happens per bureau."""
    from flows.distributed import run_distributed
    from shangyun.cli.worker import _api

    _api(estate_dir)
    result = run_distributed(str(Path(estate_dir).resolve()), number, on_event=_event,
                             **kwargs)
    if as_json:
        print_json(result)
    else:
        words = _wave_words({"state": result.get("wave_state") or result["state"],
                             "wave": number}, estate_dir)
        summary = f"  ({escape(result['summary'])})" if result.get("summary") else ""
        console.print(f"[bold]wave {number}[/] (distributed): {escape(words)}{summary}")
        bureaus = estate_names(estate_dir, "bureau")
        for b in result["bureaus"]:
            console.print(f"  {escape(readable(b['bureau'], bureaus))}: {b['outcome']} "
                          f"(journal: {b.get('journal_state', '-')}, resumes {b['resumes']})")
        systems = estate_names(estate_dir, "system")
        for s in result["systems"]:
            console.print(f"  {escape(readable(s['id'], systems))}: "
                          f"{_state_words(s['state'])} {escape(s.get('error'))}")
    if result["state"] != "done":
        raise SystemExit(1)


def _event(bureau: str, what: str, detail: str) -> None:
    """One line on stderr per thing the follower sees (stdout stays for the result)."""
    from shangyun.cli.output import err_console

    err_console.print(f"[dim]{escape(bureau)}[/] {escape(what)} {escape(detail)}")


def _with_run_opts(fn: Any) -> Any:
    for opt in reversed(_run_opts):
        fn = opt(fn)
    return fn


@click.group("wave")
def wave() -> None:
    """Run, watch, resume, roll back and finalize a wave of the plan.

    A run goes: pre-checks → convert → replicate (upload, import, test launch with a boot
    proof) → data moves, each verified → cut over (DNS, health checks) → soak; any failure
    rolls the system (and its move group) back from the journal. 'finalize' closes the
    wave after the soak; only then is a source touched."""


@wave.command("run")
@click.argument("number", type=int)
@estate_option
@click.option("--dry-run", is_flag=True, help="Print exactly what would be done; touch nothing.")
@click.option("--only", "only", metavar="SYSTEM", help="Run only this system (id or name).")
@_distributed_opts
@_with_run_opts
@json_option
@handle_errors
def run_cmd(number: int, estate_dir: str, dry_run: bool, only: str | None, distributed: bool,
            max_resumes: int, start_timeout: float, target: str, uri: str | None,
            pool: str | None, endpoint: str | None, region: str | None,
            staging: str | None, s3_endpoint: str | None, bucket: str, digest: str,
            datastore_roots: tuple[str, ...], as_json: bool) -> None:
    """Run wave NUMBER (or, with --dry-run, print every step it would do).

    With --distributed, each bureau's share goes to its worker's queue (bureau-<id>) and
    this command follows the flow runs to the end; --dry-run then rehearses the wave on the
    workers (every step a task run, nothing touched, nothing journaled).
    """
    from shangyun.wave.plan import load_wave

    if only is not None:
        only = resolve_in(estate_dir, "system", only)
    opts = run_options(estate_dir, target, uri, pool, endpoint, region, staging,
                       s3_endpoint, bucket, digest, datastore_roots)
    if target == "libvirt" and not uri and not dry_run:
        # refused here, before Prefect starts: otherwise every system's pre-check failed a
        # minute later with "ValueError: give a libvirt URI or an open connection"
        raise click.UsageError("--target libvirt needs --target-uri URI (or "
                               "$SHANGYUN_TARGET_URI): the target cloud's libvirt connection "
                               "URI, e.g. qemu+ssh://cloud01/system; nothing was run")
    if distributed:
        _distributed(estate_dir, number, as_json, options=opts.to_dict(), only=only,
                     dry_run=dry_run, max_resumes=max_resumes, start_timeout=start_timeout)
        return
    work = load_wave(estate_dir, number, only=only)
    if dry_run:
        from connectors.journal.dryrun import wave_dry_run
        from shangyun.wave.dryrun import render_text

        plan = wave_dry_run(estate_dir, work, opts, estate_words(estate_dir))
        if as_json:
            print_json(plan)
        else:
            click.echo(render_text(plan))
        return
    from shangyun.wave.builder import step_count, wave_steps

    total = step_count(wave_steps(work, opts))
    _report(_run_with_bar(f"wave {number}", total, not as_json, estate_dir=estate_dir,
                          number=number, only=only, options=opts.to_dict(),
                          where=estate_words(estate_dir)), as_json, estate_dir)


def _run_with_bar(label: str, total: int | None, enabled: bool, **kwargs: Any) -> Any:
    """Call ``run_wave(**kwargs)`` with progress bars on stderr: finished steps, and one
    per long step while it runs (convert, upload, adapt, the boot proof of a test launch;
    :mod:`shangyun.cli.bars`)."""
    from flows.move import move_wave

    if not enabled:
        return move_wave(**kwargs)
    from shangyun.cli.bars import StepBars, wave_progress
    from shangyun.cli.output import err_console

    with wave_progress(err_console) as bar:
        bars = StepBars(bar, label, total)
        try:
            return move_wave(**kwargs, on_step=bars.on_step, on_progress=bars.on_progress)
        finally:
            bars.close()


@wave.command("resume")
@click.argument("number", type=int)
@estate_option
@_distributed_opts
@json_option
@handle_errors
def resume_cmd(number: int, estate_dir: str, distributed: bool, max_resumes: int,
               start_timeout: float, as_json: bool) -> None:
    """Resume wave NUMBER with the options of its last run: done steps are skipped.

    With --distributed, every bureau whose last run is not done is resubmitted to its
    worker with its own options."""
    _refuse_unplanned_unless_ran(estate_dir, number)
    if distributed:
        _distributed(estate_dir, number, as_json, resume=True, max_resumes=max_resumes,
                     start_timeout=start_timeout)
        return
    from flows.wave import preflight

    where = estate_words(estate_dir)
    preflight(estate_dir, number, resume=True, where=where)  # said before any bar
    _report(_run_with_bar(f"wave {number} (resume)", None, not as_json,
                          estate_dir=estate_dir, number=number, resume=True, where=where),
            as_json, estate_dir)


@wave.command("status")
@click.argument("number", type=int)
@estate_option
@json_option
@handle_errors
def status_cmd(number: int, estate_dir: str, as_json: bool) -> None:
    """Show wave NUMBER as the journal records it: the wave's state, each system's state
    (by name) and every step."""
    status = journaled_wave(estate_dir, number)
    if not status["runs"] and not status.get("pending"):
        _refuse_unplanned(estate_dir, number)
    if as_json:
        print_json(status)
        return
    names = names_of(Estate.load(estate_dir, check=False), "system")
    if not status["runs"]:
        planned = status.get("pending") or []
        console.print(f"[bold]wave {number}[/]: never run — the journal has no run of it; "
                      f"{counted(len(planned), 'system')} planned"
                      + (f": {escape(', '.join(names.get(s) or s for s in planned[:10]))}"
                         + (" …" if len(planned) > 10 else "") if planned else "")
                      + (". R" + escape(start_hint(number, estate_dir))[1:] + "."
                         if planned else
                         _no_plan_hint(estate_dir)))
        return
    counts = state_counts({**dict.fromkeys(status.get("pending") or [], "pending"),
                           **{s["id"]: s["state"] for s in status["systems"]}})
    summary = counts_words(counts)
    console.print(f"[bold]wave {number}[/]: {escape(_wave_words(status, estate_dir))}  ({summary}; "
                  f"runs: {len(status['runs'])})")
    bureaus = estate_names(estate_dir, "bureau")
    for bureau, b in (status.get("bureaus") or {}).items():
        console.print(f"  {escape(label(bureau, bureaus))}: {b['status']} (run {b['run']}, "
                      f"flow run "
                      f"{b.get('flow_run_id') or '-'})")
    systems = Table("system", "state", "steps")
    for s in status["systems"]:
        systems.add_row(label(s["id"], names), _state_words(s["state"]),
                        str(len(s["steps"])))
    for sid in status.get("pending") or []:
        systems.add_row(label(sid, names), "pending", "0")
    console.print(systems)
    hosts = _part_names(estate_dir)
    t = Table("system", "step", "status", "detail")
    for s in status["systems"]:
        for st in s["steps"]:
            t.add_row(names.get(s["id"]) or s["id"], _step_label(st["key"], hosts),
                      st["status"], st.get("error") or "")
    if status["state"] == "cut_over":  # the wave's last step, not a system's
        t.add_row(f"wave {number}", "finalize", "pending",
                  finalize_refusal(number, status["systems"], estate_dir)
                  or f"shangyun wave finalize {number} after the soak period")
    console.print(t)
    for line in _next_commands(number, status["systems"], names, estate_dir):
        console.print(escape(line))


def _next_commands(number: int, systems: list[dict[str, Any]], names: dict[str, str],
                   estate_dir: str) -> list[str]:
    """``next for NAME: …``: the command that takes up each system of the wave that
    came home — rolled back by its run, refused, or failed back — as the runbook's outcome
    says it (run again, with the last run's options; or, failed back, clear its target
    copy), each command accepted as printed (`` --estate DIR`` when it was given one). A
    system a re-plan put in another wave is run there (none when no wave has it)."""
    from shangyun.runbook.sources import plan_files, wave_of_systems

    where, again = estate_words(estate_dir), None
    home = [s for s in systems if s["state"] in (ROLLED_BACK, REFUSED, FAILED_BACK)]
    waves_of = wave_of_systems(plan_files(Path(estate_dir))) if home else {}
    out = []
    for s in home:
        if again is None:
            again = last_run_options(estate_dir, number)
        arg, planned = command_arg("system", s["id"], names), waves_of.get(s["id"])
        run = f"shangyun wave run {planned} --only {arg}{where}{again}"
        back = f"'shangyun wave rollback {number} --system {arg}{where}'"
        who = readable(s["id"], names)
        if s["state"] == FAILED_BACK:
            out.append(f"next for {who} (failed back, its production writes carried home): "
                       + (f"fix the cause, then move it again: '{run}' (its target copy "
                          "brought up to date first), or clear its target copy: "
                          if planned == number else "clear its target copy: ") + back)
        elif planned is not None:
            out.append(f"next for {who} ({state_words(s['state'])}): fix the cause, then "
                       f"run it again: '{run}'")
    return out


def _state_words(state: str) -> str:
    """A system's state as ``wave status`` prints it (:func:`state_words`)."""
    return state_words(state)


def _wave_words(status: dict[str, Any], estate_dir: str | None = None) -> str:
    """The wave's state as ``wave status`` prints it, with what it means when the word
    alone would not say: cut over (awaiting finalize, the source kept for fail-back), or
    rolled back by the operator's command (who, when), or failed because its last run was
    interrupted (Ctrl-C, a stop signal: nothing failed — it said "failed" alone)."""
    from shangyun.journal.status import RUN_INTERRUPTED

    state, number = status["state"], status["wave"]
    words = state.replace("_", " ")
    refusal = finalize_refusal(number, status.get("systems") or [], estate_dir) \
        if state == "cut_over" else None
    if refusal:
        return f"{words} — {refusal}"
    if state == "cut_over":
        return (f"{words} — awaiting finalize (the source is kept for fail-back; next: "
                f"shangyun wave finalize {number}"
                f"{estate_words(estate_dir) if estate_dir else ''} after the soak period)")
    last = next((r for r in reversed(status.get("runs") or [])
                 if (r.get("kind") or "run") == "run"), None)
    if state in ("failed", "partial") and last and last.get("reason") == RUN_INTERRUPTED:
        return (f"{words} — its last run was interrupted (Ctrl-C or a stop signal) and "
                "rolled back what it was moving")
    by = status.get("rolled_back_by")
    if by and state in ("rolled_back", "partly_rolled_back"):
        system = by.get("system")
        names = estate_names(estate_dir, "system") if system and estate_dir else {}
        command = f"shangyun wave rollback {number}" + (
            f" --system {command_arg('system', system, names)}" if system else "") + (
            estate_words(estate_dir) if estate_dir else "")
        return (f"{words} by the operator's '{command}' "
                f"({by.get('operator') or '?'}, {_utc(by.get('at'))}; not a failure, "
                "nothing to decide)")
    return words


def _utc(at: object) -> str:
    """A journal time as the runbook prints it, in UTC (``2026-12-07 13:41:07 UTC``);
    ``?`` when there is none."""
    if not at:
        return "?"
    try:
        t = at if isinstance(at, datetime) else datetime.fromisoformat(str(at))
    except ValueError:
        return str(at)
    t = t.astimezone(UTC) if t.tzinfo else t  # the journal writes naive UTC
    return t.strftime("%Y-%m-%d %H:%M:%S UTC")


@wave.command("rollback")
@click.argument("number", type=int)
@estate_option
@click.option("--system", "system", help="Roll (or fail) back only this system (id or name), "
              "with the other members of its move group (a move group comes back together).")
@click.option("--distributed", is_flag=True,
              help="Undo each bureau's share on its worker (each system under its lock).")
@click.option("--fail-back", "fail_back", is_flag=True,
              help="Put cut-over (or DNS-switched) systems (--system and its move group, "
                   "or every such system of the wave) back on their sources WITH the "
                   "writes made on their targets: freeze "
                   "the target, reverse delta target → source, verify, then DNS back, "
                   "source writable and restarted. Resumable: run it again after a crash.")
@click.option("--discard-production-writes", "discard", is_flag=True,
              help="Roll back cut-over systems too, dropping every write made on their "
                   "targets since the cutover — or since the DNS switch of a system "
                   "stopped before its cutover (audited).")
@json_option
@handle_errors
def rollback_cmd(number: int, estate_dir: str, system: str | None, distributed: bool,
                 fail_back: bool, discard: bool, as_json: bool) -> None:
    """Undo wave NUMBER (or one system) from the journal alone, newest step first.

    Refused after finalize, and for a cut-over system (its target is production) unless
    --fail-back (its production writes carried back to the source, verified) or
    --discard-production-writes (dropped, audited); likewise for a system whose DNS was
    switched before its cutover and whose target took writes since the verify (finish
    it with 'wave resume', carry them home with --fail-back, or
    --discard-production-writes)."""
    from actions.rollback import fail_back as run_fail_back
    from actions.rollback import rollback

    if fail_back and (discard or distributed):
        raise click.UsageError("--fail-back carries production writes back locally: not "
                               "with --discard-production-writes or --distributed")

    status = journaled_wave(estate_dir, number)
    if not status["runs"]:
        _refuse_unplanned(estate_dir, number)
    if not [r for r in status["runs"] if r.get("kind") != "rollback"]:
        raise PlanError(f"wave {number} was never run (the journal of {estate_dir} has no run "
                        "of it): nothing to roll back")
    if system is not None:
        system = resolve_in(estate_dir, "system", system)
    names = estate_names(estate_dir, "system")
    if system and system not in {s["id"] for s in status["systems"]}:
        listed = ", ".join(readable(s["id"], names) for s in status["systems"]) or "-"
        raise PlanError(f"system {readable(system, names)} has no step in wave {number}: "
                        f"nothing to roll back (its systems: {listed})")
    if distributed:
        if system:
            raise click.UsageError("--system and --distributed: roll one system back "
                                   "locally (the journal and locks are shared)")
        _rollback_distributed(estate_dir, number, as_json)
        return
    group = _group_members(estate_dir, number, system,
                           {s["id"] for s in status["systems"]}) if system else []
    if group and not as_json:
        console.print(f"{escape(readable(system, names))} moves in one move group with "
                      f"{escape(', '.join(readable(s, names) for s in group))}: "
                      f"{'failing' if fail_back else 'rolling'} back the whole group (a move "
                      "group moves and comes back together)")
    if fail_back:
        _fail_back(run_fail_back(estate_dir, number, system, group=group), number, as_json,
                   names, group)
        return
    reports = rollback(estate_dir, number, system, discard_production_writes=discard,
                       group=group, where=estate_words(estate_dir))
    hosts = _part_names(estate_dir)
    data = [{"system": r.system_id, "name": names.get(r.system_id, ""), "undone": r.undone,
             "failed": r.failed} for r in reports]
    if as_json:
        ok = all(r.ok for r in reports)
        why = "; ".join(f"{readable(r.system_id, names)}: undo of {_step_label(key, hosts)} "
                        f"failed: {err}" for r in reports for key, err in r.failed.items())
        print_json({"wave": number, "ok": ok, **({} if ok else {"error": why}),
                    "group": group, "systems": data})
    else:
        for r in reports:
            mark = "[green]rolled back[/]" if r.ok else "[red]ROLLBACK FAILED[/]"
            console.print(f"{escape(readable(r.system_id, names))}: {mark} "
                          f"({counted(len(r.undone), 'step')} undone)")
            for key, err in r.failed.items():
                console.print(f"  [red]failed[/] {escape(_step_label(key, hosts))}: "
                              f"{escape(err)}")
    if not all(r.ok for r in reports):
        raise SystemExit(1)


def _group_members(estate_dir: str, number: int, system: str,
                   journaled: set[str]) -> list[str]:
    """The other members of ``system``'s move group in wave ``number`` (the plan's) that
    have steps in the journal (``journaled``): ``wave rollback --system`` undoes them with
    it, a move group being moved and brought back together. Empty when the plan cannot be
    read (the system alone is rolled back)."""
    from shangyun.wave.plan import load_wave

    try:
        groups = load_wave(estate_dir, number).move_groups
    except ShangyunError:
        return []
    members = next((g for g in groups.values() if system in g), [])
    return [s for s in members if s != system and s in journaled]


def _fail_back(results: list[dict[str, Any]], number: int, as_json: bool,
               names: dict[str, str], group: list[str] | None = None) -> None:
    """Print a fail-back's results (systems by name); exit 1 unless every system failed
    back. ``group``: the other members of ``--system``'s move group (``--json``)."""
    ok = all(r["state"] == "failed_back" for r in results)
    if as_json:
        print_json({"wave": number, "ok": ok, "group": group or [], "systems": [
            {**r, "name": names.get(r["system"], "")} for r in results]})
    else:
        for r in results:
            who = escape(readable(r["system"], names))
            r = {**r, "error": _readable_error(str(r.get("error") or ""), r["system"])}
            if r["state"] == "failed_back":
                console.print(f"{who}: [green]failed back[/] (production "
                              "writes carried back to the source, verified; DNS back, "
                              "source writable and restarted)")
            elif r["state"] == "refused":
                console.print(f"{who}: [red]fail-back refused[/] — the "
                              f"target stays in production: {escape(r['error'])}")
            else:
                console.print(f"{who}: [red]fail-back stopped[/] past its "
                              f"point of no return: {escape(r['error'])}")
    if not ok:
        raise SystemExit(1)


def _readable_error(error: str, system_id: str) -> str:
    """An error as a person reads it beside the system's name: a leading journal key's
    system id dropped (``s-…/dns: …`` -> ``dns: …``), and a missing-credentials error
    says which variables an S3/Route 53 endpoint reads."""
    if error.startswith(f"{system_id}/"):
        error = error[len(system_id) + 1:]
    if "locate credentials" in error or "no credentials" in error:
        error += (" — set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY for the endpoint "
                  "(the demo prints the lab's: dummy values its moto server does not check)")
    return error


def _step_label(key: str, hosts: dict[str, str]) -> str:
    """A journal key (``s-…/adapt/h-…``) as a person reads it: ``adapt b01-vm`` (the
    system is in its own column; a host by its hostname, a disk by its host's and its own
    name: ``convert vm01 系统盘``; the key itself is in --json)."""
    parts = key.split("/")[1:] or [key]
    return " ".join(hosts.get(p) or p for p in parts)


def _part_names(estate_dir: str) -> dict[str, str]:
    """Id -> how a person names each host (its hostname) and disk (``vm01 系统盘``: its
    host's name and its own) in a step key (empty when the estate cannot be read)."""
    from shangyun.errors import ShangyunError

    try:
        est = Estate.load(estate_dir, check=False)
    except ShangyunError:
        return {}
    hosts = names_of(est, "host")
    out = {i: n for i, n in hosts.items() if n}
    for d in est.rows("disks"):
        host = hosts.get(str(d.get("host_id") or "")) or ""
        raw = d.get("name")
        name = "" if raw is None or raw != raw else str(raw).strip()  # (NaN: no name)
        label = " ".join(x for x in (host, name) if x)
        if label:
            out[str(d["id"])] = label
    return out


def _no_plan_hint(estate_dir: str) -> str:
    """What to do next when a wave has no planned system: plan first, if there is no plan."""
    from shangyun.planner.files import PLAN_FILE

    if (Path(estate_dir) / PLAN_FILE).is_file():
        return "."
    return (f"; there is no plan yet: run 'shangyun plan --estate "
            f"{escape(shell_word(estate_dir))}' first.")


def _refuse_unplanned(estate_dir: str, number: int) -> None:
    """Raise :class:`PlanError` when the estate has a plan and wave ``number`` is not in it
    (:func:`shangyun.runbook.sources.refuse_unplanned`, the one check of every wave
    command)."""
    from shangyun.runbook.sources import refuse_unplanned

    refuse_unplanned(Path(estate_dir), number)


def _refuse_unplanned_unless_ran(estate_dir: str, number: int) -> None:
    """:func:`_refuse_unplanned` for a wave the journal has no run of (a wave that ran stays
    answerable whatever the plan says now); raises :class:`EstateError` when
    ``estate_dir`` is not an estate."""
    if not journaled_wave(estate_dir, number)["runs"]:
        _refuse_unplanned(estate_dir, number)


def _rollback_distributed(estate_dir: str, number: int, as_json: bool) -> None:
    from flows.distributed import rollback_distributed
    from shangyun.cli.worker import _api

    _api(estate_dir)
    out = rollback_distributed(str(Path(estate_dir).resolve()), number, on_event=_event)
    if as_json:
        print_json(out)
    else:
        names = estate_names(estate_dir, "system")
        hosts = _part_names(estate_dir)
        for s in out["systems"]:
            if s["state"] in ("rolled_back", "rolled_back_by_operator"):
                console.print(f"{escape(readable(s['id'], names))}: [green]rolled back[/]")
                continue
            console.print(f"{escape(readable(s['id'], names))}: "
                          f"[red]{s['state'].replace('_', ' ')}[/]")
            for st in s.get("failed_steps") or []:
                why = _readable_error(st["error"], s["id"]) or f"left {st['status']}"
                console.print(f"  [red]{escape(st['status'])}[/] "
                              f"{escape(_step_label(st['key'], hosts))}: {escape(why)}")
        for b in out["bureaus"]:
            if b["outcome"] != "completed":
                console.print(f"bureau {escape(b['bureau'])}: [red]{escape(b['outcome'])}[/] "
                              f"{escape(b.get('message') or '')}")
    if not out["ok"]:
        raise SystemExit(1)


def _report(result: dict[str, Any], as_json: bool, estate_dir: str | None = None) -> None:
    """Print a run's result (``--json``: the result with ``ok`` and, when a system is not
    done, ``error`` naming each one and why); exit 1 unless the wave is done."""
    if as_json:
        ok = result["state"] == "done"
        print_json({"ok": ok, **({} if ok else {"error": _run_error(result)}), **result})
    else:
        # the wave's one state and counts, as 'wave status' says them (the run's own
        # "done" would call a wave done that is cut over, awaiting finalize)
        words = _wave_words({"state": result.get("wave_state") or result["state"],
                             "wave": result["wave"],
                             "systems": [{"id": s["id"], "state": s.get("journal_state")
                                          or s["state"]} for s in result["systems"]]},
                            estate_dir)
        summary = f"  ({escape(result['summary'])})" if result.get("summary") else ""
        console.print(f"[bold]wave {result['wave']}[/]: {escape(words)}{summary}")
        for s in result["systems"]:
            shown = (s["journal_state"] if s["state"] == "done" and s.get("journal_state")
                     else s["state"])
            colour = {"done": "green", "failed": "red", "rolled_back": "yellow",
                      "cut_over": "cyan"}.get(shown, "white")
            word = _state_words(shown)
            error = s.get("error")
            if s["state"] == "cut_over":  # this run did not touch it: say what it is now
                word = ("done (finalized; left alone)" if s.get("journal_state") == "done"
                        else "cut over (left alone)")
            if s["state"] == SKIPPED:  # never started: the journal's word, as the summary
                word = (f"{_state_words(s.get('journal_state') or PENDING)} — not started"
                        + (f" ({error})" if error else ""))
                error = None
            console.print(f"  {escape(s.get('label') or s.get('name') or s['id'])}: "
                          f"[{colour}]{escape(word)}[/] "
                          f"{escape(error)}")
    if result["state"] != "done":
        raise SystemExit(1)




def _run_error(result: dict[str, Any]) -> str:
    """One text for a run whose wave is not done: which systems are not, and each one's
    error (the run's error when it failed before its systems)."""
    from flows.wave import failed_message
    from shangyun.wave.state import FINISHED

    bad = [s for s in result.get("systems") or [] if s["state"] not in FINISHED]
    if not bad:
        return str(result.get("error") or f"wave {result['wave']}: {result['state']}")
    why = "; ".join(" ".join(str(s["error"]).split()) for s in bad[:10] if s.get("error"))
    return failed_message(result) + (f" ({why})" if why else "")


def start_hint(number: int, estate_dir: str) -> str:
    """How to start wave ``number``: its dry run, then the run with the target cloud it needs
    (a libvirt run without ``--target-uri`` is refused, so the bare command would be)."""
    where = estate_words(estate_dir)
    return (f"rehearse it with 'shangyun wave run {number}{where} --dry-run', then start it "
            f"with 'shangyun wave run {number}{where} --target-uri URI' (the target cloud's "
            "libvirt URI; or --target ec2 --ec2-endpoint URL --region R)")


@wave.command("finalize")
@click.argument("number", type=int)
@estate_option
@click.option("--soak-hours", type=click.FloatRange(min=0), default=None,
              help="Override the soak period of plan/cutover.yaml (default 72 h).")
@json_option
@handle_errors
def finalize_cmd(number: int, estate_dir: str, soak_hours: float | None, as_json: bool) -> None:
    """Close wave NUMBER once every system is cut over and the soak period is over.

    Refuses, listing every reason, otherwise. The source systems are never deleted.
    """
    from actions.finalize import finalize_wave

    if not journaled_wave(estate_dir, number)["runs"]:
        _refuse_unplanned(estate_dir, number)
        from shangyun.planner.files import PLAN_FILE

        # no plan: plan first (the dry run it would suggest needs a plan too)
        nxt = (start_hint(number, estate_dir) if (Path(estate_dir) / PLAN_FILE).is_file()
               else "there is no plan yet: run 'shangyun plan --estate "
                    f"{shell_word(estate_dir)}' first")
        raise PlanError(f"wave {number} was never run (the journal of {estate_dir} has no run "
                        f"of it): nothing to finalize; {nxt}")
    out = finalize_wave(estate_dir, number, soak_hours=soak_hours,
                        where=estate_words(estate_dir))
    out["dashboard"] = _finalized_on_dashboard(estate_dir, number)
    if as_json:
        print_json(out)
        return
    if out["already"]:
        console.print(f"[bold]wave {number}[/]: already finalized at {_utc(out['finalized_at'])} "
                      f"({counted(len(out['systems']), 'system')}); nothing was done")
        return
    console.print(f"[bold]wave {number}[/]: [green]finalized[/] ("
                  f"{counted(len(out['systems']), 'system')}, last cutover "
                  f"{_utc(out['last_cutover'])}, soak "
                  f"{out['soak_hours']:g} h); the source systems were not touched")
    if out["dashboard"].get("error"):
        err_console.print(f"warning: {out['dashboard']['error']}")


def _finalized_on_dashboard(estate_dir: str, number: int) -> dict[str, Any]:
    """Rename the wave's finished flow runs ``Finalized`` on the dashboard (they ended
    ``AwaitingFinalize``: cut over, the source kept for fail-back), in the wave state's
    words. The journal is the record: a dashboard that is not running is skipped, one that
    fails is a warning (``error``), never a failed finalize; a flow run the dashboard does
    not have (the run was made on the command's temporary server: no ``PREFECT_API_URL``,
    no ``shangyun server``) is listed in ``not_on_dashboard``, not a warning — there is
    nothing there to rename (it was a 404 warning)."""
    from connectors.journal.history import open_reader
    from connectors.prefect_server import (
        NotOnServer,
        ServerError,
        dashboard,
        set_flow_run_state,
    )
    from shangyun.wave.dashboard import dashboard_lang, flow_run_state
    from shangyun.wave.state import WAVE_DONE

    info = dashboard(estate_dir)
    if info is None:
        return {"flow_runs": []}
    with open_reader(estate_dir) as history:
        ids = [r.flow_run_id for r in (history.runs(wave=number) if history else [])
               if r.kind == "run" and r.status == "done" and r.flow_run_id]
    name, message = flow_run_state(number, WAVE_DONE, dashboard_lang(os.environ),
                                   finalized=True)
    elsewhere: list[str] = []
    try:
        for flow_run_id in ids:
            try:
                set_flow_run_state(info, flow_run_id, "COMPLETED", name, message)
            except NotOnServer:
                elsewhere.append(flow_run_id)
    except ServerError as exc:
        return {"flow_runs": ids, "error": f"the dashboard ({info.ui_url}) still shows wave "
                f"{number} awaiting finalize: {exc}"}
    shown = [i for i in ids if i not in elsewhere]
    out: dict[str, Any] = {"flow_runs": shown, "state": name}
    if elsewhere:
        out["not_on_dashboard"] = elsewhere
    return out
