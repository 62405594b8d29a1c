"""Read-side repository of the SIP proxies, with per-process caches.

Each Kamailio process (the SIP workers and the timer process) holds one :class:`Repository`.
Lookups are read lazily from the database (SQLAlchemy Core, SQLite or PostgreSQL) and kept in
a per-process dictionary, negative answers included. The whole cache is dropped when
``config_version.version`` changes; the API bumps it in the same transaction as any change
(ARCHITECTURE §3), so a change is effective for the next call without any reload.

When is the version read? :meth:`Repository.begin_request` is called once at the start of every
initial request (REGISTER, INVITE... never for retransmissions, in-dialog requests or ACK):

- ``check_interval == 0`` (default): the version is read by that call, i.e. exactly once per
  initial request (one primary-key SELECT of a one-row table);
- ``check_interval > 0``: it is read at most once every ``check_interval`` seconds per process,
  so a change may take that long to be seen by a given worker.

The cache itself is :class:`polyvox.db.readcache.VersionedCache` (shared with the application
server's repository). The engine is created lazily in the process that uses it (never inherited
through Kamailio's fork).
"""

from __future__ import annotations

import contextlib
import os
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, create_engine, func, select, text
from sqlalchemy.exc import DBAPIError

from polyvox.db.readcache import VersionedCache
from polyvox.domain.addresses import parse_host_port
from polyvox.domain.numbering import to_e164
from polyvox.platform.clock import utcnow
from polyvox.sip.dispatch import AppServer

MAX_ENTRIES = 100_000
VERSION_SQL = "SELECT max(version) FROM config_version"


@dataclass(frozen=True)
class Domain:
    id: int
    name: str
    brand_id: int | None
    company_id: int | None


@dataclass(frozen=True)
class Endpoint:
    kind: str  # terminal | friend | retail | residential
    id: int
    name: str
    password: str
    company_id: int
    domain_id: int | None
    user_id: int | None
    multi_contact: bool
    direct: bool = False  # direct connectivity: fixed ip:port, identified by source address
    ip: str | None = None
    port: int | None = None
    outgoing_ddi_id: int | None = None
    max_calls: int = 0
    rule_set_id: int | None = None  # the endpoint's (or its user's) transformation rule set
    external_ip_calls: int = 0  # users' "Calls from non-granted IPs" (roadwarriors, 12.4.1)
    always_transform: bool = False  # friends' alwaysApplyTransformations
    ddi_in: bool = False  # retail/friends/residential ddiIn: R-URI user = the called DDI
    rtp_encryption: bool = False  # SRTP (SDES) towards the endpoint
    connectivity: str = "no"  # directConnectivity as stored: yes | no | intervpbx (friends)
    inter_company_id: int | None = None  # inter-vPBX friends: the other client (spec 10.1.5)
    from_domain: str | None = None  # friends/residential/retail "From domain" towards the endpoint


# endpoint tables other than terminals: kind -> entity
OTHER_KINDS = {"friend": "Friend", "retail": "RetailAccount", "residential": "ResidentialDevice"}


@dataclass(frozen=True)
class Company:
    id: int
    brand_id: int
    type: str
    name: str
    application_server_set_id: int | None
    media_relay_set_id: int | None
    distribute_method: str
    outgoing_ddi_id: int | None = None
    max_calls: int = 0
    rule_set_id: int | None = None
    ipfilter: bool = False
    corporation_id: int | None = None


@dataclass(frozen=True)
class TrustedRule:
    """A ``trusteds`` row (IvozProvider's ``kam_trusted``, Kamailio ``permissions`` semantics):
    requests from ``src_ip`` over ``proto`` (empty/``any`` = every transport) whose From URI
    matches ``from_pattern`` and whose R-URI matches ``ruri_pattern`` (regular expressions
    searched in the URI; empty = anything) belong to the wholesale client ``company_id``."""

    id: int
    company_id: int
    src_ip: str
    proto: str | None = None
    from_pattern: str | None = None
    ruri_pattern: str | None = None
    priority: int = 0

    def matches(self, proto: str, from_uri: str, ruri: str) -> bool:
        import re

        want = (self.proto or "any").strip().lower()
        if want not in ("", "any") and want != (proto or "").lower():
            return False
        for pattern, value in ((self.from_pattern, from_uri), (self.ruri_pattern, ruri)):
            if pattern:
                try:
                    if re.search(pattern, value or "") is None:
                        return False
                except re.error:
                    return False  # an invalid pattern never matches (nothing is trusted by mistake)
        return True


