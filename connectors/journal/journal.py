"""The journal: the durable record of every run and step, read by resume and rollback.

Every public method is one database transaction, committed before it returns, so what a
step recorded survives ``kill -9`` of the orchestrator. Every change of a run or a step
is also appended to the audit log (:mod:`connectors.journal.audit`) in the same transaction.
See ``docs/journal.md`` for how the wave flow uses it.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Engine, and_, exists, func, inspect, or_, select
from sqlalchemy.exc import DatabaseError, IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.orm import Session, aliased

from connectors.journal import audit as audit_store
from connectors.journal.heads import HeadKeeper
from connectors.journal.liveness import is_alive, process_start, this_host
from connectors.journal.migrate import migrate
from connectors.journal.models import (
    SCHEMA_VERSION,
    AuditRow,
    Base,
    FenceRow,
    Meta,
    RunRow,
    StepRow,
)
from connectors.journal.store import JOURNAL_FILE, display, lock_for_write, make_engine, resolve
from shangyun.digest import DEFAULT_ALGORITHM, check_algorithm
from shangyun.errors import SchemaVersionError
from shangyun.journal import audit as audit_log
from shangyun.journal.fence import FencedWriteError, fence_of
from shangyun.journal.records import (
    JournalError,
    NoJournal,
    Run,
    RunBusyError,
    StepEntry,
    StepStart,
)
from shangyun.journal.status import (
    DONE,
    FAILED,
    NEEDS_UNDO,
    RUN_CRASHED,
    RUN_DONE,
    RUN_INTERRUPTED,
    RUN_KINDS,
    RUN_RUNNING,
    RUN_STATUSES,
    STARTED,
    UNDO_BY,
    UNDO_FAILED,
    UNDO_TIMING,
    UNDOING,
    UNDONE,
)

T = TypeVar("T")
_RETRIES = 10
"""Attempts of one transaction before its error is raised (conflicts, busy, serialization)."""
_BACKOFF = 0.01
_BACKOFF_MAX = 0.5
SERIALIZATION_SQLSTATES = frozenset({"40001", "40P01"})
"""PostgreSQL's serialization failure and deadlock: the transaction is simply retried."""


_FULL = "disk is full"
"""SQLite's (and the OS's) words for a full disk: never retried."""


def _full_hint(target: str) -> str:
    """`` (the disk holding it is full)`` when the journal's folder has no space left."""
    if "://" in target:
        return ""
    folder = target if os.path.isdir(target) else os.path.dirname(target) or "."
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return ""
    return " (the disk holding it is full)" if free < 64 * 1024 else ""


def _backoff(attempt: int) -> float:
    """Seconds to wait before attempt ``attempt + 1``: exponential, capped, jittered (so
    two workers that collided do not collide again in step)."""
    return min(_BACKOFF_MAX, _BACKOFF * 2 ** attempt) * random.uniform(0.5, 1.5)


def _sqlstate(exc: Exception) -> str | None:
    """The SQLSTATE of a database error (psycopg's ``sqlstate``), if it has one."""
    orig = getattr(exc, "orig", None)
    return getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _aware(t: dt.datetime | None) -> dt.datetime | None:
    return t.replace(tzinfo=dt.UTC) if t is not None else None


def _run(r: RunRow) -> Run:
    """The record of a stored run."""
    return Run(r.id, r.wave, r.status, r.operator, r.host, r.pid,
               _aware(r.started_at), _aware(r.heartbeat_at),  # type: ignore[arg-type]
               _aware(r.ended_at), r.resumes, r.note, r.reason, r.kind or "run", r.bureau,
               dict(r.options) if r.options is not None else None, r.only, r.flow_run_id,
               dict(r.params or {}))


def _entry(r: StepRow) -> StepEntry:
    """The record of a stored step."""
    return StepEntry(r.id, r.run_id, r.wave, r.system, r.step, r.status, r.attempt,
                     _aware(r.started_at), _aware(r.ended_at),  # type: ignore[arg-type]
                     _aware(r.updated_at), r.error, dict(r.undo or {}),  # type: ignore[arg-type]
                     dict(r.result or {}))


def _run_id(r: Run | str) -> str:
    return r if isinstance(r, str) else r.id


