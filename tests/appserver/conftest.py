"""Dialplan test world: the migrated demo database (DemoBrand / DemoCompany, Alice 101 and Bob 102,
spec 5), configuration provisioned through the real API of that database (tests/provision.py:
each row written by the level that owns it, with IvozProvider's field names), and helpers that
build the runtime's inputs.

The dialplan is driven exactly as the SIP runtime drives it: ``script.first()`` then
``script.after(DialOutcome)`` after every dial that was not answered. The database is only read
here, except for registrations (kam_users_location), which are runtime state the registrar
writes and no API creates.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from polyvox.api.app import create_app
from polyvox.appserver.dialplan import PolyvoxDialplan, make_dialplan
from polyvox.appserver.plan import (
    Action,
    Dial,
    DialOutcome,
    DialResult,
    IncomingCall,
    Origin,
    Reject,
    Target,
    TargetKind,
)
from polyvox.db.contract_decl import EXPOSURE
from polyvox.db.model import ENTITY
from tests.api.conftest import SECRET
from tests.provision import Provisioner

#: Monday 23 November 2026, 10:00 in Madrid (09:00 UTC)
NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
#: IvozProvider's strong SIP password (3 upper, 3 lower, 3 digits, one of + * _ -)
SIP_PW = "TESTpass+123"


class Calls:
    """The runtime's call counter (``plan.Presence``): calls in progress per user."""

    def __init__(self) -> None:
        self.active: dict[int, int] = {}

    def user_active_calls(self, user_id: int) -> int:
        return self.active.get(user_id, 0)