def pick_trusted(rules: Any, proto: str, from_uri: str, ruri: str) -> TrustedRule | None:
    """First matching rule, higher ``priority`` first (Kamailio permissions), then by id."""
    for rule in sorted(rules, key=lambda r: (-r.priority, r.id)):
        if rule.matches(proto, from_uri, ruri):
            return rule  # type: ignore[no-any-return]
    return None


@dataclass(frozen=True)
class CallForward:
    """A retail account's call forward (spec 10.3.1): ``inconditional`` or ``unreachable``
    (``userNotRegistered`` / ``noAnswer`` rows are read as unreachable), to an external number or
    to another retail account."""

    id: int
    type: str
    ddi_id: int | None
    target_type: str  # number | retail
    number: str | None
    retail_account_id: int | None
    no_answer_timeout: int = 10
    number_country_id: int | None = None


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        from polyvox.db.engine import make_engine as _make

        return _make(url)
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return create_engine(url, pool_pre_ping=True, pool_size=1, max_overflow=4, pool_recycle=3600)


def _tables() -> dict[str, Any]:
    from polyvox.db.model import ENTITY, config_version

    return {
        "domain": ENTITY["Domain"].table,
        "terminal": ENTITY["Terminal"].table,
        "user": ENTITY["User"].table,
        "company": ENTITY["Company"].table,
        "app_server": ENTITY["ApplicationServer"].table,
        "rtpengine": ENTITY["Rtpengine"].table,
        "config_version": config_version,
        "friend": ENTITY["Friend"].table,
        "retail": ENTITY["RetailAccount"].table,
        "residential": ENTITY["ResidentialDevice"].table,
        "trusted": ENTITY["Trusted"].table,
        "ddi": ENTITY["Ddi"].table,
        "routing_tag": ENTITY["RoutingTag"].table,
        "company_tag": ENTITY["CompanyRelRoutingTag"].table,
        "brand": ENTITY["Brand"].table,
        "rule": ENTITY["TransformationRule"].table,
        "extension": ENTITY["Extension"].table,
        "friend_pattern": ENTITY["FriendsPattern"].table,
        "users_address": ENTITY["UsersAddress"].table,
        "geoip": ENTITY["CompanyRelGeoIpCountry"].table,
        "country": ENTITY["Country"].table,
        "cfw": ENTITY["CallForwardSetting"].table,
        "banned": ENTITY["BannedAddress"].table,
    }


