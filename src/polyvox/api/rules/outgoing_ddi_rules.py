"""Outgoing DDI rules and their patterns (spec 10.1.x): IvozProvider's OutgoingDdiRule and
OutgoingDdiRulesPattern ``sanitizeValues()``."""

from __future__ import annotations

import re

from sqlalchemy import select

from polyvox.api.errors import invalid
from polyvox.api.lifecycle import WriteContext, pre_persist, pre_remove
from polyvox.api.rules._base import table
from polyvox.api.rules.match_lists import _list_usable
from polyvox.api.rules.targets import owner_company, same_client

OUTGOING_DDI_PREFIX = re.compile(r"^[0-9]{1,3}\*$")


def _forced_ddi(ctx: WriteContext, action_col: str) -> None:
    """A forced DDI only for the "force" action, and then demanded, one of the client's DDIs."""
    if ctx.value(action_col) != "force":
        ctx.new["forcedDdiId"] = None
        return
    if ctx.value("forcedDdiId") is None:
        raise invalid("forcedDdi", "This value should not be blank: the force action needs the DDI to present.")
    same_client(ctx, "forcedDdi", ctx.value("forcedDdiId"), owner_company(ctx.conn, ctx.resource.ent, ctx.new))


@pre_persist("OutgoingDdiRule")
def outgoing_ddi_rule_values(ctx: WriteContext) -> None:
    _forced_ddi(ctx, "defaultAction")


@pre_persist("OutgoingDdiRulesPattern")
def outgoing_ddi_prefix_format(ctx: WriteContext) -> None:
    """Spec 10.1.x outgoing DDI rules: a prefix pattern is 1 to 3 digits followed by * and has no
    match list; a destination pattern has a match list and no prefix."""
    if ctx.value("type") == "prefix":
        ctx.new["matchListId"] = None
        prefix = ctx.value("prefix")
        if not prefix or not OUTGOING_DDI_PREFIX.match(prefix):
            raise invalid("prefix", "Prefix must be 1 to 3 digits followed by '*', e.g. '0*'.")
    elif ctx.value("type") == "destination":
        ctx.new["prefix"] = None
        if ctx.value("matchListId") is None:
            raise invalid("matchList", "A destination pattern needs a match list.")
        _list_usable(ctx, "matchList", ctx.value("matchListId"))
    _forced_ddi(ctx, "action")


@pre_remove("Ddi")
def forced_ddi_goes(ctx: WriteContext) -> None:
    """Rules and patterns forcing a deleted DDI keep the caller's DDI instead (a "force" without
    DDI would leave the calls without any outgoing DDI)."""
    for entity, action in (("OutgoingDdiRule", "defaultAction"), ("OutgoingDdiRulesPattern", "action")):
        t = table(entity)
        for (ident,) in ctx.conn.execute(select(t.c.id).where(t.c.forcedDdiId == ctx.id)).all():
            ctx.system.update(entity, ident, **{action: "keep"})
