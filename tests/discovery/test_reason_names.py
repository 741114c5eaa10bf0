"""A host that fails names itself as a person knows it: by its host name, not the hash id a
ledger import gives it (``h-53ccd487cb``), in the reason (``--json``, the table,
``facts/<host>.json``) and in the line the progress bar prints for it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from shangyun.cli import main
from shangyun.discovery.engine import _incomplete
from shangyun.discovery.model import Target
from shangyun.estate import Estate
from tests.discovery.conftest import Hosts

#: ledger-style ids (hashes) and host names as bureaus write them
CASES = {"h-53ccd487cb": ("DB01.b2.gov.cn", "changed"), "h-97a429d7bc": ("app-07", "unknown"),
         "h-2309f2d8c7": ("WEB01", "wrong_key")}


def test_a_failed_host_is_named_by_its_host_name(tmp_path: Path, sshd_hosts: Hosts) -> None:
    servers = {hid: getattr(sshd_hosts, attr) for hid, (_, attr) in CASES.items()}
    Estate.from_records({"name": "names"}, {
        "bureaus": [{"id": "b1", "name": "一局", "kind": "bureau"}],
        "systems": [{"id": "s1", "name": "办公", "bureau_id": "b1"}],
        "hosts": [{"id": hid, "hostname": CASES[hid][0], "ip": srv.address,
                   "ssh_port": srv.port, "bureau_id": "b1", "system_id": "s1"}
                  for hid, srv in servers.items()],
    }).save(tmp_path / "estate")
    args = ["discover", "--estate", str(tmp_path / "estate"), "--key", str(sshd_hosts.key),
            "--known-hosts", str(sshd_hosts.known_hosts), "--timeout", "3", "--retries", "0",
            "--sample-seconds", "0"]
    res = CliRunner().invoke(main, [*args, "--json"])
    assert res.exit_code == 1, res.output            # nobody reached
    hosts = {h["host_id"]: h for h in json.loads(res.output)["hosts"]}
    for hid, srv in servers.items():
        name = CASES[hid][0]
        assert hosts[hid]["reason"].startswith(f"{name} ({srv.address}:{srv.port}): "), \
            hosts[hid]["reason"]
        saved = json.loads((tmp_path / "estate" / "facts" / f"{hid}.json").read_text())
        assert saved["reason"].startswith(f"{name} ("), saved["reason"]

    # the table and the line the progress bar prints for each failed host
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 1
    text = res.output
    for hid in servers:
        assert f"{CASES[hid][0]} (" in text, text
        assert f"{hid}: " not in text and f"{hid} (" not in text, text


@settings(max_examples=50, deadline=None)
@given(hid=st.from_regex(r"h-[0-9a-f]{10}", fullmatch=True),
       name=st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,20}(\.[a-z]{2,5}){0,2}", fullmatch=True),
       port=st.integers(1, 65535))
def test_a_script_that_did_not_finish_names_the_host(hid: str, name: str, port: int) -> None:
    t = Target(host_id=hid, hostname=name, address="10.0.0.5", port=port, user="root")
    assert _incomplete(t, "").startswith(f"{name} (10.0.0.5:{port}): ")


@pytest.mark.parametrize("name", ["", None])
def test_a_host_without_a_name_is_named_by_its_id(name: str | None) -> None:
    t = Target(host_id="h-1", hostname=name or "", address="10.0.0.5", port=22, user="root")
    assert _incomplete(t, "").startswith("h-1 (10.0.0.5:22): ")
