"""OpenAPI 3 document of one API level, generated from the resource declarations."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from polyvox.api.engine import Resource
from polyvox.db.model import FieldDef

if TYPE_CHECKING:
    from polyvox.api.app import LevelApi

FILTER_OPS = {
    "string": ("exact", "start", "partial", "end", "neq", "exists"),
    "integer": ("exact", "neq", "gt", "gte", "lt", "lte", "between", "exists"),
    "number": ("exact", "neq", "gt", "gte", "lt", "lte", "between", "exists"),
    "date-time": ("exact", "after", "before", "strictly_after", "strictly_before", "exists"),
    "date": ("exact", "after", "before", "strictly_after", "strictly_before", "exists"),
    "time": ("exact", "after", "before", "exists"),
    "boolean": ("exact", "neq", "exists"),
}


def _schema(f: FieldDef, expand_ref: bool = False) -> dict[str, Any]:
    if f.kind == "ref":
        if expand_ref and f.target:
            return {"$ref": f"#/components/schemas/{f.target}"}
        return {"type": "integer", "description": f"{f.target} id"}
    if f.kind == "group":
        return {"type": "object", "properties": {k: _schema(m) for k, m in f.members.items()}}
    if f.kind == "m2m":
        return {"type": "array", "items": {"type": "integer"}, "description": f"{f.target} ids"}
    if f.kind in ("computed", "json"):
        return {"description": "read-only, computed"}
    s: dict[str, Any] = {}
    if f.type in ("date-time", "date", "time"):
        s = {"type": "string", "format": f.type}
    elif f.type == "number":
        s = {"type": "number", "format": "float"}
    else:
        s = {"type": f.type or "string"}
    if f.max_length:
        s["maxLength"] = f.max_length
    if f.enum:
        s["enum"] = list(f.enum)
    if f.default is not None:
        s["default"] = f.default
    if f.minimum is not None:
        s["minimum"] = f.minimum
    return s


def _object(res: Resource, fields: tuple[str, ...], required: tuple[str, ...] = (), expand: bool = False,
            with_id: bool = True) -> dict[str, Any]:
    props: dict[str, Any] = {"id": {"type": "integer", "readOnly": True}} if with_id else {}
    for name in fields:
        f = res.fdef(name)
        if f is not None:
            props[name] = _schema(f, expand_ref=expand)
    out: dict[str, Any] = {"type": "object", "properties": props}
    req = [r for r in required if r in props]
    if req:
        out["required"] = req
    return out


def _filters(res: Resource) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = []
    for name in res.collection or res.item:
        f = res.fdef(name)
        if f is None:
            continue
        if f.kind == "ref":
            params += [{"name": name, "in": "query", "schema": {"type": "string"}},
                       {"name": f"{name}[]", "in": "query", "schema": {"type": "string"}},
                       {"name": f"{name}[exists]", "in": "query", "schema": {"type": "boolean"}}]
        elif f.kind == "scalar":
            params.append({"name": name, "in": "query", "schema": {"type": "string"}})
            params += [{"name": f"{name}[{op}]", "in": "query", "schema": {"type": "string"}}
                       for op in FILTER_OPS.get(f.type, ())]
            params.append({"name": f"_order[{name}]", "in": "query",
                           "schema": {"type": "string", "enum": ["ASC", "DESC"]}})
        elif f.kind == "group":
            for m, mf in f.members.items():
                params += [{"name": f"{name}.{m}[{op}]", "in": "query", "schema": {"type": "string"}}
                           for op in FILTER_OPS.get(mf.type, ())]
    params += [
        {"name": "_page", "in": "query", "schema": {"type": "integer", "default": 1}},
        {"name": "_itemsPerPage", "in": "query", "schema": {"type": "integer", "default": 30, "maximum": 10000}},
        {"name": "_pagination", "in": "query", "schema": {"type": "boolean"}},
        {"name": "_properties[]", "in": "query", "schema": {"type": "array", "items": {"type": "string"}}},
    ]
    return params


PAGING_HEADERS = {h: {"schema": {"type": "integer" if "Total" in h else "string"}}
                  for h in ("X-Total-Items", "X-Total-Pages", "X-First-Page", "X-Next-Page", "X-Last-Page")}


def build_openapi(api: LevelApi) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {}
    idp = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
    fmt = {"application/json": {}, "application/ld+json": {}}
    for res in sorted(api.engine.resources.values(), key=lambda r: r.path):
        n = res.name
        schemas[n] = _object(res, res.write or res.simple, res.required)
        if res.simple:
            schemas[n] = _object(res, tuple(dict.fromkeys((*res.write, *res.simple))), res.required)
        if not res.ops:
            continue
        schemas[f"{n}-collection"] = _object(res, res.collection)
        schemas[f"{n}-detailed"] = _object(res, res.item, expand=True)
        coll, item = f"/{res.path}", f"/{res.path}/{{id}}"
        tag = [n]
        body: dict[str, Any] = {"required": True, "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{n}"}},
            "application/ld+json": {"schema": {"$ref": f"#/components/schemas/{n}"}}}}
        uploads = [name for name, f in res.ent.fields.items() if f.is_file and name in res.write + res.item]
        if uploads:
            body["content"]["multipart/form-data"] = {"schema": {"type": "object", "properties": {
                n[0].lower() + n[1:]: {"type": "string", "description": f"the {n} as JSON"},
                **{u[0].upper() + u[1:]: {"type": "string", "format": "binary"} for u in uploads}}}}

        def ref(s: str) -> dict[str, Any]:
            return {"$ref": f"#/components/schemas/{s}"}

        if "list" in res.ops:
            paths.setdefault(coll, {})["get"] = {
                "tags": tag, "operationId": f"get{n}Collection", "summary": f"Retrieves the collection of {n} resources.",
                "parameters": _filters(res),
                "responses": {"200": {"description": f"{n} collection", "headers": PAGING_HEADERS, "content": {
                    "application/json": {"schema": {"type": "array", "items": ref(f"{n}-collection")}},
                    "application/ld+json": {"schema": {"type": "object"}},
                    "text/csv": {"schema": {"type": "string"}}}}}}
        if "create" in res.ops:
            paths.setdefault(coll, {})["post"] = {
                "tags": tag, "operationId": f"post{n}Collection", "summary": f"Creates a {n} resource.",
                "requestBody": body,
                "responses": {"201": {"description": f"{n} created", "content": {k: {"schema": ref(f"{n}-detailed")}
                                                                                  for k in fmt}},
                              "400": {"description": "Invalid input"}}}
        if "get" in res.ops:
            paths.setdefault(item, {})["get"] = {
                "tags": tag, "operationId": f"get{n}Item", "summary": f"Retrieves a {n} resource.", "parameters": [idp],
                "responses": {"200": {"description": n, "content": {k: {"schema": ref(f"{n}-detailed")} for k in fmt}},
                              "404": {"description": "Resource not found"}}}
        if "update" in res.ops:
            paths.setdefault(item, {})["put"] = {
                "tags": tag, "operationId": f"put{n}Item", "summary": f"Replaces the {n} resource.", "parameters": [idp],
                "requestBody": body,
                "responses": {"200": {"description": n, "content": {k: {"schema": ref(f"{n}-detailed")} for k in fmt}},
                              "400": {"description": "Invalid input"}, "404": {"description": "Resource not found"}}}
        if "delete" in res.ops:
            paths.setdefault(item, {})["delete"] = {
                "tags": tag, "operationId": f"delete{n}Item", "summary": f"Removes the {n} resource.",
                "parameters": [idp], "responses": {"204": {"description": "deleted"},
                                                   "404": {"description": "Resource not found"}}}
    form = {"application/x-www-form-urlencoded": {"schema": {"type": "object"}}}
    login = "/user_login" if api.level == "user" else "/admin_login"
    paths[login] = {"post": {"tags": ["Auth"], "summary": "Retrieve JWT token", "requestBody": {"content": form},
                             "responses": {"200": {"description": "token"}, "401": {"description": "Bad credentials"}}}}
    paths["/token/refresh"] = {"post": {"tags": ["Auth"], "summary": "Refresh JWT token",
                                        "requestBody": {"content": form}, "responses": {"200": {"description": "token"}}}}
    if api.level != "platform":
        target = {"brand": {"username": ("string", "Target brand admin user name"),
                            "brandId": ("integer", "Target brand ID")},
                  "client": {"username": ("string", "Target client admin user name"),
                             "clientId": ("integer", "Target client ID")},
                  "user": {"username": ("string", "Target user e-mail")}}[api.level]
        props = {"token": {"type": "string", "description": "A higher level's token (an exchanged one too)"},
                 **{k: {"type": t, "description": d} for k, (t, d) in target.items()}}
        exchange_form = {"application/x-www-form-urlencoded": {"schema": {
            "type": "object", "required": ["token"], "properties": props}}}
        paths["/token/exchange"] = {"post": {"tags": ["Auth"], "summary": "Exchange a higher-level token",
                                             "requestBody": {"content": exchange_form},
                                             "responses": {"201": {"description": "token"},
                                                           "403": {"description": "Not allowed to impersonate"},
                                                           "404": {"description": "Target not found"}}}}
    for op in api.extra_ops:
        paths.setdefault(op["path"], {})[op["method"]] = op["spec"]
    return {
        "openapi": "3.0.3",
        "info": {"title": f"Polyvox {api.level} API", "version": "1.0",
                 "description": "IvozProvider-compatible API. Authenticate with " + login +
                 ", then send 'Authorization: Bearer <token>'."},
        "servers": [{"url": api.prefix}],
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": schemas, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}},
        "security": [{"bearer": []}],
    }
