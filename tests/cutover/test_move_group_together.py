"""A move group is systems that must move together. Its members ran one after the other,
each through its cutover: the first was cut over (DNS switched, its source frozen) before
the second's pre-check refused it — the group split across source and target, the first
left alone in production. Every member now goes through the steps before the freeze
first; a member that fails there rolls the whole group back with nothing cut over."""

from __future__ import annotations

import secrets
from pathlib import Path

import yaml

from connectors.dns import DnsRecord, Route53Dns
from connectors.journal.wave import open_journal
from flows.move import move_wave
from shangyun.wave.steps import RunOptions
from tests.wave.conftest import (  # noqa: F401  (fixtures)
    FORMATS,
    Cloud,
    WaveEstate,
    bucket,
    build_estate,
    cloud,
    moto_endpoint,
)


def _grouped(root: Path, tmp_path: Path, n: int, groups: list[list[str]], moto: str,
             web: str) -> tuple[WaveEstate, str, str]:
    """An estate of ``n`` systems in move ``groups``, each with a DNS record on the source
    (127.0.1.i) that its cutover switches to the target (127.0.2.i) and a TCP health check
    on ``web``: the estate, the zone's id and name."""
    est = build_estate(root, tmp_path / "images", n_systems=n, formats=FORMATS[:1], mib=1,
                       groups=groups)
    zone = f"g{secrets.token_hex(3)}.gov.cn"
    with Route53Dns(moto) as dns:
        zid = dns.zone_id(zone, create=True)
        for i in range(1, n + 1):
            dns.switch(zid, DnsRecord.make(f"a{i}.{zone}", "A", [f"127.0.1.{i}"], 300))
    port = int(web.rsplit(":", 1)[1])
    (root / "plan" / "cutover.yaml").write_text(yaml.safe_dump({
        "schema_version": 1, "systems": {
            f"sys-0{i}": {"dns": {"endpoint": moto, "zone": zone, "records": [
                {"name": f"a{i}.{zone}", "type": "A", "values": [f"127.0.2.{i}"]}]},
                "health": [{"kind": "tcp", "host": "127.0.0.1", "port": port}]}
            for i in range(1, n + 1)}}))
    return est, zid, zone


def test_a_member_refused_before_the_freeze_leaves_no_member_cut_over(
        prefect_harness: None, tmp_path: Path, cloud: Cloud, moto_endpoint: str,  # noqa: F811
        bucket: str, web: str) -> None:  # noqa: F811
    root = tmp_path / "estate"
    est, zid, zone = _grouped(root, tmp_path, 3, [["sys-01", "sys-02"], ["sys-03"]],
                              moto_endpoint, web)
    est.images["disk-02-1"].unlink()  # sys-02's pre-check refuses it
    opts = RunOptions(target="libvirt", target_options={"uri": cloud.uri, "pool": cloud.pool},
                      staging_dir=str(tmp_path / "staging"), s3_endpoint=moto_endpoint,
                      bucket=bucket).to_dict()
    result = move_wave(str(root), 1, options=opts)
    states = {s["id"]: s["state"] for s in result["systems"]}
    assert states == {"sys-01": "rolled_back", "sys-02": "refused", "sys-03": "done"}, result
    with Route53Dns(moto_endpoint) as dns:
        assert dns.get(zid, f"a1.{zone}", "A").values == ("127.0.1.1",)  # never switched
        assert dns.get(zid, f"a3.{zone}", "A").values == ("127.0.2.3",)
    with open_journal(root) as j:
        kinds = {r.kind for r in j.records(1, "sys-01")}
        assert not kinds & {"freeze", "dns", "cutover"}, kinds  # stopped before the freeze


def test_failing_back_one_member_fails_back_the_whole_group_and_says_so(
        prefect_harness: None, tmp_path: Path, cloud: Cloud, moto_endpoint: str,  # noqa: F811
        bucket: str, web: str) -> None:  # noqa: F811
    """``wave rollback N --system S --fail-back`` on one member of a cut-over move group.
    Seen: only S came home — its DNS back on the source, the other member's still on the
    target — the group that moves together split, without a word (a plain rollback takes
    the whole group). Now the fail-back takes every member in production, naming them."""
    from click.testing import CliRunner

    from shangyun.cli import main

    root = tmp_path / "estate"
    _est, zid, zone = _grouped(root, tmp_path, 2, [["sys-01", "sys-02"]], moto_endpoint, web)
    opts = RunOptions(target="libvirt", target_options={"uri": cloud.uri, "pool": cloud.pool},
                      staging_dir=str(tmp_path / "staging"), s3_endpoint=moto_endpoint,
                      bucket=bucket).to_dict()
    result = move_wave(str(root), 1, options=opts)
    assert {s["state"] for s in result["systems"]} == {"done"}, result
    first, second = "审批系统", "档案系统"
    res = CliRunner().invoke(main, ["wave", "rollback", "1", "--estate", str(root),
                                    "--system", first, "--fail-back"])
    out = " ".join(res.output.split())
    assert res.exit_code == 0, out
    assert f"{first} moves in one move group with {second}" in out, out
    assert "failing back the whole group" in out, out
    assert f"{second}: failed back" in out, out
    with Route53Dns(moto_endpoint) as dns:
        for i in (1, 2):
            assert dns.get(zid, f"a{i}.{zone}", "A").values == (f"127.0.1.{i}",), i
    with open_journal(root) as j:  # the run journals the group it took
        (fb,) = [r for r in j.runs(1) if r["kind"] == "failback"]
        assert j.run_params(fb["id"])["group"] == ["sys-02"], j.run_params(fb["id"])
