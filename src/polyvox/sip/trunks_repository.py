"""Read-side queries of proxy-trunks (carriers, outgoing routing, DDI providers, DDIs, rating).

Extends :class:`polyvox.sip.repository.Repository` (same per-process cache, dropped when
``config_version`` changes; same lazily created engine and autocommit connection). Everything
returned is immutable and built for the pure domain engines (:mod:`polyvox.domain.routing`,
:mod:`polyvox.domain.numbering`, :mod:`polyvox.domain.callflow.ddi_provider`).
"""

from __future__ import annotations

import time as _clock
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from typing import Any

from sqlalchemy import func, or_, select

from polyvox.db.read import rating as read_rating
from polyvox.db.read.rule_sets import load_rule_set
from polyvox.domain import rating, routing
from polyvox.domain.billing import BillingAccount, BillingMethod
from polyvox.domain.callflow.ddi_provider import DdiProviderCandidate, InboundDdi
from polyvox.domain.numbering import RuleSet
from polyvox.sip.repository import Repository


@dataclass(frozen=True)
class Carrier:
    id: int
    brand_id: int | None
    name: str
    rule_set_id: int | None
    media_relay_set_id: int | None
    proxy_trunk_ip: str | None = None  # "Local socket" (spec 8.14.2): signalling leaves from it


