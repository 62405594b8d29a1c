"""Static reference data Polyvox loads into its database on first start.

Everything here is plain, deterministic, self-contained Python data (no
network, no third-party packages at run time).  See docs/reference-data.md.

IvozProvider integrations hard-code reference ids, so every row IvozProvider 3.4
creates carries IvozProvider's id, codes and en/es/ca/it names (generated modules
``_ivozprovider`` and ``_ivozprovider_rules``, from ``tools/gen_refdata_ivozprovider.py``).
Polyvox adds Basque names, CLDR time-zone labels, more currencies and time zones and a
few codecs (``_countries``, ``_currencies``, ``_timezones``... from
``tools/gen_refdata.py``; ``_features``, ``_services``, ``_codecs``, ``_notifications``,
``_additions`` by hand); its own rows get the ids of ``_polyvox_ids``, above
IvozProvider's ranges.

All accessors return tuples of frozen dataclasses ordered by id; the ``to_api()``
methods use the IvozProvider API field names (without ``id``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from . import (
    _additions,
    _codecs,
    _continents,
    _countries,
    _currencies,
    _features,
    _ivozprovider,
    _ivozprovider_rules,
    _languages,
    _notifications,
    _polyvox_ids,
    _services,
    _timezones,
)

__all__ = [
    "LANGUAGE_CODES",
    "NOTIFICATION_TEMPLATE_TYPES",
    "NOTIFICATION_VARIABLES",
    "Codec",
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
    "TerminalManufacturer",
    "TerminalModel",
    "Timezone",
    "TransformationRuleSeed",
    "TransformationRuleSetSeed",
    "codec",
    "codecs",
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
    "plan_brand_routing",
    "routing_pattern_groups",
    "routing_patterns",
    "service",
    "services",
    "special_numbers",
    "terminal_manufacturers",
    "terminal_model",
    "terminal_models",
    "timezone",
    "timezones",
    "timezones_for_country",
    "transformation_rule_set",
    "transformation_rule_sets",
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


def _ivoz_text(en_es_ca_it: tuple[str, ...] | list[str], eu: str) -> I18nText:
    """IvozProvider's four names plus Polyvox's Basque one."""
    return I18nText.of((*en_es_ca_it, eu))


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
    id: int  # IvozProvider's Countries.id
    code: str  # ISO 3166-1 alpha-2 (IvozProvider also has "UIFN")
    country_code: str  # IvozProvider's Countries.countryCode: "+34"; NANP territories add the area code ("+1268")
    calling_code: str  # plain ITU calling code: "+34", "+1"
    nanp_area_codes: tuple[str, ...]  # every NANP area code of the territory (empty outside NANP/US/CA)
    continent: str | None  # Continent.code (UN M49 based); None for non-geographic entries
    name: I18nText
    zone: I18nText  # IvozProvider's Countries.zone ("Europe", "North america"...)

    def to_api(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "countryCode": self.country_code,
            "name": self.name.to_dict(),
            "zone": self.zone.to_dict(),
        }


@cache
def countries() -> tuple[Country, ...]:
    """IvozProvider's countries, ordered by id (ES is 70)."""
    cldr = {row[0]: row for row in _countries.COUNTRIES}
    out = []
    for cid, code, cc, *texts in _ivozprovider.COUNTRIES:
        names, zone = texts[:4], texts[4:]
        ours = cldr.get(code)
        calling, areas, cont = (ours[1], tuple(ours[3]), ours[4]) if ours else (cc, (), None)
        eu = ours[9] if ours else _additions.COUNTRY_EU[code]
        out.append(Country(cid, code, cc, calling, areas, cont, _ivoz_text(names, eu),
                           _ivoz_text(zone, _additions.ZONE_EU[zone[0]])))
    return tuple(out)


@cache
def _countries_by_code() -> dict[str, Country]:
    return {c.code: c for c in countries()}


def country(code: str) -> Country:
    """Country by code (ISO alpha-2, case-insensitive); raises KeyError."""
    return _countries_by_code()[code.upper()]


def countries_by_calling_code(calling_code: str) -> tuple[Country, ...]:
    """Countries sharing an ITU calling code ("+44" -> GB, GG, IM, JE)."""
    wanted = calling_code if calling_code.startswith("+") else "+" + calling_code
    return tuple(c for c in countries() if c.calling_code == wanted)


# ---------------------------------------------------------------- currencies
@dataclass(frozen=True, slots=True)
class Currency:
    id: int
    iden: str  # ISO 4217 alphabetic code
    symbol: str  # at most 5 characters; the ISO code when no symbol is known
    name: I18nText

    def to_api(self) -> dict[str, Any]:
        return {"iden": self.iden, "symbol": self.symbol, "name": self.name.to_dict()}