class World:
    def __init__(self, engine: Engine, http: TestClient) -> None:
        self.engine = engine
        self.prov = Provisioner(http)
        self.presence = Calls()
        self._dialplan: PolyvoxDialplan | None = None
        self.rng = random.Random(7)
        with engine.connect() as c:
            co = ENTITY["Company"].table
            row = c.execute(select(co).where(co.c.name == "DemoCompany")).mappings().one()
            self.company = int(row["id"])
            self.brand = int(row["brandId"])
            self.spain = int(row["countryId"])
            d = ENTITY["Domain"].table
            self.domain_id, self.domain = c.execute(select(d.c.id, d.c.domain).where(d.c.companyId == self.company)
                                                    ).one()
            u = ENTITY["User"].table
            users = {r["name"]: r for r in c.execute(select(u).where(u.c.companyId == self.company)).mappings()}
            self.alice = int(users["Alice"]["id"])
            self.bob = int(users["Bob"]["id"])
            self.alice_terminal = int(users["Alice"]["terminalId"])
            self.bob_terminal = int(users["Bob"]["terminalId"])

    # ----- configuration: through the API
    def create(self, entity: str, *, company: int | None = None, **fields: Any) -> int:
        """Creates a row of ``company`` (DemoCompany by default) as its administrators do: the
        level that creates the entity writes the fields it serves (a brand creates friends,
        residential devices, DDIs and clients), the client administrator then sets the rest
        (a friend's codecs, a DDI's route). API field names and relation ids only."""
        if entity == "Company":
            _writable("brand", entity, fields, strict=True)
            return self.prov.create(entity, brand=self.brand, **fields)
        owner = {"company": company or self.company}
        level = self.prov.level_for(entity, owner)
        served = _writable(level.level, entity, fields)
        later = {k: v for k, v in fields.items() if k not in served}
        ident = self.prov.create(entity, **owner, **{k: v for k, v in fields.items() if k not in later})
        if later:
            self.set(entity, ident, company=owner["company"], **later)
        return ident

    def set(self, entity: str, ident: int, *, company: int | None = None, **fields: Any) -> None:
        """Updates the fields given (PUT) at the lowest level that updates the entity for
        ``company`` (DemoCompany by default; a client is updated by its brand)."""
        owner = {"company": ident if entity == "Company" else company or self.company}
        _writable(self.prov.level_for(entity, owner, "update").level, entity, fields, strict=True)
        self.prov.update(entity, ident, owner=owner, **fields)

    def rows(self, entity: str, **where: Any) -> list[dict[str, Any]]:
        t = ENTITY[entity].table
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(select(t).where(*[t.c[k] == v for k, v in where.items()])
                                                  .order_by(t.c.id)).mappings()]

    def user(self, name: str, extension: str | None, *, terminal: bool = True, company: int | None = None,
             **values: Any) -> int:
        """A user with a terminal named ``name.lower()`` and an extension routed to it (its screen
        extension)."""
        company = company or self.company
        tid = None
        if terminal:
            tid = self.create("Terminal", company=company, name=name.lower(), password=SIP_PW, disallow="all",
                              allowAudio="alaw", directMediaMethod="update", t38Passthrough="no", rtpEncryption=False)
        data = dict(name=name, lastname="Test", email=f"{name.lower()}@example.com", active=True, **{"pass": SIP_PW},
                    doNotDisturb=False, isBoss=False, maxCalls=0, externalIpCalls="0", rejectCallMethod="rfc",
                    multiContact=True, gsQRCode=False, useDefaultLocation=True, terminal=tid)
        data.update(values)
        uid = self.create("User", company=company, **data)
        if extension is not None:
            eid = self.create("Extension", company=company, number=extension, routeType="user", user=uid)
            self.set("User", uid, company=company, extension=eid)
        return uid

    def client(self, name: str, kind: str = "vpbx", **fields: Any) -> int:
        """A new client of DemoBrand with DemoCompany's country, timezone and numbering plan
        (``kind``: vpbx, residential, retail, wholesale; a vPBX needs ``domainUsers``)."""
        demo = self.rows("Company", id=self.company)[0]
        data: dict[str, Any] = dict(
            type=kind, name=name, country=self.spain, defaultTimezone=demo["defaultTimezoneId"],
            transformationRuleSet=demo["transformationRuleSetId"], maxCalls=0, maxDailyUsage=0,
            billingMethod="postpaid", onDemandRecord=0, ipfilter=False, allowRecordingRemoval=True,
            onDemandRecordEmail="disabled", showInvoices=False)
        data.update(fields)
        return self.create("Company", **data)

    def ddi(self, number: str, company: int | None = None, **route: Any) -> int:
        """A DDI of ``company`` (DemoCompany), ``number`` national in the client's country (Spain:
        ``944000001`` is ``+34944000001``): created by the brand, routed by the client (``route``:
        routeType, user, externalCallFilter, ... as the client's DDI form has them)."""
        company = company or self.company
        ident = self.prov.create("Ddi", company=company, ddi=number, type="inout", useDdiProviderRoutingTag=False)
        if route:
            self.set("Ddi", ident, company=company, **route)
        return ident

    def match_list(self, *patterns: str, company: int | None = None) -> int:
        ml = self.create("MatchList", company=company, name=f"ml{random.random()}")
        for p in patterns:
            if p.startswith("+"):
                self.create("MatchListPattern", company=company, matchList=ml, type="number",
                            numberCountry=self.spain, numbervalue=p[3:])
            else:
                self.create("MatchListPattern", company=company, matchList=ml, type="regexp", regexp=p)
        return ml

    def forward(self, owner: str, owner_id: int, ftype: str, target: str, value: Any, *, timeout: int = 10,
                call_type: str = "both", company: int | None = None) -> int:
        data: dict[str, Any] = {owner: owner_id, "callForwardType": ftype, "callTypeFilter": call_type,
                                "targetType": target, "enabled": True, "noAnswerTimeout": timeout}
        if target == "number":
            data.update(numberCountry=self.spain, numberValue=value)
        elif target == "extension":
            data.update(extension=value)
        elif target == "voicemail":
            data.update(voicemail=value)
        return self.create("CallForwardSetting", company=company, **data)

    def register(self, username: str, domain: str | None = None, *, expires: dt.datetime | None = None) -> None:
        """A live contact, written as the registrar writes it (runtime state, not configuration)."""
        from polyvox.db import location

        with self.engine.begin() as conn:
            conn.execute(location.location.insert().values(
                ruid=f"r-{username}", username=username, domain=domain or self.domain,
                contact=f"sip:{username}@127.0.0.1:5099",
                expires=(expires or NOW + dt.timedelta(hours=1)).replace(tzinfo=None),
                last_modified=NOW.replace(tzinfo=None)))

    # ----- calls
    @property
    def dialplan(self) -> PolyvoxDialplan:
        if self._dialplan is None:
            self._dialplan = make_dialplan(self.engine, rng=self.rng)
        return self._dialplan

    def from_user(self, user_id: int, dialled: str, *, now: dt.datetime = NOW, caller: str | None = None,
                  diversion: tuple[str, ...] = ()) -> IncomingCall:
        u = self.rows("User", id=user_id)[0]
        term = self.rows("Terminal", id=u["terminalId"])[0]
        return IncomingCall(
            call_id=f"call-{random.random()}", origin=Origin.ENDPOINT, brand_id=self.brand, company_id=u["companyId"],
            company_type="vpbx", dialled=dialled, caller=caller or term["name"], caller_name=None, now=now,
            headers={"x-info-companyid": str(u["companyId"])}, endpoint_type="terminal", endpoint_id=term["id"],
            endpoint_name=term["name"], user_id=user_id, diversion=diversion)

    def from_endpoint(self, kind: str, ident: int, dialled: str, caller: str, *, company: int | None = None,
                      company_type: str = "vpbx", now: dt.datetime = NOW) -> IncomingCall:
        return IncomingCall(
            call_id=f"call-{random.random()}", origin=Origin.ENDPOINT, brand_id=self.brand,
            company_id=company or self.company, company_type=company_type, dialled=dialled, caller=caller,
            caller_name=None, now=now, endpoint_type=kind, endpoint_id=ident, endpoint_name=None)

    def inbound(self, ddi_id: int, caller: str, *, now: dt.datetime = NOW, company: int | None = None,
                company_type: str = "vpbx") -> IncomingCall:
        d = self.rows("Ddi", id=ddi_id)[0]
        return IncomingCall(
            call_id=f"call-{random.random()}", origin=Origin.INBOUND, brand_id=self.brand,
            company_id=company or self.company, company_type=company_type, dialled=d["ddie164"], caller=caller,
            caller_name=None, now=now, headers={}, ddi_id=ddi_id, ddi=d["ddie164"], ddi_provider_id=None)

    def run(self, call: IncomingCall, *outcomes: DialOutcome | DialResult) -> list[Action]:
        """The actions of a call whose dials end with ``outcomes`` (in order); stops at a Reject, or
        when the outcomes are exhausted."""
        script = self.dialplan.script(call, self.presence)
        actions = [script.first()]
        for o in outcomes:
            if isinstance(actions[-1], Reject):
                raise AssertionError(f"call already rejected: {actions}")
            outcome = o if isinstance(o, DialOutcome) else DialOutcome(o)
            if outcome.result is DialResult.ANSWERED:
                last = actions[-1]
                assert isinstance(last, Dial)
                script.answered(last.targets[0])
                return actions
            actions.append(script.after(outcome))
        return actions


