"""Reference data of a new platform (spec 7.2, 8.5-8.7, 9.3.2-9.3.3, 9.7.3)."""

from __future__ import annotations

from sqlalchemy.engine import Connection

from polyvox import refdata
from polyvox.db.model import ENTITY
from polyvox.db.seed import find, insert
from polyvox.domain import numbering


def _bulk(conn: Connection, entity: str, rows: list[dict[str, object]]) -> None:
    if rows:
        from polyvox.db.seed import columns

        conn.execute(ENTITY[entity].table.insert(), [columns(entity, r, fit=True) for r in rows])


# Codecs clients may enable (spec 1.3.1, 9.1.3 retail/wholesale transcoding through rtpengine).
CODECS = (
    ("audio", "PCMA", "alaw G.711"), ("audio", "PCMU", "ulaw G.711"), ("audio", "G722", "G.722"),
    ("audio", "G729", "G.729"), ("audio", "GSM", "GSM"), ("audio", "iLBC", "iLBC"), ("audio", "opus", "Opus"),
    ("audio", "speex", "Speex"), ("video", "H264", "H.264"), ("video", "VP8", "VP8"),
)


def load(conn: Connection) -> None:
    _bulk(conn, "Language", [lang.to_api() for lang in refdata.languages()])
    _bulk(conn, "Currency", [c.to_api() for c in refdata.currencies()])
    _bulk(conn, "Country", [c.to_api() for c in refdata.countries()])
    country_ids = {code: find(conn, "Country", code=code) for code in (c.code for c in refdata.countries())}
    _bulk(conn, "Timezone", [{**tz.to_api(), "country": country_ids.get(tz.country) if tz.country else None}
                             for tz in refdata.timezones()])
    _bulk(conn, "Service", [s.to_api() for s in refdata.services()])
    _bulk(conn, "Feature", [f.to_api() for f in refdata.features()])
    for tpl in refdata.notification_templates():
        tid = insert(conn, "NotificationTemplate", **tpl.to_api())
        for content in tpl.contents:
            lang = find(conn, "Language", iden=content.language)
            insert(conn, "NotificationTemplateContent", notificationTemplate=tid, language=lang, **content.to_api())
    _bulk(conn, "Codec", [{"type": t, "iden": i, "name": n} for t, i, n in CODECS])
    load_transformation_sets(conn, country_ids)


def load_transformation_sets(conn: Connection, country_ids: dict[str, int | None]) -> None:
    """One platform-wide numeric transformation set per country (spec 9.7.3), generated rules.

    Generated with international code 00 and neither trunk prefix nor area code, which is
    right for closed numbering plans (Spain's example of 9.7.3); brands copy and adjust the
    set of a country with a trunk prefix or area codes.
    """
    rs = ENTITY["TransformationRuleSet"].table
    rules_rows: list[dict[str, object]] = []
    for c in refdata.countries():
        sid = conn.execute(rs.insert().values(
            nameEn=c.name.en, nameEs=c.name.es, nameCa=c.name.ca, nameIt=c.name.it, nameEu=c.name.eu,
            description=f"Generated rules for {c.name.en} ({c.calling_code})", internationalCode="00",
            trunkPrefix="", areaCode="", nationalLen=9, generateRules=False, countryId=country_ids[c.code],
            brandId=None)).inserted_primary_key[0]  # type: ignore[index]
        for r in numbering.generate_rules(international_code="00", country_code=c.calling_code):
            rules_rows.append({"transformationRuleSet": sid, "type": r.type, "description": r.description,
                               "priority": r.priority, "matchExpr": r.match_expr, "replaceExpr": r.replace_expr})
    _bulk(conn, "TransformationRule", rules_rows)


def load_brand_routing(conn: Connection, brand_id: int, lang: str = "en") -> None:
    """Routing patterns per country and pattern groups per continent of a new brand (spec 9.3.2-9.3.3)."""
    rp = ENTITY["RoutingPattern"].table
    pattern_ids: dict[str, list[int]] = {}
    for seed in refdata.routing_patterns():
        api = seed.to_api()
        row = {"prefix": api["prefix"], "brandId": brand_id}
        for k, v in api["name"].items():
            row["name" + k.capitalize()] = v
        for k, v in api["description"].items():
            row["description" + k.capitalize()] = v
        pid = conn.execute(rp.insert().values(**row)).inserted_primary_key[0]  # type: ignore[index]
        pattern_ids.setdefault(seed.country, []).append(pid)
    rel = ENTITY["RoutingPatternGroupsRelPattern"].table
    for group in refdata.routing_pattern_groups(lang):
        gid = insert(conn, "RoutingPatternGroup", brand=brand_id, **group.to_api())
        rows = [{"routingPatternGroupId": gid, "routingPatternId": pid}
                for code in group.countries for pid in pattern_ids.get(code, [])]
        if rows:
            conn.execute(rel.insert(), rows)
