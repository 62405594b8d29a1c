"""External calls to DDIs: external call filters (spec 10.1.6 "External call filters") and DDI
routes (spec 10.1.6 "DDIs")."""

from __future__ import annotations

import datetime as dt

from polyvox.appserver.plan import TargetKind
from tests.appserver.conftest import NOW, World, header, only, rejected


def _filter(world: World, **values: object) -> int:
    data: dict[str, object] = {"holidayEnabled": False, "outOfScheduleEnabled": False, **values}
    return world.create("ExternalCallFilter", company=world.company, name="filter", **data)


def test_blacklist_rejects(world: World) -> None:
    """Black list: the origin matches → the call is rejected (403, IvozProvider's cause 21)."""
    flt = _filter(world)
    world.create("ExternalCallFilterBlackList", filter=flt, matchlist=world.match_list("^\\+34666"))
    ddi = world.ddi("944000001", routeType="user", user=world.alice, externalCallFilter=flt)
    rejected(world.run(world.inbound(ddi, "+34666777888"))[0], 403, "external call filter")
    assert only(world.run(world.inbound(ddi, "+34911000000"))[0]).ruri_user == "alice"


def test_whitelist_skips_holidays_and_schedules(world: World) -> None:
    """White list: matching origins skip holiday and schedule checks."""
    cal = world.create("Calendar", company=world.company, name="cal")
    world.create("HolidayDate", calendar=cal, name="today", eventDate=NOW.date().isoformat(), wholeDayEvent=True)
    flt = _filter(world, holidayEnabled=True)
    world.create("ExternalCallFilterRelCalendar", filter=flt, calendar=cal)
    world.create("ExternalCallFilterWhiteList", filter=flt, matchlist=world.match_list("+34666777888"))
    ddi = world.ddi("944000001", routeType="user", user=world.alice, externalCallFilter=flt)
    assert only(world.run(world.inbound(ddi, "+34666777888"))[0]).ruri_user == "alice"
    rejected(world.run(world.inbound(ddi, "+34911000000"))[0], 480, "holiday")


def test_holiday_forwards_to_a_number_keeping_the_caller(world: World) -> None:
    """Holiday with a number target: the caller is kept and a Diversion names the DDI (spec: "Calls
    forwarded by a filter will keep the original caller identification, adding the forwarding info in
    a SIP Diversion header")."""
    cal = world.create("Calendar", company=world.company, name="cal")
    world.create("HolidayDate", calendar=cal, name="today", eventDate=NOW.date().isoformat(), wholeDayEvent=True)
    flt = _filter(world, holidayEnabled=True, holidayTargetType="number", holidayNumberCountry=world.spain,
                  holidayNumberValue="600000001")
    world.create("ExternalCallFilterRelCalendar", filter=flt, calendar=cal)
    ddi = world.ddi("944000001", routeType="user", user=world.alice, externalCallFilter=flt)
    t = only(world.run(world.inbound(ddi, "+34666777888"))[0])
    assert (t.kind, t.ruri_user, t.from_user) == (TargetKind.EXTERNAL, "+34600000001", "+34666777888")
    assert header(t, "Diversion") == [f"<sip:+34944000001@{world.domain}>;reason=time-of-day"]
    # the next day is no holiday
    nxt = world.inbound(ddi, "+34666777888", now=NOW + dt.timedelta(days=1))
    assert only(world.run(nxt)[0]).ruri_user == "alice"


def test_out_of_schedule_forwards_to_an_extension(world: World) -> None:
    """Out of schedule (Monday–Friday 08:00–18:00 Madrid): at 20:00 the call goes to extension 102;
    at 10:00 to the DDI's route."""
    sched = world.create("Schedule", company=world.company, name="office", timeIn="08:00:00", timeout="18:00:00",
                         monday=True, tuesday=True, wednesday=True, thursday=True, friday=True, saturday=False,
                         sunday=False)
    ext = world.rows("Extension", number="102")[0]["id"]
    flt = _filter(world, outOfScheduleEnabled=True, outOfScheduleTargetType="extension",
                  outOfScheduleExtension=ext)
    world.create("ExternalCallFilterRelSchedule", filter=flt, schedule=sched)
    ddi = world.ddi("944000001", routeType="user", user=world.alice, externalCallFilter=flt)
    assert only(world.run(world.inbound(ddi, "+34666777888"))[0]).ruri_user == "alice"
    evening = NOW.replace(hour=19)  # 20:00 in Madrid
    t = only(world.run(world.inbound(ddi, "+34666777888", now=evening))[0])
    assert t.ruri_user == "bob" and t.from_user == "666777888"
    assert header(t, "Diversion") == [f"<sip:+34944000001@{world.domain}>;reason=time-of-day"]


def test_holiday_to_voicemail_is_a_placeholder(world: World) -> None:
    cal = world.create("Calendar", company=world.company, name="cal")
    vm = world.rows("Voicemail", userId=world.alice)[0]["id"]
    world.create("HolidayDate", calendar=cal, name="today", eventDate=NOW.date().isoformat(), wholeDayEvent=True,
                 routeType="voicemail", voicemail=vm)
    flt = _filter(world, holidayEnabled=True)
    world.create("ExternalCallFilterRelCalendar", filter=flt, calendar=cal)
    ddi = world.ddi("944000001", routeType="user", user=world.alice, externalCallFilter=flt)
    rejected(world.run(world.inbound(ddi, "+34666777888"))[0], 503, "voicemail not available yet")


def test_ddi_routes(world: World) -> None:
    """DDI route types: user, features not built yet (503 placeholder), no route (480)."""
    ivr = world.create("Ivr", name="menu", timeout=5, maxDigits=1, allowExtensions=False)
    ivr_ddi = world.ddi("944000002", routeType="ivr", ivr=ivr)
    rejected(world.run(world.inbound(ivr_ddi, "+34666777888"))[0], 503, "IVR not available yet")
    bare = world.ddi("944000003")
    rejected(world.run(world.inbound(bare, "+34666777888"))[0], 480, "no route")


def test_unknown_or_foreign_ddi(world: World) -> None:
    ddi = world.ddi("944000001", routeType="user", user=world.alice)
    call = world.inbound(ddi, "+34666777888")
    from dataclasses import replace

    rejected(world.run(replace(call, ddi_id=99999, ddi="+34999999999"))[0], 404, "unknown DDI")
    # a DDI found by number when the runtime has no id
    assert only(world.run(replace(call, ddi_id=None))[0]).ruri_user == "alice"


def test_bounced_call_is_inbound(world: World) -> None:
    """An own DDI dialled from inside comes back from proxy-trunks as BOUNCED: routed like an
    inbound call (docs: the dialplan leaves own DDIs to proxy-trunks' bounce)."""
    from dataclasses import replace

    from polyvox.appserver.plan import Origin

    world.set("Company", world.company, outgoingDdi=world.ddi("944000009"))
    ddi = world.ddi("944000001", routeType="user", user=world.bob)
    out = only(world.run(world.from_user(world.alice, "944000001"))[0])
    assert (out.kind, out.ruri_user) == (TargetKind.EXTERNAL, "+34944000001")
    back = replace(world.inbound(ddi, "+34944000009"), origin=Origin.BOUNCED)
    t = only(world.run(back)[0])
    assert (t.ruri_user, t.from_user) == ("bob", "944000009")