def _writable(level: str, entity: str, fields: dict[str, Any], *, strict: bool = False) -> set[str]:
    """The fields of ``fields`` that ``level`` writes; with ``strict`` every field must be one.
    The API ignores fields a level does not write (as IvozProvider does), so a misspelt or
    storage-named field (``outgoingDdiId``) would otherwise configure nothing, silently."""
    served = set(EXPOSURE[level][entity].get("write", ()))
    unknown = sorted(set(fields) - served - set(EXPOSURE["client"].get(entity, {}).get("write", ())))
    if strict:
        unknown = sorted(set(fields) - served)
    assert not unknown, f"{entity}: {unknown} are not API fields the {level} level writes"
    return served & set(fields)


def targets(action: Action) -> list[tuple[str, str]]:
    """(kind, ruri user) of every target of a Dial."""
    assert isinstance(action, Dial), action
    return [(str(t.kind), t.ruri_user) for t in action.targets]


def header(target: Target, name: str) -> list[str]:
    return [v for k, v in target.headers if k.lower() == name.lower()]


def only(action: Action) -> Target:
    assert isinstance(action, Dial), action
    assert len(action.targets) == 1, action.targets
    return action.targets[0]


def rejected(action: Action, code: int, words: str | Sequence[str] = ()) -> None:
    assert isinstance(action, Reject), action
    assert action.code == code, action
    for w in [words] if isinstance(words, str) else words:
        assert w.lower() in action.reason.lower(), action


@pytest.fixture()
def world(db: Engine) -> Iterator[World]:
    with TestClient(create_app(db, SECRET)) as http:
        w = World(db, http)
        yield w
        w.dialplan.repo.close()


__all__ = ["NOW", "SIP_PW", "TargetKind", "World", "header", "only", "rejected", "targets"]
