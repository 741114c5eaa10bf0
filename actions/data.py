"""The data step actions of a cutover: initial copy and final delta of databases and file
sets, and the end-to-end verification that refuses a cutover on any difference.

No Prefect here; every undo works from the journaled payload. The source's data is only
read, never changed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from actions.context import RunContext
from connectors import files
from connectors.database import DbEndpoint, mariadb, postgres
from connectors.database.common import TableDigest
from shangyun.errors import (
    ConnectorError,
    InProductionError,
    StepError,
    TransientError,
    VerificationError,
)
from shangyun.estate.names import readable
from shangyun.journal.status import DONE, UNDONE
from shangyun.wave.engine import cut_over, refuse_in_production
from shangyun.wave.journal_port import WaveJournal
from shangyun.wave.stepargs import CopyDone, DataItem, VerifyArgs, as_record, from_record
from shangyun.wave.steps import Step


def db_endpoint(side: Mapping[str, Any], where: str) -> DbEndpoint:
    """A :class:`DbEndpoint` from a cutover file entry; the password only from the
    environment variable it names."""
    password = None
    if side.get("password_env"):
        name = str(side["password_env"])
        if name not in os.environ:
            raise StepError(f"{where}: environment variable {name} (the password) is not set")
        password = os.environ[name]
    default_port = 5432 if "postgres" in where else 3306
    return DbEndpoint(str(side["host"]), int(side.get("port") or default_port),
                      str(side["user"]), str(side["dbname"]), password)


def database_sides(item: DataItem) -> tuple[Any, DbEndpoint, DbEndpoint]:
    """The database connector of ``item``'s engine, and its source and target."""
    module = postgres if item.engine == "postgresql" else mariadb
    where = f"{item.engine} {item.id}"
    return module, db_endpoint(item.source, where), db_endpoint(item.target, where)


def read_only_before(ctx: RunContext, step: Step, items: Sequence[DataItem], *,
                     of_target: bool) -> dict[str, Any]:
    """What each database's freeze changes, read before it — of its source, or of its
    target with ``of_target`` — journaled under ``before`` before anything is changed
    (PostgreSQL: the database's read-only setting; MariaDB: the write privileges the
    freeze revokes, :func:`connectors.database.mariadb.frozen_state`, which refuses a
    database only a server-wide read-only could freeze). The freeze revokes exactly that
    and its undo grants exactly that back, after a crash too. A resumed freeze keeps the
    first reading: a second would see the freeze's own."""
    before: dict[str, Any] = ctx.saved_state(step, "before") or {}
    for item in items:
        if item.id not in before:
            engine, src, dst = database_sides(item)
            before[item.id] = engine.frozen_state(dst if of_target else src)
    ctx.save_state(step, "before", before)
    return before


def refuse_production_target(ctx: RunContext, step: Step, *, elsewhere: bool = True) -> None:
    """Refuse (:class:`shangyun.errors.InProductionError`) to copy, reload or verify into a
    target that is in production: the journal says the system is cut over. Its target
    holds writes the frozen source never saw; a delta would reload stale tables, drop
    target-only ones and ``rsync --delete`` new files. With ``elsewhere`` also when
    another system of the journal is in production on the step's target
    (:func:`refuse_target_elsewhere`)."""
    if ctx.journal is not None:
        refuse_in_production(ctx.journal, ctx.wave, step.system_id, f"{step.kind} {step.key}",
                             ctx.names)
    if elsewhere:
        refuse_target_elsewhere(ctx, step)


def refuse_target_elsewhere(ctx: RunContext, step: Step) -> None:
    """Refuse (:class:`InProductionError`) a ``copy``, ``delta`` or ``verify`` whose target
    another system of the journal is in production on (:func:`production_elsewhere`)."""
    if ctx.journal is not None:
        items = ([step.args_as(DataItem)] if step.kind in ("copy", "delta") else
                 list(step.args_as(VerifyArgs).items) if step.kind == "verify" else [])
        for item in items:
            other = production_elsewhere(ctx.journal, ctx.wave, step.system_id, item)
            if other is not None:
                raise InProductionError(
                    f"{ctx.who(step.system_id)}: {step.kind} {step.key} refused: its "
                    f"target {_where(item)} is {readable(other[1], ctx.names)}'s in wave "
                    f"{other[0]}, which is in production there (the journal shows it cut over "
                    "or its DNS switched to it); a copy would overwrite the writes made there. "
                    "If the estate renamed that system or moved it to another bureau, it is "
                    f"the same system: take {ctx.who(step.system_id)} out of wave "
                    f"{ctx.wave} (shangyun plan --exclude), or give it its own target in "
                    "plan/cutover.yaml")


def _target_key(item: DataItem) -> tuple[str, ...]:
    """What a copy writes into: the database (engine, host, port, name) or the folder."""
    return _key_of(item.kind, item.engine, item.target)


