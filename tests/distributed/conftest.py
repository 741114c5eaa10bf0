"""Fixtures for distributed waves: a Prefect server on PostgreSQL, a PostgreSQL journal,
Redis for the system locks, and bureau workers as real ``prefect worker`` processes.

Everything runs on 127.0.0.1 and is removed afterwards: the server and workers are
stopped (their whole process trees), the two databases dropped, the Redis keys deleted.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support import MOTO_ENV, flush_lock_keys, free_port, kill_tree, pg_database

ROOT = Path(__file__).resolve().parents[2]
SHANGYUN = str(Path(sys.executable).parent / "shangyun")


@dataclass
class Programme:
    """The shared services of a distributed programme, as the environment shows them."""

    api_url: str
    journal_url: str
    redis_url: str
    home: Path
    env: dict[str, str] = field(default_factory=dict)
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run the shangyun CLI with the programme's environment."""
        return subprocess.run([SHANGYUN, *args], env=self.env, capture_output=True,
                              text=True, timeout=timeout, cwd=ROOT)

    def start_worker(self, bureau: str, log: Path) -> subprocess.Popen[bytes]:
        """``shangyun worker start --bureau B`` in the background, output to ``log``."""
        with log.open("ab") as out:
            proc = subprocess.Popen([SHANGYUN, "worker", "start", "--bureau", bureau],
                                    env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                    cwd=ROOT, start_new_session=True)
        self.workers.append(proc)
        return proc


@contextlib.contextmanager
def _private_redis_db() -> Iterator[int]:
    """A Redis database number (9–15) no other test session on this machine is using.

    Lock keys name only the system (``shangyun/system/sys-02``), so two test sessions on one
    machine sharing a database would take and flush each other's locks (a lease 'lost'
    mid-step). A flock per number, held for the programme's life, keeps them apart."""
    deadline = time.monotonic() + 600
    while True:
        for n in range(9, 16):
            fh = open(f"/tmp/shangyun-test-redis-db-{n}.lock", "w")  # noqa: SIM115
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                fh.close()
                continue
            try:
                yield n
            finally:
                fh.close()
            return
        if time.monotonic() > deadline:
            raise RuntimeError("no free Redis test database (9–15) for 600 s")
        time.sleep(1)


SERVER_SETTINGS = {
    # expired leases (a killed worker's concurrency slots) are given back within 2 s
    "PREFECT_SERVER_SERVICES_REPOSSESSOR_LOOP_SECONDS": "2",
    # a task waiting for a concurrency slot asks again within ~2 s, not after up to 30 s:
    # the server's Retry-After is the limit's average slot occupancy times the waiters,
    # capped by this (default 30 s). A killed worker's slot, held until its 60 s lease
    # expires, makes that average large, and each later system of the bureau then waited
    # 18-24 s after the slot was free (tests/distributed/test_workers.py). The limits
    # themselves are unchanged: this is only how often a waiter polls.
    "PREFECT_SERVER_CONCURRENCY_MAXIMUM_CONCURRENCY_SLOT_WAIT_SECONDS": "2",
}


@pytest.fixture(scope="module")
def programme(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Programme]:
    """A Prefect server on PostgreSQL, a PostgreSQL journal and a Redis lock database."""
    from connectors import prefect_server

    base = tmp_path_factory.mktemp("programme")
    with (_private_redis_db() as redis_db, pg_database("shangyun_prefect") as pdb,
          pg_database("shangyun_journal") as jdb):
        home = base / "prefect-home"
        home.mkdir()
        saved = {k: os.environ.get(k) for k in ("PREFECT_HOME", *SERVER_SETTINGS)}
        os.environ.update(SERVER_SETTINGS)
        try:
            info = prefect_server.start(
                base / "server", port=free_port(),
                database_url=f"postgresql+asyncpg://postgres@127.0.0.1:5432/{pdb}",
                timeout=180)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        prog = Programme(api_url=info.api_url,
                         journal_url=f"postgresql://postgres@127.0.0.1:5432/{jdb}",
                         redis_url=f"redis://127.0.0.1:6379/{redis_db}", home=home)
        prog.env = {**os.environ, **MOTO_ENV, "PREFECT_API_URL": info.api_url,
                    "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                    "PREFECT_LOGGING_TO_API_ENABLED": "true",
                    "PREFECT_WORKER_QUERY_SECONDS": "1",
                    "SHANGYUN_JOURNAL": prog.journal_url,
                    "SHANGYUN_REDIS_URL": prog.redis_url, "SHANGYUN_LOCK_LEASE": "3",
                    "PYTHONPATH": str(ROOT)}
        prog.env.pop("AWS_PROFILE", None)
        try:
            yield prog
        finally:
            for w in prog.workers:
                kill_tree(w, signal.SIGTERM)
                kill_tree(w)
            prefect_server.stop(base / "server")
            flush_lock_keys(prog.redis_url)


