"""The transformation rule-set read model proxy-users, proxy-trunks and the application server share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, insert
from sqlalchemy.engine import Connection

from polyvox.db.model import ENTITY, metadata
from polyvox.db.read.rule_sets import load_rule_set


@pytest.fixture
def conn() -> Iterator[Connection]:
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    with engine.begin() as c:
        yield c
    engine.dispose()


def test_rule_set_loads_its_rules_and_leaves_out_unknown_kinds(conn: Connection) -> None:
    rs = ENTITY["TransformationRuleSet"].table
    set_id = conn.execute(insert(rs).values(**({"name": "S"} if "name" in rs.c else {}))).inserted_primary_key[0]
    t = ENTITY["TransformationRule"].table
    rows = (("calleein", 1, r"^0034([0-9]+)$", r"+34\1"), ("callerout", 1, r"^\+34", ""),
            ("", 1, ".*", "x"), ("bogus", 1, ".*", "x"))
    for kind, priority, match, replace in rows:
        conn.execute(insert(t).values(transformationRuleSetId=set_id, type=kind, priority=priority,
                                      matchExpr=match, replaceExpr=replace))
    rules = load_rule_set(conn.execute, set_id)
    assert [r.type for r in rules.rules] == ["calleein", "callerout"]
    assert rules.transform("calleein", "0034911").number == "+34911"
    assert load_rule_set(conn.execute, 999).rules == ()
