"""Call forward settings (spec 10.1.1 "Call forward", 10.2.2, 10.3.2): IvozProvider's
CallForwardSetting ``sanitizeValues()`` and CallForwardSetting/CheckUniqueness. The target
(number, extension, voicemail, retail account) follows rules.targets.
"""

from __future__ import annotations

from sqlalchemy import select

from polyvox.api.errors import invalid
from polyvox.api.lifecycle import WriteContext, pre_persist, pre_remove
from polyvox.api.rules._base import table
from polyvox.api.rules.targets import same_client

OWNERS = (("user", "userId", "User"), ("friend", "friendId", "Friend"),
          ("residentialDevice", "residentialDeviceId", "ResidentialDevice"),
          ("retailAccount", "retailAccountId", "RetailAccount"))
RETAIL_TYPES = ("inconditional", "userNotRegistered")
FILTERS = {"both": ("both", "internal", "external"), "internal": ("internal", "both"), "external": ("external", "both")}


@pre_persist("CallForwardSetting")
def call_forward_values(ctx: WriteContext) -> None:
    """A call forward belongs to one user, friend, residential device or retail account of the
    client; its no-answer timeout only means something for no-answer forwards; the DDI criterion
    and the forced "both" call type are for retail accounts, which only forward unconditionally
    or when not registered."""
    owners = [(name, col, ent) for name, col, ent in OWNERS if ctx.value(col) is not None]
    if len(owners) != 1:
        raise invalid("user", "A call forward belongs to exactly one user, friend, residential device or retail "
                              "account.")
    name, col, ent = owners[0]
    t = table(ent)
    owner_company = ctx.conn.execute(select(t.c.companyId).where(t.c.id == ctx.value(col))).scalar()
    if ctx.value("companyId") is None:
        ctx.new["companyId"] = owner_company
    elif owner_company != ctx.value("companyId"):
        raise invalid(name, f"{ent} #{ctx.value(col)} belongs to another client.")
    same_client(ctx, "ddi", ctx.value("ddiId"), ctx.value("companyId"))
    if ctx.value("callForwardType") != "noAnswer":
        ctx.new["noAnswerTimeout"] = 0
    elif not ctx.value("noAnswerTimeout") or int(ctx.value("noAnswerTimeout")) <= 0:
        raise invalid("noAnswerTimeout", "A no-answer call forward needs the seconds to wait (a positive number).")
    if name != "retailAccount":
        ctx.new["ddiId"] = None
        return
    ctx.new["callTypeFilter"] = "both"
    if ctx.value("callForwardType") not in RETAIL_TYPES:
        raise invalid("callForwardType", "Only inconditional and userNotRegistered call forward types are allowed "
                                         "for retail clients.")


@pre_persist("CallForwardSetting")
def call_forward_unique(ctx: WriteContext) -> None:
    """One enabled forward per owner, forward type and call type (IvozProvider
    CallForwardSetting/CheckUniqueness): "both" overlaps "internal" and "external"."""
    if not ctx.value("enabled"):
        return
    t = table("CallForwardSetting")
    q = select(t.c.id).where(t.c.enabled.is_(True), t.c.callForwardType == ctx.value("callForwardType"),
                             t.c.callTypeFilter.in_(FILTERS.get(ctx.value("callTypeFilter") or "both", ("both",))))
    for _name, col, _ent in OWNERS:
        if ctx.value(col) is not None:
            q = q.where(t.c[col] == ctx.value(col))
            break
    if ctx.value("ddiId") is not None:
        q = q.where(t.c.ddiId == ctx.value("ddiId"))
    if ctx.old is not None:
        q = q.where(t.c.id != ctx.old["id"])
    if ctx.conn.execute(q.limit(1)).first() is not None:
        raise invalid("callForwardType", f"There is already a {ctx.value('callForwardType')} call forward with that "
                                         "call type.")


@pre_remove("Friend", "ResidentialDevice", "RetailAccount")
def endpoint_call_forwards_go(ctx: WriteContext) -> None:
    """The call forwards of a deleted friend, residential device or retail account go with it."""
    col = {"Friend": "friendId", "ResidentialDevice": "residentialDeviceId", "RetailAccount": "retailAccountId"}
    t = table("CallForwardSetting")
    for (ident,) in ctx.conn.execute(select(t.c.id).where(t.c[col[ctx.entity]] == ctx.id)).all():
        ctx.system.delete("CallForwardSetting", ident)


@pre_remove("Ddi")
def ddi_call_forwards_go(ctx: WriteContext) -> None:
    """A retail forward for one DDI goes with the DDI (nulling it would make it apply to every
    DDI of the account)."""
    t = table("CallForwardSetting")
    for (ident,) in ctx.conn.execute(select(t.c.id).where(t.c.ddiId == ctx.id)).all():
        ctx.system.delete("CallForwardSetting", ident)
