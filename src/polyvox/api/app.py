"""The HTTP application: four API levels mounted under /api/<level>."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy import Engine as SqlEngine
from sqlalchemy import select
from sqlalchemy.engine import Connection
from starlette.exceptions import HTTPException as StarletteHTTPException

from polyvox.api import actions, datetimes, files, query, rules  # noqa: F401  (rules register validators)
from polyvox.api.auth import LEVELS, Principal, TokenService, exchange
from polyvox.api.engine import CURRENT_GOD, CURRENT_TZ, Engine, Resource, as_int, check_privilege
from polyvox.api.errors import ApiError
from polyvox.api.openapi import build_openapi

JSON = "application/json"
JSONLD = "application/ld+json"
CSV = "text/csv"


class LevelApi:
    """One API level: its engine, routes and OpenAPI document."""

    def __init__(self, level: str, db: SqlEngine, tokens: TokenService) -> None:
        self.level = level
        self.db = db
        self.tokens = tokens
        self.engine = Engine(level)
        self.app = FastAPI(title=f"Polyvox {level} API", openapi_url=None, docs_url=None, redoc_url=None)
        self.prefix = f"/api/{level}"
        self._doc: dict[str, Any] | None = None
        self.app.add_exception_handler(ApiError, lambda _r, e: e.response())  # type: ignore[arg-type,return-value]
        self.app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
        self.app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
        self._routes()

    # -- helpers
    def principal(self, request: Request) -> Principal:
        auth = request.headers.get("authorization", "")
        if not auth.lower().startswith("bearer "):
            raise ApiError(401, "JWT Token not found")
        p = self.tokens.decode(auth[7:].strip())
        if p.level != self.level:
            raise ApiError(403, f"a {p.level} token cannot be used on the {self.level} API")
        CURRENT_GOD.set(p.is_global_operator)
        tz_name = request.query_params.get("_timezone") or p.timezone
        try:
            CURRENT_TZ.set(datetimes.zone(tz_name) if tz_name else None)
        except datetimes.DateTimeFormatError as e:
            raise ApiError(400, str(e), field="_timezone") from e
        return p

    def run(self, fn: Callable[[Connection], Any]) -> Any:
        with self.db.begin() as conn:
            return fn(conn)

    def _routes(self) -> None:
        app = self.app
        app.add_api_route("/openapi.json", self.openapi, methods=["GET"], include_in_schema=False)
        app.add_api_route("/docs", self.docs, methods=["GET"], include_in_schema=False)
        if self.level == "user":
            app.add_api_route("/user_login", self.user_login, methods=["POST"])
        else:
            app.add_api_route("/admin_login", self.admin_login, methods=["POST"])
        app.add_api_route("/token/refresh", self.token_refresh, methods=["POST"])
        if self.level != "platform":
            app.add_api_route("/token/exchange", self.token_exchange, methods=["POST"])
        actions.register(self)
        for res in sorted(self.engine.resources.values(), key=lambda r: r.path):
            if not res.ops:
                continue
            base = "/" + res.path
            if "list" in res.ops:
                app.add_api_route(base, self._list(res), methods=["GET"])
            if "create" in res.ops:
                app.add_api_route(base, self._create(res), methods=["POST"])
            if "get" in res.ops:
                app.add_api_route(base + "/{ident}", self._get(res), methods=["GET"])
            if "update" in res.ops:
                app.add_api_route(base + "/{ident}", self._update(res), methods=["PUT"])
            if "delete" in res.ops:
                app.add_api_route(base + "/{ident}", self._delete(res), methods=["DELETE"])
            if "get" in res.ops:
                for lower, fname in files.file_fields(res).items():
                    app.add_api_route(f"{base}/{{ident}}/{lower}", self._download(res, fname), methods=["GET"])
                    self.extra_ops.append({"method": "get", "path": f"{base}/{{id}}/{lower}", "spec": {
                        "tags": [res.name], "summary": f"Downloads the {fname} of a {res.name}",
                        "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}],
                        "responses": {"200": {"description": "the file", "content": {
                            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
                            "404": {"description": "no such item or no file"}}}})

    # -- docs
    def openapi(self) -> JSONResponse:
        if self._doc is None:
            self._doc = build_openapi(self)
        return JSONResponse(self._doc)

    def docs(self) -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=f"{self.prefix}/openapi.json", title=f"Polyvox {self.level} API")

    # -- auth
    async def admin_login(self, request: Request) -> JSONResponse:
        form = await _form(request)
        username, password = form.get("username"), form.get("password")
        if not username or not password:
            raise ApiError(400, "username and password are required", field="username" if not username else "password")
        return JSONResponse(await _in_thread(self.tokens.login, self.level, username, password,
                                             _client_address(request)))

    async def user_login(self, request: Request) -> JSONResponse:
        form = await _form(request)
        email, password = form.get("email") or form.get("username"), form.get("password")
        if not email or not password:
            raise ApiError(400, "email and password are required", field="email" if not email else "password")
        return JSONResponse(await _in_thread(self.tokens.login, "user", email, password, _client_address(request)))

    async def token_refresh(self, request: Request) -> JSONResponse:
        form = await _form(request)
        refresh = form.get("refresh_token")
        if not refresh:
            raise ApiError(400, "refresh_token is required", field="refresh_token")
        return JSONResponse(self.run(lambda c: self.tokens.refresh(c, refresh)))

    async def token_exchange(self, request: Request) -> JSONResponse:
        form = await _form(request)
        token = form.get("token")
        if not token:
            raise ApiError(400, "token is required", field="token")
        origin = self.tokens.decode(token)

        def opt_int(name: str) -> int | None:
            v = form.get(name)
            return None if v in (None, "") else as_int(name, v)

        def do(c: Connection) -> dict[str, str]:
            p = exchange(c, origin, self.level, username=form.get("username") or None,
                         brand_id=opt_int("brandId"), client_id=opt_int("clientId"))
            issued = self.tokens.issue(c, p)
            return {"token": issued["token"], "refresh_token": issued["refresh_token"]}

        return JSONResponse(self.run(do), status_code=201)

    # -- CRUD
    def _list(self, res: Resource) -> Callable[..., Any]:
        def handler(request: Request) -> Response:
            p = self.principal(request)
            fmt = _format(request)
            q = query.parse(res, list(request.query_params.multi_items()))
            fields = query.check_properties(res, q.properties, res.collection or res.item)

            def do(c: Connection) -> tuple[int, list[dict[str, Any]]]:
                check_privilege(c, p, res, "list")
                self.engine.check_billing_entity(c, res, p)
                hidden = self.engine.billing_hidden(c, p)
                sel = query.apply(res, q, self.engine.base_select(res, p))
                total, rows = query.fetch_page(c, sel, q)
                return total, [self.engine.row_to_dict(c, res, r, fields, hidden=hidden) for r in rows]

            total, items = self.run(do)
            headers = query.paging_headers(f"{self.prefix}/{res.path}", list(request.query_params.multi_items()),
                                           q, total)
            return self.render_collection(res, items, fmt, headers, total, fields)

        return handler

    def _get(self, res: Resource) -> Callable[..., Any]:
        def handler(ident: str, request: Request) -> Response:
            p = self.principal(request)
            fmt = _format(request, allow_csv=False)
            props = [v for k, v in request.query_params.multi_items() if k in ("_properties[]", "_properties")]
            fields = query.check_properties(res, props, res.item or res.collection)

            def do(c: Connection) -> dict[str, Any]:
                check_privilege(c, p, res, "get")
                self.engine.check_billing_entity(c, res, p)
                row = self.engine.fetch(c, res, p, ident)
                return self.engine.row_to_dict(c, res, row, fields, expand=True, hidden=self.engine.billing_hidden(c, p))

            return self.render_item(res, self.run(do), fmt)

        return handler

    def _download(self, res: Resource, fname: str) -> Callable[..., Any]:
        def handler(ident: str, request: Request) -> Response:
            p = self.principal(request)

            def do(c: Connection) -> tuple[bytes, str, str]:
                check_privilege(c, p, res, "get")
                return files.load(c, res, self.engine.fetch(c, res, p, ident), fname)

            content, mime, name = self.run(do)
            safe = name.replace('"', "").replace("\r", "").replace("\n", "")
            return Response(content, media_type=mime, headers={"Content-Disposition": f'attachment; filename="{safe}"'})

        return handler

    def _create(self, res: Resource) -> Callable[..., Any]:
        async def handler(request: Request) -> Response:
            p = self.principal(request)
            body, uploads = await files.read_body(request, res)
            fmt = _format(request, allow_csv=False)

            def do(c: Connection) -> dict[str, Any]:
                check_privilege(c, p, res, "create")
                row = self.engine.create(c, res, p, body)
                if uploads:
                    files.store(c, res, row.id, uploads)
                    row = c.execute(select(res.table).where(res.table.c.id == row.id)).first()
                return self.engine.row_to_dict(c, res, row, res.item or res.write)

            return self.render_item(res, await _in_thread(self.run, do), fmt, status=201)

        return handler

    def _update(self, res: Resource) -> Callable[..., Any]:
        async def handler(ident: str, request: Request) -> Response:
            p = self.principal(request)
            body, uploads = await files.read_body(request, res)
            fmt = _format(request, allow_csv=False)

            def do(c: Connection) -> dict[str, Any]:
                check_privilege(c, p, res, "update")
                row = self.engine.update(c, res, p, ident, body)
                if uploads:
                    files.store(c, res, row.id, uploads)
                    row = c.execute(select(res.table).where(res.table.c.id == row.id)).first()
                return self.engine.row_to_dict(c, res, row, res.item or res.write)

            return self.render_item(res, await _in_thread(self.run, do), fmt)

        return handler

    def _delete(self, res: Resource) -> Callable[..., Any]:
        def handler(ident: str, request: Request) -> Response:
            p = self.principal(request)

            def do(c: Connection) -> None:
                check_privilege(c, p, res, "delete")
                self.engine.delete(c, res, p, ident)

            self.run(do)
            return Response(status_code=204)

        return handler

    # -- rendering
    def render_item(self, res: Resource, item: dict[str, Any], fmt: str, status: int = 200) -> Response:
        if fmt == JSONLD:
            body = {"@context": f"{self.prefix}/contexts/{res.name}", "@id": f"{self.prefix}/{res.path}/{item['id']}",
                    "@type": res.name, **item}
            return JSONResponse(body, status_code=status, media_type=JSONLD)
        return JSONResponse(item, status_code=status)

    def render_collection(self, res: Resource, items: list[dict[str, Any]], fmt: str, headers: dict[str, str],
                          total: int, fields: tuple[str, ...]) -> Response:
        if fmt == CSV:
            return Response(to_csv(res, items, fields), media_type="text/csv; charset=utf-8", headers=headers)
        if fmt == JSONLD:
            members = [{"@id": f"{self.prefix}/{res.path}/{i['id']}", "@type": res.name, **i} for i in items]
            body = {"@context": f"{self.prefix}/contexts/{res.name}", "@id": f"{self.prefix}/{res.path}",
                    "@type": "hydra:Collection", "hydra:member": members, "hydra:totalItems": total}
            return JSONResponse(body, media_type=JSONLD, headers=headers)
        return JSONResponse(items, headers=headers)


def to_csv(res: Resource, items: list[dict[str, Any]], fields: tuple[str, ...]) -> str:
    cols: list[str] = ["id"]
    for name in fields:
        f = res.fdef(name)
        if f is not None and f.kind == "group":
            cols.extend(f"{name}.{m}" for m in f.members)
        elif f is not None:
            cols.append(name)
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(cols)
    for item in items:
        row = []
        for c in cols:
            if "." in c:
                g, m = c.split(".", 1)
                v = (item.get(g) or {}).get(m)
            else:
                v = item.get(c)
            if isinstance(v, list):
                v = ",".join(str(x) for x in v)
            elif isinstance(v, bool):
                v = int(v)
            row.append("" if v is None else v)
        w.writerow(row)
    return out.getvalue()


def _format(request: Request, allow_csv: bool = True) -> str:
    accept = request.headers.get("accept", "")
    if allow_csv and CSV in accept:
        return CSV
    if JSONLD in accept:
        return JSONLD
    if accept and not any(x in accept for x in (JSON, "*/*", "text/html", CSV)):
        raise ApiError(406, f"Requested format '{accept}' is not supported (application/json, "
                            "application/ld+json, text/csv)")
    return JSON


async def _form(request: Request) -> dict[str, str]:
    return await files.read_form(request)


def _client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


async def _in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(fn, *args)


async def _http_error(_request: Request, exc: StarletteHTTPException) -> Response:
    return ApiError(exc.status_code, str(exc.detail)).response()


async def _validation_error(_request: Request, exc: RequestValidationError) -> Response:
    """FastAPI's own parameter validation (typed path parameters of custom operations): a 400
    problem naming the parameter, like every other invalid input."""
    errors = exc.errors()
    violations = [{"propertyPath": str(e.get("loc", ("", "?"))[-1]), "message": str(e.get("msg", "invalid"))}
                  for e in errors] or [{"propertyPath": "", "message": "invalid request"}]
    first = violations[0]
    return ApiError(400, first["message"], field=first["propertyPath"], violations=violations).response()


def create_app(db: SqlEngine, secret: str, ttl: int = 3600) -> FastAPI:
    tokens = TokenService(secret, ttl=ttl, db=db)
    root = FastAPI(title="Polyvox", docs_url=None, redoc_url=None, openapi_url=None)
    root.state.levels = {}
    for level in LEVELS:
        api = LevelApi(level, db, tokens)
        root.state.levels[level] = api
        root.mount(f"/api/{level}", api.app)

    @root.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        with db.connect() as c:
            c.execute(select(1))
        return {"status": "ok"}

    @root.get("/", include_in_schema=False)
    def index() -> HTMLResponse:
        links = "".join(f'<li>{lv}: <a href="/api/{lv}/docs">/api/{lv}/docs</a> · '
                        f'<a href="/api/{lv}/openapi.json">openapi.json</a></li>' for lv in LEVELS)
        return HTMLResponse(f"<!doctype html><title>Polyvox</title><h1>Polyvox</h1><ul>{links}</ul>")

    _ = Path  # keep import for later static portals
    return root
