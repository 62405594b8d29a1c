"""Transformation rule sets (spec 8.10) as :class:`polyvox.domain.numbering.RuleSet`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from polyvox.db.read import Run
from polyvox.domain.numbering import RULE_KINDS, RuleSet, TransformationRule


def _table() -> Any:
    # imported on use: the proxies' scripts load the model only when they first read
    from polyvox.db.model import ENTITY

    return ENTITY["TransformationRule"].table


def load_rule_set(run: Run, set_id: int) -> RuleSet:
    """The rules of the set ``set_id`` (none when the set has no rules or does not exist).
    A row of an unknown kind applies to no number, so it is left out."""
    t = _table()
    rows = run(select(t.c.id, t.c.type, t.c.priority, t.c.matchExpr, t.c.replaceExpr)
               .where(t.c.transformationRuleSetId == set_id).order_by(t.c.id)).all()
    return RuleSet(TransformationRule(type=r.type, priority=int(r.priority or 0), match_expr=r.matchExpr or "",
                                      replace_expr=r.replaceExpr or "", id=r.id)
                   for r in rows if r.type in RULE_KINDS)
