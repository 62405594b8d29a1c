"""Terminal provisioning templates (spec 8.4 "Terminal manufacturers", "Getting technical").

A terminal model has a *generic* template (the static file every terminal of the model
requests first, over HTTP) and a *specific* one (the file of one terminal, requested over
HTTPS on the provisioning port with its MAC in the name). The platform portal can restore a
model's default templates and test both:

* ``GET /terminal_models/{id}/default_template?type=generic|specific`` returns Polyvox's
  default template for the model's ``iden`` (text/plain; 404 when Polyvox has none).
* ``GET /terminal_models/{id}/test_generic_template`` renders the stored generic template.
* ``GET /terminal_models/{id}/test_specific_template?mac=...`` renders the stored specific
  template for the terminal of that model with that MAC (case and ``:``/``-`` separators
  ignored, spec 8.4.3). Testing does not update the terminal's ``lastProvisionDate``.

Templates use the safe Twig-like language of :mod:`polyvox.api.custom.templating`. Their
variables (every field by its API name, value objects nested: ``language.name.en``,
``brand.invoice.nif``; relations as ids):

* generic: ``terminalModel``, ``serverName`` (host of the request), ``provisioning``
  (``genericUrl``, ``specificUrl``, ``specificPort``);
* specific: the same plus ``terminal``, ``user`` (without its password), ``extension``,
  ``language`` (the user's, else the client's), ``company``, ``brand``.

A syntax error is a 400 naming the template field and the line.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import PlainTextResponse, Response
from sqlalchemy import select
from sqlalchemy.engine import Connection

from polyvox.api.custom.common import Add, resource, route
from polyvox.api.custom.portal import host_of
from polyvox.api.custom.templating import TemplateError, render
from polyvox.api.engine import check_privilege, to_json_value
from polyvox.api.errors import ApiError, invalid
from polyvox.db import policy
from polyvox.db.model import ENTITY

if TYPE_CHECKING:
    from polyvox.api.app import LevelApi

SPECIFIC_PORT = 2443  # "PROV_PORT" of spec 8.4.3, IvozProvider's default
TEXT = {"text/plain": {"schema": {"type": "string"}}}


def _t(name: str) -> Any:
    return ENTITY[name].table


def register(api: LevelApi, add: Add) -> None:
    if api.level != "platform":
        return
    res = resource(api, "TerminalModel")

    def model(c: Connection, p: Any, ident: str) -> Any:
        check_privilege(c, p, res, "get")
        return api.engine.fetch(c, res, p, ident)

    def default_template(ident: str, request: Request) -> Response:
        p = api.principal(request)
        kind = request.query_params.get("type")
        if kind not in ("generic", "specific"):
            raise invalid("type", "The value you selected is not a valid choice (generic, specific).")
        row = api.run(lambda c: model(c, p, ident))
        text = default_for(row.iden or "", kind)
        if text is None:
            raise ApiError(404, f"No default {kind} template for terminal model '{row.iden}'.")
        return PlainTextResponse(text)

    def test_generic(ident: str, request: Request) -> Response:
        p = api.principal(request)

        def do(c: Connection) -> str:
            row = model(c, p, ident)
            ctx = {"terminalModel": entity_dict("TerminalModel", row), **_server(request)}
            return _render(row.genericTemplate, ctx, "genericTemplate")

        return PlainTextResponse(api.run(do))

    def test_specific(ident: str, request: Request) -> Response:
        p = api.principal(request)
        raw = request.query_params.get("mac")
        if not raw:
            raise invalid("mac", "This value should not be blank.")
        mac = normalize_mac(raw)
        if mac is None:
            raise invalid("mac", "This value is not a valid MAC address (12 hexadecimal digits).")

        def do(c: Connection) -> str:
            row = model(c, p, ident)
            ctx = specific_context(c, row, mac)
            ctx.update(_server(request))
            return _render(row.specificTemplate, ctx, "specificTemplate")

        return PlainTextResponse(api.run(do))

    route(api, add, "get", "/terminal_models/{ident}/default_template", default_template,
          "Polyvox's default generic or specific template for this terminal model",
          params=[{"name": "type", "required": True, "schema": {"type": "string", "enum": ["generic", "specific"]}}],
          responses={"200": {"description": "TerminalModel default template", "content": TEXT},
                     "400": {"description": "Invalid type"}, "404": {"description": "Resource not found"}})
    route(api, add, "get", "/terminal_models/{ident}/test_generic_template", test_generic,
          "Render the generic template of this terminal model",
          responses={"200": {"description": "parsed generic template", "content": TEXT},
                     "400": {"description": "Template error"}, "404": {"description": "Resource not found"}})
    route(api, add, "get", "/terminal_models/{ident}/test_specific_template", test_specific,
          "Render the specific template for the terminal of this model with the given MAC",
          params=[{"name": "mac", "required": True}],
          responses={"200": {"description": "parsed specific template", "content": TEXT},
                     "400": {"description": "Invalid MAC or template error"},
                     "404": {"description": "Resource not found"}})


def _server(request: Request) -> dict[str, Any]:
    host = host_of(request)
    return {"serverName": host, "provisioning": {
        "genericUrl": f"http://{host}/provision", "specificUrl": f"https://{host}:{SPECIFIC_PORT}/provision",
        "specificPort": SPECIFIC_PORT}}


def _render(template: str | None, ctx: dict[str, Any], fname: str) -> str:
    try:
        return render(template or "", ctx)
    except TemplateError as e:
        raise invalid(fname, str(e)) from e


def normalize_mac(raw: str) -> str | None:
    mac = re.sub(r"[:\-.\s]", "", raw).lower()
    return mac if re.fullmatch(r"[0-9a-f]{12}", mac) else None


def entity_dict(entity: str, row: Any) -> dict[str, Any]:
    """A row as template data: API field names, value objects nested, secrets left out."""
    m = row._mapping
    out: dict[str, Any] = {"id": m["id"]}
    for name, f in ENTITY[entity].fields.items():
        if (entity, name) in policy.PASSWORD_FIELDS:
            continue
        if f.kind == "scalar" and f.column:
            out[name] = to_json_value(f, m[f.column])
        elif f.kind == "ref" and f.column:
            out[name] = m[f.column]
        elif f.kind == "group":
            out[name] = {k: to_json_value(mf, m[mf.column]) for k, mf in f.members.items() if mf.column}
    return out


def _one(c: Connection, entity: str, ident: int | None) -> Any:
    if ident is None:
        return None
    t = _t(entity)
    return c.execute(select(t).where(t.c.id == ident)).first()


def specific_context(c: Connection, model_row: Any, mac: str) -> dict[str, Any]:
    term = _t("Terminal")
    candidates = [r for r in c.execute(select(term).where(term.c.mac.is_not(None)))
                  if normalize_mac(r.mac or "") == mac]
    if not candidates:
        raise ApiError(404, f"Terminal not found with mac {mac}")
    terminal = next((r for r in candidates if r.terminalModelId == model_row.id), None)
    if terminal is None:
        raise invalid("mac", "The terminal with this MAC uses another terminal model.")
    u = _t("User")
    user = c.execute(select(u).where(u.c.terminalId == terminal.id).order_by(u.c.id)).first()
    if user is None:
        raise ApiError(404, "User not found: no user uses this terminal")
    extension = _one(c, "Extension", user.extensionId)
    if extension is None:
        raise ApiError(404, "Extension not found: the terminal's user has no extension")
    company = _one(c, "Company", terminal.companyId)
    brand = _one(c, "Brand", company.brandId if company is not None else None)
    language = _one(c, "Language", user.languageId or (company.languageId if company is not None else None))
    return {
        "terminalModel": entity_dict("TerminalModel", model_row),
        "terminal": entity_dict("Terminal", terminal),
        "user": entity_dict("User", user),
        "extension": entity_dict("Extension", extension),
        "language": entity_dict("Language", language) if language is not None else {},
        "company": entity_dict("Company", company) if company is not None else {},
        "brand": entity_dict("Brand", brand) if brand is not None else {},
    }


# ---------------------------------------------------------------------------------------------
# default templates (Polyvox's own, for the models IvozProvider ships)

_CISCO_GENERIC = """<flat-profile>
<Provision_Enable>Yes</Provision_Enable>
<Resync_On_Reset>Yes</Resync_On_Reset>
<Resync_Periodic>3600</Resync_Periodic>
<Resync_Error_Retry_Delay>600</Resync_Error_Retry_Delay>
<Profile_Rule>{{ provisioning.specificUrl }}/{{ terminalModel.iden|lower }}/$MA.cfg</Profile_Rule>
<Primary_NTP_Server>pool.ntp.org</Primary_NTP_Server>
<Default_Character_Encoding>UTF-8</Default_Character_Encoding>
</flat-profile>
"""

_CISCO_SPECIFIC = """<flat-profile>
<User_ID_1_>{{ terminal.name|e }}</User_ID_1_>
<Password_1_>{{ terminal.password|e }}</Password_1_>
<Use_Auth_ID_1_>No</Use_Auth_ID_1_>
<Auth_ID_1_>{{ terminal.name|e }}</Auth_ID_1_>
<Display_Name_1_>{{ user.name|e }}</Display_Name_1_>
<Short_Name_1_>{{ user.name|e }}</Short_Name_1_>
<Station_Name>Ext: {{ extension.number }}</Station_Name>
<Proxy_1_>{{ company.domainUsers }}:5060</Proxy_1_>
<Language_Selection>{{ language.name.en }}</Language_Selection>
<Resync_At__HHmm_>0300</Resync_At__HHmm_>
</flat-profile>
"""

_YEALINK_GENERIC = """#!version:1.0.0.1
auto_provision.server.url = {{ provisioning.specificUrl }}/
auto_provision.repeat.enable = 1
auto_provision.repeat.minutes = 1440
local_time.ntp_server1 = pool.ntp.org
"""

_YEALINK_SPECIFIC = """#!version:1.0.0.1
account.1.enable = 1
account.1.label = {{ user.name }}
account.1.display_name = {{ user.name }} {{ user.lastname }}
account.1.user_name = {{ terminal.name }}
account.1.auth_name = {{ terminal.name }}
account.1.password = {{ terminal.password }}
account.1.sip_server.1.address = {{ company.domainUsers }}
account.1.sip_server.1.port = 5060
lang.gui = {{ language.name.en }}
lang.wui = {{ language.name.en }}
"""

_SNOM_GENERIC = """<?xml version="1.0" encoding="utf-8"?>
<setting-files>
  <file url="{{ provisioning.specificUrl }}/{{ terminalModel.iden|lower }}/{mac}.xml"/>
