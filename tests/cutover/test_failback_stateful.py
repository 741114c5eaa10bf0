"""A hypothesis state machine over one system's wave lifecycle (issue #13): run (or
resume), a crash at any step, rollback, fail-back (a crash at any of its steps, its undo
included), finalize, and application writes on the source and on the target at any time
— against the real PostgreSQL and MariaDB, through the real journal and step actions.

Invariant: every write accepted by the side that is live at that moment (the target
while the journal shows the system cut over, else the source) exists on the live side
from then on; and a run that cuts the system over (uninterrupted) leaves its target
PostgreSQL accepting an ordinary write (a fail-back's freeze of the target is lifted by
the next run; a run in the middle of a fail-back is refused). A crash is a ``kill -9``
at a step: the step's action is wrapped in the real registry so that it raises
:class:`Killed` (a ``BaseException``, which neither the engine nor the runners catch:
nothing is journaled after it, nothing is undone) before or after it does its work; the
next command is a new context, as a new process is, and the dead run is ended as ``wave
status`` would find it. ``tests/cutover/test_failback_crash.py`` kills real processes;
this machine explores the orders.

CI cost: ``MAX_EXAMPLES`` = 25 sequences of at most ``STEPS`` = 20 commands each,
derandomized (the same sequences every run): about 1 minute on the shared 2-core
machine (under 3 minutes when it is busy). ``SY_FB_EXAMPLES`` / ``SY_FB_STEPS`` raise
them for a longer search.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from actions.context import RunContext
from actions.failback import fail_back_system, failing_back
from actions.finalize import finalize_wave
from actions.registry import actions_for
from actions.rollback import fail_back, finalized, rollback, run_system_steps
from connectors.database import DbEndpoint
from connectors.database.mariadb import Connection as MariaDbConnection
from connectors.journal.wave import open_journal
from shangyun.errors import InProductionError, StepError
from shangyun.wave.cutover import FAILBACK_KINDS, HOMEWARD_KINDS, cutover_steps, parse_cutover
from shangyun.wave.engine import StepAction, cut_over, failed_back
from shangyun.wave.journal_port import WaveJournal
from shangyun.wave.model import HostWork, SystemWork, WaveWork
from shangyun.wave.steps import RunOptions, Step

MAX_EXAMPLES = int(os.environ.get("SY_FB_EXAMPLES", "25"))
STEPS = int(os.environ.get("SY_FB_STEPS", "20"))
SID = "sys-1"
RUN_KINDS = ("copy", "freeze", "delta", "verify", "cutover")
FAILBACK_KILLS = [(k, "do") for k in FAILBACK_KINDS] + [
    (k, "undo") for k in HOMEWARD_KINDS if k in RUN_KINDS]


class Killed(BaseException):
    """The process running the command died here (``kill -9``)."""


@dataclass
class Killing:
    """A step action that dies (once) at its ``method`` (``do``/``undo``), ``before`` or
    after the real action did its work."""

    real: StepAction
    method: str
    before: bool

    def do(self, step: Step, done: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
        """The real ``do``, with the kill around it."""
        if self.method == "do" and self.before:
            raise Killed(step.key)
        out = self.real.do(step, done)
        if self.method == "do":
            raise Killed(step.key)
        return out

    def still_valid(self, step: Step, payload: Mapping[str, Any]) -> bool:
        """The real check."""
        return self.real.still_valid(step, payload)

    def undo(self, payload: Mapping[str, Any]) -> None:
        """The real ``undo``, with the kill around it."""
        if self.method == "undo" and self.before:
            raise Killed("undo")
        self.real.undo(payload)
        if self.method == "undo":
            raise Killed("undo")


def _pg(ep: DbEndpoint, sql: str, *, admin: bool = False) -> list[tuple[Any, ...]]:
    with psycopg.connect(host=ep.host, port=ep.port, user=ep.user,
                         dbname="postgres" if admin else ep.dbname, autocommit=True) as c:
        cur = c.execute(sql)  # type: ignore[arg-type]
        return list(cur.fetchall()) if cur.description else []


def _my(ep: DbEndpoint | None, sql: str) -> list[tuple[Any, ...]]:
    # the connector's connection class: pymysql's, its TLS context made once, not per
    # connection (connectors/database/mariadb.py)
    conn = MariaDbConnection(host="127.0.0.1", port=3306, user="root", autocommit=True,
                             database=ep.dbname if ep else None)
    with conn, conn.cursor() as cur:
        cur.execute(sql)
        return list(cur.fetchall())


def _changes_journal(rule_body: Callable[..., None]) -> Callable[..., None]:
    """A rule that may change the journal: the machine's cached reading of it
    (:meth:`Lifecycle._state`) is dropped before and after it."""

    @functools.wraps(rule_body)
    def wrapped(self: Lifecycle, *args: Any, **kwargs: Any) -> None:
        self._seen = None
        try:
            rule_body(self, *args, **kwargs)
        finally:
            self._seen = None

    return wrapped


class Lifecycle(RuleBasedStateMachine):
    """One system with a PostgreSQL and a MariaDB database, run through its lifecycle."""

    def __init__(self) -> None:
        super().__init__()
        tag = f"{os.getpid()}_{uuid.uuid4().hex[:8]}"
        self.pg = (DbEndpoint("127.0.0.1", 5432, "postgres", f"sy_fb_pgs_{tag}"),
                   DbEndpoint("127.0.0.1", 5432, "postgres", f"sy_fb_pgt_{tag}"))
        self.my = (DbEndpoint("127.0.0.1", 3306, "root", f"sy_fb_mys_{tag}"),
                   DbEndpoint("127.0.0.1", 3306, "root", f"sy_fb_myt_{tag}"))
        self.tmp = Path(tempfile.mkdtemp(prefix="sy-fb-lifecycle-"))
        self.estate = self.tmp / "estate"
        self.accepted: dict[str, list[str]] = {"pg": [], "my": []}
        self.n = 0
        self.is_final = False
        self._seen: tuple[bool, bool, bool] | None = None

    @initialize()
    def make_sources(self) -> None:
        """The source databases, with a few rows, and the journal's estate folder."""
        self.estate.mkdir(parents=True)
        ps, ms = self.pg[0], self.my[0]
        _pg(ps, f'CREATE DATABASE "{ps.dbname}"', admin=True)
        _pg(ps, "CREATE TABLE people (id serial PRIMARY KEY, name text NOT NULL); "
                "INSERT INTO people (name) SELECT 'p' || g FROM generate_series(1, 50) g")
        _my(None, f"CREATE DATABASE `{ms.dbname}`")
        _my(ms, "CREATE TABLE people (id INT AUTO_INCREMENT PRIMARY KEY, "
                "name VARCHAR(100) NOT NULL)")
        _my(ms, "INSERT INTO people (name) VALUES ('m1'), ('m2'), ('m3')")
        db = [{"id": i, "engine": e, "source": self._side(s), "target": self._side(t)}
              for i, e, (s, t) in (("pg", "postgresql", self.pg), ("my", "mariadb", self.my))]
        plan = parse_cutover({"schema_version": 1, "systems": {SID: {"databases": db}}})
        system = SystemWork(SID, "审批系统", "b-01", "一局", "mg-1", 100,
                            (HostWork("h1", "vm1", "", 1, 1, ()),))
        self.steps = cutover_steps(WaveWork(1, str(self.estate), "pf", "ef", (system,)),
                                   system, plan.systems[SID])
        assert [s.kind for s in self.steps] == ["copy", "copy", "freeze", "delta", "delta",
                                                "verify", "cutover"]

    @staticmethod
    def _side(ep: DbEndpoint) -> dict[str, Any]:
        return {"host": ep.host, "port": ep.port, "user": ep.user, "dbname": ep.dbname}

    # ------------------------------------------------------------------ the journal

    @contextlib.contextmanager
    def _journal(self) -> Iterator[WaveJournal]:
        with open_journal(self.estate) as j:
            yield j

    def _state(self) -> tuple[bool, bool, bool]:
        """(cut over, failing back, finalized) as the journal shows them. Read once
        between two commands: the preconditions ask it for every rule hypothesis draws
        (and redraws), the invariant after every rule, and only the commands (the rules
        marked :func:`_changes_journal`) change the journal."""
        if self._seen is None:
            with self._journal() as j:
                self._seen = (cut_over(j, 1, SID), failing_back(j, 1, SID), finalized(j, 1))
        return self._seen

    def _live(self) -> str:
        return "target" if self._state()[0] else "source"

    def _command(self, kind: str, kill: tuple[str, str, bool] | None,
                 body: Any) -> None:
        """Run ``body(journal, run_id, actions)`` as one command (one new process): its
        own run and context; a :class:`Killed` leaves everything as a dead process does
        (the run then ends as ``wave status`` finds it: crashed)."""
        with self._journal() as j:
            # a run records the wave's membership at its start, as a real one does
            run_id = j.begin_run(1, {"options": {}, **(
                {"planned": [SID]} if kind == "run" else {})}, kind=kind)
            ctx = RunContext(RunOptions()).bind(j, run_id, 1)
            actions = dict(actions_for(ctx))
            if kill is not None:
                step_kind, method, before = kill
                actions[step_kind] = Killing(actions[step_kind], method, before)
            status = "done"
            try:
                out = body(j, run_id, actions)
                event(f"{kind}: {out.get('state') if isinstance(out, dict) else out}")
            except Killed:
                status = "failed"
                event(f"{kind}: killed at {kill}")
            finally:
                ctx.close()
                j.finish_run(run_id, status)
                self._seen = None

    # ------------------------------------------------------------------ commands

    @rule(kill=st.none() | st.tuples(st.sampled_from(RUN_KINDS), st.just("do"), st.booleans()))
    @_changes_journal
    def run(self, kill: tuple[str, str, bool] | None) -> None:
        """``wave run`` / ``wave resume``: the system's steps through the journal (done
        ones skipped; a cut-over system is left alone); a step may be killed."""
        with self._journal() as j:
            home = failed_back(j, 1, SID)
            stuck = failing_back(j, 1, SID)
            was_live = cut_over(j, 1, SID)
        if stuck:  # a fail-back past its point of no return: finish it first
            event("run: refused (in the middle of a fail-back)")
            with pytest.raises(StepError, match="--fail-back"):
                self._command("run", kill, lambda j, run_id, actions: run_system_steps(
                    j, run_id, 1, self.steps, actions))
            return
        self._command("run", kill, lambda j, run_id, actions: run_system_steps(
            j, run_id, 1, self.steps, actions))
        if home:
            event(f"run after a fail-back: live side now the {self._live()}")
        if kill is None and not was_live and self._live() == "target":
            # cut over by this run: production, so an application's ordinary write is
            # accepted (a fail-back's freeze of the target must not be left behind)
            probe = f"probe-{self.n}"
            _pg(self.pg[1], f"INSERT INTO people (name) VALUES ('{probe}')")
            _pg(self.pg[1], f"DELETE FROM people WHERE name = '{probe}'")

    @rule()
    @_changes_journal
    def plain_rollback(self) -> None:
        """``wave rollback --system``: refused for a cut-over system and after finalize."""
        with self._journal() as j:
            live, final = cut_over(j, 1, SID), finalized(j, 1)
            known = SID in j.systems(1)
        if not known:
            return
        if final:
            with pytest.raises(StepError, match="finalized"):
                rollback(str(self.estate), 1, SID)
        elif live:
            with pytest.raises(InProductionError, match="--fail-back"):
                rollback(str(self.estate), 1, SID)
        else:
            assert all(r.ok for r in rollback(str(self.estate), 1, SID))

    def _may_fail_back(self) -> bool:
        """Cut over, a fail-back unfinished, or finalized (to be refused): the states in
        which a fail-back is worth trying (its refusal when never cut over is
        ``test_failback.py``'s)."""
        return any(self._state())

    @precondition(lambda self: self._may_fail_back())
    @rule(kill=st.sampled_from([None] * 8 + [(k, b) for k in FAILBACK_KILLS
                                             for b in (True, False)]))
    @_changes_journal
    def fail_back(self, kill: tuple[tuple[str, str], bool] | None) -> None:
        """``wave rollback --system --fail-back``: refused unless cut over (or a fail-back
        is unfinished) and after finalize; a step (or an undo) may be killed."""
        with self._journal() as j:
            final = finalized(j, 1)
            can = cut_over(j, 1, SID) or failing_back(j, 1, SID)
        if final or not can:
            event("fail-back: refused (finalized)" if final else "fail-back: not cut over")
            with pytest.raises(StepError, match="finalized" if final else "not cut over"):
                fail_back(str(self.estate), 1, SID)
            return
        if kill is None:
            out = fail_back(str(self.estate), 1, SID)
            event(f"fail-back: {out[0]['state']}")
            assert out[0]["state"] == "failed_back", out
            return
        (step_kind, method), before = kill
        self._command("failback", (step_kind, method, before),
                      lambda j, run_id, actions: fail_back_system(j, run_id, 1, SID, actions))

    @precondition(lambda self: self._live() == "target")
    @rule()
    @_changes_journal
    def finalize(self) -> None:
        """``wave finalize --soak-hours 0``: done only when cut over."""
        with self._journal() as j:
            ok = cut_over(j, 1, SID) and not finalized(j, 1)
        if ok:
            finalize_wave(str(self.estate), 1, soak_hours=0)
            self.is_final = True
            event("finalized")
        else:
            with contextlib.suppress(StepError):
                finalize_wave(str(self.estate), 1, soak_hours=0)

    @rule(side=st.sampled_from(["source", "target"]))
    def write(self, side: str) -> None:
        """An application writes one row into each database of ``side``. PostgreSQL: an
        ordinary session (a frozen database refuses it); MariaDB: as root, the account
        shangyun itself connects with, which a frozen database still lets write (the
        freeze revokes only the other accounts' privileges) — the harder case: such a
        write to a frozen live side must be carried over too. A missing database refuses it.
        A write accepted by the live side must never be lost."""
        self.n += 1
        name = f"w{self.n}-{side}"
        i = 0 if side == "source" else 1
        live = self._live() == side
        for engine, ep, write, error in (("pg", self.pg[i], _pg, psycopg.Error),
                                         ("my", self.my[i], _my, pymysql.err.MySQLError)):
            try:
                write(ep, f"INSERT INTO people (name) VALUES ('{name}')")
            except error:
                continue
            if live:
                self.accepted[engine].append(name)
                event(f"write accepted by the live {side}")

    # ------------------------------------------------------------------ the promise

    @invariant()
    def nothing_accepted_by_the_live_side_is_lost(self) -> None:
        """Every write the live side accepted is on the live side."""
        if not any(self.accepted.values()):
            return
        i = 0 if self._live() == "source" else 1
        found = {"pg": {r[0] for r in _pg(self.pg[i], "SELECT name FROM people")},
                 "my": {r[0] for r in _my(self.my[i], "SELECT name FROM people")}}
        lost = {e: [n for n in names if n not in found[e]]
                for e, names in self.accepted.items()}
        assert not any(lost.values()), f"lost on the {self._live()} (the live side): {lost}"

    def teardown(self) -> None:
        """Drop the four databases; leave the MariaDB server writable."""
        with contextlib.suppress(Exception):
            _my(None, "SET GLOBAL read_only = OFF")
        for ep in self.pg:
            with contextlib.suppress(Exception):
                _pg(ep, f'DROP DATABASE IF EXISTS "{ep.dbname}" WITH (FORCE)', admin=True)
        for ep in self.my:
            with contextlib.suppress(Exception):
                _my(None, f"DROP DATABASE IF EXISTS `{ep.dbname}`")
        shutil.rmtree(self.tmp, ignore_errors=True)


TestLifecycle = Lifecycle.TestCase
TestLifecycle.settings = settings(max_examples=MAX_EXAMPLES, stateful_step_count=STEPS,
                                  deadline=None, derandomize=True,
                                  suppress_health_check=[HealthCheck.too_slow])
