"""Outgoing call routing: route selection, LCR, load balancing, failover (IvozProvider 9.3).

Pipeline for an external call of client A to E.164 destination B::

    tag = extract_routing_tag(dialled, brand_tags, client_enabled_tag_ids)   # 9.3.4
    selection = select_routes(index, A, B, routing_tag=tag.tag_id, is_fax=...)  # 9.3.1
    if selection.blocked: reject (403)
    carriers = carriers_for_call(selection, B, cost_of, rng)                # LCR + weights
    targets = failover_targets(carriers, carrier_servers, rng)               # gateways to try

The same primitives (prefix index, weighted random ordering) also implement
Sipwise C5 outbound peering selection (:func:`select_peers`).

Everything is pure: randomness comes from an injected ``random.Random`` and
call costs from an injected ``cost_of(carrier_id, callee_e164)`` callable.
"""

from __future__ import annotations

import functools
import math
import random
import re
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal, TypeVar, get_args

from polyvox.domain.numbering import InvalidExpressionError, compile_expression

__all__ = [
    "LCR_REFERENCE_DURATION_SECONDS",
    "CarrierChoice",
    "CarrierServer",
    "CostFunction",
    "GatewayTarget",
    "OutgoingRoute",
    "PeeringGroup",
    "PeeringRule",
    "PeeringSelection",
    "PeeringServer",
    "PrefixMatch",
    "RouteIndex",
    "RouteSelection",
    "RouteType",
    "RoutingError",
    "RoutingMode",
    "RoutingPattern",
    "RoutingPatternGroup",
    "RoutingTag",
    "StopperMode",
    "TagExtraction",
    "carriers_for_call",
    "extract_routing_tag",
    "failover_targets",
    "is_valid_routing_tag",
    "order_carrier_servers",
    "select_peers",
    "select_routes",
    "validate_peering_rule",
    "validate_route",
    "validate_routing_tag",
    "weighted_order",
]

RouteType = Literal["pattern", "group", "fax"]
RoutingMode = Literal["static", "lcr", "block"]
#: ``"spec"``: 9.3.1 step 7 literally (a stopper of priority Y discards routes with priority > Y+1);
#: ``"strict"``: field description / IvozProvider runtime (discard priority > Y).
StopperMode = Literal["spec", "strict"]
#: ``"any"``: every route whose pattern prefix starts the callee applies (IvozProvider runtime);
#: ``"longest"``: only the routes matched through the longest matching prefix apply.
PrefixMatch = Literal["any", "longest"]

#: LCR orders carriers by the cost of a call of this duration (9.3.1 "LCR routes").
LCR_REFERENCE_DURATION_SECONDS = 300

CostFunction = Callable[[int, str], Decimal | None]

T = TypeVar("T")


class RoutingError(ValueError):
    """Inconsistent routing input (e.g. a blocking route handed to carrier selection)."""


# ----------------------------------------------------------------------- model


@dataclass(frozen=True, slots=True)
class RoutingPattern:
    """A destination prefix (9.3.2), e.g. ``RoutingPattern(1, "+34", "Spain")``."""

    id: int
    prefix: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class RoutingPatternGroup:
    """A named set of patterns (9.3.3), e.g. Europe."""

    id: int
    patterns: tuple[RoutingPattern, ...]
    name: str = ""


@dataclass(frozen=True, slots=True)
class RoutingTag:
    """A brand routing tag (9.3.4): ``tag`` is 1-3 digits followed by ``#``."""

    id: int
    tag: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class OutgoingRoute:
    """One outgoing routing (9.3.1).

    ``client_id=None`` applies to all clients of the brand.  ``type`` selects the
    destination: a single ``routing_pattern``, a ``routing_pattern_group`` or
    ``fax`` (fax calls only).  ``routing_mode`` static uses ``carrier_id``, lcr
    uses ``carrier_ids``, block uses none.  ``prefix``/``force_clid``/``clid``/
    ``disable_diversion`` are carried through for the SIP layer.
    """

    id: int
    type: RouteType
    priority: int
    weight: int = 1
    routing_mode: RoutingMode = "static"
    client_id: int | None = None
    routing_pattern: RoutingPattern | None = None
    routing_pattern_group: RoutingPatternGroup | None = None
    carrier_id: int | None = None
    carrier_ids: tuple[int, ...] = ()
    stopper: bool = False
    routing_tag_id: int | None = None
    prefix: str = ""
    force_clid: bool = False
    clid: str | None = None
    clid_country_id: int | None = None
    disable_diversion: bool = False

    @property
    def prefixes(self) -> tuple[str, ...]:
        """Destination prefixes this route applies to (empty for fax routes)."""
        if self.type == "pattern" and self.routing_pattern is not None:
            return (self.routing_pattern.prefix,)
        if self.type == "group" and self.routing_pattern_group is not None:
            return tuple(dict.fromkeys(p.prefix for p in self.routing_pattern_group.patterns))
        return ()


