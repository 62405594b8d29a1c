"""Virtual faxes (spec 10.1.9): IvozProvider's Fax::setSendByEmail."""

from __future__ import annotations

from polyvox.api.errors import invalid
from polyvox.api.lifecycle import WriteContext, pre_persist
from polyvox.api.rules._base import is_email
from polyvox.api.rules.targets import same_client


@pre_persist("Fax")
def fax_values(ctx: WriteContext) -> None:
    """A fax that does not send received faxes by e-mail has no e-mail; one that does needs it.
    Its outgoing DDI is one of its client's."""
    if not ctx.value("sendByEmail"):
        ctx.new["email"] = None
    else:
        email = (ctx.value("email") or "").strip()
        if not email:
            raise invalid("email", "This value should not be blank: received faxes are sent to this e-mail.")
        if not is_email(email):
            raise invalid("email", "This value is not a valid e-mail address.")
    same_client(ctx, "outgoingDdi", ctx.value("outgoingDdiId"), ctx.value("companyId"))
