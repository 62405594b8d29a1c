"""Rating accounts of clients (price) and carriers (cost) read from the database.

The rating plans themselves are loaded by :mod:`polyvox.db.read.rating` (the loader the call
simulator and proxy-trunks' call-setup check use), so a billed call is priced by the plan its
setup was checked with. A :class:`Rater` caches what it loaded for the duration of one worker pass only:
a configuration change is used by the next pass (no reload job).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.engine import Connection

from polyvox.db.model import ENTITY
from polyvox.db.read import rating as read_rating
from polyvox.domain.rating import (
    CannotRate,
    CannotRateReason,
    DestinationRateGroup,
    RatedCall,
    RatingAccount,
    RatingPlanGroup,
    RatingProfile,
    simulate_call,
)

UTC = dt.UTC


def _t(name: str) -> Any:
    return ENTITY[name].table


def aware(value: dt.datetime | None) -> dt.datetime | None:
    """Stored date-times are UTC; SQLite returns them naive."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def naive_utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class Loaded:
    """A rating account with the ids the billable call stores."""

    account: RatingAccount
    zone: ZoneInfo
    group_ids: dict[int, int]  # id(RatingPlanGroup object) -> RatingPlanGroup row id


@dataclass(frozen=True)
class Rating:
    """Outcome of rating one call for one account."""

    rated: RatedCall | None
    cannot: CannotRate | None
    plan_group_id: int | None


class Rater:
    """Loads and caches (for one pass) the rating accounts of clients and carriers."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._drg: dict[int, DestinationRateGroup | None] = {}
        self._groups: dict[int, RatingPlanGroup | None] = {}
        self._companies: dict[int, Loaded] = {}
        self._carriers: dict[int, Loaded] = {}
        self._zones: dict[int | None, ZoneInfo] = {}
        self._currencies: dict[int | None, str] = {}
        self._brand_defaults: dict[int, tuple[int | None, int | None]] = {}
        self._tags: dict[int, str | None] = {}
        self._destinations: dict[tuple[int | None, str], int | None] = {}
        # per-pass memo of the billing module (rows whose static columns it reads, endpoints,
        # balance notifications, usage days); always updated together with the database
        self.memo: dict[Any, Any] = {}

    # -- small lookups
    def zone(self, timezone_id: int | None) -> ZoneInfo:
        if timezone_id not in self._zones:
            self._zones[timezone_id] = read_rating.zone(self.conn.execute, timezone_id)
        return self._zones[timezone_id]

    def brand_defaults(self, brand_id: int | None) -> tuple[int | None, int | None]:
        """(default timezone id, currency id) of a brand."""
        if brand_id is None:
            return None, None
        if brand_id not in self._brand_defaults:
            b = _t("Brand")
            row = self.conn.execute(select(b.c.defaultTimezoneId, b.c.currencyId).where(b.c.id == brand_id)).first()
            self._brand_defaults[brand_id] = (row.defaultTimezoneId, row.currencyId) if row else (None, None)
        return self._brand_defaults[brand_id]

    def currency(self, currency_id: int | None, brand_id: int | None) -> str:
        if currency_id is None:
            currency_id = self.brand_defaults(brand_id)[1]
        if currency_id not in self._currencies:
            self._currencies[currency_id] = read_rating.currency(self.conn.execute, currency_id, None)[0]
        return self._currencies[currency_id]

    def tag(self, tag_id: int | None) -> str | None:
        if tag_id is None:
            return None
        if tag_id not in self._tags:
            rt = _t("RoutingTag")
            self._tags[tag_id] = self.conn.execute(select(rt.c.tag).where(rt.c.id == tag_id)).scalar()
        return self._tags[tag_id]

    def destination_id(self, brand_id: int | None, prefix: str) -> int | None:
        key = (brand_id, prefix)
        if key not in self._destinations:
            d = _t("Destination")
            self._destinations[key] = self.conn.execute(
                select(d.c.id).where(d.c.brandId == brand_id, d.c.prefix == prefix).limit(1)).scalar()
        return self._destinations[key]

    def _group(self, group_id: int) -> RatingPlanGroup | None:
        if group_id not in self._groups:  # a deleted group: the profile is ignored
            self._groups[group_id] = read_rating.plan_group(self.conn.execute, group_id, self._rates)
        return self._groups[group_id]

    def _rates(self, drg_id: int, brand_id: int | None) -> DestinationRateGroup | None:
        if drg_id not in self._drg:
            self._drg[drg_id] = read_rating.destination_rate_group(self.conn.execute, drg_id, brand_id)
        return self._drg[drg_id]

    def _profiles(self, where: Any) -> tuple[tuple[RatingProfile, ...], dict[int, int]]:
        prof = _t("RatingProfile")
        profiles: list[RatingProfile] = []
        ids: dict[int, int] = {}
        for r in self.conn.execute(select(prof).where(where).order_by(prof.c.id)):
            group = self._group(r.ratingPlanGroupId) if r.ratingPlanGroupId else None
            if group is None:
                continue
            ids[id(group)] = r.ratingPlanGroupId
            when = aware(r.activationTime) or dt.datetime(1970, 1, 1, tzinfo=UTC)
            profiles.append(RatingProfile(when, group, routing_tag=self.tag(r.routingTagId)))
        return tuple(profiles), ids

    # -- accounts
    def company(self, company_id: int, row: Any) -> Loaded:
        if company_id not in self._companies:
            profiles, ids = self._profiles(_t("RatingProfile").c.companyId == company_id)
            tz_id = row.defaultTimezoneId or self.brand_defaults(row.brandId)[0]
            account = RatingAccount(name=row.name or f"#{company_id}",
                                    currency=self.currency(row.currencyId, row.brandId), profiles=profiles)
            self._companies[company_id] = Loaded(account, self.zone(tz_id), ids)
        return self._companies[company_id]

    def carrier(self, carrier_id: int, row: Any) -> Loaded:
        if carrier_id not in self._carriers:
            profiles, ids = self._profiles(_t("RatingProfile").c.carrierId == carrier_id)
            account = RatingAccount(name=row.name or f"#{carrier_id}",
                                    currency=self.currency(row.currencyId, row.brandId), profiles=profiles)
            zone = self.zone(self.brand_defaults(row.brandId)[0])
            self._carriers[carrier_id] = Loaded(account, zone, ids)
        return self._carriers[carrier_id]

    @staticmethod
    def rate(loaded: Loaded, number: str, start: dt.datetime, duration: int,
             routing_tag: str | None = None) -> Rating:
        """Price of the call with the account's rating profile active at ``start``."""
        if not number:
            return Rating(None, CannotRate(CannotRateReason.INVALID_NUMBER, "no callee"), None)
        result = simulate_call(loaded.account, number, start, duration, routing_tag=routing_tag, tz=loaded.zone)
        if isinstance(result, CannotRate):
            return Rating(None, result, None)
        return Rating(result, None, loaded.group_ids.get(id(result.match.plan_group)))
