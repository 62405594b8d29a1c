"""Conference rooms, service codes and webhooks of a client (spec 10.1.5, 10.1.12, 9.x)."""

from __future__ import annotations

import re

from sqlalchemy import select

from polyvox.api.errors import invalid
from polyvox.api.lifecycle import WriteContext, pre_persist
from polyvox.api.rules._base import table

SERVICE_CODE = re.compile(r"^[#0-9*]+$")
EVENTS = ("eventStart", "eventRing", "eventAnswer", "eventEnd", "eventUpdateClid")


@pre_persist("ConferenceRoom")
def conference_room_pin(ctx: WriteContext) -> None:
    """A room without PIN protection has no PIN (IvozProvider ConferenceRoom::sanitizeValues); a
    protected one needs it."""
    if not ctx.value("pinProtected"):
        ctx.new["pinCode"] = None
    elif not ctx.value("pinCode"):
        raise invalid("pinCode", "This value should not be blank: a PIN protected room needs its PIN.")
    elif not str(ctx.value("pinCode")).isdigit():
        raise invalid("pinCode", "The PIN is made of digits.")


@pre_persist("CompanyService")
def company_service_code(ctx: WriteContext) -> None:
    """Service codes are made of digits, '*' and '#' (IvozProvider CompanyService::setCode)."""
    code = ctx.value("code")
    if code is None or not SERVICE_CODE.match(str(code)):
        raise invalid("code", "Only digits, '*' and '#' are allowed in a service code.")


@pre_persist("Webhook")
def webhook_values(ctx: WriteContext) -> None:
    """IvozProvider Webhook::sanitizeValues: the DDI and the user are the client's (the client
    follows from them), not both at once, and at least one event is enabled."""
    company = ctx.value("companyId")
    for name, entity in (("ddi", "Ddi"), ("user", "User")):
        ident = ctx.value(f"{name}Id")
        if ident is None:
            continue
        t = table(entity)
        theirs = ctx.conn.execute(select(t.c.companyId).where(t.c.id == ident)).scalar()
        if company is None:
            company = ctx.new["companyId"] = theirs
        elif theirs != company:
            raise invalid(name, f"{entity} #{ident} does not belong to the specified client.")
    if company is not None and ctx.value("brandId") is not None:
        c = table("Company")
        if ctx.conn.execute(select(c.c.brandId).where(c.c.id == company)).scalar() != ctx.value("brandId"):
            raise invalid("company", "The client does not belong to the specified brand.")
    if ctx.value("ddiId") is not None and ctx.value("userId") is not None:
        raise invalid("user", "A webhook can not be bound to both a DDI and a user.")
    if not any(ctx.value(e) for e in EVENTS):
        raise invalid("eventStart", "At least one event (Start, Ring, Answer, End or Update CLID) must be enabled.")
