#!/usr/bin/env python3
"""Bootstrap Polyvox's resource declarations from IvozProvider's API contract.

Reads the four Swagger documents of the compatibility contract
(../shared/reference/ivozprovider-api/<level>.json by default) and writes
``src/polyvox/db/contract_decl.py``: for every resource the union of its fields over
the four levels (type, length, enum, default, requiredness, relation target, embedded
value objects) and, per level, the operations served and the field sets of the
collection, item and write representations.

The generated module is plain data and is committed; Polyvox never reads the
contract at run time. Hand-written policy (tenancy, visibility overrides, validation
rules, many-to-many fields, computed fields) lives in ``polyvox.db.policy``.

Usage: tools/gen_declarations.py [CONTRACT_DIR]
"""

from __future__ import annotations

import json
import pprint
import re
import sys
from pathlib import Path

LEVELS = ("platform", "brand", "client", "user")
ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "src" / "polyvox" / "db" / "contract_decl.py"

# Paths served by hand-written actions, not by the CRUD engine.
ITEM_RE = re.compile(r"^/([a-z_]+)/\{id\}$")
COLL_RE = re.compile(r"^/([a-z_]+)$")


def base(defname: str) -> str:
    return defname.split("-", 1)[0]


def ref_name(prop: dict) -> str | None:
    ref = prop.get("$ref")
    return ref.split("/")[-1] if ref else None


def resp_schema(op: dict) -> str | None:
    for resp in op.get("responses", {}).values():
        sch = resp.get("schema")
        if sch:
            if "items" in sch:
                sch = sch["items"]
            return ref_name(sch)
    return None


def body_schema(op: dict) -> str | None:
    for prm in op.get("parameters", []):
        if prm.get("in") == "body":
            return ref_name(prm.get("schema", {}))
    return None


