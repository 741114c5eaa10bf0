"""The cutover's power control (:class:`connectors.hypervisor.PowerSession`) and the
pre-check's domain check, against libvirt's built-in ``test:///default`` driver."""

from __future__ import annotations

import pytest

from connectors.hypervisor import HypervisorError, PowerSession, missing_domains

URI = "test:///default"
SOURCE_VM = "test"  # the running domain of the built-in test driver


def test_missing_domains_names_every_missing_one() -> None:
    assert missing_domains(URI, [SOURCE_VM]) is None
    assert missing_domains(URI, [SOURCE_VM, "a", "b"]) == "no domain named a, b"
    assert missing_domains("test:///no/such/node.xml", [SOURCE_VM])  # a reason, not a raise


def test_power_session_stops_and_starts_idempotently() -> None:
    session = PowerSession(URI)
    try:
        assert session.is_active(SOURCE_VM)
        session.shut_down(SOURCE_VM, polls=2, poll_seconds=0.0)
        assert not session.is_active(SOURCE_VM)
        session.shut_down(SOURCE_VM, polls=2, poll_seconds=0.0)  # already off: no-op
        session.start(SOURCE_VM)
        assert session.is_active(SOURCE_VM)
        session.start(SOURCE_VM)  # already running: no-op
        with pytest.raises(HypervisorError, match=f"hypervisor {URI}: domain nope"):
            session.is_active("nope")
    finally:
        session.close()
    assert not session.alive()


def test_unreachable_hypervisor_is_a_connector_error() -> None:
    with pytest.raises(HypervisorError, match="hypervisor qemu\\+ssh://"):
        PowerSession("qemu+ssh://root@127.0.0.1:1/system?no_verify=0&keyfile=/nonexistent")


STUBBORN = ("<domain type='test'><name>{name}</name><memory>65536</memory><vcpu>1</vcpu>"
            "<os><type>hvm</type></os><on_poweroff>restart</on_poweroff></domain>")


def test_a_guest_that_ignores_shutdown_fails_the_freeze_unless_forced() -> None:
    """A guest that does not stop (the test driver restarts it on power-off) is not killed:
    the shutdown waits, then fails naming it; only ``force`` turns it off."""
    session = PowerSession(URI)
    try:
        assert session._conn is not None
        dom = session._conn.defineXML(STUBBORN.format(name="stubborn"))
        dom.create()
        with pytest.raises(HypervisorError, match=r"domain stubborn still runs .*not forced off"):
            session.shut_down("stubborn", polls=3, poll_seconds=0.01)
        assert session.is_active("stubborn")  # left running, not killed
        session.shut_down("stubborn", polls=3, poll_seconds=0.01, force=True)
        assert not session.is_active("stubborn")
    finally:
        session.close()