def validate_route(route: OutgoingRoute) -> list[str]:
    """Problems with an outgoing route, as messages for the API (empty = valid)."""
    errors: list[str] = []
    if route.type not in get_args(RouteType):
        errors.append("type must be one of pattern, group, fax")
    if route.routing_mode not in get_args(RoutingMode):
        errors.append("routing mode must be one of static, lcr, block")
    if route.type == "pattern" and route.routing_pattern is None:
        errors.append("a pattern route needs a routing pattern")
    if route.type == "group":
        if route.routing_pattern_group is None:
            errors.append("a group route needs a routing pattern group")
        elif not route.routing_pattern_group.patterns:
            errors.append("the routing pattern group has no patterns")
    if route.type == "fax" and (route.routing_pattern is not None or route.routing_pattern_group is not None):
        errors.append("a fax route takes no routing pattern nor group")
    if route.routing_mode == "static" and route.carrier_id is None:
        errors.append("a static route needs a carrier")
    if route.routing_mode == "lcr" and not route.carrier_ids:
        errors.append("an LCR route needs at least one carrier")
    if route.routing_mode == "block" and (route.carrier_id is not None or route.carrier_ids):
        errors.append("a blocking route takes no carriers")
    if route.weight < 1:
        errors.append("weight must be a positive integer")
    if route.priority < 0:
        errors.append("priority must not be negative")
    if route.force_clid and not route.clid:
        errors.append("forcing the caller id needs a clid")
    if route.prefix and not re.fullmatch(r"[0-9*#+]{1,25}", route.prefix, re.ASCII):
        errors.append("route prefix may only contain digits, '*', '#' and '+' (max 25)")
    return errors


# ------------------------------------------------------------------ route index

# Steps 1-4 of the routing selection logic.
_STEP_ALL_PATTERN, _STEP_ALL_GROUP, _STEP_CLIENT_PATTERN, _STEP_CLIENT_GROUP = range(4)

_Scope = tuple[int | None, int | None]  # (client_id, routing_tag_id)


