"""Small helpers for the lab tests: run a command on a lab host over real SSH."""

from __future__ import annotations

import paramiko

from lab import LabHost, LabState


def ssh_client(state: LabState, host: LabHost) -> paramiko.SSHClient:
    """A paramiko client logged in to ``host`` with the lab key; unknown keys are rejected."""
    c = paramiko.SSHClient()
    c.load_host_keys(state.known_hosts)
    c.set_missing_host_key_policy(paramiko.RejectPolicy())
    c.connect(host.ip, port=host.port, username=state.user, key_filename=state.client_key,
              allow_agent=False, look_for_keys=False, timeout=10, banner_timeout=10,
              auth_timeout=10)
    return c


def run(state: LabState, host: LabHost, command: str) -> str:
    """Run ``command`` on ``host``; return stdout (fails the test on a non-zero exit)."""
    c = ssh_client(state, host)
    try:
        _, out, err = c.exec_command(command, timeout=20)
        text = out.read().decode()
        rc = out.channel.recv_exit_status()
        assert rc == 0, f"{host.id}: {command!r} exited {rc}: {err.read().decode()}"
        return text
    finally:
        c.close()