def main() -> int:
    cdir = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "reference" / "ivozprovider-api"
    docs = {lvl: json.loads((cdir / f"{lvl}.json").read_text()) for lvl in LEVELS}

    # 1. resources: roots of /x and /x/{id} paths with an entity schema
    resources: dict[str, str] = {}  # entity -> path root
    levels: dict[str, dict[str, dict]] = {lvl: {} for lvl in LEVELS}
    for lvl, doc in docs.items():
        for path, item in doc["paths"].items():
            m_coll, m_item = COLL_RE.match(path), ITEM_RE.match(path)
            if not (m_coll or m_item):
                continue
            root = (m_coll or m_item).group(1)  # type: ignore[union-attr]
            if root in ("admin_login", "user_login"):
                continue
            for method, op in item.items():
                schema = resp_schema(op) or body_schema(op)
                if not schema or schema.startswith("?"):
                    continue
                ent = base(schema)
                if not any(ent + sfx in docs[lvl]["definitions"] for sfx in ("", "-detailed", "-collection")):
                    continue
                if ent.endswith("Range") or ent.endswith("MassImport"):
                    continue
                resources.setdefault(ent, root)
                rl = levels[lvl].setdefault(ent, {"ops": set(), "collection": None, "item": None, "write": None})
                kind = {"get": "list" if m_coll else "get", "post": "create", "put": "update", "delete": "delete"}[method]
                rl["ops"].add(kind)
                if kind == "list":
                    rl["collection"] = schema
                elif kind == "get":
                    rl["item"] = schema
                elif kind in ("create", "update"):
                    # multipart operations (files) carry the resource as a form field: base definition
                    multipart = "multipart/form-data" in op.get("consumes", [])
                    rl["write"] = body_schema(op) or rl["write"] or (
                        ent if multipart and ent in docs[lvl]["definitions"] else None)
                    rl.setdefault("write_response", schema)

    # DELETE operations carry no schema: attach them through the path's resource
    for lvl, doc in docs.items():
        by_root = {root: ent for ent, root in resources.items()}
        for path, item in doc["paths"].items():
            m_item = ITEM_RE.match(path)
            if m_item and "delete" in item and m_item.group(1) in by_root:
                ent = by_root[m_item.group(1)]
                rl = levels[lvl].setdefault(ent, {"ops": set(), "collection": None, "item": None, "write": None})
                rl["ops"].add("delete")

    def props(lvl: str, defname: str | None) -> dict:
        if not defname:
            return {}
        return docs[lvl]["definitions"].get(defname, {}).get("properties", {})

    def required(lvl: str, defname: str | None) -> set[str]:
        if not defname:
            return set()
        return set(docs[lvl]["definitions"].get(defname, {}).get("required", []))

    # 2. entity fields: union over every definition of the entity at every level
    entities: dict[str, dict] = {}
    for ent in sorted(resources):
        fields: dict[str, dict] = {}
        for doc in docs.values():
            for defname, df in doc["definitions"].items():
                if base(defname) != ent or "_" in defname:
                    continue
                suffix = defname.split("-", 1)[1] if "-" in defname else ""
                if suffix in ("status", "statusItem", "balances", "dailyUsage", "rating", "myProfile", "updateMyProfile"):
                    continue
                req = set(df.get("required", []))
                for fname, p in df.get("properties", {}).items():
                    if fname == "id":
                        continue
                    f = fields.setdefault(fname, {})
                    target = ref_name(p)
                    if target and target.endswith("Status"):
                        f["kind"] = "virtual"
                    elif target and ("_" in target or base(target) not in resources):
                        sub = doc["definitions"][target]
                        f["kind"] = "group"
                        members = f.setdefault("members", {})
                        sreq = set(sub.get("required", []))
                        for sname, sp in sub.get("properties", {}).items():
                            mem = members.setdefault(sname, {})
                            _scalar(mem, sp, sname in sreq)
                    elif target:
                        f["kind"] = "ref"
                        f["target"] = base(target)
                        if fname in req:
                            f["required"] = True
                    elif p.get("type") == "array":
                        f["kind"] = "array"
                        f["items"] = p.get("items", {}).get("type", "string")
                    else:
                        if f.get("kind") != "ref":
                            f.setdefault("kind", "scalar")
                        _scalar(f, p, fname in req)
        entities[ent] = {"path": resources[ent], "fields": fields}

    # integer fields never seen as a $ref but named after an entity are relations too
    lower = {e[0].lower() + e[1:]: e for e in entities}
    for ent in entities.values():
        for fname, f in ent["fields"].items():
            if f.get("kind") == "scalar" and f.get("type") == "integer" and fname in lower:
                f["kind"] = "ref"
                f["target"] = lower[fname]
            if f.get("kind") == "ref":
                for k in ("type", "maxLength", "default", "enum", "minimum", "example"):
                    f.pop(k, None)

    # 3. per level exposure
    exposure: dict[str, dict[str, dict]] = {}
    for lvl in LEVELS:
        exposure[lvl] = {}
        # entities only embedded in others' detailed views still need their simple view
        for ent in entities:
            if ent not in levels[lvl] and ent in docs[lvl]["definitions"]:
                exposure[lvl][ent] = {"ops": (), "collection": (), "item": (), "write": (), "required": (),
                                      "simple": tuple(k for k in props(lvl, ent) if k != "id")}
        for ent, rl in sorted(levels[lvl].items()):
            wdef = rl.get("write")
            wprops = props(lvl, wdef)
            exposure[lvl][ent] = {
                "ops": tuple(sorted(rl["ops"])),
                "collection": tuple(k for k in props(lvl, rl["collection"]) if k != "id"),
                "item": tuple(k for k in props(lvl, rl["item"] or rl.get("write_response")) if k != "id"),
                "write": tuple(k for k, v in wprops.items() if k != "id" and not v.get("readOnly")),
                "required": tuple(sorted(required(lvl, wdef))),
                "simple": tuple(k for k in props(lvl, ent) if k != "id"),
            }

    with OUT.open("w") as out:
        out.write('"""Generated by tools/gen_declarations.py from IvozProvider\'s API contract. Do not edit.\n\n')
        out.write("ENTITIES: entity -> {path, fields}; EXPOSURE: level -> entity -> {ops, collection, item,\n")
        out.write('write, required}. Hand-written policy lives in polyvox.db.policy.\n"""\n\n')
        out.write("# ruff: noqa: E501\n")
        out.write("from typing import Any\n\n")
        out.write("ENTITIES: dict[str, dict[str, Any]] = ")
        out.write(pprint.pformat(entities, width=110, sort_dicts=True))
        out.write("\n\nEXPOSURE: dict[str, dict[str, dict[str, Any]]] = ")
        out.write(pprint.pformat(exposure, width=110, sort_dicts=True))
        out.write("\n")
    print(f"wrote {OUT.relative_to(ROOT)}: {len(entities)} entities")
    return 0


def _scalar(f: dict, p: dict, req: bool) -> None:
    for k in ("type", "format", "maxLength", "minimum", "maximum", "enum", "default"):
        if k in p and k not in f:
            f[k] = p[k]
    if req:
        f["required"] = True


if __name__ == "__main__":
    sys.exit(main())
