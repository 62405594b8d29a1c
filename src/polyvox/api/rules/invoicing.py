"""Invoicing, call CSV schedulers, balance notifications and templates (spec 9.5, 9.6, 9.7):
the write-time checks of IvozProvider's Invoice, InvoiceNumberSequence, InvoiceScheduler,
FixedCost, CallCsvScheduler, BalanceNotification, NotificationTemplate(Content),
InvoiceTemplate and SpecialNumber (``sanitizeValues()``, setters, CheckValidity and
CheckUniqueness services). Generating the PDFs and running the schedulers is not here."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select

from polyvox.api.errors import ApiError, invalid
from polyvox.api.lifecycle import WriteContext, pre_persist
from polyvox.api.rules._base import is_email, table


def _same_brand(ctx: WriteContext, col: str, entity: str) -> None:
    ident, brand = ctx.value(col), ctx.value("brandId")
    if ident is None or brand is None:
        return
    t = table(entity)
    if ctx.conn.execute(select(t.c.brandId).where(t.c.id == ident)).scalar() != brand:
        raise invalid(col[:-2], f"{entity} #{ident} belongs to another brand.")


def _company_tz(ctx: WriteContext, company: int) -> dt.tzinfo:
    c, tz = table("Company"), table("Timezone")
    name = ctx.conn.execute(select(tz.c.tz).join(c, c.c.defaultTimezoneId == tz.c.id).where(c.c.id == company)).scalar()
    try:
        return ZoneInfo(name) if name else dt.UTC
    except (ZoneInfoNotFoundError, ValueError):
        return dt.UTC


@pre_persist("Invoice")
def invoice_values(ctx: WriteContext) -> None:
    """Invoice::sanitizeValues and setters, Invoice/CheckValidity: a number or a number
    sequence; a tax rate; in and out dates, in order, not in the future, not overlapping
    another invoice of the client."""
    new = ctx.new
    if new.get("number") == "":
        new["number"] = None
    if new.get("number") is None and new.get("numberSequenceId") is None:
        raise invalid("number", "Number or number sequence required.")
    if new.get("taxRate") is None:
        raise invalid("taxRate", "Tax Rate cannot be null.")
    for col in ("inDate", "outDate"):
        if new.get(col) is None:
            raise invalid(col, f"{'In' if col == 'inDate' else 'Out'} date cannot be empty.")
    company = new.get("companyId")
    if company is None:
        raise invalid("company", "This value should not be blank.")
    for col, entity in (("companyId", "Company"), ("numberSequenceId", "InvoiceNumberSequence"),
                        ("schedulerId", "InvoiceScheduler")):
        _same_brand(ctx, col, entity)
    if ctx.old is not None and not any(ctx.changed(c) for c in ("inDate", "outDate", "companyId")):
        return
    in_date, out_date = new["inDate"], new["outDate"]
    if in_date >= out_date:
        raise invalid("outDate", "In-Out date error: the out date must follow the in date.")
    tz = _company_tz(ctx, company)
    today = dt.datetime.now(tz).replace(hour=0, minute=0, second=0, microsecond=0)

    def local(v: dt.datetime) -> dt.datetime:
        return v.replace(tzinfo=dt.UTC).astimezone(tz)

    if local(in_date) > today or local(out_date) > today:
        raise invalid("outDate", "Forbidden future dates: an invoice covers past days only.")
    t = table("Invoice")
    q = select(t.c.id).where(t.c.companyId == company, t.c.inDate < out_date, t.c.outDate > in_date)
    if ctx.old is not None:
        q = q.where(t.c.id != ctx.old["id"])
    if ctx.conn.execute(q.limit(1)).first() is not None:
        raise invalid("inDate", "Invoices found in the same range of date for this client.")


@pre_persist("InvoiceNumberSequence")
def number_sequence_fixed(ctx: WriteContext) -> None:
    """InvoiceNumberSequence/CheckValidity: prefix, length and increment are set once."""
    if ctx.old is None:
        if int(ctx.value("increment") or 0) < 1:
            raise invalid("increment", "This value should be greater than or equal to 1.")
        return
    for col in ("prefix", "sequenceLength", "increment"):
        if ctx.changed(col):
            raise invalid(col, f"{col} modification is not allowed.")


@pre_persist("InvoiceScheduler")
def invoice_scheduler_values(ctx: WriteContext) -> None:
    """InvoiceScheduler setters: a valid e-mail, a frequency of at least 1; the client, template
    and sequence of the scheduler's brand."""
    email = ctx.value("email")
    if email and not is_email(email):
        raise invalid("email", "This value is not a valid e-mail address.")
    if int(ctx.value("frequency") or 0) < 1:
        raise invalid("frequency", "This value should be greater than or equal to 1.")
    for col, entity in (("companyId", "Company"), ("numberSequenceId", "InvoiceNumberSequence")):
        _same_brand(ctx, col, entity)


@pre_persist("FixedCost")
def fixed_cost_value(ctx: WriteContext) -> None:
    """FixedCost::setCost: the cost cannot be null."""
    if ctx.value("cost") is None:
        raise invalid("cost", "Cost cannot be null.")


