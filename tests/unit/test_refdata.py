"""Static reference data (polyvox.refdata)."""

from __future__ import annotations

import ast
import dataclasses
import json
import re
import zoneinfo
from pathlib import Path

import pytest

from polyvox import refdata as rd

ROOT = Path(__file__).resolve().parents[2]
_CONTRACT_REL = Path("shared/reference/ivozprovider-api/platform.json")
CONTRACT = next(
    (p for p in (ROOT.parent / _CONTRACT_REL, Path("/work") / _CONTRACT_REL) if p.exists()),
    Path("/work") / _CONTRACT_REL,
)
E164_PREFIX = re.compile(r"^\+[1-9][0-9]{0,3}$")


# ------------------------------------------------------------------ countries
def test_country_count_and_shape() -> None:
    cs = rd.countries()
    assert len(cs) >= 240
    assert len({c.code for c in cs}) == len(cs)
    for c in cs:
        assert re.fullmatch(r"[A-Z]{2}", c.code)
        assert E164_PREFIX.match(c.calling_code), c
        assert c.country_code.startswith(c.calling_code), c
        assert c.continent in {k.code for k in rd.continents()}, c
        assert c.zone == rd.continent(c.continent).name
        for lang in rd.LANGUAGE_CODES:
            assert c.name.get(lang), (c.code, lang)
            assert c.zone.get(lang), (c.code, lang)


def test_well_known_countries() -> None:
    es = rd.country("ES")
    assert es.country_code == es.calling_code == "+34"
    assert es.continent == "EU" and es.zone.en == "Europe" and es.zone.es == "Europa"
    assert es.name.en == "Spain" and es.name.es == "España" and es.name.ca == "Espanya"
    us = rd.country("us")
    assert us.country_code == "+1" and us.continent == "NA" and us.zone.en == "North America"
    assert rd.country("GB").country_code == "+44"
    assert rd.country("AU").continent == "OC"
    assert rd.country("BR").continent == "SA"
    assert rd.country("AQ").continent == "AN"
    assert rd.country("JP").continent == "AS"
    assert rd.country("NG").continent == "AF"
    assert rd.country("CA").country_code == "+1"
    # NANP territories carry their area code, as IvozProvider stores them
    ag = rd.country("AG")
    assert (ag.calling_code, ag.country_code, ag.nanp_area_codes) == ("+1", "+1268", ("268",))
    assert rd.country("DO").country_code == "+1809"
    assert set(rd.country("DO").nanp_area_codes) == {"809", "829", "849"}
    assert rd.country("MF").country_code == "+590"
    with pytest.raises(KeyError):
        rd.country("XX")


def test_countries_sorted_and_deterministic() -> None:
    codes = [c.code for c in rd.countries()]
    assert codes == sorted(codes)
    assert rd.countries() is rd.countries()
    assert {c.code for c in rd.countries_by_calling_code("+44")} == {"GB", "GG", "IM", "JE"}
    assert {c.code for c in rd.countries_by_calling_code("7")} == {"RU", "KZ"}


def test_country_to_api_matches_contract_fields() -> None:
    api = rd.country("ES").to_api()
    assert api == {
        "code": "ES",
        "countryCode": "+34",
        "name": {"en": "Spain", "es": "España", "ca": "Espanya", "it": "Spagna", "eu": "Espainia"},
        "zone": {"en": "Europe", "es": "Europa", "ca": "Europa", "it": "Europa", "eu": "Europa"},
    }


# ----------------------------------------------------------- routing patterns
def test_routing_patterns_one_per_country_plus_nanp_secondaries() -> None:
    rps = rd.routing_patterns()
    primary = {}
    for rp in rps:
        primary.setdefault(rp.country, rp)
    assert len(primary) == len(rd.countries())
    for c in rd.countries():
        assert primary[c.code].prefix == c.country_code
        assert primary[c.code].name == c.name
    extra = [(rp.country, rp.prefix) for rp in rps if rp is not primary[rp.country]]
    assert sorted(extra) == [("DO", "+1829"), ("DO", "+1849"), ("JM", "+1658"), ("PR", "+1939")]
    assert all(rp.prefix.startswith("+") for rp in rps)
    assert rd.routing_patterns() == rps