class RouteIndex:
    """Routes of a brand indexed by (client, routing tag) and destination prefix.

    Lookup cost is one dict probe per distinct prefix length, independent of the
    number of routes.  Build it when the routing configuration is loaded.
    """

    __slots__ = ("_fax", "_lengths", "_merged", "_selections", "_voice", "routes")

    def __init__(self, routes: Iterable[OutgoingRoute]) -> None:
        self.routes: tuple[OutgoingRoute, ...] = tuple(routes)
        voice: dict[_Scope, dict[str, list[OutgoingRoute]]] = {}
        fax: dict[int | None, list[OutgoingRoute]] = {}
        for route in self.routes:
            if route.type == "fax":
                fax.setdefault(route.client_id, []).append(route)
                continue
            by_prefix = voice.setdefault((route.client_id, route.routing_tag_id), {})
            for prefix in route.prefixes:
                by_prefix.setdefault(prefix, []).append(route)
        self._voice: dict[_Scope, dict[str, tuple[OutgoingRoute, ...]]] = {
            scope: {p: tuple(rs) for p, rs in by_prefix.items()} for scope, by_prefix in voice.items()
        }
        self._lengths: dict[_Scope, tuple[int, ...]] = {
            scope: tuple(sorted({len(p) for p in by_prefix}, reverse=True))
            for scope, by_prefix in voice.items()
        }
        self._fax: dict[int | None, tuple[OutgoingRoute, ...]] = {c: tuple(rs) for c, rs in fax.items()}
        # Lazily filled caches of the voice selection (see voice_selection); both are bounded by the
        # configuration: one entry per scope with routes, one per (scope, indexed prefix, modes).
        self._merged: dict[_Scope, tuple[frozenset[str], tuple[int, ...]]] = {}
        self._selections: dict[tuple[_Scope, str, bool, bool], RouteSelection] = {}

    def voice_matches(
        self, client_id: int | None, routing_tag_id: int | None, callee: str
    ) -> dict[int, tuple[OutgoingRoute, int]]:
        """Route id -> (route, longest matched prefix length), for one (client, tag) scope."""
        found: dict[int, tuple[OutgoingRoute, int]] = {}
        by_prefix = self._voice.get((client_id, routing_tag_id))
        if by_prefix is None:
            return found
        size = len(callee)
        for length in self._lengths[(client_id, routing_tag_id)]:
            if length > size:
                continue
            for route in by_prefix.get(callee[:length], ()):
                found.setdefault(route.id, (route, length))  # lengths are visited longest first
        return found

    def voice_candidates(
        self, client_id: int | None, routing_tag_id: int | None, callee: str
    ) -> list[tuple[int, OutgoingRoute, int]]:
        """(step, route, matched prefix length) for steps 1-4 of 9.3.1."""
        result: list[tuple[int, OutgoingRoute, int]] = []
        scopes: list[int | None] = [None]
        if client_id is not None:
            scopes.append(client_id)
        for scope_index, scope in enumerate(scopes):
            for route, length in self.voice_matches(scope, routing_tag_id, callee).values():
                step = scope_index * 2 + (0 if route.type == "pattern" else 1)
                result.append((step, route, length))
        return result

    def fax_candidates(self, client_id: int | None) -> list[tuple[int, OutgoingRoute, int]]:
        result = [(_STEP_ALL_PATTERN, r, 0) for r in self._fax.get(None, ())]
        if client_id is not None:
            result.extend((_STEP_CLIENT_PATTERN, r, 0) for r in self._fax.get(client_id, ()))
        return result

    def _merged_prefixes(self, scope: _Scope) -> tuple[frozenset[str], tuple[int, ...]]:
        """Prefixes of the all-clients and client routes of ``scope``, and their lengths (longest first)."""
        merged = self._merged.get(scope)
        if merged is None:
            client_id, routing_tag_id = scope
            prefixes = set(self._voice.get((None, routing_tag_id), ()))
            if client_id is not None:
                prefixes.update(self._voice[scope])
            lengths = tuple(sorted({len(p) for p in prefixes}, reverse=True))
            merged = self._merged[scope] = (frozenset(prefixes), lengths)
        return merged

    def voice_selection(
        self,
        client_id: int | None,
        routing_tag_id: int | None,
        callee: str,
        stopper_mode: StopperMode = "spec",
        prefix_match: PrefixMatch = "any",
    ) -> RouteSelection:
        """:func:`select_routes` for a voice call, memoised.

        The selection depends on the callee only through the longest indexed prefix ``P``
        starting it (every other matching prefix is a prefix of ``P``), and a client without
        routes of its own for the tag selects exactly what the all-clients routes select. So
        the result is computed once per (scope, ``P``, modes) and then found with one probe
        per distinct prefix length.
        """
        scope: _Scope = (client_id, routing_tag_id)
        if scope not in self._voice:
            scope = (None, routing_tag_id)
            if scope not in self._voice:
                return _NO_ROUTE
        prefixes, lengths = self._merged_prefixes(scope)
        size = len(callee)
        longest = ""
        for length in lengths:
            if length <= size and callee[:length] in prefixes:
                longest = callee[:length]
                break
        else:
            return _NO_ROUTE
        key = (scope, longest, stopper_mode == "spec", prefix_match == "longest")
        selection = self._selections.get(key)
        if selection is None:
            candidates = self.voice_candidates(scope[0], routing_tag_id, longest)
            if prefix_match == "longest":
                candidates = [c for c in candidates if c[2] == len(longest)]
            selection = self._selections[key] = _finish_selection(candidates, False, stopper_mode)
        return selection


@functools.lru_cache(maxsize=32)
def _cached_index(routes: tuple[OutgoingRoute, ...]) -> RouteIndex:
    return RouteIndex(routes)


def _as_index(routes: RouteIndex | Iterable[OutgoingRoute]) -> RouteIndex:
    if isinstance(routes, RouteIndex):
        return routes
    if isinstance(routes, tuple):
        return _cached_index(routes)
    return RouteIndex(routes)


# -------------------------------------------------------------- route selection


