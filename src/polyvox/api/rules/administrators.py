"""Administrators (spec 8.5, 9.7.4, 19): IvozProvider's Administrator ``sanitizeValues()``,
the token version of administrators and users, and the administrator's protection against
locking itself out.

Impersonation (IvozProvider AssertAdministratorCanImpersonate) is checked by the token
exchange (polyvox.api.auth.exchange), not at write time.
"""

from __future__ import annotations

from sqlalchemy import select

from polyvox.api.errors import ApiError, invalid
from polyvox.api.lifecycle import WriteContext, post_persist, pre_persist, pre_remove
from polyvox.api.rules._base import table
from polyvox.db.model import TOKEN_VERSION, new_token_version

# What a token of the account was issued on: when one changes, the account's tokens die
# (polyvox.api.auth.check_versions). The password; the login name and the tenant, which the
# token carries as claims.
_TOKEN_BOUND = {"Administrator": ("pass", "username", "brandId", "companyId"),
                "User": ("pass", "email", "companyId")}


@pre_persist("Administrator", "User")
def account_token_version(ctx: WriteContext) -> None:
    """A new account gets a random token version; a new one revokes every token of the account
    (access and refresh) when its password, login name or tenant changes or it is deactivated.
    Deleting the account removes the version with the row."""
    if ctx.old is None:
        ctx.new[TOKEN_VERSION] = new_token_version()
        return
    deactivated = bool(ctx.old.get("active")) and not ctx.value("active")
    if deactivated or any(ctx.changed(col) for col in _TOKEN_BOUND[ctx.entity]):
        ctx.new[TOKEN_VERSION] = new_token_version()


def _is_self(ctx: WriteContext) -> bool:
    """The administrator written is the one whose token makes the request (directly, emulated,
    or at the start of the exchange chain)."""
    p = ctx.principal
    return ctx.id is not None and ctx.id in (p.admin_id, p.origin_admin_id)


@pre_remove("Administrator")
def administrator_not_itself(ctx: WriteContext) -> None:
    """An administrator cannot delete itself: a brand's or client's only operator would lock
    the tenant out (IvozProvider's brand API does not even show brand operators; Polyvox does,
    to let a brand manage its own operators). Another administrator of the level above can."""
    if _is_self(ctx):
        raise ApiError(400, "An administrator cannot delete itself; ask another administrator to do it.")


@pre_persist("Administrator")
def administrator_not_deactivating_itself(ctx: WriteContext) -> None:
    if ctx.old is not None and ctx.old.get("active") and not ctx.value("active") and _is_self(ctx):
        raise invalid("active", "An administrator cannot deactivate itself; ask another administrator to do it.")


@pre_persist("Administrator")
def administrator_owner(ctx: WriteContext) -> None:
    """A client administrator belongs to the client's brand; an administrator starts in its
    client's default timezone, else its brand's (Administrator::sanitizeValues,
    getParentEntityTimezone)."""
    conn, company, brand = ctx.conn, ctx.value("companyId"), ctx.value("brandId")
    if company is not None:
        c = table("Company")
        owner = conn.execute(select(c.c.brandId, c.c.defaultTimezoneId).where(c.c.id == company)).first()
        if owner is not None:
            if brand is not None and owner.brandId != brand:
                raise invalid("company", "The client belongs to another brand.")
            ctx.new["brandId"] = brand = owner.brandId
            if ctx.value("timezoneId") is None:
                ctx.new["timezoneId"] = owner.defaultTimezoneId
    if ctx.value("timezoneId") is None and brand is not None:
        b = table("Brand")
        ctx.new["timezoneId"] = conn.execute(select(b.c.defaultTimezoneId).where(b.c.id == brand)).scalar()
    if not (ctx.value("username") or "").strip():
        raise invalid("username", "This value should not be blank.")


@pre_persist("Administrator")
def administrator_becomes_restricted(ctx: WriteContext) -> None:
    """Spec 19.1: turning an administrator restricted makes it a read-only API administrator."""
    if ctx.old is not None and not ctx.old.get("restricted") and ctx.value("restricted"):
        rel = table("AdministratorRelPublicEntity")
        ctx.conn.execute(rel.delete().where(rel.c.administratorId == ctx.old["id"]))


@post_persist("Administrator")
def restricted_administrator_reads(ctx: WriteContext) -> None:
    from polyvox.api.actions import set_privileges

    if not ctx.value("restricted"):
        return
    assert ctx.id is not None
    rel = table("AdministratorRelPublicEntity")
    if ctx.conn.execute(select(rel.c.id).where(rel.c.administratorId == ctx.id).limit(1)).first() is None:
        level = "client" if ctx.value("companyId") is not None else "brand" if ctx.value("brandId") is not None \
            else "platform"
        set_privileges(ctx.conn, ctx.id, level, (False, True, False, False))


@post_persist("Administrator")
def unrestricted_administrator_acls(ctx: WriteContext) -> None:
    """IvozProvider AdministratorRelPublicEntity/RemoveAcls: an administrator no longer
    restricted has no privilege rows."""
    if ctx.old is not None and ctx.old.get("restricted") and not ctx.value("restricted"):
        rel = table("AdministratorRelPublicEntity")
        ctx.conn.execute(rel.delete().where(rel.c.administratorId == ctx.old["id"]))


@pre_persist("AdministratorRelPublicEntity")
def privilege_row_fixed(ctx: WriteContext) -> None:
    """IvozProvider AdministratorRelPublicEntity/AvoidUpdates: only the four privileges of a
    row change; its administrator and entity stay."""
    if ctx.old is None:
        return
    for col, name in (("administratorId", "administrator"), ("publicEntityId", "publicEntity")):
        if ctx.changed(col):
            raise invalid(name, f"The {name} of a privilege row cannot change.")
