"""Rating / authorisation micro-benchmark (one core, seeded, bounded).

Run: .venv/bin/python bench/rating.py [--calls N] [--auth N] [--seed S]

Builds a synthetic 50,000-prefix rate deck and a 200-route routing table, rates random calls through a
two-plan rating plan group (longest prefix + timing + weight + cost) and
measures authorisation decisions (may_start_call for a prepaid client +
concurrent-call limit check + source/IP policy check; may_start_call includes
the max-duration computation). For scale it prints, measured in the same run,
a trivial reference (a dict lookup loop over the same numbers) and the
ratio to the 13,000-50,000 requests/s CGRateS publishes. Authorisation is
measured against two 200-route tables: routes on random deck prefixes (~1 % of
the calls find one) and a "routed" table on short prefixes (~75 % do). Rates are
per CPU second of the process (what one core does, robust to a loaded machine).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TypeVar

from polyvox.domain.billing import (
    BillingAccount,
    BillingMethod,
    ClientType,
    Direction,
    IpFilter,
    check_concurrent_calls,
    check_source,
    may_start_call,
)
from polyvox.domain.rating import (
    CannotRate,
    DestinationRateGroup,
    Rate,
    RatingAccount,
    RatingPlan,
    RatingPlanGroup,
    RatingProfile,
    Timing,
    money_from_units,
    rate_call,
)
from polyvox.domain.routing import (
    OutgoingRoute,
    RouteIndex,
    RoutingMode,
    RoutingPattern,
    carriers_for_call,
    select_routes,
)

T = TypeVar("T")
DECK_SIZE = 50_000
CGRATES_LOW, CGRATES_HIGH = 13_000, 50_000
TIME_BUDGET_PER_PHASE = 6.0  # seconds; the whole script stays well under 30 s


ROUTES = 200


def build_deck(rng: random.Random, size: int) -> list[Rate]:
    countries = sorted({str(rng.randint(1, 999)) for _ in range(400)})
    prefixes: set[str] = set()
    while len(prefixes) < size:
        cc = rng.choice(countries)
        prefixes.add("+" + cc + "".join(rng.choices("0123456789", k=rng.randint(0, 6))))
    return [
        Rate(
            prefix=p,
            destination=f"dest {p}",
            per_minute=money_from_units(rng.randint(0, 20_000)),
            connection_fee=money_from_units(rng.choice((0, 0, 50, 100))),
            increment=rng.choice((1, 1, 6, 30, 60)),
            interval_start=rng.choice((0, 0, 0, 5)),
        )
        for p in sorted(prefixes)
    ]


def timed(label: str, items: Sequence[T], work: Callable[[T], object]) -> float:
    """Apply ``work`` to items until done or the phase budget is spent; return ops per CPU second.

    Rates are per second of this process' CPU time (``time.process_time``), i.e. what one core
    does, so other jobs sharing the machine do not distort them; the wall-clock rate is printed too.
    """
    done = 0
    start = time.perf_counter()
    cpu_start = time.process_time()
    deadline = start + TIME_BUDGET_PER_PHASE
    for item in items:
        work(item)
        done += 1
        if done % 2048 == 0 and time.perf_counter() > deadline:
            break
    elapsed = time.perf_counter() - start
    cpu = max(time.process_time() - cpu_start, 1e-9)
    rate = done / cpu
    print(f"  {label:<44} {done:>9,} ops in {cpu:6.3f} s CPU = {rate:>12,.0f} /s"
          f"  (wall {done / elapsed:>10,.0f} /s)")
    return rate


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=200_000, help="calls to rate (default 200000)")
    parser.add_argument("--auth", type=int, default=100_000, help="authorisation decisions (default 100000)")
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)

    t0 = time.perf_counter()
    deck = build_deck(rng, DECK_SIZE)
    t1 = time.perf_counter()
    base = DestinationRateGroup("base", "EUR", tuple(deck))
    evening_rates = tuple(
        Rate(r.prefix, r.destination, r.per_minute, Decimal(0), 60) for r in rng.sample(deck, 500)
    )
    evening = DestinationRateGroup("evening", "EUR", evening_rates, deductible_connection_fee=True)
    t2 = time.perf_counter()
    plan_group = RatingPlanGroup(
        "Retail",
        "EUR",
        (
            RatingPlan(base, Decimal(10)),
            RatingPlan(evening, Decimal(20), Timing.custom(range(5), datetime.min.time().replace(hour=18))),
        ),
    )
    print(f"deck: {len(base.index):,} prefixes generated in {t1 - t0:.2f} s, index built in {t2 - t1:.3f} s")

    week = datetime(2024, 5, 6, tzinfo=UTC)
    calls = []
    for _ in range(args.calls):
        if rng.random() < 0.05:
            number = "+" + "".join(rng.choices("0123456789", k=11))  # mostly unrated
        else:
            prefix = rng.choice(deck).prefix
            number = prefix + "".join(rng.choices("0123456789", k=max(0, 12 - len(prefix))))
        start = week + timedelta(seconds=rng.randrange(7 * 86_400))
        calls.append((number, start, rng.randint(0, 3600)))

    print("rating (rate_call: longest prefix over 50k + timing + weight + cost):")
    ref_table = {number[:6]: number for number, _, _ in calls[:DECK_SIZE]}
    reference = timed("trivial reference: dict.get loop", calls, lambda c: ref_table.get(c[0][:6]))
    rated = timed("rate_call", calls, lambda c: rate_call(plan_group, c[0], c[1], c[2]))
    lookups = timed("PrefixIndex.lookup only", calls, lambda c: base.index.lookup(c[0]))
    unrated = sum(isinstance(rate_call(plan_group, n, s, d), CannotRate) for n, s, d in calls[:5000])
    print(f"  ({unrated} of 5000 sampled calls could not be rated: random numbers outside the deck)")

    print(f"authorisation (route selection over {ROUTES} routes + carrier order + may_start_call prepaid"
          " + max duration + concurrent limits + source policy):")
    profile = RatingProfile(week - timedelta(days=30), plan_group)
    client = BillingAccount(
        RatingAccount("Acme", "EUR", (profile,)),
        BillingMethod.PREPAID,
        balance=Decimal("25.0000"),
        current_day_usage=Decimal("3.1000"),
        max_daily_usage=Decimal("100"),
    )
    ip_filter = IpFilter.build(True, ["192.0.2.0/24", "198.51.100.0/24"], ["ES"])
    specials = frozenset({"+34112", "+34091"})

    # a 200-route outgoing routing table: static routes over deck prefixes, some client
    # specific, some LCR between two carriers, a few blocking routes
    routes = []
    for i, r in enumerate(rng.sample(deck, ROUTES)):
        mode: RoutingMode = "lcr" if i % 10 == 0 else "block" if i % 50 == 7 else "static"
        routes.append(OutgoingRoute(
            id=i + 1, type="pattern", priority=1 + i % 5, weight=1 + i % 3, routing_mode=mode,
            client_id=None if i % 4 else 1, routing_pattern=RoutingPattern(i + 1, r.prefix),
            carrier_id=1 + i % 7 if mode == "static" else None,
            carrier_ids=(1, 2) if mode == "lcr" else ()))
    route_index = RouteIndex(routes)
    lcr_cost = {1: Decimal("0.0500"), 2: Decimal("0.0400")}

    def authorise(call: tuple[str, datetime, int], index: RouteIndex = route_index) -> bool:
        number, start, _ = call
        selection = select_routes(index, 1, number)
        carriers_for_call(selection, number, cost_of=lambda carrier, _n: lcr_cost.get(carrier), rng=rng)
        decision = may_start_call(client, number, start, special_numbers=specials, max_duration_cap=10_800)
        limits = check_concurrent_calls(
            direction=Direction.OUTBOUND,
            client_type=ClientType.VPBX,
            brand_max_calls=5000,
            brand_active_calls=1234,
            client_max_calls=50,
            client_active_calls=7,
        )
        source = check_source(ip_filter, "203.0.113.9", "FR", external_ip_calls=2, active_non_granted_calls=1)
        return decision.allowed and limits.allowed and source.allowed

    auth = timed("authorise", calls[: args.auth], authorise)

    # the same decision against a table where (nearly) every call finds routes: 200 routes on short
    # prefixes of the deck (country and area codes), so selection, ordering, stoppers, LCR and
    # weighted load balancing run for every call, not only the ~1 % matching the table above
    routed_routes = []
    short_prefixes = sorted({r.prefix[: rng.randint(2, 5)] for r in rng.sample(deck, 4 * ROUTES)})
    for i, prefix in enumerate(rng.sample(short_prefixes, min(ROUTES, len(short_prefixes)))):
        mode = "lcr" if i % 10 == 0 else "block" if i % 50 == 7 else "static"
        routed_routes.append(OutgoingRoute(
            id=i + 1, type="pattern", priority=1 + i % 5, weight=1 + i % 3, routing_mode=mode,
            client_id=None if i % 4 else 1, routing_pattern=RoutingPattern(i + 1, prefix),
            carrier_id=1 + i % 7 if mode == "static" else None, carrier_ids=(1, 2) if mode == "lcr" else (),
            stopper=i % 9 == 4))
    routed_index = RouteIndex(routed_routes)
    sample = calls[:5000]
    share = sum(bool(select_routes(routed_index, 1, n).candidates) for n, _, _ in sample) / len(sample)
    auth_routed = timed("authorise, routed table", calls[: args.auth], lambda c: authorise(c, routed_index))
    print(f"  ({share:.0%} of the calls find routes in the routed table, "
          f"{sum(bool(select_routes(route_index, 1, n).candidates) for n, _, _ in sample) / len(sample):.0%}"
          " in the first one)")

    print("summary (single core, this machine, same run):")
    print(f"  calls rated per second:          {rated:>12,.0f}")
    print(f"  authorisations per second:       {auth:>12,.0f}")
    print(f"  (routed table):                  {auth_routed:>12,.0f}")
    print(f"  prefix lookups per second:       {lookups:>12,.0f}")
    print(f"  rating / trivial dict loop:      {rated / reference:>12.3f}")
    print(f"  authorise / trivial dict loop:   {auth / reference:>12.3f}")
    # rate_call is a longer, steadier yardstick than the dict loop on a loaded machine
    print(f"  authorise / rate_call:           {auth / rated:>12.3f}")
    print(f"  authorise routed / rate_call:    {auth_routed / rated:>12.3f}")
    print(
        f"  rating vs CGRateS 13k-50k req/s: {rated / CGRATES_HIGH:.2f}x - {rated / CGRATES_LOW:.2f}x"
        f"  (authorise: {auth / CGRATES_HIGH:.2f}x - {auth / CGRATES_LOW:.2f}x;"
        f" routed table: {auth_routed / CGRATES_HIGH:.2f}x - {auth_routed / CGRATES_LOW:.2f}x)"
    )
    print(f"  total wall time: {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
