"""Queues and their members (spec 10.1.5): IvozProvider's Queue ``sanitizeValues()`` and setters.
The timeout and full routes follow rules.targets."""

from __future__ import annotations

import re

from sqlalchemy import select

from polyvox.api.errors import invalid
from polyvox.api.lifecycle import WriteContext, pre_persist
from polyvox.api.rules._base import table

QUEUE_NAME = re.compile(r"^[a-zA-Z0-9_-]+$")


@pre_persist("Queue")
def linear_queue_conversion(ctx: WriteContext) -> None:
    """Spec 10.1.5: a non-linear queue cannot be converted to linear (and a linear one stays linear)."""
    if ctx.old is None:
        return
    old, new = ctx.old.get("strategy"), ctx.value("strategy")
    if old != new and "linear" in (old, new):
        raise invalid("strategy", "Linear queues are special: a queue cannot be converted to or from linear.")


@pre_persist("Queue")
def queue_values(ctx: WriteContext) -> None:
    """A queue rings its members by a strategy (the media server's queue refuses none); its name
    is part of the media server's queue name: letters, digits, '_' and '-' (IvozProvider
    Queue::setName). A maximum wait time or length of 0 means none
    (Queue::setMaxWaitTime, setMaxlen); times and weights are not negative."""
    if not ctx.value("strategy"):
        raise invalid("strategy", "This value should not be blank: the queue needs its strategy.")
    name = ctx.value("name")
    if not name or not QUEUE_NAME.match(name):
        raise invalid("name", "Only letters, digits, '_' and '-' are allowed in a queue name.")
    for col in ("maxWaitTime", "maxlen"):
        if ctx.value(col) is not None and int(ctx.value(col)) == 0:
            ctx.new[col] = None
    for col in ("maxWaitTime", "maxlen", "memberCallTimeout", "memberCallRest", "announceFrequency",
                "periodicAnnounceFrequency", "weight"):
        if ctx.value(col) is not None and int(ctx.value(col)) < 0:
            raise invalid(col, "This value should be greater than or equal to 0.")


@pre_persist("QueueMember")
def queue_member_values(ctx: WriteContext) -> None:
    """A queue member is a user of the queue's client; its penalty is not negative."""
    q, u = table("Queue"), table("User")
    queue_company = ctx.conn.execute(select(q.c.companyId).where(q.c.id == ctx.value("queueId"))).scalar()
    user_company = ctx.conn.execute(select(u.c.companyId).where(u.c.id == ctx.value("userId"))).scalar()
    if ctx.value("userId") is not None and queue_company != user_company:
        raise invalid("user", "The user belongs to another client.")
    if ctx.value("penalty") is not None and int(ctx.value("penalty")) < 0:
        raise invalid("penalty", "This value should be greater than or equal to 0.")