@pytest.fixture
def journal_env(programme: Programme, monkeypatch: pytest.MonkeyPatch) -> Iterator[Programme]:
    """The programme with a PostgreSQL journal of this test's own (one journal holds every
    estate's runs, and step keys name only wave and system, so tests would see each
    other's); this process reads it too. The Redis lock keys are flushed afterwards."""
    from dataclasses import replace

    with pg_database("shangyun_journal") as db:
        url = f"postgresql://postgres@127.0.0.1:5432/{db}"
        monkeypatch.setenv("SHANGYUN_JOURNAL", url)
        try:
            yield replace(programme, journal_url=url,
                          env={**programme.env, "SHANGYUN_JOURNAL": url})
        finally:
            flush_lock_keys(programme.redis_url)


LOG_TAIL = 12_000
"""Characters of each worker log shown when a test fails (its end: the failure is there)."""


def diagnosis(logs: Path, estate: str | Path | None = None, wave: int = 1) -> str:
    """What a failed distributed test leaves to read, for the CI log: the end of every log
    in ``logs`` (worker-*.log, follower.err …) and, with ``estate``, the journal's runs of
    ``wave`` (kind, bureau, status, reason) and every step record that is not ``done`` or
    ``undone`` or carries an error (system, key, status, error)."""
    out = []
    for log in sorted(logs.glob("*")) if logs.is_dir() else []:
        text = log.read_text(errors="replace")
        cut = f"[… {len(text) - LOG_TAIL} characters before]\n" if len(text) > LOG_TAIL else ""
        out.append(f"===== {log.name} =====\n{cut}{text[-LOG_TAIL:]}")
    if estate is not None:
        from connectors.journal.wave import open_journal

        try:
            with open_journal(str(estate)) as j:
                runs, records = j.runs(wave), j.records(wave)
        except Exception as exc:  # the diagnosis must not hide the failure it explains
            out.append(f"===== journal =====\ncannot read it: {type(exc).__name__}: {exc}")
        else:
            lines = [f"run {r['id']} {r['kind']} bureau={r.get('bureau')} "
                     f"status={r['status']} reason={r.get('reason')}" for r in runs]
            lines += [f"step {r.system_id} {r.key} {r.status}"
                      + (f" error: {r.error}" if r.error else "")
                      for r in records if r.error or r.status not in ("done", "undone")]
            shown = "\n".join(lines)
            out.append(f"===== journal (wave {wave}) =====\n{shown}")
    return "\n".join(out)


@contextlib.contextmanager
def diagnosed(logs: Path, estate: str | Path | None = None, wave: int = 1) -> Iterator[None]:
    """On any failure inside, print :func:`diagnosis` (pytest shows it with the failure,
    so a flaky CI run can be explained from its log alone), then let the failure go on."""
    try:
        yield
    except BaseException:
        print(diagnosis(logs, estate, wave))
        raise


def wait_for(predicate: object, timeout: float, what: str, every: float = 0.2) -> None:
    """Poll ``predicate()`` until true (bounded); fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


LIBVIRTD_CONF = """listen_tls = 0
listen_tcp = 0
unix_sock_dir = "{dir}"
unix_sock_rw_perms = "0700"
auth_unix_rw = "none"
auth_unix_ro = "none"
"""


@dataclass(frozen=True)
class SharedCloud:
    """A libvirt test-driver cloud served by a libvirtd of our own: every worker process
    that connects sees the same pools, volumes and domains (as with a real cloud), so a
    killed worker's imports and launches outlive it."""

    uri: str
    pool: str
    pool_path: Path


@pytest.fixture
def shared_cloud(tmp_path: Path) -> Iterator[SharedCloud]:
    """libvirtd on a private unix socket (no TCP, no hypervisor drivers loaded: only the
    built-in test driver) with a dir pool ``cloud-pool``; stopped afterwards."""
    import shutil

    import libvirt

    daemon = shutil.which("libvirtd") or "/usr/sbin/libvirtd"
    if not Path(daemon).exists():
        raise AssertionError("libvirtd is missing: run ./scripts/setup (package "
                             "libvirt-daemon)")
    run = tmp_path / "libvirtd"
    (run / "drivers").mkdir(parents=True)
    conf = run / "libvirtd.conf"
    conf.write_text(LIBVIRTD_CONF.format(dir=run))
    log = (run / "libvirtd.log").open("wb")
    proc = subprocess.Popen([daemon, "--config", str(conf), "--pid-file", str(run / "pid")],
                            env={**os.environ, "LIBVIRT_DRIVER_DIR": str(run / "drivers")},
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        sock = run / "libvirt-sock"
        wait_for(lambda: sock.exists() or proc.poll() is not None, 30, "libvirtd's socket")
        assert proc.poll() is None, (run / "libvirtd.log").read_text()
        uri = f"test+unix:///default?socket={sock}"
        pool_path = tmp_path / "cloud-pool"
        pool_path.mkdir()
        conn = libvirt.open(uri)
        try:
            pool = conn.storagePoolDefineXML(
                "<pool type='dir'><name>cloud-pool</name>"
                f"<target><path>{pool_path}</path></target></pool>")
            pool.create()
            for dom in conn.listAllDomains():  # the default node's 8 GiB demo domain
                if dom.isActive():
                    dom.destroy()
                dom.undefine()
        finally:
            conn.close()
        yield SharedCloud(uri=uri, pool="cloud-pool", pool_path=pool_path)
    finally:
        kill_tree(proc, signal.SIGTERM)
        kill_tree(proc)
        log.close()
