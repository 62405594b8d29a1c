"""Numeric transformations (rules.transformations): GenerateRules, DisableGenerateRules,
TransformationRule setters and ValidateRegexCaptureGroups."""

from __future__ import annotations

from typing import Any

from tests.api.write_path.conftest import W


def test_generate_rules(w: W) -> None:
    """Spec 9.7.3: with generateRules the rules come from the set's numbering plan."""
    s = w.create("/transformation_rule_sets", "brand", name={"en": "gen", "es": "gen"}, country=w.country(),
                 internationalCode="00", trunkPrefix="", areaCode="", nationalLen=9, generateRules=True)
    assert s["generateRules"] is False  # DisableGenerateRules
    rules = w.api.get("brand", "/transformation_rules", w.tok("brand"),
                      params={"transformationRuleSet": s["id"], "_pagination": "false"}).json()
    got = {(r["type"], r["matchExpr"], r["replaceExpr"]) for r in rules}
    assert ("callerin", "^(\\+|00)([0-9]+)$", "+\\2") in got
    assert ("calleeout", "^\\+34([0-9]+)$", "\\1") in got
    assert len(rules) == 8
    # regenerating replaces the rules instead of adding to them
    w.update("/transformation_rule_sets", s["id"], "brand", areaCode="94", generateRules=True)
    rules = w.api.get("brand", "/transformation_rules", w.tok("brand"),
                      params={"transformationRuleSet": s["id"], "_pagination": "false"}).json()
    assert len(rules) == 12 and any(r["matchExpr"] == "^([0-9]{7})$" for r in rules)


def test_rule_set_values(w: W) -> None:
    base: dict[str, Any] = {"name": {"en": "x", "es": "x"}, "country": w.country()}
    w.refused("/transformation_rule_sets", "internationalCode", "brand", **base, internationalCode="0")
    w.refused("/transformation_rule_sets", "trunkPrefix", "brand", **base, trunkPrefix="a")
    w.refused("/transformation_rule_sets", "areaCode", "brand", **base, areaCode="123456789", nationalLen=9,
              generateRules=True)


def test_rule_regex_is_valid_and_backrefs_exist(w: W) -> None:
    s = w.create("/transformation_rule_sets", "brand", name={"en": "r", "es": "r"}, country=w.country())
    base: dict[str, Any] = {"transformationRuleSet": s["id"], "type": "callerin", "description": "", "priority": 1}
    w.refused("/transformation_rules", "matchExpr", "brand", **base, matchExpr="^([0-9]+$", replaceExpr="\\1")
    w.refused("/transformation_rules", "replaceExpr", "brand", **base, matchExpr="^([0-9]+)$", replaceExpr="+34\\2")
    w.create("/transformation_rules", "brand", **base, matchExpr="^([0-9]+)$", replaceExpr="+34\\1")


def test_rule_stays_in_its_set(w: W) -> None:
    s1 = w.create("/transformation_rule_sets", "brand", name={"en": "a", "es": "a"}, country=w.country())
    s2 = w.create("/transformation_rule_sets", "brand", name={"en": "b", "es": "b"}, country=w.country())
    r = w.create("/transformation_rules", "brand", transformationRuleSet=s1["id"], type="callerin", description="",
                 priority=1, matchExpr="^1$", replaceExpr="2")
    w.refused("/transformation_rules", "transformationRuleSet", "brand", ident=r["id"], status=403,
              transformationRuleSet=s2["id"])


def test_deleting_a_rule_set_keeps_its_clients(w: W) -> None:
    """Clients, carriers and DDI providers of a deleted set stay, without transformation."""
    from tests.api.write_path.test_carriers import carrier
    from tests.api.write_path.test_companies import company_body

    s = w.create("/transformation_rule_sets", "brand", name={"en": "d", "es": "d"}, country=w.country())
    c = w.create("/companies", "brand", **company_body(w, transformationRuleSet=s["id"]))
    k = carrier(w, transformationRuleSet=s["id"])
    w.delete("/transformation_rule_sets", s["id"], "brand")
    company, car = w.row("Company", c["id"]), w.row("Carrier", k["id"])
    assert company is not None and company["transformationRuleSetId"] is None
    assert car is not None and car["transformationRuleSetId"] is None
