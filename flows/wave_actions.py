"""The step actions of a wave run: what each step kind does to the world, and its undo.

No Prefect here: the flow (:mod:`flows.wave`) wraps these in tasks, and ``shangyun wave
rollback`` calls :func:`rollback` directly. Each action implements
:class:`shangyun.wave.engine.StepAction`; its ``undo`` works from the journaled payload
alone (a new process after a crash can run it) and is safe to call twice.

* ``precheck`` — tools, hypervisor reachable, disk images readable, staging space, target
  capacity, plan fingerprint; refuses with every problem at once.
* ``convert`` — ``qemu-img convert`` into the staging folder (never touching the source),
  verified by ``qemu-img compare`` and the content digest of source and copy.
* ``upload`` — resumable multipart upload to S3 staging; the staged file's digest must equal
  the one journaled by ``convert`` (a byte changed in staging fails here, before import).
* ``import`` — the target takes the staged object, verified against the content digest.
* ``launch`` — the test launch: the instance is created isolated (``test_mode``) and started.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors import qemu
from shangyun.digest import digest_file
from shangyun.errors import ConnectorError, StepError, VerificationError
from shangyun.wave.engine import StepAction, UndoReport, undo_system
from shangyun.wave.precheck import REQUIRED_TOOLS, Observations, precheck_problems
from shangyun.wave.steps import RunOptions, Step

Progress = Callable[[Step, float], None]
LAUNCH_POLLS, LAUNCH_POLL_SECONDS = 60, 1.0


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
        from flows.cutover_actions import close_cutover_context  # part 2: data, cutover

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


def _labels(wave: Any, bureau: str, system: str) -> Any:
    from connectors.targets.base import Labels

    return Labels(wave=str(wave), bureau=bureau, system=system)


# --------------------------------------------------------------------------- precheck

@dataclass
class PrecheckAction:
    """Pre-checks of one system; refuses with every problem (no undo needed)."""

    ctx: RunContext

    def do(self, step: Step, done: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
        """Observe and decide; raise :class:`StepError` listing every problem."""
        a = step.args
        obs = Observations(step.system_id, a["plan_fingerprint"], a["estate_fingerprint"],
                           tools={t: shutil.which(t) for t in REQUIRED_TOOLS})
        for uri in a["hypervisors"]:
            why = hypervisor_problem(uri, a.get("hosts", []))
            if why:
                obs.unreachable_hypervisors[uri] = why
        needed = 0
        fmt = self.ctx.opts.target_format
        for d in a["disks"]:
            try:
                needed += qemu.measure(d["path"], fmt, d["format"])
            except ConnectorError as exc:
                obs.unreadable_disks[d["path"]] = str(exc)
        staging = Path(a["staging_dir"])
        staging.mkdir(parents=True, exist_ok=True)
        obs.staging_free, obs.staging_needed = qemu.free_bytes(staging), needed
        problems = precheck_problems(obs)
        capacity: dict[str, Any] = {}
        if not problems:
            from connectors.targets.base import CapacityRequest

            cap = self.ctx.target().check_capacity(CapacityRequest(
                vcpus=int(a["cpus"]), memory_mb=int(float(a["memory_gb"]) * 1024),
                disk_bytes=needed, instances=len(a.get("hosts", []))))
            capacity = cap.to_dict()
            problems += [f"system {step.system_id}: target: {r}" for r in cap.reasons]
        if problems:
            raise StepError("pre-check refused:\n  - " + "\n  - ".join(problems))
        return {"staging_needed": needed, "staging_free": obs.staging_free,
                "capacity": capacity, "estate_fingerprint": a["estate_fingerprint"]}

    def still_valid(self, step: Step, payload: Mapping[str, Any]) -> bool:
        """A passed pre-check holds while the estate is the one it checked."""
        return (payload.get("estate_fingerprint") == step.args["estate_fingerprint"]
                == step.args["plan_fingerprint"])

    def undo(self, payload: Mapping[str, Any]) -> None:
        """Nothing to undo: a pre-check only looks."""


def hypervisor_problem(uri: str, hostnames: list[str]) -> str | None:
    """Why the source hypervisor at ``uri`` is not usable (None when it is): it must open
    read-only and know every host of the system as a domain."""
    import libvirt

    libvirt.registerErrorHandler(lambda *_: None, None)
    try:
        conn = libvirt.openReadOnly(uri)
    except libvirt.libvirtError as exc:
        return str(exc)
    try:
        names = {d.name() for d in conn.listAllDomains()}
        missing = [h for h in hostnames if h not in names]
        return f"no domain named {', '.join(missing)}" if missing else None
    finally:
        conn.close()


# --------------------------------------------------------------------------- convert

@dataclass
class ConvertAction:
    """qemu-img convert into staging, verified by compare + content digest."""

    ctx: RunContext

    def do(self, step: Step, done: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
        """Convert, verify, and return the staged image's path and digests."""
        a = step.args
        dst = Path(step.planned["path"])
        dst.parent.mkdir(parents=True, exist_ok=True)
        algo = a["digest"]

        def report(pct: float) -> None:
            if self.ctx.progress is not None:
                self.ctx.progress(step, pct)

        # the source's content digest is read while qemu-img converts (two processes)
        with ThreadPoolExecutor(1, thread_name_prefix="source-digest") as pool:
            src_future = pool.submit(qemu.content_digest, a["source"], algo,
                                     fmt=a["source_format"])
            qemu.convert(a["source"], dst, a["target_format"], src_format=a["source_format"],
                         subformat=a.get("subformat"), progress=report)
            src_digest = src_future.result()
            # compare + the copy's content digest, while its file digest (for S3) is read
            file_future = pool.submit(digest_file, dst, algo)
            got = qemu.verify_copy(a["source"], dst, src_format=a["source_format"],
                                   dst_format=a["target_format"], expected_digest=src_digest,
                                   algorithm=algo)
            file_digest = file_future.result()
        return {"path": str(dst), "format": a["target_format"], "content_digest": got,
                "source_digest": src_digest, "file_digest": file_digest,
                "size": dst.stat().st_size, "algorithm": algo}

    def still_valid(self, step: Step, payload: Mapping[str, Any]) -> bool:
        """The staged image is still there with its size (its bytes are checked on upload)."""
        p = Path(str(payload.get("path", "")))
        return p.is_file() and p.stat().st_size == payload.get("size")

    def undo(self, payload: Mapping[str, Any]) -> None:
        """Delete the staged image (the source was never touched)."""
        p = payload.get("path")
        if p:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(str(p))


