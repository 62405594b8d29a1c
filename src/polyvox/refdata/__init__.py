"""Static reference data Polyvox loads into its database on first start.

Everything here is plain, deterministic, self-contained Python data (no
network, no third-party packages at run time).  Generated tables
(``_countries``, ``_continents``, ``_currencies``, ``_languages``,
``_timezones``) come from ``tools/gen_refdata.py``; services, features and
notification templates are hand-maintained.  See docs/reference-data.md.

All accessors return tuples of frozen dataclasses in a stable order; the
``to_api()`` methods use the IvozProvider API field names (without ``id``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from . import (
    _continents,
    _countries,
    _currencies,
    _features,
    _languages,
    _notifications,
    _services,
    _timezones,
)

__all__ = [
    "LANGUAGE_CODES",
    "NOTIFICATION_TEMPLATE_TYPES",
    "NOTIFICATION_VARIABLES",
    "Continent",
    "Country",
    "Currency",
    "Feature",
    "I18nText",
    "Language",
    "NotificationTemplateContentSeed",
    "NotificationTemplateSeed",
    "RoutingPatternGroupSeed",
    "RoutingPatternSeed",
    "Service",
    "SpecialNumberSeed",
    "Timezone",
    "continent",
    "continents",
    "countries",
    "countries_by_calling_code",
    "country",
    "currencies",
    "currency",
    "feature",
    "features",
    "language",
    "languages",
    "notification_template",
    "notification_templates",
    "optional_services",
    "routing_pattern_groups",
    "routing_patterns",
    "service",
    "services",
    "special_numbers",
    "timezone",
    "timezones",
    "timezones_for_country",
]

#: Languages of every multilingual (``name_en``, ``name_es``...) field.
LANGUAGE_CODES: tuple[str, ...] = ("en", "es", "ca", "it", "eu")


@dataclass(frozen=True, slots=True)
class I18nText:
    """A multilingual string (IvozProvider ``{en, es, ca, it, eu}`` objects)."""

    en: str
    es: str
    ca: str
    it: str
    eu: str

    @classmethod
    def of(cls, values: tuple[str, ...] | list[str]) -> I18nText:
        en, es, ca, it, eu = values
        return cls(en, es, ca, it, eu)

    @classmethod
    def same(cls, text: str) -> I18nText:
        return cls(text, text, text, text, text)

    def get(self, lang: str) -> str:
        """Text in ``lang`` (falls back to English for unknown languages)."""
        return str(getattr(self, lang)) if lang in LANGUAGE_CODES else self.en

    def to_dict(self) -> dict[str, str]:
        return {lang: getattr(self, lang) for lang in LANGUAGE_CODES}


# ---------------------------------------------------------------- continents
@dataclass(frozen=True, slots=True)
class Continent:
    code: str  # AF AN AS EU NA OC SA
    name: I18nText


@cache
def continents() -> tuple[Continent, ...]:
    return tuple(Continent(row[0], I18nText.of(row[1:])) for row in _continents.CONTINENTS)


@cache
def _continents_by_code() -> dict[str, Continent]:
    return {c.code: c for c in continents()}


def continent(code: str) -> Continent:
    """Continent by code; raises KeyError."""
    return _continents_by_code()[code]


# ----------------------------------------------------------------- countries
@dataclass(frozen=True, slots=True)
class Country:
    code: str  # ISO 3166-1 alpha-2
    country_code: str  # as IvozProvider stores it: "+34"; NANP territories include the area code ("+1268")
    calling_code: str  # plain ITU calling code: "+34", "+1"
    nanp_area_codes: tuple[str, ...]  # every NANP area code of the territory (empty outside NANP/US/CA)
    continent: str  # Continent.code
    name: I18nText
    zone: I18nText  # localized continent name (IvozProvider Country.zone)

    def to_api(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "countryCode": self.country_code,
            "name": self.name.to_dict(),
            "zone": self.zone.to_dict(),
        }


@cache
def countries() -> tuple[Country, ...]:
    """Every ISO 3166-1 country, ordered by alpha-2 code."""
    out = []
    for code, calling, cc, areas, cont, *names in _countries.COUNTRIES:
        out.append(Country(code, cc, calling, tuple(areas), cont, I18nText.of(names), continent(cont).name))
    return tuple(out)


@cache
def _countries_by_code() -> dict[str, Country]:
    return {c.code: c for c in countries()}


def country(code: str) -> Country:
    """Country by ISO alpha-2 code (case-insensitive); raises KeyError."""
    return _countries_by_code()[code.upper()]


def countries_by_calling_code(calling_code: str) -> tuple[Country, ...]:
    """Countries sharing an ITU calling code ("+44" -> GB, GG, IM, JE)."""
    wanted = calling_code if calling_code.startswith("+") else "+" + calling_code
    return tuple(c for c in countries() if c.calling_code == wanted)


# ---------------------------------------------------------------- currencies
@dataclass(frozen=True, slots=True)
class Currency:
    iden: str  # ISO 4217 alphabetic code
    symbol: str  # at most 5 characters; the ISO code when no symbol is known
    name: I18nText

    def to_api(self) -> dict[str, Any]:
        return {"iden": self.iden, "symbol": self.symbol, "name": self.name.to_dict()}


@cache
def currencies() -> tuple[Currency, ...]:
    """ISO 4217 currencies in current use, ordered by code."""
    return tuple(Currency(row[0], row[1], I18nText.of(row[2:])) for row in _currencies.CURRENCIES)


@cache
def _currencies_by_iden() -> dict[str, Currency]:
    return {c.iden: c for c in currencies()}


def currency(iden: str) -> Currency:
    """Currency by ISO code (case-insensitive); raises KeyError."""
    return _currencies_by_iden()[iden.upper()]


# ----------------------------------------------------------------- languages
@dataclass(frozen=True, slots=True)
class Language:
    iden: str
    name: I18nText

    def to_api(self) -> dict[str, Any]:
        return {"iden": self.iden, "name": self.name.to_dict()}


@cache
def languages() -> tuple[Language, ...]:
    """en, es, ca, it, eu (in that order)."""
    return tuple(Language(row[0], I18nText.of(row[1:])) for row in _languages.LANGUAGES)


def language(iden: str) -> Language:
    for lang in languages():
        if lang.iden == iden:
            return lang
    raise KeyError(iden)


# ----------------------------------------------------------------- timezones
@dataclass(frozen=True, slots=True)
class Timezone:
    tz: str  # IANA name
    country: str | None  # ISO alpha-2 (zone.tab), None for UTC
    comment: str  # zone.tab comment ("" when the country has one zone)
    label: I18nText  # localized exemplar city (CLDR)

    def to_api(self) -> dict[str, Any]:
        return {"tz": self.tz, "comment": self.comment, "label": self.label.to_dict()}


@cache
def timezones() -> tuple[Timezone, ...]:
    """zone.tab zones (ordered by name) followed by UTC."""
    return tuple(Timezone(row[0], row[1], row[2], I18nText.of(row[3:])) for row in _timezones.TIMEZONES)


@cache
def _timezones_by_tz() -> dict[str, Timezone]:
    return {t.tz: t for t in timezones()}


def timezone(tz: str) -> Timezone:
    """Timezone by IANA name; raises KeyError."""
    return _timezones_by_tz()[tz]


def timezones_for_country(code: str) -> tuple[Timezone, ...]:
    code = code.upper()
    return tuple(t for t in timezones() if t.country == code)


# ------------------------------------------------------------------ services
@dataclass(frozen=True, slots=True)
class Service:
    iden: str
    default_code: str  # dialled as "*" + code
    extra_args: bool
    name: I18nText
    description: I18nText

    def to_api(self) -> dict[str, Any]:
        return {
            "iden": self.iden,
            "defaultCode": self.default_code,
            "extraArgs": self.extra_args,
            "name": self.name.to_dict(),
            "description": self.description.to_dict(),
        }


def _service(row: tuple[Any, ...]) -> Service:
    return Service(row[0], row[1], row[2], I18nText.of(row[3:8]), I18nText.of(row[8:13]))


@cache
def services() -> tuple[Service, ...]:
    """The 11 services of spec 8.5, in IvozProvider order."""
    return tuple(_service(row) for row in _services.SERVICES)


@cache
def optional_services() -> tuple[Service, ...]:
    """Services not in the 3.4 docs (QueuePause *73, QueueUnpause *74); not loaded by default."""
    return tuple(_service(row) for row in _services.OPTIONAL_SERVICES)


def service(iden: str) -> Service:
    for s in services() + optional_services():
        if s.iden == iden:
            return s
    raise KeyError(iden)


# ------------------------------------------------------------------ features
@dataclass(frozen=True, slots=True)
class Feature:
    iden: str
    scope: str  # "client" (brand + clients), "client_type" (enables a client type), "brand" (brand only)
    name: I18nText

    def to_api(self) -> dict[str, Any]:
        return {"iden": self.iden, "name": self.name.to_dict()}


@cache
def features() -> tuple[Feature, ...]:
    return tuple(Feature(row[0], row[1], I18nText.of(row[2:])) for row in _features.FEATURES)


def feature(iden: str) -> Feature:
    for f in features():
        if f.iden == iden:
            return f
    raise KeyError(iden)


# ---------------------------------------------------------- routing patterns
@dataclass(frozen=True, slots=True)
class RoutingPatternSeed:
    prefix: str
    name: I18nText
    description: I18nText
    country: str  # ISO alpha-2 the pattern was derived from (prefixes are not unique)

    def to_api(self) -> dict[str, Any]:
        return {"prefix": self.prefix, "name": self.name.to_dict(), "description": self.description.to_dict()}


@dataclass(frozen=True, slots=True)
class RoutingPatternGroupSeed:
    name: str
    description: str | None
    continent: str
    countries: tuple[str, ...]  # alpha-2 codes; every routing pattern of these countries belongs to the group

    def to_api(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description}


@cache
def routing_patterns() -> tuple[RoutingPatternSeed, ...]:
    """Per-brand routing patterns (spec 9.3.2): one per country, prefix = ``Country.country_code``.

    NANP territories with several area codes (DO, JM, PR) get one extra pattern
    per secondary area code ("+1829"...), right after their primary one.
    """
    empty = I18nText.same("")
    out = []
    for c in countries():
        out.append(RoutingPatternSeed(c.country_code, c.name, empty, c.code))
        for area in c.nanp_area_codes:
            prefix = "+1" + area
            if prefix != c.country_code:
                out.append(RoutingPatternSeed(prefix, c.name, empty, c.code))
    return tuple(out)


def routing_pattern_groups(lang: str = "en") -> tuple[RoutingPatternGroupSeed, ...]:
    """Per-brand routing pattern groups (spec 9.3.3): one per continent, named in ``lang``."""
    return tuple(
        RoutingPatternGroupSeed(
            cont.name.get(lang),
            None,
            cont.code,
            tuple(c.code for c in countries() if c.continent == cont.code),
        )
        for cont in continents()
    )


# ---------------------------------------------------- notification templates
#: NotificationTemplate.type values of the API contract.
NOTIFICATION_TEMPLATE_TYPES: tuple[str, ...] = tuple(_notifications.VARIABLES)
#: type -> substitution variable names (used as ``${NAME}``).
NOTIFICATION_VARIABLES: dict[str, tuple[str, ...]] = dict(_notifications.VARIABLES)


@dataclass(frozen=True, slots=True)
class NotificationTemplateContentSeed:
    language: str
    from_name: str
    from_address: str
    subject: str
    body: str
    body_type: str = "text/plain"

    def to_api(self) -> dict[str, Any]:
        return {
            "fromName": self.from_name,
            "fromAddress": self.from_address,
            "subject": self.subject,
            "body": self.body,
            "bodyType": self.body_type,
        }


@dataclass(frozen=True, slots=True)
class NotificationTemplateSeed:
    type: str
    name: str
    variables: tuple[str, ...]
    contents: tuple[NotificationTemplateContentSeed, ...]

    def content(self, lang: str) -> NotificationTemplateContentSeed:
        """Content in ``lang``, falling back to English."""
        for c in self.contents:
            if c.language == lang:
                return c
        return next(c for c in self.contents if c.language == "en")

    def to_api(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type}


@cache
def notification_templates() -> tuple[NotificationTemplateSeed, ...]:
    """Brand-less default templates (spec 8.7), one per type except ``limit``; contents in en and es."""
    out = []
    for type_, name, per_lang in _notifications.TEMPLATES:
        contents = tuple(
            NotificationTemplateContentSeed(
                lang,
                _notifications.FROM_NAME[lang],
                _notifications.DEFAULT_FROM_ADDRESS,
                subject,
                body + _notifications.FOOTER[lang],
            )
            for lang, (subject, body) in per_lang.items()
        )
        out.append(NotificationTemplateSeed(type_, name, _notifications.VARIABLES[type_], contents))
    return tuple(out)


def notification_template(type_: str) -> NotificationTemplateSeed:
    for t in notification_templates():
        if t.type == type_:
            return t
    raise KeyError(type_)


# ----------------------------------------------------------- special numbers
@dataclass(frozen=True, slots=True)
class SpecialNumberSeed:
    number: str
    country: str
    disable_cdr: bool = True


def special_numbers() -> tuple[SpecialNumberSeed, ...]:
    """Global special numbers created on first start: none (spec 8.9: added by the god operator)."""
    return ()