@cache
def currencies() -> tuple[Currency, ...]:
    """IvozProvider's EUR (1), USD (2), GBP (3), then the other ISO 4217 currencies in use."""
    cldr = {row[0]: row for row in _currencies.CURRENCIES}
    out = [Currency(cid, iden, symbol, _ivoz_text(names, cldr[iden][6]))
           for cid, iden, symbol, *names in _ivozprovider.CURRENCIES]
    ids = _polyvox_ids.IDS["currency"]
    out += [Currency(ids[row[0]], row[0], row[1], I18nText.of(row[2:]))
            for row in _currencies.CURRENCIES if row[0] in ids]
    return tuple(sorted(out, key=lambda c: c.id))


@cache
def _currencies_by_iden() -> dict[str, Currency]:
    return {c.iden: c for c in currencies()}


def currency(iden: str) -> Currency:
    """Currency by ISO code (case-insensitive); raises KeyError."""
    return _currencies_by_iden()[iden.upper()]


# ----------------------------------------------------------------- languages
@dataclass(frozen=True, slots=True)
class Language:
    id: int
    iden: str
    name: I18nText

    def to_api(self) -> dict[str, Any]:
        return {"iden": self.iden, "name": self.name.to_dict()}


@cache
def languages() -> tuple[Language, ...]:
    """es (1), en (2), ca (3), it (4) as IvozProvider, then eu (5)."""
    cldr = {row[0]: row for row in _languages.LANGUAGES}
    out = [Language(lid, iden, _ivoz_text(names, cldr[iden][5])) for lid, iden, *names in _ivozprovider.LANGUAGES]
    ids = _polyvox_ids.IDS["language"]
    out += [Language(ids[row[0]], row[0], I18nText.of(row[1:])) for row in _languages.LANGUAGES if row[0] in ids]
    return tuple(sorted(out, key=lambda lang: lang.id))


def language(iden: str) -> Language:
    for lang in languages():
        if lang.iden == iden:
            return lang
    raise KeyError(iden)


# ----------------------------------------------------------------- timezones
@dataclass(frozen=True, slots=True)
class Timezone:
    id: int
    tz: str  # IANA name (IvozProvider keeps some older names: Europe/Kiev, Asia/Rangoon...)
    country: str | None  # country code, None for UTC
    comment: str | None  # IvozProvider's zone.tab comment (None when the country has one zone)
    label: I18nText  # localized exemplar city (CLDR)

    def to_api(self) -> dict[str, Any]:
        return {"tz": self.tz, "comment": self.comment, "label": self.label.to_dict()}


@cache
def timezones() -> tuple[Timezone, ...]:
    """IvozProvider's 416 zones (ids 1-416), then the zones IANA added since, and UTC."""
    cldr = {row[0]: row for row in _timezones.TIMEZONES}
    code_of = {c.id: c.code for c in countries()}
    out = []
    for tid, country_id, tz, comment in _ivozprovider.TIMEZONES:
        ours = cldr.get(_additions.TIMEZONE_RENAMED.get(tz, tz))
        label = I18nText.of(ours[3:]) if ours else I18nText.same(tz.rsplit("/", 1)[-1].replace("_", " "))
        out.append(Timezone(tid, tz, code_of.get(country_id), comment, label))
    ids = _polyvox_ids.IDS["timezone"]
    out += [Timezone(ids[row[0]], row[0], row[1], row[2] or None, I18nText.of(row[3:]))
            for row in _timezones.TIMEZONES if row[0] in ids]
    return tuple(sorted(out, key=lambda t: t.id))


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
    id: int
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


@cache
def services() -> tuple[Service, ...]:
    """IvozProvider's 13 services (spec 8.5 plus QueuePause *73, QueueUnpause *74), by id."""
    ours = {row[0]: row for row in _services.SERVICES + _services.OPTIONAL_SERVICES}
    return tuple(
        Service(sid, iden, code, extra, _ivoz_text(texts[:4], ours[iden][7]), _ivoz_text(texts[4:], ours[iden][12]))
        for sid, iden, code, extra, *texts in _ivozprovider.SERVICES
    )


def service(iden: str) -> Service:
    for s in services():
        if s.iden == iden:
            return s
    raise KeyError(iden)


# ------------------------------------------------------------------ features
@dataclass(frozen=True, slots=True)
class Feature:
    id: int
    iden: str
    scope: str  # "client" (brand + clients), "client_type" (enables a client type), "brand" (brand only)
    name: I18nText

    def to_api(self) -> dict[str, Any]:
        return {"iden": self.iden, "name": self.name.to_dict()}


@cache
def features() -> tuple[Feature, ...]:
    ours = {row[0]: row for row in _features.FEATURES}
    return tuple(Feature(fid, iden, ours[iden][1], _ivoz_text(names, ours[iden][6]))
                 for fid, iden, *names in _ivozprovider.FEATURES)


