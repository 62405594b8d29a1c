"""Platform entities of the global operator (spec 8.2-8.4, 8.14): application servers and
their sets, media relay sets and their relays, proxy users addresses, and the global reference
data (countries, currencies, languages, timezones): IvozProvider's DeleteProtection services
and setters."""

from __future__ import annotations

import ipaddress
import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select

from polyvox.api.errors import ApiError, invalid
from polyvox.api.lifecycle import WriteContext, pre_persist, pre_remove
from polyvox.api.rules._base import table


def _ip(ctx: WriteContext, col: str, optional: bool = False) -> None:
    value = ctx.value(col)
    if optional and value in (None, ""):
        ctx.new[col] = None if value == "" else value
        return
    try:
        ipaddress.ip_address(str(value).strip())
    except ValueError as e:
        raise invalid(col, "This value is not a valid IP address.") from e
    ctx.new[col] = str(value).strip()


@pre_persist("ApplicationServer")
def application_server_ip(ctx: WriteContext) -> None:
    """The proxies dispatch calls to the application server's IP address (spec 8.2), with an
    optional ``:port`` ([IPv6]:port) when several application servers share one host
    (polyvox.domain.addresses.parse_host_port)."""
    from polyvox.domain.addresses import parse_host_port

    raw = str(ctx.value("ip") or "").strip()
    host, port = parse_host_port(raw, 6060)
    try:
        ipaddress.ip_address(host)
    except ValueError as e:
        raise invalid("ip", "This value is not a valid IP address (optionally with :port).") from e
    if not 0 < port < 65536:
        raise invalid("ip", "The port after the address is 1 to 65535.")
    ctx.new["ip"] = raw


@pre_persist("ProxyUser")
def proxy_user_ip(ctx: WriteContext) -> None:
    """Spec 8.14.1: a proxy users entry is an IP address (and an optional advertised one)."""
    _ip(ctx, "ip", optional=True)
    _ip(ctx, "advertisedIp", optional=True)


def _first(ctx: WriteContext, entity: str) -> int | None:
    """The entity's first row: IvozProvider's main address / default set."""
    return ctx.conn.execute(select(func.min(table(entity).c.id))).scalar()


@pre_remove("ProxyUser")
def main_proxy_user_kept(ctx: WriteContext) -> None:
    """IvozProvider ProxyUser/DeleteProtection: the main proxy users address stays."""
    if ctx.new["id"] == _first(ctx, "ProxyUser"):
        raise ApiError(400, "Main ProxyUser can not be removed.", field="ip")


@pre_remove("ApplicationServerSet")
def default_application_server_set_kept(ctx: WriteContext) -> None:
    """IvozProvider 4.x ApplicationServerSet/DeleteProtection: the default set (the first) stays;
    a set in use by clients cannot go either (they would lose their application servers)."""
    if ctx.new["id"] == _first(ctx, "ApplicationServerSet"):
        raise ApiError(403, "Default application server set cannot be deleted.", field="name")
    _set_unused(ctx, "applicationServerSetId", "application server set")


@pre_remove("MediaRelaySet")
def default_media_relay_set_kept(ctx: WriteContext) -> None:
    """IvozProvider 4.x MediaRelaySet/DeleteProtection: the default set (the first) stays; a set
    in use by clients, carriers or DDI providers cannot go either."""
    if ctx.new["id"] == _first(ctx, "MediaRelaySet"):
        raise ApiError(403, "Default media relay set cannot be deleted.", field="name")
    _set_unused(ctx, "mediaRelaySetId", "media relay set")


def _set_unused(ctx: WriteContext, col: str, what: str) -> None:
    entities = ("Company", "Carrier", "DdiProvider") if col == "mediaRelaySetId" else ("Company",)
    for entity in entities:
        t = table(entity)
        used = ctx.conn.execute(select(t.c.name).where(t.c[col] == ctx.new["id"]).limit(1)).scalar()
        if used is not None:
            raise ApiError(400, f"This {what} is used by {entity} '{used}' and cannot be deleted.", field="name")


@pre_persist("Rtpengine")
def rtpengine_values(ctx: WriteContext) -> None:
    """Spec 8.3: a media relay belongs to a set and is reached at its NG control URL
    (udp:host:port)."""
    if ctx.value("mediaRelaySetId") is None:
        raise invalid("mediaRelaySet", "This value should not be blank.")
    url = (ctx.value("url") or "").strip()
    if not re.fullmatch(r"(udp6?:|tcp:|ws:|wss:)?[^\s:]+(:[^\s:]+)*:[0-9]{1,5}", url):
        raise invalid("url", "The control URL is udp:host:port, e.g. udp:127.0.0.1:22222.")
    ctx.new["url"] = url
    if ctx.value("weight") is not None and int(ctx.value("weight")) < 1:
        raise invalid("weight", "This value should be greater than or equal to 1.")


@pre_persist("Timezone")
def timezone_name(ctx: WriteContext) -> None:
    """Dates are shown and schedules evaluated in the timezone: it must be a known tz name."""
    try:
        ZoneInfo(str(ctx.value("tz") or ""))
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise invalid("tz", "Unknown timezone name (expected an IANA name, e.g. Europe/Madrid).") from e


@pre_persist("Country")
def country_values(ctx: WriteContext) -> None:
    """E.164 numbers are the country code and the national number: '+' and 1 to 4 digits; the
    ISO code is 2 letters."""
    cc = ctx.value("countryCode")
    if cc is not None and cc != "" and not re.fullmatch(r"\+[0-9]{1,4}", cc):
        raise invalid("countryCode", "The country calling code is '+' and 1 to 4 digits, e.g. '+34'.")
    code = ctx.value("code")
    if code is not None and not re.fullmatch(r"[A-Za-z]{2}", code):
        raise invalid("code", "The country code is the 2-letter ISO 3166 code, e.g. 'ES'.")


@pre_persist("Language")
def language_unique(ctx: WriteContext) -> None:
    t = table("Language")
    q = select(t.c.id).where(t.c.iden == ctx.value("iden"))
    if ctx.old is not None:
        q = q.where(t.c.id != ctx.old["id"])
    if ctx.conn.execute(q.limit(1)).first() is not None:
        raise invalid("iden", "A language with this code already exists.")
