"""The ``adapt`` step: make a converted guest boot on the target and keep its network.

Between ``convert`` and ``upload``, per host. On each converted disk a qcow2 overlay is
made (the converted image is its read-only backing file, never written); libguestfs
inspects the guest through the overlays (:class:`connectors.guestfs.GuestSession`), the
core decides (:func:`shangyun.guests.policy.decide`) and the connector applies the edits;
each overlay is then flattened into the adapted copy in the target's format, verified
(``qemu-img compare`` + content digest) and digested for upload. ``upload`` and ``import``
take the adapted copies (:func:`shangyun.wave.stepargs.staged_image`).

* An image with no partition table or filesystem at all (the lab's 16 MiB test-driver
  disks) is skipped without an appliance — recorded ``no operating system found:
  nothing to adapt`` — unless the plan says ``guest.adapt: required``.
* A refusal (encrypted root, Windows, unknown OS …) fails the step with the reason; the
  system is rolled back like any failed step.
* Undo deletes the adapted copies and overlays (journaled as planned before the step
  ran); the converted images stay as they were.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from actions.context import RunContext
from connectors import qemu
from connectors.guestfs import GuestSession, create_overlay, image_head
from shangyun.digest import digest_file
from shangyun.errors import StepError, VerificationError
from shangyun.guests.model import AdaptPlan, GuestFacts, GuestSettings, Refused
from shangyun.guests.policy import decide
from shangyun.guests.probe import signatures
from shangyun.wave.stepargs import AdaptArgs, AdaptDone, ConvertDone, as_record, from_record
from shangyun.wave.steps import Step

NO_OS = "no operating system found: nothing to adapt"


def overlay_path(adapted: str) -> str:
    """Where the overlay of an adapted copy lives while the step runs."""
    return f"{adapted}.overlay.qcow2"


@dataclass
class AdaptAction:
    """Adapt one host's guest on copies of its converted disks (see the module docstring)."""

    ctx: RunContext

    def do(self, step: Step, done: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
        """Inspect, decide, edit, flatten, verify; return :class:`AdaptDone`'s record."""
        t0 = time.monotonic()
        a = step.args_as(AdaptArgs)
        convs = {d.id: from_record(ConvertDone, done[d.convert_key]) for d in a.disks}
        if a.mode == "off":
            return self._skipped(a, convs, "adaptation off in the plan (guest.adapt: off)", t0)
        found = {d.id: signatures(image_head(convs[d.id].path, convs[d.id].format))
                 for d in a.disks}
        if not any(found.values()):
            if a.mode == "required":
                raise StepError(f"system {self.ctx.who(step)}: the guest of {a.hostname} cannot "
                                f"be adapted: no partition table or filesystem on its disks, "
                                "and the plan requires it to boot (guest.adapt: required)")
            return self._skipped(a, convs, NO_OS, t0,
                                 ["no partition table, filesystem, LVM or LUKS signature on "
                                  "the disks (no appliance started)"])
        self._progress(step, 5.0)
        overlays = []
        for d in a.disks:
            ov = overlay_path(d.adapted)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(ov)
            overlays.append(str(create_overlay(convs[d.id].path, convs[d.id].format, ov)))
        try:
            with GuestSession([(ov, "qcow2") for ov in overlays]) as session:
                facts = session.inspect()
                self._progress(step, 30.0)
                settings = GuestSettings(mode=a.mode, nics=dict(a.nics),
                                         macs=tuple(a.macs), readdress=dict(a.readdress))
                decision = decide(facts, settings)
                if isinstance(decision, Refused):
                    raise StepError(f"system {self.ctx.who(step)}: the guest of {a.hostname} "
                                    f"cannot be adapted: {decision.reason}")
                if not isinstance(decision, AdaptPlan):
                    return self._skipped(a, convs, decision.reason, t0,
                                         guest=facts.summary())
                records = session.apply(decision)
                self._progress(step, 70.0)
                self._verify_initrds(step, session, facts, decision)
            disks = {d.id: self._flatten(a, ov, d.adapted, convs[d.id], len(records))
                     for d, ov in zip(a.disks, overlays, strict=True)}
        finally:
            for ov in overlays:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(ov)
        edits = [r.to_dict() for r in records]
        return as_record(AdaptDone(
            state="adapted", reason="",
            adaptation=f"adapted: {len(records)} edit(s) in {facts.product or facts.distro}",
            guest={**facts.summary(), "estate_os": a.os}, edits=edits,
            notes=list(decision.notes), disks=disks, seconds=time.monotonic() - t0))

    def _progress(self, step: Step, pct: float) -> None:
        if self.ctx.progress is not None:
            self.ctx.progress(step, pct)

    def _skipped(self, a: AdaptArgs, convs: Mapping[str, ConvertDone], reason: str,
                 t0: float, notes: list[str] | None = None,
                 guest: dict[str, Any] | None = None) -> dict[str, Any]:
        return as_record(AdaptDone(
            state="skipped", reason=reason, adaptation=f"skipped: {reason}",
            guest={**(guest or {}), "estate_os": a.os}, edits=[], notes=notes or [],
            disks={k: as_record(v) for k, v in convs.items()},
            seconds=time.monotonic() - t0))

    def _verify_initrds(self, step: Step, session: GuestSession, facts: GuestFacts,
                        plan: AdaptPlan) -> None:
        """Every rebuilt initramfs holds the virtio drivers the guest needs to find its
        root disk (listed from the image itself, after the rebuild)."""
        for kver, initrd in sorted(facts.initrds.items()):
            needed = [m for m in plan.verify_modules
                      if m in facts.kernel_modules.get(kver, ())]
            if not needed:
                continue
            names = {Path(n).name.split(".ko")[0] for n in session.initrd_listing(initrd)
                     if ".ko" in n}
            missing = [m for m in needed if m not in names]
            if missing:
                raise VerificationError(
                    f"system {self.ctx.who(step)}: the rebuilt initramfs {initrd} lacks "
                    f"{', '.join(missing)}: the guest would not find its root disk")

    def _flatten(self, a: AdaptArgs, overlay: str, adapted: str, conv: ConvertDone,
                 edits: int) -> dict[str, Any]:
        """The overlay written out as the adapted copy in the target's format, verified."""
        algo = conv.algorithm
        dst = Path(adapted)
        with ThreadPoolExecutor(1, thread_name_prefix="adapted-digest") as pool:
            src_future = pool.submit(qemu.content_digest, overlay, algo, fmt="qcow2")
            qemu.convert(overlay, dst, a.target_format, src_format="qcow2",
                         subformat=a.subformat)
            overlay_digest = src_future.result()
            file_future = pool.submit(digest_file, dst, algo)
            got = qemu.verify_copy(overlay, dst, src_format="qcow2",
                                   dst_format=a.target_format,
                                   expected_digest=overlay_digest, algorithm=algo)
            file_digest = file_future.result()
        return as_record(ConvertDone(path=str(dst), format=a.target_format,
                                     content_digest=got, source_digest=conv.source_digest,
                                     file_digest=file_digest, size=dst.stat().st_size,
                                     algorithm=algo,
                                     compare=f"adapted copy ({edits} guest edit(s)); "
                                             f"converted copy: {conv.compare}"))

    def still_valid(self, step: Step, payload: Mapping[str, Any]) -> bool:
        """Skipped: still nothing to adapt. Adapted: every adapted copy is still there
        with its size (its bytes are checked on upload)."""
        for rec in (payload.get("disks") or {}).values():
            p = Path(str(rec.get("path", "")))
            if not p.is_file() or p.stat().st_size != rec.get("size"):
                return False
        return bool(payload.get("disks"))

    def undo(self, payload: Mapping[str, Any]) -> None:
        """Delete the adapted copies and their overlays (never the converted images)."""
        for p in payload.get("paths") or []:
            for f in (str(p), overlay_path(str(p))):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(f)


__all__ = ["NO_OS", "AdaptAction", "overlay_path"]
