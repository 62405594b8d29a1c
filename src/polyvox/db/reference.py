"""Reference data of a new platform (spec 7.2, 8.4-8.7, 9.3.2-9.3.3, 9.7.3), with IvozProvider's ids.

Rows are inserted with explicit ids (see :mod:`polyvox.refdata`), so that an integration
written against IvozProvider finds Spain at country 70, EUR at currency 1, Europe/Madrid
at time zone 145...
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.engine import Connection

from polyvox import refdata
from polyvox.db.model import ENTITY
from polyvox.db.seed import columns

#: Global reference entities, in load order (a row's references come before it).
REFERENCE_ENTITIES: tuple[str, ...] = (
    "Language", "Currency", "Country", "Timezone", "Service", "Feature", "Codec", "TerminalManufacturer",
    "TerminalModel", "NotificationTemplate", "NotificationTemplateContent", "TransformationRuleSet",
    "TransformationRule",
)


def _row(entity: str, ident: int, api: dict[str, Any]) -> dict[str, Any]:
    return {"id": ident, **columns(entity, api, fit=True)}


def reference_rows() -> dict[str, list[dict[str, Any]]]:
    """Every global reference row as table columns, ``id`` included, per entity in load order."""
    country_id = {c.code: c.id for c in refdata.countries()}
    language_id = {lang.iden: lang.id for lang in refdata.languages()}
    rows: dict[str, list[dict[str, Any]]] = {
        "Language": [_row("Language", x.id, x.to_api()) for x in refdata.languages()],
        "Currency": [_row("Currency", x.id, x.to_api()) for x in refdata.currencies()],
        "Country": [_row("Country", x.id, x.to_api()) for x in refdata.countries()],
        "Timezone": [_row("Timezone", x.id, {**x.to_api(), "country": country_id.get(x.country or "")})
                     for x in refdata.timezones()],
        "Service": [_row("Service", x.id, x.to_api()) for x in refdata.services()],
        "Feature": [_row("Feature", x.id, x.to_api()) for x in refdata.features()],
        "Codec": [_row("Codec", x.id, x.to_api()) for x in refdata.codecs()],
        "TerminalManufacturer": [_row("TerminalManufacturer", x.id, x.to_api())
                                 for x in refdata.terminal_manufacturers()],
        "TerminalModel": [_row("TerminalModel", x.id, x.to_api()) for x in refdata.terminal_models()],
        "NotificationTemplate": [_row("NotificationTemplate", t.id, t.to_api())
                                 for t in refdata.notification_templates()],
        "NotificationTemplateContent": [
            _row("NotificationTemplateContent", c.id,
                 {**c.to_api(), "notificationTemplate": t.id, "language": language_id[c.language]})
            for t in refdata.notification_templates() for c in t.contents],
        "TransformationRuleSet": [
            _row("TransformationRuleSet", s.id,
                 {**s.to_api(), "country": country_id[s.country] if s.country else None, "brand": None})
            for s in refdata.transformation_rule_sets()],
        "TransformationRule": [
            _row("TransformationRule", r.id, {**r.to_api(), "transformationRuleSet": s.id})
            for s in refdata.transformation_rule_sets() for r in s.rules],
    }
    assert tuple(rows) == REFERENCE_ENTITIES
    return rows


def reset_sequences(conn: Connection, tables: Iterable[str]) -> None:
    """PostgreSQL: move each table's id sequence past its largest id (rows were inserted with
    explicit ids, which do not advance the sequence). SQLite needs nothing: a new row gets
    max(id) + 1."""
    if conn.dialect.name != "postgresql":
        return
    for table in tables:
        conn.execute(text(
            f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
            f"COALESCE((SELECT MAX(id) FROM \"{table}\"), 0) + 1, false)"))


def load(conn: Connection) -> None:
    for entity, rows in reference_rows().items():
        if rows:
            conn.execute(ENTITY[entity].table.insert(), rows)
    reset_sequences(conn, [ENTITY[e].table.name for e in REFERENCE_ENTITIES])


def load_brand_routing(conn: Connection, brand_id: int) -> None:
    """Routing patterns and pattern groups of a new brand (spec 9.3.2-9.3.3), as IvozProvider's
    UpdateByBrand creates them: one pattern per country of the database, in country id
    order, and one group per zone (its English name) holding its countries' patterns."""
    co = ENTITY["Country"].table
    countries = [
        (r.code, r.countryCode or "",
         refdata.I18nText(r.nameEn or "", r.nameEs or "", r.nameCa or "", r.nameIt or "", r.nameEu or ""),
         r.zoneEn or "")
        for r in conn.execute(select(co).order_by(co.c.id))
    ]
    patterns, groups = refdata.plan_brand_routing(countries)
    if not patterns:
        return
    rp = ENTITY["RoutingPattern"].table
    rows = [{**columns("RoutingPattern", seed.to_api(), fit=True), "brandId": brand_id} for seed in patterns]
    ids = list(conn.execute(rp.insert().returning(rp.c.id, sort_by_parameter_order=True), rows).scalars())
    pattern_id = dict(zip((p.country for p in patterns), ids, strict=True))
    g = ENTITY["RoutingPatternGroup"].table
    group_of: dict[str, int] = {}
    for group in groups:
        gid = conn.execute(g.insert().values(brandId=brand_id, **columns("RoutingPatternGroup", group.to_api(),
                                                                          fit=True))).inserted_primary_key[0]
        for code in group.countries:
            group_of[code] = int(gid)  # type: ignore[arg-type]
    # one relation per pattern, in pattern order (IvozProvider adds each right after its pattern)
    rel = ENTITY["RoutingPatternGroupsRelPattern"].table
    conn.execute(rel.insert(), [{"routingPatternId": pattern_id[p.country], "routingPatternGroupId": group_of[p.country]}
                                for p in patterns])