# CallCsvScheduler::sanitizeValues: per client type, the filters that do not apply
_CSV_CLEARED: dict[str | None, tuple[str, ...]] = {
    None: ("retailAccountId", "residentialDeviceId", "userId", "faxId", "ddiId", "friendId"),
    "residential": ("retailAccountId", "userId", "friendId"),
    "retail": ("residentialDeviceId", "userId", "faxId", "friendId"),
    "wholesale": ("retailAccountId", "residentialDeviceId", "userId", "faxId", "friendId", "ddiId"),
    "vpbx": ("residentialDeviceId", "retailAccountId"),
}


@pre_persist("CallCsvScheduler")
def call_csv_scheduler_values(ctx: WriteContext) -> None:
    """CallCsvScheduler::sanitizeValues and CheckUniqueness."""
    new = ctx.new
    company = new.get("companyId")
    if company is None and new.get("brandId") is None:
        raise invalid("company", "Either company or brand must have a value.")
    kind: str | None = None
    if company is not None:
        c = table("Company")
        kind = ctx.conn.execute(select(c.c.type).where(c.c.id == company)).scalar()
        new["callCsvNotificationTemplateId"] = None
    for col in _CSV_CLEARED.get(kind, ()):
        new[col] = None
    if kind == "vpbx":
        chosen = next((c for c in ("userId", "faxId", "friendId") if new.get(c) is not None), None)
        for col in ("userId", "faxId", "friendId"):
            if col != chosen:
                new[col] = None
    if new.get("callDirection") != "outbound":
        if new.get("carrierId") is not None:
            raise invalid("carrier", "Filter by carrier is only possible for outbound calls.")
    elif new.get("ddiProviderId") is not None:
        raise invalid("ddiProvider", "Filter by ddi provider is only possible for inbound calls.")
    email = new.get("email")
    if email and not is_email(email):
        raise invalid("email", "This value is not a valid e-mail address.")
    if int(new.get("frequency") or 0) < 1:
        raise invalid("frequency", "This value should be greater than or equal to 1.")
    t = table("CallCsvScheduler")
    q = select(t.c.id).where(t.c.name == new.get("name"))
    q = q.where(t.c.brandId == new["brandId"]) if new.get("brandId") is not None else q.where(t.c.brandId.is_(None))
    q = q.where(t.c.companyId == company) if company is not None else q.where(t.c.companyId.is_(None))
    if ctx.old is not None:
        q = q.where(t.c.id != ctx.old["id"])
    if ctx.conn.execute(q.limit(1)).first() is not None:
        raise invalid("name", "Name already in use.")


@pre_persist("BalanceNotification")
def balance_notification_owner(ctx: WriteContext) -> None:
    """BalanceNotification::sanitizeValues: a notification is about a client or a carrier (the
    carrier wins when both are given)."""
    if ctx.value("carrierId") is None and ctx.value("companyId") is None:
        raise invalid("company", "Either company or carrier is required.")
    if ctx.value("carrierId") is not None:
        ctx.new["companyId"] = None


def _owner_kept(ctx: WriteContext, what: str) -> None:
    """NotificationTemplate/InvoiceTemplate/SpecialNumber::sanitizeValues: a global row stays
    global and a brand's row stays the brand's."""
    if ctx.old is not None and ctx.changed("brandId"):
        raise ApiError(403, f"Unable to convert a {'global' if ctx.old.get('brandId') is None else 'brand'} {what} "
                            f"into a {'brand' if ctx.value('brandId') is not None else 'global'} {what}",
                       field="brand")


@pre_persist("NotificationTemplate")
def notification_template_owner(ctx: WriteContext) -> None:
    _owner_kept(ctx, "notification template")


@pre_persist("InvoiceTemplate")
def invoice_template_values(ctx: WriteContext) -> None:
    """InvoiceTemplate::setTemplate: the template cannot be empty."""
    _owner_kept(ctx, "invoice template")
    if not (ctx.value("template") or "").strip():
        raise invalid("template", "Template cannot be empty.")


@pre_persist("SpecialNumber")
def special_number_values(ctx: WriteContext) -> None:
    """SpecialNumber::sanitizeValues; the number is dialled digits (its E.164 form is the
    country code and the number)."""
    _owner_kept(ctx, "special number")
    number = ctx.value("number")
    if not number or not re.fullmatch(r"[0-9*#]+", number):
        raise invalid("number", "A special number is digits only.")
    if ctx.value("countryId") is None:
        raise invalid("country", "This value should not be blank.")


@pre_persist("NotificationTemplateContent")
def notification_content_unique(ctx: WriteContext) -> None:
    """One content per language of a template (IvozProvider's unique key)."""
    t = table("NotificationTemplateContent")
    q: Any = select(func.count()).select_from(t).where(
        t.c.notificationTemplateId == ctx.value("notificationTemplateId"),
        t.c.languageId.is_(None) if ctx.value("languageId") is None else t.c.languageId == ctx.value("languageId"))
    if ctx.old is not None:
        q = q.where(t.c.id != ctx.old["id"])
    if ctx.conn.execute(q).scalar():
        raise invalid("language", "This template already has a content in this language.")
    email = ctx.value("fromAddress")
    if email and not is_email(email):
        raise invalid("fromAddress", "This value is not a valid e-mail address.")
