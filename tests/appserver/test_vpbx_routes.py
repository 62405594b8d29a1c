"""vPBX routing: extension route types (10.1.4), conditional routes and route locks (10.1.6),
call ACLs and outgoing DDI rules (10.1.7), numeric transformations, service codes (8.5/9.7.6),
transfers."""

from __future__ import annotations

from polyvox.appserver.plan import DialResult, Target, TargetKind
from tests.appserver.conftest import NOW, World, only, rejected, targets


def _conditional(world: World, ext: str = "400") -> tuple[int, int]:
    """A conditional route on extension 400: default → Bob; conditions added by the tests."""
    cr = world.create("ConditionalRoute", company=world.company, name="cr", routetype="user", user=world.bob)
    world.create("Extension", company=world.company, number=ext, routeType="conditional", conditionalRoute=cr)
    return cr, world.rows("Extension", number=ext)[0]["id"]


def _feature(world: World, kind: str) -> int:
    """A media feature of DemoCompany to route to (their call flows wait for the media engine)."""
    if kind == "voicemail":
        return int(world.rows("Voicemail", userId=world.bob)[0]["id"])
    fields: dict[str, dict[str, object]] = {
        "ivr": {"name": "menu", "timeout": 5, "maxDigits": 1, "allowExtensions": False},
        "queue": {"name": "sales", "preventMissedCalls": 1, "strategy": "ringall"},
        "conferenceRoom": {"name": "room", "pinProtected": False, "maxMembers": 0, "announceUserCount": "first"},
        "locution": {"name": "welcome"},
    }
    return world.create(kind[0].upper() + kind[1:], **fields[kind])


def test_10_1_4_extension_route_types(world: World) -> None:
    """Extensions to a number (external call with the caller's DDI) and to features not built yet."""
    world.set("Company", world.company, outgoingDdi=world.ddi("944000001"))
    world.create("Extension", company=world.company, number="500", routeType="number", numberCountry=world.spain,
                 numberValue="600000001")
    t = only(world.run(world.from_user(world.alice, "500"))[0])
    assert (t.kind, t.ruri_user, t.from_user) == (TargetKind.EXTERNAL, "+34600000001", "+34944000001")
    for kind, words in (("ivr", "IVR"), ("queue", "queue"), ("conferenceRoom", "conference room"),
                        ("voicemail", "voicemail"), ("locution", "locution")):
        world.create("Extension", company=world.company, number=f"5{len(kind):02d}", routeType=kind,
                     **{kind: _feature(world, kind)})
        rejected(world.run(world.from_user(world.alice, f"5{len(kind):02d}"))[0], 503, f"{words} not available yet")


def test_10_1_6_conditional_route_by_schedule_and_origin(world: World) -> None:
    """Conditions by priority, each matching origin, schedule, calendar and route lock; evaluated at
    call time; no match → the default route."""
    cr, _ = _conditional(world)
    sched = world.create("Schedule", company=world.company, name="mornings", timeIn="08:00:00", timeout="14:00:00",
                         monday=True, tuesday=True, wednesday=True, thursday=True, friday=True, saturday=False,
                         sunday=False)
    c1 = world.create("ConditionalRoutesCondition", conditionalRoute=cr, priority=1, routeType="user", user=world.alice)
    world.create("ConditionalRoutesConditionsRelSchedule", condition=c1, schedule=sched)
    assert only(world.run(world.from_user(world.bob, "400"))[0]).ruri_user == "alice"  # Monday 10:00 Madrid
    afternoon = NOW.replace(hour=15)
    assert only(world.run(world.from_user(world.bob, "400", now=afternoon))[0]).ruri_user == "bob"
    # origin condition with higher priority (lower number) wins for matching callers
    carol = world.user("Carol", "103")
    c0 = world.create("ConditionalRoutesCondition", conditionalRoute=cr, priority=0, routeType="user", user=carol)
    world.create("ConditionalRoutesConditionsRelMatchlist", condition=c0, matchlist=world.match_list("+34666777888"))
    ddi = world.ddi("944000001", routeType="conditional", conditionalRoute=cr)
    assert only(world.run(world.inbound(ddi, "+34666777888"))[0]).ruri_user == "carol"
    assert only(world.run(world.inbound(ddi, "+34666000000"))[0]).ruri_user == "alice"