# --------------------------------------------------------------------------- upload

@dataclass
class UploadAction:
    """Resumable multipart upload to S3 staging with our own digest, verified."""

    ctx: RunContext

    def do(self, step: Step, done: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
        """Upload (resuming a crashed upload from the journal) and verify end to end.

        The file must hash to the digest ``convert`` journaled, or the upload is aborted
        before it completes (a byte changed in staging never reaches the target).
        """
        conv = done[step.args["convert_key"]]
        bucket, key = step.planned["bucket"], step.planned["key"]
        store = self.ctx.store()
        store.ensure_bucket(bucket)

        def on_state(state: dict[str, Any]) -> None:
            self.ctx.save_state(step, "upload_state", state)

        def progress(sent: int, total: int) -> None:
            if self.ctx.progress is not None and total:
                self.ctx.progress(step, 100.0 * sent / total)

        res = store.upload_file(Path(conv["path"]), bucket, key, algorithm=conv["algorithm"],
                                digest=conv["file_digest"],
                                resume=self.ctx.saved_state(step, "upload_state"),
                                on_state=on_state, progress=progress)
        return {**res.to_dict(), "endpoint": step.planned["endpoint"]}

    def still_valid(self, step: Step, payload: Mapping[str, Any]) -> bool:
        """The staged object is still there with the journaled digest."""
        info = self.ctx.store().stat(str(payload["bucket"]), str(payload["key"]))
        return info is not None and info.digest == payload.get("digest")

    def undo(self, payload: Mapping[str, Any]) -> None:
        """Abort a half upload and delete the object."""
        state = payload.get("upload_state") or {}
        with make_store(str(payload.get("endpoint") or "")) as store:
            store.delete(str(payload["bucket"]), str(payload["key"]),
                         payload.get("upload_id") or state.get("upload_id"))


# --------------------------------------------------------------------------- import

@dataclass
class ImportAction:
    """The target imports the staged disk, verified against the content digest."""

    ctx: RunContext

    def do(self, step: Step, done: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
        """Import and return the target's disk record."""
        a = step.args
        up, conv = done[a["upload_key"]], done[a["convert_key"]]
        from connectors.targets.base import ObjectRef

        target = self.ctx.target()
        source: Any = ObjectRef(bucket=up["bucket"], key=up["key"], size=int(up["size"]),
                                digest=up["digest"])
        landing = Path(step.planned["landing"])
        if target.name == "libvirt":
            # the libvirt cloud takes local files: fetch the staged object (digest-checked)
            landing.parent.mkdir(parents=True, exist_ok=True)
            got = self.ctx.store().download_file(up["bucket"], up["key"], landing)
            if got != up["digest"]:
                raise VerificationError(f"system {step.system_id}: s3://{up['bucket']}/"
                                        f"{up['key']} downloaded as {got}, uploaded as "
                                        f"{up['digest']}")
            source = landing
        try:
            disk = target.import_disk(
                source, name=a["volume"], fmt=a["format"], digest=conv["content_digest"],
                labels=_labels(a["wave"], a["bureau"], step.system_id))
        finally:
            with contextlib.suppress(FileNotFoundError):
                landing.unlink()
        if disk.digest != conv["content_digest"]:
            raise VerificationError(f"system {step.system_id}: imported disk {a['volume']} "
                                    f"has digest {disk.digest}, expected "
                                    f"{conv['content_digest']}")
        return {"disk": disk.to_record()}

    def still_valid(self, step: Step, payload: Mapping[str, Any]) -> bool:
        """The imported disk is still in the target (libvirt: its volume is known)."""
        if "disk" not in payload:
            return False
        t = self.ctx.target()
        if getattr(t, "name", "") != "libvirt":
            return True
        import libvirt

        try:
            t.conn.storageVolLookupByKey(str(payload["disk"]["disk_id"]))
        except libvirt.libvirtError:
            return False
        return True

    def undo(self, payload: Mapping[str, Any]) -> None:
        """Delete the imported disk from the target."""
        if payload.get("landing"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(str(payload["landing"]))
        if "disk" not in payload:
            return
        from connectors.targets.base import ImportedDisk

        with make_target(str(payload["target"]), payload.get("target_options") or {}) as t:
            t.delete_disk(ImportedDisk.from_record(dict(payload["disk"])))


# --------------------------------------------------------------------------- launch

@dataclass
class LaunchAction:
    """The test launch: create the instance isolated and start it."""

    ctx: RunContext

    def do(self, step: Step, done: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
        """Create (test mode), start, and check it runs."""
        from connectors.targets.base import ImportedDisk, InstanceSpec, InstanceState

        a = step.args
        disks = [ImportedDisk.from_record(dict(done[k]["disk"])) for k in a["import_keys"]]
        spec = InstanceSpec(name=a["name"], vcpus=int(a["cpus"]),
                            memory_mb=int(a["memory_mb"]),
                            labels=_labels(a["wave"], a["bureau"], step.system_id))
        t = self.ctx.target()
        inst = t.create_instance(spec, disks, test_mode=True)
        t.start(inst)
        state = t.status(inst)
        for _ in range(LAUNCH_POLLS):  # bounded wait while it boots
            if state != InstanceState.PENDING:
                break
            time.sleep(LAUNCH_POLL_SECONDS)
            state = t.status(inst)
        if state != InstanceState.RUNNING:
            raise StepError(f"system {step.system_id}: test launch of {a['name']} is "
                            f"{state}, not running")
        return {"instance": inst.to_record(), "state": str(state)}

    def still_valid(self, step: Step, payload: Mapping[str, Any]) -> bool:
        """The test instance still exists in the target."""
        from connectors.targets.base import Instance, InstanceState

        if "instance" not in payload:
            return False
        inst = Instance.from_record(dict(payload["instance"]))
        return bool(self.ctx.target().status(inst) != InstanceState.ABSENT)

    def undo(self, payload: Mapping[str, Any]) -> None:
        """Stop and delete the test instance."""
        if "instance" not in payload:
            return
        from connectors.targets.base import Instance

        with make_target(str(payload["target"]), payload.get("target_options") or {}) as t:
            t.delete_instance(Instance.from_record(dict(payload["instance"])))


def actions_for(ctx: RunContext) -> dict[str, StepAction]:
    """Step kind -> its action, sharing ``ctx``."""
    from flows.cutover_actions import cutover_actions_for  # part 2: data, cutover

    return {"precheck": PrecheckAction(ctx), "convert": ConvertAction(ctx),
            "upload": UploadAction(ctx), "import": ImportAction(ctx),
            "launch": LaunchAction(ctx), **cutover_actions_for(ctx)}


def rollback(estate_dir: str, number: int, system: str | None = None, *,
             systems: list[str] | None = None, bureau: str | None = None,
             lock: Callable[[str], AbstractContextManager[Any]] | None = None,
             ) -> list[UndoReport]:
    """Undo wave ``number`` (or one system) from the journal alone, newest step first.

    ``systems`` limits the undo to those systems (a bureau's share, journaled as that
    bureau's run); ``lock(system_id)`` is held around each system's undo (the distributed
    system lock)."""
    from shangyun.wave.journal_port import open_journal

    with open_journal(estate_dir) as journal:
        journal.ensure_idle(number, bureau=bureau)
        last = journal.last_run(number, bureau=bureau) or journal.last_run(number)
        opts = RunOptions(**(last.get("options") or {})) if last else RunOptions()
        run_id = journal.begin_run(number, {"system": system, "options": opts.to_dict(),
                                            "bureau": bureau}, kind="rollback")
        ctx = RunContext(opts).bind(journal, run_id, number)
        reports = []
        try:
            todo = [system] if system else journal.systems(number)
            if systems is not None:
                todo = [s for s in todo if s in set(systems)]
            for sid in todo:
                with lock(sid) if lock else nullcontext():
                    reports.append(undo_system(journal, run_id, number, sid,
                                               actions_for(ctx)))
        finally:
            ctx.close()
            journal.finish_run(run_id, "rolled_back" if all(r.ok for r in reports)
                               else "failed")
    return reports
