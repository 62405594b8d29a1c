"""Voicemails (spec 10.1.11, 10.2): generic voicemails and those of users (rules.users) and
residential devices."""

from __future__ import annotations

from sqlalchemy import select

from polyvox.api.errors import invalid
from polyvox.api.lifecycle import WriteContext, post_persist, pre_persist, pre_remove
from polyvox.api.rules._base import table


@pre_persist("Voicemail")
def generic_voicemail_users(ctx: WriteContext) -> None:
    """Users are related only to generic voicemails, not to a user's or a residential device's own
    (IvozProvider VoicemailRelUser/CheckGenericVoicemail). A voicemail sending mail needs an e-mail."""
    if ctx.m2m.get("relUserIds") and (ctx.value("userId") is not None or ctx.value("residentialDeviceId") is not None):
        raise invalid("relUserIds", "Can not associate user with a non-generic voice mail.")
    if ctx.value("sendMail") and not ctx.value("email"):
        raise invalid("email", "This value should not be blank: the voicemail sends its messages by e-mail.")


@pre_persist("VoicemailRelUser")
def voicemail_rel_user_generic(ctx: WriteContext) -> None:
    vm = table("Voicemail")
    row = ctx.conn.execute(select(vm.c.userId, vm.c.residentialDeviceId).where(vm.c.id == ctx.value("voicemailId"))).first()
    if row is not None and (row.userId is not None or row.residentialDeviceId is not None):
        raise invalid("voicemail", "Can not associate user with a non-generic voice mail.")


@post_persist("ResidentialDevice")
def residential_device_voicemail(ctx: WriteContext) -> None:
    """Every residential device has a voicemail of its own, named after it (IvozProvider
    Voicemail/UpdateByResidentialDevice)."""
    vm = table("Voicemail")
    own = ctx.conn.execute(select(vm.c.id, vm.c.name).where(vm.c.residentialDeviceId == ctx.id)).first()
    name = ctx.value("name") or f"residential {ctx.id}"
    if own is None:
        ctx.system.create("Voicemail", company=ctx.value("companyId"), residentialDevice=ctx.id, name=name,
                          enabled=True, sendMail=False, attachSound=True)
    elif own.name != name:
        ctx.system.update("Voicemail", own.id, name=name)


@pre_remove("ResidentialDevice")
def residential_device_voicemail_goes(ctx: WriteContext) -> None:
    vm = table("Voicemail")
    for (ident,) in ctx.conn.execute(select(vm.c.id).where(vm.c.residentialDeviceId == ctx.id)).all():
        ctx.system.delete("Voicemail", ident)
