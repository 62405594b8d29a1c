"""Outgoing routing (IvozProvider 9.3, 7.2-7.3) and Sipwise C5 peering selection."""

from __future__ import annotations

import random
from collections import Counter
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyvox.domain import routing as rt
from polyvox.domain.routing import (
    CarrierServer,
    OutgoingRoute,
    PeeringGroup,
    PeeringRule,
    PeeringServer,
    RoutingPattern,
    RoutingPatternGroup,
    RoutingTag,
)

SPAIN = RoutingPattern(1, "+34", "Spain")
SPAIN_MOBILE = RoutingPattern(2, "+346", "Spain mobile")
FRANCE = RoutingPattern(3, "+33", "France")
EUROPE = RoutingPatternGroup(10, (SPAIN, FRANCE), "Europe")
CLIENT_A = 100
CLIENT_B = 200
MADRID = "+34911234567"
MOBILE = "+34612345678"


def route(
    rid: int,
    *,
    priority: int = 1,
    weight: int = 1,
    type: rt.RouteType = "pattern",
    pattern: RoutingPattern | None = SPAIN,
    group: RoutingPatternGroup | None = None,
    client: int | None = None,
    mode: rt.RoutingMode = "static",
    carrier: int | None = None,
    carriers: tuple[int, ...] = (),
    stopper: bool = False,
    tag: int | None = None,
) -> OutgoingRoute:
    if type == "group":
        pattern, group = None, group or EUROPE
    if type == "fax":
        pattern = group = None
    if mode == "static" and carrier is None:
        carrier = rid
    return OutgoingRoute(
        id=rid,
        type=type,
        priority=priority,
        weight=weight,
        routing_mode=mode,
        client_id=client,
        routing_pattern=pattern,
        routing_pattern_group=group,
        carrier_id=carrier,
        carrier_ids=carriers,
        stopper=stopper,
        routing_tag_id=tag,
    )


def ids(routes: tuple[OutgoingRoute, ...]) -> list[int]:
    return [r.id for r in routes]


# ------------------------------------------------- 9.3.1 routing selection logic


def test_9_3_1_step_1_all_clients_pattern_routes_are_selected() -> None:
    sel = rt.select_routes([route(1)], CLIENT_A, MADRID)
    assert ids(sel.routes) == [1]
    assert sel.routable and sel.reason is None


def test_9_3_1_step_2_all_clients_group_containing_destination_is_selected() -> None:
    sel = rt.select_routes([route(1, type="group")], CLIENT_A, "+33123456789")
    assert ids(sel.routes) == [1]


def test_9_3_1_steps_3_and_4_client_specific_routes_only_for_that_client() -> None:
    routes = [route(1, client=CLIENT_A), route(2, type="group", client=CLIENT_A), route(3, client=CLIENT_B)]
    assert ids(rt.select_routes(routes, CLIENT_A, MADRID).routes) == [1, 2]
    assert ids(rt.select_routes(routes, CLIENT_B, MADRID).routes) == [3]
    assert ids(rt.select_routes(routes, None, MADRID).routes) == []


def test_9_3_1_steps_1_to_4_order_on_equal_priority() -> None:
    routes = [
        route(4, type="group", client=CLIENT_A),
        route(3, client=CLIENT_A),
        route(2, type="group"),
        route(1),
    ]
    assert ids(rt.select_routes(routes, CLIENT_A, MADRID).routes) == [1, 2, 3, 4]


def test_9_3_1_step_5_routes_ordered_by_priority_lower_first() -> None:
    routes = [route(1, priority=3), route(2, priority=1, client=CLIENT_A), route(3, priority=2, type="group")]
    assert ids(rt.select_routes(routes, CLIENT_A, MADRID).routes) == [2, 3, 1]


def test_9_3_1_note_all_clients_routes_apply_even_with_client_specific_routes() -> None:
    routes = [route(1, priority=10), route(2, priority=1, client=CLIENT_A)]
    assert ids(rt.select_routes(routes, CLIENT_A, MADRID).routes) == [2, 1]


def test_9_3_1_note_stopper_makes_clients_with_specific_routes_skip_all_clients_routes() -> None:
    routes = [route(1, priority=10), route(2, priority=1, client=CLIENT_A, stopper=True)]
    assert ids(rt.select_routes(routes, CLIENT_A, MADRID).routes) == [2]
    assert ids(rt.select_routes(routes, CLIENT_B, MADRID).routes) == [1]


