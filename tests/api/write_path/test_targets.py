"""Route targets (rules.targets): every entity that routes a call nulls the target fields of the
other route types and demands the one of the chosen type, with a 400 naming it; targets of
another client are refused; a deleted target leaves no route pointing at it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.write_path.conftest import W

# (route type, the field the type demands) of extensions (spec 10.1.4)
EXTENSION_KINDS = [("user", "user"), ("number", "numberValue"), ("ivr", "ivr"), ("huntGroup", "huntGroup"),
                   ("conferenceRoom", "conferenceRoom"), ("friend", "friendValue"), ("queue", "queue"),
                   ("conditional", "conditionalRoute"), ("voicemail", "voicemail"), ("locution", "locution")]


@pytest.mark.parametrize(("kind", "field"), EXTENSION_KINDS)
def test_extension_route_type_demands_its_target(w: W, kind: str, field: str) -> None:
    body = {"number": str(7000 + w.n()), "routeType": kind}
    if kind == "number":
        body["numberCountry"] = w.country()
    w.refused("/extensions", field, **body)


def test_extension_number_demands_its_country(w: W) -> None:
    w.refused("/extensions", "numberCountry", number="7100", routeType="number", numberValue="600000000")


def test_extension_stray_targets_are_nulled(w: W) -> None:
    """What the portal sends for the other route types is dropped, not refused."""
    hg = w.hunt_group()
    vm = w.voicemail()
    ext = w.extension(routeType="huntGroup", huntGroup=hg["id"], voicemail=vm["id"], numberValue="",
                      friendValue="123", user=None)
    got = w.get("/extensions", ext["id"])
    assert got is not None
    assert got["huntGroup"] == hg["id"] or got["huntGroup"]["id"] == hg["id"]
    assert got["voicemail"] is None and got["numberValue"] is None and got["friendValue"] is None
    # changing the route type drops the previous target
    w.update("/extensions", ext["id"], routeType="number", numberValue="944000000", numberCountry=w.country())
    got = w.get("/extensions", ext["id"])
    assert got is not None and got["huntGroup"] is None and got["numberValue"] == "944000000"


def test_extension_without_route_type_has_no_target(w: W) -> None:
    hg = w.hunt_group()
    ext = w.extension(huntGroup=hg["id"])
    row = w.row("Extension", ext["id"])
    assert row is not None and row["routeType"] is None and row["huntGroupId"] is None


@pytest.mark.parametrize(("kind", "field"), [("user", "user"), ("ivr", "ivr"), ("huntGroup", "huntGroup"),
                                             ("fax", "fax"), ("conferenceRoom", "conferenceRoom"),
                                             ("friend", "friendValue"), ("queue", "queue"),
                                             ("conditional", "conditionalRoute"), ("residential", "residentialDevice"),
                                             ("retail", "retailAccount"), ("locution", "locution")])
def test_ddi_route_type_demands_its_target(w: W, kind: str, field: str) -> None:
    ddi = w.create("/ddis", level="brand", company=1, ddi=str(944200000 + w.n()), type="inout",
                   useDdiProviderRoutingTag=False, country=w.country())
    w.refused("/ddis", field, ident=ddi["id"], routeType=kind)


def test_ddi_route_drops_other_targets(w: W) -> None:
    hg = w.hunt_group()
    ddi = w.create("/ddis", level="brand", company=1, ddi=str(944300000 + w.n()), type="inout",
                   useDdiProviderRoutingTag=False, country=w.country())
    w.update("/ddis", ddi["id"], routeType="huntGroup", huntGroup=hg["id"], user=2)
    row = w.row("Ddi", ddi["id"])
    assert row is not None and row["huntGroupId"] == hg["id"] and row["userId"] is None


@pytest.mark.parametrize(("prefix", "field"), [("noInput", "noInputExtension"), ("error", "errorVoicemail")])
def test_ivr_routes_demand_their_target(w: W, prefix: str, field: str) -> None:
    kind = "extension" if field.endswith("Extension") else "voicemail"
    w.refused("/ivrs", field, name=f"ivr{w.n()}", timeout=5, maxDigits=0, allowExtensions=False,
              **{f"{prefix}RouteType": kind})


def test_ivr_entry_number_demands_value_and_country(w: W) -> None:
    ivr = w.ivr()
    w.refused("/ivr_entries", "numberValue", ivr=ivr["id"], entry="1", routeType="number")
    w.refused("/ivr_entries", "numberCountry", ivr=ivr["id"], entry="1", routeType="number", numberValue="600000000")
    w.refused("/ivr_entries", "conditionalRoute", ivr=ivr["id"], entry="2", routeType="conditional")
    entry = w.create("/ivr_entries", ivr=ivr["id"], entry="1", routeType="number", numberValue="600000000",
                     numberCountry=w.country(), extension=1)
    assert entry["extension"] is None


def test_hunt_group_no_answer_target(w: W) -> None:
    w.refused("/hunt_groups", "noAnswerNumberValue", name=f"hg{w.n()}", description="", strategy="ringAll",
              ringAllTimeout=10, preventMissedCalls=1, allowCallForwards=0, noAnswerTargetType="number")
    w.refused("/hunt_groups", "noAnswerVoicemail", name=f"hg{w.n()}", description="", strategy="ringAll",
              ringAllTimeout=10, preventMissedCalls=1, allowCallForwards=0, noAnswerTargetType="voicemail")


@pytest.mark.parametrize("prefix", ["timeout", "full"])
def test_queue_targets(w: W, prefix: str) -> None:
    w.refused("/queues", f"{prefix}Extension", name=f"q{w.n()}", strategy="ringall", preventMissedCalls=1,
              **{f"{prefix}TargetType": "extension"})


def test_conditional_route_and_condition_targets(w: W) -> None:
    w.refused("/conditional_routes", "numbervalue", name=f"cr{w.n()}", routetype="number")
    w.refused("/conditional_routes", "friendvalue", name=f"cr{w.n()}", routetype="friend")
    cr = w.create("/conditional_routes", name=f"cr{w.n()}", routetype="user", user=2)
    w.refused("/conditional_routes_conditions", "queue", conditionalRoute=cr["id"], priority=1, routeType="queue")
    cond = w.create("/conditional_routes_conditions", conditionalRoute=cr["id"], priority=1, routeType="number",
                    numberValue="600000000", numberCountry=w.country(), user=2)
    assert cond["user"] is None


def test_external_call_filter_targets(w: W) -> None:
    base: dict[str, Any] = {"name": f"ecf{w.n()}", "holidayEnabled": True, "outOfScheduleEnabled": True}
    w.refused("/external_call_filters", "holidayExtension", holidayTargetType="extension", **base)
    w.refused("/external_call_filters", "outOfScheduleNumberCountry", outOfScheduleTargetType="number",
              outOfScheduleNumberValue="600000000", **base)


def test_external_call_filter_disabled_parts_are_cleared(w: W) -> None:
    """IvozProvider ExternalCallFilter::sanitizeValues: holiday filtering off clears its route and
    calendars."""
    cal = w.calendar()
    ecf = w.create("/external_call_filters", name=f"ecf{w.n()}", holidayEnabled=False, outOfScheduleEnabled=False,
                   holidayTargetType="number", holidayNumberValue="600000000", holidayNumberCountry=w.country(),
                   calendarIds=[cal["id"]])
    got = w.get("/external_call_filters", ecf["id"])
    assert got is not None
    assert got["holidayTargetType"] is None and got["holidayNumberValue"] is None and got["calendarIds"] == []


def test_holiday_and_period_targets(w: W) -> None:
    cal = w.calendar()
    w.refused("/holiday_dates", "extension", calendar=cal["id"], name="x", eventDate="2031-01-01",
              wholeDayEvent=True, routeType="extension")
    w.refused("/calendar_periods", "voicemail", calendar=cal["id"], startDate="2031-01-01", endDate="2031-01-02",
              routeType="voicemail")


def test_deleting_a_target_unlinks_its_routes(w: W) -> None:
    """IvozProvider Ivr/UpdateByExtension, Ivr/UpdateByVoicemail, Extension/UpdateByUser: the routes
    that pointed at a deleted row lose their route type; IVR entries routed to it go."""
    hg = w.hunt_group()
    ext = w.extension(routeType="huntGroup", huntGroup=hg["id"])
    target = w.extension(routeType="number", numberValue="600000000", numberCountry=w.country())
    ivr = w.ivr(noInputRouteType="extension", noInputExtension=target["id"])
    entry = w.create("/ivr_entries", ivr=ivr["id"], entry="3", routeType="extension", extension=target["id"])
    w.delete("/hunt_groups", hg["id"])
    got = w.get("/extensions", ext["id"])
    assert got is not None and got["routeType"] is None and got["huntGroup"] is None
    w.delete("/extensions", target["id"])
    got = w.get("/ivrs", ivr["id"])
    assert got is not None and got["noInputRouteType"] is None and got["noInputExtension"] is None
    assert w.get("/ivr_entries", entry["id"]) is None
