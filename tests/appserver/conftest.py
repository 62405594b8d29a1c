"""Dialplan test world: the migrated demo database (DemoBrand / DemoCompany, Alice 101 and Bob 102,
spec 5) plus rows written straight to it, and helpers that build the runtime's inputs.

The dialplan is driven exactly as the SIP runtime drives it: ``script.first()`` then
``script.after(DialOutcome)`` after every dial that was not answered.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from sqlalchemy import Engine, select, update

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
from polyvox.db.model import ENTITY, config_version
from polyvox.db.seed import insert

#: Monday 23 November 2026, 10:00 in Madrid (09:00 UTC)
NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)


class Calls:
    """The runtime's call counter (``plan.Presence``): calls in progress per user."""

    def __init__(self) -> None:
        self.active: dict[int, int] = {}

    def user_active_calls(self, user_id: int) -> int:
        return self.active.get(user_id, 0)


class World:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
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

    # ----- data
    def add(self, entity: str, **data: Any) -> int:
        with self.engine.begin() as conn:
            ident = insert(conn, entity, **data)
            self._bump(conn)
        return ident

    def set(self, entity: str, ident: int, **values: Any) -> None:
        t = ENTITY[entity].table
        with self.engine.begin() as conn:
            conn.execute(update(t).where(t.c.id == ident).values(**values))
            self._bump(conn)

    def rows(self, entity: str, **where: Any) -> list[dict[str, Any]]:
        t = ENTITY[entity].table
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(select(t).where(*[t.c[k] == v for k, v in where.items()])
                                                  .order_by(t.c.id)).mappings()]

    @staticmethod
    def _bump(conn: Any) -> None:
        res = conn.execute(update(config_version).where(config_version.c.id == 1)
                           .values(version=config_version.c.version + 1))
        if not res.rowcount:
            conn.execute(config_version.insert().values(id=1, version=1))

    def user(self, name: str, extension: str | None, *, terminal: bool = True, company: int | None = None,
             **values: Any) -> int:
        """A user with a terminal named ``name.lower()`` and an extension routed to it."""
        company = company or self.company
        tid = None
        if terminal:
            domains = self.rows("Domain", companyId=company)
            domain = domains[0]["id"] if domains else self.domain_id
            tid = self.add("Terminal", company=company, domain=domain, name=name.lower(), password="x",
                           disallow="all", allowAudio="alaw", directMediaMethod="update", t38Passthrough="no",
                           rtpEncryption=False)
        data = dict(company=company, name=name, lastname="Test", email=f"{name.lower()}@example.com",
                    active=True, doNotDisturb=False, isBoss=False, maxCalls=0, externalIpCalls="0",
                    rejectCallMethod="rfc", multiContact=True, gsQRCode=False, useDefaultLocation=True,
                    terminalId=tid, **{"pass": "x"})
        data.update(values)
        uid = self.add("User", **data)
        if extension is not None:
            eid = self.add("Extension", company=company, number=extension, routeType="user", user=uid)
            self.set("User", uid, extensionId=eid)
        return uid

    def ddi(self, number: str, company: int | None = None, **route: Any) -> int:
        """A DDI of DemoCompany, ``number`` national Spanish (``944000001`` → ``+34944000001``)."""
        return self.add("Ddi", company=company or self.company, brand=self.brand, country=self.spain, ddi=number,
                        ddie164="+34" + number, type="inout", **route)

    def match_list(self, *patterns: str) -> int:
        ml = self.add("MatchList", company=self.company, name=f"ml{random.random()}")
        for p in patterns:
            if p.startswith("+"):
                self.add("MatchListPattern", matchList=ml, type="number", numberCountry=self.spain,
                         numbervalue=p[3:])
            else:
                self.add("MatchListPattern", matchList=ml, type="regexp", regexp=p)
        return ml

    def forward(self, owner: str, owner_id: int, ftype: str, target: str, value: Any, *, timeout: int = 10,
                call_type: str = "both") -> int:
        data: dict[str, Any] = {owner: owner_id, "company": self.company, "callForwardType": ftype,
                                "callTypeFilter": call_type, "targetType": target, "enabled": True,
                                "noAnswerTimeout": timeout}
        if target == "number":
            data.update(numberCountry=self.spain, numberValue=value)
        elif target == "extension":
            data.update(extension=value)
        elif target == "voicemail":
            data.update(voicemail=value)
        return self.add("CallForwardSetting", **data)

    def register(self, username: str, domain: str | None = None, *, expires: dt.datetime | None = None) -> None:
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
    w = World(db)
    yield w
    w.dialplan.repo.close()


__all__ = ["NOW", "TargetKind", "World", "header", "only", "rejected", "targets"]