@dataclass(frozen=True)
class CarrierServer:
    id: int
    carrier_id: int
    host: str  # ip or hostname
    port: int
    transport: str
    auth_needed: bool
    auth_user: str
    auth_password: str
    from_user: str
    from_domain: str
    outbound_proxy: str
    send_pai: bool
    send_rpid: bool

    @property
    def key(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class DdiProvider:
    id: int
    brand_id: int
    name: str
    rule_set_id: int | None
    media_relay_set_id: int | None
    routing_tag_id: int | None = None
    proxy_trunk_ip: str | None = None  # "Local socket": calls are expected on this address


@dataclass(frozen=True)
class Ddi:
    id: int
    e164: str
    brand_id: int
    company_id: int | None
    ddi_provider_id: int | None
    type: str  # inout | out
    retail_account_id: int | None
    routing_tag_id: int | None = None
    use_provider_routing_tag: bool = False

    @property
    def inbound(self) -> bool:
        return self.type != "out"


@dataclass(frozen=True)
class Limits:
    brand_max_calls: int
    company_max_calls: int


@dataclass(frozen=True)
class AccountRating:
    """What rates calls of a client (price) or a carrier (cost): its rating profiles as a
    domain :class:`~polyvox.domain.rating.RatingAccount` and the zone rating-plan timings are
    evaluated in (client's timezone, else its brand's; carriers: the brand's)."""

    account: rating.RatingAccount
    tz: tzinfo


def _transport(value: Any) -> str:
    """IvozProvider stores 1 = udp, 2 = tcp, 3 = tls (names accepted too)."""
    return {"1": "udp", "2": "tcp", "3": "tls"}.get(str(value), str(value or "udp").lower())


def _e(name: str) -> Any:
    from polyvox.db.model import ENTITY

    return ENTITY[name].table


def _aware(value: Any) -> datetime:
    at = value or datetime(1970, 1, 1, tzinfo=UTC)
    if isinstance(at, str):
        at = datetime.fromisoformat(at)
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _local_socket(t: Any, pt: Any) -> Any:
    """A carrier's or DDI provider's proxy trunks address; none set means the main one (the first
    entry), as IvozProvider's COALESCE(proxyTrunkId, 1)."""
    first = pt.alias("main_trunk")
    return func.coalesce(t.c.proxyTrunkId, select(func.min(first.c.id)).scalar_subquery())


class TrunksRepository(Repository):
    # ----- carriers
    def carrier(self, carrier_id: int) -> Carrier | None:
        def load() -> Carrier | None:
            t, pt = _e("Carrier"), _e("ProxyTrunk")
            r = self._execute(select(t, pt.c.ip.label("trunkIp")).select_from(
                t.outerjoin(pt, pt.c.id == _local_socket(t, pt))).where(t.c.id == carrier_id)).first()
            if r is None:
                return None
            return Carrier(r.id, r.brandId, r.name or "", r.transformationRuleSetId, r.mediaRelaySetId,
                           (r.trunkIp or "").strip() or None)

        return self._cached(("carrier", carrier_id), load)  # type: ignore[no-any-return]

    def carrier_servers(self, brand_id: int) -> tuple[CarrierServer, ...]:
        def load() -> tuple[CarrierServer, ...]:
            t, c = _e("CarrierServer"), _e("Carrier")
            rows = self._execute(select(t).select_from(t.join(c, c.c.id == t.c.carrierId))
                                 .where(c.c.brandId == brand_id).order_by(t.c.id)).all()
            out = []
            for r in rows:
                host = r.ip or r.hostname or ""
                if not host:
                    continue
                out.append(CarrierServer(
                    id=r.id, carrier_id=r.carrierId, host=host, port=int(r.port or 5060),
                    transport=_transport(r.transport), auth_needed=(r.authNeeded or "no") in ("yes", "1", True),
                    auth_user=r.authUser or "", auth_password=r.authPassword or "", from_user=r.fromUser or "",
                    from_domain=r.fromDomain or "", outbound_proxy=r.outboundProxy or "",
                    send_pai=bool(r.sendPAI), send_rpid=bool(r.sendRPID)))
            return tuple(out)

        return self._cached(("carrier_servers", brand_id), load)  # type: ignore[no-any-return]

    def carrier_server_at(self, host: str, port: int) -> CarrierServer | None:
        def load() -> CarrierServer | None:
            t = _e("CarrierServer")
            for r in self._execute(select(t.c.id, t.c.brandId).order_by(t.c.id)).all():
                for s in self.carrier_servers(r.brandId):
                    if s.id == r.id and s.host == host and s.port == port:
                        return s
            return None

        return self._cached(("cs_at", host, port), load)  # type: ignore[no-any-return]

    # ----- outgoing routing
    def routes(self, brand_id: int) -> routing.RouteIndex:
        def load() -> routing.RouteIndex:
            o, rel = _e("OutgoingRouting"), _e("OutgoingRoutingRelCarrier")
            p, g, gp = _e("RoutingPattern"), _e("RoutingPatternGroup"), _e("RoutingPatternGroupsRelPattern")
            patterns = {r.id: routing.RoutingPattern(r.id, r.prefix or "", r.nameEn or "")
                        for r in self._execute(select(p.c.id, p.c.prefix, p.c.nameEn)
                                               .where(p.c.brandId == brand_id)).all()}
            members: dict[int, list[routing.RoutingPattern]] = {}
            for r in self._execute(select(gp.c.routingPatternGroupId, gp.c.routingPatternId)
                                   .order_by(gp.c.id)).all():
                if r.routingPatternId in patterns:
                    members.setdefault(r.routingPatternGroupId, []).append(patterns[r.routingPatternId])
            groups = {r.id: routing.RoutingPatternGroup(r.id, tuple(members.get(r.id, ())), r.name or "")
                      for r in self._execute(select(g.c.id, g.c.name).where(g.c.brandId == brand_id)).all()}
            lcr: dict[int, list[int]] = {}
            for r in self._execute(select(rel.c.outgoingRoutingId, rel.c.carrierId).order_by(rel.c.id)).all():
                lcr.setdefault(r.outgoingRoutingId, []).append(r.carrierId)
            out = []
            for r in self._execute(select(o).where(o.c.brandId == brand_id).order_by(o.c.id)).all():
                out.append(routing.OutgoingRoute(
                    id=r.id, type=r.type or "pattern", priority=int(r.priority or 0), weight=int(r.weight or 1),
                    routing_mode=r.routingMode or "static", client_id=r.companyId,
                    routing_pattern=patterns.get(r.routingPatternId) if r.routingPatternId else None,
                    routing_pattern_group=groups.get(r.routingPatternGroupId) if r.routingPatternGroupId else None,
                    carrier_id=r.carrierId, carrier_ids=tuple(lcr.get(r.id, ())), stopper=bool(r.stopper),
                    routing_tag_id=r.routingTagId, prefix=r.prefix or "", force_clid=bool(r.forceClid),
                    clid=r.clid, disable_diversion=bool(r.disableDiversion)))
            return routing.RouteIndex(out)

        return self._cached(("routes", brand_id), load)  # type: ignore[no-any-return]

    # ----- numbering
    def rule_set(self, rule_set_id: int | None) -> RuleSet:
        if rule_set_id is None:
            return RuleSet(())

        return self._cached(("rule_set", rule_set_id),  # type: ignore[no-any-return]
                            lambda: load_rule_set(self._execute, rule_set_id))

    # ----- DDI providers and DDIs
    def ddi_providers(self) -> tuple[dict[int, DdiProvider], tuple[DdiProviderCandidate, ...]]:
        def load() -> tuple[dict[int, DdiProvider], tuple[DdiProviderCandidate, ...]]:
            t, a, pt = _e("DdiProvider"), _e("DdiProviderAddress"), _e("ProxyTrunk")
            provs = {r.id: DdiProvider(r.id, r.brandId, r.name or "", r.transformationRuleSetId, r.mediaRelaySetId,
                                       r.routingTagId, (r.trunkIp or "").strip() or None)
                     for r in self._execute(select(t, pt.c.ip.label("trunkIp")).select_from(
                         t.outerjoin(pt, pt.c.id == _local_socket(t, pt))).order_by(t.c.id)).all()}
            addrs: dict[int, set[str]] = {}
            for r in self._execute(select(a.c.ddiProviderId, a.c.ip)).all():
                if r.ip:
                    addrs.setdefault(r.ddiProviderId, set()).add(r.ip.strip())
            cands = tuple(DdiProviderCandidate(p.id, p.brand_id, frozenset(addrs.get(p.id, ())))
                          for p in provs.values() if addrs.get(p.id))
            return provs, cands

        return self._cached(("ddi_providers",), load)  # type: ignore[no-any-return]

    def is_ddi_provider_address(self, ip: str) -> bool:
        return any(ip in c.addresses for c in self.ddi_providers()[1])

    def ddis(self) -> tuple[Ddi, ...]:
        def load() -> tuple[Ddi, ...]:
            t = _e("Ddi")
            return tuple(Ddi(r.id, r.ddie164 or "", r.brandId, r.companyId, r.ddiProviderId, r.type or "inout",
                             r.retailAccountId, r.routingTagId, bool(r.useDdiProviderRoutingTag))
                         for r in self._execute(select(t).order_by(t.c.id)).all() if r.ddie164)

        return self._cached(("ddis",), load)  # type: ignore[no-any-return]

    def inbound_ddis(self) -> tuple[InboundDdi, ...]:
        return self._cached(("inbound_ddis",), lambda: tuple(  # type: ignore[no-any-return]
            InboundDdi(d.id, d.e164, d.brand_id, d.company_id, d.ddi_provider_id, d.inbound) for d in self.ddis()))

    def ddi(self, ddi_id: int) -> Ddi | None:
        return next((d for d in self.ddis() if d.id == ddi_id), None)

    def ddi_by_number(self, brand_id: int, e164: str) -> Ddi | None:
        return next((d for d in self.ddis() if d.brand_id == brand_id and d.e164 == e164), None)

    def ddi_routing_tag(self, ddi: Ddi) -> int | None:
        """Routing tag of calls presenting this DDI (spec 9.3.4): its DDI provider's when
        ``useDdiProviderRoutingTag``, else its own (IvozProvider's ``CLID_ROUTING_TAG``)."""
        if ddi.use_provider_routing_tag:
            provider = self.ddi_providers()[0].get(ddi.ddi_provider_id) if ddi.ddi_provider_id else None
            return provider.routing_tag_id if provider is not None else None
        return ddi.routing_tag_id

    def retail_account(self, account_id: int) -> tuple[str, str] | None:
        """(name, SIP domain) of a retail account."""
        def load() -> tuple[str, str] | None:
            t, d = _e("RetailAccount"), _e("Domain")
            r = self._execute(select(t.c.name, d.c.domain).select_from(t.outerjoin(d, d.c.id == t.c.domainId))
                              .where(t.c.id == account_id)).first()
            return (r.name, r.domain or "") if r else None

        return self._cached(("retail", account_id), load)  # type: ignore[no-any-return]

    # ----- carrier server health (written by the trunks agent, docs/sip-agent.md)
    def inactive_carrier_servers(self, now: float | None = None) -> set[int]:
        """Servers whose last OPTIONS ping failed. Not tied to ``config_version`` (the agent
        changes it without a configuration change): re-read at most every 2 seconds."""
        t = _clock.monotonic() if now is None else now
        cached = getattr(self, "_inactive", None)
        if cached is not None and t - cached[0] < 2.0:
            return cached[1]  # type: ignore[no-any-return]
        from polyvox.db.agent_state import inactive_carrier_servers

        value = inactive_carrier_servers(self.conn)
        self._inactive = (t, value)
        return value

    # ----- limits and rating
    def limits(self, brand_id: int, company_id: int) -> Limits:
        def load() -> Limits:
            b, c = _e("Brand"), _e("Company")
            bm = self._execute(select(b.c.maxCalls).where(b.c.id == brand_id)).scalar()
            cm = self._execute(select(c.c.maxCalls).where(c.c.id == company_id)).scalar()
            return Limits(int(bm or 0), int(cm or 0))

        return self._cached(("limits", brand_id, company_id), load)  # type: ignore[no-any-return]

    # ----- rating (spec 7.5, 9.3.1 LCR, 9.4)
    def _destination_rates(self, drg_id: int, brand_id: int | None) -> rating.DestinationRateGroup | None:
        return self._cached(("drg", drg_id),  # type: ignore[no-any-return]
                            lambda: read_rating.destination_rate_group(self._execute, drg_id, brand_id))

    def _plan_group(self, group_id: int) -> rating.RatingPlanGroup | None:
        return self._cached(("rpg", group_id),  # type: ignore[no-any-return]
                            lambda: read_rating.plan_group(self._execute, group_id, self._destination_rates))

    def rater(self, kind: str, owner_id: int) -> AccountRating | None:
        """The rating profiles of a client (``kind`` "company": prices) or of a carrier
        ("carrier": costs). Routing tags are identified by their id (as text)."""
        def load() -> AccountRating | None:
            owner_t = _e("Company") if kind == "company" else _e("Carrier")
            owner = self._execute(select(owner_t).where(owner_t.c.id == owner_id)).first()
            if owner is None:
                return None
            prof = _e("RatingProfile")
            col = prof.c.companyId if kind == "company" else prof.c.carrierId
            profiles = []
            for r in self._execute(select(prof).where(col == owner_id).order_by(prof.c.id)).all():
                group = self._plan_group(r.ratingPlanGroupId) if r.ratingPlanGroupId is not None else None
                if group is not None:
                    profiles.append(rating.RatingProfile(_aware(r.activationTime), group,
                                                         routing_tag=str(r.routingTagId) if r.routingTagId else None))
            tz_id = getattr(owner, "defaultTimezoneId", None) if kind == "company" else None
            if tz_id is None:
                tz_id = self._execute(select(_e("Brand").c.defaultTimezoneId)
                                      .where(_e("Brand").c.id == owner.brandId)).scalar()
            account = rating.RatingAccount(name=owner.name or f"#{owner.id}",
                                           currency=read_rating.currency(self._execute, owner.currencyId,
                                                                         owner.brandId)[0],
                                           profiles=tuple(profiles))
            return AccountRating(account, read_rating.zone(self._execute, tz_id))

        return self._cached(("rater", kind, owner_id), load)  # type: ignore[no-any-return]

    def carrier_cost(self, carrier_id: int, callee: str, at: datetime,
                     duration: int = routing.LCR_REFERENCE_DURATION_SECONDS) -> Decimal | None:
        """Cost of a ``duration`` call (LCR: 5 minutes) from the carrier's rating profile active at
        ``at``; None when the carrier cannot rate the destination (9.3.1: silently not used)."""
        rater = self.rater("carrier", carrier_id)
        if rater is None:
            return None
        rated = rating.simulate_call(rater.account, callee, at, duration, tz=rater.tz)
        return None if isinstance(rated, rating.CannotRate) else rated.cost.total

    def can_rate(self, company_id: int, callee: str, routing_tag_id: int | None = None,
                 now: datetime | None = None) -> bool:
        """7.5 "no rating plan, no call": the client's rating profile active at ``now`` (a tagged
        call prefers its tag's profile) has a rating plan whose timing applies at ``now`` and a
        destination rate for the callee."""
        rater = self.rater("company", company_id)
        if rater is None:
            return False
        at = now or datetime.now(UTC)
        tag = str(routing_tag_id) if routing_tag_id is not None else None
        profile = rating.active_profile(rater.account.profiles, at, tag)
        if profile is None:
            return False
        return not isinstance(rating.find_rate(profile.plan_group, callee, at, tz=rater.tz), rating.CannotRate)

    def special_numbers(self, brand_id: int) -> frozenset[str]:
        """E.164 numbers (country code + number) with *Disable CDR* (8.9.1), global and the brand's."""
        def load() -> frozenset[str]:
            sn, co = _e("SpecialNumber"), _e("Country")
            rows = self._execute(select(sn.c.number, co.c.countryCode).select_from(
                sn.outerjoin(co, co.c.id == sn.c.countryId))
                .where(or_(sn.c.brandId.is_(None), sn.c.brandId == brand_id), sn.c.disableCDR == 1)).all()
            out = set()
            for r in rows:
                number = (r.number or "").strip()
                if not number:
                    continue
                out.add(number if number.startswith("+") else f"{r.countryCode or ''}{number}")
            return frozenset(out)

        return self._cached(("special", brand_id), load)  # type: ignore[no-any-return]

    def billing_account(self, company_id: int) -> BillingAccount | None:
        """The client's billing state, read now (balances and counters are not configuration:
        never cached). ``maxDailyUsage`` 0 or empty = no limit."""
        rater = self.rater("company", company_id)
        c = _e("Company")
        r = self._execute(select(c.c.billingMethod, c.c.balance, c.c.currentDayUsage, c.c.maxDailyUsage)
                          .where(c.c.id == company_id)).first()
        if r is None or rater is None:
            return None
        try:
            method = BillingMethod((r.billingMethod or "postpaid").replace("-", "").lower())
        except ValueError:
            method = BillingMethod.POSTPAID
        limit = read_rating.money(r.maxDailyUsage) if r.maxDailyUsage else None
        return BillingAccount(rating=rater.account, billing_method=method, balance=read_rating.money(r.balance),
                              current_day_usage=read_rating.money(r.currentDayUsage), max_daily_usage=limit)


@dataclass(frozen=True)
class ProxyTrunkAddress:
    """A ``proxy_trunks`` row (spec 8.14.2): an address proxy-trunks listens on."""

    id: int
    name: str
    ip: str
    advertised_ip: str


def load_proxy_trunk_addresses(url: str) -> list[ProxyTrunkAddress]:
    """The ``proxy_trunks`` rows with an address, by id (read once, when proxy-trunks is rendered:
    Kamailio cannot open listening sockets at run time). A missing SQLite file is an error (not
    created)."""
    from pathlib import Path

    from sqlalchemy import make_url

    u = make_url(url)
    if u.get_backend_name() == "sqlite" and u.database and u.database != ":memory:" \
            and not Path(u.database).exists():
        raise FileNotFoundError(f"no database file {u.database}")
    repo = Repository(url)
    try:
        t = _e("ProxyTrunk")
        rows = repo._execute(select(t).order_by(t.c.id)).all()
        return [ProxyTrunkAddress(r.id, r.name or "", (r.ip or "").strip(), (r.advertisedIp or "").strip())
                for r in rows if (r.ip or "").strip()]
    finally:
        repo.close()
        repo.engine.dispose()