def test_9_3_1_step_6_blocking_route_drops_call() -> None:
    routes = [route(1, priority=1), route(2, priority=50, mode="block")]
    sel = rt.select_routes(routes, CLIENT_A, MADRID)
    assert sel.blocked
    assert sel.routes == ()
    assert ids(sel.blocking_routes) == [2]
    assert ids(sel.candidates) == [1, 2]
    assert not sel.routable
    assert sel.reason == "call blocked by outgoing routing 2"
    assert rt.carriers_for_call(sel, MADRID) == ()


def test_9_3_1_blocking_routes_apply_before_stoppers() -> None:
    """Step 6 comes before step 7: a block route is not saved by a lower-priority stopper."""
    routes = [route(1, priority=1, stopper=True), route(2, priority=9, mode="block")]
    assert rt.select_routes(routes, CLIENT_A, MADRID).blocked


def test_9_3_1_blocking_route_for_one_client_only() -> None:
    routes = [route(1), route(2, mode="block", client=CLIENT_B)]
    assert not rt.select_routes(routes, CLIENT_A, MADRID).blocked
    assert rt.select_routes(routes, CLIENT_B, MADRID).blocked


def test_9_3_1_step_7_stopper_discards_routes_with_priority_greater_than_y_plus_1() -> None:
    routes = [
        route(1, priority=1, stopper=True),
        route(2, priority=2),
        route(3, priority=3),
        route(4, priority=4),
    ]
    sel = rt.select_routes(routes, CLIENT_A, MADRID)
    assert ids(sel.routes) == [1, 2]  # priority Y+1 = 2 survives, 3 and 4 are discarded
    assert ids(sel.candidates) == [1, 2, 3, 4]


def test_9_3_1_step_7_lowest_priority_stopper_is_the_one_used() -> None:
    routes = [
        route(1, priority=1),
        route(2, priority=3, stopper=True),
        route(3, priority=4),
        route(4, priority=5, stopper=True),
        route(5, priority=6),
    ]
    assert ids(rt.select_routes(routes, CLIENT_A, MADRID).routes) == [1, 2, 3]


def test_9_3_1_stopper_same_priority_routes_will_apply() -> None:
    routes = [route(1, priority=5, stopper=True), route(2, priority=5), route(3, priority=1)]
    assert ids(rt.select_routes(routes, CLIENT_A, MADRID, stopper_mode="strict").routes) == [3, 1, 2]


def test_9_3_1_stopper_strict_mode_discards_higher_priority() -> None:
    routes = [route(1, priority=1, stopper=True), route(2, priority=2), route(3, priority=1)]
    assert ids(rt.select_routes(routes, CLIENT_A, MADRID, stopper_mode="strict").routes) == [1, 3]
    assert ids(rt.select_routes(routes, CLIENT_A, MADRID, stopper_mode="spec").routes) == [1, 3, 2]


def test_9_3_1_no_route_for_destination() -> None:
    sel = rt.select_routes([route(1)], CLIENT_A, "+4412345")
    assert sel.routes == () and not sel.blocked
    assert sel.reason == "no outgoing routing matches the destination"


# --------------------------------------------------- 9.3.2 / 9.3.3 destinations


def test_9_3_2_pattern_matches_when_callee_starts_with_prefix() -> None:
    routes = [route(1)]
    assert ids(rt.select_routes(routes, CLIENT_A, MADRID).routes) == [1]
    assert ids(rt.select_routes(routes, CLIENT_A, "+3391").routes) == []
    assert ids(rt.select_routes(routes, CLIENT_A, "+3").routes) == []


def test_9_3_2_every_matching_prefix_applies_by_default() -> None:
    routes = [route(1, pattern=SPAIN, priority=1), route(2, pattern=SPAIN_MOBILE, priority=2)]
    assert ids(rt.select_routes(routes, CLIENT_A, MOBILE).routes) == [1, 2]
    assert ids(rt.select_routes(routes, CLIENT_A, MADRID).routes) == [1]


def test_9_3_2_longest_prefix_mode() -> None:
    routes = [
        route(1, pattern=SPAIN, priority=1),
        route(2, pattern=SPAIN_MOBILE, priority=2),
        route(3, type="group"),
    ]
    assert ids(rt.select_routes(routes, CLIENT_A, MOBILE, prefix_match="longest").routes) == [2]
    assert ids(rt.select_routes(routes, CLIENT_A, MADRID, prefix_match="longest").routes) == [1, 3]
    assert ids(rt.select_routes(routes, CLIENT_A, "+49", prefix_match="longest").routes) == []


def test_9_3_3_group_route_listed_once_even_if_several_patterns_match() -> None:
    group = RoutingPatternGroup(11, (SPAIN, SPAIN_MOBILE, SPAIN), "Spain all")
    r = route(1, type="group", group=group)
    assert r.prefixes == ("+34", "+346")
    assert ids(rt.select_routes([r], CLIENT_A, MOBILE).routes) == [1]