def test_10_1_6_route_locks_and_their_service_codes(world: World) -> None:
    """Route locks: a condition with a lock matches while it is open; *71<id> opens, *70<id> closes,
    *72<id> toggles (spec 8.5 default codes); the change applies to the next call."""
    cr, _ = _conditional(world)
    lock = world.create("RouteLock", company=world.company, name="night", description="", open=False)
    c1 = world.create("ConditionalRoutesCondition", conditionalRoute=cr, priority=1, routeType="user", user=world.alice)
    world.create("ConditionalRoutesConditionsRelRouteLock", condition=c1, routeLock=lock)
    assert only(world.run(world.from_user(world.alice, "400"))[0]).ruri_user == "bob"
    rejected(world.run(world.from_user(world.alice, f"*71{lock}"))[0], 603, "opened")
    assert world.rows("RouteLock", id=lock)[0]["open"]
    assert only(world.run(world.from_user(world.alice, "400"))[0]).ruri_user == "alice"
    rejected(world.run(world.from_user(world.alice, f"*72{lock}"))[0], 603, "closed")
    assert only(world.run(world.from_user(world.alice, "400"))[0]).ruri_user == "bob"
    rejected(world.run(world.from_user(world.alice, f"*72{lock}"))[0], 603, "opened")
    rejected(world.run(world.from_user(world.alice, f"*70{lock}"))[0], 603, "closed")
    rejected(world.run(world.from_user(world.alice, "*7199"))[0], 404, "route lock 99")
    rejected(world.run(world.from_user(world.alice, "*71"))[0], 484, "route lock id missing")


def test_client_service_codes_override_the_brand_ones(world: World) -> None:
    """8.5 / 9.7.6: a client code replaces the brand (default) code."""
    lock = world.create("RouteLock", company=world.company, name="night", description="", open=False)
    svc = world.rows("Service", iden="OpenLock")[0]["id"]
    (code,) = world.rows("CompanyService", companyId=world.company, serviceId=svc)  # copied from the brand's
    world.set("CompanyService", code["id"], code="55")
    rejected(world.run(world.from_user(world.alice, f"*55{lock}"))[0], 603, "opened")
    rejected(world.run(world.from_user(world.alice, f"*71{lock}"))[0], 404, "unknown service code")
    rejected(world.run(world.from_user(world.alice, "*94102"))[0], 503, "not available yet")


def test_10_1_7_call_acl_for_external_numbers_only(world: World) -> None:
    """Call ACLs: rules by priority, default policy; internal numbers never checked."""
    world.set("Company", world.company, outgoingDdi=world.ddi("944000001"))
    acl = world.create("CallAcl", company=world.company, name="national only", defaultPolicy="deny")
    world.create("CallAclRelMatchList", callAcl=acl, matchList=world.match_list("^\\+349"), policy="allow", priority=2)
    world.create("CallAclRelMatchList", callAcl=acl, matchList=world.match_list("^\\+34902"), policy="deny", priority=1)
    world.set("User", world.alice, callAcl=acl)
    assert only(world.run(world.from_user(world.alice, "911234567"))[0]).ruri_user == "+34911234567"
    rejected(world.run(world.from_user(world.alice, "902123456"))[0], 403, "call ACL 'national only'")
    rejected(world.run(world.from_user(world.alice, "0044201234567"))[0], 403, "call ACL")
    assert only(world.run(world.from_user(world.alice, "102"))[0]).ruri_user == "bob"


def test_10_1_7_outgoing_ddi_rules(world: World) -> None:
    """Outgoing DDI rules: a destination match list forces another DDI; a prefix pattern (1-3 digits
    and *) dialled before the number forces its DDI and is stripped; else the default action."""
    main = world.ddi("944000001")
    sales = world.ddi("944000002")
    support = world.ddi("944000003")
    world.set("Company", world.company, outgoingDdi=main)
    rule = world.create("OutgoingDdiRule", company=world.company, name="rule", defaultAction="keep")
    world.create("OutgoingDdiRulesPattern", outgoingDdiRule=rule, type="destination",
                 matchList=world.match_list("^\\+346"), action="force", forcedDdi=sales, priority=1)
    world.create("OutgoingDdiRulesPattern", outgoingDdiRule=rule, type="prefix", prefix="22*", action="force",
                 forcedDdi=support, priority=2)
    world.set("User", world.alice, outgoingDdiRule=rule)
    assert only(world.run(world.from_user(world.alice, "911234567"))[0]).from_user == "+34944000001"
    assert only(world.run(world.from_user(world.alice, "600000001"))[0]).from_user == "+34944000002"
    t = only(world.run(world.from_user(world.alice, "22*911234567"))[0])
    assert (t.ruri_user, t.from_user) == ("+34911234567", "+34944000003")
    # the client's rule applies to users without one
    world.set("Company", world.company, outgoingDdiRule=rule)
    assert only(world.run(world.from_user(world.bob, "600000001"))[0]).from_user == "+34944000002"


