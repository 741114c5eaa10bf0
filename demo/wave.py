"""The dashboard and wave 1: the persistent Prefect server, the lab's object store as the
staging area, and the wave run itself (the library call ``shangyun wave run`` makes), in this
process, pointed at the dashboard."""

from __future__ import annotations

import logging
import multiprocessing
import queue
import subprocess
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any

from prefect.logging.handlers import PrefectConsoleHandler
from prefect.settings import PREFECT_API_URL, PREFECT_HOME, temporary_settings
from rich.markup import escape
from rich.table import Table

from connectors.hypervisor import PowerSession
from connectors.objectstore import ObjectStore
from connectors.prefect_server import default_state_dir, free_port, start, status
from demo.cutover import (
    check_all_undone,
    check_dns_restored,
    prepare_cutover,
    use_lab_credentials,
)
from demo.state import DemoState, console
from flows.move import move_wave
from shangyun.cli.bars import StepBars, step_label, wave_progress
from shangyun.errors import ShangyunError
from shangyun.wave.builder import step_count, wave_steps
from shangyun.wave.plan import load_wave
from shangyun.wave.state import counts_words, state_counts, state_words
from shangyun.wave.steps import RunOptions, Step

BUCKET = "shangyun-demo-staging"
#: Seconds the cloud waits for the guest to shut down before forcing it off (the production
#: start stops its test launch first). The lab guest (minbase: no logind, no acpid) ignores
#: the ACPI power button, so without this every stop would wait the target's default 60 s.
GUEST_STOP_TIMEOUT = "15"


def stage_dashboard(st: DemoState) -> str:
    """Start the persistent Prefect server (the dashboard) and point the wave run at it."""
    state_dir = default_state_dir(st.out)
    current = status(state_dir)
    port = current.port if current is not None else free_port()
    info = start(state_dir, port=port)
    st.api_url = info.api_url
    st.results["dashboard"] = info.ui_url
    return f"dashboard {info.ui_url} (pid {info.pid}, {info.database}, log {info.log})"


def run_wave_in_child(estate_dir: str, options: dict[str, Any], api_url: str | None,
                      events: Any = None) -> dict[str, Any]:
    """Wave 1 — the library call ``shangyun wave run 1`` makes — with Prefect pointed at the
    dashboard and its console logs quiet (run in a child process by :func:`stage_wave`).
    ``events``: a queue the steps' progress goes to (the parent draws the bars)."""
    sender = _EventSender(events) if events is not None else None
    with prefect_settings(api_url), quiet_prefect_console():
        return move_wave(estate_dir=estate_dir, number=1, options=options,
                         on_step=sender.on_step if sender else None,
                         on_progress=sender.on_progress if sender else None)


class _EventSender:
    """Puts a wave's step events on a queue as plain tuples (:meth:`StepBars.apply`); a
    long step's percent only when it moved by a whole percent."""

    def __init__(self, events: Any) -> None:
        self.events = events
        self._last: dict[str, int] = {}

    def on_progress(self, step: Step, pct: float) -> None:
        whole = int(pct)
        if self._last.get(step.key) == whole:
            return
        self._last[step.key] = whole
        self.events.put(("progress", step.key, step_label(step), pct))

    def on_step(self, step: Step, outcome: str) -> None:
        self.events.put(("ended", step.key, outcome))


def _drain(events: Any, bars: StepBars, stop: threading.Event) -> None:
    """Apply the child's events to the bars until ``stop`` is set and the queue is empty."""
    while True:
        try:
            event = events.get(timeout=0.2)
        except queue.Empty:
            if stop.is_set():
                return
            continue
        except (EOFError, OSError):  # the manager went away
            return
        bars.apply(event)