def feature(iden: str) -> Feature:
    for f in features():
        if f.iden == iden:
            return f
    raise KeyError(iden)


# -------------------------------------------------------------------- codecs
@dataclass(frozen=True, slots=True)
class Codec:
    id: int
    type: str  # audio | video
    iden: str
    name: str

    def to_api(self) -> dict[str, Any]:
        return {"type": self.type, "iden": self.iden, "name": self.name}


@cache
def codecs() -> tuple[Codec, ...]:
    """IvozProvider's 11 audio codecs, then the ones Polyvox adds (video)."""
    out = [Codec(*row) for row in _ivozprovider.CODECS]
    ids = _polyvox_ids.IDS["codec"]
    out += [Codec(ids[iden], type_, iden, name) for type_, iden, name in _codecs.CODECS if iden in ids]
    return tuple(sorted(out, key=lambda c: c.id))


def codec(iden: str) -> Codec:
    for c in codecs():
        if c.iden == iden:
            return c
    raise KeyError(iden)


# --------------------------------------------------------------- terminals
@dataclass(frozen=True, slots=True)
class TerminalManufacturer:
    id: int
    iden: str
    name: str
    description: str

    def to_api(self) -> dict[str, Any]:
        return {"iden": self.iden, "name": self.name, "description": self.description}


@dataclass(frozen=True, slots=True)
class TerminalModel:
    id: int
    iden: str
    name: str
    description: str
    manufacturer: int  # TerminalManufacturer.id
    generic_template: str | None
    specific_template: str | None
    generic_url_pattern: str | None
    specific_url_pattern: str | None

    def to_api(self) -> dict[str, Any]:
        return {
            "iden": self.iden,
            "name": self.name,
            "description": self.description,
            "terminalManufacturer": self.manufacturer,
            "genericTemplate": self.generic_template,
            "specificTemplate": self.specific_template,
            "genericUrlPattern": self.generic_url_pattern,
            "specificUrlPattern": self.specific_url_pattern,
        }


@cache
def terminal_manufacturers() -> tuple[TerminalManufacturer, ...]:
    return tuple(TerminalManufacturer(*row) for row in _ivozprovider.TERMINAL_MANUFACTURERS)


@cache
def terminal_models() -> tuple[TerminalModel, ...]:
    """IvozProvider's models; their templates are empty, as IvozProvider creates them."""
    return tuple(TerminalModel(*row) for row in _ivozprovider.TERMINAL_MODELS)


def terminal_model(iden: str) -> TerminalModel:
    for m in terminal_models():
        if m.iden == iden:
            return m
    raise KeyError(iden)


# ------------------------------------------------- numeric transformations
@dataclass(frozen=True, slots=True)
class TransformationRuleSeed:
    id: int
    type: str  # callerin | calleein | callerout | calleeout
    description: str
    priority: int
    match_expr: str
    replace_expr: str

    def to_api(self) -> dict[str, Any]:
        return {"type": self.type, "description": self.description, "priority": self.priority,
                "matchExpr": self.match_expr, "replaceExpr": self.replace_expr}


@dataclass(frozen=True, slots=True)
class TransformationRuleSetSeed:
    id: int
    name: I18nText
    description: str | None
    international_code: str
    trunk_prefix: str
    area_code: str
    national_len: int
    country: str | None  # country code; None for the E.164 sets
    generate_rules: bool
    rules: tuple[TransformationRuleSeed, ...]

    def to_api(self) -> dict[str, Any]:
        return {"name": self.name.to_dict(), "description": self.description,
                "internationalCode": self.international_code, "trunkPrefix": self.trunk_prefix,
                "areaCode": self.area_code, "nationalLen": self.national_len, "generateRules": self.generate_rules}


@cache
def transformation_rule_sets() -> tuple[TransformationRuleSetSeed, ...]:
    """IvozProvider's brand-less sets: one per country (Spain's is 70) plus E.164 and E.164 without plus."""
    by_id = {c.id: c for c in countries()}
    rules: dict[int, list[TransformationRuleSeed]] = {}
    for rid, set_id, type_, desc, prio, match, replace in _ivozprovider_rules.RULES:
        rules.setdefault(set_id, []).append(TransformationRuleSeed(rid, type_, desc, prio, match, replace))
    out = []
    for sid, en, es, ca, it, desc, intl, trunk, area, nlen, country_id, gen in _ivozprovider_rules.RULE_SETS:
        c = by_id.get(country_id) if country_id is not None else None
        eu = c.name.eu if c is not None else _additions.RULE_SET_EU[en]
        out.append(TransformationRuleSetSeed(sid, I18nText(en, es, ca, it, eu), desc, intl, trunk, area, nlen,
                                             c.code if c is not None else None, gen, tuple(rules.get(sid, ()))))
    return tuple(out)