@dataclass(frozen=True, slots=True)
class RouteSelection:
    """Result of :func:`select_routes`.

    ``candidates``: every applicable route ordered by priority (steps 1-5);
    ``routes``: what remains after the blocking and stopper steps (6-7);
    ``blocked``: a blocking route applied, the call must be dropped;
    ``fax_routes``: the call was routed with fax specific routes.
    """

    routes: tuple[OutgoingRoute, ...]
    candidates: tuple[OutgoingRoute, ...] = ()
    blocked: bool = False
    blocking_routes: tuple[OutgoingRoute, ...] = ()
    fax_routes: bool = False

    @property
    def routable(self) -> bool:
        return bool(self.routes) and not self.blocked

    @property
    def reason(self) -> str | None:
        """Why the call cannot be routed (``None`` if it can)."""
        if self.blocked:
            ids = ", ".join(str(r.id) for r in self.blocking_routes)
            return f"call blocked by outgoing routing {ids}"
        if not self.routes:
            return "no outgoing routing matches the destination"
        return None


def select_routes(
    routes: RouteIndex | Iterable[OutgoingRoute],
    client_id: int | None,
    callee_e164: str,
    routing_tag: int | None = None,
    is_fax: bool = False,
    *,
    stopper_mode: StopperMode = "spec",
    prefix_match: PrefixMatch = "any",
) -> RouteSelection:
    """Routing selection logic of 9.3.1 for client ``client_id`` calling ``callee_e164``.

    1-4. all-clients pattern, all-clients group, client pattern, client group routes
         matching the destination (a pattern matches when the callee starts with
         its prefix) are selected; ``routing_tag`` (a tag id) restricts the
         selection to the routes of that tag, an untagged call only uses untagged
         routes;
    5.   they are ordered by priority (ties: step order, then route id);
    6.   any blocking route among them drops the call;
    7.   the lowest priority ``Y`` among stopper routes discards every route with
         priority greater than ``Y+1`` (``stopper_mode="strict"``: greater than ``Y``).

    Fax calls use fax routes (any tag) when at least one applies, otherwise the
    voice routes for the destination.
    """
    index = _as_index(routes)
    if is_fax:
        candidates = index.fax_candidates(client_id)
        if candidates:
            return _finish_selection(candidates, True, stopper_mode)
    return index.voice_selection(client_id, routing_tag, callee_e164, stopper_mode, prefix_match)


_NO_ROUTE = RouteSelection(routes=())


def _finish_selection(
    candidates: list[tuple[int, OutgoingRoute, int]], fax_used: bool, stopper_mode: StopperMode
) -> RouteSelection:
    """Steps 5-7 of 9.3.1 over the (step, route, matched length) candidates of steps 1-4."""
    candidates.sort(key=lambda c: (c[1].priority, c[0], c[1].id))
    ordered = tuple(c[1] for c in candidates)

    blocking = tuple(r for r in ordered if r.routing_mode == "block")
    if blocking:
        return RouteSelection(
            routes=(), candidates=ordered, blocked=True, blocking_routes=blocking, fax_routes=fax_used
        )

    remaining = ordered
    stopper_priorities = [r.priority for r in ordered if r.stopper]
    if stopper_priorities:
        limit = min(stopper_priorities) + (1 if stopper_mode == "spec" else 0)
        remaining = tuple(r for r in ordered if r.priority <= limit)
    return RouteSelection(routes=remaining, candidates=ordered, fax_routes=fax_used)


# ----------------------------------------------------------- weighted ordering


def weighted_order(
    items: Sequence[T],
    weight: Callable[[T], float],
    rng: random.Random,
) -> list[T]:
    """Weighted random permutation (Efraimidis-Spirakis sampling without replacement).

    The probability that an item comes first is ``weight / total weight``
    (9.3.1 "Load balancing": weights 1 and 2 -> 33 % / 66 %); the remaining
    positions follow the same rule among the items left.  Items with weight
    <= 0 go last, in random order.
    """
    if len(items) <= 1:
        return list(items)
    keyed: list[tuple[int, float, int]] = []
    for position, item in enumerate(items):
        w = weight(item)
        u = 1.0 - rng.random()  # (0, 1]
        if w > 0:
            keyed.append((1, math.log(u) / w, position))
        else:
            keyed.append((0, u, position))
    keyed.sort(reverse=True)
    return [items[position] for _, _, position in keyed]


