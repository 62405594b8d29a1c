"""IVRs (spec 10.1.5): the no-input and error routes of an IVR and the routes of its entries
follow rules.targets; what the application server's IVR needs is demanded here."""

from __future__ import annotations

from polyvox.api.errors import invalid
from polyvox.api.lifecycle import WriteContext, pre_persist
from polyvox.api.rules.targets import owner_company, same_client


@pre_persist("Ivr")
def ivr_values(ctx: WriteContext) -> None:
    """The IVR waits a positive number of seconds for input and reads a non-negative number of
    digits (the application server refuses other IVRs)."""
    timeout = ctx.value("timeout")
    if timeout is None or int(timeout) <= 0:
        raise invalid("timeout", "The IVR needs the seconds it waits for input (a positive number).")
    if ctx.value("maxDigits") is None or int(ctx.value("maxDigits")) < 0:
        raise invalid("maxDigits", "This value should be greater than or equal to 0.")


@pre_persist("IvrExcludedExtension")
def ivr_excluded_extension(ctx: WriteContext) -> None:
    """An excluded extension is one of the IVR's client."""
    same_client(ctx, "extension", ctx.value("extensionId"), owner_company(ctx.conn, ctx.resource.ent, ctx.new))


@pre_persist("IvrEntry")
def ivr_entry_values(ctx: WriteContext) -> None:
    """An entry is what the caller keys in: digits (a regular expression of digits in IvozProvider)."""
    entry = ctx.value("entry")
    if entry is None or not str(entry).strip():
        raise invalid("entry", "This value should not be blank.")
