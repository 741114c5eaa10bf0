"""What the step actions of one run share: a typed run context (options, one target, one
S3 staging store, the journal binding, a progress callback) and the source-hypervisor
connections of the cutover.

The lab's hypervisors are libvirt ``test://`` drivers, whose state lives in the connection:
:class:`CutoverContext` keeps one read-write connection per source URI for the whole run,
so a freeze and its undo in one process act on the same domains. (After a crash, a new
process gets a fresh test driver — real hypervisors keep their state.)
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import libvirt

from shangyun.errors import ConnectorError, StepError
from shangyun.wave.steps import RunOptions, Step

libvirt.registerErrorHandler(lambda *_: None, None)

Progress = Callable[[Step, float], None]


@dataclass
class RunContext:
    """What the actions of one run share: options, one target object, one S3 store.

    The libvirt test driver keeps its state in the connection, so a run holds exactly one
    target object (made on first use, closed by :meth:`close`).
    """

    opts: RunOptions
    progress: Progress | None = None
    journal: Any = None
    run_id: str = ""
    wave: int = 0
    _target: Any = None
    _store: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def target(self) -> Any:
        """The run's :class:`connectors.targets.base.CloudTarget` (one per run)."""
        with self._lock:
            if self._target is None:
                self._target = make_target(self.opts.target, self.opts.target_options)
            return self._target

    def store(self) -> Any:
        """The run's S3 staging store."""
        with self._lock:
            if self._store is None:
                self._store = make_store(self.opts.s3_endpoint, self.opts.part_size)
            return self._store

    def bind(self, journal: Any, run_id: str, wave: int) -> RunContext:
        """Attach the run's journal (for resumable state written while a step runs)."""
        self.journal, self.run_id, self.wave = journal, run_id, wave
        return self

    def saved_state(self, step: Step, name: str) -> dict[str, Any] | None:
        """The newest ``name`` a run journaled for ``step`` while it ran (e.g. an upload id)."""
        if self.journal is None:
            return None
        return self.journal.progress_value(self.wave, step.system_id, step.key, name)

    def save_state(self, step: Step, name: str, value: dict[str, Any]) -> None:
        """Journal ``name`` = ``value`` for the running ``step`` (durable before returning)."""
        if self.journal is not None:
            self.journal.progress(self.run_id, step, {name: value})

    def close(self) -> None:
        """Close the target connection and the cutover's source-hypervisor connections of
        this run (safe twice)."""
        from actions.registry import close_cutover_context  # part 2: data, cutover

        close_cutover_context(self)
        with self._lock:
            if self._target is not None:
                self._target.close()
                self._target = None


TargetFactory = Callable[[Mapping[str, str]], Any]
TARGET_FACTORIES: dict[str, TargetFactory] = {}
"""Kind -> factory, for targets that need more than journaled options (e.g. an EC2 import
client with botocore's Stubber where the endpoint lacks VM import). Empty by default."""


def register_target(kind: str, factory: TargetFactory | None) -> None:
    """Make ``kind`` targets with ``factory`` (None: back to the built-in one)."""
    if factory is None:
        TARGET_FACTORIES.pop(kind, None)
    else:
        TARGET_FACTORIES[kind] = factory


def make_target(kind: str, options: Mapping[str, str]) -> Any:
    """A :class:`CloudTarget` of ``kind`` (``libvirt`` or ``ec2``) from journaled options."""
    if kind in TARGET_FACTORIES:
        return TARGET_FACTORIES[kind](options)
    if kind == "libvirt":
        from connectors.targets.libvirt import LibvirtTarget

        opts = dict(options)
        return LibvirtTarget(opts.pop("uri", None), pool=opts.pop("pool", "default"), **opts)
    if kind == "ec2":
        from connectors.targets.ec2 import Ec2Target

        opts = dict(options)
        return Ec2Target(opts.pop("endpoint", None), opts.pop("region", "us-east-1"), **opts)
    raise StepError(f"unknown target kind {kind!r} (use libvirt or ec2)")


def make_store(endpoint: str, part_size: int = 16 * 2**20) -> Any:
    """The S3 staging store at ``endpoint`` (credentials from the environment)."""
    from connectors.objectstore import ObjectStore

    return ObjectStore(endpoint_url=endpoint or None, part_size=part_size)


def labels(wave: Any, bureau: str, system: str) -> Any:
    from connectors.targets.base import Labels

    return Labels(wave=str(wave), bureau=bureau, system=system)



@dataclass
class CutoverContext:
    """What the cutover actions of one run share: part 1's context and the source
    hypervisor connections (one read-write connection per URI)."""

    run: RunContext
    _hv: dict[str, libvirt.virConnect] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def hypervisor(self, uri: str) -> libvirt.virConnect:
        """The run's read-write connection to the source hypervisor ``uri``."""
        with self._lock:
            if uri not in self._hv:
                try:
                    self._hv[uri] = libvirt.open(uri)
                except libvirt.libvirtError as exc:
                    raise ConnectorError(f"hypervisor {uri}: {exc.get_error_message()}") \
                        from None
            return self._hv[uri]

    def close(self) -> None:
        """Close the hypervisor connections (safe twice)."""
        with self._lock:
            for conn in self._hv.values():
                with contextlib.suppress(libvirt.libvirtError):
                    conn.close()
            self._hv.clear()