def test_route_prefixes_by_type() -> None:
    assert route(1).prefixes == ("+34",)
    assert route(2, type="group").prefixes == ("+34", "+33")
    assert route(3, type="fax").prefixes == ()
    assert OutgoingRoute(4, "pattern", 1, carrier_id=1).prefixes == ()


def test_7_2_7_3_spain_pattern_static_route_to_the_new_carrier() -> None:
    r = OutgoingRoute(id=1, type="pattern", priority=1, weight=1, routing_pattern=SPAIN, carrier_id=7)
    sel = rt.select_routes([r], CLIENT_A, MADRID)
    assert [c.carrier_id for c in rt.carriers_for_call(sel, MADRID)] == [7]


def test_route_index_large_table_and_inputs() -> None:
    patterns = [RoutingPattern(i, f"+{i}", str(i)) for i in range(1, 400)]
    routes = tuple(route(i, pattern=p, priority=i % 7) for i, p in enumerate(patterns, start=1))
    index = rt.RouteIndex(routes)
    expected = [r.id for r in routes if "+34911".startswith(r.routing_pattern.prefix)]  # type: ignore[union-attr]
    assert sorted(ids(rt.select_routes(index, CLIENT_A, "+34911").routes)) == sorted(expected) == [3, 34, 349]
    assert ids(rt.select_routes(routes, CLIENT_A, "+34911").routes) == ids(
        rt.select_routes(list(routes), CLIENT_A, "+34911").routes
    )
    assert rt.select_routes(routes, CLIENT_A, "+3") == rt.select_routes(
        routes, CLIENT_A, "+3"
    )  # cached index
    assert index.voice_matches(CLIENT_A, None, "+34") == {}


# ------------------------------------------------------------- faxes (9.3.1 tip)


def test_9_3_1_fax_specific_routes_apply_first_for_faxes() -> None:
    routes = [route(1), route(2, type="fax", priority=5), route(3, type="fax", client=CLIENT_A, priority=1)]
    sel = rt.select_routes(routes, CLIENT_A, MADRID, is_fax=True)
    assert ids(sel.routes) == [3, 2]
    assert sel.fax_routes


def test_9_3_1_fax_without_fax_route_routes_as_voice() -> None:
    routes = [route(1), route(2, type="fax", client=CLIENT_B)]
    sel = rt.select_routes(routes, CLIENT_A, MADRID, is_fax=True)
    assert ids(sel.routes) == [1]
    assert not sel.fax_routes


def test_9_3_1_fax_routes_do_not_apply_to_voice_calls() -> None:
    routes = [route(2, type="fax")]
    assert rt.select_routes(routes, CLIENT_A, MADRID).routes == ()


def test_fax_routes_ignore_routing_tags_and_can_block() -> None:
    routes = [route(1, type="fax", tag=5), route(2, type="fax", mode="block", client=CLIENT_B)]
    assert ids(rt.select_routes(routes, CLIENT_A, MADRID, routing_tag=None, is_fax=True).routes) == [1]
    assert rt.select_routes(routes, CLIENT_B, MADRID, is_fax=True).blocked
    assert ids(rt.select_routes(routes, None, MADRID, is_fax=True).routes) == [1]


# ------------------------------------------------------------- 9.3.4 routing tags


def test_9_3_4_tagged_routes_only_apply_to_calls_with_that_tag() -> None:
    routes = [route(1), route(2, tag=7), route(3, tag=8, client=CLIENT_A)]
    assert ids(rt.select_routes(routes, CLIENT_A, MADRID).routes) == [1]
    assert ids(rt.select_routes(routes, CLIENT_A, MADRID, routing_tag=7).routes) == [2]
    assert ids(rt.select_routes(routes, CLIENT_A, MADRID, routing_tag=8).routes) == [3]
    assert ids(rt.select_routes(routes, CLIENT_B, MADRID, routing_tag=8).routes) == []


@pytest.mark.parametrize("tag", ["1#", "12#", "123#", "007#"])
def test_9_3_4_tag_format_valid(tag: str) -> None:
    assert rt.is_valid_routing_tag(tag)
    assert rt.validate_routing_tag(tag) == []


@pytest.mark.parametrize("tag", ["", "#", "1234#", "12", "a1#", "1#2", "١#", "12##"])
def test_9_3_4_tag_format_invalid(tag: str) -> None:
    assert not rt.is_valid_routing_tag(tag)
    assert "1 to 3 digits followed by '#'" in rt.validate_routing_tag(tag)[0]


BRAND_TAGS = [RoutingTag(7, "1#", "Premium"), RoutingTag(8, "22#", "Cheap")]


