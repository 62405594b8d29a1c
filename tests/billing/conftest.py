"""Billing worker fixtures: the migrated demo database (SQLite, or PostgreSQL with
POLYVOX_TEST_DB=postgresql) with the worker's tables, a rating setup provisioned by the brand
through the API (tests/provision.py), call records written as proxy-trunks writes them (runtime
state the worker consumes, not configuration), and a real SMTP server (aiosmtpd) on a free
loopback port."""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from email import message_from_bytes
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine, insert, select

from polyvox.db.cdr import kam_trunks_cdrs
from polyvox.db.model import ENTITY
from polyvox.workers.notify import SmtpSettings
from tests.api.conftest import Api, api, tokens  # noqa: F401 (API fixtures for test_api.py)
from tests.api.test_custom_support import demo
from tests.provision import Provisioner

UTC = dt.UTC


@pytest.fixture()
def bdb(db: Engine) -> Engine:
    """The migrated test database (migration 0002 created the worker's tables)."""
    return db


# --------------------------------------------------------------------------------------- SMTP
class _Handler:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.messages.append(message_from_bytes(envelope.original_content or envelope.content))
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


@dataclass
class Smtp:
    settings: SmtpSettings
    handler: _Handler

    @property
    def messages(self) -> list[Message]:
        with self.handler.lock:
            return list(self.handler.messages)

    def wait(self, count: int, timeout: float = 15.0) -> list[Message]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.messages


def _free_tcp_port() -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()
    return port


@pytest.fixture()
def smtp() -> Iterator[Smtp]:
    handler = _Handler()
    port = _free_tcp_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield Smtp(SmtpSettings("127.0.0.1", port), handler)
    finally:
        controller.stop()


# --------------------------------------------------------------------------------------- data
def body_of(msg: Message) -> str:
    payload = msg.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode(msg.get_content_charset() or "utf-8")


@dataclass
class Setup:
    db: Engine
    prov: Provisioner
    brand: int
    company: int
    eur: int
    carrier: int
    alice_terminal: int
    alice: int
    client_plan: int
    carrier_plan: int
    rates: dict[str, int] = field(default_factory=dict)  # prefix -> DestinationRate id
    destinations: dict[str, int] = field(default_factory=dict)


LANGUAGES = ("en", "es", "ca", "eu", "it")


def names(text: str) -> dict[str, str]:
    """A multilingual name (every language of the contract)."""
    return {lang: text for lang in LANGUAGES}


