"""DNS switching through a Route53-compatible API (boto3): hosted zones, A/CNAME records.

``switch`` UPSERTs a record and returns the record it replaced (``None`` if there was
none) so the wave journals it; ``revert`` puts that previous record back (or deletes the
record if there was none). Both are idempotent: an UPSERT of the values already there, or a
revert already done, changes nothing. Credentials come from the environment, never files.
For non-AWS endpoints (moto, a government cloud's DNS) boto3's default checksums are set to
``when_required`` (see DESIGN.md).
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

from connectors.objectstore import is_aws
from shangyun.errors import ConnectorError, StepError, TransientError

RECORD_TYPES = ("A", "AAAA", "CNAME")


def fqdn(name: str) -> str:
    """``Name.Example.gov`` → ``name.example.gov.`` (lower case, trailing dot)."""
    return name.strip().lower().rstrip(".") + "."


@dataclass(frozen=True)
class DnsRecord:
    """One record set: name (FQDN), type, TTL and values (sorted)."""

    name: str
    type: str
    ttl: int
    values: tuple[str, ...]

    @classmethod
    def make(cls, name: str, rtype: str, values: list[str] | tuple[str, ...],
             ttl: int = 60) -> DnsRecord:
        """A record with its name and values normalised; checks the type."""
        rtype = rtype.upper()
        if rtype not in RECORD_TYPES:
            raise StepError(f"DNS record {name}: type {rtype} not supported "
                            f"(one of {', '.join(RECORD_TYPES)})")
        if not values:
            raise StepError(f"DNS record {name}: no values")
        vals = tuple(sorted(fqdn(v) if rtype == "CNAME" else v.strip() for v in values))
        return cls(fqdn(name), rtype, int(ttl), vals)

    def to_dict(self) -> dict[str, object]:
        """Plain data for the journal."""
        return {"name": self.name, "type": self.type, "ttl": self.ttl,
                "values": list(self.values)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DnsRecord:
        """Read back what :meth:`to_dict` wrote."""
        return cls(str(data["name"]), str(data["type"]), int(data["ttl"]),
                   tuple(str(v) for v in data["values"]))


class Route53Dns:
    """A Route53-compatible DNS service (AWS, a cloud's own, or moto in tests)."""

    def __init__(self, endpoint_url: str | None = None, *, region: str | None = None,
                 connect_timeout: float = 10.0, read_timeout: float = 30.0,
                 max_attempts: int = 4) -> None:
        options: dict[str, Any] = {"connect_timeout": connect_timeout,
                                   "read_timeout": read_timeout,
                                   "retries": {"mode": "standard", "max_attempts": max_attempts}}
        if not is_aws(endpoint_url):
            options.update(request_checksum_calculation="when_required",
                           response_checksum_validation="when_required")
        self.endpoint = endpoint_url or "aws"
        self.client = boto3.session.Session().client(
            "route53", endpoint_url=endpoint_url, config=Config(**options),
            region_name=region or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1")

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()

    def __enter__(self) -> Route53Dns:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, what: str, fn: Any, **kw: Any) -> Any:
        try:
            return fn(**kw)
        except EndpointConnectionError as exc:
            raise TransientError(f"DNS {self.endpoint}: {what}: cannot connect") from exc
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            msg = exc.response.get("Error", {}).get("Message", "")
            if code in ("Throttling", "PriorRequestNotComplete", "ServiceUnavailable"):
                raise TransientError(f"DNS {self.endpoint}: {what}: {code}") from exc
            raise ConnectorError(f"DNS {self.endpoint}: {what}: {code} {msg}") from exc
        except BotoCoreError as exc:
            raise ConnectorError(f"DNS {self.endpoint}: {what}: {exc}") from exc

    def zone_id(self, zone: str, *, create: bool = False) -> str:
        """The id of the hosted zone ``zone`` (created when ``create`` and missing)."""
        name = fqdn(zone)
        found = self._call(f"find zone {name}", self.client.list_hosted_zones_by_name,
                           DNSName=name, MaxItems="10")
        for z in found.get("HostedZones", []):
            if fqdn(z["Name"]) == name:
                return str(z["Id"]).rsplit("/", 1)[-1]
        if not create:
            raise StepError(f"DNS {self.endpoint}: no hosted zone {name}")
        made = self._call(f"create zone {name}", self.client.create_hosted_zone, Name=name,
                          CallerReference=f"shangyun-{name}-{uuid.uuid4().hex}")
        return str(made["HostedZone"]["Id"]).rsplit("/", 1)[-1]

    def get(self, zone_id: str, name: str, rtype: str) -> DnsRecord | None:
        """The record set ``name``/``rtype`` as it is now, or ``None``."""
        want, rtype = fqdn(name), rtype.upper()
        page = self._call(f"read {want} {rtype}", self.client.list_resource_record_sets,
                          HostedZoneId=zone_id, StartRecordName=want, StartRecordType=rtype,
                          MaxItems="5")
        for rs in page.get("ResourceRecordSets", []):
            if fqdn(rs["Name"]) == want and rs["Type"] == rtype and "ResourceRecords" in rs:
                return DnsRecord.make(want, rtype, [r["Value"] for r in rs["ResourceRecords"]],
                                      int(rs.get("TTL", 300)))
        return None

    def _change(self, zone_id: str, action: str, rec: DnsRecord) -> None:
        self._call(f"{action} {rec.name} {rec.type}", self.client.change_resource_record_sets,
                   HostedZoneId=zone_id, ChangeBatch={
                       "Comment": "shangyun cutover",
                       "Changes": [{"Action": action, "ResourceRecordSet": {
                           "Name": rec.name, "Type": rec.type, "TTL": rec.ttl,
                           "ResourceRecords": [{"Value": v} for v in rec.values]}}]})

    def switch(self, zone_id: str, new: DnsRecord) -> DnsRecord | None:
        """UPSERT ``new``; returns the record it replaced (``None``: there was none).

        Journal ``get()`` *before* calling this when a crash between the two matters: run
        twice, the second call returns ``new`` itself as the "previous" record."""
        before = self.get(zone_id, new.name, new.type)
        if before != new:
            self._change(zone_id, "UPSERT", new)
        return before

    def revert(self, zone_id: str, name: str, rtype: str, previous: DnsRecord | None) -> bool:
        """Put ``previous`` back (delete the record if there was none). False: nothing to do."""
        now = self.get(zone_id, name, rtype)
        if previous is None:
            if now is None:
                return False
            self._change(zone_id, "DELETE", now)
            return True
        if now == previous:
            return False
        self._change(zone_id, "UPSERT", previous)
        return True
