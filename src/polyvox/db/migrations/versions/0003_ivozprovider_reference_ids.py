"""IvozProvider's reference ids

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07

Integrations written for IvozProvider hard-code reference ids (country 70 is Spain,
currency 1 is EUR, language 1 is Spanish...). Databases seeded before this revision
numbered their reference rows differently (country 70 was Finland). This revision brings
an existing database to the ids of ``polyvox.db.reference.reference_rows()``:

* reference rows are matched by their natural key (country code, language/currency/
  feature/service/codec/terminal iden, time zone name, the type of a brand-less
  notification template, the country of a brand-less transformation rule set...) and
  take the reference id; every column with a foreign key to the table (found in
  ``polyvox.db.model``'s metadata) follows the row;
* rows the reference does not know (a platform's own currency, brand-owned rule sets
  and templates...) keep their id when it is above the reference range and otherwise
  get one above every id in use;
* reference rows the database lacks are inserted (UIFN, the E.164 rule sets,
  QueuePause/QueueUnpause, operatorPanel, the terminal models, ...);
* rows nobody can edit through the API (countries, languages, time zones, codecs) take
  the reference names and codes; the others keep what operators may have changed;
* the rules of a brand-less transformation rule set are replaced by the reference rules
  when they are still the ones Polyvox used to generate; rules an operator changed stay.

Rows move by copy (insert at the new id, re-point the references, delete the old row),
first to temporary ids above everything and then to their final ids, so foreign keys
hold at every statement on SQLite and PostgreSQL alike. PostgreSQL id sequences are reset
afterwards. On an empty database (reference data not loaded yet) and on a database
already numbered this way, it changes nothing.
"""
from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Read-only through the API: their rows take the reference values.
_REFRESHED = {"Country", "Language", "Timezone", "Codec"}


