"""Bulk operations: holiday date ranges, CSV imports (holidays, extensions to numbers, users)
and unlinking DDIs from their clients.

CSV imports are all-or-nothing: every line is checked and written inside its own savepoint;
if any line fails nothing is kept and the answer is a 400 problem+json whose ``violations``
name each failing line (``csv[<line>]``) with its reason; it also carries the contract's
``success``/``errorMsg``/``failed`` fields (``errorMsg`` lists "line => reason"). Success is
a 201 ``{"success": true, "errorMsg": "", "failed": 0}``. Line numbers are the file's
physical line numbers (a header line counts). The file comes as the multipart field ``csv``
(a plain form/JSON field ``csv`` with the text is accepted too).
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import string
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select
from sqlalchemy.engine import Connection

from polyvox.api import files
from polyvox.api.custom.common import (
    Add,
    ImportFailed,
    array_of,
    client_principal,
    csv_lines,
    import_ok,
    int_param,
    obj,
    ok,
    plain,
    read_csv_upload,
    read_json,
    resource,
    route,
    run_lines,
    write_row,
)
from polyvox.api.engine import Engine, check_privilege, parse_scalar
from polyvox.api.errors import ApiError, invalid
from polyvox.api.writer import Writer
from polyvox.db.model import ENTITY, FieldDef

if TYPE_CHECKING:
    from polyvox.api.app import LevelApi

MAX_RANGE_DAYS = 366
MASS_IMPORT = obj(success="boolean", errorMsg="string", failed="integer")
DATE = FieldDef("date", "scalar", type="date")
TIME = FieldDef("time", "scalar", type="time")


def _t(name: str) -> Any:
    return ENTITY[name].table


def register(api: LevelApi, add: Add) -> None:
    if api.level == "client":
        _holiday_range(api, add)
        _holiday_import(api, add)
        _extension_import(api, add)
    if api.level == "brand":
        _users_import(api, add)
        _ddi_unlink(api, add)


# ---------------------------------------------------------------------------------------------
# holidays


def _holiday_range(api: LevelApi, add: Add) -> None:
    res = resource(api, "HolidayDate")
    optional = ("locution", "routeType", "extension", "voicemail", "numberCountry", "numberValue")

    async def handler(request: Request) -> Response:
        p = api.principal(request)
        body = await read_json(request)
        if not isinstance(body, dict):
            raise ApiError(400, "The request body must be a JSON object.")
        for name in ("name", "wholeDayEvent", "startDate", "endDate", "calendar"):
            if body.get(name) in (None, ""):
                raise invalid(name, "This value should not be blank.")
        start = parse_scalar(DATE, "startDate", body["startDate"])
        end = parse_scalar(DATE, "endDate", body["endDate"])
        if end < start:
            raise invalid("endDate", "The end date must not be before the start date.")
        if (end - start).days + 1 > MAX_RANGE_DAYS:
            raise invalid("endDate", f"A range covers at most {MAX_RANGE_DAYS} days.")
        whole = body["wholeDayEvent"]
        if whole not in (0, 1, True, False, "0", "1", "true", "false"):
            raise invalid("wholeDayEvent", "This value should be 0 or 1.")
        whole = whole in (1, True, "1", "true")
        item: dict[str, Any] = {"name": body["name"], "wholeDayEvent": whole, "calendar": body["calendar"],
                                **{k: body[k] for k in optional if body.get(k) is not None}}
        if not whole:
            for name in ("timeIn", "timeOut"):
                if body.get(name) in (None, ""):
                    raise invalid(name, "A holiday that is not a whole day event needs a start and an end time.")
                item[name] = body[name]
            if parse_scalar(TIME, "timeIn", body["timeIn"]) >= parse_scalar(TIME, "timeOut", body["timeOut"]):
                raise invalid("timeOut", "The end time must be after the start time.")

        def do(c: Connection) -> list[dict[str, Any]]:
            check_privilege(c, p, res, "create")
            out = []
            day = start
            while day <= end:
                row = api.engine.create(c, res, p, {**item, "eventDate": day.isoformat()})
                out.append(api.engine.row_to_dict(c, res, row, plain(res)))
                day += dt.timedelta(days=1)
            return out

        return JSONResponse(api.run(do), status_code=201)

    route(api, add, "post", "/holiday_dates_range", handler, "Create one holiday date per day of a date range",
          body={"type": "object", "required": ["name", "wholeDayEvent", "startDate", "endDate", "calendar"],
                "properties": {"name": {"type": "string"}, "locution": {"type": "integer"},
                               "wholeDayEvent": {"type": "integer"}, "timeIn": {"type": "string"},
                               "timeOut": {"type": "string"}, "routeType": {"type": "string"},
                               "extension": {"type": "integer"}, "voicemail": {"type": "integer"},
                               "numberCountry": {"type": "integer"}, "numberValue": {"type": "string"},
                               "startDate": {"type": "string", "format": "date"},
                               "endDate": {"type": "string", "format": "date"}, "calendar": {"type": "integer"}}},
          responses=ok("Holiday Dates created", array_of({"$ref": "#/components/schemas/HolidayDate"}),
                       status="201"))


def _importer_params(raw: Any) -> dict[str, Any]:
    if raw in (None, ""):
        return {}
    data = files.decode_json(raw, "importerParams") if isinstance(raw, str) else raw
    if not isinstance(data, dict):
        raise invalid("importerParams", "This value should be a JSON object.")
    for key in ("delimiter", "enclosure"):
        if key in data and (not isinstance(data[key], str) or len(data[key]) != 1):
            raise invalid("importerParams", f"{key} must be one character.")
    return data


def _holiday_import(api: LevelApi, add: Add) -> None:
    res = resource(api, "HolidayDate")
    cal_res = resource(api, "Calendar")

    async def handler(request: Request) -> Response:
        p = api.principal(request)
        text, fields = await read_csv_upload(request)
        calendar = int_param(fields.get("calendar"), "calendar", required=True)
        opts = _importer_params(fields.get("importerParams"))
        lines = csv_lines(text, delimiter=opts.get("delimiter", ","), quotechar=opts.get("enclosure", '"'))
        if lines and (opts.get("ignoreFirst") or (len(lines[0][1]) > 1 and lines[0][1][1].lower().replace(" ", "")
                                                   in ("date", "eventdate", "fecha"))):
            lines = lines[1:]

        def do(c: Connection) -> None:
            check_privilege(c, p, res, "create")
            cal = api.engine.fetch(c, cal_res, p, calendar)

            def line(_n: int, cells: list[str]) -> None:
                if len(cells) != 2:
                    raise ApiError(400, f"2 columns (name, date) were expected but {len(cells)} found")
                name, date = cells
                if not name:
                    raise ApiError(400, "the name is empty")
                day = parse_scalar(DATE, "date", date)
                api.engine.create(c, res, p, {"name": name, "eventDate": day.isoformat(), "wholeDayEvent": True,
                                              "calendar": cal.id})

            run_lines(c, lines, line)

        api.run(do)
        return import_ok()

    route(api, add, "post", "/holiday_dates/mass_import", handler,
          "Import the holiday dates of a calendar from a CSV file (name, date)",
          form={"csv": {"type": "string", "format": "binary", "description": "*name, date (YYYY-MM-DD)",
                        "required": True},
                "calendar": {"type": "integer", "description": "Calendar receiving the dates", "required": True},
                "importerParams": {"type": "string", "description": 'JSON: {"ignoreFirst": bool, "delimiter": ",", '
                                                                   '"enclosure": "\\""}'}},
          responses=ok("HolidaysMassImport resource created", MASS_IMPORT, status="201"))


# ---------------------------------------------------------------------------------------------
# extensions to numbers (spec 10.1.3 "Import aliases")


def _country_for(c: Connection, prefix: str, code: str | None) -> int:
    cty = _t("Country")
    prefix = prefix if prefix.startswith("+") else "+" + prefix
    matches = [r for r in c.execute(select(cty.c.id, cty.c.code).where(cty.c.countryCode == prefix)
                                    .order_by(cty.c.id))]
    if code:
        exists = c.execute(select(cty.c.id).where(cty.c.code == code.upper())).first()
        if exists is None and not matches:
            raise ApiError(400, f"country prefix {prefix} and country code {code} do not exist")
        if exists is None:
            raise ApiError(400, f"country code {code} does not exist")
    if not matches:
        raise ApiError(400, f"country prefix {prefix} does not exist")
    if code:
        for r in matches:
            if r.code.upper() == code.upper():
                return int(r.id)
        raise ApiError(400, f"country prefix {prefix} and country code {code} combination does not exist")
    return int(matches[0].id)


def _extension_import(api: LevelApi, add: Add) -> None:
    res = resource(api, "Extension")
    ext = res.table

    async def handler(request: Request) -> Response:
        p = api.principal(request)
        text, _fields = await read_csv_upload(request)
        lines = [(n, cells) for n, cells in csv_lines(text) if cells[0].lower() != "extension"]

        def do(c: Connection) -> None:
            check_privilege(c, p, res, "create")

            def line(_n: int, cells: list[str]) -> None:
                if len(cells) not in (3, 4):
                    raise ApiError(400, f"3 or 4 columns (Extension, CountryPrefix, Number, CountryCode) were "
                                        f"expected but {len(cells)} found")
                number, prefix, value = cells[:3]
                code = cells[3] if len(cells) == 4 and cells[3] else None
                for label, v in (("extension", number), ("country prefix", prefix), ("number", value)):
                    if not v:
                        raise ApiError(400, f"the {label} is empty")
                country = _country_for(c, prefix, code)
                body = {"number": number, "routeType": "number", "numberCountry": country, "numberValue": value}
                existing = c.execute(select(ext).where(ext.c.companyId == p.company_id, ext.c.number == number)).first()
                if existing is None:
                    api.engine.create(c, res, p, body)
                elif existing.routeType == "number":
                    api.engine.update(c, res, p, existing.id, body)
                else:
                    raise ApiError(400, f"extension {number} already exists and does not point to a number")

            run_lines(c, lines, line)

        api.run(do)
        return import_ok()

    route(api, add, "post", "/extensions/mass_import", handler,
          "Import extensions routed to numbers from a CSV file (Extension,CountryPrefix,Number,CountryCode)",
          form={"csv": {"type": "string", "format": "binary",
                        "description": "*extension, *country prefix, *number, country code", "required": True}},
          responses=ok("ExtensionsMassImport resource created", MASS_IMPORT, status="201"))


# ---------------------------------------------------------------------------------------------
# users (brand)

USER_COLUMNS = ("name", "lastname", "email", "terminal name", "terminal password", "terminal model", "mac",
                "extension", "ddi country", "ddi number", "ddi provider")


def _random_password() -> str:
    alphabet = string.ascii_letters + string.digits
    while True:
        pw = "".join(secrets.choice(alphabet) for _ in range(12))
        if any(ch.isdigit() for ch in pw) and any(ch.isupper() for ch in pw) and any(ch.islower() for ch in pw):
            return pw


def _static_errors(lines: list[tuple[int, list[str]]]) -> dict[int, str]:
    """CSV-wide checks before anything is written: column count and values that must be unique."""
    errors: dict[int, str] = {}
    for n, cells in lines:
        if len(cells) != len(USER_COLUMNS):
            errors[n] = f"{len(USER_COLUMNS)} columns were expected but {len(cells)} found"
    if errors:
        return errors
    checks: list[tuple[str, Any]] = [
        ("full name", lambda cells: f"{cells[0]} {cells[1]}".lower()),
        ("user email", lambda cells: cells[2].lower()),
        ("terminal name", lambda cells: cells[3]),
        ("mac", lambda cells: cells[6].lower().replace(":", "").replace("-", "")),
        ("extension", lambda cells: cells[7]),
    ]
    for label, key in checks:
        seen: dict[str, int] = {}
        for n, cells in lines:
            value = key(cells)
            if not value.strip():
                continue
            if value in seen:
                errors.setdefault(n, f"duplicated {label} {value!r} (also on line {seen[value]})")
            else:
                seen[value] = n
    return errors


def _users_import(api: LevelApi, add: Add) -> None:
    company_res = resource(api, "Company")
    user_res = resource(api, "User")
    ddi_res = resource(api, "Ddi")
    client = Engine("client")
    c_user, c_term, c_ext = (client.resources[n] for n in ("User", "Terminal", "Extension"))

    async def handler(request: Request) -> Response:
        p = api.principal(request)
        text, fields = await read_csv_upload(request)
        company_id = int_param(fields.get("company"), "company", required=True)
        lines = csv_lines(text)
        if lines and [x.lower() for x in lines[0][1][:2]] == ["name", "lastname"]:
            lines = lines[1:]

        def do(c: Connection) -> None:
            check_privilege(c, p, user_res, "create")
            company = api.engine.fetch(c, company_res, p, company_id, write=True)
            errors = _static_errors(lines)
            if errors:
                raise ImportFailed(errors)
            cp = client_principal(p, company.id, company.brandId)
            u, term, ext, ddi, cty, prov, tm = (_t(n) for n in ("User", "Terminal", "Extension", "Ddi", "Country",
                                                                 "DdiProvider", "TerminalModel"))
            domain_id = c.execute(select(_t("Domain").c.id).where(_t("Domain").c.companyId == company.id)).scalar()

            def line(_n: int, cells: list[str]) -> None:
                (name, lastname, email, t_name, t_pass, t_model, mac, extension, d_country, d_number,
                 d_provider) = cells
                if not name or not lastname:
                    raise ApiError(400, "name and lastname are required")
                # user: same client and full name, else same e-mail
                user = c.execute(select(u).where(u.c.companyId == company.id, u.c.name == name,
                                                 u.c.lastname == lastname)).first()
                if user is None and email:
                    user = c.execute(select(u).where(u.c.email == email)).first()
                    if user is not None and user.companyId != company.id:
                        raise ApiError(400, f"e-mail {email} is already used by a user of another client")
                body: dict[str, Any] = {"name": name, "lastname": lastname}
                if email:
                    body["email"] = email  # an empty cell keeps the current e-mail (the login)
                if user is None:
                    uid = write_row(client, c, c_user, cp, body, extra={
                        "active": False, "languageId": company.languageId, "timezoneId": company.defaultTimezoneId})
                else:
                    uid = write_row(client, c, c_user, cp, body, ident=user.id)
                links: dict[str, Any] = {}
                if any((t_name, t_pass, t_model, mac)):
                    if not t_name:
                        raise ApiError(400, "the terminal name is required when terminal data is given")
                    model_id = None
                    if t_model:
                        model_id = c.execute(select(tm.c.id).where(tm.c.iden == t_model)).scalar()
                        if model_id is None:
                            raise ApiError(400, f"terminal model {t_model} not found")
                    norm_mac = mac.lower().replace(":", "").replace("-", "") if mac else None
                    if norm_mac is not None and not re.fullmatch(r"[0-9a-f]{12}", norm_mac):
                        raise ApiError(400, f"MAC {mac} is not valid (12 hexadecimal digits)")
                    terminal = c.execute(select(term).where(term.c.companyId == company.id,
                                                            term.c.name == t_name)).first()
                    if terminal is None and norm_mac:
                        terminal = c.execute(select(term).where(term.c.mac == norm_mac)).first()
                        if terminal is not None and terminal.companyId != company.id:
                            raise ApiError(400, "MAC already used by a terminal of another client")
                    password = t_pass or (terminal.password if terminal is not None and terminal.password else None) \
                        or _random_password()
                    tbody: dict[str, Any] = {"name": t_name, "password": password}
                    if norm_mac:
                        tbody["mac"] = norm_mac
                    if model_id is not None:
                        tbody["terminalModel"] = model_id
                    if terminal is None:
                        links["terminal"] = write_row(client, c, c_term, cp, tbody, extra={"domainId": domain_id})
                    else:
                        links["terminal"] = write_row(client, c, c_term, cp, tbody, ident=terminal.id)
                if extension:
                    found = c.execute(select(ext).where(ext.c.companyId == company.id,
                                                        ext.c.number == extension)).first()
                    ebody = {"number": extension, "routeType": "user", "user": uid}
                    links["extension"] = write_row(client, c, c_ext, cp, ebody,
                                                   ident=found.id if found is not None else None)
                if any((d_country, d_number, d_provider)):
                    if not d_number:
                        raise ApiError(400, "the DDI number is required when DDI data is given")
                    if d_country:
                        country = c.execute(select(cty).where(cty.c.code == d_country.upper())).first()
                        if country is None:
                            raise ApiError(400, f"country {d_country} not found")
                    else:
                        country = c.execute(select(cty).where(cty.c.id == company.countryId)).first()
                    provider_id = None
                    if d_provider:
                        provider_id = c.execute(select(prov.c.id).where(prov.c.brandId == company.brandId,
                                                                        prov.c.name == d_provider)).scalar()
                        if provider_id is None:
                            raise ApiError(400, f"DDI provider {d_provider} not found")
                    found = c.execute(select(ddi).where(ddi.c.ddi == d_number, ddi.c.countryId == country.id,
                                                        ddi.c.brandId == company.brandId)).first()
                    if found is not None and found.companyId not in (None, company.id):
                        raise ApiError(400, f"DDI {d_number} already belongs to another client")
                    dbody: dict[str, Any] = {"ddi": d_number, "country": country.id, "company": company.id}
                    if provider_id is not None:
                        dbody["ddiProvider"] = provider_id
                    extra = {"ddie164": f"{country.countryCode or ''}{d_number}"}
                    if found is None:
                        links["outgoingDdi"] = write_row(api.engine, c, ddi_res, p,
                                                         {**dbody, "type": "inout", "useDdiProviderRoutingTag": False},
                                                         extra=extra)
                    else:
                        links["outgoingDdi"] = write_row(api.engine, c, ddi_res, p, dbody, ident=found.id, extra=extra)
                if links:
                    write_row(client, c, c_user, cp, links, ident=uid)

            run_lines(c, lines, line)

        api.run(do)
        return import_ok()

    route(api, add, "post", "/users/mass_import", handler,
          "Create or update a client's users, terminals, extensions and outgoing DDIs from a CSV file",
          form={"company": {"type": "integer", "description": "Company Id", "required": True},
                "csv": {"type": "string", "format": "binary", "required": True,
                        "description": "*name, *lastname, email, terminal name, terminal password, terminal model, "
                                       "mac, extension, ddi country, ddi number, ddi provider"}},
          responses=ok("UsersMassImport resource created", MASS_IMPORT, status="201"))


# ---------------------------------------------------------------------------------------------
# DDIs


def _ddi_unlink(api: LevelApi, add: Add) -> None:
    res = resource(api, "Ddi")
    t = res.table
    keep = ("ddi", "ddie164", "countryId", "brandId", "type", "description", "useDdiProviderRoutingTag",
            "ddiProviderId", "routingTagId")

    async def handler(request: Request) -> Response:
        p = api.principal(request)
        body = await read_json(request)
        ids = body.get("ddiIds") if isinstance(body, dict) else body
        if not isinstance(ids, list) or not ids:
            raise invalid("ddiIds", "A non-empty array of DDI ids is expected.")
        for i, v in enumerate(ids):
            if isinstance(v, bool) or not isinstance(v, int):
                raise invalid(f"ddiIds[{i}]", "This value should be of type integer.")

        def do(c: Connection) -> list[dict[str, Any]]:
            check_privilege(c, p, res, "update")
            out = []
            for ident in dict.fromkeys(ids):
                row = api.engine.fetch(c, res, p, ident, write=True)
                values = {k: row._mapping[k] for k in keep}
                # like IvozProvider: the DDI is removed (with its client routing, and every use of
                # it as an outgoing DDI) and created again, unassigned, with its provider data
                system = Writer(c)
                system.delete("Ddi", row.id)
                new_id = system.create("Ddi", **{**values, "companyId": None})
                fresh = c.execute(select(t).where(t.c.id == new_id)).first()
                out.append(api.engine.row_to_dict(c, res, fresh, plain(res)))
            return out

        return JSONResponse(api.run(do), status_code=201)

    route(api, add, "post", "/ddis/unlink", handler,
          "Release DDIs from their clients: each DDI is recreated unassigned, without routing",
          body={"type": "array", "items": {"type": "integer"}, "description": "Array of DDI IDs to unlink"},
          responses=ok("Unlinked DDIs (new ids)", array_of({"$ref": "#/components/schemas/Ddi"}), status="201"))