# -------------------------------------------------------------------- carriers


@dataclass(frozen=True, slots=True)
class CarrierChoice:
    """A carrier to try, with the route that selected it (and its LCR cost)."""

    carrier_id: int
    route: OutgoingRoute
    cost: Decimal | None = None

    @property
    def priority(self) -> int:
        return self.route.priority

    @property
    def weight(self) -> int:
        return self.route.weight


def _route_carriers(
    route: OutgoingRoute, callee: str, cost_of: CostFunction | None
) -> tuple[CarrierChoice, ...]:
    if route.routing_mode == "block":
        raise RoutingError(f"outgoing routing {route.id} is a blocking route: the call must be dropped")
    if route.routing_mode == "static":
        if route.carrier_id is None:
            return ()
        return (CarrierChoice(route.carrier_id, route),)
    if cost_of is None:
        raise RoutingError(f"outgoing routing {route.id} is an LCR route: a cost_of function is required")
    rated: list[tuple[Decimal, int]] = []
    for carrier_id in dict.fromkeys(route.carrier_ids):
        cost = cost_of(carrier_id, callee)
        if cost is None or not cost.is_finite() or cost < 0:
            continue  # cannot rate the destination: silently ignored
        rated.append((cost, carrier_id))
    rated.sort()
    return tuple(CarrierChoice(carrier_id, route, cost) for cost, carrier_id in rated)


def carriers_for_call(
    routes: RouteSelection | Iterable[OutgoingRoute],
    callee_e164: str,
    cost_of: CostFunction | None = None,
    rng: random.Random | None = None,
) -> tuple[CarrierChoice, ...]:
    """Failover-ordered carriers for the selected routes (9.3.1 "LCR and static routes combined").

    1. a static route gives its carrier with the route's priority and weight;
    2. an LCR route gives its carriers able to rate the destination, ordered by
       ``cost_of(carrier_id, callee)`` (cost of a 5 minute call) ascending, ties
       by carrier id; ``None``/negative/NaN costs drop the carrier;
    3. the results are ordered by priority ascending;
    4. within one priority, routes are load balanced by weight with ``rng``
       (weighted random order); an LCR route's carriers stay together in cost
       order.  Without ``rng`` the order is deterministic: heavier first, then
       route order.

    A carrier reachable through several routes is kept at its first position.
    A blocked :class:`RouteSelection` yields no carrier; a blocking route in a
    plain sequence raises :class:`RoutingError`.
    """
    if isinstance(routes, RouteSelection):
        if routes.blocked:
            return ()
        route_list: Sequence[OutgoingRoute] = routes.routes
    else:
        route_list = list(routes)

    by_priority: dict[int, list[tuple[OutgoingRoute, tuple[CarrierChoice, ...]]]] = {}
    for route in route_list:
        choices = _route_carriers(route, callee_e164, cost_of)
        if choices:
            by_priority.setdefault(route.priority, []).append((route, choices))

    result: list[CarrierChoice] = []
    seen: set[int] = set()
    for priority in sorted(by_priority):
        units = by_priority[priority]
        if rng is None:
            ordered = sorted(units, key=lambda u: -u[0].weight)  # stable: keeps route order on ties
        else:
            ordered = weighted_order(units, lambda u: u[0].weight, rng)
        for _, choices in ordered:
            for choice in choices:
                if choice.carrier_id not in seen:
                    seen.add(choice.carrier_id)
                    result.append(choice)
    return tuple(result)


# ------------------------------------------------------------- carrier servers


@dataclass(frozen=True, slots=True)
class CarrierServer:
    """A SIP server of a carrier (IvozProvider carrier servers have no weight)."""

    id: int
    carrier_id: int
    hostname: str = ""
    ip: str = ""
    port: int | None = None


@dataclass(frozen=True, slots=True)
class GatewayTarget:
    """One attempt of the failover sequence: a carrier server and why it was chosen."""

    server: CarrierServer
    choice: CarrierChoice


def order_carrier_servers(
    servers: Iterable[CarrierServer], rng: random.Random | None = None
) -> list[CarrierServer]:
    """Order the servers of one carrier.

    Carrier servers have no weight: with ``rng`` they are uniformly shuffled
    (equal-weight load balancing, which is what Kamailio's lcr module does for
    gateways of one rule); without it they are tried by ascending id.
    """
    ordered = sorted(servers, key=lambda s: s.id)
    if rng is not None:
        rng.shuffle(ordered)
    return ordered


