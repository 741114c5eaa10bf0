"""The image step actions of a wave run (part 1): what each does to the world, and its undo.

No Prefect here: the flow (:mod:`flows.wave`) wraps these in tasks, and ``shangyun wave
rollback`` calls :func:`actions.rollback.rollback` directly. Each action implements
:class:`shangyun.wave.engine.StepAction`; its ``undo`` works from the journaled payload
alone (a new process after a crash can run it) and is safe to call twice.

* ``precheck`` — tools, hypervisor reachable, disk images readable, staging space, target
  capacity, plan fingerprint; refuses with every problem at once.
* ``convert`` — ``qemu-img convert`` into the staging folder (never touching the source),
  verified by ``qemu-img compare`` and the content digest of source and copy.
* (``adapt``, the guest made to boot on the target, is in :mod:`actions.adapt`.)
* ``upload`` — resumable multipart upload to S3 staging; the staged file's digest must equal
  the one journaled by ``convert`` (or ``adapt``, for its adapted copy): a byte changed in
  staging fails here, before import.
* ``import`` — the target takes the staged object, verified against the content digest.
* ``launch`` — the test launch: the instance is created isolated (``test_mode``) and started.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from actions.context import RunContext, labels, make_store, store_problem
from actions.data import database_sides
from connectors import bootproof, qemu
from connectors.database import mariadb
from connectors.hypervisor import missing_domains
from connectors.targets.base import (
    CapacityRequest,
    DiskSource,
    ImportedDisk,
    Instance,
    InstanceSpec,
    InstanceState,
    ObjectRef,
)
from shangyun.digest import digest_file
from shangyun.errors import ConnectorError, StepError, VerificationError
from shangyun.journal.status import DONE
from shangyun.wave.precheck import REQUIRED_TOOLS, Observations, precheck_problems
from shangyun.wave.stepargs import (
    ConvertArgs,
    ConvertDone,
    ConvertPlanned,
    DataItem,
    ImportArgs,
    ImportDone,
    ImportPlanned,
    LaunchArgs,
    LaunchDone,
    PrecheckArgs,
    UploadArgs,
    UploadPlanned,
    as_record,
    from_record,
    staged_image,
)
from shangyun.wave.steps import Step

LAUNCH_POLLS, LAUNCH_POLL_SECONDS = 60, 1.0
NO_ROOTS = ("no datastore roots are configured for this system's bureau, so no source image "
            "is read: set datastore_roots in estate.yaml (a list, or per bureau id) or give "
            "'wave run --datastore-root DIR'")


# --------------------------------------------------------------------------- precheck

@dataclass
class PrecheckAction:
    """Pre-checks of one system; refuses with every problem (no undo needed)."""

    ctx: RunContext

    def do(self, step: Step, done: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
        """Observe and decide; raise :class:`StepError` listing every problem."""
        a = step.args_as(PrecheckArgs)
        obs = Observations(step.system_id, a.plan_fingerprint, a.estate_fingerprint,
                           tools={t: shutil.which(t) for t in REQUIRED_TOOLS},
                           who=self.ctx.who(step),
                           disk_where={d.path: d.where for d in a.disks if d.where},
                           diskless_hosts=list(a.diskless_hosts))
        for uri in a.hypervisors:
            why = missing_domains(uri, a.hosts)
            if why:
                obs.unreachable_hypervisors[uri] = why
        needed = 0
        fmt = self.ctx.opts.target_format
        roots = a.datastore_roots
        for d in a.disks:
            if not roots:
                obs.unreadable_disks[d.path] = NO_ROOTS
                continue
            try:  # under the datastore roots, no backing/extent outside
                qemu.admit(d.path, d.format, roots=roots)
                found = header_format(d.path, d.format, roots)
                if found:
                    obs.wrong_formats[d.path] = (d.format, found)
                    continue
                needed += qemu.measure(d.path, fmt, d.format)
            except ConnectorError as exc:  # the path is said once, beside the disk
                same = isinstance(exc, qemu.QemuImgError) and exc.path == d.path
                obs.unreadable_disks[d.path] = exc.reason if same else str(exc)
        staging = Path(a.staging_dir)
        obs.staging_unwritable = staging_problem(staging)
        if not obs.staging_unwritable:
            obs.staging_free, obs.staging_needed = qemu.free_bytes(staging), needed
        if a.bucket and a.s3_endpoint:  # (AWS itself, no endpoint given, is not asked)
            why = store_problem(a.s3_endpoint, a.bucket)
            if why:
                obs.unusable_services[f"the S3 staging endpoint {a.s3_endpoint} "
                                      f"(bucket {a.bucket})"] = why
        obs.changed_disks = self._changed_since_copied(step, a)
        problems = precheck_problems(obs) + freeze_problems(self.ctx.who(step),
                                                            a.frozen_databases)
        capacity: dict[str, Any] = {}
        try:  # the target cloud answers (its connection is made here), then its capacity
            target = self.ctx.target(a.target_options)
            if not problems:
                cap = target.check_capacity(CapacityRequest(
                    vcpus=int(a.cpus), memory_mb=int(float(a.memory_gb) * 1024),
                    disk_bytes=needed, instances=len(a.hosts)))
                capacity = cap.to_dict()
                problems += [f"system {self.ctx.who(step)}: target: {r}" for r in cap.reasons]
        except ConnectorError as exc:
            problems.append(f"system {self.ctx.who(step)}: the target cloud ({a.target}) "
                            f"cannot be used: {' '.join(str(exc).split())}")
        if problems:
            raise StepError("pre-check refused:\n  - " + "\n  - ".join(problems))
        return {"staging_needed": needed, "staging_free": obs.staging_free,
                "capacity": capacity, "estate_fingerprint": a.estate_fingerprint,
                "steps": list(a.steps)}

    def _changed_since_copied(self, step: Step, a: PrecheckArgs) -> list[tuple[str, str, str]]:
        """The disks of the system whose copy the journal holds (a ``convert`` step done in
        an earlier run) made from another image than the estate names now (a re-import
        changed its path or format): (where, what it was copied from, what it is now)."""
        if self.ctx.journal is None:
            return []
        out = []
        for d in a.disks:
            rec = self.ctx.journal.last(self.ctx.wave, step.system_id,
                                        f"{step.system_id}/convert/{d.id}")
            if rec is None or rec.status != DONE or not rec.payload.get("source"):
                continue  # never copied (or an older journal: nothing to compare)
            was = (str(rec.payload["source"]), str(rec.payload.get("source_format") or ""))
            if was != (d.path, d.format):
                out.append((d.where or d.id, f"{was[0]} ({was[1]})", f"{d.path} ({d.format})"))
        return out

    def still_valid(self, step: Step, payload: Mapping[str, Any]) -> bool:
        """A passed pre-check holds while the estate is the one it checked."""
        a = step.args_as(PrecheckArgs)
        return (payload.get("estate_fingerprint") == a.estate_fingerprint == a.plan_fingerprint
                and list(payload.get("steps") or []) == list(a.steps))

    def undo(self, payload: Mapping[str, Any]) -> None:
        """Nothing to undo: a pre-check only looks."""


def freeze_problems(who: str, databases: Sequence[DataItem]) -> list[str]:
    """Why a database the freeze step will make read-only cannot be frozen on its own
    (MariaDB: :func:`connectors.database.mariadb.freeze_problems`; a PostgreSQL database
    always can), each naming the system; a server that does not answer is one too."""
    out: list[str] = []
    for item in databases:
        if item.engine != "mariadb":
            continue
        try:
            _, src, _ = database_sides(item)
            out += [f"system {who}: {p}" for p in mariadb.freeze_problems(src)]
        except (ConnectorError, StepError) as exc:
            out.append(f"system {who}: database {item.id}: the source server cannot be "
                       f"asked whether it can be frozen: {' '.join(str(exc).split())}")
    return out


def header_format(path: str, fmt: str, roots: Sequence[str]) -> str:
    """The format the image's header shows when it is not ``fmt`` (the estate's; a disk
    without one is read as raw), else ``""``. Probed by qemu-img only after
    :func:`connectors.qemu.admit` has read the header itself and found no file named
    outside the image's folder. Read as raw, a qcow2 or vhd file would be copied as its
    container bytes (and verified equal to them): the guest would get a disk it cannot use."""
    found = qemu.admit(path, None, roots=roots).format
    if found == fmt or (fmt == "vhd" and found == "raw"):  # a fixed VHD probes as raw
        return ""
    return found


def staging_problem(staging: Path) -> str:
    """Why the staging folder cannot take converted images (made if missing; a probe file
    written and removed), or ``""``: a read-only or full file system is said here, by the
    pre-check, before anything is converted."""
    try:
        staging.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".shangyun-probe-", dir=staging)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        return (f"the staging folder {staging} cannot be written: "
                f"{exc.strerror or exc}")
    return ""


# --------------------------------------------------------------------------- convert

@dataclass
class ConvertAction:
    """qemu-img convert into staging, verified by compare + content digest."""

    ctx: RunContext

    def do(self, step: Step, done: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
        """Convert, verify, and return the staged image's path and digests."""
        a = step.args_as(ConvertArgs)
        if not a.datastore_roots:
            raise StepError(f"system {self.ctx.who(step)}: {a.source}: {NO_ROOTS}")
        qemu.source_path(a.source, a.datastore_roots)  # refused before anything is read
        found = header_format(a.source, a.source_format, a.datastore_roots)
        if found:  # (the pre-check refuses it too; a resumed run may skip the pre-check)
            raise StepError(f"system {self.ctx.who(step)}: {a.source} is a {found} image but "
                            f"the estate gives its format as {a.source_format}: set the "
                            f"disk's format (格式) to {found} and plan again")
        dst = Path(step.planned_as(ConvertPlanned).path)
        dst.parent.mkdir(parents=True, exist_ok=True)
        algo = a.digest

        def report(pct: float) -> None:
            if self.ctx.progress is not None:
                self.ctx.progress(step, pct)

        # the source's content digest is read while qemu-img converts (two processes)
        with ThreadPoolExecutor(1, thread_name_prefix="source-digest") as pool:
            src_future = pool.submit(qemu.content_digest, a.source, algo,
                                     fmt=a.source_format)
            qemu.convert(a.source, dst, a.target_format, src_format=a.source_format,
                         subformat=a.subformat, progress=report)
            src_digest = src_future.result()
            # compare + the copy's content digest, while its file digest (for S3) is read
            file_future = pool.submit(digest_file, dst, algo)
            got = qemu.verify_copy(a.source, dst, src_format=a.source_format,
                                   dst_format=a.target_format, expected_digest=src_digest,
                                   algorithm=algo)
            file_digest = file_future.result()
        return as_record(ConvertDone(path=str(dst), format=a.target_format,
                                     content_digest=got, source_digest=src_digest,
                                     file_digest=file_digest, size=dst.stat().st_size,
                                     algorithm=algo, compare="identical",
                                     source=a.source, source_format=a.source_format))

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
        planned = step.planned_as(UploadPlanned)
        ua = step.args_as(UploadArgs)
        conv = staged_image(done, ua.convert_key, ua.adapt_key, ua.disk_id)
        bucket, key = planned.bucket, planned.key
        store = self.ctx.store()
        store.ensure_bucket(bucket)

        def on_state(state: dict[str, Any]) -> None:
            self.ctx.save_state(step, "upload_state", state)

        def progress(sent: int, total: int) -> None:
            if self.ctx.progress is not None and total:
                self.ctx.progress(step, 100.0 * sent / total)

        res = store.upload_file(Path(conv.path), bucket, key, algorithm=conv.algorithm,
                                digest=conv.file_digest,
                                resume=self.ctx.saved_state(step, "upload_state"),
                                on_state=on_state, progress=progress)
        return {**res.to_dict(), "endpoint": planned.endpoint}

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
    #: its undo drops/deletes: the engine first checks the step's audit record
    destructive_undo: ClassVar[bool] = True

    def do(self, step: Step, done: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
        """Import and return the target's disk record."""
        a = step.args_as(ImportArgs)
        up = done[a.upload_key]
        conv = staged_image(done, a.convert_key, a.adapt_key, a.disk_id)
        target = self.ctx.target(a.target_options)
        source: DiskSource = ObjectRef(bucket=up["bucket"], key=up["key"], size=int(up["size"]),
                                digest=up["digest"])
        landing = Path(step.planned_as(ImportPlanned).landing)
        if target.takes_local_files:
            # fetch the staged object (digest-checked) for a target that takes local files
            landing.parent.mkdir(parents=True, exist_ok=True)
            got = self.ctx.store().download_file(up["bucket"], up["key"], landing)
            if got != up["digest"]:
                raise VerificationError(f"system {self.ctx.who(step)}: s3://{up['bucket']}/"
                                        f"{up['key']} downloaded as {got}, uploaded as "
                                        f"{up['digest']}")
            source = landing
        try:
            disk = target.import_disk(
                source, name=a.volume, fmt=a.format, digest=conv.content_digest,
                labels=labels(a.wave, a.bureau, step.system_id))
        finally:
            with contextlib.suppress(FileNotFoundError):
                landing.unlink()
        if disk.digest != conv.content_digest:
            raise VerificationError(f"system {self.ctx.who(step)}: imported disk {a.volume} "
                                    f"has digest {disk.digest}, expected "
                                    f"{conv.content_digest}")
        return as_record(ImportDone(disk.to_record()))

    def still_valid(self, step: Step, payload: Mapping[str, Any]) -> bool:
        """The imported disk is still in the target (as far as the target can tell)."""
        if "disk" not in payload:
            return False
        t = self.ctx.target(step.args_as(ImportArgs).target_options)
        return t.has_disk(ImportedDisk.from_record(dict(payload["disk"])))

    def undo(self, payload: Mapping[str, Any]) -> None:
        """Delete the imported disk from the target."""
        if payload.get("landing"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(str(payload["landing"]))
        if "disk" not in payload:
            return
        with self.ctx.make_target(str(payload["target"]), payload.get("target_options") or {}) as t:
            t.delete_disk(ImportedDisk.from_record(dict(payload["disk"])))


# --------------------------------------------------------------------------- launch

def _size(path: str) -> int:
    """The size of a console file now (the boot proof reads only what comes after)."""
    try:
        return os.path.getsize(path) if path else 0
    except OSError:
        return 0


@dataclass
class LaunchAction:
    """The test launch: create the instance isolated and start it."""

    ctx: RunContext
    #: its undo drops/deletes: the engine first checks the step's audit record
    destructive_undo: ClassVar[bool] = True

    def do(self, step: Step, done: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
        """Create (test mode), start, and check it runs."""
        a = step.args_as(LaunchArgs)
        disks = [ImportedDisk.from_record(from_record(ImportDone, done[k]).disk)
                 for k in a.import_keys]
        spec = InstanceSpec(name=a.name, vcpus=int(a.cpus),
                            memory_mb=int(a.memory_mb),
                            labels=labels(a.wave, a.bureau, step.system_id),
                            macs=(a.mac,) if a.mac else ())
        t = self.ctx.target(a.target_options)
        inst = t.create_instance(spec, disks, test_mode=True)
        self.ctx.save_state(step, "instance", inst.to_record())  # a failed boot is undone
        console = inst.extra.get("console", "")
        since = _size(console)
        started = time.monotonic()
        t.start(inst)
        state = t.status(inst)
        for _ in range(LAUNCH_POLLS):  # bounded wait while it boots
            if state != InstanceState.PENDING:
                break
            time.sleep(LAUNCH_POLL_SECONDS)
            state = t.status(inst)
        if state != InstanceState.RUNNING:
            raise StepError(f"system {self.ctx.who(step)}: test launch of {a.name} is "
                            f"{state}, not running")
        boot: dict[str, Any] = {}
        if a.boot_verify:
            boot = self._prove(step, a, console, since, started)
        return as_record(LaunchDone(inst.to_record(), str(state), boot,
                                    dict(a.target_options)))

    def _prove(self, step: Step, a: LaunchArgs, console: str, since: int,
               started: float) -> dict[str, Any]:
        """The boot proof (console, original host key, hostname, app); StepError with the
        console excerpt if the guest did not boot to a working system."""
        bv = a.boot_verify

        def report(pct: float) -> None:
            if self.ctx.progress is not None:
                self.ctx.progress(step, pct)

        if not console:
            raise StepError(f"system {self.ctx.who(step)}: boot proof of {a.name} asked for, but "
                            f"the target gives no console (set its console_dir)")
        try:
            host_key = bootproof.original_host_key(bv["known_hosts"], a.ip, a.hostname)
            ports = tuple(int(p) for p in str(bv.get("app_ports") or "").split(",") if p)
            ev = bootproof.prove_boot(bootproof.BootTarget(
                name=a.name, console=console, ip=a.ip, hostname=a.hostname,
                host_key=host_key, key_file=bv["key_file"], user=bv.get("user") or "root",
                app_ports=ports, app_path=bv.get("app_path") or "/",
                via_netns=bv.get("via_netns") or "",
                console_timeout=float(bv.get("timeout") or 300)),
                started=started, console_since=since, progress=report)
        except bootproof.BootFailed as exc:
            self.ctx.save_state(step, "boot", {"failed": str(exc), **exc.evidence})
            shown = str(exc.evidence.get("console_excerpt") or "")[-1500:]
            raise StepError(f"system {self.ctx.who(step)}: test launch of {a.hostname or a.name} "
                            f"did not boot: {exc}\n--- console ---\n{shown}") from exc
        return ev.to_dict()

    def still_valid(self, step: Step, payload: Mapping[str, Any]) -> bool:
        """The test instance still exists in the target."""
        if "instance" not in payload:
            return False
        inst = Instance.from_record(dict(payload["instance"]))
        t = self.ctx.target(step.args_as(LaunchArgs).target_options)
        return bool(t.status(inst) != InstanceState.ABSENT)

    def undo(self, payload: Mapping[str, Any]) -> None:
        """Stop and delete the test instance (also one whose boot proof failed)."""
        if "instance" not in payload:
            return
        with self.ctx.make_target(str(payload["target"]), payload.get("target_options") or {}) as t:
            t.delete_instance(Instance.from_record(dict(payload["instance"])))