class Repository:
    def __init__(self, url: str, *, check_interval: float = 0.0, default_as_port: int = 6060,
                 clock: Callable[[], float] = time.monotonic, engine: Engine | None = None) -> None:
        self.url = url
        self.default_as_port = default_as_port
        self.t = t = _tables()
        self._engine = engine
        self._pid = os.getpid() if engine is not None else 0
        self._conn: Connection | None = None
        self.stats = {"version_reads": 0, "queries": 0, "invalidations": 0}
        self._cache = VersionedCache(MAX_ENTRIES, check_interval=check_interval, clock=clock, stats=self.stats)
        # statements built once (SQLAlchemy then reuses their compiled form)
        d, te, u, c, a, r = t["domain"], t["terminal"], t["user"], t["company"], t["app_server"], t["rtpengine"]
        self._q_domain = (select(d.c.id, d.c.domain, d.c.brandId, d.c.companyId)
                          .where(func.lower(d.c.domain) == bindparam("name"), d.c.pointsTo == "proxyusers")
                          .order_by(d.c.id).limit(1))
        self._q_terminal = (select(te.c.id, te.c.name, te.c.password, te.c.companyId, te.c.domainId,
                                   u.c.id.label("userId"), u.c.multiContact, u.c.maxCalls, te.c.rtpEncryption,
                                   u.c.transformationRuleSetId, u.c.externalIpCalls)
                            .select_from(te.outerjoin(u, u.c.terminalId == te.c.id))
                            .where(te.c.domainId == bindparam("domain_id"), te.c.name == bindparam("name"))
                            .order_by(te.c.id, u.c.id).limit(1))
        self._q_company = select(c.c.id, c.c.brandId, c.c.type, c.c.name, c.c.applicationServerSetId,
                                 c.c.mediaRelaySetId, c.c.distributeMethod, c.c.outgoingDdiId,
                                 c.c.maxCalls, c.c.transformationRuleSetId, c.c.ipfilter,
                                 c.c.corporationId).where(c.c.id == bindparam("id"))
        self._q_app_servers = select(a.c.id, a.c.name, a.c.ip).order_by(a.c.id)
        self._q_rtpengines = select(r.c.mediaRelaySetId, r.c.setid, r.c.url, r.c.weight, r.c.disabled).order_by(r.c.id)

    # ----- connections and cache control
    @property
    def engine(self) -> Engine:
        if self._engine is None or self._pid != os.getpid():
            self._engine = make_engine(self.url)
            self._pid = os.getpid()
            self._conn = None
        return self._engine

    @property
    def conn(self) -> Connection:
        """One connection per process, in autocommit mode: every statement sees the latest
        committed data and no transaction stays open between requests."""
        engine = self.engine
        if self._conn is None:
            self._conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return self._conn

    def _execute(self, stmt: Any, params: dict[str, Any] | None = None) -> Any:
        try:
            return self.conn.execute(stmt, params or {})
        except DBAPIError:
            # broken connection (database restarted, network): reconnect once
            self.close()
            return self.conn.execute(stmt, params or {})

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    def read_version(self) -> int:
        """One-row read on the driver's connection directly (the hot path of every initial
        request: ~10 µs on SQLite instead of ~80 µs through SQLAlchemy's execution layer)."""
        self.stats["version_reads"] += 1
        for attempt in (1, 2):
            try:
                cur = self.conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
                try:
                    cur.execute(VERSION_SQL)
                    row = cur.fetchone()
                finally:
                    cur.close()
                return int(row[0] or 0) if row else 0
            except Exception:
                self.close()
                if attempt == 2:
                    raise
        return 0

    @property
    def version(self) -> int | None:
        """The ``config_version`` the cached values belong to (``None`` before the first read)."""
        return self._cache.version

    @property
    def check_interval(self) -> float:
        return self._cache.check_interval

    @property
    def clock(self) -> Callable[[], float]:
        return self._cache.clock

    def begin_request(self) -> None:
        """Called once per initial request: drops the caches if the configuration changed."""
        self._cache.refresh(self.read_version)

    def invalidate(self) -> None:
        self._cache.invalidate()

    def _cached(self, key: tuple[Any, ...], load: Callable[[], Any]) -> Any:
        return self._cache.cached(key, load)

    # ----- lookups
    def domain(self, name: str) -> Domain | None:
        """A SIP domain pointing to proxy-users (vPBX client domain or brand domain)."""
        name = (name or "").lower()
        if not name:
            return None

        def load() -> Domain | None:
            row = self._execute(self._q_domain, {"name": name}).first()
            return Domain(row.id, row.domain.lower(), row.brandId, row.companyId) if row else None

        return self._cached(("domain", name), load)  # type: ignore[no-any-return]

    def terminal(self, domain_id: int, name: str) -> Endpoint | None:
        def load() -> Endpoint | None:
            row = self._execute(self._q_terminal, {"domain_id": domain_id, "name": name}).first()
            if row is None:
                return None
            return Endpoint(kind="terminal", id=row.id, name=row.name, password=row.password or "",
                            company_id=row.companyId, domain_id=row.domainId, user_id=row.userId,
                            multi_contact=True if row.multiContact is None else bool(row.multiContact),
                            max_calls=int(row.maxCalls or 0), rule_set_id=row.transformationRuleSetId,
                            external_ip_calls=_small_int(row.externalIpCalls),
                            rtp_encryption=bool(row.rtpEncryption))

        return self._cached(("terminal", domain_id, name), load)  # type: ignore[no-any-return]

    def company(self, company_id: int) -> Company | None:
        def load() -> Company | None:
            row = self._execute(self._q_company, {"id": company_id}).first()
            if row is None:
                return None
            return Company(id=row.id, brand_id=row.brandId, type=row.type or "vpbx", name=row.name,
                           application_server_set_id=row.applicationServerSetId,
                           media_relay_set_id=row.mediaRelaySetId, distribute_method=row.distributeMethod or "hash",
                           outgoing_ddi_id=row.outgoingDdiId, max_calls=int(row.maxCalls or 0),
                           rule_set_id=row.transformationRuleSetId, ipfilter=bool(row.ipfilter),
                           corporation_id=row.corporationId)

        return self._cached(("company", company_id), load)  # type: ignore[no-any-return]

    def _other(self, kind: str, where: Any) -> Endpoint | None:
        t = self.t[kind]
        cols = [t.c.id, t.c.name, t.c.password, t.c.companyId, t.c.domainId, t.c.multiContact,
                t.c.directConnectivity, t.c.ip, t.c.port, t.c.outgoingDdiId, t.c.transformationRuleSetId]
        for extra in ("maxCalls", "alwaysApplyTransformations", "ddiIn", "rtpEncryption", "fromDomain",
                      "interCompanyId"):
            if extra in t.c:
                cols.append(t.c[extra])
        row = self._execute(select(*cols).where(where).order_by(t.c.id).limit(1)).first()
        if row is None:
            return None
        m = row._mapping
        return Endpoint(kind=kind, id=row.id, name=row.name, password=row.password or "", company_id=row.companyId,
                        domain_id=row.domainId, user_id=None,
                        multi_contact=True if row.multiContact is None else bool(row.multiContact),
                        direct=(row.directConnectivity or "no") == "yes", ip=row.ip or None,
                        port=int(row.port) if row.port else None, outgoing_ddi_id=row.outgoingDdiId,
                        max_calls=int(m.get("maxCalls") or 0), rule_set_id=row.transformationRuleSetId,
                        always_transform=bool(m.get("alwaysApplyTransformations") or False),
                        ddi_in=m.get("ddiIn") == "yes", rtp_encryption=bool(m.get("rtpEncryption")),
                        connectivity=row.directConnectivity or "no",
                        inter_company_id=m.get("interCompanyId"), from_domain=m.get("fromDomain") or None)

    def endpoint(self, domain: Domain, name: str) -> Endpoint | None:
        """The endpoint named ``name`` in a SIP domain: a vPBX client's domain holds its terminals
        and friends; a brand's domain (``Brand.domainUsers``) its clients' retail accounts and
        residential devices (spec 8.10)."""
        if not name:
            return None
        if domain.company_id is not None:
            ep = self.terminal(domain.id, name)
            if ep is not None:
                return ep
            kinds: tuple[str, ...] = ("friend",)
        else:
            kinds = ("retail", "residential")

        def load() -> Endpoint | None:
            c = self.t["company"]
            for kind in kinds:
                t = self.t[kind]
                if domain.company_id is not None:
                    where = (t.c.companyId == domain.company_id) & (t.c.name == name)
                else:
                    where = (t.c.name == name) & t.c.companyId.in_(
                        select(c.c.id).where(c.c.brandId == domain.brand_id))
                ep = self._other(kind, where)
                if ep is not None:
                    return ep
            return None

        return self._cached(("endpoint", domain.id, name), load)  # type: ignore[no-any-return]

    def brand_domain(self, brand_id: int) -> str | None:
        """The brand's own SIP domain (``Brand.domainUsers``: retail accounts, residential devices)."""
        def load() -> str | None:
            d = self.t["domain"]
            v = self._execute(select(d.c.domain).where(d.c.brandId == brand_id, d.c.companyId.is_(None),
                                                       d.c.pointsTo == "proxyusers").order_by(d.c.id).limit(1)).scalar()
            return str(v).lower() if v else None

        return self._cached(("brand_domain", brand_id), load)  # type: ignore[no-any-return]

    def endpoint_by_id(self, kind: str, ident: int) -> Endpoint | None:
        return self._cached(("endpoint_id", kind, ident),  # type: ignore[no-any-return]
                            lambda: self._other(kind, self.t[kind].c.id == ident))

    def direct_endpoint_at(self, host: str, port: int) -> Endpoint | None:
        """A direct-connectivity friend, retail account or residential device whose fixed
        address is ``host`` (and ``port`` when the row has one)."""
        def load() -> Endpoint | None:
            for kind in OTHER_KINDS:
                t = self.t[kind]
                found = self._other(kind, (t.c.directConnectivity == "yes") & (t.c.ip == host)
                                    & ((t.c.port.is_(None)) | (t.c.port == port)))
                if found is not None:
                    return found
            return None

        return self._cached(("direct_at", host, port), load)  # type: ignore[no-any-return]

    def trusted_rules(self, host: str) -> tuple[TrustedRule, ...]:
        """``trusteds`` rows of wholesale clients for source address ``host``."""
        def load() -> tuple[TrustedRule, ...]:
            tr, c = self.t["trusted"], self.t["company"]
            rows = self._execute(select(tr.c.id, tr.c.companyId, tr.c.srcIp, tr.c.proto, tr.c.fromPattern,
                                        tr.c.ruriPattern, tr.c.priority)
                                 .select_from(tr.join(c, c.c.id == tr.c.companyId))
                                 .where(tr.c.srcIp == host, c.c.type == "wholesale").order_by(tr.c.id)).all()
            return tuple(TrustedRule(int(r.id), int(r.companyId), str(r.srcIp), r.proto or None, r.fromPattern or None,
                                     r.ruriPattern or None, int(r.priority or 0)) for r in rows)

        return self._cached(("trusted", host), load)  # type: ignore[no-any-return]

    def wholesale_at(self, host: str, proto: str = "udp", from_uri: str = "", ruri: str = "") -> Company | None:
        """The wholesale client whose trusted rules (``trusteds``, IvozProvider's ``kam_trusted``)
        match the request: source address, transport, From and R-URI patterns (:func:`pick_trusted`)."""
        rule = pick_trusted(self.trusted_rules(host), proto, from_uri, ruri)
        return self.company(rule.company_id) if rule is not None else None

    def inter_vpbx_peer(self, company_id: int, inter_company_id: int) -> Endpoint | None:
        """The inter-vPBX friend of ``inter_company_id`` pointing back to ``company_id``: the
        endpoint a call through an inter-vPBX friend comes from in the target client."""
        def load() -> Endpoint | None:
            f = self.t["friend"]
            return self._other("friend", (f.c.companyId == inter_company_id) & (f.c.interCompanyId == company_id)
                               & (f.c.directConnectivity == "intervpbx"))

        return self._cached(("intervpbx", company_id, inter_company_id), load)  # type: ignore[no-any-return]

    def company_domain(self, company_id: int) -> str | None:
        """A vPBX client's own SIP domain."""
        def load() -> str | None:
            d = self.t["domain"]
            v = self._execute(select(d.c.domain).where(d.c.companyId == company_id, d.c.pointsTo == "proxyusers")
                              .order_by(d.c.id).limit(1)).scalar()
            return str(v).lower() if v else None

        return self._cached(("company_domain", company_id), load)  # type: ignore[no-any-return]

    def ddi_id(self, company_id: int, number: str) -> int | None:
        """Id of the client's DDI whose E.164 number is ``number`` (``+34...``), if any."""
        def load() -> dict[str, int]:
            d = self.t["ddi"]
            return {to_e164(r[1]): int(r[0]) for r in self._execute(
                select(d.c.id, d.c.ddie164).where(d.c.companyId == company_id).order_by(d.c.id.desc())).all() if r[1]}

        ids: dict[str, int] = self._cached(("ddi_ids", company_id), load)
        return ids.get(to_e164(number)) if number else None

    def ban_listed(self, ip: str, aor: str, blocker: str, stamp: int) -> bool:
        """Whether the ``banned_addresses`` row of a ban still exists. ``stamp`` identifies the ban
        (its end time): a new ban is a new cache entry, and deleting the row (API, with the
        ``config_version`` bump) drops the cache, so the next request lifts the ban."""
        def load() -> bool:
            b = self.t["banned"]
            return self._execute(select(b.c.id).where(b.c.ip == ip, b.c.blocker == blocker, b.c.aor == aor)
                                 .limit(1)).first() is not None

        return self._cached(("ban", ip, aor, blocker, stamp), load)  # type: ignore[no-any-return]

    def company_ddis(self, company_id: int) -> frozenset[str]:
        """The client's DDIs in E.164 (``+34...``)."""
        def load() -> frozenset[str]:
            d = self.t["ddi"]
            return frozenset(to_e164(r[0]) for r in self._execute(select(d.c.ddie164)
                                                             .where(d.c.companyId == company_id)).all() if r[0])

        return self._cached(("ddis", company_id), load)  # type: ignore[no-any-return]

    def ddi_number(self, ddi_id: int | None) -> str | None:
        if ddi_id is None:
            return None

        def load() -> str | None:
            d = self.t["ddi"]
            v = self._execute(select(d.c.ddie164).where(d.c.id == ddi_id)).scalar()
            return to_e164(v) if v else None

        return self._cached(("ddi", ddi_id), load)  # type: ignore[no-any-return]

    def routing_tags(self, brand_id: int) -> tuple[Any, ...]:
        from polyvox.domain.routing import RoutingTag

        def load() -> tuple[Any, ...]:
            rt = self.t["routing_tag"]
            return tuple(RoutingTag(r.id, r.tag, r.name or "") for r in self._execute(
                select(rt.c.id, rt.c.tag, rt.c.name).where(rt.c.brandId == brand_id)).all() if r.tag)

        return self._cached(("tags", brand_id), load)  # type: ignore[no-any-return]

    def enabled_tags(self, company_id: int) -> frozenset[int]:
        def load() -> frozenset[int]:
            ct = self.t["company_tag"]
            return frozenset(int(r[0]) for r in self._execute(select(ct.c.routingTagId)
                                                              .where(ct.c.companyId == company_id)).all())

        return self._cached(("enabled_tags", company_id), load)  # type: ignore[no-any-return]

    # ----- numbering, limits, filters, call forwards (docs/sip.md §10)
    def rule_set(self, set_id: int | None) -> Any:
        """The transformation rule set ``set_id``, None when there is none."""
        if set_id is None:
            return None
        from polyvox.db.read.rule_sets import load_rule_set

        return self._cached(("rule_set", set_id), lambda: load_rule_set(self._execute, set_id))

    def internal_numbers(self, company_id: int) -> tuple[frozenset[str], tuple[str, ...]]:
        """The client's extension numbers and its friends' patterns (numbers that are not
        transformed, spec 9.7.3)."""
        def load() -> tuple[frozenset[str], tuple[str, ...]]:
            ex, fp, fr = self.t["extension"], self.t["friend_pattern"], self.t["friend"]
            numbers = frozenset(str(r[0]) for r in self._execute(
                select(ex.c.number).where(ex.c.companyId == company_id)).all() if r[0])
            patterns = tuple(str(r[0]) for r in self._execute(
                select(fp.c.regExp).select_from(fp.join(fr, fr.c.id == fp.c.friendId))
                .where(fr.c.companyId == company_id)).all() if r[0])
            return numbers, patterns

        return self._cached(("internal", company_id), load)  # type: ignore[no-any-return]

    def company_codecs(self, company_id: int) -> tuple[str, ...]:
        """Codecs enabled for the client (``CompanyRelCodec`` -> ``codecs.iden``: PCMA, G729...),
        offered on top of the client's own (retail/wholesale transcoding, spec 9.1.3)."""
        from polyvox.db.model import ENTITY

        def load() -> tuple[str, ...]:
            rel, co = ENTITY["CompanyRelCodec"].table, ENTITY["Codec"].table
            return tuple(str(r[0]) for r in self._execute(
                select(co.c.iden).select_from(rel.join(co, co.c.id == rel.c.codecId))
                .where(rel.c.companyId == company_id, co.c.type == "audio").order_by(rel.c.id)).all() if r[0])

        return self._cached(("codecs", company_id), load)  # type: ignore[no-any-return]

    def brand_max_calls(self, brand_id: int) -> int:
        def load() -> int:
            b = self.t["brand"]
            return int(self._execute(select(b.c.maxCalls).where(b.c.id == brand_id)).scalar() or 0)

        return self._cached(("brand_max", brand_id), load)  # type: ignore[no-any-return]

    def ip_filter(self, company: Company) -> Any:
        """The client's :class:`polyvox.domain.billing.IpFilter` (``ipfilter`` flag, authorized
        sources ``users_addresses.sourceAddress`` and GeoIP countries, ISO codes)."""
        from polyvox.domain.billing import IpFilter

        def load() -> Any:
            if not company.ipfilter:
                return IpFilter(False)
            ua, g, co = self.t["users_address"], self.t["geoip"], self.t["country"]
            ranges = []
            for (src,) in self._execute(select(ua.c.sourceAddress).where(ua.c.companyId == company.id)).all():
                with contextlib.suppress(ValueError):
                    IpFilter.build(True, [src or ""])
                    ranges.append(src)
            countries = [r[0] for r in self._execute(select(co.c.code).select_from(g.join(co, co.c.id == g.c.countryId))
                                                     .where(g.c.companyId == company.id)).all() if r[0]]
            return IpFilter.build(True, ranges, countries)

        return self._cached(("ipfilter", company.id), load)

    def call_forwards(self, retail_account_id: int) -> tuple[CallForward, ...]:
        """Enabled call forwards of a retail account (spec 10.3.1)."""
        def load() -> tuple[CallForward, ...]:
            c = self.t["cfw"]
            rows = self._execute(select(c).where(c.c.retailAccountId == retail_account_id).order_by(c.c.id)).all()
            out = []
            for r in rows:
                if r.enabled is not None and not r.enabled:
                    continue
                kind = r.callForwardType or ""
                if kind not in ("inconditional", "unreachable", "userNotRegistered", "noAnswer"):
                    continue
                out.append(CallForward(id=r.id, type="inconditional" if kind == "inconditional" else "unreachable",
                                       ddi_id=r.ddiId, target_type=r.targetType or "number",
                                       number=r.numberValue, retail_account_id=r.cfwToRetailAccountId,
                                       no_answer_timeout=int(r.noAnswerTimeout or 10),
                                       number_country_id=r.numberCountryId))
            return tuple(out)

        return self._cached(("cfw", retail_account_id), load)  # type: ignore[no-any-return]

    def country_prefix(self, country_id: int | None) -> str:
        """``countries.countryCode`` (``+34``) of a call forward's number country."""
        if country_id is None:
            return ""

        def load() -> str:
            co = self.t["country"]
            return str(self._execute(select(co.c.countryCode).where(co.c.id == country_id)).scalar() or "")

        return self._cached(("country", country_id), load)  # type: ignore[no-any-return]

    def ban(self, *, ip: str, aor: str, blocker: str, description: str, brand_id: int | None = None,
            company_id: int | None = None) -> None:
        """Inserts or refreshes the ``banned_addresses`` row of (ip, blocker) so the API lists it."""
        b = self.t["banned"]
        now = utcnow()
        aor = aor[:300]
        values = {"lastTimeBanned": now, "description": description[:100], "brandId": brand_id,
                  "companyId": company_id}
        # Several Kamailio workers may ban the same source at the same moment: one row per
        # (ip, blocker, aor) whatever the interleaving. UPDATE first (on SQLite it takes the
        # database's write lock, so a concurrent ban waits and then finds the row); on PostgreSQL
        # a transaction-scoped advisory lock on the key serialises the bans of one source.
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                key = zlib.crc32(f"{ip}|{blocker}|{aor}".encode()) - (1 << 31)
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
            where = (b.c.ip == ip) & (b.c.blocker == blocker) & (b.c.aor == aor)
            if conn.execute(b.update().where(where).values(**values)).rowcount == 0:
                conn.execute(b.insert().values(ip=ip, aor=aor, blocker=blocker, **values))

    # ----- registrations (kam_users_location, see polyvox.db.location)
    def _location(self) -> Any:
        from polyvox.db import location

        return location.location

    def store_contacts(self, username: str, domain: str, contacts: list[dict[str, Any]]) -> None:
        """Replaces the rows of AoR ``username@domain`` by ``contacts`` (usrloc's view after a
        save(); ``expires`` as usrloc reports it: the absolute expiry, epoch seconds)."""
        from polyvox.db.location import expiry, signed32

        loc = self._location()
        now = utcnow()
        rows = []
        for c in contacts:
            rows.append({
                "ruid": c.get("ruid") or "", "username": username, "domain": domain, "contact": c["contact"],
                "received": c.get("received") or None, "path": c.get("path") or None,
                "expires": expiry(c.get("expires"), now),
                "q": _float(c.get("q"), 1.0), "callid": c.get("callid") or "",
                "cseq": int(c.get("cseq") or 0), "last_modified": now, "flags": int(c.get("flags") or 0),
                "cflags": int(c.get("cflags") or 0), "user_agent": (c.get("user_agent") or "")[:255],
                "socket": c.get("socket") or None, "methods": signed32(c.get("methods", 0xFFFFFFFF)),
                "instance": c.get("instance") or None, "reg_id": int(c.get("reg_id") or 0),
                "server_id": 0, "connection_id": 0, "keepalive": 0, "partition": 0,
            })
        where = (loc.c.username == username) & (loc.c.domain == domain)
        for attempt in (1, 2):
            try:
                with self.engine.begin() as conn:
                    conn.execute(loc.delete().where(where))
                    if rows:
                        conn.execute(loc.insert(), rows)
                return
            except DBAPIError:
                if attempt == 2:
                    raise

    def purge_expired(self) -> int:
        loc = self._location()
        with self.engine.begin() as conn:
            return int(conn.execute(loc.delete().where(loc.c.expires < utcnow())).rowcount or 0)

    def live_contacts(self) -> list[Any]:
        loc = self._location()
        return list(self._execute(select(loc).where(loc.c.expires > utcnow()).order_by(loc.c.id)).all())

    def all_application_servers(self) -> tuple[AppServer, ...]:
        def load() -> tuple[AppServer, ...]:
            out = []
            for row in self._execute(self._q_app_servers).all():
                if not row.ip:
                    continue
                host, port = parse_host_port(row.ip, self.default_as_port)
                out.append(AppServer(row.id, row.name, host, port))
            return tuple(out)

        return self._cached(("app_servers",), load)  # type: ignore[no-any-return]

    def application_servers(self, set_id: int | None) -> tuple[AppServer, ...]:
        """Members of an application server set, ordered by id.

        A set without members uses every application server: as spec 8.14.4 says, as soon as
        an application server is added the proxies balance load using it.
        """
        if set_id is None:
            return self.all_application_servers()

        def load() -> tuple[AppServer, ...]:
            from polyvox.db.model import ENTITY

            rel = ENTITY["ApplicationServerSetRelApplicationServer"].table
            ids = {r[0] for r in self._execute(select(rel.c.applicationServerId)
                                               .where(rel.c.applicationServerSetId == set_id)).all()}
            every = self.all_application_servers()
            members = tuple(s for s in every if s.id in ids)
            return members or every

        return self._cached(("set_members", set_id), load)  # type: ignore[no-any-return]

    def application_server_at(self, host: str, port: int) -> AppServer | None:
        """The application server sending from ``host:port``, if any (trusted, inside traffic)."""
        def load() -> AppServer | None:
            for s in self.all_application_servers():
                if s.host == host and s.port == port:
                    return s
            return None

        return self._cached(("as_at", host, port), load)  # type: ignore[no-any-return]

    def rtpengine_nodes(self) -> list[tuple[int, str, int, bool]]:
        """(set id, NG url, weight, disabled) of every media relay; set id = mediaRelaySetId."""
        out = []
        for row in self._execute(self._q_rtpengines).all():
            if not row.url:
                continue
            setid = row.mediaRelaySetId if row.mediaRelaySetId is not None else (row.setid or 0)
            out.append((int(setid), row.url, int(row.weight if row.weight is not None else 1), bool(row.disabled)))
        return out


