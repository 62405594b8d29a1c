"""Hunt groups and their members (spec 10.1.5): IvozProvider's HuntGroup and HuntGroupMember
``sanitizeValues()``.

The application server builds a hunt group from these rows on every call and answers 500 when
the group cannot ring (a ringAll group without its timeout, a member without the ring time its
strategy needs): those rows are refused here, with a 400 naming the field.
"""

from __future__ import annotations

from sqlalchemy import select

from polyvox.api.errors import invalid
from polyvox.api.lifecycle import WriteContext, pre_persist
from polyvox.api.rules._base import table

# strategies whose members ring one after the other: each member needs its ring time and order
TIMED = ("linear", "roundRobin", "random")
ORDERED = ("linear", "roundRobin")


def _positive(value: object) -> bool:
    return value is not None and int(value) > 0  # type: ignore[call-overload]


@pre_persist("HuntGroup")
def hunt_group_strategy(ctx: WriteContext) -> None:
    """A ringAll group rings every member for ``ringAllTimeout`` seconds: demanded and positive
    (IvozProvider: "Empty ring all timeout"). Changing to a strategy that rings members one by one
    needs every member to have its ring time (and order)."""
    strategy = ctx.value("strategy") or "ringAll"
    ctx.new["strategy"] = strategy
    if strategy == "ringAll":
        if not _positive(ctx.value("ringAllTimeout")):
            raise invalid("ringAllTimeout", "This value should not be blank: a ringAll hunt group needs the number "
                                            "of seconds its members ring (a positive number).")
    elif ctx.old is not None and ctx.changed("strategy"):
        m = table("HuntGroupMember")
        for row in ctx.conn.execute(select(m.c.id, m.c.timeoutTime, m.c.priority).where(m.c.huntGroupId == ctx.old["id"])):
            if not _positive(row.timeoutTime):
                raise invalid("strategy", f"Hunt group member #{row.id} has no ring time (timeoutTime), which "
                                          f"strategy '{strategy}' needs: set it first.")
            if strategy in ORDERED and row.priority is None:
                raise invalid("strategy", f"Hunt group member #{row.id} has no priority, which strategy "
                                          f"'{strategy}' needs: set it first.")


@pre_persist("HuntGroupMember")
def hunt_group_member_values(ctx: WriteContext) -> None:
    """Members of linear and round robin groups need a priority; members of every strategy but
    ringAll a ring time (IvozProvider HuntGroupMember::sanitizeValues). A ring time, when given,
    is positive."""
    hg = table("HuntGroup")
    strategy = ctx.conn.execute(select(hg.c.strategy).where(hg.c.id == ctx.value("huntGroupId"))).scalar() or "ringAll"
    timeout = ctx.value("timeoutTime")
    if timeout is not None and int(timeout) <= 0:
        if strategy == "ringAll" and int(timeout) == 0:
            ctx.new["timeoutTime"] = None
        else:
            raise invalid("timeoutTime", "The ring time must be a positive number of seconds.")
    if strategy in TIMED and not _positive(ctx.value("timeoutTime")):
        raise invalid("timeoutTime", f"This value should not be blank: members of a '{strategy}' hunt group need "
                                     "their ring time in seconds.")
    if strategy in ORDERED and ctx.value("priority") is None:
        raise invalid("priority", f"This value should not be blank: members of a '{strategy}' hunt group need "
                                  "a priority.")
