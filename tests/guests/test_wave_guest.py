"""A wave moves the real legacy guest onto the lab's QEMU cloud and proves the move by
booting it (issue 15, items 3 and 4): the test launch on the isolated network must reach a
console login, answer SSH with the guest's *original* host key and hostname, and serve its
app; then the cutover starts it in production on the cloud's production network at its
old address, where the health check hits its real app. Without adaptation (the control,
or a sabotaged adaptation) the boot proof fails and the system is rolled back cleanly: no
test instance, no volume, no staged file left.
"""

from __future__ import annotations

import json
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import libvirt
import pytest
import yaml

from actions.rollback import rollback
from connectors.bootproof import fingerprint
from connectors.journal.wave import open_journal
from flows.move import move_wave
from flows.wave import verification_page
from lab import LabState
from shangyun.estate import Estate
from shangyun.wave.steps import RunOptions
from tests.support import moto_server
from tests.wave.conftest import write_plan

pytestmark = [pytest.mark.lab, pytest.mark.timeout(1800)]
SYSTEM = "SYS-B01-LEGACY"


@pytest.fixture(scope="module")
def s3() -> Iterator[str]:
    with moto_server() as url:
        yield url


def guest_estate(lab: LabState, root: Path) -> None:
    """The estate as discovery sees the guest: one system, one VM on the bureau's QEMU
    hypervisor, its address and MAC, its disk (the lab's copy)."""
    g = lab.guest("b01-legacy01")
    roots = {"B01": [str(Path(g.disk).parent)]}  # its datastore: the disk's folder
    Estate.from_records({"name": "guest-wave", "datastore_roots": roots}, {
        "bureaus": [{"id": "B01", "name": "B01", "kind": "bureau", "link_mbps": 1000}],
        "systems": [{"id": SYSTEM, "name": "旧门户网站", "bureau_id": "B01"}],
        "hosts": [{"id": g.id, "hostname": g.hostname, "ip": g.ip, "mac": g.mac,
                   "system_id": SYSTEM, "bureau_id": "B01", "kind": "vm",
                   "hypervisor": g.hypervisor_uri, "cpu_cores": g.vcpus,
                   "memory_gb": g.memory_mib / 1024, "os": "Debian GNU/Linux 12"}],
        # named as hypervisor discovery names a domain's disk (<domain>:<target dev>)
        "disks": [{"id": f"{g.domain}:sda", "host_id": g.id, "format": g.disk_format,
                   "size_gb": 4.0, "path": g.disk}],
    }).save(root)
    write_plan(root, {1: [[SYSTEM]]})


def wave_options(lab: LabState, tmp: Path, s3: str) -> RunOptions:
    """Onto the QEMU cloud node; the launch proves the boot from the probe namespace."""
    cloud = lab.qemu_cloud
    assert cloud is not None
    return RunOptions(
        target="libvirt",
        target_options={"uri": cloud.uri, "pool": cloud.pool,
                        "isolated_network": cloud.isolated_network,
                        "production_network": cloud.production_network,
                        "domain_type": "qemu", "console_dir": cloud.console_dir,
                        # the lab guest (minbase: no logind, no acpid) ignores the ACPI
                        # power button, so every stop (the production start's of the test
                        # launch, the rollback's of the production instance) waits this
                        # out in full before forcing it off: the default 60 s, here 3 s
                        "stop_timeout": "3"},
        staging_dir=str(tmp / "staging"), s3_endpoint=s3, bucket="guest-wave",
        boot_verify={"key_file": lab.client_key, "known_hosts": lab.known_hosts,
                     "app_ports": "8080", "via_netns": cloud.probe_netns, "timeout": "420"})


def power_off_source(lab: LabState) -> None:
    """A cold move: the legacy VM is shut off for its window (its disk is read whole)."""
    g = lab.guest("b01-legacy01")
    conn = libvirt.open(g.hypervisor_uri)
    try:
        dom = conn.lookupByName(g.domain)
        if dom.isActive():
            dom.destroy()
    finally:
        conn.close()


def left_in_cloud(lab: LabState) -> dict[str, Any]:
    cloud = lab.qemu_cloud
    assert cloud is not None
    conn = libvirt.open(cloud.uri)
    try:
        return {"domains": [d.name() for d in conn.listAllDomains()],
                "volumes": conn.storagePoolLookupByName(cloud.pool).listVolumes()}
    finally:
        conn.close()


def source_active(lab: LabState) -> bool:
    """Whether the legacy VM runs on its bureau hypervisor."""
    g = lab.guest("b01-legacy01")
    conn = libvirt.open(g.hypervisor_uri)
    try:
        return bool(conn.lookupByName(g.domain).isActive())
    finally:
        conn.close()


def the_app_at(ip: str, port: int) -> dict[str, Any]:
    """The guest app's answer at ``ip:port`` (what the health check fetched)."""
    with urllib.request.urlopen(f"http://{ip}:{port}/", timeout=10) as resp:
        return dict(json.loads(resp.read()))