def test_9_3_4_dialled_number_with_enabled_tag() -> None:
    res = rt.extract_routing_tag("1#+34911234567", BRAND_TAGS, {7})
    assert res == rt.TagExtraction(number="+34911234567", tag=BRAND_TAGS[0])
    assert not res.refused and res.tag_id == 7


def test_9_3_4_untagged_number_passes_through() -> None:
    for dialled in ("+34911234567", "*21#", "#31#600", "1234#600"):
        res = rt.extract_routing_tag(dialled, BRAND_TAGS, {7})
        assert res == rt.TagExtraction(number=dialled)
        assert res.tag_id is None


def test_9_3_4_unknown_tag_refused() -> None:
    res = rt.extract_routing_tag("99#600", BRAND_TAGS, {7, 8})
    assert res.refused and res.reason == "unknown routing tag '99#'"
    assert res.number == "600"


def test_9_3_4_non_enabled_tag_declines_call() -> None:
    res = rt.extract_routing_tag("22#600", BRAND_TAGS, {7})
    assert res.refused and res.reason == "routing tag '22#' is not enabled for this client"
    assert res.tag_id == 8


def test_9_3_4_tag_without_destination_refused() -> None:
    res = rt.extract_routing_tag("1#", BRAND_TAGS, {7})
    assert res.refused and "no destination" in (res.reason or "")


# ------------------------------------------------------- load balancing / weights


def _first_share(routes: list[OutgoingRoute], draws: int, seed: int) -> Counter[int]:
    rng = random.Random(seed)
    sel = rt.select_routes(routes, CLIENT_A, MADRID)
    return Counter(rt.carriers_for_call(sel, MADRID, rng=rng)[0].carrier_id for _ in range(draws))


def test_9_3_1_load_balancing_example_1_fifty_fifty() -> None:
    counts = _first_share([route(1, carrier=11), route(2, carrier=22)], 20_000, 1)
    assert abs(counts[11] / 20_000 - 0.5) < 0.02


def test_9_3_1_load_balancing_example_2_one_third_two_thirds() -> None:
    counts = _first_share([route(1, carrier=11, weight=1), route(2, carrier=22, weight=2)], 20_000, 2)
    assert abs(counts[11] / 20_000 - 1 / 3) < 0.02
    assert abs(counts[22] / 20_000 - 2 / 3) < 0.02


@settings(max_examples=25, deadline=None)
@given(
    weights=st.lists(st.integers(min_value=1, max_value=10), min_size=2, max_size=5),
    seed=st.integers(0, 2**32),
)
def test_weighted_load_balancing_converges_to_weight_proportions(weights: list[int], seed: int) -> None:
    rng = random.Random(seed)
    items = list(range(len(weights)))
    draws = 20_000
    counts = Counter(rt.weighted_order(items, lambda i: weights[i], rng)[0] for _ in range(draws))
    total = sum(weights)
    for i, w in enumerate(weights):
        assert abs(counts[i] / draws - w / total) < 0.03


def test_weighted_order_is_a_permutation_with_zero_weights_last() -> None:
    rng = random.Random(3)
    for _ in range(200):
        order = rt.weighted_order(["a", "b", "z0", "z1"], lambda s: 0 if s.startswith("z") else 1, rng)
        assert sorted(order) == ["a", "b", "z0", "z1"]
        assert set(order[2:]) == {"z0", "z1"}
    assert rt.weighted_order([], lambda s: 1, rng) == []
    assert rt.weighted_order(["x"], lambda s: 1, rng) == ["x"]


# ------------------------------------------------------------- failover routes


def test_9_3_1_failover_example_lower_priority_first_then_next() -> None:
    routes = [route(2, priority=2, carrier=22), route(1, priority=1, carrier=11)]
    sel = rt.select_routes(routes, CLIENT_A, MADRID)
    rng = random.Random(5)
    for _ in range(100):
        assert [c.carrier_id for c in rt.carriers_for_call(sel, MADRID, rng=rng)] == [11, 22]


def test_failover_and_load_balancing_combined() -> None:
    routes = [
        route(1, priority=1, carrier=11),
        route(2, priority=1, carrier=12),
        route(3, priority=2, carrier=13),
    ]
    rng = random.Random(9)
    seen = set()
    for _ in range(100):
        order = tuple(c.carrier_id for c in rt.carriers_for_call(routes, MADRID, rng=rng))
        assert order[2] == 13 and set(order[:2]) == {11, 12}
        seen.add(order)
    assert seen == {(11, 12, 13), (12, 11, 13)}


def test_deterministic_order_without_rng_heavier_first() -> None:
    routes = [
        route(1, priority=1, carrier=11, weight=1),
        route(2, priority=1, carrier=12, weight=3),
        route(3, priority=1, carrier=13),
    ]
    assert [c.carrier_id for c in rt.carriers_for_call(routes, MADRID)] == [12, 11, 13]


