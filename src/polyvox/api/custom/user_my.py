"""The final user's own data (user portal, spec 11): profile, call forwards, company lists,
call history and statistics, status.

* ``PUT /my/profile`` changes the user's own settings (name, lastname, email, do not disturb,
  boss, max calls, assistant, timezone) and password; a new ``pass`` needs the current one in
  ``oldPass`` (400 on ``oldPass`` otherwise). The assistant must be another user of the
  same client.
* ``/my/call_forward_settings`` lists and creates the user's own call forwards; the targets
  (extension, voicemail) may be any of the client's.
* ``/my/call_history`` lists the user's UsersCdr rows with ``startTime`` in the user's
  timezone (as IvozProvider does), with the usual filters and paging.
* ``/my/company_voicemails`` lists the client's enabled voicemails (IvozProvider's
  behaviour; the contract's schema names User but the operation returns voicemails).
* ``/my/status``: the SIP registration fields (``userAgent``, ``ipRegistered``,
  ``statusTerminal``) stay empty until SIP registrations are stored by the SIP layer.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import Select, func, select
from sqlalchemy.engine import Connection

from polyvox.api import datetimes
from polyvox.api.auth import check_password
from polyvox.api.custom.common import (
    Add,
    array_of,
    client_principal,
    collection,
    obj,
    ok,
    read_json,
    resource,
    route,
    view,
)
from polyvox.api.engine import Engine, as_int
from polyvox.api.errors import ApiError, invalid
from polyvox.api.writer import Writer
from polyvox.db.model import ENTITY

if TYPE_CHECKING:
    from polyvox.api.app import LevelApi

PROFILE = ("name", "lastname", "email", "doNotDisturb", "isBoss", "maxCalls", "bossAssistant", "timezone")
PROFILE_WRITE = ("name", "lastname", "email", "pass", "doNotDisturb", "isBoss", "maxCalls", "timezone")
USER_PLAIN = ("name", "lastname", "email", "doNotDisturb", "isBoss", "active", "maxCalls", "externalIpCalls",
              "rejectCallMethod", "multiContact", "gsQRCode", "useDefaultLocation", "bossAssistant", "extension",
              "timezone", "voicemail")
CFW_DETAILED = ("callTypeFilter", "callForwardType", "targetType", "numberValue", "noAnswerTimeout", "enabled",
                "user", "extension", "voicemail", "numberCountry")
CFW_WRITE = ("callTypeFilter", "callForwardType", "targetType", "numberValue", "noAnswerTimeout", "enabled",
             "extension", "voicemail", "numberCountry")


def _t(name: str) -> Any:
    return ENTITY[name].table


def register(api: LevelApi, add: Add) -> None:
    if api.level != "user":
        return
    _profile(api, add)
    _call_forwards(api, add)
    _company_lists(api, add)
    _calls(api, add)
    _status(api, add)


def _me(c: Connection, user_id: int | None) -> Any:
    row = c.execute(select(_t("User")).where(_t("User").c.id == user_id)).first()
    if row is None:
        raise ApiError(404, "User not found")
    return row


def _drop_pass(item: dict[str, Any]) -> dict[str, Any]:
    for v in item.values():
        if isinstance(v, dict):
            v.pop("pass", None)
    item.pop("pass", None)
    return item


# ---------------------------------------------------------------------------------------------
# profile


def _profile(api: LevelApi, add: Add) -> None:
    base = resource(api, "User")
    res = replace(base, item=PROFILE, collection=PROFILE, write=PROFILE_WRITE,
                  required=("name", "lastname", "doNotDisturb", "isBoss", "maxCalls"))
    assistant_view = view(base, USER_PLAIN)

    def represent(c: Connection, row: Any) -> dict[str, Any]:
        out = api.engine.row_to_dict(c, res, row, PROFILE, expand=True)
        if row.bossAssistantId is not None:
            boss = c.execute(select(_t("User")).where(_t("User").c.id == row.bossAssistantId)).first()
            out["bossAssistant"] = api.engine.row_to_dict(c, assistant_view, boss, USER_PLAIN) if boss else None
        return out

    def get(request: Request) -> JSONResponse:
        p = api.principal(request)
        return JSONResponse(api.run(lambda c: represent(c, _me(c, p.user_id))))

    async def put(request: Request) -> JSONResponse:
        p = api.principal(request)
        body = await read_json(request)
        if not isinstance(body, dict):
            raise ApiError(400, "The request body must be a JSON object.")
        body = {k: v for k, v in body.items() if not k.startswith("@")}
        for name in ("name", "lastname"):
            if name in body and (not isinstance(body[name], str) or not body[name].strip()):
                raise invalid(name, "This value should not be blank.")
        new_pass = body.get("pass")

        def do(c: Connection) -> dict[str, Any]:
            me = _me(c, p.user_id)
            if new_pass not in (None, ""):
                if not isinstance(new_pass, str):
                    raise invalid("pass", "This value should be of type string.")
                old = body.get("oldPass")
                if old in (None, ""):
                    raise invalid("oldPass", "The current password is required to set a new one.")
                if not isinstance(old, str) or not check_password(old, me._mapping["pass"]):
                    raise invalid("oldPass", "The current password is not correct.")
            boss: Any = ...
            if "bossAssistant" in body:
                raw = body["bossAssistant"]
                if isinstance(raw, dict):
                    raw = raw.get("id")
                if raw in (None, ""):
                    boss = None
                else:
                    if isinstance(raw, bool) or not isinstance(raw, (int, str)):
                        raise invalid("bossAssistant", "This value should be the id of a user.")
                    boss = as_int("bossAssistant", str(raw).rsplit("/", 1)[-1])
                    u = _t("User")
                    found = c.execute(select(u.c.id).where(u.c.id == boss, u.c.companyId == me.companyId)).first()
                    if found is None or boss == me.id:
                        raise invalid("bossAssistant", "The assistant must be another user of your client.")
            fields = {k: v for k, v in body.items() if k in PROFILE_WRITE}
            api.engine.update(c, res, p, me.id, fields)
            if boss is not ...:
                # the user level does not write bossAssistant; the check above is its scope
                Writer(c).update("User", me.id, bossAssistant=boss)
            return represent(c, _me(c, me.id))

        return JSONResponse(api.run(do))

    schema = {"$ref": "#/components/schemas/User-myProfile"}
    route(api, add, "get", "/my/profile", get, "The user's own profile", responses=ok("User", schema, errors=("404",)))
    route(api, add, "put", "/my/profile", put, "Change the user's own settings and password (oldPass needed)",
          body={"type": "object", "properties": {
              "id": {"type": "integer", "readOnly": True}, "name": {"type": "string"}, "lastname": {"type": "string"}, "email": {"type": "string"},
              "pass": {"type": "string"}, "oldPass": {"type": "string"}, "doNotDisturb": {"type": "boolean"},
              "isBoss": {"type": "boolean"}, "maxCalls": {"type": "integer"},
              "bossAssistant": {"type": "integer"}, "timezone": {"type": "integer"}}},
          responses=ok("User resource updated", schema))


# ---------------------------------------------------------------------------------------------
# call forwards


def _call_forwards(api: LevelApi, add: Add) -> None:
    base = resource(api, "CallForwardSetting")
    res = view(base, CFW_DETAILED)
    client = Engine("client")
    c_res = client.resources["CallForwardSetting"]
    cfw = base.table

    def get(request: Request) -> Response:
        p = api.principal(request)

        def build(_c: Connection) -> Select[Any]:
            return select(cfw).where(cfw.c.userId == p.user_id)

        return collection(api, request, res, p, build, CFW_DETAILED, expand=True,
                          after=lambda _c, _row, item: _drop_pass(item))

    async def post(request: Request) -> JSONResponse:
        p = api.principal(request)
        body = await read_json(request)
        if not isinstance(body, dict):
            raise ApiError(400, "The request body must be a JSON object.")
        data = {k: v for k, v in body.items() if k in CFW_WRITE}
        data["user"] = p.user_id

        def do(c: Connection) -> dict[str, Any]:
            me = _me(c, p.user_id)
            cp = client_principal(p, me.companyId, p.brand_id)
            row = client.create(c, c_res, cp, data)
            return api.engine.row_to_dict(c, base, row, base.simple or CFW_DETAILED)

        return JSONResponse(api.run(do), status_code=201)

    route(api, add, "get", "/my/call_forward_settings", get, "The user's own call forward settings",
          responses=ok("CallForwardSetting collection",
                       array_of({"$ref": "#/components/schemas/CallForwardSetting-detailed"}), errors=()))
    route(api, add, "post", "/my/call_forward_settings", post, "Create a call forward setting of the user",
          body={"$ref": "#/components/schemas/CallForwardSetting"},
          responses=ok("CallForwardSetting resource created",
                       {"$ref": "#/components/schemas/CallForwardSetting"}, status="201"))


# ---------------------------------------------------------------------------------------------
# company lists


def _company_lists(api: LevelApi, add: Add) -> None:
    users = view(resource(api, "User"), USER_PLAIN)
    ext_res = resource(api, "Extension")
    ext_fields = ext_res.simple or ("number", "routeType", "numberValue", "friendValue", "user", "numberCountry",
                                    "voicemail")
    exts = view(ext_res, ext_fields)
    vm_res = resource(api, "Voicemail")
    vm_fields = vm_res.simple or ("enabled", "name", "email", "sendMail", "attachSound", "user")
    vms = view(vm_res, vm_fields)
    country = resource(api, "Country")
    country_fields = country.simple or ("code", "countryCode", "name", "zone")
    u, ext, vm = _t("User"), _t("Extension"), _t("Voicemail")

    def assistants(request: Request) -> Response:
        p = api.principal(request)
        return collection(api, request, users, p, lambda _c: select(u).where(
            u.c.companyId == p.company_id, u.c.id != p.user_id, u.c.isBoss.is_not(True)), USER_PLAIN)

    def extensions(request: Request) -> Response:
        p = api.principal(request)
        return collection(api, request, exts, p, lambda _c: select(ext).where(ext.c.companyId == p.company_id),
                          ext_fields)

    def voicemails(request: Request) -> Response:
        p = api.principal(request)
        return collection(api, request, vms, p, lambda _c: select(vm).where(
            vm.c.companyId == p.company_id, vm.c.enabled.is_(True)), vm_fields)

    def company_country(request: Request) -> JSONResponse:
        p = api.principal(request)

        def do(c: Connection) -> dict[str, Any]:
            co, cty = _t("Company"), _t("Country")
            cid = c.execute(select(co.c.countryId).where(co.c.id == p.company_id)).scalar()
            row = c.execute(select(cty).where(cty.c.id == cid)).first() if cid else None
            if row is None:
                raise ApiError(404, "Country not found")
            return api.engine.row_to_dict(c, country, row, country_fields)

        return JSONResponse(api.run(do))

    paging = [{"name": "_page", "schema": {"type": "integer"}}, {"name": "_itemsPerPage", "schema": {"type": "integer"}}]
    route(api, add, "get", "/my/company_assistants", assistants,
          "Users of the client that can be the user's assistant (not bosses)", params=paging,
          responses=ok("User collection", array_of({"$ref": "#/components/schemas/User"}), errors=()))
    route(api, add, "get", "/my/company_country", company_country, "Country of the user's client",
          responses=ok("Country", {"$ref": "#/components/schemas/Country"}, errors=("404",)))
    route(api, add, "get", "/my/company_extensions", extensions, "Extensions of the user's client", params=paging,
          responses=ok("Extension collection", array_of({"$ref": "#/components/schemas/Extension"}), errors=()))
    route(api, add, "get", "/my/company_voicemails", voicemails, "Enabled voicemails of the user's client",
          params=paging,
          responses=ok("Voicemail collection", array_of({"$ref": "#/components/schemas/Voicemail"}), errors=()))


# ---------------------------------------------------------------------------------------------
# calls


def _user_zone(c: Connection, user: Any) -> ZoneInfo:
    tz_id = user.timezoneId
    if tz_id is None:
        tz_id = c.execute(select(_t("Company").c.defaultTimezoneId).where(_t("Company").c.id == user.companyId)).scalar()
    name = c.execute(select(_t("Timezone").c.tz).where(_t("Timezone").c.id == tz_id)).scalar() if tz_id else None
    try:
        return datetimes.zone(name or "UTC")
    except datetimes.DateTimeFormatError:
        return ZoneInfo("UTC")


def _calls(api: LevelApi, add: Add) -> None:
    cdr_res = resource(api, "UsersCdr")
    fields = cdr_res.simple or cdr_res.collection
    cdr, cfw = _t("UsersCdr"), _t("CallForwardSetting")

    def history(request: Request) -> Response:
        p = api.principal(request)
        zone: dict[str, ZoneInfo] = {}

        def localize(c: Connection, row: Any, item: dict[str, Any]) -> dict[str, Any]:
            if "tz" not in zone:
                zone["tz"] = _user_zone(c, _me(c, p.user_id))
            if row.startTime is not None and "startTime" in item:
                local = row.startTime.replace(tzinfo=dt.UTC).astimezone(zone["tz"])
                item["startTime"] = local.strftime("%Y-%m-%d %H:%M:%S")
            return item

        return collection(api, request, cdr_res, p, lambda _c: select(cdr).where(cdr.c.userId == p.user_id),
                          fields, after=localize)

    def stats(request: Request) -> JSONResponse:
        p = api.principal(request)

        def do(c: Connection) -> dict[str, int]:
            calls = c.execute(select(func.count()).select_from(cdr).where(cdr.c.userId == p.user_id)).scalar()
            detours = c.execute(select(func.count()).select_from(cfw).where(cfw.c.userId == p.user_id)).scalar()
            return {"totalCalls": int(calls or 0), "totalDetours": int(detours or 0)}

        return JSONResponse(api.run(do))

    def last_month(request: Request) -> JSONResponse:
        p = api.principal(request)

        def do(c: Connection) -> dict[str, int]:
            since = _month_ago(dt.datetime.now(dt.UTC).replace(tzinfo=None))
            counts = {}
            for direction in ("inbound", "outbound"):
                counts[direction] = int(c.execute(select(func.count()).select_from(cdr).where(
                    cdr.c.userId == p.user_id, cdr.c.direction == direction, cdr.c.startTime > since)).scalar() or 0)
            return {**counts, "total": counts["inbound"] + counts["outbound"]}

        return JSONResponse(api.run(do))

    route(api, add, "get", "/my/call_history", history, "The user's calls (UsersCdr), start time in the user's timezone",
          responses=ok("UsersCdr collection", array_of({"$ref": "#/components/schemas/UsersCdr"}), errors=()))
    route(api, add, "get", "/my/call_stats", stats, "Number of calls and call forward settings of the user",
          responses=ok("CallStats", obj(totalCalls="integer", totalDetours="integer"), errors=()))
    route(api, add, "get", "/my/last_month_calls", last_month, "The user's inbound and outbound calls of the last month",
          responses=ok("LastMonthCalls", obj(inbound="integer", outbound="integer", total="integer"), errors=()))


def _month_ago(now: dt.datetime) -> dt.datetime:
    """The same moment one calendar month earlier (clamped to the month's last day)."""
    year, month = (now.year, now.month - 1) if now.month > 1 else (now.year - 1, 12)
    for day in (now.day, 30, 29, 28):
        try:
            return now.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    raise AssertionError("unreachable")  # pragma: no cover


# ---------------------------------------------------------------------------------------------
# status


def _status(api: LevelApi, add: Add) -> None:
    def status(request: Request) -> JSONResponse:
        p = api.principal(request)

        def do(c: Connection) -> dict[str, Any]:
            me = _me(c, p.user_id)
            co, term, ext, lang = _t("Company"), _t("Terminal"), _t("Extension"), _t("Language")
            company = c.execute(select(co).where(co.c.id == me.companyId)).first()
            terminal = c.execute(select(term).where(term.c.id == me.terminalId)).first() if me.terminalId else None
            number = c.execute(select(ext.c.number).where(ext.c.id == me.extensionId)).scalar() \
                if me.extensionId else None
            lang_id = me.languageId or (company.languageId if company is not None else None)
            language = c.execute(select(lang.c.iden).where(lang.c.id == lang_id)).scalar() if lang_id else None
            feat, rel = _t("Feature"), _t("FeaturesRelCompany")
            features = [r.iden for r in c.execute(select(feat.c.iden).join(rel, rel.c.featureId == feat.c.id)
                                                  .where(rel.c.companyId == me.companyId).order_by(feat.c.id))]
            return {
                "userName": f"{me.name or ''} {me.lastname or ''}".strip(),
                "companyName": company.name if company is not None else "",
                "companyDomain": (company.domainUsers or "") if company is not None else "",
                "language": language or "",
                "voiceMail": _service_code(c, company, "Voicemail"),
                "gsQRCode": "1" if me.gsQRCode else "0",
                "userAgent": "",
                "ipRegistered": "",
                "statusTerminal": "",
                "terminalName": terminal.name if terminal is not None else "",
                "terminalPassword": (terminal.password or "") if terminal is not None else "",
                "extensionNumber": int(number) if number and str(number).isdigit() else None,
                "features": features,
            }

        return JSONResponse(api.run(do))

    route(api, add, "get", "/my/status", status,
          "The user's terminal, extension and client data (SIP registration fields empty until registrations "
          "are stored)",
          responses=ok("UserStatus", obj(userName="string", companyName="string", companyDomain="string",
                                         language="string", voiceMail="string", gsQRCode="string",
                                         userAgent="string", ipRegistered="string", statusTerminal="string",
                                         terminalName="string", terminalPassword="string",
                                         extensionNumber="integer", features="array"), errors=("404",)))


def _service_code(c: Connection, company: Any, iden: str) -> str:
    """The code dialled for a service: the client's, else the brand's, else the default (spec 8.5)."""
    svc, cs, bs = _t("Service"), _t("CompanyService"), _t("BrandService")
    service = c.execute(select(svc).where(svc.c.iden == iden)).first()
    if service is None or company is None:
        return ""
    code = c.execute(select(cs.c.code).where(cs.c.companyId == company.id, cs.c.serviceId == service.id)).scalar()
    if not code:
        code = c.execute(select(bs.c.code).where(bs.c.brandId == company.brandId, bs.c.serviceId == service.id)).scalar()
    return str(code or service.defaultCode or "")
