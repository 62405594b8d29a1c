"""Match lists, their patterns and call ACLs (spec 10.1.6, 10.1.7): IvozProvider's
MatchListPattern ``sanitizeValues()``."""

from __future__ import annotations

from sqlalchemy import select

from polyvox.api.errors import ApiError, invalid
from polyvox.api.lifecycle import WriteContext, pre_persist
from polyvox.api.rules._base import check_regexp, table
from polyvox.api.rules.targets import owner_company


@pre_persist("MatchListPattern")
def match_list_pattern_values(ctx: WriteContext) -> None:
    """A number pattern is a number and its country, a regexp pattern a regular expression: the
    fields of the other type are nulled (MatchListPattern::sanitizeNullableFields) and those of
    the chosen type demanded. A pattern stays in its list (sanitizeMatchListValue)."""
    if ctx.old is not None and ctx.changed("matchListId"):
        raise ApiError(403, "Unable to update match list value in a match list pattern.", field="matchList")
    kind = ctx.value("type")
    if kind == "number":
        ctx.new["regexp"] = None
        value = (ctx.value("numbervalue") or "").strip()
        if not value:
            raise invalid("numbervalue", "This value should not be blank: a number pattern needs a number.")
        ctx.new["numbervalue"] = value
        if ctx.value("numberCountryId") is None and not value.startswith("+"):
            raise invalid("numberCountry", "This value should not be blank: a number pattern needs its country.")
    elif kind == "regexp":
        ctx.new["numbervalue"] = ctx.new["numberCountryId"] = None
        check_regexp("regexp", ctx.value("regexp"))


def _list_usable(ctx: WriteContext, field: str, ident: int | None) -> None:
    """A list used by a client's row is the client's own or a generic one of its brand."""
    if ident is None:
        return
    company = owner_company(ctx.conn, ctx.resource.ent, ctx.new)
    if company is None:
        return
    ml, c = table("MatchList"), table("Company")
    row = ctx.conn.execute(select(ml.c.companyId, ml.c.brandId).where(ml.c.id == ident)).first()
    brand = ctx.conn.execute(select(c.c.brandId).where(c.c.id == company)).scalar()
    if row is not None and not (row.companyId == company or (row.companyId is None and row.brandId in (brand, None))):
        raise invalid(field, f"MatchList #{ident} belongs to another client.")


@pre_persist("CallAclRelMatchList")
def call_acl_rule(ctx: WriteContext) -> None:
    """A rule of a call ACL uses one of the client's lists (or a generic one); only its priority
    and policy change (IvozProvider CallAclRelMatchList/AvoidUpdates)."""
    if ctx.old is not None:
        for name, col in (("callAcl", "callAclId"), ("matchList", "matchListId")):
            if ctx.changed(col):
                raise invalid(name, "Only the priority and the policy of a call ACL rule can change.")
    _list_usable(ctx, "matchList", ctx.value("matchListId"))