def _json(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return value


def create(s: Setup, entity: str, **fields: Any) -> int:
    """Creates a row through the API as the brand's operator (a client's rows, ``company=``,
    through the client's administrator), with API field names."""
    body = {k: _json(v) for k, v in fields.items()}
    if "company" not in body:
        body["brand"] = s.brand
    return s.prov.create(entity, **body)


def put(s: Setup, entity: str, ident: int, **fields: Any) -> None:
    """Updates ``fields`` (PUT) as the brand's operator."""
    s.prov.update(entity, ident, owner={"brand": s.brand}, **{k: _json(v) for k, v in fields.items()})


def _drg(s: Setup, name: str, rows: list[tuple[str, str, str, str, str, str]], deductible: bool = False) -> int:
    drg = create(s, "DestinationRateGroup", name=names(name), currency=s.eur,
                 deductibleConnectionFee=deductible)
    for prefix, dname, per_minute, fee, increment, interval in rows:
        dest = s.destinations.get(prefix)
        if dest is None:
            dest = create(s, "Destination", prefix=prefix, name=names(dname))
            s.destinations[prefix] = dest
        s.rates[f"{name}{prefix}"] = create(s, "DestinationRate", destinationRateGroup=drg, destination=dest,
                                            cost=Decimal(per_minute), connectFee=Decimal(fee), rateIncrement=increment,
                                            groupIntervalStart=interval)
    return drg


def plan(s: Setup, name: str, drgs: list[int]) -> int:
    """A rating plan group using ``drgs`` all week long (weights are unique within a group; the
    destination rate groups here share no prefix, so their order does not matter)."""
    group = create(s, "RatingPlanGroup", name=names(name), currency=s.eur)
    for weight, drg in enumerate(drgs, 10):
        create(s, "RatingPlan", ratingPlanGroup=group, destinationRateGroup=drg, weight=Decimal(weight),
               timingType="always", timeIn="00:00:00")
    return group


def profile(s: Setup, group: int, *, company: int | None = None, carrier: int | None = None,
            since: dt.datetime = dt.datetime(2020, 1, 1), tag: int | None = None) -> int:
    data: dict[str, Any] = {"brand": s.brand, "ratingPlanGroup": group, "activationTime": since}
    if carrier is not None:
        data["carrier"] = carrier
    else:
        data["company"] = company or s.company
    if tag is not None:
        data["routingTag"] = tag
    return s.prov.create("RatingProfile", **{k: _json(v) for k, v in data.items()})


@pytest.fixture()
def setup(bdb: Engine, api: Api) -> Setup:  # noqa: F811
    """DemoCompany (postpaid, Europe/Madrid) with a retail rating plan, and a carrier with cost
    calculation and its own (cheaper) plan, provisioned by DemoBrand's operator.

    Client rates: +34 Spain 0.02/min, fee 0.01, 60 s charge period; +346 Spain mobile
    0.10/min, fee 0.05, 30 s charge period after a 60 s interval start.
    Deductible-fee rates: +33 France 0.10/min fee 0.01 1 s; +44 UK 0.06/min fee 0.01 1 s.
    Carrier rates: +34 0.01/min no fee 1 s; +33 and +44 0.03/min 1 s.
    """
    d = demo(bdb)
    s = Setup(bdb, Provisioner(api.client), d.brand, d.company, d.eur, 0, d.alice_terminal, d.alice, 0, 0)
    rules = company(bdb, d.company).transformationRuleSetId
    s.carrier = create(s, "Carrier", name="Carrier1", description="", transformationRuleSet=rules, calculateCost=True,
                       balance=Decimal("10"), currency=d.eur)
    retail = _drg(s, "Retail", [("+34", "Spain", "0.02", "0.01", "60s", "0s"),
                                ("+346", "Spain mobile", "0.10", "0.05", "30s", "60s")])
    minimal = _drg(s, "Minimal", [("+33", "France", "0.10", "0.01", "1s", "0s"),
                                  ("+44", "United Kingdom", "0.06", "0.01", "1s", "0s")], deductible=True)
    wholesale = _drg(s, "Wholesale", [("+34", "Spain", "0.01", "0", "1s", "0s"),
                                      ("+33", "France", "0.03", "0", "1s", "0s"),
                                      ("+44", "United Kingdom", "0.03", "0", "1s", "0s")])
    s.client_plan = plan(s, "Retail plan", [retail, minimal])
    s.carrier_plan = plan(s, "Carrier plan", [wholesale])
    profile(s, s.client_plan)
    profile(s, s.carrier_plan, carrier=s.carrier)
    return s


def cdr(db: Engine, *, callid: str, company: int, brand: int, callee: str, duration: float,
        start: dt.datetime, direction: str = "outbound", carrier: int | None = None, answered: bool = True,
        code: int | None = None, caller: str = "+34911000001", ddi: int | None = None,
        provider: int | None = None, endpoint: tuple[str, int, str] | None = None, bounced: bool = False) -> int:
    """A ``kam_trunks_cdrs`` row exactly as proxy-trunks' ``write_cdr`` builds it."""
    start = start.astimezone(UTC)
    answer = start + dt.timedelta(seconds=2) if answered else None
    end = (answer + dt.timedelta(seconds=duration)) if answer else start + dt.timedelta(seconds=5)
    row = {"callid": callid, "direction": direction, "brandId": brand, "companyId": company, "carrierId": carrier,
           "carrierServerId": None, "ddiProviderId": provider, "ddiId": ddi,
           "endpointType": endpoint[0] if endpoint else None, "endpointId": endpoint[1] if endpoint else None,
           "endpointName": endpoint[2] if endpoint else None, "caller": caller, "callee": callee,
           "startTime": start, "answerTime": answer, "endTime": end,
           "duration": round(duration, 3) if answered else 0.0,
           "disconnectCode": (code or 200) if answered else (code or 487),
           "disconnectReason": "ended" if answered else "failed", "bounced": bounced}
    with db.begin() as c:
        return int(c.execute(insert(kam_trunks_cdrs).values(**row)).inserted_primary_key[0])


def billable(db: Engine, callid: str) -> Any:
    t = ENTITY["BillableCall"].table
    with db.connect() as c:
        rows = list(c.execute(select(t).where(t.c.callid == callid)))
    assert len(rows) == 1, (callid, rows)
    return rows[0]


def company(db: Engine, ident: int) -> Any:
    t = ENTITY["Company"].table
    with db.connect() as c:
        return c.execute(select(t).where(t.c.id == ident)).first()


def movements(db: Engine, **where: Any) -> list[Any]:
    t = ENTITY["BalanceMovement"].table
    with db.connect() as c:
        return list(c.execute(select(t).where(*[t.c[k] == v for k, v in where.items()]).order_by(t.c.id)))