def transformation_rule_set(country_code: str) -> TransformationRuleSetSeed:
    """The brand-less set of a country (by country code); raises KeyError."""
    for s in transformation_rule_sets():
        if s.country == country_code.upper():
            return s
    raise KeyError(country_code)


# ---------------------------------------------------------- routing patterns
@dataclass(frozen=True, slots=True)
class RoutingPatternSeed:
    prefix: str
    name: I18nText
    description: I18nText
    country: str  # country code the pattern was derived from (prefixes are not unique)

    def to_api(self) -> dict[str, Any]:
        return {"prefix": self.prefix, "name": self.name.to_dict(), "description": self.description.to_dict()}


@dataclass(frozen=True, slots=True)
class RoutingPatternGroupSeed:
    name: str  # the zone's English name, as IvozProvider names it ("North america")
    description: str | None
    countries: tuple[str, ...]  # country codes; their routing patterns belong to the group

    def to_api(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description}


def plan_brand_routing(
    rows: Iterable[tuple[str, str, I18nText, str]],
) -> tuple[tuple[RoutingPatternSeed, ...], tuple[RoutingPatternGroupSeed, ...]]:
    """A new brand's routing patterns and groups (spec 9.3.2-9.3.3), as IvozProvider creates them.

    ``rows``: (code, countryCode, name, zone in English) of every country, in id order.
    One pattern per country (prefix = countryCode, the country's names, empty
    descriptions); one group per zone, named after the zone in English and created
    when its first country comes, so groups are in order of first appearance.
    """
    empty = I18nText.same("")
    patterns: list[RoutingPatternSeed] = []
    members: dict[str, list[str]] = {}
    for code, country_code, name, zone_en in rows:
        patterns.append(RoutingPatternSeed(country_code, name, empty, code))
        members.setdefault(zone_en, []).append(code)
    groups = tuple(RoutingPatternGroupSeed(zone, None, tuple(codes)) for zone, codes in members.items())
    return tuple(patterns), groups


@cache
def _reference_routing() -> tuple[tuple[RoutingPatternSeed, ...], tuple[RoutingPatternGroupSeed, ...]]:
    return plan_brand_routing((c.code, c.country_code, c.name, c.zone.en) for c in countries())


def routing_patterns() -> tuple[RoutingPatternSeed, ...]:
    """Per-brand routing patterns over the reference countries: one per country, in country id order."""
    return _reference_routing()[0]


def routing_pattern_groups() -> tuple[RoutingPatternGroupSeed, ...]:
    """Per-brand routing pattern groups over the reference countries: one per zone."""
    return _reference_routing()[1]


# ---------------------------------------------------- notification templates
#: NotificationTemplate.type values of the API contract.
NOTIFICATION_TEMPLATE_TYPES: tuple[str, ...] = tuple(_notifications.VARIABLES)
#: type -> substitution variable names (used as ``${NAME}``).
NOTIFICATION_VARIABLES: dict[str, tuple[str, ...]] = dict(_notifications.VARIABLES)


@dataclass(frozen=True, slots=True)
class NotificationTemplateContentSeed:
    id: int  # IvozProvider's NotificationTemplatesContents.id for its (template, language) pairs
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
    id: int  # IvozProvider's NotificationTemplates.id for its six types
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
    """Brand-less default templates (spec 8.7), one per type except ``limit``; contents in en and es.

    The texts are Polyvox's; the ids of the types and (type, language) pairs IvozProvider
    ships are IvozProvider's.
    """
    ivoz_types = dict(_ivozprovider.NOTIFICATION_TEMPLATES)
    template_ids = {t: i for i, t in _ivozprovider.NOTIFICATION_TEMPLATES} | _polyvox_ids.IDS["notification_template"]
    lang_idens = {row[0]: row[1] for row in _ivozprovider.LANGUAGES}
    content_ids = {(ivoz_types[t], lang_idens[lang]): cid
                   for cid, t, lang in _ivozprovider.NOTIFICATION_TEMPLATE_CONTENTS}
    content_ids |= _polyvox_ids.IDS["notification_template_content"]
    out = []
    for type_, name, per_lang in _notifications.TEMPLATES:
        contents = tuple(
            NotificationTemplateContentSeed(
                content_ids[(type_, lang)],
                lang,
                _notifications.FROM_NAME[lang],
                _notifications.DEFAULT_FROM_ADDRESS,
                subject,
                body + _notifications.FOOTER[lang],
            )
            for lang, (subject, body) in per_lang.items()
        )
        out.append(NotificationTemplateSeed(template_ids[type_], type_, name, _notifications.VARIABLES[type_],
                                            contents))
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