def test_same_carrier_through_several_routes_kept_once_at_first_position() -> None:
    routes = [
        route(1, priority=1, carrier=11),
        route(2, priority=2, carrier=12),
        route(3, priority=3, carrier=11),
    ]
    choices = rt.carriers_for_call(routes, MADRID)
    assert [(c.carrier_id, c.route.id) for c in choices] == [(11, 1), (12, 2)]
    assert (choices[0].priority, choices[0].weight) == (1, 1)


def test_static_route_without_carrier_contributes_nothing() -> None:
    r = OutgoingRoute(1, "pattern", 1, routing_pattern=SPAIN)
    assert rt.carriers_for_call([r], MADRID) == ()


def test_blocking_route_handed_to_carrier_selection_is_an_error() -> None:
    with pytest.raises(rt.RoutingError, match="blocking route"):
        rt.carriers_for_call([route(1, mode="block")], MADRID)


# ----------------------------------------------------------------- LCR routes

COSTS = {
    (31, MADRID): Decimal("0.0500"),
    (32, MADRID): Decimal("0.0100"),
    (33, MADRID): None,  # cannot rate the destination
    (34, MADRID): Decimal("0.0100"),
    (35, MADRID): Decimal("-1"),  # CGRateS style error value
    (36, MADRID): Decimal("NaN"),
}


def cost_of(carrier_id: int, callee: str) -> Decimal | None:
    return COSTS.get((carrier_id, callee))


def test_9_3_1_lcr_route_orders_carriers_by_cost_and_drops_unrated() -> None:
    r = route(1, mode="lcr", carriers=(31, 32, 33, 34, 35, 36, 32))
    choices = rt.carriers_for_call([r], MADRID, cost_of)
    assert [(c.carrier_id, c.cost) for c in choices] == [
        (32, Decimal("0.0100")),
        (34, Decimal("0.0100")),  # tie on cost: carrier id
        (31, Decimal("0.0500")),
    ]
    assert all(c.priority == 1 and c.weight == 1 for c in choices)


def test_9_3_1_lcr_route_without_rateable_carrier_gives_nothing() -> None:
    assert rt.carriers_for_call([route(1, mode="lcr", carriers=(33,))], MADRID, cost_of) == ()


def test_9_3_1_lcr_route_needs_a_cost_function() -> None:
    with pytest.raises(rt.RoutingError, match="cost_of"):
        rt.carriers_for_call([route(1, mode="lcr", carriers=(31,))], MADRID)


def test_9_3_1_lcr_and_static_routes_combined() -> None:
    routes = [
        route(1, priority=2, mode="lcr", carriers=(31, 32)),
        route(2, priority=1, carrier=40),
        route(3, priority=3, carrier=41),
    ]
    sel = rt.select_routes(routes, CLIENT_A, MADRID)
    choices = rt.carriers_for_call(sel, MADRID, cost_of, random.Random(1))
    assert [c.carrier_id for c in choices] == [40, 32, 31, 41]
    assert [c.priority for c in choices] == [1, 2, 2, 3]


def test_9_3_1_lcr_carriers_keep_cost_order_when_load_balanced_with_a_static_route() -> None:
    routes = [route(1, priority=1, mode="lcr", carriers=(31, 32)), route(2, priority=1, carrier=40)]
    rng = random.Random(11)
    seen = set()
    for _ in range(200):
        order = tuple(c.carrier_id for c in rt.carriers_for_call(routes, MADRID, cost_of, rng))
        seen.add(order)
    assert seen == {(32, 31, 40), (40, 32, 31)}


def test_lcr_reference_duration_is_five_minutes() -> None:
    assert rt.LCR_REFERENCE_DURATION_SECONDS == 300


# -------------------------------------------------------------- carrier servers


SERVERS = [
    CarrierServer(3, 11, "b"),
    CarrierServer(1, 11, "a"),
    CarrierServer(5, 12, "c"),
    CarrierServer(9, 99),
]


def test_carrier_servers_tried_by_id_without_rng_and_shuffled_with_rng() -> None:
    own = [s for s in SERVERS if s.carrier_id == 11]
    assert [s.id for s in rt.order_carrier_servers(own)] == [1, 3]
    rng = random.Random(4)
    seen = {tuple(s.id for s in rt.order_carrier_servers(own, rng)) for _ in range(100)}
    assert seen == {(1, 3), (3, 1)}


