"""The demo checks this machine's PostgreSQL and MariaDB (wave 1's database copies go there)
before it starts anything: a server that is down or refuses the demo's login is said at once,
naming it and ./scripts/setup, instead of a cutover failing minutes into wave 1."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from demo import cli as demo_cli
from demo.cutover import LOCAL_DB, check_local_databases
from shangyun.errors import ShangyunError


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_machine_s_servers_let_the_demo_in() -> None:
    check_local_databases()  # scripts/setup made it so; raises otherwise


@pytest.mark.parametrize("down", ["postgresql", "mariadb"])
def test_a_server_that_is_down_is_named(down: str) -> None:
    port = _closed_port()
    servers = {**LOCAL_DB, down: {**LOCAL_DB[down], "port": port}}
    with pytest.raises(ShangyunError) as exc:
        check_local_databases(servers)
    msg = str(exc.value)
    assert f"127.0.0.1:{port}" in msg and "./scripts/setup" in msg
    assert ("PostgreSQL" if down == "postgresql" else "MariaDB") in msg
    other = "127.0.0.1:3306" if down == "postgresql" else "127.0.0.1:5432"
    assert other not in msg  # the server that works is not blamed


def test_a_refused_login_is_named() -> None:
    servers = {"postgresql": {"port": 5432, "user": "shangyun_no_such_role"}}
    with pytest.raises(ShangyunError, match=r"PostgreSQL .*shangyun_no_such_role|"
                                            r"shangyun_no_such_role.*PostgreSQL"):
        check_local_databases(servers)


def test_the_demo_stops_before_the_lab(monkeypatch: pytest.MonkeyPatch,
                                       tmp_path: Path) -> None:
    port = _closed_port()
    monkeypatch.setitem(LOCAL_DB, "postgresql", {"port": port, "user": "postgres"})
    res = CliRunner().invoke(demo_cli, ["--no-guest", "--out", str(tmp_path / "out"),
                                            "--lab-dir", str(tmp_path / "lab")])
    assert res.exit_code == 1
    assert f"127.0.0.1:{port}" in res.output and "./scripts/setup" in res.output
    assert not (tmp_path / "lab").exists() and not (tmp_path / "out").exists()
