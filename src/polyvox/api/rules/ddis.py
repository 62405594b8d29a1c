"""DDIs (spec 9.2.3, 10.1.4): IvozProvider's Ddi ``sanitizeValues()`` and setters. The route
type and its target (Ddi::setRouteType) are checked by rules.targets."""

from __future__ import annotations

import re

from sqlalchemy import select

from polyvox.api.errors import ApiError, invalid
from polyvox.api.lifecycle import WriteContext, pre_persist
from polyvox.api.rules._base import table


@pre_persist("Ddi")
def ddi_values(ctx: WriteContext) -> None:
    """The DDI's E.164 number comes from its country (the client's country when none is
    given); a DDI cannot move to another client; an outbound-only DDI has no provider."""
    if ctx.old is not None and ctx.old.get("companyId") is not None and ctx.changed("companyId"):
        raise ApiError(403, "Forbidden DDI client update: a DDI cannot move to another client.", field="company")
    company = ctx.value("companyId")
    if company is not None:
        c = table("Company")
        row = ctx.conn.execute(select(c.c.countryId, c.c.brandId).where(c.c.id == company)).first()
        if row is not None:
            if ctx.value("countryId") is None:
                ctx.new["countryId"] = row.countryId
            if ctx.value("brandId") is None:
                ctx.new["brandId"] = row.brandId
            elif row.brandId != ctx.value("brandId"):
                raise invalid("company", "The client belongs to another brand.")
    country = ctx.value("countryId")
    if country is None:
        raise invalid("country", "This value should not be blank.")
    number = ctx.value("ddi")
    if not number or not re.fullmatch(r"[0-9]+", number):
        raise invalid("ddi", "A DDI is the number in national format, digits only.")
    t = table("Country")
    code = ctx.conn.execute(select(t.c.countryCode).where(t.c.id == country)).scalar()
    ctx.new["ddie164"] = f"{code or ''}{number}"
    if ctx.value("type") == "out":
        ctx.new["ddiProviderId"] = None
    provider = ctx.value("ddiProviderId")
    if provider is not None:
        p = table("DdiProvider")
        if ctx.conn.execute(select(p.c.brandId).where(p.c.id == provider)).scalar() != ctx.value("brandId"):
            raise invalid("ddiProvider", "The DDI provider belongs to another brand.")
