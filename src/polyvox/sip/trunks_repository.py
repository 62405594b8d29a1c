"""Read-side queries of proxy-trunks (carriers, outgoing routing, DDI providers, DDIs, rating).

Extends :class:`polyvox.sip.repository.Repository` (same per-process cache, dropped when
``config_version`` changes; same lazily created engine and autocommit connection). Everything
returned is immutable and built for the pure domain engines (:mod:`polyvox.domain.routing`,
:mod:`polyvox.domain.numbering`, :mod:`polyvox.domain.callflow.ddi_provider`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from polyvox.domain import routing
from polyvox.domain.callflow.ddi_provider import DdiProviderCandidate, InboundDdi
from polyvox.domain.numbering import RuleSet, TransformationRule
from polyvox.sip.repository import Repository


@dataclass(frozen=True)
class Carrier:
    id: int
    brand_id: int | None
    name: str
    rule_set_id: int | None
    media_relay_set_id: int | None


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


@dataclass(frozen=True)
class Ddi:
    id: int
    e164: str
    brand_id: int
    company_id: int | None
    ddi_provider_id: int | None
    type: str  # inout | out
    retail_account_id: int | None

    @property
    def inbound(self) -> bool:
        return self.type != "out"


@dataclass(frozen=True)
class Limits:
    brand_max_calls: int
    company_max_calls: int


def _transport(value: Any) -> str:
    """IvozProvider stores 1 = udp, 2 = tcp, 3 = tls (names accepted too)."""
    return {"1": "udp", "2": "tcp", "3": "tls"}.get(str(value), str(value or "udp").lower())


def _e(name: str) -> Any:
    from polyvox.db.model import ENTITY

    return ENTITY[name].table


class TrunksRepository(Repository):
    # ----- carriers
    def carrier(self, carrier_id: int) -> Carrier | None:
        def load() -> Carrier | None:
            t = _e("Carrier")
            r = self._execute(select(t).where(t.c.id == carrier_id)).first()
            if r is None:
                return None
            return Carrier(r.id, r.brandId, r.name or "", r.transformationRuleSetId, r.mediaRelaySetId)

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

        def load() -> RuleSet:
            t = _e("TransformationRule")
            rows = self._execute(select(t).where(t.c.transformationRuleSetId == rule_set_id)).all()
            return RuleSet(TransformationRule(type=r.type, priority=int(r.priority or 0), match_expr=r.matchExpr or "",
                                              replace_expr=r.replaceExpr or "", id=r.id) for r in rows)

        return self._cached(("rule_set", rule_set_id), load)  # type: ignore[no-any-return]

    # ----- DDI providers and DDIs
    def ddi_providers(self) -> tuple[dict[int, DdiProvider], tuple[DdiProviderCandidate, ...]]:
        def load() -> tuple[dict[int, DdiProvider], tuple[DdiProviderCandidate, ...]]:
            t, a = _e("DdiProvider"), _e("DdiProviderAddress")
            provs = {r.id: DdiProvider(r.id, r.brandId, r.name or "", r.transformationRuleSetId, r.mediaRelaySetId)
                     for r in self._execute(select(t).order_by(t.c.id)).all()}
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
                             r.retailAccountId)
                         for r in self._execute(select(t).order_by(t.c.id)).all() if r.ddie164)

        return self._cached(("ddis",), load)  # type: ignore[no-any-return]

    def inbound_ddis(self) -> tuple[InboundDdi, ...]:
        return self._cached(("inbound_ddis",), lambda: tuple(  # type: ignore[no-any-return]
            InboundDdi(d.id, d.e164, d.brand_id, d.company_id, d.ddi_provider_id, d.inbound) for d in self.ddis()))

    def ddi(self, ddi_id: int) -> Ddi | None:
        return next((d for d in self.ddis() if d.id == ddi_id), None)

    def ddi_by_number(self, brand_id: int, e164: str) -> Ddi | None:
        return next((d for d in self.ddis() if d.brand_id == brand_id and d.e164 == e164), None)

    def retail_account(self, account_id: int) -> tuple[str, str] | None:
        """(name, SIP domain) of a retail account."""
        def load() -> tuple[str, str] | None:
            t, d = _e("RetailAccount"), _e("Domain")
            r = self._execute(select(t.c.name, d.c.domain).select_from(t.outerjoin(d, d.c.id == t.c.domainId))
                              .where(t.c.id == account_id)).first()
            return (r.name, r.domain or "") if r else None

        return self._cached(("retail", account_id), load)  # type: ignore[no-any-return]

    # ----- limits and rating
    def limits(self, brand_id: int, company_id: int) -> Limits:
        def load() -> Limits:
            b, c = _e("Brand"), _e("Company")
            bm = self._execute(select(b.c.maxCalls).where(b.c.id == brand_id)).scalar()
            cm = self._execute(select(c.c.maxCalls).where(c.c.id == company_id)).scalar()
            return Limits(int(bm or 0), int(cm or 0))

        return self._cached(("limits", brand_id, company_id), load)  # type: ignore[no-any-return]

    def rating_prefixes(self, company_id: int) -> tuple[tuple[datetime, int | None, frozenset[str]], ...]:
        """(activation time, routing tag id, destination prefixes it prices) per rating profile."""
        def load() -> tuple[tuple[datetime, int | None, frozenset[str]], ...]:
            rp, pl = _e("RatingProfile"), _e("RatingPlan")
            dr, de = _e("DestinationRate"), _e("Destination")
            out = []
            for r in self._execute(select(rp).where(rp.c.companyId == company_id)).all():
                if r.ratingPlanGroupId is None:
                    continue
                q = (select(de.c.prefix).select_from(pl.join(dr, dr.c.destinationRateGroupId == pl.c.destinationRateGroupId)
                                                     .join(de, de.c.id == dr.c.destinationId))
                     .where(pl.c.ratingPlanGroupId == r.ratingPlanGroupId))
                prefixes = frozenset(x.prefix for x in self._execute(q).all() if x.prefix)
                at = r.activationTime or datetime(1970, 1, 1, tzinfo=UTC)
                if isinstance(at, str):
                    at = datetime.fromisoformat(at)
                if at.tzinfo is None:
                    at = at.replace(tzinfo=UTC)
                out.append((at, r.routingTagId, prefixes))
            return tuple(out)

        return self._cached(("rating", company_id), load)  # type: ignore[no-any-return]

    def can_rate(self, company_id: int, callee: str, routing_tag_id: int | None = None,
                 now: datetime | None = None) -> bool:
        """7.5 "no rating plan, no call": the client's active rating profile (latest activation
        not in the future; a tagged call prefers its tag's profile) prices the destination."""
        now = now or datetime.now(UTC)
        best_tag = best_plain = None
        for at, tag, prefixes in self.rating_prefixes(company_id):
            if at > now:
                continue
            if tag is None and (best_plain is None or at >= best_plain[0]):
                best_plain = (at, prefixes)
            elif tag is not None and tag == routing_tag_id and (best_tag is None or at >= best_tag[0]):
                best_tag = (at, prefixes)
        best = best_tag or best_plain
        return best is not None and any(callee.startswith(p) for p in best[1])