def run_wave_with_bars(st: DemoState, opts: RunOptions) -> dict[str, Any]:
    """Run wave 1 in a fresh process (as ``shangyun wave run`` is) with the progress bars
    of ``shangyun wave run`` on the demo's console: finished steps, and one bar per long
    step (convert, upload, the guest's adaptation, its boot proof)."""
    total = step_count(wave_steps(load_wave(str(st.estate_dir), 1), opts))
    # a fresh process, as `shangyun wave run` is: Prefect's clients and concurrency-slot
    # services start clean there, pointed at the dashboard, whatever Prefect settings this
    # process holds (a test harness's server, slots leaked by a killed run on it, ...)
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager, wave_progress(console) as bar:
        events = manager.Queue()
        bars = StepBars(bar, "wave 1", total)
        stop = threading.Event()
        drain = threading.Thread(target=_drain, args=(events, bars, stop), daemon=True)
        drain.start()
        try:
            with ProcessPoolExecutor(1, mp_context=ctx) as pool:
                data = pool.submit(run_wave_in_child, str(st.estate_dir), opts.to_dict(),
                                   st.api_url, events).result()
        finally:
            stop.set()
            drain.join(timeout=10)
            bars.close()
    st.results["long_steps"] = [{"step": label, "seconds": secs, "outcome": outcome}
                                for label, secs, outcome in bars.timings]
    return data


def stage_wave(st: DemoState) -> str:
    """Run wave 1 onto the lab's libvirt cloud through the lab's S3 object store."""
    state = st.the_lab
    endpoint = object_store(st)
    st.results["s3"] = {"endpoint": endpoint, "bucket": BUCKET}
    cutover = prepare_cutover(st, endpoint)
    pool_el = ET.parse(state.cloud_node_xml).getroot().find("pool/name")
    pool = pool_el.text if pool_el is not None and pool_el.text else "cloud-pool"
    opts = RunOptions(target="libvirt", target_options={"uri": state.cloud_uri, "pool": pool},
                      staging_dir=str((st.estate_dir / "staging").resolve()),
                      s3_endpoint=endpoint, bucket=BUCKET)
    guest_sid = st.guest_system_id()
    if guest_sid:
        guest_options(st, opts, guest_sid)
    data = run_wave_with_bars(st, opts)
    st.results["wave"] = data
    states = {str(s["id"]): str(s["state"]) for s in data["systems"]}
    _wave_table(data)
    failing = st.results.get("fail_health_system")
    if failing:  # the rollback is the point: that system rolled back, the others done
        others = {k: v for k, v in states.items() if k != failing}
        if states.get(failing) != "rolled_back" or set(others.values()) - {"done"}:
            raise ShangyunError(f"wave 1 with a failing health check on {failing}: expected it "
                                f"rolled back and the others done, got {states}"
                                + _errors(data))
        check_dns_restored(st)
        undone = check_all_undone(st, failing)
        name = st.results.get("fail_health_name") or failing
        wave, counts = _wave_words(data)
        return (f"{wave}: {counts} — {name}'s health check "
                f"failed and it was rolled back cleanly (DNS restored; all {undone} of its "
                "journaled steps undone, newest first)")
    if data["state"] != "done":
        raise ShangyunError(f"wave 1 ended {data['state']!r}" + _errors(data))
    what = "with cutover (DNS switched, health checked)" if cutover else "part 1 only"
    wave, counts = _wave_words(data)
    return f"{wave} ({what}): {counts}"


