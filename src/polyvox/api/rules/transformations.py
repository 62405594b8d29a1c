"""Numeric transformations (spec 9.7.3): IvozProvider's TransformationRuleSet and
TransformationRule ``sanitizeValues()``/setters and the GenerateRules (GenerateInRules,
GenerateOutRules, DisableGenerateRules) and ValidateRegexCaptureGroups services.

The call path applies the rules as regular expressions (polyvox.domain.numbering): a rule
whose expression does not compile, or whose replacement names a group the expression does not
capture, would break every call that meets it, so it is refused at write time.
"""

from __future__ import annotations

import re

from sqlalchemy import select

from polyvox.api.errors import ApiError, invalid
from polyvox.api.lifecycle import WriteContext, post_persist, pre_persist, pre_remove
from polyvox.api.rules._base import table
from polyvox.domain.numbering import generate_rules


@pre_persist("TransformationRuleSet")
def rule_set_values(ctx: WriteContext) -> None:
    """TransformationRuleSet::sanitizeValues and setters: a set stays generic or the brand's;
    the international code is 2 to 10 digits, the trunk prefix and area code digits."""
    if ctx.old is not None and ctx.changed("brandId"):
        msg = ("Unable to convert a generic numeric transformation into a brand numeric transformation"
               if ctx.value("brandId") is not None else
               "Unable to convert a brand numeric transformation into a generic numeric transformation")
        raise ApiError(403, msg, field="brand")
    ic = ctx.value("internationalCode")
    if ic and not re.fullmatch(r"[0-9]{2,10}", ic):
        raise invalid("internationalCode", "The international code is 2 to 10 digits, e.g. '00'.")
    for col in ("trunkPrefix", "areaCode"):
        v = ctx.value(col)
        if v and not re.fullmatch(r"[0-9]+", v):
            raise invalid(col, "Digits only.")
    if ctx.value("generateRules"):
        if ctx.value("countryId") is None:
            raise invalid("country", "Generating the rules needs the set's country.")
        nlen = ctx.value("nationalLen")
        if nlen is None or not 1 <= int(nlen) <= 15:
            raise invalid("nationalLen", "The national number length is 1 to 15 digits.")
        area = ctx.value("areaCode") or ""
        if area and len(area) >= int(nlen):
            raise invalid("areaCode", "The area code must be shorter than the national number length.")


@post_persist("TransformationRuleSet")
def rule_set_generate(ctx: WriteContext) -> None:
    """TransformationRule/GenerateRules: when ``generateRules`` is set the set's rules are
    replaced by the ones generated from its country, international code, trunk prefix, area
    code and national length, and the flag is cleared (DisableGenerateRules)."""
    if not ctx.value("generateRules"):
        return
    assert ctx.id is not None
    co = table("Country")
    cc = ctx.conn.execute(select(co.c.countryCode).where(co.c.id == ctx.value("countryId"))).scalar()
    try:
        rules = generate_rules(international_code=ctx.value("internationalCode") or "00", country_code=cc or "",
                               trunk_prefix=ctx.value("trunkPrefix") or "", area_code=ctx.value("areaCode") or "",
                               national_len=int(ctx.value("nationalLen") or 9), readd_trunk_prefix=False)
    except ValueError as e:
        raise invalid("generateRules", f"The rules cannot be generated: {e}") from e
    t = table("TransformationRule")
    for rid in [r[0] for r in ctx.conn.execute(select(t.c.id).where(t.c.transformationRuleSetId == ctx.id))]:
        ctx.system.delete("TransformationRule", rid)
    for rule in rules:
        ctx.system.create("TransformationRule", transformationRuleSet=ctx.id, type=rule.type, priority=rule.priority,
                          matchExpr=rule.match_expr, replaceExpr=rule.replace_expr, description=rule.description)
    rs = table("TransformationRuleSet")
    ctx.conn.execute(rs.update().where(rs.c.id == ctx.id).values(generateRules=False))


@pre_persist("TransformationRule")
def rule_values(ctx: WriteContext) -> None:
    """TransformationRule::sanitizeValues and setMatchExpr, ValidateRegexCaptureGroups."""
    if ctx.old is not None and ctx.changed("transformationRuleSetId"):
        raise ApiError(403, "Unable to update transformation rule set value in a transformation rule",
                       field="transformationRuleSet")
    match = ctx.value("matchExpr")
    if match is None:
        raise invalid("matchExpr", "This value should not be blank.")
    try:
        groups = re.compile(match).groups
    except re.error as e:
        raise invalid("matchExpr", f"This value is not a valid regular expression: {e}.") from e
    replace = ctx.value("replaceExpr")
    if replace is None:
        raise invalid("replaceExpr", "This value should not be blank.")
    refs = [int(n) for n in re.findall(r"\\(\d+)", replace)]
    if refs and max(refs) > groups:
        raise invalid("replaceExpr", f"Replace expression contains backreference \\{max(refs)} but match "
                                     f"expression only has {groups} capture groups.")
    if ctx.value("priority") is None:
        raise invalid("priority", "This value should not be blank.")


@pre_remove("TransformationRuleSet")
def rule_set_unlinked(ctx: WriteContext) -> None:
    """IvozProvider's schema unlinks (``on-delete SET NULL``) the clients, carriers and DDI
    providers of a deleted numeric transformation: they stay, without transformation."""
    for entity in ("Company", "Carrier", "DdiProvider"):
        t = table(entity)
        ctx.conn.execute(t.update().where(t.c.transformationRuleSetId == ctx.new["id"])
                         .values(transformationRuleSetId=None))