def test_failover_targets_expand_carriers_into_servers() -> None:
    choices = rt.carriers_for_call(
        [route(1, carrier=12), route(2, priority=2, carrier=11), route(3, priority=3, carrier=77)], MADRID
    )
    targets = rt.failover_targets(choices, SERVERS)
    assert [(t.server.id, t.choice.carrier_id) for t in targets] == [(5, 12), (1, 11), (3, 11)]
    available = rt.failover_targets(
        choices, [*SERVERS, CarrierServer(1, 11, "dup")], is_available=lambda s: s.id != 3
    )
    assert [t.server.id for t in available] == [5, 1]
    assert len(rt.failover_targets(choices, SERVERS, rng=random.Random(1))) == 3


# -------------------------------------------------------------- route validation


def test_validate_route_accepts_good_routes() -> None:
    assert rt.validate_route(route(1)) == []
    assert rt.validate_route(route(2, type="group", mode="lcr", carriers=(1, 2))) == []
    assert rt.validate_route(route(3, type="fax", mode="block")) == []


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (OutgoingRoute(1, "other", 1, carrier_id=1), "type must be"),  # type: ignore[arg-type]
        (OutgoingRoute(1, "pattern", 1, routing_mode="x", routing_pattern=SPAIN), "routing mode"),  # type: ignore[arg-type]
        (OutgoingRoute(1, "pattern", 1, carrier_id=1), "needs a routing pattern"),
        (OutgoingRoute(1, "group", 1, carrier_id=1), "needs a routing pattern group"),
        (
            OutgoingRoute(1, "group", 1, carrier_id=1, routing_pattern_group=RoutingPatternGroup(1, ())),
            "has no patterns",
        ),
        (OutgoingRoute(1, "fax", 1, carrier_id=1, routing_pattern=SPAIN), "fax route takes no"),
        (OutgoingRoute(1, "pattern", 1, routing_pattern=SPAIN), "static route needs a carrier"),
        (OutgoingRoute(1, "pattern", 1, routing_mode="lcr", routing_pattern=SPAIN), "LCR route needs"),
        (
            OutgoingRoute(1, "pattern", 1, routing_mode="block", routing_pattern=SPAIN, carrier_ids=(1,)),
            "takes no carriers",
        ),
        (OutgoingRoute(1, "pattern", 1, weight=0, routing_pattern=SPAIN, carrier_id=1), "weight"),
        (OutgoingRoute(1, "pattern", -1, routing_pattern=SPAIN, carrier_id=1), "priority"),
        (OutgoingRoute(1, "pattern", 1, routing_pattern=SPAIN, carrier_id=1, force_clid=True), "clid"),
        (OutgoingRoute(1, "pattern", 1, routing_pattern=SPAIN, carrier_id=1, prefix="12a"), "route prefix"),
    ],
)
def test_validate_route_errors(bad: OutgoingRoute, message: str) -> None:
    assert any(message in e for e in rt.validate_route(bad)), rt.validate_route(bad)


# --------------------------------------------- Sipwise C5 outbound peering (004)

PREMIUM = PeeringGroup(1, priority=1, name="premium")
REGULAR = PeeringGroup(2, priority=2, name="regular")
MOBILE_PEER = PeeringGroup(3, priority=3, name="mobile")
BACKUP = PeeringGroup(4, priority=9, name="backup")
PEER_GROUPS = [PREMIUM, REGULAR, MOBILE_PEER, BACKUP]
PEER_SERVERS = [
    PeeringServer(10, 1, weight=1),
    PeeringServer(20, 2, weight=1),
    PeeringServer(21, 2, weight=3),
    PeeringServer(22, 2, enabled=False),
    PeeringServer(30, 3),
    PeeringServer(40, 4),
]


def test_004_premium_subscribers_routed_first_through_dedicated_group() -> None:
    rules = [
        PeeringRule(1, 1, callee_prefix="", caller_pattern="^sip:premium"),
        PeeringRule(2, 2, callee_prefix=""),
    ]
    premium = rt.select_peers(
        PEER_GROUPS, rules, PEER_SERVERS, "4312345", caller_uri="sip:premium1@example.org"
    )
    assert [g.id for g in premium.groups] == [1, 2]
    assert [s.id for s in premium.servers] == [10, 21, 20]
    regular = rt.select_peers(PEER_GROUPS, rules, PEER_SERVERS, "4312345", caller_uri="sip:joe@example.org")
    assert [g.id for g in regular.groups] == [2]
    assert [r.id for r in regular.rules] == [2]


def test_004_longest_callee_prefix_first_then_group_priority() -> None:
    rules = [
        PeeringRule(1, 1, callee_prefix="43"),
        PeeringRule(2, 3, callee_prefix="43664"),
        PeeringRule(3, 4, callee_prefix="43"),
        PeeringRule(4, 2, callee_prefix="49"),
    ]
    sel = rt.select_peers(PEER_GROUPS, rules, PEER_SERVERS, "436641234")
    assert [g.id for g in sel.groups] == [3, 1, 4]
    assert [s.id for s in sel.servers] == [30, 10, 40]
    assert [r.id for r in sel.rules] == [2, 1, 3]