class Journal:
    """The journal of one estate (SQLite) or one programme database (PostgreSQL).

    Open it with :meth:`open`; every method commits before returning.
    """

    def __init__(self, engine: Engine, url: str, *, operator: str | None = None,
                 target: str | None = None, keeper: HeadKeeper | None = None) -> None:
        self.engine = engine
        #: the audit key and head log (outside the journal) that key and publish the head
        self.keeper = keeper or HeadKeeper.from_env()
        self.url = display(url)
        #: what it was opened with (an estate folder, a ``.db`` file or a URL)
        self.target = target or url
        self.operator = audit_log.operator_name(operator)
        self.algorithm = DEFAULT_ALGORITHM

    # -- opening -----------------------------------------------------------------------
    @classmethod
    def open(cls, target: str | os.PathLike[str], *, algorithm: str | None = None,
             create: bool = True, operator: str | None = None,
             keeper: HeadKeeper | None = None) -> Journal:
        """Open (and, with ``create``, create) the journal of an estate folder or URL.

        ``algorithm`` (``sha256`` or ``sm3``) chooses the audit chain's hash when the
        journal is created; opening an existing journal with a different one is an error.
        ``keeper``: the audit key and head log (default: the environment's,
        :meth:`HeadKeeper.from_env`); a key inside the estate is refused.
        """
        url, path = resolve(target)
        if not create and path is not None and not path.exists():
            raise NoJournal(f"no journal at {path}")
        alg = check_algorithm(algorithm) if algorithm else None
        keeper = keeper or HeadKeeper.from_env()
        if path is not None and path.name == JOURNAL_FILE:
            keeper.refuse_inside(path.parent)
        engine = make_engine(url)
        journal = cls(engine, url, operator=operator, target=os.fspath(target), keeper=keeper)
        try:
            journal._init_schema(alg, create)
        except BaseException:
            engine.dispose()
            raise
        return journal

    def _init_schema(self, algorithm: str | None, create: bool) -> None:
        try:
            exists = inspect(self.engine).has_table(Meta.__tablename__)
        except OperationalError as exc:
            raise JournalError(f"cannot open journal {self.url}: {exc.orig}"
                               f"{_full_hint(self.target)}") from None
        except DatabaseError as exc:  # e.g. garbage bytes in journal.db
            raise JournalError(f"journal {self.url} is not a readable journal database "
                               f"({exc.orig}); restore it from a backup") from None
        if not exists:
            if not create:
                raise NoJournal(f"no journal at {self.url}")
            self._create_tables()

        def init(s: Session) -> str:
            version = s.get(Meta, "schema_version")
            if version is None:
                s.add(Meta(key="schema_version", value=str(SCHEMA_VERSION)))
                audit_store.set_algorithm(s, algorithm or DEFAULT_ALGORITHM)
                return algorithm or DEFAULT_ALGORITHM
            found = int(version.value)
            if found > SCHEMA_VERSION:
                raise SchemaVersionError(
                    f"journal {self.url} has schema version {found}, newer than this "
                    f"shangyun reads ({SCHEMA_VERSION}): upgrade shangyun to open it")
            recorded = audit_store.get_algorithm(s) or DEFAULT_ALGORITHM
            if algorithm and algorithm != recorded:
                raise JournalError(
                    f"journal {self.url} chains its audit log with {recorded}, not "
                    f"{algorithm}; the algorithm is fixed when a journal is created")
            if found < SCHEMA_VERSION:
                migrate(s, found)
                version.value = str(SCHEMA_VERSION)
                audit_store.append(s, action="journal migrate", result="done",
                                   operator=self.operator, algorithm=recorded,
                                   keeper=self.keeper,
                                   details={"from": found, "to": SCHEMA_VERSION})
            return recorded

        self.algorithm = self._tx(init)

    def _create_tables(self) -> None:
        """Create the tables; another process creating them at the same time is fine."""
        for attempt in range(_RETRIES):
            try:
                Base.metadata.create_all(self.engine)
                return
            except (IntegrityError, OperationalError, ProgrammingError) as exc:
                # e.g. PostgreSQL's "duplicate table" when two processes race to create
                if attempt == _RETRIES - 1:
                    raise JournalError(f"cannot create journal {self.url}: {exc.orig}") from None
                time.sleep(0.1 * (attempt + 1))

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transactions ------------------------------------------------------------------
    def _retry(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` (one whole transaction), again after a conflict: a unique-key race, a
        busy SQLite, a lost connection, or a PostgreSQL serialization failure or deadlock
        (SQLSTATE 40001/40P01, which SERIALIZABLE transactions are expected to meet). At
        most :data:`_RETRIES` attempts; then a :class:`JournalError` naming the journal."""
        for attempt in range(_RETRIES):
            try:
                return fn()
            except (IntegrityError, OperationalError) as exc:
                if _FULL in str(exc.orig).lower():  # a full disk does not clear by retrying
                    raise JournalError(f"journal {self.url}: the disk is full ({exc.orig}); "
                                       f"nothing of this change was written") from None
                if attempt == _RETRIES - 1:
                    what = ("could not serialize the transaction"
                            if _sqlstate(exc) in SERIALIZATION_SQLSTATES else "failed")
                    raise JournalError(f"journal {self.url}: {what} after {_RETRIES} "
                                       f"attempts: {exc.orig}") from None
                time.sleep(_backoff(attempt))
            except DatabaseError as exc:  # corrupt ("malformed"), not a conflict
                raise JournalError(f"journal {self.url} is damaged ({exc.orig}); restore it "
                                   f"from a backup") from None
        raise AssertionError("unreachable")

    def _tx(self, fn: Callable[[Session], T], *, write: bool = True) -> T:
        """Run ``fn`` in one transaction, committed before returning; retried on conflicts.

        ``write`` (the default; pass False only for pure reads): on PostgreSQL the
        transaction first takes the journal's write lock (:func:`store.lock_for_write`),
        before its snapshot, so writers queue as SQLite's ``BEGIN IMMEDIATE`` makes them.
        """

        def once() -> T:
            with Session(self.engine, expire_on_commit=False) as s:
                with s.begin():
                    if write:
                        lock_for_write(s)
                    result = fn(s)
                # committed: publish the new heads (a crash before this leaves the head
                # log one record behind, which the keyed head still covers)
                audit_store.publish_pending(s, self.keeper)
                return result

        return self._retry(once)

    def _audit(self, s: Session, action: str, result: str, *, system: str | None = None,
               run_id: str | None = None, details: Mapping[str, Any] | None = None,
               operator: str | None = None) -> AuditRow:
        return audit_store.append(s, action=action, result=result,
                                operator=operator or self.operator, system=system,
                                run_id=run_id, details=details, algorithm=self.algorithm,
                                keeper=self.keeper)

    # -- runs --------------------------------------------------------------------------
    def begin_run(self, wave: int, operator: str | None = None, note: str | None = None, *,
                  kind: str = "run", bureau: str | None = None,
                  options: Mapping[str, Any] | None = None, only: str | None = None,
                  flow_run_id: str | None = None,
                  params: Mapping[str, Any] | None = None, exclusive: bool = False) -> Run:
        """Start a new run of ``wave`` owned by this process; returns it ``running``.

        ``kind`` (one of :data:`shangyun.journal.RUN_KINDS`), ``bureau`` (None: the whole
        wave), ``options``, ``only``, ``flow_run_id`` and any other ``params`` are recorded
        in their columns; ``note`` is free text. None of them is rewritten later.

        ``exclusive``: in the same transaction (under the journal's write lock, so two
        processes cannot both pass), refuse with :class:`RunBusyError` while a live
        process runs the wave in an overlapping scope (a whole-wave run overlaps every
        run; bureau runs overlap when the bureau is the same), naming its run, pid and
        host."""
        if kind not in RUN_KINDS:
            raise JournalError(f"run kind {kind!r}: choose one of {', '.join(RUN_KINDS)}")
        begun = {"kind": kind, "bureau": bureau,
                 "options": dict(options) if options is not None else None,
                 "only": only, "flow_run_id": flow_run_id, "params": dict(params or {})}
        who = audit_log.operator_name(operator or self.operator)
        now = _now()
        run_id = f"w{wave}-{now:%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"
        pid = os.getpid()

        def go(s: Session) -> Run:
            if exclusive:
                self._refuse_busy(s, wave, bureau)
            row = RunRow(id=run_id, wave=wave, status=RUN_RUNNING, operator=who,
                         host=this_host(), pid=pid, pid_start=process_start(pid),
                         started_at=now, heartbeat_at=now, ended_at=None, resumes=0,
                         note=note, **begun)
            s.add(row)
            given = {k: v for k, v in begun.items() if v not in (None, {})}
            self._audit(s, "run begin", RUN_RUNNING, run_id=run_id, operator=who,
                        details={"wave": wave, "host": row.host, "pid": pid, "note": note,
                                 **given})
            return _run(row)

        return self._tx(go)

    def _refuse_busy(self, s: Session, wave: int, bureau: str | None) -> None:
        host, now = this_host(), _now()
        rows = s.scalars(select(RunRow).where(RunRow.wave == wave,
                                              RunRow.status == RUN_RUNNING))
        for r in rows:
            if r.bureau is not None and bureau is not None and r.bureau != bureau:
                continue
            if r.host == host:
                alive = is_alive(r.pid, r.pid_start)
            else:
                alive = (now - _aware(r.heartbeat_at)).total_seconds() <= 120.0  # type: ignore[operator]
            if not alive:
                continue
            held = f"bureau {r.bureau}" if r.bureau else "the whole wave"
            asked = f"bureau {bureau}" if bureau else "the whole wave"
            raise RunBusyError(
                f"wave {wave} is being run right now for {held} (run {r.id}, pid {r.pid} on "
                f"host {r.host}, since {_aware(r.started_at):%Y-%m-%dT%H:%M:%S}Z), which "
                f"overlaps {asked}; wait for it, or stop it and 'wave resume'")

    def resume_run(self, run_id: str, operator: str | None = None,
                   flow_run_id: str | None = None) -> Run:
        """Take over a run that crashed, failed or was left ``running`` by a dead process.

        A run still owned by a live process, or a run that is done, cannot be resumed.
        ``flow_run_id``: the Prefect flow run that resumes it, recorded as the run's (the
        flow run that finishes it is the one ``wave finalize`` renames and ``status``
        links; the earlier attempt's stays as it ended, in the audit log's details).
        """
        who = audit_log.operator_name(operator or self.operator)
        self.reconcile(run_id=run_id)
        pid = os.getpid()

        def go(s: Session) -> Run:
            row = self._run_row(s, run_id, lock=True)
            if row.status == RUN_DONE:
                raise JournalError(f"run {run_id} (wave {row.wave}) is already done")
            if row.status == RUN_RUNNING and not (row.host == this_host() and row.pid == pid):
                raise JournalError(
                    f"run {run_id} (wave {row.wave}) is still running: pid {row.pid} on "
                    f"host {row.host}, last heartbeat {row.heartbeat_at:%Y-%m-%d %H:%M:%S} "
                    f"UTC")
            before = row.status
            now = _now()
            row.status, row.host, row.pid = RUN_RUNNING, this_host(), pid
            row.pid_start, row.heartbeat_at, row.ended_at = process_start(pid), now, None
            row.reason = None
            row.resumes += 1
            details = {"wave": row.wave, "was": before, "host": row.host, "pid": pid,
                       "resumes": row.resumes}
            if flow_run_id and flow_run_id != row.flow_run_id:
                details.update(flow_run_id=flow_run_id, was_flow_run_id=row.flow_run_id)
                row.flow_run_id = flow_run_id
            self._audit(s, "run resume", RUN_RUNNING, run_id=run_id, operator=who,
                        details=details)
            return _run(row)

        return self._tx(go)

    def heartbeat(self, run: Run | str) -> None:
        """Tell the journal this run's orchestrator is alive (step calls do it too)."""

        def go(s: Session) -> None:
            row = self._run_row(s, _run_id(run))
            if row.status == RUN_RUNNING:
                row.heartbeat_at = _now()

        self._tx(go)

    @contextmanager
    def keepalive(self, run: Run | str, interval: float = 10.0) -> Iterator[None]:
        """Beat the run's heartbeat every ``interval`` seconds while the block runs."""
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(interval):
                try:
                    self.heartbeat(run)
                except JournalError:
                    continue

        thread = threading.Thread(target=beat, name=f"journal-heartbeat-{_run_id(run)}",
                                  daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=interval + 5)

    def finish_run(self, run: Run | str, status: str = RUN_DONE,
                   note: str | None = None) -> Run:
        """End a run as ``done``, ``failed`` or ``aborted``; ``note`` says why (``reason``)."""
        if status not in RUN_STATUSES or status in (RUN_RUNNING, RUN_CRASHED):
            raise JournalError(f"a run cannot be finished as {status!r}")

        def go(s: Session) -> Run:
            row = self._run_row(s, _run_id(run), lock=True)
            row.status, row.ended_at = status, _now()
            if note:
                row.reason = note
            self._audit(s, "run end", status, run_id=row.id,
                        details={"wave": row.wave, "note": note})
            return _run(row)

        return self._tx(go)

    def get_run(self, run_id: str) -> Run:
        """The run ``run_id``; :class:`JournalError` if there is none."""
        return self._tx(lambda s: _run(self._run_row(s, run_id)), write=False)

    def runs(self, wave: int | None = None, status: str | None = None) -> list[Run]:
        """Runs, oldest first, optionally of one wave and/or one status."""

        def go(s: Session) -> list[Run]:
            q = select(RunRow).order_by(RunRow.started_at, RunRow.id)
            if wave is not None:
                q = q.where(RunRow.wave == wave)
            if status is not None:
                q = q.where(RunRow.status == status)
            return [_run(r) for r in s.execute(q).scalars()]

        return self._tx(go, write=False)

    def latest_run(self, wave: int) -> Run | None:
        """The most recent run of ``wave``, or None."""
        runs = self.runs(wave)
        return runs[-1] if runs else None

    def reconcile(self, stale_after: float = 120.0, run_id: str | None = None) -> list[Run]:
        """Mark ``crashed`` every ``running`` run whose orchestrator is dead; return them.

        A run of this host is dead when its pid is gone (or reused, or a zombie); a run of
        another host is dead when its heartbeat is older than ``stale_after`` seconds.
        """

        def go(s: Session) -> list[Run]:
            q = select(RunRow).where(RunRow.status == RUN_RUNNING).with_for_update()
            if run_id is not None:
                q = q.where(RunRow.id == run_id)
            crashed = []
            host, now = this_host(), _now()
            for row in s.execute(q).scalars():
                if row.host == host:
                    dead = not is_alive(row.pid, row.pid_start)
                    why = f"pid {row.pid} is gone"
                else:
                    age = (now - row.heartbeat_at).total_seconds()
                    dead = age > stale_after
                    why = f"no heartbeat from host {row.host} for {age:.0f} s"
                if dead:
                    row.status, row.ended_at, row.reason = RUN_CRASHED, now, why
                    self._audit(s, "run crashed", RUN_CRASHED, run_id=row.id,
                                details={"wave": row.wave, "reason": why})
                    crashed.append(_run(row))
            return crashed

        return self._tx(go)

    def _run_row(self, s: Session, run_id: str, lock: bool = False) -> RunRow:
        q = select(RunRow).where(RunRow.id == run_id)
        row = s.execute(q.with_for_update() if lock else q).scalar_one_or_none()
        if row is None:
            raise JournalError(f"journal {self.url} has no run {run_id!r}")
        return row

    # -- steps -------------------------------------------------------------------------
    def _step_row(self, s: Session, run_id: str, system: str, step: str) -> StepRow | None:
        q = select(StepRow).where(StepRow.run_id == run_id, StepRow.system == system,
                                  StepRow.step == step).with_for_update()
        return s.execute(q).scalar_one_or_none()

    def _need_step(self, s: Session, run_id: str, system: str, step: str) -> StepRow:
        row = self._step_row(s, run_id, system, step)
        if row is None:
            raise JournalError(f"run {run_id}, system {system}: step {step!r} was never "
                               f"started")
        return row

    def _live_run(self, s: Session, run_id: str) -> RunRow:
        run = self._run_row(s, run_id)
        if run.status != RUN_RUNNING and run.reason == RUN_INTERRUPTED:
            raise JournalError(f"run {run_id} was interrupted (Ctrl-C or a stop signal): "
                               "its steps stop here; 'wave run' or 'wave resume' takes the "
                               "wave up again")
        if run.status != RUN_RUNNING:
            raise JournalError(f"run {run_id} is {run.status}, not running: resume it "
                               f"before doing steps")
        run.heartbeat_at = _now()
        return run

    def _fence(self, s: Session, system: str) -> None:
        """Check the fencing token this write for ``system`` carries (none: not fenced)
        against the newest seen, and keep it as the newest; an older one is refused with
        :class:`FencedWriteError` (the transaction rolls back: nothing written)."""
        token = fence_of(system)
        if token is None:
            return
        row = s.get(FenceRow, system)
        if row is None:
            s.add(FenceRow(system=system, token=token))
        elif token < row.token:
            raise FencedWriteError(system, token, row.token)
        else:
            row.token = token
        s.flush()

    def _step_audit(self, s: Session, row: StepRow, **details: Any) -> None:
        self._audit(s, f"step {row.step}", row.status, system=row.system, run_id=row.run_id,
                    details={"wave": row.wave, "attempt": row.attempt, **details})

    def step_started(self, run: Run | str, system: str, step: str,
                     undo: Mapping[str, Any] | None = None) -> StepStart:
        """Record that ``step`` of ``system`` starts, with what its undo will need.

        Idempotent: when the step is already ``done`` in this run, nothing changes and the
        answer has ``skip=True`` (the caller skips the step and uses ``.result``). A step
        left ``started`` or ``failed`` (a crash, an error) or ``undone`` starts again with
        ``attempt`` + 1. A step being undone (``undoing``/``undo_failed``) cannot start.
        """
        rid = _run_id(run)

        def go(s: Session) -> StepStart:
            self._fence(s, system)
            run_row = self._live_run(s, rid)
            row = self._step_row(s, rid, system, step)
            now = _now()
            if row is None:
                row = StepRow(run_id=rid, wave=run_row.wave, system=system, step=step,
                              status=STARTED, attempt=1, started_at=now, ended_at=None,
                              updated_at=now, error=None, undo=dict(undo or {}), result={})
                s.add(row)
                s.flush()
            elif row.status == DONE:
                return StepStart(_entry(row), True)
            elif row.status in (UNDOING, UNDO_FAILED):
                raise JournalError(f"run {rid}, system {system}: step {step!r} is "
                                   f"{row.status}; finish its undo before starting it again")
            else:
                row.attempt += 1
                row.status, row.started_at, row.ended_at, row.updated_at = (
                    STARTED, now, None, now)
                row.error = None
                row.undo = {**(row.undo or {}), **(undo or {})}
            self._step_audit(s, row, undo=row.undo)
            return StepStart(_entry(row), False)

        return self._tx(go)

    def step_progress(self, run: Run | str, system: str, step: str, *,
                      undo: Mapping[str, Any] | None = None,
                      result: Mapping[str, Any] | None = None) -> StepEntry:
        """Merge more undo/result data into a running step (e.g. a multipart upload id).

        Not audited (it may be called once per uploaded part); the status does not change.
        """
        rid = _run_id(run)

        def go(s: Session) -> StepEntry:
            self._fence(s, system)
            self._live_run(s, rid)
            row = self._need_step(s, rid, system, step)
            if row.status != STARTED:
                raise JournalError(f"run {rid}, system {system}: step {step!r} is "
                                   f"{row.status}, not started")
            if undo:
                row.undo = {**(row.undo or {}), **undo}
            if result:
                row.result = {**(row.result or {}), **result}
            row.updated_at = _now()
            return _entry(row)

        return self._tx(go)

    def step_done(self, run: Run | str, system: str, step: str, *,
                  result: Mapping[str, Any] | None = None,
                  undo: Mapping[str, Any] | None = None) -> StepEntry:
        """Record that the step finished; ``result`` and ``undo`` are merged into the record.

        Calling it again for a step already done changes nothing.
        """
        rid = _run_id(run)

        def go(s: Session) -> StepEntry:
            self._fence(s, system)
            self._live_run(s, rid)
            row = self._need_step(s, rid, system, step)
            if row.status == DONE:
                return _entry(row)
            if row.status != STARTED:
                raise JournalError(f"run {rid}, system {system}: step {step!r} is "
                                   f"{row.status}; only a started step can be done")
            now = _now()
            row.status, row.ended_at, row.updated_at = DONE, now, now
            row.undo = {**(row.undo or {}), **(undo or {})}
            row.result = {**(row.result or {}), **(result or {})}
            self._step_audit(s, row, result=row.result,
                             seconds=(now - row.started_at).total_seconds())
            return _entry(row)

        return self._tx(go)

    def step_failed(self, run: Run | str, system: str, step: str,
                    error: str | BaseException) -> StepEntry:
        """Record that the step failed with ``error`` (its undo data is kept)."""
        rid = _run_id(run)
        text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"

        def go(s: Session) -> StepEntry:
            self._fence(s, system)
            self._run_row(s, rid).heartbeat_at = _now()
            row = self._need_step(s, rid, system, step)
            if row.status not in (STARTED, FAILED):
                raise JournalError(f"run {rid}, system {system}: step {step!r} is "
                                   f"{row.status}; only a started step can fail")
            now = _now()
            row.status, row.ended_at, row.updated_at, row.error = FAILED, now, now, text
            self._step_audit(s, row, error=text)
            return _entry(row)

        return self._tx(go)

    def step(self, run: Run | str, system: str, step: str) -> StepEntry | None:
        """The record of one step in one run, or None."""

        def go(s: Session) -> StepEntry | None:
            q = select(StepRow).where(StepRow.run_id == _run_id(run), StepRow.system == system,
                                      StepRow.step == step)
            row = s.execute(q).scalar_one_or_none()
            return _entry(row) if row else None

        return self._tx(go, write=False)

    def steps(self, run: Run | str, system: str | None = None) -> list[StepEntry]:
        """The steps of a run (or of one system in it) in the order they first started."""

        def go(s: Session) -> list[StepEntry]:
            q = select(StepRow).where(StepRow.run_id == _run_id(run)).order_by(StepRow.id)
            if system is not None:
                q = q.where(StepRow.system == system)
            return [_entry(r) for r in s.execute(q).scalars()]

        return self._tx(go, write=False)

    def wave_steps(self, wave: int, system: str | None = None) -> list[StepEntry]:
        """Every step record of every run of ``wave`` (optionally one system), oldest first."""

        def go(s: Session) -> list[StepEntry]:
            q = select(StepRow).where(StepRow.wave == wave).order_by(StepRow.id)
            if system is not None:
                q = q.where(StepRow.system == system)
            return [_entry(r) for r in s.execute(q).scalars()]

        return self._tx(go, write=False)

    def step_waves(self) -> list[int]:
        """Every wave that has a step record, lowest first."""

        def go(s: Session) -> list[int]:
            q = select(StepRow.wave).distinct().order_by(StepRow.wave)
            return [int(w) for w in s.execute(q).scalars()]

        return self._tx(go, write=False)

    def system_waves(self, system: str) -> list[int]:
        """Every wave in which ``system`` has a step record, lowest first."""

        def go(s: Session) -> list[int]:
            q = (select(StepRow.wave).where(StepRow.system == system).distinct()
                 .order_by(StepRow.wave))
            return [int(w) for w in s.execute(q).scalars()]

        return self._tx(go, write=False)

    def latest_step(self, wave: int, system: str, step: str) -> StepEntry | None:
        """The most recently updated record of ``step`` in any run of ``wave``, or None."""

        def go(s: Session) -> StepEntry | None:
            q = (select(StepRow)
                 .where(StepRow.wave == wave, StepRow.system == system, StepRow.step == step)
                 .order_by(StepRow.updated_at.desc(), StepRow.id.desc()).limit(1))
            row = s.execute(q).scalar_one_or_none()
            return _entry(row) if row else None

        return self._tx(go, write=False)

    def production_copies(self) -> list[StepEntry]:
        """In one query: the ``copy`` step records (keys ``S/copy/…``) not undone of every
        system in production in its wave, by wave, then the system's first start in the
        wave, then record id. "In production" reads the system's ``S/cutover`` and
        ``S/dns`` records as :meth:`latest_step` does (the most recently updated record of
        the key over every run; ``cutover`` done, or ``dns`` anything but undone); a copy
        counts by its record in the newest run of the key (as :meth:`wave_steps` read
        oldest first and keyed by step gives it), whichever was updated last."""

        def go(s: Session) -> list[StepEntry]:
            row, newer, mark, later, first = (StepRow, aliased(StepRow), aliased(StepRow),
                                              aliased(StepRow), aliased(StepRow))
            mark_is_latest = ~exists().where(
                later.wave == mark.wave, later.system == mark.system, later.step == mark.step,
                or_(later.updated_at > mark.updated_at,
                    and_(later.updated_at == mark.updated_at, later.id > mark.id)))
            in_production = exists().where(
                mark.wave == row.wave, mark.system == row.system,
                or_(and_(mark.step == row.system + "/cutover", mark.status == DONE),
                    and_(mark.step == row.system + "/dns", mark.status != UNDONE)),
                mark_is_latest)
            newest_of_key = ~exists().where(newer.wave == row.wave, newer.system == row.system,
                                            newer.step == row.step, newer.id > row.id)
            system_start = (select(func.min(first.id))
                            .where(first.wave == row.wave, first.system == row.system)
                            .scalar_subquery())
            q = (select(StepRow.__table__)  # plain rows: no ORM identity map to fill
                 .where(row.step.like("%/copy/%"), row.status != UNDONE, newest_of_key,
                        in_production)
                 .order_by(row.wave, system_start, row.id))
            return [_entry(r) for r in s.execute(q)]  # type: ignore[arg-type]

        return self._tx(go, write=False)

    def steps_to_undo(self, run: Run | str, system: str) -> list[StepEntry]:
        """The steps of ``system`` in ``run`` that may have left something, newest first.

        That is every step ``started``, ``done``, ``failed``, ``undoing`` or ``undo_failed``
        (a crash or a failure may leave partial output), in reverse order of first start.
        """

        def go(s: Session) -> list[StepEntry]:
            q = (select(StepRow)
                 .where(StepRow.run_id == _run_id(run), StepRow.system == system,
                        StepRow.status.in_(NEEDS_UNDO))
                 .order_by(StepRow.id.desc()))
            return [_entry(r) for r in s.execute(q).scalars()]

        return self._tx(go, write=False)

    def _undo_mark(self, run: Run | str, system: str, step: str, status: str,
                   error: str | None = None,
                   result: Mapping[str, Any] | None = None,
                   by: Run | str | None = None) -> StepEntry:
        rid = _run_id(run)
        by_id = _run_id(by) if by is not None else None

        def go(s: Session) -> StepEntry:
            self._fence(s, system)
            row = self._need_step(s, rid, system, step)
            if row.status == status == UNDONE:
                return _entry(row)
            if row.status not in NEEDS_UNDO:
                raise JournalError(f"run {rid}, system {system}: step {step!r} is "
                                   f"{row.status}; it cannot become {status}")
            now = _now()
            timing = dict((row.result or {}).get(UNDO_TIMING) or {})
            if status == UNDOING:
                timing = {"started": now.isoformat()}
            else:  # the step's own end stays: its duration is the step's, not the undo's
                timing.setdefault("started", now.isoformat())
                timing["ended"] = now.isoformat()
                if row.ended_at is None:
                    row.ended_at = now
            if by_id is not None:  # which run undid it: a rollback command, or a run
                undoer = s.get(RunRow, by_id)
                timing[UNDO_BY] = {"run": by_id,
                                   "kind": undoer.kind if undoer is not None else None}
            row.status, row.updated_at = status, now
            if error is not None:
                row.error = error
            row.result = {**(row.result or {}), UNDO_TIMING: timing,
                          **({"undo": dict(result)} if result else {})}
            self._step_audit(s, row, **({"error": error} if error else {}))
            return _entry(row)

        return self._tx(go)

    def mark_undoing(self, run: Run | str, system: str, step: str, *,
                     by: Run | str | None = None) -> StepEntry:
        """Record that the undo of a step begins (a crash now leaves it ``undoing``).
        ``by``: the run doing the undo (a ``rollback`` command's, or the failing run's),
        journaled with the undo's timing (``UNDO_TIMING``'s ``by``: run id and kind)."""
        return self._undo_mark(run, system, step, UNDOING, by=by)

    def mark_undone(self, run: Run | str, system: str, step: str,
                    result: Mapping[str, Any] | None = None, *,
                    by: Run | str | None = None) -> StepEntry:
        """Record that a step was undone (again: no change). ``result`` notes what was done;
        ``by`` as for :meth:`mark_undoing`."""
        return self._undo_mark(run, system, step, UNDONE, result=result, by=by)

    def mark_undo_failed(self, run: Run | str, system: str, step: str,
                         error: str | BaseException, *,
                         by: Run | str | None = None) -> StepEntry:
        """Record that undoing a step failed; it is reported as failed, never as undone."""
        text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        return self._undo_mark(run, system, step, UNDO_FAILED, error=text, by=by)

    # -- audit -------------------------------------------------------------------------
    def audit(self, action: str, result: str, *, system: str | None = None,
              run: Run | str | None = None, details: Mapping[str, Any] | None = None,
              operator: str | None = None) -> audit_log.AuditEntry:
        """Append one record to the audit log (secrets in ``details`` are redacted). A
        record about a ``system`` written where its steps are fenced carries the fencing
        token like a step write (:class:`FencedWriteError` for a stale one: nothing written)."""

        def go(s: Session) -> audit_log.AuditEntry:
            if system is not None:
                self._fence(s, system)
            row = self._audit(s, action, result, system=system,
                              run_id=_run_id(run) if run is not None else None,
                              details=details, operator=operator)
            return audit_log.AuditEntry.from_row(row)

        return self._tx(go)

    def audit_entries(self, *, system: str | None = None, run: Run | str | None = None,
                      limit: int | None = None) -> list[audit_log.AuditEntry]:
        """Audit records in chain order (the last ``limit`` ones when given)."""

        def go(s: Session) -> list[audit_log.AuditEntry]:
            q = select(AuditRow).order_by(AuditRow.seq.desc())
            if system is not None:
                q = q.where(AuditRow.system == system)
            if run is not None:
                q = q.where(AuditRow.run_id == _run_id(run))
            if limit is not None:
                q = q.limit(limit)
            rows = list(s.execute(q).scalars())
            return [audit_log.AuditEntry.from_row(r) for r in reversed(rows)]

        return self._tx(go, write=False)

    def verify_audit(self, anchor: tuple[int, str] | None = None) -> audit_log.VerifyReport:
        """Recompute the audit chain; the report names the first broken record, if any.

        ``anchor`` = ``(seq, hash)`` noted outside the journal; see
        :func:`connectors.journal.audit.verify`.
        """
        log = self._head_log()
        return self._tx(lambda s: audit_store.verify(s, anchor, self.keeper, log),
                        write=False)

    def step_audit_problem(self, run: Run | str, system: str, step: str,
                           status: str) -> str | None:
        """Why the audit record of ``step`` (journaled ``status``) cannot be trusted, or
        None when it is present and intact; see
        :func:`connectors.journal.audit.step_record_problem`. A destructive undo asks this
        first."""
        run_id = _run_id(run)
        log = self._head_log()
        return self._tx(lambda s: audit_store.step_record_problem(
            s, self.keeper, run_id=run_id, system=system, step=step, status=status,
            log=log), write=False)

    def _head_log(self) -> audit_store.HeadLog | None:
        """This journal's head log, read in a transaction of its own — *before* the
        snapshot of the transaction that checks the journal against it, so a record
        another process commits and publishes meanwhile is never taken for a deleted
        one (:class:`connectors.journal.audit.HeadLog`)."""
        return self._tx(lambda s: audit_store.read_head_log(s, self.keeper), write=False)


def open_journal(target: str | os.PathLike[str], *, algorithm: str | None = None,
                 create: bool = True, operator: str | None = None) -> Journal:
    """Open the journal of an estate folder (``<estate>/journal.db``) or a database URL."""
    return Journal.open(target, algorithm=algorithm, create=create, operator=operator)


__all__ = ["Journal", "open_journal"]
