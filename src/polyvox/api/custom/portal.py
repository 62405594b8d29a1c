"""The portal of the request host: theme, logo (spec 8.11 / 9.7.1 "Web portals") and the
dashboard of each level.

* ``GET /my/theme`` and ``GET /my/logo/{id}/{name}`` need no token, as in IvozProvider: the
  login page shows them before anyone logs in. The portal is the WebPortal whose URL host
  is the request host and whose type matches the level (platform ``god``, brand ``brand``,
  client ``admin``, user ``user``). Without one the Polyvox defaults are returned and the
  default logo is ``/my/logo/0/polyvox.svg``.
* The logo is the portal's uploaded ``logo`` file (``stored_files``, see
  :mod:`polyvox.api.files`); the name in the URL must be its ``logo.baseName``.
* ``GET /my/dashboard`` (token needed) returns the contract's Dashboard of the level,
  computed from the rows the principal may see.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlparse

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from polyvox.api.custom.common import Add, obj, ok, route, scoped
from polyvox.api.engine import to_json_value
from polyvox.api.errors import ApiError
from polyvox.db.model import ENTITY, FieldDef, stored_files

if TYPE_CHECKING:
    from polyvox.api.app import LevelApi

URL_TYPE = {"platform": "god", "brand": "brand", "client": "admin", "user": "user"}
DEFAULT_THEME = {"name": "Polyvox", "color": "#2E4053", "title": "Polyvox", "productName": "Polyvox"}
DEFAULT_LOGO = "polyvox.svg"
DEFAULT_LOGO_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="160" height="40" viewBox="0 0 160 40">'
    '<rect width="160" height="40" rx="6" fill="#2E4053"/>'
    '<text x="80" y="27" font-family="sans-serif" font-size="20" fill="#FFFFFF" '
    'text-anchor="middle">Polyvox</text></svg>')
LATEST = 5


def _t(name: str) -> Any:
    return ENTITY[name].table


def host_of(request: Request) -> str:
    return (request.url.hostname or request.headers.get("host", "").split(":")[0]).lower()


def find_portal(c: Connection, level: str, host: str) -> Any:
    wp = _t("WebPortal")
    for row in c.execute(select(wp).where(wp.c.urlType == URL_TYPE[level]).order_by(wp.c.id)):
        if (urlparse(row.url or "").hostname or "").lower() == host:
            return row
    return None


def theme(c: Connection, level: str, request: Request) -> dict[str, Any]:
    host = host_of(request)
    row = find_portal(c, level, host)
    base = f"{request.url.scheme}://{request.url.netloc}/api/{level}/my/logo"
    if row is None:
        return {**DEFAULT_THEME, "logo": f"{base}/0/{DEFAULT_LOGO}"}
    logo = f"{base}/{row.id}/{quote(row.logoBaseName, safe='')}" if row.logoBaseName else f"{base}/0/{DEFAULT_LOGO}"
    return {"name": row.name or DEFAULT_THEME["name"], "logo": logo, "color": row.color or DEFAULT_THEME["color"],
            "title": row.name or DEFAULT_THEME["title"], "productName": row.productName or DEFAULT_THEME["productName"]}


def product_name(c: Connection, level: str, request: Request) -> str:
    row = find_portal(c, level, host_of(request))
    return (row.productName if row is not None else None) or DEFAULT_THEME["productName"]


def register(api: LevelApi, add: Add) -> None:
    level = api.level

    def get_theme(request: Request) -> JSONResponse:
        return JSONResponse(api.run(lambda c: theme(c, level, request)))

    def get_logo(ident: str, name: str, request: Request) -> Response:
        if ident == "0" and unquote(name) == DEFAULT_LOGO:
            return Response(DEFAULT_LOGO_SVG, media_type="image/svg+xml")

        def do(c: Connection) -> tuple[bytes, str]:
            row = find_portal(c, level, host_of(request))
            if row is None or str(row.id) != ident:
                raise ApiError(404, "WebPortal not found")
            if not row.logoBaseName or unquote(name) != row.logoBaseName:
                raise ApiError(404, "Logo name mismatch")
            sf = stored_files
            content = c.execute(select(sf.c.content).where(sf.c.entity == "WebPortal", sf.c.rowId == row.id,
                                                           sf.c.field == "logo")).scalar()
            if content is None:
                raise ApiError(404, "Logo not found")
            return bytes(content), row.logoMimeType or "application/octet-stream"

        content, mime = api.run(do)
        return Response(content, media_type=mime)

    route(api, add, "get", "/my/theme", get_theme, "Theme of the web portal of the request host",
          responses=ok("WebTheme", obj(name="string", logo="string", color="string", title="string",
                                       productName="string"), errors=()), public=True)
    route(api, add, "get", "/my/logo/{ident}/{name}", get_logo, "Logo of the web portal of the request host",
          responses={"200": {"description": "The logo image", "content": {"image/*": {}}},
                     "404": {"description": "Resource not found"}}, public=True)

    builders = {"platform": _platform, "brand": _brand, "client": _client, "user": _user}
    schemas = {
        "platform": obj(admin="object", recentActivity="array", brandNumber="integer", clientNumber="integer",
                        userNumber="integer", productName="string"),
        "brand": obj(brand="object", recentActivity="array", clientNum="integer", ddiNum="integer",
                     carrierNum="integer", productName="string"),
        "client": obj(client="object", latestBillableCalls="array", latestUsers="array",
                      latestResidentialDevices="array", latestRetailAccounts="array", userNum="integer",
                      extensionNum="integer", ddiNum="integer", residentialDeviceNum="integer",
                      voiceMailNum="integer", retailsAccountNum="integer", productName="string"),
        "user": obj(userName="string", userLastName="string", extension="string", terminal="string", email="string",
                    outgoingDdi="string", productName="string"),
    }

    def dashboard(request: Request) -> JSONResponse:
        p = api.principal(request)

        def do(c: Connection) -> dict[str, Any]:
            out = builders[level](api, c, p)
            out["productName"] = product_name(c, level, request)
            return out

        return JSONResponse(api.run(do))

    route(api, add, "get", "/my/dashboard", dashboard, "Summary of the principal's platform, brand, client or user",
          responses=ok("Dashboard", schemas[level], errors=("404",)))


# ---------------------------------------------------------------------------------------------
# dashboards


def _count(c: Connection, sel: Any) -> int:
    return int(c.execute(select(func.count()).select_from(sel.order_by(None).subquery())).scalar() or 0)


def _latest(c: Connection, sel: Any, table: Any) -> list[Any]:
    return list(c.execute(sel.order_by(table.c.id.desc()).limit(LATEST)))


def _ddi_number(c: Connection, ddi_id: int | None) -> str:
    if ddi_id is None:
        return ""
    return str(c.execute(select(_t("Ddi").c.ddi).where(_t("Ddi").c.id == ddi_id)).scalar() or "")


def _platform(api: LevelApi, c: Connection, p: Any) -> dict[str, Any]:
    a, b = _t("Administrator"), _t("Brand")
    admin = c.execute(select(a).where(a.c.id == p.admin_id)).first() if p.admin_id else None
    brands = _latest(c, scoped(api, "Brand", p), b)
    return {
        "admin": {"username": admin.username if admin else p.username, "name": (admin.name if admin else "") or "",
                  "lastname": (admin.lastname if admin else "") or "", "email": (admin.email if admin else "") or ""},
        "recentActivity": [_brand_summary(r) for r in brands],
        "brandNumber": _count(c, scoped(api, "Brand", p)),
        "clientNumber": _count(c, scoped(api, "Company", p)),
        "userNumber": _count(c, scoped(api, "User", p)),
    }


def _brand_summary(r: Any) -> dict[str, Any]:
    return {"id": r.id, "name": r.name or "", "nif": r.invoiceNif or "", "postalCode": r.invoicePostalCode or "",
            "sipDomain": r.domainUsers or "", "maxCalls": r.maxCalls or 0}


def _brand(api: LevelApi, c: Connection, p: Any) -> dict[str, Any]:
    b, co = _t("Brand"), _t("Company")
    brand = c.execute(select(b).where(b.c.id == p.brand_id)).first()
    if brand is None:
        raise ApiError(404, "Brand not found")
    clients = _latest(c, scoped(api, "Company", p), co)
    return {
        "brand": _brand_summary(brand),
        "recentActivity": [{"name": r.name or "", "type": r.type or "", "domainUsers": r.domainUsers or "",
                            "maxCalls": r.maxCalls or 0} for r in clients],
        "clientNum": _count(c, scoped(api, "Company", p)),
        "ddiNum": _count(c, scoped(api, "Ddi", p)),
        "carrierNum": _count(c, scoped(api, "Carrier", p)),
    }


def _scoped_company(c: Connection, entity: str, company_id: int) -> Any:
    t = _t(entity)
    return select(t).where(t.c.companyId == company_id)


def _client(api: LevelApi, c: Connection, p: Any) -> dict[str, Any]:
    co = _t("Company")
    company = c.execute(select(co).where(co.c.id == p.company_id)).first()
    if company is None:
        raise ApiError(404, "Client not found")
    cid = company.id
    dt_field = FieldDef("startTime", "scalar", type="date-time")
    bc = _t("BillableCall")
    calls = _latest(c, _scoped_company(c, "BillableCall", cid), bc)
    users = _latest(c, _scoped_company(c, "User", cid), _t("User"))
    ext = _t("Extension")

    def ext_number(ident: int | None) -> str:
        return "" if ident is None else str(c.execute(select(ext.c.number).where(ext.c.id == ident)).scalar() or "")

    def devices(entity: str) -> list[dict[str, Any]]:
        return [{"name": r.name or "", "outgoingDdi": _ddi_number(c, r.outgoingDdiId), "description": r.description or ""}
                for r in _latest(c, _scoped_company(c, entity, cid), _t(entity))]

    return {
        "client": {"name": company.name or "", "nif": company.invoicingNif or "",
                   "postalCode": company.invoicingPostalCode or "", "domainUsers": company.domainUsers or "",
                   "maxCalls": company.maxCalls or 0},
        "latestBillableCalls": [{"startTime": to_json_value(dt_field, r.startTime), "caller": r.caller or "",
                                 "callee": r.callee or "", "duration": float(r.duration or 0)} for r in calls],
        "latestUsers": [{"name": r.name or "", "lastName": r.lastname or "", "extension": ext_number(r.extensionId),
                         "outgoingDdi": _ddi_number(c, r.outgoingDdiId)} for r in users],
        "latestResidentialDevices": devices("ResidentialDevice"),
        "latestRetailAccounts": devices("RetailAccount"),
        "userNum": _count(c, _scoped_company(c, "User", cid)),
        "extensionNum": _count(c, _scoped_company(c, "Extension", cid)),
        "ddiNum": _count(c, _scoped_company(c, "Ddi", cid)),
        "residentialDeviceNum": _count(c, _scoped_company(c, "ResidentialDevice", cid)),
        "voiceMailNum": _count(c, _scoped_company(c, "Voicemail", cid)),
        "retailsAccountNum": _count(c, _scoped_company(c, "RetailAccount", cid)),
    }


def _user(api: LevelApi, c: Connection, p: Any) -> dict[str, Any]:
    u, ext, term = _t("User"), _t("Extension"), _t("Terminal")
    user = c.execute(select(u).where(u.c.id == p.user_id)).first()
    if user is None:
        raise ApiError(404, "User not found")
    number = c.execute(select(ext.c.number).where(ext.c.id == user.extensionId)).scalar() if user.extensionId else None
    terminal = c.execute(select(term.c.name).where(term.c.id == user.terminalId)).scalar() if user.terminalId else None
    return {"userName": user.name or "", "userLastName": user.lastname or "", "extension": number or "",
            "terminal": terminal or "", "email": user.email or "", "outgoingDdi": _ddi_number(c, user.outgoingDdiId)}