def test_numeric_transformation_callee_in(world: World) -> None:
    """The client's transformation set turns dialled numbers into E.164 (spec 9.7.3, Spain:
    national, 00 international, +); what cannot become E.164 is refused with 484."""
    world.set("Company", world.company, outgoingDdi=world.ddi("944000001"))
    for dialled, e164 in (("911234567", "+34911234567"), ("0044201234567", "+44201234567"),
                          ("+33123456789", "+33123456789")):
        assert only(world.run(world.from_user(world.alice, dialled))[0]).ruri_user == e164
    rejected(world.run(world.from_user(world.alice, "abc"))[0], 484, "E.164")


def test_transfer_calls_the_refer_to_number_as_the_transferor(world: World) -> None:
    """Blind transfer: Bob (bridged target) transfers to 103 → Carol rings, presented the
    transferee, Alice's extension (IvozProvider: the transferred channel keeps its caller id)."""
    carol = world.user("Carol", "103")
    call = world.from_user(world.alice, "102")
    bob_target = only(world.run(call)[0])
    script = world.dialplan.transfer(call, world.presence, bob_target, f"<sip:103@{world.domain}>")
    t = only(script.first())
    assert (t.ruri_user, t.user_id, t.from_user) == ("carol", carol, "101")
    # the original caller transferring (transferor None)
    script = world.dialplan.transfer(call, world.presence, None, "sip:103@x")
    assert only(script.first()).from_user == "101"
    external = Target(TargetKind.EXTERNAL, "+34600000001")
    rejected(world.dialplan.transfer(call, world.presence, external, "103").first(), 403)


def test_cancelled_call_ends_the_script(world: World) -> None:
    """The caller hanging up while ringing ends the script (the runtime does not ask again)."""
    hg = world.create("HuntGroup", company=world.company, name="hg", description="", strategy="linear",
                      preventMissedCalls=1, allowCallForwards=0)
    world.create("Extension", company=world.company, number="200", routeType="huntGroup", huntGroup=hg)
    world.create("HuntGroupMember", huntGroup=hg, routeType="user", user=world.bob, priority=1, timeoutTime=5)
    script = world.dialplan.script(world.from_user(world.alice, "200"), world.presence)
    assert targets(script.first()) == [("endpoint", "bob")]
    from polyvox.appserver.plan import DialOutcome

    final = script.after(DialOutcome(DialResult.CANCELLED))
    rejected(final, 487)
    assert script.done


def test_media_features_plug_in_through_handlers(world: World) -> None:
    """The place kept for the media issue: a feature handler registered by kind receives the call
    (kind, object id, caller) and runs its own flow; features without handler answer 503."""
    from polyvox.appserver.dialplan import FeatureRequest, make_dialplan
    from polyvox.appserver.dialplan.script import Flow
    from polyvox.appserver.plan import Dial, Reject

    seen: list[FeatureRequest] = []

    def ivr(req: FeatureRequest) -> Flow:
        seen.append(req)
        outcome = yield Dial((Target(TargetKind.ENDPOINT, "media", "x", label="ivr"),))
        yield Reject(480, f"ivr done after {outcome.result}")

    world.create("Extension", company=world.company, number="600", routeType="ivr", ivr=_feature(world, "ivr"))
    world._dialplan = make_dialplan(world.engine, features={"ivr": ivr})
    actions = world.run(world.from_user(world.alice, "600"), DialResult.NO_ANSWER)
    assert targets(actions[0]) == [("endpoint", "media")]
    rejected(actions[1], 480, "ivr done after no_answer")
    assert [(r.kind, r.caller, r.caller_user_id) for r in seen] == [("ivr", "101", world.alice)]
    rejected(world.run(world.from_user(world.alice, "*93"))[0], 503, "voicemail not available yet")
