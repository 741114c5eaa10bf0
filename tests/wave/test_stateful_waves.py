"""Two systems, two waves in flight, re-plans between runs: a hypothesis state machine over
the orders of operations a migration team makes across waves, the ones no test wrote down.

Each system has a PostgreSQL database (source and target), a DNS record (moto's Route53)
and an HTTP health check (a real local web server). The plan puts each system in wave 1
or 2; the commands are ``wave run W`` / ``wave resume W`` (whole wave, or ``--only S``; the
health check passing or failing; maybe ``kill -9`` at a step), ``wave rollback W`` (whole
wave, or ``--system S``; maybe killed mid-undo), ``wave finalize W``, a re-plan moving a
system to the other wave (``plan/`` rewritten, as ``shangyun plan --pin S=W`` does), and
the application writing to whichever side DNS sends each system's users to.

The promise, checked after every command, per system:

- **no production write lost**, **DNS on one live copy**, **the source changed only by
  the application** (as ``test_stateful_ops.py``);
- **one home**: a system is in production (cut over, or DNS switched to its target) in at
  most one wave, and once a command finished DNS points at its target exactly then;
- **one state**: each wave's state in the journal (``wave_status``), ``wave status
  --json`` (the real CLI) and the runbook (for a wave the plan has) are the same word.

The commands are the library calls the flow makes (``run_refusal`` before anything runs,
``run_system_steps``, ``refuse_rollback`` + ``undo_system``, ``finalize_wave``) without
Prefect. ``SY_WAVES_EXAMPLES`` (3) sequences of at most ``SY_WAVES_STEPS`` (12) commands,
derandomized; ``SY_OPS_RANDOM=1`` for other sequences (``--hypothesis-seed=N``)."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, Phase, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from actions.context import RunContext
from actions.data import traffic_switched
from actions.finalize import finalize_wave
from actions.registry import actions_for
from actions.rollback import refuse_rollback, run_system_steps
from connectors.database import DbEndpoint
from connectors.dns import DnsRecord, Route53Dns
from connectors.journal.history import open_reader
from connectors.journal.wave import open_journal
from shangyun.cli import main
from shangyun.errors import InProductionError, StepError
from shangyun.estate.model import Estate
from shangyun.runbook.api import runbook_context
from shangyun.wave.cutover import cutover_steps, parse_cutover
from shangyun.wave.engine import cut_over, undo_system
from shangyun.wave.journal_port import run_refusal, wave_status
from shangyun.wave.model import SystemWork, WaveWork
from shangyun.wave.steps import RunOptions, Step
from tests.cutover.test_failback_stateful import Killed, Killing
from tests.data.test_health import web  # noqa: F401  (fixture)
from tests.support import moto_server
from tests.wave.conftest import write_plan
from tests.wave.test_stateful_ops import RUN_KINDS, UNDO_KINDS, _exists, _pg

MAX_EXAMPLES = int(os.environ.get("SY_WAVES_EXAMPLES", "3"))
STEPS = int(os.environ.get("SY_WAVES_STEPS", "12"))
NAMES = {"sys-a": "审批系统", "sys-b": "档案系统"}
SIDS = tuple(NAMES)
ADDR = {"sys-a": ("127.0.1.1", "127.0.2.1"), "sys-b": ("127.0.1.2", "127.0.2.2")}
"""system -> (its source's address, its target's)."""


class Lab:
    """Two systems' world: per system source and target databases and a DNS record; an
    estate with a plan (system -> wave) and ``plan/cutover.yaml``."""

    dns_url = ""
    web_url = ""

    def __init__(self) -> None:
        tag = f"{os.getpid()}_{uuid.uuid4().hex[:8]}"
        self.src = {s: DbEndpoint("127.0.0.1", 5432, "postgres", f"sy_w_s{s[-1]}_{tag}")
                    for s in SIDS}
        self.dst = {s: DbEndpoint("127.0.0.1", 5432, "postgres", f"sy_w_t{s[-1]}_{tag}")
                    for s in SIDS}
        self.tmp = Path(tempfile.mkdtemp(prefix="sy-waves-"))
        self.estate = self.tmp / "estate"
        self.zone = f"w{secrets.token_hex(4)}.gov.cn"
        self.plan = {"sys-a": 1, "sys-b": 2}

    def record(self, sid: str) -> str:
        return f"app-{sid[-1]}.{self.zone}"

    def make(self) -> None:
        """Sources with rows, DNS records on the sources, the estate and its plan."""
        for sid in SIDS:
            _pg(self.src[sid], f'CREATE DATABASE "{self.src[sid].dbname}"', admin=True)
            _pg(self.src[sid], "CREATE TABLE people (id serial PRIMARY KEY, name text NOT "
                               "NULL); INSERT INTO people (name) SELECT 'p' || g FROM "
                               "generate_series(1, 20) g")
        with Route53Dns(self.dns_url) as dns:
            self.zid = dns.zone_id(self.zone, create=True)
            for sid in SIDS:
                dns.switch(self.zid, DnsRecord.make(self.record(sid), "A", [ADDR[sid][0]],
                                                    300))
        est = Estate.from_records({"name": "waves"}, {
            "bureaus": [{"id": "b-01", "name": "一局", "kind": "bureau", "link_mbps": 100}],
            "systems": [{"id": s, "name": n, "bureau_id": "b-01"} for s, n in NAMES.items()],
            "hosts": [], "disks": []})
        est.save(self.estate)
        self.replan()
        self.spec(True)

    def replan(self) -> None:
        """``plan/`` for :attr:`plan` (each wave's systems one move group each)."""
        waves: dict[int, list[list[str]]] = {}
        for sid, wave in sorted(self.plan.items()):
            waves.setdefault(wave, []).append([sid])
        write_plan(self.estate, dict(sorted(waves.items())))

    def spec(self, healthy: bool) -> dict[str, Any]:
        """Write ``plan/cutover.yaml`` (health passing or failing); its parsed plan."""
        side = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
        raw = {"schema_version": 1, "soak_hours": 0, "systems": {sid: {
            "databases": [{"id": "pg", "engine": "postgresql",
                           "source": {**side, "dbname": self.src[sid].dbname},
                           "target": {**side, "dbname": self.dst[sid].dbname}}],
            "dns": {"endpoint": self.dns_url, "zone": self.zone,
                    "records": [{"name": self.record(sid), "type": "A",
                                 "values": [ADDR[sid][1]], "ttl": 60}]},
            "health": [{"kind": "http",
                        "url": f"{self.web_url}/{'ok' if healthy else 'broken'}",
                        "expect_body": "UP", "attempts": 1, "backoff": 0.05}]}
            for sid in SIDS}}
        (self.estate / "plan" / "cutover.yaml").write_text(yaml.safe_dump(raw),
                                                           encoding="utf-8")
        return parse_cutover(raw).systems  # type: ignore[no-any-return]

    def steps(self, wave: int, sid: str, healthy: bool) -> list[Step]:
        system = SystemWork(sid, NAMES[sid], "b-01", "一局", f"mg-{wave}-0", 100, ())
        return cutover_steps(WaveWork(wave, str(self.estate), "pf", "ef", (system,)), system,
                             self.spec(healthy)[sid])

    def dns(self, sid: str) -> tuple[str, ...]:
        with Route53Dns(self.dns_url) as dns:
            rec = dns.get(self.zid, self.record(sid), "A")
        return rec.values if rec else ()

    @contextlib.contextmanager
    def journal(self) -> Iterator[Any]:
        with open_journal(self.estate) as j:
            yield j

    def command(self, wave: int, kind: str, kill: tuple[str, str, bool] | None,
                body: Callable[[Any, str, dict[str, Any]], list[str]]) -> str:
        """One command (one new process) on ``wave``: its own run and context; a
        :class:`Killed` leaves everything as a dead process does."""
        with self.journal() as j:
            run_id = j.begin_run(wave, {"options": {}, **(
                {"planned": [s for s in SIDS if self.plan[s] == wave]}
                if kind == "run" else {})}, kind=kind, exclusive=True)
            ctx = RunContext(RunOptions(), names=NAMES).bind(j, run_id, wave)
            actions = dict(actions_for(ctx))
            if kill is not None:
                actions[kill[0]] = Killing(actions[kill[0]], kill[1], kill[2])
            status, said = "done", ""
            try:
                states = body(j, run_id, actions)
                said = ",".join(states)
                if any(s not in ("done", "cut_over", "True") for s in states):
                    status = "failed"
            except Killed:
                status, said = "failed", f"killed at {kill}"
            finally:
                ctx.close()
                j.finish_run(run_id, status)
        return said

    def teardown(self) -> None:
        for ep in (*self.src.values(), *self.dst.values()):
            with contextlib.suppress(Exception):
                _pg(ep, f'DROP DATABASE IF EXISTS "{ep.dbname}" WITH (FORCE)', admin=True)
        shutil.rmtree(self.tmp, ignore_errors=True)


@pytest.fixture(autouse=True)
def _servers(web: str) -> Iterator[None]:  # noqa: F811
    """moto (Route53) and the health web server for every test of the module."""
    with moto_server() as url:
        Lab.dns_url, Lab.web_url = url, web
        yield


class WavesOps(RuleBasedStateMachine):
    """Two systems, two waves, re-plans; see the module's docstring."""

    def __init__(self) -> None:
        super().__init__()
        self.lab = Lab()
        self.n = 0
        self.accepted: dict[str, list[str]] = {s: [] for s in SIDS}
        self.written: dict[str, set[str]] = {s: set() for s in SIDS}
        self.killed = False

    @initialize()
    def make(self) -> None:
        self.lab.make()

    def _homes(self, j: Any, sid: str) -> list[int]:
        """The waves in which ``sid`` is in production (cut over or DNS switched)."""
        return [w for w in j.system_waves(sid)
                if cut_over(j, w, sid) or traffic_switched(j, w, sid)]

    # ------------------------------------------------------------------ commands

    @rule(wave=st.sampled_from((1, 2)), only=st.none() | st.sampled_from(SIDS),
          healthy=st.booleans(),
          kill=st.none() | st.tuples(st.sampled_from(RUN_KINDS), st.just("do"), st.booleans()))
    def run(self, wave: int, only: str | None, healthy: bool,
            kill: tuple[str, str, bool] | None) -> None:
        """``wave run W [--only S]``: the systems the plan puts in the wave; refused before
        anything runs when another wave holds one (or it is in the middle of a fail-back)."""
        todo = [s for s in SIDS if self.lab.plan[s] == wave and only in (None, s)]
        if not todo:
            return  # the CLI refuses a wave or --only the plan does not have
        with self.lab.journal() as j:
            refused = {s: why for s in todo
                       if (why := run_refusal(j, wave, s, NAMES)) is not None}
        if refused:
            event("run: refused (held elsewhere)")
            return

        def body(j: Any, run_id: str, actions: dict[str, Any]) -> list[str]:
            out = []
            for sid in todo:
                if cut_over(j, wave, sid):
                    out.append("cut_over")  # left alone, as flows.wave.move_system does
                    continue
                out.append(str(run_system_steps(j, run_id, wave,
                                                self.lab.steps(wave, sid, healthy),
                                                actions, names=NAMES)["state"]))
            return out

        said = self.lab.command(wave, "run", kill, body)
        event(f"run{'' if healthy else ' (unhealthy)'}"
              f"{' --only' if only else ''}: {said.split(' at ')[0]}")
        self.killed = said.startswith("killed")

    @rule(wave=st.sampled_from((1, 2)), only=st.none() | st.sampled_from(SIDS),
          kill=st.none() | st.tuples(st.sampled_from(UNDO_KINDS), st.just("undo"),
                                     st.booleans()))
    def rollback(self, wave: int, only: str | None, kill: tuple[str, str, bool] | None) -> None:
        """``wave rollback W [--system S]`` (its refusals first, as the command makes them)."""
        with self.lab.journal() as j:
            todo = [s for s in j.systems(wave) if only in (None, s)]
            if not todo:
                return
            try:
                refuse_rollback(j, wave, todo, False, NAMES)
            except (InProductionError, StepError) as exc:
                event(f"rollback: refused ({type(exc).__name__})")
                return

        def body(j: Any, run_id: str, actions: dict[str, Any]) -> list[str]:
            return [str(undo_system(j, run_id, wave, sid, actions).ok) for sid in todo]

        said = self.lab.command(wave, "rollback", kill, body)
        event(f"rollback{' --system' if only else ''}: {said.split(' at ')[0]}")
        self.killed = said.startswith("killed")

    @rule(wave=st.sampled_from((1, 2)))
    def finalize(self, wave: int) -> None:
        """``wave finalize W`` (soak 0): closes the wave only over systems cut over in it."""
        try:
            out = finalize_wave(str(self.lab.estate), wave, soak_hours=0)
        except StepError:
            event("finalize: refused")
            return
        with self.lab.journal() as j:
            for sid in out["systems"]:
                assert cut_over(j, wave, sid), (wave, sid, out)
        event("finalize: already" if out["already"] else "finalized")
        self.killed = False

    @rule(sid=st.sampled_from(SIDS))
    def replan(self, sid: str) -> None:
        """A re-plan moves ``sid`` to the other wave (``plan --pin S=W``)."""
        self.lab.plan[sid] = 3 - self.lab.plan[sid]
        self.lab.replan()
        event("re-plan")

    @rule(sid=st.sampled_from(SIDS))
    def write(self, sid: str) -> None:
        """The application writes where DNS sends ``sid``'s users; a frozen database
        refuses it."""
        self.n += 1
        name = f"w{self.n}"
        side = self._side(sid, self.lab.dns(sid))
        try:
            _pg(side, f"INSERT INTO people (name) VALUES ('{name}')")
        except psycopg.Error:
            event("write refused (frozen or gone)")
            return
        self.accepted[sid].append(name)
        self.written[sid].add(name)

    def _side(self, sid: str, values: tuple[str, ...]) -> DbEndpoint:
        return self.lab.dst[sid] if values == (ADDR[sid][1],) else self.lab.src[sid]

    # ------------------------------------------------------------------ the promise

    @invariant()
    def promises(self) -> None:
        """Per system: no write lost, DNS on one live copy, the source changed only by the
        application, one home; per wave: one state in the journal, the CLI, the runbook."""
        if not hasattr(self.lab, "zid"):
            return
        with self.lab.journal() as j:
            homes = {sid: self._homes(j, sid) for sid in SIDS}
            ran = {sid: j.system_waves(sid) for sid in SIDS}
            waves = sorted({w for sid in SIDS for w in ran[sid]})
            states = {w: wave_status(j, w, [s for s in SIDS if self.lab.plan[s] == w])["state"]
                      for w in waves}
        for sid in SIDS:
            values = self.lab.dns(sid)
            assert values in ((ADDR[sid][0],), (ADDR[sid][1],)), (sid, values)
            side = self._side(sid, values)
            assert _exists(side), f"{sid}: DNS points at {values}, whose database is gone"
            names = {r[0] for r in _pg(side, "SELECT name FROM people")}
            lost = [w for w in self.accepted[sid] if w not in names]
            assert not lost, f"{sid}: lost on the side DNS points at ({values}): {lost}"
            src = {r[0] for r in _pg(self.lab.src[sid], "SELECT name FROM people")}
            strange = {n for n in src if not n.startswith("p")} - self.written[sid]
            assert not strange, f"{sid}: rows on the source nobody wrote: {strange}"
            assert len(homes[sid]) <= 1, f"{sid} in production in waves {homes[sid]}"
            if not self.killed:
                assert (values == (ADDR[sid][1],)) == bool(homes[sid]), (sid, values, homes)
        for w in waves:
            res = CliRunner().invoke(main, ["wave", "status", str(w), "--estate",
                                            str(self.lab.estate), "--json"])
            assert res.exit_code == 0, res.output
            cli = json.loads(res.output)["state"]
            assert cli == states[w], (w, cli, states[w])
            if w in self.lab.plan.values():
                with open_reader(self.lab.estate) as reader:
                    book = runbook_context(self.lab.estate, w, "en",
                                           journal=reader)["outcome"]["state"]
                assert book == states[w], (w, book, states[w])

    def teardown(self) -> None:
        self.lab.teardown()


TestWavesOps = WavesOps.TestCase
TestWavesOps.settings = settings(max_examples=MAX_EXAMPLES, stateful_step_count=STEPS,
                                 deadline=None,
                                 derandomize=not os.environ.get("SY_OPS_RANDOM"),
                                 phases=[p for p in Phase if p is not Phase.shrink
                                         or os.environ.get("SY_OPS_SHRINK")],
                                 suppress_health_check=[HealthCheck.too_slow,
                                                        HealthCheck.function_scoped_fixture])


def test_a_system_rolled_back_then_re_planned_elsewhere_is_run_in_its_new_wave(
        ) -> None:
    """Found by :class:`WavesOps` (``SY_OPS_RANDOM=1 --hypothesis-seed=11``): 档案系统 runs
    in wave 1, fails its health check and is rolled back; a re-plan moves it to wave 2.
    ``wave status 1`` told to run it again in wave 1, which the plan no longer has it in
    (refused); its wave is 2 now. And ``wave status 1`` judged wave 1 with it, ``failed``,
    the runbook without it, ``partial``: one rule now (``stays_in_wave``), ``partial`` —
    wave 1's one planned system has not run; 档案系统's rollback belongs to wave 2."""
    lab = Lab()
    try:
        lab.make()
        lab.plan["sys-b"] = 1
        lab.replan()
        said = lab.command(1, "run", None, lambda j, run_id, actions: [str(run_system_steps(
            j, run_id, 1, lab.steps(1, "sys-b", False), actions, names=NAMES)["state"])])
        assert said == "rolled_back", said
        lab.plan["sys-b"] = 2
        lab.replan()
        with lab.journal() as j:
            journal = wave_status(j, 1, ["sys-a"])["state"]
        res = CliRunner().invoke(main, ["wave", "status", "1", "--estate", str(lab.estate),
                                        "--json"])
        cli = json.loads(res.output)["state"]
        with open_reader(lab.estate) as reader:
            book = runbook_context(lab.estate, 1, "en", journal=reader)["outcome"]["state"]
        assert journal == cli == book == "partial", (journal, cli, book)
        text = " ".join(CliRunner().invoke(main, ["wave", "status", "1", "--estate",
                                                  str(lab.estate)]).output.split())
        assert (f"'shangyun wave run 2 --only 档案系统 --estate {lab.estate}'") in text, text
        assert "wave run 1 --only 档案系统" not in text, text
    finally:
        lab.teardown()