def guest_options(st: DemoState, opts: RunOptions, system_id: str) -> None:
    """The real guest's system goes to the cloud's QEMU node (a real libvirt running
    guests), and its test launch must prove the boot from the isolated network. A cold
    move: the legacy VM is shut off first (its disk is read whole while nothing writes)."""
    state = st.the_lab
    cloud = state.qemu_cloud
    if cloud is None:
        raise ShangyunError("the lab has no QEMU cloud node: bring it up with --guests 1")
    opts.system_target_options[system_id] = {
        "uri": cloud.uri, "pool": cloud.pool, "isolated_network": cloud.isolated_network,
        "production_network": cloud.production_network, "domain_type": "qemu",
        "console_dir": cloud.console_dir, "stop_timeout": GUEST_STOP_TIMEOUT}
    opts.boot_verify.update({"key_file": state.client_key, "known_hosts": state.known_hosts,
                             "app_ports": str(state.guests[0].app_port),
                             "via_netns": cloud.probe_netns, "timeout": "600"})
    g = state.guests[0]
    started = time.monotonic()
    hv = PowerSession(g.hypervisor_uri)
    try:
        if hv.is_active(g.domain):
            # a clean shutdown from inside: the minbase guest has no logind/acpid, so it
            # ignores the hypervisor's ACPI power button (that wait would end forced off)
            subprocess.run(["ssh", "-i", state.client_key, "-o", "BatchMode=yes",
                            "-o", f"UserKnownHostsFile={state.known_hosts}",
                            "-o", "StrictHostKeyChecking=yes", "-o", "ConnectTimeout=10",
                            f"root@{g.ip}", "systemctl poweroff --no-block"],
                           capture_output=True, timeout=30, check=False)
            hv.shut_down(g.domain, polls=240, poll_seconds=0.5, force=True)
    finally:
        hv.close()
    console.print(f"real guest {g.hostname}: shut down on {g.hypervisor_uri} for a cold move "
                  f"({time.monotonic() - started:.0f} s); "
                  f"its system goes to the QEMU node {cloud.uri}, its test launch proves the "
                  f"boot (console, host key, hostname, app on :{g.app_port})")


@contextmanager
def prefect_settings(api_url: str | None) -> Iterator[None]:
    """Prefect pointed at the dashboard's API (else at an ephemeral server whose home is a
    fresh temporary folder), for the wave run in this process."""
    if api_url:
        with temporary_settings(updates={PREFECT_API_URL: api_url}):
            yield
        return
    home = tempfile.mkdtemp(prefix="shangyun-demo-prefect-")
    with temporary_settings(updates={PREFECT_HOME: home}, restore_defaults={PREFECT_API_URL}):
        yield


@contextmanager
def quiet_prefect_console() -> Iterator[None]:
    """Prefect's flow and task logs go to the dashboard only, not to the demo's console
    (warnings and errors still show)."""
    handlers = [h for name in ("", "prefect") for h in logging.getLogger(name).handlers
                if isinstance(h, PrefectConsoleHandler)]
    levels = [h.level for h in handlers]
    for h in handlers:
        h.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for h, level in zip(handlers, levels, strict=True):
            h.setLevel(level)


def object_store(st: DemoState) -> str:
    """The lab's S3 endpoint (``LabState.s3_endpoint``, moto on 127.0.0.1), with the demo's
    staging bucket in it."""
    endpoint = st.the_lab.s3_endpoint
    if not endpoint:
        raise ShangyunError("this lab has no object store: take it down and up again "
                            "('shangyun lab down', then the demo)")
    use_lab_credentials()
    with ObjectStore(endpoint) as s3:
        s3.ensure_bucket(BUCKET)
    console.print(f"object store: S3 at {endpoint}, bucket {BUCKET}")
    return endpoint


def _errors(data: dict[str, Any]) -> str:
    errors = [f"{s.get('label') or s.get('name') or s['id']}: {s['error']}"
              for s in data["systems"] if s.get("error")]
    return ("; " + "; ".join(errors)) if errors else ""


def _wave_words(data: dict[str, Any]) -> tuple[str, str]:
    """Wave 1's one state and its systems counted, in the words of ``wave status`` and
    ``wave run`` (:mod:`shangyun.wave.state`): a wave cut over is awaiting finalize, not
    done."""
    return (f"wave 1 {state_words(str(data.get('wave_state') or data['state']))}",
            str(data.get("summary") or counts_words(state_counts(
                {str(s["id"]): str(s["state"]) for s in data["systems"]}))))


def _wave_table(data: dict[str, Any]) -> None:
    t = Table("system", "state", title="wave 1")
    for s in data["systems"]:
        shown = s.get("journal_state") if s["state"] == "done" else s["state"]
        t.add_row(escape(str(s.get("name") or s["id"])), state_words(str(shown or s["state"])))
    console.print(t)
