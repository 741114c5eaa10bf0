"""What the step actions of one run share: :class:`RunContext` — the run's options, one
target, one S3 staging store, the source-hypervisor power sessions, the journal binding and
the progress callbacks. Nothing here is global: whoever runs the steps makes a context and
passes it (and anything that is not journaled, such as target factories) in.

The libvirt ``test://`` driver keeps its state in the connection, so a run holds exactly
one target object and one power session per source hypervisor URI, made on first use and
closed by :meth:`RunContext.close`: a freeze and its undo in one process act on the same
domains. (After a crash, a new process gets a fresh test driver — real hypervisors keep
their state.)
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from connectors.hypervisor import PowerSession
from connectors.objectstore import ObjectStore, ObjectStoreError
from connectors.targets.base import CloudTarget, Labels
from connectors.targets.ec2 import Ec2Target
from connectors.targets.fenced import FencedTarget
from connectors.targets.libvirt import LibvirtTarget
from shangyun.errors import StepError
from shangyun.estate.names import readable
from shangyun.wave.journal_port import WaveJournal
from shangyun.wave.steps import RunOptions, Step

Progress = Callable[[Step, float], None]
"""Called with (step, percent) while a long step (convert, upload, adapt, the test launch's
boot proof) runs."""

StepListener = Callable[[Step, str], None]
"""Called with (step, outcome) as a step ends (``"done"``, ``"skipped"``, or ``"failed"``
before its system rolls back), then, when its system stopped, ``"undone"``
(:data:`~shangyun.wave.steps.UNDONE`) for each step the rollback undid and ``"not run"``
(:data:`~shangyun.wave.steps.NOT_RUN`) for each step that will not run: the CLI draws its
progress bar."""

TargetFactory = Callable[[Mapping[str, str]], CloudTarget]
"""Makes a target of one kind from its journaled options (e.g. an EC2 target whose VM
import client is botocore's Stubber where the endpoint lacks VM import)."""

TargetFactories = Mapping[str, TargetFactory]


def make_target(kind: str, options: Mapping[str, str],
                factories: TargetFactories | None = None) -> CloudTarget:
    """A :class:`CloudTarget` of ``kind`` (``libvirt`` or ``ec2``) from journaled options;
    ``factories`` (kind -> factory) take precedence over the built-in ones."""
    if factories and kind in factories:
        return factories[kind](options)
    opts: dict[str, Any] = dict(options)
    if kind == "libvirt":
        return LibvirtTarget(opts.pop("uri", None), pool=opts.pop("pool", "default"), **opts)
    if kind == "ec2":
        return Ec2Target(opts.pop("endpoint", None), opts.pop("region", "us-east-1"), **opts)
    raise StepError(f"unknown target kind {kind!r} (use libvirt or ec2)")


def make_store(endpoint: str, part_size: int = 16 * 2**20) -> ObjectStore:
    """The S3 staging store at ``endpoint`` (credentials from the environment)."""
    return ObjectStore(endpoint_url=endpoint or None, part_size=part_size)


def store_problem(endpoint: str, bucket: str) -> str:
    """Why the S3 staging area at ``endpoint`` cannot take uploads into ``bucket`` (it does
    not answer, or refuses us), or ``""``: looked at, nothing written (a missing bucket is
    fine: the first upload makes it). Few retries and a short connect timeout: a
    pre-check's question, not a transfer."""
    try:
        with ObjectStore(endpoint_url=endpoint or None, connect_timeout=5.0,
                         read_timeout=30.0, max_attempts=2) as store:
            store.check_bucket(bucket)
    except ObjectStoreError as exc:
        return " ".join(exc.reason.split())
    return ""


def labels(wave: int | str, bureau: str, system: str) -> Labels:
    """The labels a target puts on what a step makes for ``system``."""
    return Labels(wave=str(wave), bureau=bureau, system=system)


@dataclass
class RunContext:
    """What the actions of one run share: options, one target object, one S3 store, one
    power session per source hypervisor, the journal binding and progress callbacks.

    ``targets``: target factories by kind (not journaled; the built-in ones otherwise).
    ``on_step``: told as each step ends. Every resource is made on first use and closed
    by :meth:`close`.
    """

    opts: RunOptions
    progress: Progress | None = None
    targets: TargetFactories = field(default_factory=dict)
    on_step: StepListener | None = None
    names: Mapping[str, str] = field(default_factory=dict)
    """System id -> name, for the messages a person reads (:meth:`who`)."""
    where: str = ""
    """`` --estate DIR`` for the commands a message suggests, when the command that
    started the run was given one (empty: the estate came from ``SHANGYUN_ESTATE``)."""
    journal: WaveJournal | None = None
    run_id: str = ""
    wave: int = 0
    _target: CloudTarget | None = None
    _others: dict[tuple[tuple[str, str], ...], CloudTarget] = field(default_factory=dict)
    _store: ObjectStore | None = None
    _hv: dict[str, PowerSession] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def target(self, options: Mapping[str, str] | None = None) -> CloudTarget:
        """The run's :class:`connectors.targets.base.CloudTarget` (one per run); with
        ``options`` (a step's journaled ``target_options``) that differ from the run's —
        a system placed elsewhere by ``RunOptions.system_target_options`` — the run's one
        target for those options."""
        with self._lock:
            if options is not None and dict(options) != dict(self.opts.target_options):
                key = tuple(sorted(dict(options).items()))
                if key not in self._others:
                    self._others[key] = self.make_target(self.opts.target, options)
                return self._others[key]
            if self._target is None:
                self._target = self.make_target(self.opts.target, self.opts.target_options)
            return self._target

    def make_target(self, kind: str, options: Mapping[str, str]) -> CloudTarget:
        """A new target of ``kind`` (an undo's, from its journaled options), made with this
        run's factories; the caller closes it. Its writes are fenced
        (:class:`connectors.targets.fenced.FencedTarget`: in a distributed run a holder
        whose system lock was taken over is stopped before it writes)."""
        return FencedTarget(make_target(kind, options, self.targets))

    def store(self) -> ObjectStore:
        """The run's S3 staging store."""
        with self._lock:
            if self._store is None:
                self._store = make_store(self.opts.s3_endpoint, self.opts.part_size)
            return self._store

    def hypervisor(self, uri: str) -> PowerSession:
        """The run's power session on the source hypervisor ``uri`` (one per URI)."""
        with self._lock:
            if uri not in self._hv:
                self._hv[uri] = PowerSession(uri)
            return self._hv[uri]

    def who(self, system: str | Step) -> str:
        """How a message names a system (its id, or a step of it): its name (``name (id)``
        when another system of :attr:`names` has the same one; the id when it has none)."""
        return readable(system.system_id if isinstance(system, Step) else system, self.names)

    def bind(self, journal: WaveJournal, run_id: str, wave: int) -> RunContext:
        """Attach the run's journal (for resumable state written while a step runs)."""
        self.journal, self.run_id, self.wave = journal, run_id, wave
        return self

    def saved_state(self, step: Step, name: str) -> dict[str, Any] | None:
        """The newest ``name`` a run journaled for ``step`` while it ran (e.g. an upload id),
        for the running ``step``. A value an earlier attempt journaled is journaled again
        with this attempt's record: the undo reads the step's newest record, and an attempt
        that reused the value without it left its undo nothing to put back (seen: a second
        run killed after its DNS switch, then rolled back — DNS stayed on the target whose
        database the rollback dropped)."""
        if self.journal is None:
            return None
        value = self.journal.progress_value(self.wave, step.system_id, step.key, name)
        if value is not None:
            self.journal.progress(self.run_id, step, {name: value})
        return value

    def save_state(self, step: Step, name: str, value: dict[str, Any]) -> None:
        """Journal ``name`` = ``value`` for the running ``step`` (durable before returning)."""
        if self.journal is not None:
            self.journal.progress(self.run_id, step, {name: value})

    def step_ended(self, step: Step, outcome: str) -> None:
        """Tell the run's listener that ``step`` ended; a listener's error never stops a
        wave (a progress view is only a view)."""
        if self.on_step is not None:
            with contextlib.suppress(Exception):
                self.on_step(step, outcome)

    def close(self) -> None:
        """Close the target connection and the source-hypervisor sessions (safe twice)."""
        with self._lock:
            for session in self._hv.values():
                session.close()
            self._hv.clear()
            if self._target is not None:
                self._target.close()
                self._target = None
            for other in self._others.values():
                other.close()
            self._others.clear()
