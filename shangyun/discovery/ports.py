"""The ports discovery needs from the outside world (the data they exchange is in
:mod:`shangyun.discovery.model`).

Discovery never opens a connection itself: whoever runs it (the CLI, the Prefect flow, a
test) passes in something that implements these Protocols.

* :class:`ScriptRunner` runs one shell script on one host
  (:class:`connectors.ssh.SSHPool` implements it over paramiko;
  :data:`OpenScriptRunner` opens one for a run, e.g. :func:`connectors.ssh.discovery_pool`);
* :class:`HypervisorLister` lists the domains of one hypervisor URI
  (:func:`connectors.hypervisor.list_domains` implements it over libvirt);
* :class:`Runner` is what the engine calls per host: the gather script's output and the
  number of connection attempts (:func:`shangyun.discovery.engine.script_runner` makes one
  from a :class:`ScriptRunner`; tests pass plain functions returning canned output).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Protocol

from shangyun.discovery.domains import Domain
from shangyun.discovery.model import ScriptResult, SSHOptions, SSHTarget, Target


class ScriptRunner(Protocol):
    """Runs a shell script on one host (``/bin/sh -s``, the script on stdin).

    Raises :class:`~shangyun.errors.HostKeyError`, :class:`~shangyun.errors.AuthError` or
    :class:`~shangyun.errors.TransientError` naming the host; retries are its own business.
    """

    def run_script(self, target: SSHTarget, script: str) -> ScriptResult:
        """Run ``script`` on ``target`` and return its output."""
        ...


#: Opens a :class:`ScriptRunner` for one run, closed when the run ends
#: (:func:`connectors.ssh.discovery_pool` is one).
OpenScriptRunner = Callable[[SSHOptions], AbstractContextManager[ScriptRunner]]


class Runner(Protocol):
    """Runs the gather script on one discovery target: ``(stdout, attempts)`` or raises."""

    def __call__(self, target: Target, /) -> tuple[str, int]:
        """The gather script's output on ``target`` and the connection attempts it took."""
        ...


class HypervisorLister(Protocol):
    """Lists every domain (VM) of the hypervisor at a URI, sorted by name."""

    def __call__(self, uri: str, /, *, datastore_roots: Sequence[str] = ()) -> list[Domain]:
        """The domains of ``uri``; raises a :class:`~shangyun.errors.ConnectorError`. A
        local image file is read (for its sizes) only under ``datastore_roots``."""
        ...


__all__ = ["HypervisorLister", "OpenScriptRunner", "Runner", "ScriptRunner"]
