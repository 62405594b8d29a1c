"""SIP endpoints: terminals, friends, retail accounts and residential devices (spec 10.1.2,
10.1.12, 10.2.1, 10.3.1).

IvozProvider's ``sanitizeValues()`` of Terminal, Friend, RetailAccount and ResidentialDevice:
the SIP domain is derived, never written by the client (a vPBX client's own domain for
terminals and friends, the brand's domain for retail accounts and residential devices), and
what the proxies would need to reach or authenticate an endpoint is demanded at write time.
"""

from __future__ import annotations

import ipaddress
import re

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from polyvox.api.errors import invalid
from polyvox.api.lifecycle import WriteContext, post_persist, post_remove, pre_persist
from polyvox.api.rules._base import check_regexp, table
from polyvox.api.rules.domains import domain_of_company

TERMINAL_NAME = re.compile(r"^[a-zA-Z0-9_*]+$")
# 3 upper case letters, 3 lower case, 3 digits, one of + * _ -, at least 10 characters
STRONG_PASSWORD = re.compile(r"^(?=.*[A-Z].*[A-Z].*[A-Z])(?=.*[+*_-])(?=.*[0-9].*[0-9].*[0-9])"
                             r"(?=.*[a-z].*[a-z].*[a-z]).{10,}$")
WEAK_PASSWORD = ("Passwords need at least 10 characters: 3 upper case letters, 3 lower case letters, "
                 "3 digits and one of + * _ -.")


@pre_persist("Terminal", "Friend", "RetailAccount", "ResidentialDevice")
def endpoint_domain(ctx: WriteContext) -> None:
    """The endpoint's SIP domain is its client's (IvozProvider sets it on every write). An
    endpoint that registers cannot do without one: the proxies find it by domain and name."""
    domain = domain_of_company(ctx.conn, ctx.value("companyId"))
    if domain is None and ctx.value("companyId") is not None and ctx.value("directConnectivity") in (None, "no"):
        owner = "client" if ctx.entity in ("Terminal", "Friend") else "brand"
        raise invalid("company", f"The {owner} has no SIP domain, which endpoints that register need: "
                                 f"set the {owner}'s domain first (spec 8.1, 9.1.3).")
    ctx.new["domainId"] = domain


@pre_persist("Terminal")
def terminal_values(ctx: WriteContext) -> None:
    name = ctx.value("name")
    if name is not None and not TERMINAL_NAME.match(name):
        raise invalid("name", "Only letters, digits, '_' and '*' are allowed in a terminal name.")
    password = ctx.value("password")
    if ctx.changed("password") or ctx.old is None:
        password = (password or "").strip()
        if not STRONG_PASSWORD.match(password):
            raise invalid("password", WEAK_PASSWORD)
        ctx.new["password"] = password
    mac = ctx.value("mac")
    if not mac:
        ctx.new["mac"] = None
    else:
        mac = re.sub(r"[^a-z0-9]", "", mac.lower())
        if not re.fullmatch(r"[0-9a-f]{12}", mac):
            raise invalid("mac", "This value is not a valid MAC address.")
        ctx.new["mac"] = mac


@pre_persist("Friend", "RetailAccount", "ResidentialDevice")
def endpoint_stays_with_its_client(ctx: WriteContext) -> None:
    """A friend, retail account or residential device never moves to another client (IvozProvider
    Friend/AvoidUpdateCompany, ResidentialDevice/AvoidUpdateCompany, RetailAccount/AvoidUpdateCompany)."""
    if ctx.old is not None and ctx.old.get("companyId") is not None and ctx.changed("companyId"):
        raise invalid("company", "An endpoint cannot move to another client.")


@pre_persist("Friend", "RetailAccount", "ResidentialDevice")
def endpoint_values(ctx: WriteContext) -> None:
    """Names are SIP usernames (letters, digits, '_' and '*'); passwords, when set, are strong;
    the address is an IP and the port below 65536 (IvozProvider setters)."""
    name = ctx.value("name")
    if name is not None and ctx.value("directConnectivity") != "intervpbx" and not TERMINAL_NAME.match(name):
        raise invalid("name", "Only letters, digits, '_' and '*' are allowed in the name.")
    password = ctx.value("password")
    password = password.strip() if isinstance(password, str) else password
    ctx.new["password"] = password or None
    if password and (ctx.old is None or ctx.changed("password")) and not STRONG_PASSWORD.match(password):
        raise invalid("password", WEAK_PASSWORD)
    ip = ctx.value("ip")
    if ip in ("", None):
        ctx.new["ip"] = None
    else:
        try:
            ipaddress.ip_address(str(ip))
        except ValueError as e:
            raise invalid("ip", "This value is not a valid IP address.") from e
    port = ctx.value("port")
    if port is not None and not 0 < int(port) < 65536:
        raise invalid("port", "The port must be between 1 and 65535.")


