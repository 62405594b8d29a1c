"""OpenAPI 3 document of one API level, generated from the resource declarations."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from polyvox.api.engine import Resource, resources_for
from polyvox.db import policy
from polyvox.db.contract_decl import ENTITIES
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


# Date-times and times are served as IvozProvider serves them, "2026-12-07 16:00:48" (in the
# request's timezone) and "16:00:48": not RFC 3339 (no offset, a blank for the "T"), so not
# OpenAPI's format date-time/time, which strict clients parse with RFC 3339 parsers and validators
# refuse. They are typed as strings with the exact pattern and "x-polyvox-format".
DATETIME = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$", "x-polyvox-format": "date-time",
            "description": "date-time 'YYYY-MM-DD HH:MM:SS' in the request's timezone (_timezone or the "
                           "principal's)", "example": "2026-12-07 16:00:48"}
TIME = {"type": "string", "pattern": r"^\d{2}:\d{2}:\d{2}$", "x-polyvox-format": "time",
        "description": "time of day 'HH:MM:SS'", "example": "08:30:00"}

# Levels whose declarations decide whether a field can be written as null (see never_null).
_LEVELS = ("platform", "brand", "client", "user")
_BY_LEVEL: dict[str, dict[str, Resource]] = {}


def never_null(entity: str, name: str) -> bool:
    """Whether the API can never answer null for a field: a field that IvozProvider's entity
    requires, has a default (applied on every create, whichever level writes it), is required
    at every level that can write it (so an update cannot clear it), and that no policy shows as
    null (platform data hidden from brands and clients, billing details, unset passwords).
    Every other field is declared ``nullable``."""
    spec = ENTITIES.get(entity, {}).get("fields", {}).get(name)
    if spec is None or not spec.get("required") or spec.get("default") is None or spec.get("kind", "scalar") != "scalar":
        return False
    key = (entity, name)
    if key in policy.GOD_ONLY or key in policy.BILLING_DETAIL_FIELDS or key in policy.PASSWORD_FIELDS \
            or key in policy.NOT_REQUIRED:
        return False
    for level in _LEVELS:
        if level not in _BY_LEVEL:
            _BY_LEVEL[level] = resources_for(level)
        res = _BY_LEVEL[level].get(entity)
        if res is not None and name in res.write and name not in res.required:
            return False
    return True


def _nullable(s: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in s:
        return {"allOf": [s], "nullable": True}
    out = {**s, "nullable": True}
    if "enum" in out:
        out["enum"] = [*out["enum"], None]  # OpenAPI 3.0: null must be one of the enum's values
    return out


def _schema(f: FieldDef, expand_ref: bool = False, nullable: bool = True, level_refs: set[str] | None = None
            ) -> dict[str, Any]:
    s: dict[str, Any]
    if f.kind == "ref":
        if expand_ref and f.target and (level_refs is None or f.target in level_refs):
            s = {"$ref": f"#/components/schemas/{f.target}-embedded"}
        elif expand_ref:
            s = {"type": "object", "properties": {"id": {"type": "integer"}}, "description": f"the {f.target}"}
        else:
            s = {"type": "integer", "description": f"{f.target} id"}
    elif f.kind == "group":
        s = {"type": "object", "properties": {k: _schema(m) for k, m in f.members.items()}}
    elif f.kind == "m2m":
        s = {"type": "array", "items": {"type": "integer"}, "description": f"{f.target} ids"}
    elif f.kind in ("computed", "json"):
        return {"description": "read-only, computed"}
    else:
        if f.type in ("date-time", "time"):
            s = dict(DATETIME if f.type == "date-time" else TIME)
        elif f.type == "date":
            s = {"type": "string", "format": "date"}
        elif f.type == "number":
            s = {"type": "number", "format": "float"}
        else:
            s = {"type": f.type or "string"}
        if f.max_length:
            s["maxLength"] = f.max_length
        if f.enum:
            s["enum"] = list(f.enum)
        if f.default is not None and f.type not in ("date-time", "date", "time"):
            s["default"] = f.default  # (a date's default is "CURRENT_TIMESTAMP": the time of the write)
        if f.minimum is not None:
            s["minimum"] = f.minimum
    if nullable and f.kind in ("scalar", "ref"):
        return _nullable(s)
    return s


def _object(res: Resource, fields: tuple[str, ...], required: tuple[str, ...] = (), expand: bool = False,
            with_id: bool = True, level_refs: set[str] | None = None) -> dict[str, Any]:
    props: dict[str, Any] = {"id": {"type": "integer", "readOnly": True}} if with_id else {}
    for name in fields:
        f = res.fdef(name)
        if f is not None:
            shown_null = (res.name, name) in policy.GOD_ONLY or (res.name, name) in policy.BILLING_DETAIL_FIELDS
            sch = _schema(f, expand_ref=expand, nullable=not never_null(res.name, name), level_refs=level_refs)
            if shown_null and not sch.get("nullable"):
                sch = _nullable(sch)
            props[name] = sch
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


JSON = "application/json"
PROBLEM = {
    "type": "object", "description": "RFC 7807 problem details",
    "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string"},
        "violations": {"type": "array", "items": {"type": "object", "properties": {
            "propertyPath": {"type": "string"}, "message": {"type": "string"}}}}},
    "required": ["title", "status", "detail"],
}
ERRORS = {"400": "Invalid input (the problem names the field or parameter)",
          "401": "Missing, invalid or expired token", "403": "Forbidden",
          "404": "Resource not found", "406": "The requested format (Accept) is not served",
          "415": "The request body is not of a supported media type (JSON, or a form where declared)"}


def _errors(spec: dict[str, Any]) -> None:
    """Every error the API can answer, as it answers it (application/problem+json): 400 for any
    invalid parameter, 401/403 unless public, 404, 406 for an unserved Accept, 415 for bodies."""
    responses = spec.setdefault("responses", {})
    codes = ["400", "404", "406"]
    if spec.get("security") != []:
        codes += ["401", "403"]
    if "requestBody" in spec:
        codes.append("415")
    for code in codes:
        responses.setdefault(code, {"description": ERRORS[code]})
    for code, resp in responses.items():
        if code[0] in "45":
            resp["content"] = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


def build_openapi(api: LevelApi) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {}
    idp = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
    fmt = {"application/json": {}, "application/ld+json": {}}
    level_refs = set(api.engine.resources)
    for res in sorted(api.engine.resources.values(), key=lambda r: r.path):
        n = res.name
        # the plain representation (custom operations answer parts of it: nothing is required)
        schemas[n] = _object(res, tuple(dict.fromkeys((*res.write, *res.simple))))
        # a relation as an item GET embeds it: the target's simple representation
        schemas[f"{n}-embedded"] = _object(res, res.simple)
        if not res.ops:
            continue
        schemas[f"{n}-collection"] = _object(res, res.collection or res.item)
        schemas[f"{n}-detailed"] = _object(res, res.item or res.collection, expand=True, level_refs=level_refs)
        # what a create or an update answers: the item with relations as ids
        schemas[f"{n}-written"] = _object(res, res.item or res.write)
        coll, item = f"/{res.path}", f"/{res.path}/{{id}}"
        tag = [n]
        write_schema: dict[str, Any] = {"allOf": [{"$ref": f"#/components/schemas/{n}"}]}
        required = [r for r in res.required if r in res.write]
        if required:
            write_schema["required"] = required
        body: dict[str, Any] = {"required": True, "content": {
            "application/json": {"schema": write_schema}, "application/ld+json": {"schema": write_schema}}}
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
                "responses": {"201": {"description": f"{n} created", "content": {k: {"schema": ref(f"{n}-written")}
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
                "responses": {"200": {"description": n, "content": {k: {"schema": ref(f"{n}-written")} for k in fmt}},
                              "400": {"description": "Invalid input"}, "404": {"description": "Resource not found"}}}
        if "delete" in res.ops:
            paths.setdefault(item, {})["delete"] = {
                "tags": tag, "operationId": f"delete{n}Item", "summary": f"Removes the {n} resource.",
                "parameters": [idp], "responses": {"204": {"description": "deleted"},
                                                   "404": {"description": "Resource not found"}}}
    token_schema = {"type": "object", "properties": {"token": {"type": "string"}, "refresh_token": {"type": "string"}},
                    "required": ["token", "refresh_token"]}
    tokens = {JSON: {"schema": token_schema}}

    def params_body(props: dict[str, Any], required: list[str]) -> dict[str, Any]:
        schema = {"type": "object", "properties": props, "required": required}
        return {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": schema},
                                              JSON: {"schema": schema}}}

    login = "/user_login" if api.level == "user" else "/admin_login"
    who = "email" if api.level == "user" else "username"
    paths[login] = {"post": {
        "tags": ["Auth"], "operationId": "login", "summary": "Retrieve JWT token", "security": [],
        "requestBody": params_body({who: {"type": "string"}, "password": {"type": "string"}}, [who, "password"]),
        "responses": {"200": {"description": "token", "content": tokens},
                      "401": {"description": "Bad credentials"}, "429": {"description": "Too many attempts"}}}}
    paths["/token/refresh"] = {"post": {
        "tags": ["Auth"], "operationId": "refreshToken", "summary": "Refresh JWT token", "security": [],
        "requestBody": params_body({"refresh_token": {"type": "string"}}, ["refresh_token"]),
        "responses": {"200": {"description": "token", "content": tokens},
                      "401": {"description": "Invalid, used or expired refresh token"}}}}
    if api.level != "platform":
        target = {"brand": {"username": ("string", "Target brand admin user name"),
                            "brandId": ("integer", "Target brand ID")},
                  "client": {"username": ("string", "Target client admin user name"),
                             "clientId": ("integer", "Target client ID")},
                  "user": {"username": ("string", "Target user e-mail")}}[api.level]
        props = {"token": {"type": "string", "description": "A higher level's token (an exchanged one too)"},
                 **{k: {"type": t, "description": d} for k, (t, d) in target.items()}}
        paths["/token/exchange"] = {"post": {
            "tags": ["Auth"], "operationId": "exchangeToken", "summary": "Exchange a higher-level token",
            "security": [], "requestBody": params_body(props, ["token"]),
            "responses": {"201": {"description": "token", "content": tokens},
                          "401": {"description": "Invalid or expired token, or inactive target"},
                          "403": {"description": "Not allowed to impersonate"},
                          "404": {"description": "Target not found"}}}}
    for op in api.extra_ops:
        paths.setdefault(op["path"], {})[op["method"]] = op["spec"]
    for ops in paths.values():
        for spec in ops.values():
            _errors(spec)
    schemas["Problem"] = PROBLEM
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
