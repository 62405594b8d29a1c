"""Friends (spec 10.1.5 "Friends"): routing by regular expression and priority, calls to and from
friends, inter-vPBX friends, friend call forwards."""

from __future__ import annotations

from polyvox.appserver.plan import DialResult, TargetKind
from tests.appserver.conftest import SIP_PW, World, header, only, rejected


def _friend(world: World, name: str, *patterns: str, priority: int = 1, company: int | None = None,
            **values: object) -> int:
    """A friend of ``company`` (DemoCompany) that registers (``directConnectivity="no"``) unless
    ``values`` say otherwise, with its regular expressions."""
    data: dict[str, object] = {"directConnectivity": "no", "ddiIn": "yes", "multiContact": True,
                               "alwaysApplyTransformations": False, "trustSDP": False, **values}
    if data["directConnectivity"] == "no":
        data.setdefault("password", SIP_PW)
    fid = world.create("Friend", company=company, name=name, priority=priority, description="", transport="udp",
                       allow="alaw", rtpEncryption=False, t38Passthrough="no", **data)
    for p in patterns:
        world.create("FriendsPattern", company=company, friend=fid, name=p, regExp=p)
    return fid


def test_number_matching_a_friend_pattern_rings_the_friend(world: World) -> None:
    """"What kind of calls can be routed through...": numbers matching a friend's regular expression
    go to the friend (lowest priority first); extensions always win."""
    _friend(world, "pbx_b", "^9[0-9]{3}$", priority=2)
    _friend(world, "pbx_a", "^90[0-9]{2}$", priority=1)
    t = only(world.run(world.from_user(world.alice, "9001"))[0])
    assert (t.kind, t.ruri_user, t.domain) == (TargetKind.ENDPOINT, "pbx_a", world.domain)
    assert header(t, "X-Info-Callee") == ["9001"] and t.from_user == "101"
    assert only(world.run(world.from_user(world.alice, "9101"))[0]).ruri_user == "pbx_b"
    world.create("Extension", company=world.company, number="9001", routeType="user", user=world.bob)
    assert only(world.run(world.from_user(world.alice, "9001"))[0]).ruri_user == "bob"


def test_friend_calls_extensions_and_outside_with_clid_validation(world: World) -> None:
    """A friend's calls: extensions of the client; external numbers present a valid CLID (one of the
    client's DDIs) or the friend's fallback outgoing DDI; a friend never routes back to itself."""
    own = world.ddi("944000001")
    fallback = world.ddi("944000002")
    fid = _friend(world, "pbx_a", "^9[0-9]{3}$", outgoingDdi=fallback)
    t = only(world.run(world.from_endpoint("friend", fid, "101", "2001"))[0])
    assert (t.ruri_user, t.from_user) == ("alice", "2001")
    t = only(world.run(world.from_endpoint("friend", fid, "911234567", "+34944000001"))[0])
    assert (t.kind, t.ruri_user, t.from_user) == (TargetKind.EXTERNAL, "+34911234567", "+34944000001")
    assert header(t, "X-Info-EndpointType") == ["friend"]
    t = only(world.run(world.from_endpoint("friend", fid, "911234567", "+34600000000"))[0])
    assert t.from_user == "+34944000002"
    # its own pattern is not routed back to it: external call
    t = only(world.run(world.from_endpoint("friend", fid, "9001", "+34944000001"))[0])
    assert t.kind is TargetKind.EXTERNAL
    assert own


def test_friend_call_acl(world: World) -> None:
    """10.1.7 Call ACLs apply to friends' external calls."""
    world.set("Company", world.company, outgoingDdi=world.ddi("944000001"))
    acl = world.create("CallAcl", company=world.company, name="no mobiles", defaultPolicy="allow")
    world.create("CallAclRelMatchList", callAcl=acl, matchList=world.match_list("^\\+346"), policy="deny", priority=1)
    fid = _friend(world, "pbx_a", callAcl=acl)
    rejected(world.run(world.from_endpoint("friend", fid, "600000001", "x"))[0], 403, "call ACL")


