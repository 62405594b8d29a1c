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
# IvozProvider's Countries.countryCode values that are not the country's calling code (kept for compatibility)
IVOZ_COUNTRY_CODES = {"MF": "+1599", "PN": "+870", "PR": "+1"}


def test_country_count_and_shape() -> None:
    cs = rd.countries()
    assert len(cs) == 250
    assert len({c.code for c in cs}) == len(cs) and len({c.id for c in cs}) == len(cs)
    assert [c.id for c in cs] == sorted(c.id for c in cs)
    zones = {"Africa", "Antarctica", "Asia", "Europe", "North america", "Oceania", "South america", "Universal"}
    for c in cs:
        assert re.fullmatch(r"[A-Z]{2}", c.code) or c.code == "UIFN"
        assert E164_PREFIX.match(c.calling_code), c
        assert c.country_code.startswith(c.calling_code) or IVOZ_COUNTRY_CODES[c.code] == c.country_code, c
        assert c.continent in {k.code for k in rd.continents()} or c.code == "UIFN", c
        assert c.zone.en in zones, c
        for lang in rd.LANGUAGE_CODES:
            assert c.name.get(lang), (c.code, lang)
            assert c.zone.get(lang), (c.code, lang)


def test_well_known_countries() -> None:
    es = rd.country("ES")
    assert es.id == 70 and rd.country("FI").id == 72 and rd.country("AD").id == 1
    assert es.country_code == es.calling_code == "+34"
    assert es.continent == "EU" and es.zone.en == "Europe" and es.zone.es == "Europa"
    assert es.name.en == "Spain" and es.name.es == "España" and es.name.eu == "Espainia"
    us = rd.country("us")
    assert us.country_code == "+1" and us.continent == "NA" and us.zone.en == "North america"
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
    assert rd.country("MF").country_code == "+1599" and rd.country("MF").calling_code == "+590"
    uifn = rd.country("UIFN")
    assert (uifn.id, uifn.country_code, uifn.zone.en, uifn.continent) == (252, "+800", "Universal", None)
    with pytest.raises(KeyError):
        rd.country("XX")


def test_countries_sorted_and_deterministic() -> None:
    ids = [c.id for c in rd.countries()]
    assert ids == sorted(ids) and ids[0] == 1 and ids[-1] == 252 and 62 not in ids
    assert rd.countries() is rd.countries()
    assert {c.code for c in rd.countries_by_calling_code("+44")} == {"GB", "GG", "IM", "JE"}
    assert {c.code for c in rd.countries_by_calling_code("7")} == {"RU", "KZ"}


def test_country_to_api_matches_contract_fields() -> None:
    api = rd.country("ES").to_api()
    assert api == {
        "code": "ES",
        "countryCode": "+34",
        "name": {"en": "Spain", "es": "España", "ca": "España", "it": "Spain", "eu": "Espainia"},
        "zone": {"en": "Europe", "es": "Europa", "ca": "Europa", "it": "Europe", "eu": "Europa"},
    }


# ----------------------------------------------------------- routing patterns
def test_routing_patterns_one_per_country_in_id_order() -> None:
    rps = rd.routing_patterns()
    assert [(rp.country, rp.prefix, rp.name) for rp in rps] == [(c.code, c.country_code, c.name) for c in rd.countries()]
    assert all(rp.description == rd.I18nText.same("") for rp in rps)
    assert rd.routing_patterns() == rps


def test_routing_pattern_groups_per_zone_in_order_of_appearance() -> None:
    groups = rd.routing_pattern_groups()
    assert [g.name for g in groups] == [
        "Europe",
        "Asia",
        "North america",
        "Africa",
        "Antarctica",
        "South america",
        "Oceania",
        "Universal",
    ]
    seen: list[str] = []
    for g in groups:
        assert g.countries, g.name
        assert all(rd.country(code).zone.en == g.name for code in g.countries)
        seen += g.countries
    assert sorted(seen) == sorted(c.code for c in rd.countries())
    europe = groups[0]
    assert "ES" in europe.countries and "TR" in europe.countries
    assert rd.routing_pattern_groups() == groups


def test_plan_brand_routing_follows_the_given_countries() -> None:
    name = rd.I18nText.same
    patterns, groups = rd.plan_brand_routing(
        [("ES", "+34", name("Spain"), "Europe"), ("MA", "+212", name("Morocco"), "Africa"),
         ("FR", "+33", name("France"), "Europe")])
    assert [p.prefix for p in patterns] == ["+34", "+212", "+33"]
    assert [(g.name, g.countries) for g in groups] == [("Europe", ("ES", "FR")), ("Africa", ("MA",))]


