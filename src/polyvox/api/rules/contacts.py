"""Sipwise C5 contacts (spec 004)."""

from __future__ import annotations

from polyvox.api.errors import invalid
from polyvox.api.lifecycle import WriteContext, pre_persist
from polyvox.api.rules._base import is_email


@pre_persist("Contact")
def contact_email(ctx: WriteContext) -> None:
    """Spec 004: the only required contact field is the e-mail."""
    email = ctx.value("email")
    if not email:
        raise invalid("email", "This value should not be blank: a contact needs an e-mail address.")
    if not is_email(email):
        raise invalid("email", "This value is not a valid e-mail address.")
    if ctx.value("name") is None:
        ctx.new["name"] = email.split("@")[0][:100]


