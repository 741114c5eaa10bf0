"""DNS connector against moto's Route53 on 127.0.0.1."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from connectors.dns import DnsRecord, Route53Dns
from shangyun.errors import StepError, TransientError
from tests.support import MOTO_ENV, free_port, moto_server


@pytest.fixture(scope="module")
def dns() -> Iterator[Route53Dns]:
    """A Route53Dns client on a moto server started for this module."""
    with moto_server() as url, Route53Dns(url) as client:
        yield client


@pytest.fixture
def zone(dns: Route53Dns) -> tuple[str, str]:
    """A fresh hosted zone: (id, name)."""
    name = f"bureau-{secrets.token_hex(4)}.gov.cn"
    return dns.zone_id(name, create=True), name


def test_switch_returns_previous_and_revert_restores(dns: Route53Dns,
                                                     zone: tuple[str, str]) -> None:
    zid, name = zone
    assert dns.zone_id(name.upper()) == zid  # found again, not created twice
    old = DnsRecord.make(f"app.{name}", "A", ["127.0.0.10"], ttl=300)
    assert dns.switch(zid, old) is None
    new = DnsRecord.make(f"App.{name}", "A", ["127.0.0.20", "127.0.0.21"], ttl=60)
    previous = dns.switch(zid, new)
    assert previous == old
    assert dns.get(zid, f"app.{name}", "A") == new
    # idempotent: switching again changes nothing; the journaled previous still reverts
    assert dns.switch(zid, new) == new
    assert DnsRecord.from_dict(previous.to_dict()) == previous
    assert dns.revert(zid, new.name, "A", previous) is True
    assert dns.get(zid, new.name, "A") == old
    assert dns.revert(zid, new.name, "A", previous) is False  # twice is safe


def test_revert_of_new_record_deletes_it(dns: Route53Dns, zone: tuple[str, str]) -> None:
    zid, name = zone
    rec = DnsRecord.make(f"portal.{name}", "CNAME", ["lb.cloud.gov.cn"])
    assert rec.values == ("lb.cloud.gov.cn.",)
    assert dns.switch(zid, rec) is None
    assert dns.get(zid, rec.name, "CNAME") == rec
    assert dns.revert(zid, rec.name, "CNAME", None) is True
    assert dns.get(zid, rec.name, "CNAME") is None
    assert dns.revert(zid, rec.name, "CNAME", None) is False


def test_bad_input_and_missing_zone(dns: Route53Dns) -> None:
    with pytest.raises(StepError, match="type MX not supported"):
        DnsRecord.make("x.gov.cn", "MX", ["10 mail"])
    with pytest.raises(StepError, match="no values"):
        DnsRecord.make("x.gov.cn", "A", [])
    with pytest.raises(StepError, match="no hosted zone nowhere-"):
        dns.zone_id(f"nowhere-{secrets.token_hex(3)}.gov.cn")


def test_unreachable_endpoint_is_transient(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in MOTO_ENV.items():
        monkeypatch.setenv(k, v)
    with Route53Dns(f"http://127.0.0.1:{free_port()}", max_attempts=1,
                    connect_timeout=1) as dead, pytest.raises(TransientError):
        dead.zone_id("x.gov.cn")
