"""One machine reachable at two addresses, merged into an estate imported from a ledger.

A real sshd answers on 127.0.0.1 and 127.0.0.2 with one host key (one machine, two
interfaces' addresses). The ledger lists it once (web, 64 cores, 512 GB); discovery reaches
it at its estate address and, as ``--target``, at its second address. It must stay one
host, with conflicts only where the machine and the ledger really disagree (CPU, memory…),
not on its address or its bureau; ``inventory conflicts`` lists them naming the host and
``inventory resolve`` settles them for good."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from shangyun.cli import main
from shangyun.estate import Estate
from tests.discovery.sshd import SSHD, Sshd, SshdFarm, _wait_port


@pytest.fixture(scope="module")
def two_address_host(
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SshdFarm, Sshd, Path]]:
    """An sshd on 127.0.0.1:P and (a second listener with the same host key) 127.0.0.2:P;
    known_hosts records the key under both names, as ssh-keyscan of both would."""
    root = tmp_path_factory.mktemp("sshd-two-addresses")
    farm = SshdFarm(root / "farm")
    try:
        (first,) = farm.start(1)
        cfg = (first.folder / "sshd_config").read_text()
        second_cfg = first.folder / "sshd_config.2"
        second_cfg.write_text(cfg.replace("ListenAddress 127.0.0.1", "ListenAddress 127.0.0.2")
                              .replace(f"PidFile {first.folder / 'sshd.pid'}",
                                       f"PidFile {first.folder / 'sshd2.pid'}"))
        proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(second_cfg)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        second = Sshd("127.0.0.2", first.port, first.folder, proc, first.host_pub)
        farm.servers.append(second)  # stopped with the farm
        _wait_port(second.address, second.port, proc)
        known = root / "known_hosts"
        known.write_text(f"[127.0.0.1]:{first.port},[127.0.0.2]:{first.port} "
                         f"{first.host_pub}\n")
        yield farm, first, known
    finally:
        farm.stop()


def _estate_from_ledger(tmp_path: Path, port: int) -> Path:
    """The estate as a bureau's ledger gives it (the ledger cannot hold a loopback address:
    the operator then points the host at the address discovery reaches it by)."""
    ledger = tmp_path / "台账.csv"
    ledger.write_text("单位,系统名称,主机名,IP地址,操作系统,CPU(核),内存(G)\n"
                      "一局,办公,web,192.0.2.10,CentOS 7.9,64,512\n", encoding="utf-8")
    estate_dir = tmp_path / "estate"
    res = CliRunner().invoke(main, ["inventory", "import", str(ledger), "--estate",
                                    str(estate_dir), "--json"])
    assert res.exit_code == 0, res.output
    est = Estate.load(estate_dir)
    hosts = est.rows("hosts")
    for h in hosts:
        h.update(ip="127.0.0.1", ssh_port=port)
    est.set_rows("hosts", hosts)
    est.save(estate_dir)
    return estate_dir


def _discover(estate_dir: Path, farm: SshdFarm, known: Path, port: int) -> dict[str, object]:
    res = CliRunner().invoke(main, [
        "discover", "--estate", str(estate_dir), "--key", str(farm.client_key),
        "--known-hosts", str(known), "--target", f"127.0.0.2:{port}", "--timeout", "5",
        "--retries", "0", "--sample-seconds", "0.1", "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


def test_a_host_at_two_addresses_is_one_host_with_only_real_conflicts(
        tmp_path: Path, two_address_host: tuple[SshdFarm, Sshd, Path]) -> None:
    farm, srv, known = two_address_host
    estate_dir = _estate_from_ledger(tmp_path, srv.port)
    run = _discover(estate_dir, farm, known, srv.port)
    assert [h["status"] for h in run["hosts"]] == ["ok", "ok"]

    est = Estate.load(estate_dir)
    (host,) = est.rows("hosts")                       # one machine: one host
    # ... and counted once: one estate host updated, none added; its disks once each
    # the run's table names the second address's row by the host it turned out to be
    assert [(h["host_id"], h["hostname"], h["address"]) for h in run["hosts"]] == [
        (host["id"], "web", f"127.0.0.1:{srv.port}"),
        (host["id"], "web", f"127.0.0.2:{srv.port}")], run["hosts"]
    applied = run["applied"]
    assert (applied["hosts_updated"], applied["hosts_added"]) == (1, 0), applied
    assert applied["disks"] == len(est.rows("disks")) > 0, applied
    assert host["hostname"] == "web" and host["ip"] == "127.0.0.1"
    bureau = host["bureau_id"]
    assert {b["id"] for b in est.rows("bureaus")} == {bureau}  # no 'unassigned' left over
    columns = {c["column"] for c in est.rows("conflicts")}
    assert {"cpu_cores", "memory_gb"} <= columns
    # its second address is one of its own: no conflict on the address, nor on a bureau
    # discovery cannot know
    assert "ip" not in columns and "bureau_id" not in columns, est.rows("conflicts")

    res = CliRunner().invoke(main, ["inventory", "conflicts", "--estate", str(estate_dir),
                                    "--json"])
    assert res.exit_code == 0, res.output
    listed = json.loads(res.output)
    text = json.dumps(listed, ensure_ascii=False)
    assert "web" in text and "cpu_cores" in text and "512" in text

    res = CliRunner().invoke(main, ["inventory", "resolve", "web", "--keep", "incoming",
                                    "--column", "cpu_cores", "--apply",
                                    "--estate", str(estate_dir)])
    assert res.exit_code == 0, res.output
    est = Estate.load(estate_dir)
    (host,) = est.rows("hosts")
    found = json.loads((estate_dir / "facts" / f"{host['id']}.json").read_text())
    # the host's facts file is the one of its estate address, not overwritten by the
    # same machine reached at its second address
    assert found["target"]["address"] == "127.0.0.1", found["target"]
    assert host["cpu_cores"] == found["facts"]["cpu"]["cores"]
    assert host["memory_gb"] == 512                   # not settled: the ledger's stays
    assert "cpu_cores" not in {c["column"] for c in est.rows("conflicts")}

    # a second run raises the settled conflict no more, and adds no host
    _discover(estate_dir, farm, known, srv.port)
    est = Estate.load(estate_dir)
    assert len(est.rows("hosts")) == 1
    columns = [c["column"] for c in est.rows("conflicts")]
    assert "cpu_cores" not in columns and columns.count("memory_gb") == 1

    # the private key never lands in the estate
    secret = farm.client_key.read_text().splitlines()[1]
    for f in estate_dir.rglob("*"):
        if f.is_file():
            assert secret not in f.read_text(errors="replace"), f
