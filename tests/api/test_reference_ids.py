"""Reference data carries IvozProvider 3.4's ids (integrations hard-code them), on a new
database (through the HTTP API) and on a database seeded with the earlier numbering
(revision 0003)."""

from __future__ import annotations

import os
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine, column, func, insert, select, table

from polyvox import refdata as rd
from polyvox.db.engine import alembic_config, make_engine, upgrade
from polyvox.db.model import ENTITY
from polyvox.db.reference import REFERENCE_ENTITIES, reference_rows
from polyvox.refdata import _codecs, _timezones
from tests.api.conftest import Api

PG_ADMIN_URL = os.environ.get("POLYVOX_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def _all(api: Api, level: str, path: str, token: str) -> list[dict[str, Any]]:
    r = api.get(level, path, token, params={"_pagination": "false"})
    assert r.status_code == 200, r.text
    return list(r.json())


# ------------------------------------------------------------------ new database
def test_country_70_is_spain(api: Api, tokens: dict[str, str]) -> None:
    r = api.get("brand", "/countries/70", tokens["brand"])
    assert r.status_code == 200, r.text
    spain = r.json()
    assert (spain["id"], spain["code"], spain["countryCode"]) == (70, "ES", "+34")
    assert spain["name"]["en"] == "Spain" and spain["name"]["es"] == "España"
    assert spain["zone"]["en"] == "Europe"
    assert api.get("brand", "/countries/72", tokens["brand"]).json()["code"] == "FI"
    assert api.get("brand", "/countries/1", tokens["brand"]).json()["code"] == "AD"
    countries = _all(api, "platform", "/countries", tokens["platform"])
    assert {(c["id"], c["code"]) for c in countries} == {(c.id, c.code) for c in rd.countries()}
    assert len(countries) == 250
    uifn = api.get("brand", "/countries/252", tokens["brand"]).json()
    assert (uifn["code"], uifn["countryCode"], uifn["zone"]["en"]) == ("UIFN", "+800", "Universal")


def test_languages_currencies_timezones(api: Api, tokens: dict[str, str]) -> None:
    t = tokens["brand"]
    langs = {x["iden"]: x["id"] for x in _all(api, "brand", "/languages", t)}
    assert langs == {"es": 1, "en": 2, "ca": 3, "it": 4, "eu": 5}
    assert api.get("brand", "/languages/1", t).json()["name"]["en"] == "Spanish"
    cur = {x["iden"]: x for x in _all(api, "brand", "/currencies", t)}
    assert (cur["EUR"]["id"], cur["USD"]["id"], cur["GBP"]["id"]) == (1, 2, 3)
    assert cur["EUR"]["symbol"] == "€" and cur["USD"]["name"]["en"] == "Dollar"
    assert all(c["id"] > 3 for k, c in cur.items() if k not in ("EUR", "USD", "GBP"))
    # rows created later continue after the explicit ids (PostgreSQL sequences were reset)
    r = api.post("platform", "/currencies", tokens["platform"],
                 {"iden": "XTS", "symbol": "X", "name": {lang: "Test" for lang in rd.LANGUAGE_CODES}})
    assert r.status_code == 201, r.text
    assert r.json()["id"] == max(c["id"] for c in cur.values()) + 1
    madrid = api.get("brand", "/timezones/145", t).json()
    assert madrid["tz"] == "Europe/Madrid" and madrid["label"]["eu"] == "Madril"
    tzs = {x["tz"]: x["id"] for x in _all(api, "brand", "/timezones", t)}
    assert tzs["Europe/Andorra"] == 1 and tzs["Africa/Harare"] == 416 and tzs["Europe/Kiev"] == 364
    assert all(tzs[x.tz] == x.id for x in rd.timezones())
    assert min(i for tz, i in tzs.items() if tz in ("UTC", "Europe/Kyiv", "Asia/Yangon")) > 416


def test_features_services_codecs(api: Api, tokens: dict[str, str]) -> None:
    features = {x["iden"]: x["id"] for x in _all(api, "platform", "/features", tokens["platform"])}
    assert features == {"queues": 1, "recordings": 2, "faxes": 3, "friends": 4, "conferences": 5, "billing": 6,
                        "invoices": 7, "progress": 8, "residential": 9, "wholesale": 10, "retail": 11,
                        "vpbx": 12, "operatorPanel": 13}
    services = {x["iden"]: (x["id"], x["defaultCode"]) for x in _all(api, "brand", "/services", tokens["brand"])}
    assert services["DirectPickUp"] == (1, "94") and services["Voicemail"] == (3, "93")
    assert services["CallForwardUnreachable"] == (11, "83")
    assert services["QueuePause"] == (12, "73") and services["QueueUnpause"] == (13, "74")
    codecs = {x["iden"]: x["id"] for x in _all(api, "brand", "/codecs", tokens["brand"])}
    assert (codecs["PCMA"], codecs["PCMU"], codecs["G729"], codecs["AMR-WB"]) == (1, 2, 4, 11)
    assert codecs["H264"] > 11


def test_terminal_manufacturers_and_models(api: Api, tokens: dict[str, str]) -> None:
    t = tokens["platform"]
    makers = {x["iden"]: x["id"] for x in _all(api, "platform", "/terminal_manufacturers", t)}
    assert makers == {"Generic": 1, "Yealink": 2, "Cisco": 3, "Snom": 4}
    models = {x["iden"]: x for x in _all(api, "platform", "/terminal_models", t)}
    assert len(models) == 17
    assert models["Generic"]["id"] == 1
    t21 = api.get("platform", "/terminal_models/4", t).json()
    assert (t21["iden"], t21["terminalManufacturer"]["id"], t21["genericUrlPattern"]) == (
        "YealinkT21P", 2, "y000000000034.cfg")
    assert models["SnomD785"]["id"] == 17 and models["SPA502G"]["id"] == 3


def test_spanish_transformation_rule_set(api: Api, tokens: dict[str, str], db: Engine) -> None:
    sets = {x["id"]: x for x in _all(api, "brand", "/transformation_rule_sets", tokens["brand"])}
    spain = api.get("brand", "/transformation_rule_sets/70", tokens["brand"]).json()
    assert spain["name"]["en"] == "Spain" and spain["country"]["id"] == 70
    assert (spain["internationalCode"], spain["trunkPrefix"], spain["nationalLen"]) == ("00", "", 9)
    assert sets[252]["name"]["en"] == "E.164" and sets[253]["name"]["en"] == "E.164 (w/o plus)"
    t = ENTITY["TransformationRule"].table  # brand-less rules are not served to brands
    with db.connect() as c:
        rules = {r.id: r._mapping for r in c.execute(select(t).where(t.c.transformationRuleSetId == 70))}
    assert sorted(rules) == [195, 450, 832, 1087, 1342, 1724, 1979, 2361, 2620, 2875]
    assert (rules[1724]["type"], rules[1724]["matchExpr"], rules[1724]["replaceExpr"]) == (
        "callerin", "^([0-9]+)$", "+34\\1")
    assert rules[195]["description"] == "From e164 to national"


def test_new_brand_routing_patterns_and_groups(api: Api, tokens: dict[str, str], db: Engine) -> None:
    god = tokens["platform"]
    r = api.post("platform", "/brands", god, {
        "name": "IdsBrand", "language": 1, "defaultTimezone": 145, "currency": 1, "maxCalls": 0,
        "invoice": {"nif": "1", "postalAddress": "a", "postalCode": "1", "town": "t", "province": "p", "country": "c"}})
    assert r.status_code == 201, r.text
    token = api.exchange("brand", god, brandId=r.json()["id"])
    patterns = sorted(_all(api, "brand", "/routing_patterns", token), key=lambda x: x["id"])
    groups = sorted(_all(api, "brand", "/routing_pattern_groups", token), key=lambda x: x["id"])
    # one pattern per country, in IvozProvider's country order, with consecutive ids
    assert [(p["prefix"], p["name"]["en"], p["name"]["es"]) for p in patterns] == [
        (c.country_code, c.name.en, c.name.es) for c in rd.countries()]
    assert [p["id"] for p in patterns] == list(range(patterns[0]["id"], patterns[0]["id"] + 250))
    assert all(p["description"]["en"] == "" for p in patterns)
    # one group per zone, in order of first appearance, named in English as IvozProvider does
    assert [g["name"] for g in groups] == ["Europe", "Asia", "North america", "Africa", "Antarctica",
                                           "South america", "Oceania", "Universal"]
    assert [g["id"] for g in groups] == list(range(groups[0]["id"], groups[0]["id"] + 8))
    rel = ENTITY["RoutingPatternGroupsRelPattern"].table
    with db.connect() as c:
        members = c.execute(select(rel.c.routingPatternId, rel.c.routingPatternGroupId)
                            .where(rel.c.routingPatternGroupId.in_([g["id"] for g in groups])).order_by(rel.c.id)).all()
    assert [m.routingPatternId for m in members] == [p["id"] for p in patterns]
    group_name = {g["id"]: g["name"] for g in groups}
    zone_of = {p["id"]: group_name[gid] for p, (_pid, gid) in zip(patterns, members, strict=True)}
    assert [zone_of[p["id"]] for p in patterns] == [c.zone.en for c in rd.countries()]


# --------------------------------------------------------- migration of old numbering
def _t(entity: str) -> Any:
    return ENTITY[entity].table


def _ins(conn: Any, entity: str, **values: Any) -> int:
    t = _t(entity)
    for k, v in values.items():  # the loader shortened the few CLDR names longer than their column
        length = getattr(t.c[k].type, "length", None)
        if isinstance(v, str) and length and len(v) > length:
            values[k] = v[: length - 1] + "…"
    # the given columns only: the model's later columns (and their defaults) do not exist at old revisions
    lite = table(t.name, column("id"), *[column(k) for k in values])
    return int(conn.execute(insert(lite).values(**values).returning(lite.c.id)).scalar_one())


def _names(prefix: str, text_: rd.I18nText) -> dict[str, str]:
    return {prefix + lang.capitalize(): text_.get(lang) for lang in rd.LANGUAGE_CODES}


def _load_old_numbering(conn: Any) -> dict[str, dict[str, int]]:
    """Reference rows as the loader wrote them before revision 0003: ids in insertion order,
    languages en-es-ca-it-eu, currencies and countries by code, zone.tab zones by name then
    UTC, 249 countries (no UIFN), generated rule sets, no QueuePause/operatorPanel."""
    from polyvox.domain import numbering

    ids: dict[str, dict[str, int]] = {k: {} for k in ("lang", "cur", "country", "tz", "svc", "feat", "codec", "set")}
    for iden in ("en", "es", "ca", "it", "eu"):
        ids["lang"][iden] = _ins(conn, "Language", iden=iden, **_names("name", rd.language(iden).name))
    for c in sorted(rd.currencies(), key=lambda x: x.iden):
        ids["cur"][c.iden] = _ins(conn, "Currency", iden=c.iden, symbol=c.symbol, **_names("name", c.name))
    old_countries = sorted((c for c in rd.countries() if c.code != "UIFN"), key=lambda x: x.code)
    for c in old_countries:
        ids["country"][c.code] = _ins(conn, "Country", code=c.code, countryCode=c.calling_code if c.code == "MF"
                                      else c.country_code, **_names("name", c.name), **_names("zone", c.zone))
    for tz, country, comment, *labels in _timezones.TIMEZONES:
        ids["tz"][tz] = _ins(conn, "Timezone", tz=tz, comment=comment, countryId=ids["country"].get(country or ""),
                             **_names("label", rd.I18nText.of(labels)))
    for s in rd.services():
        if not s.iden.startswith("Queue"):
            ids["svc"][s.iden] = _ins(conn, "Service", iden=s.iden, defaultCode=s.default_code,
                                      extraArgs=s.extra_args, **_names("name", s.name),
                                      **_names("description", s.description))
    for f in rd.features():
        if f.iden != "operatorPanel":
            ids["feat"][f.iden] = _ins(conn, "Feature", iden=f.iden, **_names("name", f.name))
    for tpl in rd.notification_templates():
        tid = _ins(conn, "NotificationTemplate", name=tpl.name, type=tpl.type)
        for content in tpl.contents:
            _ins(conn, "NotificationTemplateContent", notificationTemplateId=tid, languageId=ids["lang"][content.language],
                 subject=content.subject, body=content.body, bodyType=content.body_type,
                 fromName=content.from_name, fromAddress=content.from_address)
    for type_, iden, name in _codecs.CODECS:
        ids["codec"][iden] = _ins(conn, "Codec", type=type_, iden=iden, name=name)
    for c in old_countries:
        sid = _ins(conn, "TransformationRuleSet", **_names("name", c.name), description=f"Generated rules for {c.code}",
                   internationalCode="00", trunkPrefix="", areaCode="", nationalLen=9, generateRules=False,
                   countryId=ids["country"][c.code])
        ids["set"][c.code] = sid
        for r in numbering.generate_rules(international_code="00", country_code=c.calling_code):
            _ins(conn, "TransformationRule", transformationRuleSetId=sid, type=r.type, description=r.description,
                 priority=r.priority, matchExpr=r.match_expr, replaceExpr=r.replace_expr)
    return ids


def _counts(conn: Any) -> dict[str, int]:
    from sqlalchemy import inspect

    from polyvox.db.model import metadata

    present = set(inspect(conn).get_table_names())  # tables of later revisions do not exist yet
    return {t.name: int(conn.execute(select(func.count()).select_from(t)).scalar() or 0)
            for t in metadata.tables.values()
            if t.name in present and t.name != "config_version" and t.name not in {ENTITY[e].table.name for e in REFERENCE_ENTITIES}}


@pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")
def test_migration_renumbers_old_reference_ids(empty_url: str) -> None:
    upgrade(empty_url, "0002")
    eng = make_engine(empty_url)
    try:
        with eng.begin() as c:
            old = _load_old_numbering(c)
            assert old["country"]["ES"] == 68 and old["country"]["FI"] == 70  # the old numbering
            es, en, eur, madrid = old["lang"]["es"], old["lang"]["en"], old["cur"]["EUR"], old["tz"]["Europe/Madrid"]
            spain, spain_rules, france_rules = old["country"]["ES"], old["set"]["ES"], old["set"]["FR"]
            # an operator's own rows
            xts = _ins(c, "Currency", iden="XTS", symbol="X", nameEn="Test", nameEs="Test", nameCa="Test",
                       nameIt="Test", nameEu="Test")
            yealink = _ins(c, "TerminalManufacturer", iden="Yealink", name="Yealink", description="")
            t21 = _ins(c, "TerminalModel", iden="YealinkT21P", name="T21P", description="",
                       terminalManufacturerId=yealink)
            own_model = _ins(c, "TerminalModel", iden="MyPhone", name="My phone", description="",
                             terminalManufacturerId=yealink)
            brand = _ins(c, "Brand", name="B", languageId=es, currencyId=eur, defaultTimezoneId=madrid,
                         voicemailNotificationTemplateId=1)
            company = _ins(c, "Company", name="C", type="vpbx", brandId=brand, countryId=spain,
                           transformationRuleSetId=spain_rules, languageId=en, currencyId=xts,
                           defaultTimezoneId=madrid)
            brand_set = _ins(c, "TransformationRuleSet", nameEn="Mine", nameEs="Mine", nameCa="Mine", nameIt="Mine",
                             nameEu="Mine", brandId=brand, countryId=spain, internationalCode="00")
            assert brand_set == 250
            brand_rule = _ins(c, "TransformationRule", transformationRuleSetId=brand_set, type="callerin",
                              description="mine", priority=1, matchExpr="^9(.*)$", replaceExpr="+34\\1")
            france_rule = c.execute(select(_t("TransformationRule").c.id).where(
                _t("TransformationRule").c.transformationRuleSetId == france_rules).limit(1)).scalar()
            c.execute(_t("TransformationRule").update().where(_t("TransformationRule").c.id == france_rule)
                      .values(replaceExpr="0033\\1"))  # an operator's change: France keeps its rules
            _ins(c, "Ddi", ddi="944000000", countryId=spain, companyId=company, brandId=brand, languageId=es)
            _ins(c, "User", name="U", email="u@example.com", companyId=company, timezoneId=madrid, languageId=es)
            term_t21 = _ins(c, "Terminal", name="t21", companyId=company, terminalModelId=t21)
            term_own = _ins(c, "Terminal", name="own", companyId=company, terminalModelId=own_model)
            for iden, sid in old["svc"].items():
                _ins(c, "BrandService", brandId=brand, serviceId=sid, code=iden[:3])
            for fid in old["feat"].values():
                _ins(c, "FeaturesRelBrand", brandId=brand, featureId=fid)
            _ins(c, "CompanyRelCodec", companyId=company, codecId=old["codec"]["PCMA"])
            _ins(c, "CompanyRelCodec", companyId=company, codecId=old["codec"]["H264"])
            own_tpl = _ins(c, "NotificationTemplate", name="Mine", type="voicemail", brandId=brand)
            own_content = _ins(c, "NotificationTemplateContent", notificationTemplateId=own_tpl, languageId=es,
                               subject="s", body="b", bodyType="text/plain")
            assert own_content == 17
            before = _counts(c)

        upgrade(empty_url, "0003")

        T = _t
        with eng.connect() as c:
            def one(q: Any) -> Any:
                return c.execute(q).one()

            # reference tables are IvozProvider's, plus the operator's own rows
            ref = reference_rows()
            for entity in ("Country", "Language", "Timezone", "Service", "Feature", "Codec", "NotificationTemplate"):
                t = T(entity)
                got = {r.id for r in c.execute(select(t.c.id).where(t.c.id <= max(x["id"] for x in ref[entity])))}
                assert got == {x["id"] for x in ref[entity]}, entity
            country = {r.code: r.id for r in c.execute(select(T("Country").c.code, T("Country").c.id))}
            assert country == {x.code: x.id for x in rd.countries()}
            assert one(select(T("Country").c.countryCode).where(T("Country").c.code == "MF"))[0] == "+1599"
            # every reference followed its row
            b = one(select(T("Brand")).where(T("Brand").c.id == brand))
            assert (b.languageId, b.currencyId, b.defaultTimezoneId, b.voicemailNotificationTemplateId) == (1, 1, 145, 1)
            co = one(select(T("Company")).where(T("Company").c.id == company))
            assert (co.countryId, co.transformationRuleSetId, co.languageId, co.defaultTimezoneId) == (70, 70, 2, 145)
            new_xts = one(select(T("Currency").c.id).where(T("Currency").c.iden == "XTS"))[0]
            assert co.currencyId == new_xts and new_xts > 153
            d = one(select(T("Ddi").c.countryId, T("Ddi").c.languageId))
            assert tuple(d) == (70, 1)
            u = one(select(T("User").c.timezoneId, T("User").c.languageId))
            assert tuple(u) == (145, 1)
            tm = {r.iden: (r.id, r.terminalManufacturerId) for r in c.execute(select(T("TerminalModel")))}
            assert tm["YealinkT21P"] == (4, 2) and tm["MyPhone"][0] > 17 and tm["MyPhone"][1] == 2
            assert len(tm) == 18
            terms = dict(c.execute(select(T("Terminal").c.id, T("Terminal").c.terminalModelId)).all())
            assert terms[term_t21] == 4 and terms[term_own] == tm["MyPhone"][0]
            svc = T("Service")
            brand_services = {r.iden for r in c.execute(select(svc.c.iden).select_from(
                T("BrandService").join(svc, svc.c.id == T("BrandService").c.serviceId)))}
            assert brand_services == set(old["svc"])
            feat = T("Feature")
            assert {r.iden for r in c.execute(select(feat.c.iden).select_from(
                T("FeaturesRelBrand").join(feat, feat.c.id == T("FeaturesRelBrand").c.featureId)))} == set(old["feat"])
            assert sorted(r[0] for r in c.execute(select(T("CompanyRelCodec").c.codecId))) == [1, 12]
            assert one(select(svc.c.id).where(svc.c.iden == "QueuePause"))[0] == 12
            # Spain's generated rules became IvozProvider's; France's changed rules stayed
            rules = T("TransformationRule")
            spain_now = {r.id for r in c.execute(select(rules.c.id).where(rules.c.transformationRuleSetId == 70))}
            assert spain_now == {r.id for r in rd.transformation_rule_set("ES").rules}
            sets = T("TransformationRuleSet")
            spain_set = one(select(sets).where(sets.c.id == 70))
            assert (spain_set.countryId, spain_set.nameEn, spain_set.description) == (
                70, "Spain", "Generic transformation for Spain")
            france = rd.transformation_rule_set("FR").id
            france_now = c.execute(select(rules).where(rules.c.transformationRuleSetId == france)).all()
            assert len(france_now) == 8 and all(r.id > 2875 for r in france_now)
            assert "0033\\1" in {r.replaceExpr for r in france_now}
            own = one(select(sets).where(sets.c.nameEn == "Mine"))
            assert own.brandId == brand and own.countryId == 70 and own.id > 253
            mine = one(select(rules).where(rules.c.description == "mine"))
            assert mine.transformationRuleSetId == own.id and mine.id > 2875 and mine.id != brand_rule
            assert one(select(func.count()).select_from(sets).where(sets.c.id.in_([252, 253])))[0] == 2
            nt = T("NotificationTemplateContent")
            own_now = one(select(nt).where(nt.c.notificationTemplateId == own_tpl))
            assert own_now.id > 28 and own_now.languageId == 1
            vm_contents = dict(c.execute(select(nt.c.languageId, nt.c.id).where(nt.c.notificationTemplateId == 1)).all())
            assert vm_contents == {1: 1, 2: 2}  # IvozProvider's (voicemail, es) and (voicemail, en)
            # no row of any other table was lost
            assert _counts(c) == before
        # sequences continue above the explicit ids
        with eng.begin() as c:
            new_id = _ins(c, "Currency", iden="XBT", symbol="B", nameEn="B", nameEs="B", nameCa="B", nameIt="B",
                          nameEu="B")
            assert new_id > new_xts
            c.execute(T("Currency").delete().where(T("Currency").c.id == new_id))
            snapshot = _reference_snapshot(c)
        # running the revision again changes nothing
        command.downgrade(alembic_config(empty_url), "0002")
        upgrade(empty_url, "0003")
        with eng.connect() as c:
            assert _reference_snapshot(c) == snapshot
    finally:
        eng.dispose()


def _reference_snapshot(conn: Any) -> dict[str, list[tuple[Any, ...]]]:
    return {e: [tuple(r) for r in conn.execute(select(_t(e)).order_by(_t(e).c.id))] for e in REFERENCE_ENTITIES}


def test_migration_is_a_no_op_on_a_new_database(db: Engine) -> None:
    url = db.url.render_as_string(hide_password=False)
    with db.connect() as c:
        before = _reference_snapshot(c)
        others = _counts(c)
    command.downgrade(alembic_config(url), "0002")
    upgrade(url)
    with db.connect() as c:
        assert _reference_snapshot(c) == before
        assert _counts(c) == others