def failover_targets(
    carriers: Sequence[CarrierChoice],
    servers: Iterable[CarrierServer],
    rng: random.Random | None = None,
    is_available: Callable[[CarrierServer], bool] | None = None,
) -> tuple[GatewayTarget, ...]:
    """Expand carriers into the sequence of servers to try (carrier order first).

    Unavailable servers (``is_available`` returns False, e.g. not answering
    OPTIONS) are skipped; a server appears once.
    """
    by_carrier: dict[int, list[CarrierServer]] = {}
    for server in servers:
        if is_available is None or is_available(server):
            by_carrier.setdefault(server.carrier_id, []).append(server)
    targets: list[GatewayTarget] = []
    seen: set[int] = set()
    for choice in carriers:
        for server in order_carrier_servers(by_carrier.get(choice.carrier_id, ()), rng):
            if server.id not in seen:
                seen.add(server.id)
                targets.append(GatewayTarget(server, choice))
    return tuple(targets)


# ----------------------------------------------------------------- routing tags

_TAG_RE = re.compile(r"[0-9]{1,3}#", re.ASCII)
_TAG_PREFIX_RE = re.compile(r"([0-9]{1,3}#)", re.ASCII)


def is_valid_routing_tag(tag: str) -> bool:
    """Tag format of 9.3.4: from 1 to 3 digits ended by ``#``."""
    return _TAG_RE.fullmatch(tag) is not None


def validate_routing_tag(tag: str) -> list[str]:
    """Problems with a routing tag value, for the API (empty = valid)."""
    if is_valid_routing_tag(tag):
        return []
    return [f"routing tag {tag!r} must be 1 to 3 digits followed by '#', e.g. '12#'"]


@dataclass(frozen=True, slots=True)
class TagExtraction:
    """Result of :func:`extract_routing_tag`.

    ``number`` is the dialled number without the tag; ``tag`` the tag used
    (``None``: untagged call); ``reason`` is set when the call must be declined.
    """

    number: str
    tag: RoutingTag | None = None
    reason: str | None = None

    @property
    def refused(self) -> bool:
        return self.reason is not None

    @property
    def tag_id(self) -> int | None:
        return None if self.tag is None else self.tag.id


def extract_routing_tag(
    dialled: str,
    brand_tags: Iterable[RoutingTag],
    enabled_tag_ids: Collection[int],
) -> TagExtraction:
    """Split a routing tag prefix (``"12#+34911..."``) off a dialled number.

    A number starting with 1-3 digits and ``#`` carries a tag.  A tag unknown to
    the brand or not enabled for the client declines the call (9.3.4: "Using a
    non enabled routing tag will cause the call to be declined"), and so does a
    tag followed by nothing.
    """
    m = _TAG_PREFIX_RE.match(dialled)
    if m is None:
        return TagExtraction(number=dialled)
    value = m.group(1)
    number = dialled[m.end() :]
    tag = next((t for t in brand_tags if t.tag == value), None)
    if tag is None:
        return TagExtraction(number=number, reason=f"unknown routing tag {value!r}")
    if tag.id not in enabled_tag_ids:
        return TagExtraction(
            number=number, tag=tag, reason=f"routing tag {value!r} is not enabled for this client"
        )
    if not number:
        return TagExtraction(number=number, tag=tag, reason=f"no destination after routing tag {value!r}")
    return TagExtraction(number=number, tag=tag)


# --------------------------------------------------- Sipwise C5 outbound peering


@dataclass(frozen=True, slots=True)
class PeeringGroup:
    """A SIP peering group: servers terminating the same destinations (lower priority value first)."""

    id: int
    priority: int = 1
    name: str = ""


@dataclass(frozen=True, slots=True)
class PeeringServer:
    """A server of a peering group; ``weight`` is its load-balancing share."""

    id: int
    group_id: int
    weight: int = 1
    enabled: bool = True
    name: str = ""
    host: str = ""


@dataclass(frozen=True, slots=True)
class PeeringRule:
    """An outbound peering rule of a group.

    ``callee_prefix`` must start the callee number (empty matches everything);
    ``callee_pattern``/``caller_pattern`` are regular expressions searched in the
    callee request URI and caller URI (empty: not checked); ``stopper`` stops the
    evaluation of further (shorter-prefix / lower-precedence) rules once it matched.
    """

    id: int
    group_id: int
    callee_prefix: str = ""
    callee_pattern: str = ""
    caller_pattern: str = ""
    description: str = ""
    enabled: bool = True
    stopper: bool = False


