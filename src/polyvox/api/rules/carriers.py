"""Carriers and their servers (spec 9.2.2): IvozProvider's Carrier and CarrierServer
``sanitizeValues()`` and the CarrierServer DeleteProtection service.

proxy-trunks reads a carrier server as ``ip or hostname`` and ``port`` (polyvox.sip.
trunks_repository.carrier_servers): a server without an address is skipped there, so the API
refuses it; a server that authenticates needs its user and password.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from polyvox.api.errors import ApiError, invalid
from polyvox.api.lifecycle import WriteContext, pre_persist, pre_remove
from polyvox.api.rules._base import table

BILLING_FEATURE = "billing"


def brand_has_feature(conn: Connection, brand_id: int | None, iden: str) -> bool:
    if brand_id is None:
        return False
    rel, f = table("FeaturesRelBrand"), table("Feature")
    q = select(rel.c.id).join(f, f.c.id == rel.c.featureId).where(rel.c.brandId == brand_id, f.c.iden == iden)
    return conn.execute(q.limit(1)).first() is not None


@pre_persist("Carrier")
def carrier_cost(ctx: WriteContext) -> None:
    """Carrier::sanitizeValues: without the brand's billing feature no cost is calculated; a
    carrier that calculates no cost has no currency (spec 9.2.2 "Calculate cost")."""
    if not brand_has_feature(ctx.conn, ctx.value("brandId"), BILLING_FEATURE):
        ctx.new["calculateCost"] = False
    if not ctx.value("calculateCost"):
        ctx.new["currencyId"] = None


def _valid_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _split_host_port(value: str) -> tuple[str, str | None]:
    if value.startswith("["):  # [IPv6]:port
        host, _, rest = value[1:].partition("]")
        return host, rest[1:] if rest.startswith(":") else None
    if value.count(":") > 1:  # bare IPv6 address
        return value, None
    host, sep, port = value.partition(":")
    return host, port if sep else None


def _port(raw: str | None) -> int:
    return int(raw) if raw and raw.isdigit() and int(raw) > 0 else 5060


@pre_persist("CarrierServer")
def carrier_server_values(ctx: WriteContext) -> None:
    """CarrierServer::sanitizeValues (sanitizeBrandByCarrier, sanitizeAuth, sanitizeProxyLogic).

    ``sipProxy`` is host[:port] (port 5060 when absent); with an ``outboundProxy`` (ip[:port])
    the SIP proxy carries no port and requests go to the outbound proxy's address and port.
    A body with ``ip``/``hostname`` and ``port`` but no ``sipProxy`` is accepted too: the SIP
    proxy is derived from them.
    """
    conn, new = ctx.conn, ctx.new
    carrier = new.get("carrierId")
    if carrier is None:
        raise invalid("carrier", "This value should not be blank.")
    c = table("Carrier")
    new["brandId"] = conn.execute(select(c.c.brandId).where(c.c.id == carrier)).scalar()
    auth = new.get("authNeeded") or "no"
    new["authNeeded"] = auth
    if auth == "no":
        new["authUser"] = None
        new["authPassword"] = None
    else:
        if new.get("authPassword"):
            new["authPassword"] = str(new["authPassword"]).strip()
        for col in ("authUser", "authPassword"):
            if not new.get(col):
                raise invalid(col, "A carrier server that needs authentication needs its user and password.")
    sip_proxy = (new.get("sipProxy") or "").strip()
    address_changed = ctx.old is not None and not ctx.changed("sipProxy") and any(
        ctx.changed(col) for col in ("ip", "hostname", "port"))
    if sip_proxy and not address_changed:
        _from_sip_proxy(new, sip_proxy)
    else:
        if ctx.old is not None and ctx.changed("ip") and not ctx.changed("hostname") and \
                ctx.old.get("hostname") == ctx.old.get("ip"):
            new["hostname"] = new.get("ip")  # the hostname was the address: it follows it
        host = (new.get("hostname") or "").strip() or (new.get("ip") or "").strip()
        if not host:
            raise invalid("sipProxy", "A carrier server needs its SIP proxy (hostname or IP address).")
        new["port"] = new.get("port") or 5060
        new["sipProxy"] = host if new.get("outboundProxy") else f"{host}:{new['port']}"
        new["hostname"] = new.get("hostname") or host
    ip = new.get("ip")
    if ip is not None and ip != "" and not _valid_ip(str(ip)):
        raise invalid("ip", "This value is not a valid IP address.")
    if ip == "":
        new["ip"] = None


def _from_sip_proxy(new: dict[str, Any], sip_proxy: str) -> None:
    hostname, port = _split_host_port(sip_proxy)
    if not hostname:
        raise invalid("sipProxy", "Sip Proxy cannot be empty.")
    outbound = (new.get("outboundProxy") or "").strip()
    ip: str | None
    if outbound:
        if port is not None:
            raise invalid("sipProxy", "When Outbound Proxy is used, SIP Proxy must not include a port.")
        ip, port = _split_host_port(outbound)
        if not _valid_ip(ip):
            raise invalid("outboundProxy", "The outbound proxy is an IP address with an optional port.")
        new["outboundProxy"] = outbound
    else:
        # without an outbound proxy requests go to the SIP proxy itself: its address when it is one
        ip = hostname if _valid_ip(hostname) else None
        new["outboundProxy"] = None
    new["sipProxy"] = sip_proxy
    new["hostname"] = hostname
    new["ip"] = ip
    new["port"] = _port(port)


def carrier_in_use(conn: Connection, carrier_id: int) -> bool:
    """The carrier is the target of an outgoing route (static or LCR)."""
    o, rel = table("OutgoingRouting"), table("OutgoingRoutingRelCarrier")
    return (conn.execute(select(o.c.id).where(o.c.carrierId == carrier_id).limit(1)).first() is not None
            or conn.execute(select(rel.c.id).where(rel.c.carrierId == carrier_id).limit(1)).first() is not None)


@pre_remove("CarrierServer")
def carrier_server_delete_protection(ctx: WriteContext) -> None:
    """IvozProvider CarrierServer/DeleteProtection: a carrier used by outgoing routes keeps at
    least one server (its calls would have nowhere to go)."""
    carrier = ctx.new["carrierId"]
    if not carrier_in_use(ctx.conn, carrier):
        return
    t = table("CarrierServer")
    left = ctx.conn.execute(select(func.count()).select_from(t).where(t.c.carrierId == carrier,
                                                                       t.c.id != ctx.new["id"])).scalar()
    if not left:
        raise ApiError(403, "Cannot delete the last carrier server of a carrier used in outgoing routes: at least "
                            "one carrier server must remain.", field="carrier")
