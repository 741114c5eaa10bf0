"""The Prefect server's hardening against the real ``prefect server start``
(docs/safety.md): no non-loopback listening without auth, and none of the operator's
credentials in the server's environment."""

from __future__ import annotations

import base64
import json
import os
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from connectors import prefect_server
from shangyun.cli import main

OPERATOR_SECRETS = {
    "AWS_SECRET_ACCESS_KEY": "aws-secret-of-the-operator", "AWS_ACCESS_KEY_ID": "AKIAOPERATOR",
    "PGPASSWORD": "pg-secret", "SHANGYUN_JOURNAL": "postgresql://u:journal-secret@db/j",
    "SHANGYUN_REDIS_URL": "redis://:redis-secret@127.0.0.1/0", "MYSQL_PWD": "my-secret",
    "PREFECT_API_KEY": "pnu_client_secret",
}


def _group_environ(pgid: int) -> list[dict[str, str]]:
    """The environment of every process in the server's process group."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text().rsplit(")", 1)[-1].split()
            if int(stat[2]) != pgid:
                continue
            raw = (proc / "environ").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        found.append(dict(e.split("=", 1) for e in raw.decode(errors="replace").split("\0")
                          if "=" in e))
    return found


def test_non_loopback_without_auth_is_refused_and_nothing_starts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(prefect_server.AUTH_ENV, raising=False)
    port = prefect_server.free_port()
    for host in ("0.0.0.0", "::", "10.1.2.3", "my-host.example"):
        r = CliRunner().invoke(main, ["server", "start", "--estate", str(tmp_path), "--host",
                                      host, "--port", str(port)])
        assert r.exit_code != 0
        assert f"refusing to start the Prefect server on {host}" in r.output
        assert prefect_server.AUTH_ENV in r.output
    assert not (prefect_server.default_state_dir(tmp_path) / prefect_server.STATE_FILE).exists()
    assert not prefect_server.healthy("127.0.0.1", port, timeout=1.0)
    with pytest.raises(prefect_server.ServerError, match="user:password"):
        prefect_server.start(tmp_path / "s", host="0.0.0.0", auth_string="no-colon")
    assert prefect_server.is_loopback("127.0.0.5") and prefect_server.is_loopback("::1")


def test_server_env_keeps_no_credentials() -> None:
    env = prefect_server.server_env({**OPERATOR_SECRETS, "PATH": "/usr/bin", "LC_ALL": "C",
                                     "PREFECT_SERVER_SERVICES_REPOSSESSOR_LOOP_SECONDS": "2"})
    assert env == {"PATH": "/usr/bin", "LC_ALL": "C",
                   "PREFECT_SERVER_SERVICES_REPOSSESSOR_LOOP_SECONDS": "2"}


def test_public_server_requires_auth_and_gets_a_minimal_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in OPERATOR_SECRETS.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv(prefect_server.AUTH_ENV, "shangyun:s3cret-pass")
    port = prefect_server.free_port("0.0.0.0")
    state = tmp_path / "server"
    info = prefect_server.start(state, host="0.0.0.0", port=port, advertise="127.0.0.1",
                                timeout=180)
    try:
        assert info.running
        assert "s3cret" not in (state / prefect_server.STATE_FILE).read_text()
        url = f"http://127.0.0.1:{port}/api/flows/filter"
        body = json.dumps({}).encode()
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(urllib.request.Request(url, data=body, method="POST",
                                   headers={"Content-Type": "application/json"}), timeout=10)
        assert err.value.code == 401
        token = base64.b64encode(b"shangyun:s3cret-pass").decode()
        with urllib.request.urlopen(urllib.request.Request(url, data=body, method="POST",
                                    headers={"Content-Type": "application/json",
                                             "Authorization": f"Basic {token}"}),
                                    timeout=10) as ok:
            assert ok.status == 200
        envs = _group_environ(info.pid)
        assert envs, "the server's processes were not found"
        for env in envs:
            leaked = sorted(k for k in env if k in OPERATOR_SECRETS)
            assert leaked == [], leaked
            assert not any(v in "\n".join(env.values()) for v in OPERATOR_SECRETS.values())
            assert env.get(prefect_server.AUTH_ENV) == "shangyun:s3cret-pass"
    finally:
        assert prefect_server.stop(state)
    assert os.environ["AWS_SECRET_ACCESS_KEY"] == OPERATOR_SECRETS["AWS_SECRET_ACCESS_KEY"]