def test_routing_pattern_groups_per_continent() -> None:
    groups = rd.routing_pattern_groups()
    assert [g.name for g in groups] == [
        "Africa",
        "Antarctica",
        "Asia",
        "Europe",
        "North America",
        "Oceania",
        "South America",
    ]
    seen: list[str] = []
    for g in groups:
        assert g.countries, g.name
        seen += g.countries
    assert sorted(seen) == [c.code for c in rd.countries()]
    europe = next(g for g in groups if g.continent == "EU")
    assert "ES" in europe.countries and "FR" in europe.countries
    assert [g.name for g in rd.routing_pattern_groups("es")][3] == "Europa"
    assert rd.routing_pattern_groups() == groups


# ----------------------------------------------------------------- currencies
def test_currencies() -> None:
    cur = rd.currencies()
    assert len(cur) >= 150
    idens = [c.iden for c in cur]
    assert idens == sorted(idens) and len(set(idens)) == len(idens)
    assert rd.currency("EUR").symbol == "€"
    assert rd.currency("USD").symbol == "$"
    assert rd.currency("gbp").symbol == "£"
    assert rd.currency("EUR").name.es == "Euro"
    assert rd.currency("USD").name.es == "Dólar estadounidense"
    assert rd.currency("JPY").symbol == "¥"
    for c in cur:
        assert re.fullmatch(r"[A-Z]{3}", c.iden)
        assert 1 <= len(c.symbol) <= 5 and c.symbol.strip() == c.symbol, c
        assert all(c.name.get(lang) for lang in rd.LANGUAGE_CODES), c
    # no precious metals, test codes or funds
    assert not {"XAU", "XTS", "XXX", "XDR", "USN", "CLF"} & set(idens)


# ------------------------------------------------------------------ languages
def test_languages() -> None:
    langs = rd.languages()
    assert [lg.iden for lg in langs] == ["en", "es", "ca", "it", "eu"]
    assert rd.language("es").name.to_dict() == {
        "en": "Spanish",
        "es": "Español",
        "ca": "Espanyol",
        "it": "Spagnolo",
        "eu": "Gaztelania",
    }
    assert rd.language("eu").name.eu == "Euskara"
    for lg in langs:
        assert all(lg.name.get(x) for x in rd.LANGUAGE_CODES)


# ------------------------------------------------------------------ timezones
def test_timezones() -> None:
    tzs = rd.timezones()
    assert len(tzs) >= 400
    names = [t.tz for t in tzs]
    assert len(set(names)) == len(names)
    assert names[:-1] == sorted(names[:-1]) and names[-1] == "UTC"
    available = zoneinfo.available_timezones()
    codes = {c.code for c in rd.countries()}
    for t in tzs:
        assert t.tz in available, t.tz
        assert t.country is None or t.country in codes, t
        assert t.label.en, t
    assert rd.timezone("Europe/Madrid").country == "ES"
    assert rd.timezone("Europe/Madrid").label.eu == "Madril"
    assert {t.tz for t in rd.timezones_for_country("es")} == {
        "Europe/Madrid",
        "Africa/Ceuta",
        "Atlantic/Canary",
    }
    assert rd.timezone("America/New_York").country == "US"
    assert rd.timezone("UTC").country is None
    # nearly every country has at least one zone
    assert len(codes - {t.country for t in tzs}) <= 3


# ------------------------------------------------------------------- services
SPEC_SERVICES = [  # spec 8.5 (default codes as IvozProvider 3.4 ships them)
    ("DirectPickUp", "94", True),
    ("GroupPickUp", "95", False),
    ("Voicemail", "93", True),
    ("RecordLocution", "00", True),
    ("CloseLock", "70", True),
    ("OpenLock", "71", True),
    ("ToggleLock", "72", True),
    ("CallForwardInconditional", "80", True),
    ("CallForwardBusy", "81", True),
    ("CallForwardNoAnswer", "82", True),
    ("CallForwardUnreachable", "83", True),
]


def test_services_match_spec() -> None:
    assert [(s.iden, s.default_code, s.extra_args) for s in rd.services()] == SPEC_SERVICES
    all_codes = [s.default_code for s in rd.services() + rd.optional_services()]
    assert len(set(all_codes)) == len(all_codes)
    for s in rd.services() + rd.optional_services():
        assert re.fullmatch(r"[0-9]{2,3}", s.default_code)
        assert len(s.iden) <= 50
        for lang in rd.LANGUAGE_CODES:
            assert 0 < len(s.name.get(lang)) <= 50, (s.iden, lang)
            assert 0 < len(s.description.get(lang)) <= 255, (s.iden, lang)
    assert [s.iden for s in rd.optional_services()] == ["QueuePause", "QueueUnpause"]
    assert rd.service("Voicemail").to_api()["defaultCode"] == "93"