GEOIP_FILES = ("/usr/share/GeoIP/GeoIP.dat", "/usr/share/GeoIP/GeoIPv6.dat")


class GeoIP:
    """Country of an IP address, offline, for the client IP filter (spec 12.3).

    Reads Debian's ``geoip-database`` (legacy MaxMind/DB-IP country files
    ``/usr/share/GeoIP/GeoIP.dat`` and ``GeoIPv6.dat``) through ``libGeoIP.so.1`` (package
    ``libgeoip1``, a dependency of ``geoip-database``) with ctypes. ``path`` replaces the IPv4
    file (``POLYVOX_GEOIP_DB``). ``local`` maps ranges the database cannot know (private
    networks) to a country: ``"10.0.0.0/8=ES,192.168.0.0/16=ES"`` (``POLYVOX_GEOIP_LOCAL``).
    Without the library or the files every lookup answers None (only the authorized ranges of
    the filter then count), logged once by the caller's absence of matches.
    """

    def __init__(self, path: str = "", local: str = "") -> None:
        import ipaddress

        self.local: list[tuple[Any, str]] = []
        for item in (local or "").split(","):
            if "=" in item:
                net, cc = item.split("=", 1)
                with contextlib.suppress(ValueError):
                    self.local.append((ipaddress.ip_network(net.strip(), strict=False), cc.strip().upper()))
        self._lib: Any = None
        self._db4: Any = None
        self._db6: Any = None
        try:
            import ctypes

            lib = ctypes.CDLL("libGeoIP.so.1")
            lib.GeoIP_open.restype = ctypes.c_void_p
            lib.GeoIP_open.argtypes = [ctypes.c_char_p, ctypes.c_int]
            for fn in (lib.GeoIP_country_code_by_addr, lib.GeoIP_country_code_by_addr_v6):
                fn.restype = ctypes.c_char_p
                fn.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
            v4 = path or GEOIP_FILES[0]
            if os.path.exists(v4):
                self._db4 = lib.GeoIP_open(v4.encode(), 1) or None  # GEOIP_MEMORY_CACHE
            if os.path.exists(GEOIP_FILES[1]):
                self._db6 = lib.GeoIP_open(GEOIP_FILES[1].encode(), 1) or None
            self._lib = lib
        except (OSError, AttributeError):
            self._lib = None

    @property
    def available(self) -> bool:
        return self._lib is not None and self._db4 is not None

    def country(self, ip: str) -> str | None:
        import ipaddress

        try:
            addr = ipaddress.ip_address((ip or "").strip().strip("[]"))
        except ValueError:
            return None
        for net, cc in self.local:
            if addr.version == net.version and addr in net:
                return cc
        if self._lib is None:
            return None
        if addr.version == 4 and self._db4:
            code = self._lib.GeoIP_country_code_by_addr(self._db4, str(addr).encode())
        elif addr.version == 6 and self._db6:
            code = self._lib.GeoIP_country_code_by_addr_v6(self._db6, str(addr).encode())
        else:
            return None
        return code.decode() if code else None


def _float(v: Any, default: float) -> float:
    try:
        return float(v) if v is not None else default
    except (TypeError, ValueError):
        return default


def _small_int(v: Any) -> int:
    try:
        return int(v or 0)
    except (TypeError, ValueError):
        return 0


def load_rtpengine_nodes(url: str) -> list[tuple[int, str, int, bool]]:
    repo = Repository(url)
    try:
        return repo.rtpengine_nodes()
    finally:
        repo.close()
        repo.engine.dispose()
