"""Active calls of the application server (spec 10.1.14) against the real database: the rows a
worker's publisher writes for a call's snapshot (owners, parties, external participants left out)
and how ``/my/active_calls`` merges them with proxy-trunks' dialogs (docs/appserver.md §3.7).
The SIP side is in ``tests/sip/test_appserver_active_calls.py``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from polyvox.api.custom.active_calls import merged
from polyvox.appserver import plan
from polyvox.appserver.active import (
    CallerIdent,
    Entry,
    Publisher,
    Snapshot,
    TargetIdent,
)
from polyvox.db.appserver_state import appserver_active_calls
from tests.appserver.conftest import NOW, World
from tests.appserver.test_friends import _friend

WORKER = "127.0.0.1:6060"


def publish(world: World, snap: Snapshot) -> list[dict[str, Any]]:
    p = Publisher(world.engine, WORKER)
    p.publish(snap)
    p.pool.submit(lambda: None).result(10)  # the write is done
    t = appserver_active_calls
    with world.engine.connect() as c:
        return [dict(r._mapping) for r in c.execute(select(t).where(t.c.worker == WORKER).order_by(t.c.id))]


def test_rows_one_per_entity_owner_party_and_external_participants_left_out(world: World) -> None:
    call = world.from_user(world.alice, "102")
    alice = CallerIdent(call)
    bob = TargetIdent(plan.Target(plan.TargetKind.ENDPOINT, "bob", world.domain), world.brand, world.company)
    ext = TargetIdent(plan.Target(plan.TargetKind.EXTERNAL, "+34911234567"), world.brand, world.company)
    later = NOW + dt.timedelta(seconds=3)
    snap = Snapshot("1", call.call_id, (Entry(alice, "early", "102", NOW), Entry(bob, "early", alice, later),
                                        Entry(ext, "trying", alice, later)), ("ext-leg",))
    rows = publish(world, snap)
    got = [(r["direction"], r["ownerType"], r["ownerId"], r["ownerName"], r["ownerNumber"], r["party"], r["state"],
            r["companyId"], r["brandId"], r["trunkCallIds"]) for r in rows]
    assert got == [("outbound", "user", world.alice, "Alice Demo", "101", "102", "early", world.company, world.brand,
                    "ext-leg"),
                   ("inbound", "user", world.bob, "Bob Demo", "102", "101", "early", world.company, world.brand,
                    "ext-leg")]
    # answered: the caller's party is the answering user's extension; the call over: no rows
    rows = publish(world, Snapshot("1", call.call_id, (Entry(alice, "confirmed", bob, NOW, later),
                                                        Entry(bob, "confirmed", alice, later, later))))
    assert [(r["party"], r["state"], r["answerTime"] is not None) for r in rows] == \
        [("102", "confirmed", True), ("101", "confirmed", True)]
    assert publish(world, Snapshot("1", call.call_id)) == []


def test_friend_caller_and_inbound_external_caller(world: World) -> None:
    friend = _friend(world, "pbxfriend")
    call = world.from_endpoint("friend", friend, "102", "+34944000111")
    bob = TargetIdent(plan.Target(plan.TargetKind.ENDPOINT, "bob", world.domain, user_id=world.bob),
                      world.brand, world.company)
    rows = publish(world, Snapshot("2", call.call_id, (Entry(CallerIdent(call), "trying", "102", NOW),
                                                        Entry(bob, "trying", CallerIdent(call), NOW))))
    assert [(r["direction"], r["ownerType"], r["ownerId"], r["ownerName"], r["party"]) for r in rows] == \
        [("outbound", "friend", friend, "pbxfriend", "102"), ("inbound", "user", world.bob, "Bob Demo", "+34944000111")]
    ddi = world.ddi("944000222")
    inbound = world.inbound(ddi, "+34600111222")
    rows = publish(world, Snapshot("3", inbound.call_id, (Entry(CallerIdent(inbound), "early", "+34944000222", NOW),
                                                           Entry(bob, "early", CallerIdent(inbound), NOW))))
    assert [(r["direction"], r["ownerId"], r["party"]) for r in rows if r["session"] == "3"] == \
        [("inbound", world.bob, "+34600111222")]


def trunk(call_id: str, direction: str, company: int, brand: int, **kw: Any) -> dict[str, Any]:
    return {"callId": call_id, "direction": direction, "state": "confirmed", "brandId": brand, "companyId": company,
            "carrierId": None, "ddiProviderId": None, "caller": "+34944000001", "callee": "+34911234567",
            "startTime": NOW.isoformat(), "answerTime": NOW.isoformat(), "maxDuration": None, "routingTagId": None,
            "disableCdr": False, **kw}


def test_merge_counts_an_external_call_once_per_entity(world: World) -> None:
    call = world.from_user(world.alice, "+34911234567")
    ext = TargetIdent(plan.Target(plan.TargetKind.EXTERNAL, "+34911234567"), world.brand, world.company)
    publish(world, Snapshot("4", call.call_id, (Entry(CallerIdent(call), "confirmed", ext, NOW, NOW),), ("leg-x",)))
    retail_co = world.client("retail-co", "retail")
    whole_co = world.client("wholesale-co", "wholesale")
    dialogs = [trunk("leg-x", "outbound", world.company, world.brand),  # Alice's call: counted by her entry
               trunk("ddi-fwd", "inbound", world.company, world.brand),  # a DDI forwarded outside: no entity
               trunk("r1", "outbound", retail_co, world.brand, endpointType="retail", endpointId=7,
                     endpointName="shop"),
               trunk("w1", "inbound", whole_co, world.brand, caller="+34600000001")]
    client = merged(world.engine, [dict(d) for d in dialogs], world.brand, world.company)
    assert [(c["source"], c["callId"], c["direction"], c["ownerType"], c["party"]) for c in client] == \
        [("appserver", call.call_id, "outbound", "user", "+34911234567"),
         ("trunks", "ddi-fwd", "inbound", None, "+34944000001")]
    brand = merged(world.engine, [dict(d) for d in dialogs], world.brand, None)
    assert sorted((c["callId"], c["ownerType"], c["ownerId"], c["ownerName"], c["party"]) for c in brand) == sorted([
        (call.call_id, "user", world.alice, "Alice Demo", "+34911234567"),
        ("ddi-fwd", None, None, None, "+34944000001"),
        ("r1", "retail", 7, "shop", "+34911234567"),
        ("w1", "wholesale", whole_co, "wholesale-co", "+34600000001")])
    assert [c["callId"] for c in merged(world.engine, [dict(d) for d in dialogs], world.brand, retail_co)] == ["r1"]
    assert merged(world.engine, [dict(d) for d in dialogs], world.brand + 1000, None) == []
