"""Users and their extensions (spec 10.1.1, 10.1.3, 10.1.11): IvozProvider's User and Extension
``sanitizeValues()`` and the services that keep a user, its screen extension, its voicemail and
its call forwards together (Extension/UpdateByUser, User/UpdateByExtension,
User/UnsetBossAssistant, Voicemail/UpdateByUser). A user's token version (what revokes its
tokens) is kept with the administrators' in ``rules.administrators.account_token_version``.
"""

from __future__ import annotations

import re

from sqlalchemy import select, update

from polyvox.api.errors import ApiError, invalid
from polyvox.api.lifecycle import WriteContext, post_persist, pre_persist, pre_remove
from polyvox.api.rules._base import is_email, table


@pre_persist("Extension")
def extension_number(ctx: WriteContext) -> None:
    """Extensions have at least 2 digits (spec 10.1.3)."""
    number = ctx.value("number")
    if number is not None and not re.fullmatch(r"[0-9]{2,}", number):
        raise invalid("number", "Extension numbers must have at least 2 digits (digits only).")


@pre_persist("User")
def user_email(ctx: WriteContext) -> None:
    email = ctx.value("email")
    if email is not None and email != "" and not is_email(email):
        raise invalid("email", "This value is not a valid e-mail address.")
    if email == "":
        ctx.new["email"] = None


@pre_persist("User")
def user_portal_access(ctx: WriteContext) -> None:
    """A new user with an e-mail and a password can use the user portal (IvozProvider
    User::sanitizeNew); an active user needs both. A user without a timezone gets its client's."""
    if ctx.old is None and ctx.value("email") and ctx.value("pass"):
        ctx.new["active"] = True
    if ctx.value("active"):
        if not ctx.value("email"):
            raise invalid("email", "You must set an email to enable user portal access.")
        if not ctx.value("pass"):
            raise invalid("pass", "Active users must have a password.")
    if ctx.value("timezoneId") is None and ctx.value("companyId") is not None:
        c = table("Company")
        ctx.new["timezoneId"] = ctx.conn.execute(select(c.c.defaultTimezoneId)
                                                 .where(c.c.id == ctx.value("companyId"))).scalar()


@pre_persist("User")
def user_boss_assistant(ctx: WriteContext) -> None:
    """A boss's assistant is another user (the call to the boss would loop to itself)."""
    assistant = ctx.value("bossAssistantId")
    if assistant is not None and ctx.old is not None and assistant == ctx.old["id"]:
        raise invalid("bossAssistant", "A user cannot be its own assistant.")


@post_persist("User")
def user_becomes_boss(ctx: WriteContext) -> None:
    """A user that becomes a boss is nobody's assistant any more (IvozProvider User/UnsetBossAssistant)."""
    if ctx.old is None or not ctx.value("isBoss") or not ctx.changed("isBoss"):
        return
    u = table("User")
    for (boss,) in ctx.conn.execute(select(u.c.id).where(u.c.bossAssistantId == ctx.id)).all():
        ctx.system.update("User", boss, bossAssistant=None)


@post_persist("User")
def user_screen_extension(ctx: WriteContext) -> None:
    """The user's screen extension calls the user (IvozProvider Extension/UpdateByUser)."""
    ext = ctx.value("extensionId")
    if ext is None or not ctx.changed("extensionId"):
        return
    row = ctx.system.get("Extension", ext)
    if row is not None and (row["routeType"] != "user" or row["userId"] != ctx.id):
        ctx.system.update("Extension", ext, routeType="user", user=ctx.id)


@post_persist("Extension")
def extension_user(ctx: WriteContext) -> None:
    """An extension routed to a user becomes its screen extension when it has none; the user the
    extension no longer routes to loses it as screen extension (IvozProvider User/UpdateByExtension)."""
    u = table("User")
    before = ctx.old.get("userId") if ctx.old is not None else None
    now = ctx.value("userId") if ctx.value("routeType") == "user" else None
    if before is not None and before != now:
        ctx.conn.execute(update(u).where(u.c.id == before, u.c.extensionId == ctx.id).values(extensionId=None))
    if now is not None:
        ctx.conn.execute(update(u).where(u.c.id == now, u.c.extensionId.is_(None)).values(extensionId=ctx.id))


@pre_remove("Extension")
def extension_leaves_its_user(ctx: WriteContext) -> None:
    u = table("User")
    ctx.conn.execute(update(u).where(u.c.extensionId == ctx.id).values(extensionId=None))


@pre_remove("User")
def user_goes(ctx: WriteContext) -> None:
    """A user's own call forwards and voicemail go with it (IvozProvider's foreign keys cascade);
    routes to the user lose their route type (rules.targets)."""
    cfs = table("CallForwardSetting")
    for (ident,) in ctx.conn.execute(select(cfs.c.id).where(cfs.c.userId == ctx.id)).all():
        ctx.system.delete("CallForwardSetting", ident)
    vm = table("Voicemail")
    u = table("User")
    ctx.conn.execute(update(u).where(u.c.id == ctx.id).values(voicemailId=None))
    for (ident,) in ctx.conn.execute(select(vm.c.id).where(vm.c.userId == ctx.id)).all():
        ctx.system.delete("Voicemail", ident)


@pre_remove("Voicemail")
def user_voicemail_stays(ctx: WriteContext) -> None:
    """A user's own voicemail lives as long as the user (IvozProvider creates it with the user)."""
    u = table("User")
    owner = ctx.conn.execute(select(u.c.id).where(u.c.voicemailId == ctx.id)).scalar()
    if owner is not None:
        raise ApiError(400, f"This is the voicemail of user #{owner}: it is deleted with the user.", field="user")


@post_persist("User")
def user_voicemail(ctx: WriteContext) -> None:
    """Spec 10.1.11: every user has a voicemail of its own, named after it (IvozProvider
    Voicemail/UpdateByUser)."""
    assert ctx.id is not None
    if ctx.op != "create":
        vid = ctx.value("voicemailId")
        if vid is not None and (ctx.changed("name") or ctx.changed("lastname") or ctx.changed("email")):
            name = " ".join(x for x in (ctx.value("name"), ctx.value("lastname")) if x)[:200] or f"user {ctx.id}"
            email = ctx.value("email")
            ctx.system.update("Voicemail", vid, name=name, email=email, **({} if email else {"sendMail": False}))
        return
    name = " ".join(x for x in (ctx.value("name"), ctx.value("lastname")) if x)[:200] or f"user {ctx.id}"
    email = ctx.value("email")
    vid = ctx.system.create("Voicemail", company=ctx.value("companyId"), user=ctx.id, name=name, email=email,
                            enabled=True, sendMail=bool(email), attachSound=True)
    ctx.system.update("User", ctx.id, voicemail=vid)