@pre_persist("Friend", "RetailAccount", "ResidentialDevice")
def endpoint_connectivity(ctx: WriteContext) -> None:
    """Direct connectivity needs transport, address and port; registering endpoints a password;
    inter-vPBX friends none (IvozProvider sanitizeValues)."""
    mode = ctx.value("directConnectivity") or "yes"
    if mode == "yes":
        for col, what in (("transport", "transport"), ("ip", "IP address"), ("port", "port")):
            if not ctx.value(col):
                raise invalid(col, f"Direct connectivity needs a {what}.")
    elif mode == "no" and not ctx.value("password"):
        raise invalid("password", "Endpoints that register need a password.")
    if ctx.entity != "Friend":
        return
    if mode == "intervpbx":
        if ctx.value("password"):
            raise invalid("password", "Password must be empty for inter-vPBX friends.")
        other, own = ctx.value("interCompanyId"), ctx.value("companyId")
        if other is None:
            raise invalid("interCompany", "An inter-vPBX friend needs the client it connects to.")
        c = table("Company")
        row = ctx.conn.execute(select(c.c.domainUsers, c.c.brandId, c.c.type).where(c.c.id == other)).first()
        brand = ctx.conn.execute(select(c.c.brandId).where(c.c.id == own)).scalar()
        if row is None or row.type != "vpbx" or other == own or row.brandId != brand:
            raise invalid("interCompany", "An inter-vPBX friend connects to another vPBX client of the brand.")
        ctx.new.update(name=inter_company_name(own, other), ddiIn="yes", fromDomain=row.domainUsers, fromUser=None)
        if ctx.old is None:
            _replace_twin(ctx, own, other)
        if ctx.old is None and ctx.value("priority") is not None and _priority_taken(ctx, own):
            ctx.new["priority"] = _next_priority(ctx.conn, own)
    else:
        ctx.new["interCompanyId"] = None


def inter_company_name(company: int, other: int) -> str:
    """Both friends of an inter-vPBX link have the same name (IvozProvider Friend::getInterCompanyName)."""
    low, high = sorted((int(company), int(other)))
    return f"InterCompany{low}_{high}"


def _next_priority(conn: Connection, company: int) -> int:
    """IvozProvider Friend/SanitizeInterVpbxPriority: after the client's other friends."""
    f = table("Friend")
    return int(conn.execute(select(func.max(f.c.priority)).where(f.c.companyId == company)).scalar() or 0) + 1


def _priority_taken(ctx: WriteContext, company: int) -> bool:
    f = table("Friend")
    return ctx.conn.execute(select(f.c.id).where(f.c.companyId == company, f.c.priority == ctx.value("priority"))
                            .limit(1)).first() is not None


def _replace_twin(ctx: WriteContext, own: int, other: int) -> None:
    """An integration written for IvozProvider 3.4 creates both ends of a link itself: the end
    created with the first one is replaced by the one it posts (its call forwards go with it)."""
    f = table("Friend")
    twin = ctx.conn.execute(select(f.c.id).where(f.c.companyId == own, f.c.interCompanyId == other)).scalar()
    if twin is None:
        return
    cfs = table("CallForwardSetting")
    for (ident,) in ctx.conn.execute(select(cfs.c.id).where(cfs.c.friendId == twin)).all():
        ctx.system.delete("CallForwardSetting", ident)
    ctx.conn.execute(f.delete().where(f.c.id == twin))  # not through the engine: the other end stays


@post_persist("Friend")
def inter_vpbx_reverse_friend(ctx: WriteContext) -> None:
    """An inter-vPBX friend needs its twin in the other client (the SIP proxy only accepts calls
    between the two clients when both point at each other): it is created with the link."""
    if ctx.value("directConnectivity") != "intervpbx":
        return
    own, other = ctx.value("companyId"), ctx.value("interCompanyId")
    f = table("Friend")
    twin = ctx.conn.execute(select(f.c.id).where(f.c.companyId == other, f.c.interCompanyId == own)).first()
    if twin is None:
        ctx.system.create("Friend", company=other, directConnectivity="intervpbx", interCompany=own,
                          priority=_next_priority(ctx.conn, other), description=ctx.value("description") or "",
                          transport=ctx.value("transport"), allow=ctx.value("allow") or "alaw")


@post_remove("Friend")
def inter_vpbx_twin_goes(ctx: WriteContext) -> None:
    """Deleting one side of an inter-vPBX link deletes the other (IvozProvider Friend/DeleteInterVpbx)."""
    if ctx.value("directConnectivity") != "intervpbx":
        return
    f = table("Friend")
    for (twin,) in ctx.conn.execute(select(f.c.id).where(f.c.companyId == ctx.value("interCompanyId"),
                                                         f.c.interCompanyId == ctx.value("companyId"))).all():
        ctx.system.delete("Friend", twin)


@pre_persist("FriendsPattern")
def friend_pattern_regexp(ctx: WriteContext) -> None:
    """A friend's pattern is a regular expression the dialled numbers are matched against (the
    call path never matches an invalid one: the friend would silently get no calls)."""
    check_regexp("regExp", ctx.value("regExp"))
