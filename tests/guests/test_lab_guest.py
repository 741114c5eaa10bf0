"""The lab's real legacy guest runs under QEMU on a real libvirt, on the lab network, and
is seen like any bureau VM: over SSH (its own host key) and over libvirt (SATA, e1000)."""

from __future__ import annotations

import json
import urllib.request
import xml.etree.ElementTree as ET

import libvirt
import paramiko
import pytest

from connectors.bootproof import BootFailed, BootTarget, fingerprint, prove_boot
from connectors.hypervisor import list_domains
from lab import LabState

pytestmark = [pytest.mark.lab, pytest.mark.timeout(900)]


def test_the_guest_answers_ssh_with_its_own_key_and_serves_its_app(guest_lab: LabState) -> None:
    g = guest_lab.guest("b01-legacy01")
    client = paramiko.SSHClient()
    client.load_host_keys(guest_lab.known_hosts)  # the lab's known_hosts holds its key
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(g.ip, username="root", key_filename=guest_lab.client_key,
                   look_for_keys=False, allow_agent=False, timeout=20)
    try:
        _, out, _ = client.exec_command("hostname; ip -o link show; cat /proc/cmdline; "
                                        "systemctl is-enabled open-vm-tools", timeout=30)
        text = out.read().decode()
        served = client.get_transport().get_remote_server_key()  # type: ignore[union-attr]
    finally:
        client.close()
    assert text.splitlines()[0] == "legacy-web01"
    assert " ens192: " in text and "root=/dev/sda1" in text and "enabled" in text
    assert fingerprint(f"{served.get_name()} {served.get_base64()}") == fingerprint(g.host_key)
    with urllib.request.urlopen(f"http://{g.ip}:{g.app_port}/", timeout=10) as resp:
        assert json.loads(resp.read()) == {"app": "legacy-app", "hostname": "legacy-web01",
                                           "ok": True}


def test_libvirt_shows_a_vmware_era_domain(guest_lab: LabState) -> None:
    g = guest_lab.guest("b01-legacy01")
    (dom,) = [d for d in list_domains(g.hypervisor_uri) if d.name == g.domain]
    assert dom.state == "running" and dom.nics[0].mac == g.mac
    assert dom.nics[0].model == "e1000" and dom.disks[0].bus == "sata"
    conn = libvirt.open(g.hypervisor_uri)
    try:
        assert conn.getType() == "QEMU"
        xml = ET.fromstring(conn.lookupByName(g.domain).XMLDesc(0))
        assert xml.get("type") == "qemu"  # TCG: KVM cannot run guests on this machine
    finally:
        conn.close()
    assert g.hypervisor_uri in guest_lab.hypervisor_uris


def test_the_boot_proof_accepts_the_running_source(guest_lab: LabState) -> None:
    """The proof itself, on a guest known to work: console login, key, hostname, app."""
    g = guest_lab.guest("b01-legacy01")
    ev = prove_boot(BootTarget(name=g.id, console=g.console, ip=g.ip, hostname=g.hostname,
                               host_key=g.host_key, key_file=guest_lab.client_key,
                               app_ports=(g.app_port,), console_timeout=60))
    assert ev.hostname == "legacy-web01"
    assert ev.host_key_fingerprint == fingerprint(g.host_key)
    assert ev.app[0]["ok"] and '"legacy-app"' in ev.app[0]["body"]
    assert "login:" in ev.console_excerpt


def test_the_boot_proof_refuses_another_host_key(guest_lab: LabState) -> None:
    g = guest_lab.guest("b01-legacy01")
    other = guest_lab.hosts[0]
    wrong = (guest_lab.lab_dir + f"/hosts/{other.id}/ssh_host_ed25519_key.pub")
    with open(wrong) as fh:
        wrong_key = " ".join(fh.read().split()[:2])
    with pytest.raises(BootFailed, match="host key"):
        prove_boot(BootTarget(name=g.id, console=g.console, ip=g.ip, hostname=g.hostname,
                              host_key=wrong_key, key_file=guest_lab.client_key,
                              console_timeout=60, ssh_timeout=20))
