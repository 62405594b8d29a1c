"""Read side of the application server's dialplan, with a per-process cache.

Same pattern (and same :class:`polyvox.db.readcache.VersionedCache`) as
:mod:`polyvox.sip.repository`: lookups are read lazily from the database
(SQLAlchemy Core, SQLite or PostgreSQL), turned into plain values (rows as dictionaries, or the
domain engines' dataclasses) and kept in a per-process dictionary, negative answers included.
:meth:`AppRepository.begin_call` is called once per new call (``Dialplan.script``/``transfer``):
it reads ``config_version`` and drops the whole cache when the version changed, so a
configuration change made through the API applies to the next call.

Live state is never cached: registrations (``kam_users_location``) and route lock states (a
service code may have just toggled one) are read on every use.

The only writes are the service codes' (route locks, residential call forwards, spec 9.7.6):
they bump ``config_version`` in the same transaction, like the API does.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Connection, Engine, func, select, update
from sqlalchemy.exc import DBAPIError

from polyvox.db.read.rule_sets import load_rule_set
from polyvox.db.readcache import VersionedCache
from polyvox.domain.callflow import (
    AclPolicy,
    Calendar,
    CalendarPeriod,
    CallAcl,
    CallAclRule,
    ConditionalRoute,
    ConditionalRouteCondition,
    ExternalCallFilter,
    ForwardKind,
    ForwardTarget,
    HolidayDate,
    MatchList,
    MatchListPattern,
    OutgoingDdiAction,
    OutgoingDdiRule,
    OutgoingDdiRulePattern,
    ResidentialCallFilter,
    Route,
    Schedule,
    Service,
)
from polyvox.domain.numbering import RuleSet, to_e164

Row = Mapping[str, Any]
MAX_ENTRIES = 50_000
_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _t(name: str) -> Any:
    from polyvox.db.model import ENTITY

    return ENTITY[name].table


class AppRepository:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._conn: Connection | None = None
        self.stats = {"version_reads": 0, "queries": 0, "invalidations": 0, "writes": 0}
        self._cache = VersionedCache(MAX_ENTRIES, stats=self.stats)

    # ----- connection and cache control
    @property
    def conn(self) -> Connection:
        if self._conn is None:
            self._conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    def _exec(self, stmt: Any) -> Any:
        try:
            return self.conn.execute(stmt)
        except DBAPIError:
            self.close()
            return self.conn.execute(stmt)

    def _rows(self, stmt: Any) -> tuple[dict[str, Any], ...]:
        return tuple(dict(r._mapping) for r in self._exec(stmt).all())

    def _row(self, stmt: Any) -> dict[str, Any] | None:
        r = self._exec(stmt).first()
        return dict(r._mapping) if r is not None else None

    def read_version(self) -> int:
        from polyvox.db.model import config_version

        self.stats["version_reads"] += 1
        v = self._exec(select(func.max(config_version.c.version))).scalar()
        return int(v or 0)

    @property
    def version(self) -> int | None:
        """The ``config_version`` the cached values belong to (``None`` before the first read)."""
        return self._cache.version

    def begin_call(self) -> None:
        """Once per new call: drop the cache when ``config_version`` changed."""
        self._cache.refresh(self.read_version)

    def invalidate(self) -> None:
        self._cache.invalidate()

    def _cached(self, key: tuple[Any, ...], load: Callable[[], Any]) -> Any:
        return self._cache.cached(key, load)

    def _by_id(self, entity: str, ident: int | None) -> dict[str, Any] | None:
        if ident is None:
            return None
        t = _t(entity)
        return self._cached((entity, ident),  # type: ignore[no-any-return]
                            lambda: self._row(select(t).where(t.c.id == ident)))

    # ----- rows by id
    def company(self, ident: int) -> dict[str, Any] | None:
        return self._by_id("Company", ident)

    def user(self, ident: int | None) -> dict[str, Any] | None:
        return self._by_id("User", ident)

    def terminal(self, ident: int | None) -> dict[str, Any] | None:
        return self._by_id("Terminal", ident)

    def friend(self, ident: int | None) -> dict[str, Any] | None:
        return self._by_id("Friend", ident)

    def residential_device(self, ident: int | None) -> dict[str, Any] | None:
        return self._by_id("ResidentialDevice", ident)

    def ddi(self, ident: int | None) -> dict[str, Any] | None:
        return self._by_id("Ddi", ident)

    def extension(self, ident: int | None) -> dict[str, Any] | None:
        return self._by_id("Extension", ident)

    def hunt_group(self, ident: int | None) -> dict[str, Any] | None:
        return self._by_id("HuntGroup", ident)

    def ddi_number(self, ident: int | None) -> str | None:
        row = self.ddi(ident)
        return to_e164(row["ddie164"]) if row and row["ddie164"] else None

    def domain_name(self, ident: int | None) -> str | None:
        row = self._by_id("Domain", ident)
        return str(row["domain"]).lower() if row and row.get("domain") else None

    def country_code(self, ident: int | None) -> str | None:
        row = self._by_id("Country", ident)
        return str(row["countryCode"]) if row and row.get("countryCode") else None

    def timezone(self, company: Row) -> str:
        row = self._by_id("Timezone", company.get("defaultTimezoneId"))
        return str(row["tz"]) if row and row.get("tz") else "UTC"

    # ----- lookups
    def company_domain(self, company_id: int) -> str | None:
        """The vPBX client's SIP domain (``domains`` row of the client pointing to proxy-users)."""
        def load() -> str | None:
            d = _t("Domain")
            v = self._exec(select(d.c.domain).where(d.c.companyId == company_id, d.c.pointsTo == "proxyusers")
                           .order_by(d.c.id).limit(1)).scalar()
            return str(v).lower() if v else None

        return self._cached(("company_domain", company_id), load)  # type: ignore[no-any-return]

    def brand_domain(self, brand_id: int) -> str | None:
        def load() -> str | None:
            d = _t("Domain")
            v = self._exec(select(d.c.domain).where(d.c.brandId == brand_id, d.c.companyId.is_(None),
                                                    d.c.pointsTo == "proxyusers").order_by(d.c.id).limit(1)).scalar()
            if v:
                return str(v).lower()
            b = self._by_id("Brand", brand_id)
            return str(b["domainUsers"]).lower() if b and b.get("domainUsers") else None

        return self._cached(("brand_domain", brand_id), load)  # type: ignore[no-any-return]

    def extensions(self, company_id: int) -> dict[str, dict[str, Any]]:
        """The client's extensions by number."""
        def load() -> dict[str, dict[str, Any]]:
            t = _t("Extension")
            return {str(r["number"]): r for r in self._rows(select(t).where(t.c.companyId == company_id)
                                                             .order_by(t.c.id))}

        return self._cached(("extensions", company_id), load)  # type: ignore[no-any-return]

    def user_of_terminal(self, terminal_id: int) -> dict[str, Any] | None:
        def load() -> dict[str, Any] | None:
            u = _t("User")
            return self._row(select(u).where(u.c.terminalId == terminal_id).order_by(u.c.id).limit(1))

        return self._cached(("user_of_terminal", terminal_id), load)  # type: ignore[no-any-return]

    def call_forwards(self, column: str, ident: int) -> tuple[dict[str, Any], ...]:
        """Call forward settings of a user / friend / residential device / retail account."""
        def load() -> tuple[dict[str, Any], ...]:
            t = _t("CallForwardSetting")
            return self._rows(select(t).where(t.c[column] == ident).order_by(t.c.id))

        return self._cached(("cfw", column, ident), load)  # type: ignore[no-any-return]

    def friends(self, company_id: int) -> tuple[dict[str, Any], ...]:
        """The client's friends, each with ``patterns`` (regular expressions), by priority."""
        def load() -> tuple[dict[str, Any], ...]:
            f, p = _t("Friend"), _t("FriendsPattern")
            rows = self._rows(select(f).where(f.c.companyId == company_id).order_by(f.c.priority, f.c.id))
            out = []
            for r in rows:
                r["patterns"] = tuple(str(x["regExp"]) for x in self._rows(
                    select(p.c.regExp).where(p.c.friendId == r["id"]).order_by(p.c.id)) if x["regExp"])
                out.append(r)
            return tuple(out)

        return self._cached(("friends", company_id), load)  # type: ignore[no-any-return]

    def company_ddis(self, company_id: int) -> frozenset[str]:
        def load() -> frozenset[str]:
            d = _t("Ddi")
            return frozenset(x for x in (to_e164(r["ddie164"]) for r in self._rows(
                select(d.c.ddie164).where(d.c.companyId == company_id))) if x)

        return self._cached(("ddis", company_id), load)  # type: ignore[no-any-return]

    def ddi_by_number(self, brand_id: int, number: str) -> dict[str, Any] | None:
        def load() -> dict[str, Any] | None:
            d = _t("Ddi")
            for r in self._rows(select(d).where(d.c.brandId == brand_id).order_by(d.c.id)):
                if r["ddie164"] and to_e164(r["ddie164"]) == number:
                    return r
            return None

        return self._cached(("ddi_by_number", brand_id, number), load)  # type: ignore[no-any-return]

    def rule_set(self, ident: int | None) -> RuleSet:
        if ident is None:
            return RuleSet(())
        return self._cached(("rules", ident), lambda: load_rule_set(self._exec, ident))  # type: ignore[no-any-return]

    def service_codes(self, brand_id: int, company_id: int) -> tuple[dict[Service, str], dict[Service, str | None]]:
        """(brand codes — the service's default code when the brand has no row —, client codes)."""
        def load() -> tuple[dict[Service, str], dict[Service, str | None]]:
            s, bs, cs = _t("Service"), _t("BrandService"), _t("CompanyService")
            idens = {r["id"]: r["iden"] for r in self._rows(select(s.c.id, s.c.iden, s.c.defaultCode))}
            known = {x.value for x in Service}
            brand: dict[Service, str] = {}
            for r in self._rows(select(s.c.iden, s.c.defaultCode)):
                if r["iden"] in known and r["defaultCode"]:
                    brand[Service(r["iden"])] = str(r["defaultCode"])
            for r in self._rows(select(bs).where(bs.c.brandId == brand_id)):
                iden = idens.get(r["serviceId"])
                if iden in known:
                    brand[Service(iden)] = str(r["code"])
            client: dict[Service, str | None] = {}
            for r in self._rows(select(cs).where(cs.c.companyId == company_id)):
                iden = idens.get(r["serviceId"])
                if iden in known:
                    client[Service(iden)] = str(r["code"]) if r["code"] else None
            return brand, client

        return self._cached(("services", brand_id, company_id), load)  # type: ignore[no-any-return]

    # ----- call-flow objects (domain dataclasses)
    def match_list(self, ident: int) -> MatchList:
        def load() -> MatchList:
            ml, p = _t("MatchList"), _t("MatchListPattern")
            head = self._row(select(ml).where(ml.c.id == ident))
            patterns = []
            for r in self._rows(select(p).where(p.c.matchListId == ident).order_by(p.c.id)):
                with contextlib.suppress(ValueError):
                    if r["type"] == "regexp" and r["regexp"]:
                        patterns.append(MatchListPattern.regexp(str(r["regexp"])))
                    elif r["numbervalue"]:
                        cc = self.country_code(r["numberCountryId"]) or ""
                        value = str(r["numbervalue"])
                        patterns.append(MatchListPattern.number(value if value.startswith("+") else cc + value))
            return MatchList(str(head["name"]) if head else "", tuple(patterns), ident)

        return self._cached(("match_list", ident), load)  # type: ignore[no-any-return]

    def schedule(self, ident: int) -> Schedule | None:
        row = self._by_id("Schedule", ident)
        if row is None or row["timeIn"] is None or row["timeout"] is None:
            return None
        days = frozenset(i for i, d in enumerate(_DAYS) if row.get(d))
        return Schedule(str(row["name"] or ""), _time(row["timeIn"]), _time(row["timeout"]), days, ident)

    def forward_target(self, kind: str | None, number_country: int | None, number: str | None,
                       extension_id: int | None, voicemail_id: int | None) -> ForwardTarget | None:
        """A ``number``/``extension``/``voicemail`` route of a filter, holiday or calendar period."""
        if kind == "number" and number:
            return ForwardTarget(ForwardKind.NUMBER, self.number_e164(number_country, number))
        if kind == "extension" and extension_id is not None:
            ext = self.extension(extension_id)
            return ForwardTarget(ForwardKind.EXTENSION, str(ext["number"])) if ext else None
        if kind == "voicemail" and voicemail_id is not None:
            return ForwardTarget(ForwardKind.VOICEMAIL, str(voicemail_id))
        return None

    def number_e164(self, country_id: int | None, number: str) -> str:
        if number.startswith("+"):
            return number
        return (self.country_code(country_id) or "") + number

    def calendar(self, ident: int) -> Calendar:
        def load() -> Calendar:
            h, p, ps = _t("HolidayDate"), _t("CalendarPeriod"), _t("CalendarPeriodsRelSchedule")
            head = self._by_id("Calendar", ident)
            holidays = []
            for r in self._rows(select(h).where(h.c.calendarId == ident).order_by(h.c.id)):
                whole = bool(r["wholeDayEvent"]) if r["wholeDayEvent"] is not None else True
                with contextlib.suppress(ValueError):
                    holidays.append(HolidayDate(
                        str(r["name"] or ""), _date(r["eventDate"]), whole,
                        None if whole or r["timeIn"] is None else _time(r["timeIn"]),
                        None if whole or r["timeOut"] is None else _time(r["timeOut"]),
                        r["locutionId"],
                        self.forward_target(r["routeType"], r["numberCountryId"], r["numberValue"],
                                            r["extensionId"], r["voicemailId"]), r["id"]))
            periods = []
            for r in self._rows(select(p).where(p.c.calendarId == ident).order_by(p.c.id)):
                scheds = tuple(s for s in (self.schedule(x["scheduleId"]) for x in self._rows(
                    select(ps.c.scheduleId).where(ps.c.calendarPeriodId == r["id"]))) if s is not None)
                with contextlib.suppress(ValueError):
                    periods.append(CalendarPeriod(
                        _date(r["startDate"]), _date(r["endDate"]), scheds, r["locutionId"],
                        self.forward_target(r["routeType"], r["numberCountryId"], r["numberValue"],
                                            r["extensionId"], r["voicemailId"]), "", r["id"]))
            return Calendar(str(head["name"] or "") if head else "", tuple(holidays), tuple(periods), ident)

        return self._cached(("calendar", ident), load)  # type: ignore[no-any-return]

    def _rel_ids(self, entity: str, owner_col: str, owner: int, col: str) -> tuple[int, ...]:
        t = _t(entity)
        return tuple(int(r[col]) for r in self._rows(select(t.c[col]).where(t.c[owner_col] == owner)
                                                     .order_by(t.c.id)) if r[col] is not None)

    def external_call_filter(self, ident: int | None) -> ExternalCallFilter | None:
        if ident is None:
            return None

        def load() -> ExternalCallFilter | None:
            r = self._by_id("ExternalCallFilter", ident)
            if r is None:
                return None
            black = tuple(self.match_list(i) for i in self._rel_ids("ExternalCallFilterBlackList", "filterId", ident,
                                                                     "matchlistId"))
            white = tuple(self.match_list(i) for i in self._rel_ids("ExternalCallFilterWhiteList", "filterId", ident,
                                                                     "matchlistId"))
            cals = tuple(self.calendar(i) for i in self._rel_ids("ExternalCallFilterRelCalendar", "filterId", ident,
                                                                  "calendarId"))
            scheds = tuple(s for s in (self.schedule(i) for i in self._rel_ids(
                "ExternalCallFilterRelSchedule", "filterId", ident, "scheduleId")) if s is not None)
            return ExternalCallFilter(
                name=str(r["name"] or ""), welcome_locution_id=r["welcomeLocutionId"], blacklist=black,
                whitelist=white, holiday_enabled=bool(r["holidayEnabled"]),
                holiday_locution_id=r["holidayLocutionId"],
                holiday_target=self.forward_target(r["holidayTargetType"], r["holidayNumberCountryId"],
                                                   r["holidayNumberValue"], r["holidayExtensionId"],
                                                   r["holidayVoicemailId"]),
                out_of_schedule_enabled=bool(r["outOfScheduleEnabled"]),
                out_of_schedule_locution_id=r["outOfScheduleLocutionId"],
                out_of_schedule_target=self.forward_target(
                    r["outOfScheduleTargetType"], r["outOfScheduleNumberCountryId"], r["outOfScheduleNumberValue"],
                    r["outOfScheduleExtensionId"], r["outOfScheduleVoicemailId"]),
                calendars=cals, schedules=scheds, id=ident)

        return self._cached(("ecf", ident), load)  # type: ignore[no-any-return]

    def residential_call_filter(self, ident: int | None) -> ResidentialCallFilter | None:
        """Residential filters are the same rows: black list + out-of-schedule forward to a number
        (spec 10.2.3: "forward all calls to an external number")."""
        flt = self.external_call_filter(ident)
        if flt is None:
            return None
        target = flt.out_of_schedule_target or flt.holiday_target
        number = target.value if target is not None and target.kind is ForwardKind.NUMBER else None
        return ResidentialCallFilter(flt.name, flt.blacklist, number, flt.id)

    def call_acl(self, ident: int | None) -> CallAcl | None:
        if ident is None:
            return None

        def load() -> CallAcl | None:
            r = self._by_id("CallAcl", ident)
            if r is None:
                return None
            t = _t("CallAclRelMatchList")
            rules = tuple(CallAclRule(int(x["priority"] or 0), self.match_list(int(x["matchListId"])),
                                      AclPolicy(x["policy"] or "deny"))
                          for x in self._rows(select(t).where(t.c.callAclId == ident).order_by(t.c.id))
                          if x["matchListId"] is not None)
            return CallAcl(str(r["name"] or ""), AclPolicy(r["defaultPolicy"] or "deny"), rules, ident)

        return self._cached(("acl", ident), load)  # type: ignore[no-any-return]

    def outgoing_ddi_rule(self, ident: int | None) -> OutgoingDdiRule | None:
        if ident is None:
            return None

        def load() -> OutgoingDdiRule | None:
            r = self._by_id("OutgoingDdiRule", ident)
            if r is None:
                return None
            t = _t("OutgoingDdiRulesPattern")
            patterns = []
            for x in self._rows(select(t).where(t.c.outgoingDdiRuleId == ident).order_by(t.c.id)):
                action = OutgoingDdiAction(x["action"] or "keep")
                forced = self.ddi_number(x["forcedDdiId"])
                with contextlib.suppress(ValueError):
                    if x["type"] == "prefix" and x["prefix"]:
                        patterns.append(OutgoingDdiRulePattern.with_prefix(int(x["priority"] or 0), str(x["prefix"]),
                                                                           action, forced))
                    elif x["matchListId"] is not None:
                        patterns.append(OutgoingDdiRulePattern.destination(
                            int(x["priority"] or 0), self.match_list(int(x["matchListId"])), action, forced))
            return OutgoingDdiRule(str(r["name"] or ""), OutgoingDdiAction(r["defaultAction"] or "keep"),
                                   self.ddi_number(r["forcedDdiId"]), tuple(patterns), ident)

        return self._cached(("oddi_rule", ident), load)  # type: ignore[no-any-return]

    def hunt_group_members(self, hunt_group_id: int) -> tuple[dict[str, Any], ...]:
        def load() -> tuple[dict[str, Any], ...]:
            t = _t("HuntGroupMember")
            return self._rows(select(t).where(t.c.huntGroupId == hunt_group_id).order_by(t.c.id))

        return self._cached(("hg_members", hunt_group_id), load)  # type: ignore[no-any-return]

    def conditional_route(self, ident: int | None) -> ConditionalRoute | None:
        if ident is None:
            return None

        def route(r: Row, lower: bool) -> Route:
            kind = r["routetype" if lower else "routeType"]
            number = r["numbervalue" if lower else "numberValue"]
            friend = r["friendvalue" if lower else "friendValue"]
            target: str | int | None = {
                "user": r["userId"], "ivr": r["ivrId"], "huntGroup": r["huntGroupId"],
                "voicemail": r["voicemailId"], "queue": r["queueId"], "conferenceRoom": r["conferenceRoomId"],
                "extension": r["extensionId"], "friend": friend,
                "number": self.number_e164(r["numberCountryId"], str(number)) if number else None,
            }.get(str(kind))
            return Route(str(kind or ""), target, r["locutionId"])

        def load() -> ConditionalRoute | None:
            r = self._by_id("ConditionalRoute", ident)
            if r is None:
                return None
            t = _t("ConditionalRoutesCondition")
            conditions = []
            for c in self._rows(select(t).where(t.c.conditionalRouteId == ident).order_by(t.c.id)):
                cid = int(c["id"])
                conditions.append(ConditionalRouteCondition(
                    int(c["priority"] or 0), route(c, False),
                    tuple(self.match_list(i) for i in self._rel_ids("ConditionalRoutesConditionsRelMatchlist",
                                                                     "conditionId", cid, "matchlistId")),
                    tuple(s for s in (self.schedule(i) for i in self._rel_ids(
                        "ConditionalRoutesConditionsRelSchedule", "conditionId", cid, "scheduleId")) if s),
                    tuple(self.calendar(i) for i in self._rel_ids("ConditionalRoutesConditionsRelCalendar",
                                                                   "conditionId", cid, "calendarId")),
                    self._rel_ids("ConditionalRoutesConditionsRelRouteLock", "conditionId", cid, "routeLockId"),
                    cid))
            return ConditionalRoute(str(r["name"] or ""), route(r, True), tuple(conditions), ident)

        return self._cached(("conditional", ident), load)  # type: ignore[no-any-return]

    # ----- live state (never cached)
    def route_locks(self, company_id: int) -> dict[int, bool]:
        t = _t("RouteLock")
        return {int(r["id"]): bool(r["open"]) for r in self._rows(select(t.c.id, t.c.open)
                                                                  .where(t.c.companyId == company_id))}

    def registered(self, username: str, domain: str | None, now: dt.datetime) -> bool:
        """Whether ``username@domain`` has an unexpired registration (``kam_users_location``)."""
        from polyvox.db.location import location as loc

        naive = now.astimezone(dt.UTC).replace(tzinfo=None) if now.tzinfo else now
        where = (loc.c.username == username) & (loc.c.expires > naive)
        if domain:
            where = where & (func.lower(loc.c.domain) == domain.lower())
        return self._exec(select(loc.c.id).where(where).limit(1)).first() is not None

    # ----- writes (service codes)
    def has_call_records(self, call_id: str) -> bool:
        """The call registry already has rows of this Call-ID."""
        t = _t("UsersCdr")
        with self.engine.connect() as conn:
            return conn.execute(select(t.c.id).where(t.c.callid == call_id).limit(1)).first() is not None

    def record_calls(self, rows: list[dict[str, Any]]) -> None:
        """Call registry rows (``users_cdrs``), in one transaction of their own (no configuration
        change: the proxies are not told)."""
        if not rows:
            return
        from polyvox.db.model import fit

        t = _t("UsersCdr")
        with self.engine.begin() as conn:
            conn.execute(t.insert(), [fit(t, r) for r in rows])
        self.stats["cdrs"] = self.stats.get("cdrs", 0) + len(rows)

    def write(self, statements: list[Any]) -> None:
        """Run ``statements`` and bump ``config_version`` in one transaction, then drop the cache."""
        from polyvox.db.model import config_version

        with self.engine.begin() as conn:
            for stmt in statements:
                conn.execute(stmt)
            res = conn.execute(update(config_version).where(config_version.c.id == 1)
                               .values(version=config_version.c.version + 1))
            if not res.rowcount:
                conn.execute(config_version.insert().values(id=1, version=1))
        self.stats["writes"] += 1
        self.invalidate()


def _time(value: Any) -> dt.time:
    if isinstance(value, dt.time):
        return value.replace(tzinfo=None)
    if isinstance(value, dt.datetime):
        return value.time()
    parts = [int(p) for p in str(value).split(".")[0].split(":")]
    while len(parts) < 3:
        parts.append(0)
    return dt.time(parts[0] % 24, parts[1], parts[2])


def _date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])