@dataclass(frozen=True, slots=True)
class PeeringSelection:
    """Matched rules (evaluation order), peering groups and servers in the order to try."""

    rules: tuple[PeeringRule, ...]
    groups: tuple[PeeringGroup, ...]
    servers: tuple[PeeringServer, ...] = field(default=())


def validate_peering_rule(rule: PeeringRule) -> list[str]:
    """Problems with a peering rule, for the API (empty = valid)."""
    errors: list[str] = []
    for label, expr in (("callee pattern", rule.callee_pattern), ("caller pattern", rule.caller_pattern)):
        if expr:
            try:
                compile_expression(expr)
            except InvalidExpressionError as exc:
                errors.append(f"{label}: {exc}")
    if not re.fullmatch(r"[0-9+*#]*", rule.callee_prefix, re.ASCII):
        errors.append("callee prefix may only contain digits, '+', '*' and '#'")
    return errors


def _pattern_matches(expr: str, text: str) -> bool:
    if not expr:
        return True
    try:
        return compile_expression(expr).search(text) is not None
    except InvalidExpressionError:
        return False  # an invalid rule never matches


def select_peers(
    groups: Iterable[PeeringGroup],
    rules: Iterable[PeeringRule],
    servers: Iterable[PeeringServer],
    callee: str,
    caller_uri: str = "",
    callee_uri: str | None = None,
    rng: random.Random | None = None,
) -> PeeringSelection:
    """Sipwise C5 outbound peering selection ("Routing Order Selection").

    Enabled rules are evaluated from the longest callee prefix to the shortest,
    then by peering group priority (ascending), then rule id.  A rule matches
    when its prefix starts ``callee`` and its callee/caller patterns match
    ``callee_uri`` (default: ``callee``) and ``caller_uri``.  A matching stopper
    rule ends the evaluation.  Matched groups are ordered by (longest matching
    prefix, priority); within one such rank all enabled servers of the groups
    are load balanced by weight (``rng``; without it heavier first, then id).
    """
    group_by_id = {g.id: g for g in groups}
    target_uri = callee if callee_uri is None else callee_uri
    ordered_rules = sorted(
        (r for r in rules if r.enabled and r.group_id in group_by_id),
        key=lambda r: (-len(r.callee_prefix), group_by_id[r.group_id].priority, r.id),
    )
    matched: list[PeeringRule] = []
    rank_of_group: dict[int, tuple[int, int]] = {}
    for rule in ordered_rules:
        if not callee.startswith(rule.callee_prefix):
            continue
        if not _pattern_matches(rule.callee_pattern, target_uri):
            continue
        if not _pattern_matches(rule.caller_pattern, caller_uri):
            continue
        matched.append(rule)
        rank = (-len(rule.callee_prefix), group_by_id[rule.group_id].priority)
        rank_of_group.setdefault(rule.group_id, rank)
        if rule.stopper:
            break

    ordered_groups = sorted(rank_of_group, key=lambda gid: (rank_of_group[gid], gid))
    servers_by_group: dict[int, list[PeeringServer]] = {}
    for server in servers:
        if server.enabled and server.group_id in rank_of_group:
            servers_by_group.setdefault(server.group_id, []).append(server)

    by_rank: dict[tuple[int, int], list[PeeringServer]] = {}
    for gid in ordered_groups:
        by_rank.setdefault(rank_of_group[gid], []).extend(
            sorted(servers_by_group.get(gid, ()), key=lambda s: s.id)
        )
    ordered_servers: list[PeeringServer] = []
    seen: set[int] = set()
    for rank in sorted(by_rank):
        pool = by_rank[rank]
        if rng is None:
            pool = sorted(pool, key=lambda s: -s.weight)
        else:
            pool = weighted_order(pool, lambda s: s.weight, rng)
        for server in pool:
            if server.id not in seen:
                seen.add(server.id)
                ordered_servers.append(server)
    return PeeringSelection(
        rules=tuple(matched),
        groups=tuple(group_by_id[gid] for gid in ordered_groups),
        servers=tuple(ordered_servers),
    )