def _key_of(kind: Any, engine: Any, target: Any) -> tuple[str, ...]:
    """:func:`_target_key` of an item's fields (as journaled: no record made per copy)."""
    if kind == "db" and isinstance(target, Mapping):
        return (str(engine), str(target.get("host") or "").lower(),
                str(target.get("port") or ""), str(target.get("dbname") or ""))
    return (str(kind), str(target))


def _where(item: DataItem) -> str:
    key = _target_key(item)
    return (f"{key[0]} database {key[3]} on {key[1]}:{key[2]}" if item.kind == "db"
            else f"folder {key[1]}")


def production_elsewhere(journal: WaveJournal, wave: int, system_id: str,
                         item: DataItem) -> tuple[int, str] | None:
    """(wave, system) of another system of the journal whose copy wrote into ``item``'s
    target and which is in production there — cut over, or its DNS switched to the target
    (:func:`traffic_switched`) — or None. The same system under another id (a re-import
    renamed it, or moved it to another bureau: ids derive from both) would otherwise copy
    its frozen source over its own production target. One read of the journal
    (:meth:`WaveJournal.production_copies`), whatever the size of the programme."""
    want = _target_key(item)
    for w, rec in journal.production_copies():
        if (w, rec.system_id) == (wave, system_id):
            continue
        data = rec.payload.get("item")
        if rec.kind != "copy" or not data:
            continue
        if _key_of(data.get("kind"), data.get("engine"), data.get("target")) == want:
            return w, rec.system_id
    return None


def reused_after_switch(ctx: RunContext, step: Step) -> bool:
    """Whether a journaled ``delta`` or ``verify`` is reused rather than run again: DNS
    was switched to the target (:func:`traffic_switched`) and the system is not cut over
    (a cut-over system's steps refuse to run: :func:`refuse_production_target`)."""
    return (traffic_switched(ctx.journal, ctx.wave, step.system_id) and ctx.journal is not None
            and not cut_over(ctx.journal, ctx.wave, step.system_id))


def traffic_switched(journal: WaveJournal | None, wave: int, system_id: str) -> bool:
    """Whether the system's ``dns`` step was started and not undone: from then on users
    may reach the target and write there, although the system is not cut over yet (a run
    killed, or failed, between the DNS switch and the ``cutover`` mark)."""
    if journal is None:
        return False
    rec = journal.last(wave, system_id, f"{system_id}/dns")
    return rec is not None and rec.status != UNDONE


def target_writes_since_verify(journal: WaveJournal, wave: int, system_id: str) -> list[str]:
    """The target tables that changed since the ``verify`` step of a system whose DNS was
    switched to the target (:func:`traffic_switched`): writes its users made there, which
    a delta would overwrite and a rollback would drop. Empty when DNS was not switched.
    Each is said as ``postgresql main: public.people (500 rows at the verify, 501 now)``."""
    if not traffic_switched(journal, wave, system_id):
        return []
    verify = journal.last(wave, system_id, f"{system_id}/verify")
    if verify is None or verify.status != DONE:
        return []
    verified = verify.payload.get("verified") or {}
    out: list[str] = []
    for rec in journal.records(wave, system_id):
        if rec.kind != "copy" or rec.status != DONE or not rec.payload.get("item"):
            continue
        item = from_record(DataItem, rec.payload["item"])
        if item.kind != "db" or item.id not in verified:
            continue
        mod, _, dst = database_sides(item)
        then = {t: TableDigest.from_dict(d) for t, d in verified[item.id].items()}
        now = mod.digests(dst)
        for table in sorted(set(then) | set(now)):
            a, b = then.get(table), now.get(table)
            if a is not None and b is not None and (a.rows, a.checksum) == (b.rows, b.checksum):
                continue
            how = ("new since the verify" if a is None else "dropped since the verify"
                   if b is None else f"{a.rows} rows at the verify, {b.rows} now"
                   if a.rows != b.rows else "changed since the verify")
            out.append(f"{item.engine} {item.id}: {table} ({how})")
    return out


def ssh_source(item: DataItem) -> files.SshSource:
    """The SSH source of a file set."""
    s = item.source
    return files.SshSource(str(s["host"]), int(s.get("port") or 22), str(s["user"]),
                           str(s["key_file"]), str(s["known_hosts"]), str(s["path"]))