def test_004_callee_pattern_matches_request_uri() -> None:
    rules = [PeeringRule(1, 1, callee_pattern="@voip\\.example$"), PeeringRule(2, 2)]
    sel = rt.select_peers(PEER_GROUPS, rules, PEER_SERVERS, "43", callee_uri="sip:43@voip.example")
    assert [g.id for g in sel.groups] == [1, 2]
    sel = rt.select_peers(PEER_GROUPS, rules, PEER_SERVERS, "43")  # pattern searched in the bare number
    assert [g.id for g in sel.groups] == [2]


def test_004_stopper_rule_stops_further_rules() -> None:
    rules = [
        PeeringRule(1, 3, callee_prefix="4366", stopper=True),
        PeeringRule(2, 1, callee_prefix="43"),
        PeeringRule(3, 4, callee_prefix="4366"),
    ]
    sel = rt.select_peers(PEER_GROUPS, rules, PEER_SERVERS, "43664")
    assert [g.id for g in sel.groups] == [3]
    sel = rt.select_peers(PEER_GROUPS, rules, PEER_SERVERS, "4399")  # stopper does not match
    assert [g.id for g in sel.groups] == [1]


def test_004_disabled_unknown_group_and_invalid_rules_are_ignored() -> None:
    rules = [
        PeeringRule(1, 1, enabled=False),
        PeeringRule(2, 99),
        PeeringRule(3, 3, caller_pattern="(a+)+"),
        PeeringRule(4, 4, callee_prefix="43"),
        PeeringRule(5, 4, callee_prefix="4"),
    ]
    sel = rt.select_peers(PEER_GROUPS, rules, PEER_SERVERS, "43")
    assert [g.id for g in sel.groups] == [4]
    assert [r.id for r in sel.rules] == [4, 5]
    assert [s.id for s in sel.servers] == [40]
    assert rt.select_peers(PEER_GROUPS, rules, PEER_SERVERS, "5") == rt.PeeringSelection((), (), ())


def test_004_servers_of_a_group_load_balanced_by_weight() -> None:
    rules = [PeeringRule(1, 2)]
    rng = random.Random(8)
    counts = Counter(
        rt.select_peers(PEER_GROUPS, rules, PEER_SERVERS, "1", rng=rng).servers[0].id for _ in range(20_000)
    )
    assert set(counts) == {20, 21}  # disabled server 22 never used
    assert abs(counts[21] / 20_000 - 0.75) < 0.02


def test_004_same_rank_groups_share_one_load_balancing_pool() -> None:
    twin = PeeringGroup(5, priority=2)
    servers = [*PEER_SERVERS, PeeringServer(50, 5, weight=4)]
    rules = [PeeringRule(1, 2, callee_prefix="1"), PeeringRule(2, 5, callee_prefix="1")]
    sel = rt.select_peers([*PEER_GROUPS, twin], rules, servers, "123")
    assert [s.id for s in sel.servers] == [50, 21, 20]
    assert [g.id for g in sel.groups] == [2, 5]


def test_004_validate_peering_rule() -> None:
    assert (
        rt.validate_peering_rule(
            PeeringRule(1, 1, callee_prefix="+43", callee_pattern="^sip:", caller_pattern="x")
        )
        == []
    )
    assert rt.validate_peering_rule(PeeringRule(1, 1)) == []
    errors = rt.validate_peering_rule(
        PeeringRule(1, 1, callee_prefix="4a", callee_pattern="(", caller_pattern="[z")
    )
    assert len(errors) == 3
    assert errors[0].startswith("callee pattern:")
    assert errors[1].startswith("caller pattern:")
    assert "callee prefix" in errors[2]


def test_004_a_server_listed_twice_is_tried_once() -> None:
    servers = [PeeringServer(10, 1), PeeringServer(10, 1)]
    sel = rt.select_peers(PEER_GROUPS, [PeeringRule(1, 1)], servers, "1")
    assert [s.id for s in sel.servers] == [10]


# --------------------------------------------- memoised selection vs reference


