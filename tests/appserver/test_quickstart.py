"""The quick start walkthroughs of spec 5, 6 and 7 as dialplan calls on the demo platform."""

from __future__ import annotations

from polyvox.appserver.plan import DialResult, TargetKind
from tests.appserver.conftest import World, header, only, rejected


def test_spec_5_alice_101_calls_bob_102(world: World) -> None:
    """Spec 5 "Making internal calls": Alice (101) dials 102 → Bob's terminal rings, showing 101."""
    action = world.run(world.from_user(world.alice, "102"))[0]
    t = only(action)
    assert (t.kind, t.ruri_user, t.domain) == (TargetKind.ENDPOINT, "bob", world.domain)
    assert t.from_user == "101" and t.user_id == world.bob and t.label == f"user:{world.bob}"
    assert action.timeout is None  # no no-answer forward: rings until the caller gives up


def test_spec_5_unknown_extension_like_number_goes_out_and_needs_a_ddi(world: World) -> None:
    """Spec 5/7.4: a number that is no extension is external; without outgoing DDI it is refused."""
    rejected(world.run(world.from_user(world.alice, "103"))[0], 403, "no outgoing DDI")


def test_spec_6_ddi_to_alice_rings_alice(world: World) -> None:
    """Spec 6.3 "Configuring an external DDI": calling DemoCompany's DDI routed to Alice rings her,
    showing the caller (in the client's format: callerout) and the DDI display name."""
    ddi = world.ddi("944000001", routeType="user", user=world.alice, displayName="Sales line")
    t = only(world.run(world.inbound(ddi, "+34666777888"))[0])
    assert (t.kind, t.ruri_user, t.domain, t.user_id) == (TargetKind.ENDPOINT, "alice", world.domain, world.alice)
    assert t.from_user == t.pai_user == "666777888" and t.from_name == "Sales line"


def test_spec_7_alice_calls_a_spanish_number_with_the_client_ddi(world: World) -> None:
    """Spec 7.4: the client's default outgoing DDI is the caller of Alice's external call; the
    dialled national number goes to proxy-trunks in E.164 with the X-Info context (docs/sip.md 9.3)."""
    ddi = world.ddi("944000001", routeType="user", user=world.alice)
    world.set("Company", world.company, outgoingDdi=ddi)
    action = world.run(world.from_user(world.alice, "911234567"))[0]
    t = only(action)
    assert (t.kind, t.ruri_user, t.domain) == (TargetKind.EXTERNAL, "+34911234567", None)
    assert t.from_user == "+34944000001"
    assert header(t, "X-Info-CompanyId") == [str(world.company)]
    assert header(t, "X-Info-BrandId") == [str(world.brand)]
    assert header(t, "X-Info-Caller") == ["+34944000001"]
    assert header(t, "X-Info-EndpointType") == ["terminal"]
    assert header(t, "X-Info-EndpointId") == [str(world.alice_terminal)]
    assert header(t, "X-Info-Endpoint") == [f"b{world.brand}c{world.company}t{world.alice_terminal}_alice"]
    # the carrier's answer ends the script; a failure is relayed with its code
    rejected(world.run(world.from_user(world.alice, "0034911234567"), DialResult.BUSY)[1], 486)


def test_spec_7_4_user_outgoing_ddi_wins_over_the_client_one(world: World) -> None:
    """Spec 7.4 / 10.1.1: the user's outgoing DDI, else the client's."""
    client_ddi = world.ddi("944000001")
    alice_ddi = world.ddi("944000002")
    world.set("Company", world.company, outgoingDdi=client_ddi)
    world.set("User", world.alice, outgoingDdi=alice_ddi)
    assert only(world.run(world.from_user(world.alice, "911234567"))[0]).from_user == "+34944000002"
    assert only(world.run(world.from_user(world.bob, "911234567"))[0]).from_user == "+34944000001"
