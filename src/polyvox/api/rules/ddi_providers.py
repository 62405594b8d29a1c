"""DDI providers, their addresses and registrations (spec 9.2.1): IvozProvider's
DdiProviderAddress and DdiProviderRegistration setters and ``sanitizeValues()``.

proxy-trunks recognises a DDI provider by the source address of its calls
(polyvox.sip.trunks_repository.ddi_providers) and the trunks agent registers with the
registration's username at its domain (polyvox.sip.agent): an address that is not an IP
address, or a registration without user or domain, could never work and is refused.
"""

from __future__ import annotations

import ipaddress

from sqlalchemy import select

from polyvox.api.errors import invalid
from polyvox.api.lifecycle import WriteContext, pre_persist
from polyvox.api.rules._base import table


@pre_persist("DdiProviderAddress")
def ddi_provider_address_ip(ctx: WriteContext) -> None:
    """DdiProviderAddress::setIp: an IP address."""
    ip = (ctx.value("ip") or "").strip()
    try:
        ipaddress.ip_address(ip)
    except ValueError as e:
        raise invalid("ip", "This value is not a valid IP address.") from e
    ctx.new["ip"] = ip


@pre_persist("DdiProviderRegistration")
def ddi_provider_registration_values(ctx: WriteContext) -> None:
    """DdiProviderRegistration::sanitizeValues and setAuthPassword: a multi-DDI registration
    has no contact username; the password is trimmed; the user and domain are needed to
    register."""
    if ctx.value("multiDdi"):
        ctx.new["contactUsername"] = ""
    if ctx.value("authPassword") is not None:
        ctx.new["authPassword"] = str(ctx.value("authPassword")).strip()
    for col in ("username", "domain"):
        v = (ctx.value(col) or "").strip()
        if not v:
            raise invalid(col, "This value should not be blank: the registration needs it.")
        ctx.new[col] = v
    if int(ctx.value("expires") or 0) < 0:
        raise invalid("expires", "This value should be greater than or equal to 0.")


@pre_persist("DdiProvider")
def ddi_provider_routing_tag(ctx: WriteContext) -> None:
    """The routing tag of a DDI provider is one of its brand's."""
    tag = ctx.value("routingTagId")
    if tag is None:
        return
    t = table("RoutingTag")
    if ctx.conn.execute(select(t.c.brandId).where(t.c.id == tag)).scalar() != ctx.value("brandId"):
        raise invalid("routingTag", "The routing tag belongs to another brand.")
