"""The lab: a small, real estate on this machine for the demo, tests and benchmarks.

Python API (see ``docs/lab.md``)::

    import lab
    state = lab.up(Path(".lab"), bureaus=2, hosts=None)   # idempotent; returns LabState
    lab.status(Path(".lab"))                               # dict: per-host running/ssh
    lab.down(Path(".lab"))                                 # stops and removes everything
    state = lab.LabState.load(Path(".lab"))

For tests: :func:`tests.lab_support.lab_session`.
"""

from __future__ import annotations

from lab.build import default_lab_dir, down, status, up
from lab.state import (
    LabDatabase,
    LabDependency,
    LabDomain,
    LabError,
    LabHost,
    LabHypervisor,
    LabImage,
    LabService,
    LabState,
)

__all__ = [
    "LabDatabase", "LabDependency", "LabDomain", "LabError", "LabHost", "LabHypervisor",
    "LabImage", "LabService", "LabState", "default_lab_dir", "down", "status", "up",
]