</setting-files>
"""

_SNOM_SPECIFIC = """<?xml version="1.0" encoding="utf-8"?>
<settings>
  <phone-settings>
    <user_active idx="1" perm="R">on</user_active>
    <user_realname idx="1" perm="R">{{ user.name|e }} {{ user.lastname|e }}</user_realname>
    <user_name idx="1" perm="R">{{ terminal.name|e }}</user_name>
    <user_pass idx="1" perm="R">{{ terminal.password|e }}</user_pass>
    <user_host idx="1" perm="R">{{ company.domainUsers|e }}</user_host>
    <language perm="R">{{ language.name.en|e }}</language>
  </phone-settings>
</settings>
"""

DEFAULTS: dict[str, tuple[str, str]] = {}
for _iden in ("SPA502G", "SPA504G", "SPA509G", "SPA514G", "SPA525G2"):
    DEFAULTS[_iden.lower()] = (_CISCO_GENERIC, _CISCO_SPECIFIC)
for _iden in ("YealinkT21P", "YealinkT21P_E2", "YealinkT23P", "YealinkT27P", "YealinkT46G", "YealinkT48G",
              "YealinkW5XP"):
    DEFAULTS[_iden.lower()] = (_YEALINK_GENERIC, _YEALINK_SPECIFIC)
for _iden in ("SnomD375", "SnomD717", "SnomD735", "SnomD785"):
    DEFAULTS[_iden.lower()] = (_SNOM_GENERIC, _SNOM_SPECIFIC)


def default_for(iden: str, kind: str) -> str | None:
    pair = DEFAULTS.get(iden.lower())
    if pair is None:
        return None
    return pair[0] if kind == "generic" else pair[1]