def _idmap_table() -> sa.Table:
    return sa.Table(
        "pv_reference_idmap", sa.MetaData(),
        sa.Column("old_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("new_id", sa.Integer, nullable=False),
        prefixes=["TEMPORARY"],
    )


class _Renumberer:
    def __init__(self, conn: sa.Connection, db: sa.MetaData, children: dict[str, list[tuple[str, str]]]):
        self.conn = conn
        self.db = db
        self.children = children
        self.idmap = _idmap_table()
        self.idmap.create(conn)

    def _apply(self, table: sa.Table, mapping: dict[int, int]) -> None:
        """Move rows old -> new; every new id is free."""
        m, conn = self.idmap, self.conn
        conn.execute(m.delete())
        conn.execute(m.insert(), [{"old_id": o, "new_id": n} for o, n in mapping.items()])
        names = [c.name for c in table.columns if c.name != "id"]
        conn.execute(table.insert().from_select(
            ["id", *names],
            sa.select(m.c.new_id, *[table.c[n] for n in names]).select_from(table.join(m, table.c.id == m.c.old_id))))
        for child_name, col_name in self.children.get(table.name, []):
            child = self.db.tables[child_name]
            col = child.c[col_name]
            conn.execute(child.update().where(col.in_(sa.select(m.c.old_id)))
                         .values({col_name: sa.select(m.c.new_id).where(m.c.old_id == col).scalar_subquery()}))
        conn.execute(table.delete().where(table.c.id.in_(sa.select(m.c.old_id))))

    def move(self, table: sa.Table, moves: dict[int, int]) -> None:
        moves = {o: n for o, n in moves.items() if o != n}
        if not moves:
            return
        top = self.conn.execute(sa.select(sa.func.max(table.c.id))).scalar() or 0
        base = max(top, *moves.values()) + 1
        temp = {old: base + i for i, old in enumerate(sorted(moves))}
        self._apply(table, temp)
        self._apply(table, {temp[old]: new for old, new in moves.items()})

    def drop(self) -> None:
        self.idmap.drop(self.conn)


def _assign(rows: list[Any], ref: list[dict[str, Any]], key: Callable[[Any], Hashable | None],
            top: int) -> tuple[dict[int, int], set[int]]:
    """(old id -> new id for every row, reference ids matched)."""
    by_key: dict[Hashable, int] = {}
    for r in ref:
        k = key(r)
        if k is not None:
            by_key.setdefault(k, r["id"])
    reserved = max((r["id"] for r in ref), default=0)
    nxt = max(reserved, top) + 1
    target: dict[int, int] = {}
    matched: set[int] = set()
    for row in rows:
        k = key(row._mapping)
        new = by_key.get(k) if k is not None else None
        if new is not None and new not in matched:
            matched.add(new)
            target[row.id] = new
        elif row.id > reserved:
            target[row.id] = row.id
        else:
            target[row.id] = nxt
            nxt += 1
    return target, matched


def _old_generated_rules(calling_code: str) -> list[tuple[str, int, str, str]]:
    """The rules the loader generated before this revision for a country (international code 00)."""
    cc = calling_code.lstrip("+")
    rules = []
    for side in ("caller", "callee"):
        rules += [(f"{side}in", 1, r"^(\+|00)([0-9]+)$", r"+\2"), (f"{side}in", 5, r"^([0-9]+)$", f"+{cc}\\1"),
                  (f"{side}out", 3, rf"^\+{cc}([0-9]+)$", r"\1"), (f"{side}out", 4, r"^\+([0-9]+)$", r"00\1")]
    return sorted(rules)


def _rule_content(r: Any) -> tuple[str, int, str, str]:
    return (r["type"], int(r["priority"] or 0), r["matchExpr"] or "", r["replaceExpr"] or "")


def upgrade() -> None:
    from polyvox import refdata
    from polyvox.db.model import ENTITY
    from polyvox.db.model import metadata as model
    from polyvox.db.reference import REFERENCE_ENTITIES, reference_rows, reset_sequences

    conn = op.get_bind()
    countries = ENTITY["Country"].table.name
    if not conn.execute(sa.select(sa.func.count()).select_from(sa.table(countries))).scalar():
        return  # reference data not loaded yet: the loader will number it

    names = {e: ENTITY[e].table.name for e in REFERENCE_ENTITIES}
    children: dict[str, list[tuple[str, str]]] = {}
    for t in model.tables.values():
        for c in t.columns:
            for fk in c.foreign_keys:
                if fk.column.table.name in names.values() and fk.column.name == "id":
                    children.setdefault(fk.column.table.name, []).append((t.name, c.name))
    present = set(sa.inspect(conn).get_table_names())
    children = {k: [(t, c) for t, c in v if t in present] for k, v in children.items()}
    db = sa.MetaData()
    db.reflect(conn, only=sorted({*names.values(), *(t for v in children.values() for t, _c in v)}))
    ref = reference_rows()
    mover = _Renumberer(conn, db, children)

    template_ids = {r["id"] for r in ref["NotificationTemplate"]}
    keys: dict[str, Callable[[Any], Hashable | None]] = {
        "Language": lambda r: r["iden"],
        "Currency": lambda r: r["iden"],
        "Country": lambda r: r["code"],
        "Timezone": lambda r: r["tz"],
        "Service": lambda r: r["iden"],
        "Feature": lambda r: r["iden"],
        "Codec": lambda r: r["iden"],
        "TerminalManufacturer": lambda r: r["iden"],
        "TerminalModel": lambda r: r["iden"],
        "NotificationTemplate": lambda r: r["type"] if r.get("brandId") is None else None,
        "NotificationTemplateContent": lambda r: (r["notificationTemplateId"], r["languageId"])
        if r["notificationTemplateId"] in template_ids else None,
        "TransformationRuleSet": lambda r: None if r.get("brandId") is not None
        else ("country", r["countryId"]) if r["countryId"] is not None else ("name", r["nameEn"]),
    }
    inserted_sets: set[int] = set()
    for entity in REFERENCE_ENTITIES:
        if entity == "TransformationRule":
            continue
        table = db.tables[names[entity]]
        rows = conn.execute(sa.select(table).order_by(table.c.id)).all()
        top = max((r.id for r in rows), default=0)
        target, matched = _assign(rows, ref[entity], keys[entity], top)
        mover.move(table, target)
        cols = set(table.c.keys())
        if entity in _REFRESHED:
            for r in ref[entity]:
                if r["id"] in matched:
                    conn.execute(table.update().where(table.c.id == r["id"])
                                 .values({k: v for k, v in r.items() if k in cols and k != "id"}))
        missing = [{k: v for k, v in r.items() if k in cols} for r in ref[entity] if r["id"] not in matched]
        if missing:
            conn.execute(table.insert(), missing)
        if entity == "TransformationRuleSet":
            inserted_sets = {r["id"] for r in missing}

    # rules of the brand-less transformation rule sets
    sets_t, rules_t = db.tables[names["TransformationRuleSet"]], db.tables[names["TransformationRule"]]
    ref_rules: dict[int, list[dict[str, Any]]] = {}
    for r in ref["TransformationRule"]:
        ref_rules.setdefault(r["transformationRuleSetId"], []).append(r)
    current: dict[int, list[Any]] = {}
    for r in conn.execute(sa.select(rules_t).order_by(rules_t.c.id)):
        current.setdefault(r.transformationRuleSetId, []).append(r._mapping)
    country_code = {c.id: c.calling_code for c in refdata.countries()}
    set_country = dict(conn.execute(sa.select(sets_t.c.id, sets_t.c.countryId)).all())
    replace: set[int] = set(inserted_sets)
    keep_as_is: set[int] = set()
    for s in ref["TransformationRuleSet"]:
        sid = s["id"]
        if sid in inserted_sets:
            continue
        have = current.get(sid, [])
        want = ref_rules.get(sid, [])
        fields = ("id", "type", "description", "priority", "matchExpr", "replaceExpr")
        if [tuple(r[f] for f in fields) for r in have] == [tuple(r[f] for f in fields) for r in want]:
            keep_as_is.add(sid)
            continue
        content = sorted(_rule_content(r) for r in have)
        old = _old_generated_rules(country_code[set_country[sid]]) if set_country.get(sid) in country_code else None
        if content in (old, sorted(_rule_content(r) for r in want)):
            replace.add(sid)
    if replace:
        conn.execute(rules_t.delete().where(rules_t.c.transformationRuleSetId.in_(sorted(replace))))
    reserved = max((r["id"] for r in ref["TransformationRule"]), default=0)
    stay = conn.execute(sa.select(rules_t.c.id, rules_t.c.transformationRuleSetId)).all()
    top = max((r.id for r in stay), default=0)
    nxt = max(reserved, top) + 1
    moves = {}
    for rid, sid in sorted(stay):
        if rid <= reserved and sid not in keep_as_is:
            moves[rid] = nxt
            nxt += 1
    mover.move(rules_t, moves)
    cols = set(rules_t.c.keys())
    fresh = [{k: v for k, v in r.items() if k in cols} for sid in sorted(replace) for r in ref_rules.get(sid, [])]
    if fresh:
        conn.execute(rules_t.insert(), fresh)
    set_cols = set(sets_t.c.keys())
    for s in ref["TransformationRuleSet"]:
        if s["id"] in replace - inserted_sets:
            conn.execute(sets_t.update().where(sets_t.c.id == s["id"])
                         .values({k: v for k, v in s.items() if k in set_cols and k != "id"}))

    mover.drop()
    reset_sequences(conn, names.values())
    # caches of running proxies and application servers hold the old ids
    if "config_version" in present:
        cv = sa.table("config_version", sa.column("id", sa.Integer), sa.column("version", sa.Integer))
        if not conn.execute(cv.update().where(cv.c.id == 1).values(version=cv.c.version + 1)).rowcount:
            conn.execute(cv.insert().values(id=1, version=1))


def downgrade() -> None:
    # The old numbering is not restored: ids are only renumbered forward, no row is lost.
    pass