# ----------------------------------------------------------------- currencies
def test_currencies() -> None:
    cur = rd.currencies()
    assert len(cur) >= 150
    idens = [c.iden for c in cur]
    assert len(set(idens)) == len(idens)
    assert [(c.id, c.iden) for c in cur[:3]] == [(1, "EUR"), (2, "USD"), (3, "GBP")]
    assert [c.id for c in cur] == list(range(1, len(cur) + 1))
    assert rd.currency("EUR").symbol == "€"
    assert rd.currency("USD").symbol == "$"
    assert rd.currency("gbp").symbol == "£"
    assert rd.currency("EUR").name.es == "Euro"
    assert rd.currency("USD").name.es == "Dólar" and rd.currency("JPY").name.es == "Yen japonés"
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
    assert [(lg.id, lg.iden) for lg in langs] == [(1, "es"), (2, "en"), (3, "ca"), (4, "it"), (5, "eu")]
    assert rd.language("es").name.to_dict() == {
        "en": "Spanish",
        "es": "Español",
        "ca": "Castellà",
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
    assert [t.id for t in tzs] == list(range(1, len(tzs) + 1))
    assert rd.timezone("Europe/Madrid").id == 145 and rd.timezone("Europe/Kiev").id == 364
    assert rd.timezone("Europe/Kiev").label.en == "Kyiv"  # IvozProvider's name, CLDR's label of the renamed zone
    assert min(rd.timezone(tz).id for tz in ("UTC", "Europe/Kyiv", "Asia/Yangon")) > 416
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
    ("QueuePause", "73", False),  # added by IvozProvider 3.4.1's migrations
    ("QueueUnpause", "74", False),
]


def test_services_match_spec() -> None:
    assert [(s.iden, s.default_code, s.extra_args) for s in rd.services()] == SPEC_SERVICES
    assert [s.id for s in rd.services()] == list(range(1, 14))
    all_codes = [s.default_code for s in rd.services()]
    assert len(set(all_codes)) == len(all_codes)
    for s in rd.services():
        assert re.fullmatch(r"[0-9]{2,3}", s.default_code)
        assert len(s.iden) <= 50
        for lang in rd.LANGUAGE_CODES:
            assert 0 < len(s.name.get(lang)) <= 50, (s.iden, lang)
            assert 0 < len(s.description.get(lang)) <= 255, (s.iden, lang)
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
        "operatorPanel",
    ]
    assert [f.id for f in rd.features()] == list(range(1, 14))
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


# ------------------------------------------- IvozProvider rows Polyvox adopts
def test_transformation_rule_sets() -> None:
    sets = rd.transformation_rule_sets()
    assert len(sets) == 251 and [s.id for s in sets] == sorted(s.id for s in sets)
    spain = rd.transformation_rule_set("es")
    assert (spain.id, spain.name.en, spain.international_code, spain.trunk_prefix, spain.national_len) == (
        70, "Spain", "00", "", 9)
    assert [r.id for r in spain.rules] == [195, 450, 832, 1087, 1342, 1724, 1979, 2361, 2620, 2875]
    assert {r.type for r in spain.rules} == {"callerin", "calleein", "callerout", "calleeout"}
    assert {(s.id, s.name.en, s.country) for s in sets if s.country is None} == {
        (252, "E.164", None), (253, "E.164 (w/o plus)", None)}
    assert rd.transformation_rule_set("CG").name.en == "Congo Brazaville"  # IvozProvider migration 20220715093144
    for s in sets:
        for r in s.rules:
            re.compile(r.match_expr)
            assert r.type in {"callerin", "calleein", "callerout", "calleeout"}


def test_codecs_terminals_and_template_ids() -> None:
    assert [(c.id, c.iden) for c in rd.codecs()[:3]] == [(1, "PCMA"), (2, "PCMU"), (3, "GSM")]
    assert rd.codec("H264").id > 11 and rd.codec("H264").type == "video"
    assert [(m.id, m.iden) for m in rd.terminal_manufacturers()] == [
        (1, "Generic"), (2, "Yealink"), (3, "Cisco"), (4, "Snom")]
    t21 = rd.terminal_model("YealinkT21P")
    assert (t21.id, t21.manufacturer, t21.generic_url_pattern, t21.generic_template) == (
        4, 2, "y000000000034.cfg", None)
    assert len(rd.terminal_models()) == 17
    ids = {t.type: t.id for t in rd.notification_templates()}
    assert ids == {"voicemail": 1, "fax": 2, "lowbalance": 3, "invoice": 4, "callCsv": 5, "maxDailyUsage": 6,
                   "accessCredentials": 7, "onDemandRecord": 8}
    vm = rd.notification_template("voicemail")
    assert {c.language: c.id for c in vm.contents} == {"es": 1, "en": 2}


GIT_MIRROR = Path("/work/.mirror/irontec+ivozprovider/repo")


@pytest.mark.skipif(not GIT_MIRROR.exists(), reason="IvozProvider git mirror not available")
def test_generated_ivozprovider_modules_are_current() -> None:
    import subprocess
    import sys

    r = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_refdata_ivozprovider.py"), "--check",
                        "--repo", str(GIT_MIRROR)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


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
    accessors = (rd.countries, rd.currencies, rd.timezones, rd.transformation_rule_sets, rd.notification_templates)
    before = [f() for f in accessors]
    for f in accessors:
        f.cache_clear()
    after = [f() for f in accessors]
    assert before == after
    assert all(a is not b for a, b in zip(before, after, strict=True))
