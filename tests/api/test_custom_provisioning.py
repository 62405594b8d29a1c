"""Spec 8.4 "Terminal manufacturers" / "Getting technical": default templates and template tests."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from polyvox.api.custom.templating import TemplateError, render
from tests.api.conftest import Api
from tests.api.test_custom_support import add, demo, problem, row, set_

GENERIC = "url={{ provisioning.specificUrl }}/{{ terminalModel.iden|lower }} host={{ serverName }}"
SPECIFIC = ("user={{ terminal.name }} pass={{ terminal.password }} ext={{ extension.number }} "
            "lang={{ language.iden }} domain={{ company.domainUsers }} brand={{ brand.name }}"
            "{% if user.isBoss %} boss{% endif %} secret=[{{ user.pass }}]")


def _model(db: Engine, iden: str = "YealinkT21P", generic: str = GENERIC, specific: str = SPECIFIC) -> int:
    maker = add(db, "TerminalManufacturer", iden=f"m-{iden}", name="Yealink")
    return add(db, "TerminalModel", terminalManufacturer=maker, iden=iden, name=f"{iden} phone",
               genericTemplate=generic, specificTemplate=specific, genericUrlPattern="y000000000044.cfg",
               specificUrlPattern="{mac}.cfg")


def test_default_templates(api: Api, tokens: dict[str, str], db: Engine) -> None:
    model = _model(db)
    r = api.get("platform", f"/terminal_models/{model}/default_template?type=generic", tokens["platform"])
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert "auto_provision.server.url = {{ provisioning.specificUrl }}/" in r.text
    r = api.get("platform", f"/terminal_models/{model}/default_template?type=specific", tokens["platform"])
    assert "account.1.password = {{ terminal.password }}" in r.text
    problem(api.get("platform", f"/terminal_models/{model}/default_template?type=other", tokens["platform"]), 400,
            "type")
    problem(api.get("platform", f"/terminal_models/{model}/default_template", tokens["platform"]), 400, "type")
    unknown = _model(db, iden="HomeMadePhone")
    problem(api.get("platform", f"/terminal_models/{unknown}/default_template?type=generic", tokens["platform"]), 404)
    problem(api.get("platform", "/terminal_models/999999/default_template?type=generic", tokens["platform"]), 404)
    assert api.get("platform", f"/terminal_models/{model}/default_template?type=generic",
                   tokens["brand"]).status_code == 403


def test_every_default_template_renders(api: Api, tokens: dict[str, str], db: Engine) -> None:
    from polyvox.api.custom.provisioning import DEFAULTS

    d = demo(db)
    for i, iden in enumerate(("SPA504G", "YealinkT46G", "SnomD785")):
        generic, specific = DEFAULTS[iden.lower()]
        model = _model(db, iden=iden, generic=generic, specific=specific)
        mac = f"00aabbccdd0{i}"
        set_(db, "Terminal", d.alice_terminal, mac=mac, terminalModelId=model)
        g = api.get("platform", f"/terminal_models/{model}/test_generic_template", tokens["platform"])
        assert g.status_code == 200 and "https://testserver:2443/provision" in g.text
        s = api.get("platform", f"/terminal_models/{model}/test_specific_template?mac={mac}", tokens["platform"])
        assert s.status_code == 200, s.text
        assert "alice" in s.text and "127.0.0.1" in s.text and "English" in s.text


def test_generic_template_test(api: Api, tokens: dict[str, str], db: Engine) -> None:
    model = _model(db)
    r = api.get("platform", f"/terminal_models/{model}/test_generic_template", tokens["platform"])
    assert r.status_code == 200
    assert r.text == "url=https://testserver:2443/provision/yealinkt21p host=testserver"
    broken = _model(db, iden="Broken", generic="ok\n{% if terminalModel.name %}never closed")
    body = problem(api.get("platform", f"/terminal_models/{broken}/test_generic_template", tokens["platform"]), 400,
                   "genericTemplate")
    assert "line 2" in body["detail"]
    problem(api.get("platform", "/terminal_models/999999/test_generic_template", tokens["platform"]), 404)


def test_specific_template_test(api: Api, tokens: dict[str, str], db: Engine) -> None:
    d = demo(db)
    model = _model(db)
    set_(db, "Terminal", d.alice_terminal, mac="aabbccddeeff", terminalModelId=model)
    for mac in ("aabbccddeeff", "AA:BB:CC:DD:EE:FF", "aa-bb-cc-dd-ee-ff"):
        r = api.get("platform", f"/terminal_models/{model}/test_specific_template?mac={mac}", tokens["platform"])
        assert r.status_code == 200, r.text
        assert r.text == "user=alice pass=DEMOalice+101 ext=101 lang=en domain=127.0.0.1 brand=DemoBrand secret=[]"
    # testing does not mark the terminal as provisioned
    assert row(db, "Terminal", d.alice_terminal).lastProvisionDate is None
    problem(api.get("platform", f"/terminal_models/{model}/test_specific_template?mac=xyz", tokens["platform"]),
            400, "mac")
    problem(api.get("platform", f"/terminal_models/{model}/test_specific_template", tokens["platform"]), 400, "mac")
    problem(api.get("platform", f"/terminal_models/{model}/test_specific_template?mac=001122334455",
                    tokens["platform"]), 404)
    other_model = _model(db, iden="YealinkT23P")
    problem(api.get("platform", f"/terminal_models/{other_model}/test_specific_template?mac=aabbccddeeff",
                    tokens["platform"]), 400, "mac")
    # a terminal nobody uses cannot be provisioned
    set_(db, "User", d.alice, terminalId=None)
    problem(api.get("platform", f"/terminal_models/{model}/test_specific_template?mac=aabbccddeeff",
                    tokens["platform"]), 404)


def test_template_language() -> None:
    ctx = {"a": {"b": "x"}, "items": ["p", "q"], "n": 3, "empty": ""}
    assert render("{{ a.b|upper }}-{{ missing }}-{{ empty|default('d') }}", ctx) == "X--d"
    assert render("{% for i in items %}{{ loop.index }}{{ i }}{% if not loop.last %},{% endif %}{% endfor %}",
                  ctx) == "1p,2q"
    assert render("{% if n > 5 %}big{% elseif n == 3 %}three{% else %}other{% endif %}", ctx) == "three"
    assert render("{{ 'a&b'|e }} {{ 'x' ~ n }} {{ items|join('/') }} {{ items|length }}", ctx) == "a&amp;b x3 p/q 2"
    assert render("a\n{%- if true -%}\n b {%- endif %}", ctx) == "ab"
    assert render("{# comment #}{{ 'p' in items }}", ctx) == "1"
    # no way out of the data: attributes of Python objects are not reachable
    assert render("{{ a.__class__ }}{{ a.b.__class__.__mro__ }}{{ items.__len__ }}", ctx) == ""
    for bad in ("{% if a %}", "{{ a | system }}", "{% endfor %}", "{{ a. }}", "{% include 'x' %}", "{{ a",
                "{{ a(1) }}"):
        with pytest.raises(TemplateError):
            render(bad, ctx)