# ------------------------------------------------------------------- features
def test_features() -> None:
    idens = [f.iden for f in rd.features()]
    assert idens == [
        "queues",
        "recordings",
        "faxes",
        "friends",
        "conferences",
        "billing",
        "invoices",
        "progress",
        "residential",
        "wholesale",
        "retail",
        "vpbx",
    ]
    assert {f.iden for f in rd.features() if f.scope == "client_type"} == {
        "residential",
        "wholesale",
        "retail",
        "vpbx",
    }
    assert rd.feature("progress").scope == "brand"
    assert all(f.scope in {"client", "client_type", "brand"} for f in rd.features())
    assert rd.feature("queues").name.es == "Colas"


# ---------------------------------------------------- notification templates
def test_notification_templates() -> None:
    tpls = rd.notification_templates()
    types = [t.type for t in tpls]
    assert set(types) == set(rd.NOTIFICATION_TEMPLATE_TYPES) - {"limit"}
    assert {"voicemail", "fax", "lowbalance", "invoice", "callCsv", "maxDailyUsage"} <= set(types)
    for t in tpls:
        assert len(t.name) <= 55
        assert {c.language for c in t.contents} == {"en", "es"}
        for c in t.contents:
            used = set(re.findall(r"\$\{([A-Z_]+)\}", c.subject + c.body))
            assert used, (t.type, c.language)
            assert used <= set(rd.NOTIFICATION_VARIABLES[t.type]), (t.type, used)
            assert c.body_type == "text/plain" and c.from_address and c.from_name
            assert len(c.subject) <= 255
    vm = rd.notification_template("voicemail")
    assert "${VM_NAME}" in vm.content("en").body and "${VM_CIDNUM}" in vm.content("es").subject
    assert vm.content("it") == vm.content("en")


@pytest.mark.skipif(not CONTRACT.exists(), reason="API contract not available")
def test_notification_types_and_i18n_match_contract() -> None:
    defs = json.loads(CONTRACT.read_text())["definitions"]
    assert list(rd.NOTIFICATION_TEMPLATE_TYPES) == defs["NotificationTemplate"]["properties"]["type"]["enum"]
    for d in (
        "Country_Name",
        "Country_Zone",
        "Currency_Name",
        "Language_Name",
        "Service_Name",
        "Feature_Name",
        "Timezone_Label",
    ):
        assert list(defs[d]["properties"]) == list(rd.LANGUAGE_CODES)
    assert set(rd.country("ES").to_api()) <= set(defs["Country"]["properties"])
    assert set(rd.currency("EUR").to_api()) <= set(defs["Currency"]["properties"])
    assert set(rd.service("Voicemail").to_api()) <= set(defs["Service"]["properties"])
    assert set(rd.timezone("UTC").to_api()) <= set(defs["Timezone"]["properties"])


def test_special_numbers_empty_by_default() -> None:
    assert rd.special_numbers() == ()


# -------------------------------------------------------------- general rules
def test_all_records_are_frozen_dataclasses() -> None:
    samples = [
        rd.country("ES"),
        rd.currency("EUR"),
        rd.language("en"),
        rd.timezone("UTC"),
        rd.services()[0],
        rd.features()[0],
        rd.routing_patterns()[0],
        rd.routing_pattern_groups()[0],
        rd.continents()[0],
        rd.notification_templates()[0],
    ]
    for obj in samples:
        assert dataclasses.is_dataclass(obj)
        with pytest.raises(dataclasses.FrozenInstanceError):
            obj.__setattr__(dataclasses.fields(obj)[0].name, "x")


def test_data_modules_are_self_contained() -> None:
    """Runtime data must not import pycountry/phonenumbers/babel (generator-only dependencies)."""
    pkg = ROOT / "src" / "polyvox" / "refdata"
    for path in pkg.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                for m in mods:
                    assert m.split(".")[0] not in {"pycountry", "phonenumbers", "babel", "requests"}, (
                        path,
                        m,
                    )


def test_rebuild_is_deterministic() -> None:
    accessors = (rd.countries, rd.currencies, rd.timezones, rd.routing_patterns, rd.notification_templates)
    before = [f() for f in accessors]
    for f in accessors:
        f.cache_clear()
    after = [f() for f in accessors]
    assert before == after
    assert all(a is not b for a, b in zip(before, after, strict=True))