def test_inter_vpbx_friend_reaches_only_the_other_clients_extensions(world: World) -> None:
    """Inter-vPBX friends: numbers that are extensions of the target client ring there; others are
    not routed through the friend."""
    world.set("Company", world.company, outgoingDdi=world.ddi("944000001"))
    other = world.client("Other", domainUsers="other.example.com")
    zoe = world.user("Zoe", "301", company=other)
    _friend(world, "to_other", directConnectivity="intervpbx", interCompany=other)
    t = only(world.run(world.from_user(world.alice, "301"))[0])
    assert (t.ruri_user, t.user_id, t.domain) == ("zoe", zoe, "other.example.com")
    assert t.from_user == "101"
    # 302 is no extension of the other client: an ordinary external call
    assert only(world.run(world.from_user(world.alice, "302"))[0]).kind is TargetKind.EXTERNAL


def test_friend_call_forward_on_no_answer(world: World) -> None:
    """10.1.5 Friend Call Forward: no answer after N seconds → extension."""
    fid = _friend(world, "pbx_a", "^9[0-9]{3}$")
    ext = world.rows("Extension", number="102")[0]["id"]
    world.forward("friend", fid, "noAnswer", "extension", ext, timeout=12)
    first, second = world.run(world.from_user(world.alice, "9001"), DialResult.NO_ANSWER)
    assert first.timeout == 12.0 and only(second).ruri_user == "bob"
    assert header(only(second), "Diversion") == [f"<sip:9001@{world.domain}>;reason=no-answer"]


def test_extension_and_ddi_routed_to_a_friend(world: World) -> None:
    """Extensions and DDIs route to a friend with a number (friendValue); with DDI In the friend
    receives the DDI as callee."""
    _friend(world, "pbx_a", "^9[0-9]{3}$")
    world.create("Extension", company=world.company, number="300", routeType="friend", friendValue="9005")
    t = only(world.run(world.from_user(world.alice, "300"))[0])
    assert (t.ruri_user, header(t, "X-Info-Callee")) == ("pbx_a", ["9005"])
    ddi = world.ddi("944000001", routeType="friend", friendValue="9005")
    t = only(world.run(world.inbound(ddi, "+34666777888"))[0])
    assert (t.ruri_user, header(t, "X-Info-Callee"), t.from_user) == ("pbx_a", ["+34944000001"], "666777888")


def test_friend_not_registered_forward_and_direct_friends(world: World) -> None:
    """Friend Call Forward "Not registered": a register-mode friend without live registration is
    forwarded at once; registered, it rings; a direct-connectivity friend never registers and rings."""
    fid = _friend(world, "pbx_a", "^9[0-9]{3}$")
    ext = world.rows("Extension", number="102")[0]["id"]
    world.forward("friend", fid, "userNotRegistered", "extension", ext)
    assert only(world.run(world.from_user(world.alice, "9001"))[0]).ruri_user == "bob"
    world.register("pbx_a")
    assert only(world.run(world.from_user(world.alice, "9001"))[0]).ruri_user == "pbx_a"
    direct = _friend(world, "pbx_direct", "^8[0-9]{3}$", priority=2, directConnectivity="yes", ip="192.0.2.10",
                     port=5060)
    world.forward("friend", direct, "userNotRegistered", "extension", ext)
    assert only(world.run(world.from_user(world.alice, "8001"))[0]).ruri_user == "pbx_direct"


def test_friend_from_user_overrides_the_presented_caller(world: World) -> None:
    """Friends' fromUser/fromDomain: the From user sent to the friend (and the From domain in
    X-Info-FromDomain for proxy-users)."""
    _friend(world, "pbx_a", "^9[0-9]{3}$", fromUser="company", fromDomain="pbx.example.com")
    t = only(world.run(world.from_user(world.alice, "9001"))[0])
    assert t.from_user == "company" and header(t, "X-Info-FromDomain") == ["pbx.example.com"]
