"""Fixtures for the real-guest tests: the cached legacy guest image and a lab running it.

The image is built once per machine (~5 min, then cached in /var/cache/shangyun/guests by
its recipe hash); every later session finds it at once. The lab with the guest boots it
under QEMU/TCG (~1 min).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from lab import LabState
from lab.guests import GuestImage, ensure_guest_image
from tests.lab_support import can_run_lab, lab_session

TOOLS = ("debootstrap", "guestfish", "qemu-system-x86_64", "virsh", "socat")


def guests_unavailable() -> str | None:
    """Why this machine cannot build or boot the real guest (None if it can)."""
    reason = can_run_lab()
    if reason:
        return reason
    missing = [t for t in TOOLS if not shutil.which(t)]
    if missing or not os.path.exists("/usr/sbin/libvirtd"):
        return f"missing {', '.join(missing) or 'libvirtd'}: run ./scripts/setup"
    return None


@pytest.fixture(scope="session")
def guest_image() -> GuestImage:
    """The legacy guest image (built on first use, then from the cache)."""
    reason = guests_unavailable()
    if reason:
        pytest.skip(reason)
    return ensure_guest_image()


@pytest.fixture(scope="session")
def guest_lab(guest_image: GuestImage) -> Iterator[LabState]:
    """A one-bureau lab with the legacy guest running on its QEMU node and the QEMU cloud."""
    with lab_session(bureaus=1, guests=1) as state:
        yield state