@dataclass
class CopyAction:
    """Initial copy of a database or a file set while the source runs."""

    ctx: RunContext
    #: its undo drops/deletes: the engine first checks the step's audit record
    destructive_undo: ClassVar[bool] = True

    def do(self, step: Step, done: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
        """Copy; returns what was copied and (databases) the source's server identity, the
        only database a fail-back may write into. Refused when the system is cut over, and
        untouched when another system is in production on its target."""
        refuse_production_target(self.ctx, step, elsewhere=False)
        a = step.args_as(DataItem)
        # journaled first: until the target is known to be ours to write, nothing is made
        # there (the undo then has nothing to drop or remove) — unless an earlier attempt
        # of this step (a crashed run) may have made something
        if not (self.ctx.saved_state(step, "target") or {}).get("touched"):
            self.ctx.save_state(step, "target", {"touched": False})
        refuse_target_elsewhere(self.ctx, step)  # another system's production: untouched
        if a.kind == "db":
            mod, src, dst = database_sides(a)
            # journaled first: until the target's server answers, nothing is made there
            # (the undo then has nothing to drop, and does not need the server) — unless
            # an earlier attempt of this step (a crashed run) may have made something
            try:
                exists = mod.database_exists(dst)
            except ConnectorError as exc:
                why = " ".join(str(exc).split())
                cls = TransientError if isinstance(exc, TransientError) else StepError
                raise cls(f"system {self.ctx.who(step)}: {a.engine} {a.id}: the target "
                          f"database server does not answer; nothing was created there: "
                          f"{why}") from exc
            if exists:  # not ours, or our copy of another source: refused untouched (the
                # undo then drops nothing — it may be another estate's production)
                try:
                    mod.require_replaceable(src, dst)
                except StepError as exc:
                    raise StepError(f"system {self.ctx.who(step)}: {a.engine} {a.id}: "
                                    f"{exc}; nothing was changed there") from exc
            self.ctx.save_state(step, "target", {"touched": True})
            done_copy = mod.initial_copy(src, dst).to_dict()
            return as_record(CopyDone(done_copy, mod.source_identity(src)))
        self.ctx.save_state(step, "target", {"touched": True})
        return as_record(CopyDone(files.sync(ssh_source(a), a.target).to_dict()))

    def still_valid(self, step: Step, payload: Mapping[str, Any]) -> bool:
        """The copy is still there (the delta brings it up to date)."""
        a = step.args_as(DataItem)
        if a.kind == "db":
            mod, _, dst = database_sides(a)
            return bool(mod.database_exists(dst))
        return Path(a.target, files.MARKER).exists()

    def undo(self, payload: Mapping[str, Any]) -> None:
        """Drop the target database / remove the copied folder; never the source."""
        if not payload.get("item"):
            return
        item = from_record(DataItem, payload["item"])
        if (payload.get("target") or {}).get("touched") is False:
            return  # stopped before anything was made there (refused, server down)
        if item.kind == "db":
            mod, src, dst = database_sides(item)
            mod.drop_database(dst, source=src)
        else:
            files.remove_copy(item.target)


@dataclass
class DeltaAction:
    """Final delta of one item once the source is frozen."""

    ctx: RunContext

    def do(self, step: Step, done: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
        """Re-copy what changed since the initial copy. Refused when the system is cut
        over (the target, not the frozen source, holds the newest data)."""
        refuse_production_target(self.ctx, step)
        a = step.args_as(DataItem)
        if a.kind == "db":
            mod, src, dst = database_sides(a)
            return as_record(CopyDone(mod.final_delta(src, dst).to_dict()))
        return as_record(CopyDone(files.sync(ssh_source(a), a.target).to_dict()))

    def still_valid(self, step: Step, payload: Mapping[str, Any]) -> bool:
        """Never trusted on resume (the delta is cheap when nothing changed) — unless DNS
        was switched to the target since: its users may have written there, and a delta
        would reload those tables from the frozen source."""
        return reused_after_switch(self.ctx, step)

    def undo(self, payload: Mapping[str, Any]) -> None:
        """Nothing: the copy's undo removes the target data."""


@dataclass
class VerifyAction:
    """Every item compared end to end; any difference refuses the cutover."""

    ctx: RunContext

    def do(self, step: Step, done: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
        """Verify all items; one VerificationError naming every item and table that differs.
        Refused when the system is cut over (the target has moved on from the source)."""
        refuse_production_target(self.ctx, step)
        return {"verified": verify_items(step.args_as(VerifyArgs).items,
                                         f"system {self.ctx.who(step)}: cutover refused")}

    def still_valid(self, step: Step, payload: Mapping[str, Any]) -> bool:
        """Never trusted on resume: verify again — unless DNS was switched to the target
        since (its users' writes there are no difference to refuse the cutover for)."""
        return reused_after_switch(self.ctx, step)

    def undo(self, payload: Mapping[str, Any]) -> None:
        """Nothing to undo."""


def verify_items(items: list[DataItem], refusal: str, *,
                 reverse: bool = False) -> dict[str, Any]:
    """Compare every item end to end — databases by per-table row count and checksum,
    file sets by rsync's checksum dry run and both SHA-256 manifests — and return what
    was verified; one :class:`VerificationError` (``refusal: …``) naming every item and
    table that differs. ``reverse``: a fail-back's check, named target → source."""
    out: dict[str, Any] = {}
    problems: list[str] = []
    for item in items:
        try:
            if item.kind == "db":
                mod, src, dst = database_sides(item)
                found = mod.verify(dst, src) if reverse else mod.verify(src, dst)
                out[item.id] = {t: d.to_dict() for t, d in sorted(found.items())}
            else:
                manifest = files.verify(ssh_source(item), item.target)
                out[item.id] = {"files": len(manifest)}
        except VerificationError as exc:
            problems.append(str(exc))
    if problems:
        raise VerificationError(f"{refusal}: " + " | ".join(problems))
    return out
