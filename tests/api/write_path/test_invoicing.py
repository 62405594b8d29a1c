"""Invoicing, CSV schedulers, balance notifications and templates (rules.invoicing)."""

from __future__ import annotations

from typing import Any

from tests.api.write_path.conftest import W


def template(w: W) -> int:
    return int(w.create("/invoice_templates", "brand", name=f"it{w.n()}", template="<html/>")["id"])


def invoice(w: W, **body: Any) -> dict[str, Any]:
    return {"company": 1, "invoiceTemplate": template(w), "number": f"N{w.n()}", "taxRate": 21,
            "inDate": "2020-01-01 00:00:00", "outDate": "2020-01-31 00:00:00", **body}


def test_invoice_number_tax_and_dates(w: W) -> None:
    w.refused("/invoices", "number", "brand", **invoice(w, number=None))
    w.refused("/invoices", "taxRate", "brand", **invoice(w, taxRate=None))
    w.refused("/invoices", "outDate", "brand", **invoice(w, outDate="2019-12-31 00:00:00"))
    w.refused("/invoices", "outDate", "brand", **invoice(w, outDate="2099-01-01 00:00:00"))


def test_invoices_of_a_client_do_not_overlap(w: W) -> None:
    w.create("/invoices", "brand", **invoice(w, inDate="2019-03-01 00:00:00", outDate="2019-04-01 00:00:00"))
    w.refused("/invoices", "inDate", "brand", **invoice(w, inDate="2019-03-15 00:00:00",
                                                        outDate="2019-05-01 00:00:00"))
    w.create("/invoices", "brand", **invoice(w, inDate="2019-04-01 00:00:00", outDate="2019-05-01 00:00:00"))


def test_number_sequence_is_fixed(w: W) -> None:
    s = w.create("/invoice_number_sequences", "brand", name=f"seq{w.n()}", prefix="A", sequenceLength=4,
                 increment=1, iteration=0, version=1)
    changes: list[tuple[str, Any]] = [("prefix", "B"), ("sequenceLength", 5), ("increment", 2)]
    for field, value in changes:
        change: dict[str, Any] = {field: value}
        w.refused("/invoice_number_sequences", field, "brand", ident=s["id"], **change)


def test_fixed_cost_needs_cost(w: W) -> None:
    w.refused("/fixed_costs", "cost", "brand", name="fc")


def test_invoice_scheduler_values(w: W) -> None:
    base: dict[str, Any] = {"name": f"is{w.n()}", "unit": "month", "frequency": 1, "email": "x@example.com", "company": 1, "brand": 1,
            "invoiceTemplate": template(w)}
    w.refused("/invoice_schedulers", "email", "brand", **{**base, "email": "nope"})
    w.refused("/invoice_schedulers", "frequency", "brand", **{**base, "frequency": 0})


def test_call_csv_scheduler(w: W) -> None:
    name = f"csv{w.n()}"
    base: dict[str, Any] = {"name": name, "unit": "day", "frequency": 1, "email": "x@example.com", "callDirection": "inbound"}
    w.refused("/call_csv_schedulers", "carrier", "brand", **base, carrier=_carrier(w))
    w.create("/call_csv_schedulers", "brand", **base)
    w.refused("/call_csv_schedulers", "name", "brand", **base)


def _carrier(w: W) -> int:
    from tests.api.write_path.test_carriers import carrier

    return int(carrier(w)["id"])


def test_balance_notification_owner(w: W) -> None:
    w.refused("/balance_notifications", "company", "brand", toAddress="a@example.com", threshold=10)
    n = w.create("/balance_notifications", "brand", toAddress="a@example.com", threshold=10, company=1,
                 carrier=_carrier(w))
    assert n["company"] is None


def test_invoice_template_not_empty(w: W) -> None:
    w.refused("/invoice_templates", "template", "brand", name="t", template="  ")


def test_special_number_is_digits(w: W) -> None:
    w.refused("/special_numbers", "number", "brand", number="+34112", country=w.country(), disableCDR=1)


def test_one_content_per_language(w: W) -> None:
    t = w.create("/notification_templates", "brand", name=f"nt{w.n()}", type="voicemail")
    body: dict[str, Any] = {"notificationTemplate": t["id"], "language": 1, "subject": "s", "body": "b", "bodyType": "text/plain"}
    w.create("/notification_template_contents", "brand", **body)
    w.refused("/notification_template_contents", "language", "brand", **body)