def reference_select(
    routes: list[OutgoingRoute],
    client_id: int | None,
    callee: str,
    tag: int | None,
    stopper_mode: rt.StopperMode,
    prefix_match: rt.PrefixMatch,
) -> rt.RouteSelection:
    """9.3.1 voice selection written the slow, obvious way: scan every route."""
    found: list[tuple[int, int, OutgoingRoute]] = []  # (step, matched length, route)
    for r in routes:
        if r.type == "fax" or r.routing_tag_id != tag:
            continue
        if r.client_id is None:
            step = 0
        elif client_id is not None and r.client_id == client_id:
            step = 2
        else:
            continue
        lengths = [len(p) for p in r.prefixes if callee.startswith(p)]
        if lengths:
            found.append((step + (0 if r.type == "pattern" else 1), max(lengths), r))
    if prefix_match == "longest" and found:
        longest = max(length for _, length, _ in found)
        found = [f for f in found if f[1] == longest]
    ordered = tuple(r for _, _, r in sorted(found, key=lambda f: (f[2].priority, f[0], f[2].id)))
    blocking = tuple(r for r in ordered if r.routing_mode == "block")
    if blocking:
        return rt.RouteSelection((), ordered, True, blocking)
    stoppers = [r.priority for r in ordered if r.stopper]
    if stoppers:
        limit = min(stoppers) + (1 if stopper_mode == "spec" else 0)
        return rt.RouteSelection(tuple(r for r in ordered if r.priority <= limit), ordered)
    return rt.RouteSelection(ordered, ordered)


_PREFIXES = ["+1", "+12", "+123", "+1234", "+13", "+2", "+21", "+3"]
_route_specs = st.lists(
    st.tuples(
        st.sampled_from(["pattern", "group", "fax"]),
        st.lists(st.sampled_from(_PREFIXES), min_size=1, max_size=3),
        st.integers(0, 3),  # priority
        st.sampled_from(["static", "lcr", "block"]),
        st.sampled_from([None, None, 1, 2]),  # client
        st.sampled_from([None, None, 7]),  # routing tag
        st.booleans(),  # stopper
    ),
    max_size=14,
)


def _build_routes(specs: list[tuple[str, list[str], int, str, int | None, int | None, bool]]) -> list[OutgoingRoute]:
    routes = []
    for rid, (kind, prefixes, priority, mode, client, tag, stopper) in enumerate(specs, start=1):
        patterns = tuple(RoutingPattern(rid * 10 + n, p) for n, p in enumerate(prefixes))
        routes.append(
            OutgoingRoute(
                id=rid,
                type=kind,  # type: ignore[arg-type]
                priority=priority,
                routing_mode=mode,  # type: ignore[arg-type]
                client_id=client,
                routing_pattern=patterns[0] if kind == "pattern" else None,
                routing_pattern_group=RoutingPatternGroup(rid, patterns) if kind == "group" else None,
                carrier_id=rid if mode == "static" else None,
                carrier_ids=(1, 2) if mode == "lcr" else (),
                stopper=stopper,
                routing_tag_id=tag,
            )
        )
    return routes


@settings(max_examples=300, deadline=None)
@given(
    specs=_route_specs,
    queries=st.lists(
        st.tuples(
            st.sampled_from([None, 1, 2, 3]),
            st.sampled_from(["", "+", "+1", "+12", "+1234", "+12345678", "+13", "+139", "+2", "+219", "+4"]),
            st.sampled_from([None, 7, 8]),
            st.sampled_from(["spec", "strict"]),
            st.sampled_from(["any", "longest"]),
        ),
        min_size=1,
        max_size=12,
    ),
)
def test_memoised_selection_selects_exactly_what_a_full_scan_selects(
    specs: list[tuple[str, list[str], int, str, int | None, int | None, bool]],
    queries: list[tuple[int | None, str, int | None, rt.StopperMode, rt.PrefixMatch]],
) -> None:
    routes = _build_routes(specs)
    index = rt.RouteIndex(routes)
    for _ in range(2):  # the second pass answers from the memo
        for client, callee, tag, stopper_mode, prefix_match in queries:
            got = rt.select_routes(
                index, client, callee, tag, stopper_mode=stopper_mode, prefix_match=prefix_match
            )
            assert got == reference_select(routes, client, callee, tag, stopper_mode, prefix_match)


def test_memoised_selection_is_shared_by_callees_with_the_same_longest_prefix() -> None:
    index = rt.RouteIndex([route(1, pattern=SPAIN), route(2, pattern=SPAIN_MOBILE, client=CLIENT_A)])
    first = rt.select_routes(index, CLIENT_A, "+34611111111")
    assert ids(first.routes) == [1, 2]
    assert rt.select_routes(index, CLIENT_A, "+34622222222") is first
    # a client without routes of its own selects what every client selects
    other = rt.select_routes(index, CLIENT_B, "+34611111111")
    assert ids(other.routes) == [1]
    assert rt.select_routes(index, None, "+34611111111") is other
    assert rt.select_routes(index, CLIENT_B, "+1555", routing_tag=9).reason == (
        "no outgoing routing matches the destination"
    )