def test_the_adapted_guest_boots_on_virtio_proves_it_and_serves_at_its_old_address(
        prefect_harness: None, guest_lab: LabState, tmp_path: Path, s3: str) -> None:
    """CI's one real migrated guest, end to end: converted, adapted, staged, imported and
    test-launched on the isolated network, where it reaches a login prompt, answers SSH
    with its original host key and name, and serves its app; then cut over — the source
    frozen, the guest started in production on the cloud's production network at its old
    address, and the health check hits its real app there."""
    power_off_source(guest_lab)
    g = guest_lab.guest("b01-legacy01")
    root = tmp_path / "estate"
    guest_estate(guest_lab, root)
    (root / "plan" / "cutover.yaml").write_text(yaml.safe_dump({
        "schema_version": 1, "systems": {SYSTEM: {
            "freeze": True, "force_off": True,
            # polled every 2 s while the guest boots under TCG (~25 s), not at 2, 4, 8,
            # then every 10 s (the default max_backoff): the same 4+ minutes allowed
            "health": [{"kind": "http", "url": f"http://{g.ip}:{g.app_port}/",
                        "expect_body": '"legacy-app"', "attempts": 120, "backoff": 1.0,
                        "max_backoff": 2.0, "timeout": 5}]}}}))
    result = move_wave(str(root), 1, options=wave_options(guest_lab, tmp_path, s3).to_dict())
    (sysres,) = result["systems"]
    assert sysres["state"] == "done", sysres
    with open_journal(root) as j:
        recs = {r.key: r for r in j.records(1)}
    assert recs[f"{SYSTEM}/adapt/b01-legacy01"].status == "done"
    boot = recs[f"{SYSTEM}/launch/b01-legacy01"].payload["boot"]
    assert boot["hostname"] == g.hostname
    assert boot["host_key_fingerprint"] == fingerprint(g.host_key)  # its own, kept
    assert boot["app"][0]["ok"] and '"legacy-app"' in boot["app"][0]["body"]
    assert "login:" in boot["console_excerpt"] and boot["via"].startswith("netns ")
    page = verification_page(1, result["systems"])
    assert "boot proof" in page and boot["host_key_fingerprint"] in page
    # production start: one domain on the production network with the source's MAC
    (started,) = recs[f"{SYSTEM}/start"].payload["started"]["instances"]
    cloud = guest_lab.qemu_cloud
    assert cloud is not None
    conn = libvirt.open(cloud.uri)
    try:
        dom = conn.lookupByUUIDString(started["instance_id"])
        assert dom.isActive() and not dom.name().endswith("-test")
        xml = ET.fromstring(dom.XMLDesc(0))
    finally:
        conn.close()
    (nic,) = xml.findall("devices/interface")
    assert nic.find("source").get("network") == cloud.production_network  # type: ignore[union-attr]
    assert nic.find("mac").get("address") == g.mac  # type: ignore[union-attr]
    # the health check passed against the guest's app at its old address, and what
    # answers there is the moved guest: the source is off
    (check,) = recs[f"{SYSTEM}/health"].payload["health"]
    assert check["ok"] and f"{g.ip}:{g.app_port}" in check["check"], check
    assert not source_active(guest_lab)
    assert the_app_at(g.ip, g.app_port) == {"app": "legacy-app", "hostname": g.hostname,
                                            "ok": True}
    # and the wave's rollback takes it all back: the source runs again, the cloud is empty
    rollback(str(root), 1, discard_production_writes=True)
    assert left_in_cloud(guest_lab) == {"domains": [], "volumes": []}


@pytest.mark.slow  # TCG boots / lab bring-up: kept out of the 45-min suite
def test_a_guest_that_cannot_boot_is_rolled_back_cleanly(
        prefect_harness: None, guest_lab: LabState, tmp_path: Path, s3: str) -> None:
    """Moved without adaptation (the ``adapt`` step switched off, as a sabotaged
    adaptation would leave it): the initramfs has no virtio, the boot proof sees the kernel
    give up on its root, and the wave undoes everything it made."""
    power_off_source(guest_lab)
    root = tmp_path / "estate"
    guest_estate(guest_lab, root)
    # the plan switches adaptation off for it (cutover.yaml's guest: adapt: off)
    (root / "plan" / "cutover.yaml").write_text(yaml.safe_dump({
        "schema_version": 1,
        "systems": {SYSTEM: {"freeze": False, "guest": {"adapt": "off"}}}}))
    opts = wave_options(guest_lab, tmp_path, s3)
    result = move_wave(str(root), 1, options=opts.to_dict())
    (sysres,) = result["systems"]
    assert sysres["state"] == "rolled_back", sysres
    assert "did not boot" in sysres["error"]
    assert any(w in sysres["error"] for w in ("waiting for root", "initramfs", "ALERT"))
    with open_journal(root) as j:
        recs = {r.key: r for r in j.records(1)}
    launch = recs[f"{SYSTEM}/launch/b01-legacy01"]
    assert launch.status == "undone"
    assert left_in_cloud(guest_lab) == {"domains": [], "volumes": []}
    assert not list((tmp_path / "staging").rglob("*.qcow2"))

