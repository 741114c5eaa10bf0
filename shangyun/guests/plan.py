"""What the plan says about adapting a system's guests: ``cutover.yaml``'s
``systems.<id>.guest`` (read by :func:`shangyun.wave.cutover.parse_cutover`)::

    guest:
      adapt: auto            # auto (default) | required | off
      nics: {ens192: "00:50:56:aa:bb:01"}     # interface -> MAC, when the guest names none
      readdress:             # when the target subnet differs (ifupdown and ifcfg guests)
        ens192: {address: 10.9.0.5/24, gateway: 10.9.0.1, dns: [10.9.0.2]}
      hosts:                 # per host (id or hostname): the same keys, overriding
        b01-app01: {nics: {eth0: "00:50:56:aa:bb:02"}}

A system the file does not list is adapted with the defaults (``auto``, MACs from the
estate).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from shangyun.errors import EstateError
from shangyun.guests.model import ADAPT_MODES
from shangyun.guests.texts import norm_mac

_KEYS = {"adapt", "nics", "readdress", "hosts"}


@dataclass(frozen=True)
class GuestPlan:
    """One system's ``guest:`` settings (see the module docstring)."""

    mode: str = "auto"
    nics: dict[str, str] = field(default_factory=dict)
    readdress: dict[str, dict[str, Any]] = field(default_factory=dict)
    hosts: dict[str, GuestPlan] = field(default_factory=dict)

    def for_host(self, host_id: str, hostname: str) -> GuestPlan:
        """The settings of one host: the system's, overridden by its ``hosts`` entry."""
        own = self.hosts.get(host_id) or self.hosts.get(hostname)
        if own is None:
            return GuestPlan(self.mode, self.nics, self.readdress)
        return GuestPlan(own.mode if own.mode != "" else self.mode,
                         {**self.nics, **own.nics}, {**self.readdress, **own.readdress})


def parse_guest_plan(data: Any, where: str, *, nested: bool = False) -> GuestPlan:
    """Check and read a ``guest:`` mapping; :class:`EstateError` naming ``where`` and the
    key."""
    if data is None:
        return GuestPlan()
    if not isinstance(data, dict):
        raise EstateError(f"{where}: expected a mapping")
    unknown = sorted(set(data) - (_KEYS - ({"hosts"} if nested else set())))
    if unknown:
        raise EstateError(f"{where}: unknown key(s) {', '.join(map(str, unknown))}")
    mode = str(data.get("adapt", "" if nested else "auto"))
    if mode not in ADAPT_MODES and not (nested and mode == ""):
        raise EstateError(f"{where}.adapt: {mode!r} is not one of {', '.join(ADAPT_MODES)}")
    nics = {}
    for name, mac in (data.get("nics") or {}).items():
        if not norm_mac(str(mac)):
            raise EstateError(f"{where}.nics.{name}: {mac!r} is not a MAC address")
        nics[str(name)] = norm_mac(str(mac))
    readdress: dict[str, dict[str, Any]] = {}
    for name, new in (data.get("readdress") or {}).items():
        at = f"{where}.readdress.{name}"
        if not isinstance(new, dict) or not new.get("address"):
            raise EstateError(f"{at}: needs address (CIDR), optionally gateway and dns")
        try:
            ipaddress.ip_interface(str(new["address"]))
            if new.get("gateway"):
                ipaddress.ip_address(str(new["gateway"]))
            dns = [str(ipaddress.ip_address(str(d))) for d in new.get("dns") or []]
        except ValueError as exc:
            raise EstateError(f"{at}: {exc}") from None
        readdress[str(name)] = {"address": str(new["address"]),
                                "gateway": str(new.get("gateway") or ""), "dns": dns}
    hosts = {str(h): parse_guest_plan(v, f"{where}.hosts.{h}", nested=True)
             for h, v in (data.get("hosts") or {}).items()} if not nested else {}
    return GuestPlan(mode, nics, readdress, hosts)
