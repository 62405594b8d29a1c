#!/usr/bin/env python3
"""Regenerate the IvozProvider-numbered reference data under ``src/polyvox/refdata``.

IvozProvider integrations hard-code reference ids (country 70 is Spain, currency 1 is
EUR, language 1 is Spanish...), so Polyvox loads its reference rows with the ids,
codes and names an IvozProvider installation creates. This script reads those facts
from a local git mirror of IvozProvider (``schema/initial.sql`` plus the data changes
of the later ``schema/DoctrineMigrations`` at the same tag) and writes plain Python
data; Polyvox never reads the mirror at run time. Usage::

    python3.11 tools/gen_refdata_ivozprovider.py            # writes the files
    python3.11 tools/gen_refdata_ivozprovider.py --check    # exit 1 if stale
    python3.11 tools/gen_refdata_ivozprovider.py --repo DIR --tag v3.4.1

Outputs:

* ``_ivozprovider.py``: countries, currencies, languages, time zones, features,
  services, codecs, terminal manufacturers and models, notification template ids.
* ``_ivozprovider_rules.py``: the per-country numeric transformation rule sets and
  their rules.
* ``_polyvox_ids.py``: the ids of Polyvox's own rows IvozProvider does not have
  (more currencies and time zones, Basque, video codecs...). Ids already assigned
  there are kept on every run, new rows get the next free id, so an id never moves.

Only stdlib; no third-party package.
"""

from __future__ import annotations

import argparse
import re
import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "src" / "polyvox" / "refdata"
DEFAULT_REPO = Path("/work/.mirror/irontec+ivozprovider/repo")
DEFAULT_TAG = "v3.4.1"

TABLES = (
    "Countries", "Currencies", "Languages", "Timezones", "Features", "Services", "Codecs",
    "TerminalManufacturers", "TerminalModels", "NotificationTemplates", "NotificationTemplatesContents",
    "TransformationRuleSets", "TransformationRules",
)
# Doctrine migrations (up to the tag) that mention a reference table, and what their data
# change is. A migration not listed here stops the generator: read it and add it.
KNOWN_MIGRATIONS = {
    "Version20211004094635": "schema only (Brands.languageId NOT NULL)",
    "Version20220603091748": "schema only (wider Countries.name_*)",
    "Version20220715093144": "CG names get ' Brazaville' (Countries, TransformationRuleSets)",
    "Version20230113114920": "schema only (Contacts -> Countries)",
    "Version20230817071407": "PublicEntities only",
    "Version20231115173418": "Features: operatorPanel",
    "Version20231127093825": "Services: QueuePause, QueueUnpause",
}
_MIGRATION_MENTIONS = re.compile(
    r"\b(Countries|Languages|Currencies|Timezones|Features|Services|TerminalManufacturers|TerminalModels|"
    r"TransformationRuleSets|TransformationRules|Codecs|NotificationTemplates|NotificationTemplatesContents)\b")


# --------------------------------------------------------------------------- git mirror
def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


# ------------------------------------------------------------------------ MySQL dump
_MYSQL_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "0": "\0", "Z": "\x1a", "b": "\b"}


def _sql_values(text: str) -> list[tuple[Any, ...]]:
    """Rows of a mysqldump ``VALUES (...),(...)`` list."""
    rows: list[tuple[Any, ...]] = []
    i, n = 0, len(text)
    while i < n:
        if text[i] != "(":
            raise ValueError(f"expected '(' at {text[i:i + 40]!r}")
        i += 1
        row: list[Any] = []
        while True:
            if text[i] == "'":
                i += 1
                buf = []
                while True:
                    c = text[i]
                    if c == "\\":
                        buf.append(_MYSQL_ESCAPES.get(text[i + 1], text[i + 1]))
                        i += 2
                    elif c == "'" and text[i + 1] == "'":
                        buf.append("'")
                        i += 2
                    elif c == "'":
                        i += 1
                        break
                    else:
                        buf.append(c)
                        i += 1
                row.append("".join(buf))
            else:
                j = i
                while text[j] not in ",)":
                    j += 1
                tok = text[i:j]
                i = j
                row.append(None if tok == "NULL" else int(tok) if re.fullmatch(r"-?\d+", tok) else tok)
            if text[i] == ",":
                i += 1
                continue
            i += 1  # ')'
            break
        rows.append(tuple(row))
        if i < n and text[i] == ",":
            i += 1
    return rows


def _dump_table(sql: str, table: str) -> tuple[list[str], list[tuple[Any, ...]], int]:
    """(column names, rows, AUTO_INCREMENT) of one table of the dump."""
    m = re.search(rf"CREATE TABLE `{table}` \((.*?)\n\) (ENGINE=[^;]*);", sql, re.S)
    if not m:
        raise SystemExit(f"table {table} not found in initial.sql")
    auto = re.search(r"AUTO_INCREMENT=(\d+)", m.group(2))
    cols = re.findall(r"^\s+`(\w+)` ", m.group(1), re.M)
    v = re.search(rf"INSERT INTO `{table}` VALUES (.*);\n", sql)
    rows = _sql_values(v.group(1)) if v else []
    for r in rows:
        if len(r) != len(cols):
            raise SystemExit(f"{table}: row {r[:3]} has {len(r)} values for {len(cols)} columns")
    return cols, rows, int(auto.group(1)) if auto else 1


# ---------------------------------------------------------------- PHP migrations
def _php_string_values(text: str) -> list[Any]:
    """Values of a MySQL ``VALUES (...)`` written inside a PHP string (double-quoted strings)."""
    out: list[Any] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c in " \n\t,":
            i += 1
        elif c == '"':
            i += 1
            buf = []
            while text[i] != '"':
                if text[i] == "\\":
                    buf.append(text[i + 1])
                    i += 2
                else:
                    buf.append(text[i])
                    i += 1
            i += 1
            out.append("".join(buf))
        else:
            m = re.match(r"-?\d+", text[i:])
            if not m:
                raise SystemExit(f"cannot read value at {text[i:i + 30]!r}")
            out.append(int(m.group(0)))
            i += m.end()
    return out


def _php_inserts(php: str, table: str) -> list[dict[str, Any] | list[Any]]:
    """``INSERT INTO <table> [(cols)] VALUES (...)`` statements of a migration's up()."""
    up = php.split("function down", 1)[0]
    found: list[dict[str, Any] | list[Any]] = []
    for m in re.finditer(rf"INSERT INTO {table}\s*(\(([^)]*)\))?\s*VALUES\s*\(", up):
        start = m.end()
        depth, i, quoted = 1, start, False
        while depth:
            c = up[i]
            if c == "\\":
                i += 2
                continue
            if c == '"':
                quoted = not quoted
            elif not quoted and c == "(":
                depth += 1
            elif not quoted and c == ")":
                depth -= 1
            i += 1
        values = _php_string_values(up[start:i - 1])
        if m.group(2):
            cols = [c.strip() for c in m.group(2).split(",")]
            found.append(dict(zip(cols, values, strict=True)))
        else:
            found.append(values)
    return found


# ----------------------------------------------------------------------- extraction
def extract(repo: Path, tag: str) -> dict[str, Any]:
    sql = _git(repo, "show", f"{tag}:schema/initial.sql")
    data: dict[str, Any] = {}
    for t in TABLES:
        cols, rows, auto = _dump_table(sql, t)
        data[t] = {"cols": cols, "rows": [dict(zip(cols, r, strict=True)) for r in rows], "auto": auto}

    names = _git(repo, "ls-tree", "--name-only", f"{tag}", "schema/DoctrineMigrations/").split()
    for path in sorted(names):
        version = Path(path).stem
        php = _git(repo, "show", f"{tag}:{path}")
        if not _MIGRATION_MENTIONS.search(php.split("function down", 1)[0]):
            continue
        if version not in KNOWN_MIGRATIONS:
            raise SystemExit(f"{path} touches reference tables and is not handled: read it, then extend "
                             "KNOWN_MIGRATIONS and the code below")
        if version == "Version20220715093144":
            if "Brazaville" not in php or "code = 'CG'" not in php:
                raise SystemExit(f"{path} changed: re-read it")
            cg = next(r for r in data["Countries"]["rows"] if r["code"] == "CG")
            for lang in ("en", "es", "ca", "it"):
                cg[f"name_{lang}"] += " Brazaville"
            for rs in data["TransformationRuleSets"]["rows"]:
                if rs["countryId"] == cg["id"]:
                    for lang in ("en", "es", "ca", "it"):
                        rs[f"name_{lang}"] += " Brazaville"
        elif version == "Version20231115173418":
            for values in _php_inserts(php, "Features"):
                assert isinstance(values, list)
                data["Features"]["rows"].append(dict(zip(data["Features"]["cols"], values, strict=True)))
        elif version == "Version20231127093825":
            svc = data["Services"]
            for values in _php_inserts(php, "Services"):
                assert isinstance(values, dict)
                # no explicit id: AUTO_INCREMENT assigns the next one
                row = {"id": svc["auto"], **values}
                svc["auto"] += 1
                svc["rows"].append({c: row[c] for c in svc["cols"]})
    return data


# ------------------------------------------------------------------------- writing
def _header(script_doc: str, repo: Path, tag: str) -> str:
    commit = _git(repo, "rev-parse", f"{tag}^{{commit}}").strip()
    return (
        '"""GENERATED by tools/gen_refdata_ivozprovider.py - do not edit by hand.\n\n'
        f"{script_doc}\n"
        f"Source: IvozProvider {tag} ({commit}), schema/initial.sql and schema/DoctrineMigrations.\n"
        "IvozProvider is (c) Irontec S.L., GPL-3.0; only ids, codes, names and expressions are used.\n"
        '"""\n\n'
        "# fmt: off\n"
    )


def _tuple_block(name: str, comment: str, rows: list[tuple[Any, ...]]) -> str:
    lines = [f"# {comment}", f"{name} = ("]
    lines += ["    (" + ", ".join(repr(v) for v in r) + ("," if len(r) == 1 else "") + ")," for r in rows]
    lines.append(")\n")
    return "\n".join(lines) + "\n"


def _langs(row: dict[str, Any], prefix: str) -> tuple[str, ...]:
    return tuple(row[f"{prefix}_{lang}"] for lang in ("en", "es", "ca", "it"))


def render_main(d: dict[str, Any], header: str) -> str:
    R = lambda t: d[t]["rows"]  # noqa: E731
    out = [header]
    out.append(_tuple_block(
        "COUNTRIES", "(id, code, countryCode, name_en, name_es, name_ca, name_it, zone_en, zone_es, zone_ca, zone_it)",
        [(r["id"], r["code"], r["countryCode"], *_langs(r, "name"), *_langs(r, "zone")) for r in R("Countries")]))
    out.append(_tuple_block("CURRENCIES", "(id, iden, symbol, name_en, name_es, name_ca, name_it)",
                            [(r["id"], r["iden"], r["symbol"], *_langs(r, "name")) for r in R("Currencies")]))
    out.append(_tuple_block("LANGUAGES", "(id, iden, name_en, name_es, name_ca, name_it)",
                            [(r["id"], r["iden"], *_langs(r, "name")) for r in R("Languages")]))
    out.append(_tuple_block("TIMEZONES", "(id, countryId, tz, comment)",
                            [(r["id"], r["countryId"], r["tz"], r["comment"]) for r in R("Timezones")]))
    out.append(_tuple_block("FEATURES", "(id, iden, name_en, name_es, name_ca, name_it)",
                            [(r["id"], r["iden"], *_langs(r, "name")) for r in R("Features")]))
    out.append(_tuple_block(
        "SERVICES", "(id, iden, defaultCode, extraArgs, name_en.._it, description_en.._it)",
        [(r["id"], r["iden"], r["defaultCode"], bool(r["extraArgs"]), *_langs(r, "name"), *_langs(r, "description"))
         for r in R("Services")]))
    out.append(_tuple_block("CODECS", "(id, type, iden, name)",
                            [(r["id"], r["type"], r["iden"], r["name"]) for r in R("Codecs")]))
    out.append(_tuple_block("TERMINAL_MANUFACTURERS", "(id, iden, name, description)",
                            [(r["id"], r["iden"], r["name"], r["description"]) for r in R("TerminalManufacturers")]))
    out.append(_tuple_block(
        "TERMINAL_MODELS",
        "(id, iden, name, description, TerminalManufacturerId, genericTemplate, specificTemplate, "
        "genericUrlPattern, specificUrlPattern)",
        [(r["id"], r["iden"], r["name"], r["description"], r["TerminalManufacturerId"], r["genericTemplate"],
          r["specificTemplate"], r["genericUrlPattern"], r["specificUrlPattern"]) for r in R("TerminalModels")]))
    out.append(_tuple_block("NOTIFICATION_TEMPLATES", "(id, type)  (global templates; their texts are Polyvox's)",
                            [(r["id"], r["type"]) for r in R("NotificationTemplates") if r["brandId"] is None]))
    out.append(_tuple_block(
        "NOTIFICATION_TEMPLATE_CONTENTS", "(id, notificationTemplateId, languageId)",
        [(r["id"], r["notificationTemplateId"], r["languageId"]) for r in R("NotificationTemplatesContents")]))
    return "".join(out)


def render_rules(d: dict[str, Any], header: str) -> str:
    out = [header]
    out.append(_tuple_block(
        "RULE_SETS",
        "(id, name_en, name_es, name_ca, name_it, description, internationalCode, trunkPrefix, areaCode, "
        "nationalLen, countryId, generateRules)   (brand-less sets only)",
        [(r["id"], *_langs(r, "name"), r["description"], r["internationalCode"], r["trunkPrefix"], r["areaCode"],
          r["nationalLen"], r["countryId"], bool(r["generateRules"]))
         for r in d["TransformationRuleSets"]["rows"] if r["brandId"] is None]))
    out.append(_tuple_block(
        "RULES", "(id, transformationRuleSetId, type, description, priority, matchExpr, replaceExpr)",
        [(r["id"], r["transformationRuleSetId"], r["type"], r["description"], r["priority"], r["matchExpr"],
          r["replaceExpr"]) for r in d["TransformationRules"]["rows"]]))
    return "".join(out)


# ------------------------------------------------------- ids of Polyvox's own rows
def _load(name: str) -> dict[str, Any]:
    return runpy.run_path(str(OUT / name))


def polyvox_ids(d: dict[str, Any]) -> dict[str, dict[Any, int]]:
    """Ids of Polyvox rows IvozProvider lacks: the committed ones, then the next free id."""
    previous: dict[str, dict[Any, int]] = {}
    if (OUT / "_polyvox_ids.py").exists():
        previous = {k: dict(v) for k, v in _load("_polyvox_ids.py")["IDS"].items()}

    def assign(kind: str, ivoz: dict[Any, int], ours: list[Any], floor: int) -> dict[Any, int]:
        kept = {k: v for k, v in previous.get(kind, {}).items() if k in ours and k not in ivoz}
        nxt = max([floor, *ivoz.values(), *kept.values()]) + 1
        for key in ours:
            if key not in ivoz and key not in kept:
                kept[key] = nxt
                nxt += 1
        return dict(sorted(kept.items(), key=lambda kv: kv[1]))

    R = lambda t: d[t]["rows"]  # noqa: E731
    lang_ids = {r["id"]: r["iden"] for r in R("Languages")}
    tpl_types = {r["id"]: r["type"] for r in R("NotificationTemplates")}
    notif = _load("_notifications.py")
    ours_contents = [(t, lang) for t, _n, per_lang in notif["TEMPLATES"] for lang in per_lang]
    ids = {
        "currency": assign("currency", {r["iden"]: r["id"] for r in R("Currencies")},
                           [r[0] for r in _load("_currencies.py")["CURRENCIES"]], d["Currencies"]["auto"] - 1),
        "language": assign("language", {r["iden"]: r["id"] for r in R("Languages")},
                           [r[0] for r in _load("_languages.py")["LANGUAGES"]], d["Languages"]["auto"] - 1),
        "country": assign("country", {r["code"]: r["id"] for r in R("Countries")},
                          [r[0] for r in _load("_countries.py")["COUNTRIES"]], d["Countries"]["auto"] - 1),
        "timezone": assign("timezone", {r["tz"]: r["id"] for r in R("Timezones")},
                           [r[0] for r in _load("_timezones.py")["TIMEZONES"]], d["Timezones"]["auto"] - 1),
        "feature": assign("feature", {r["iden"]: r["id"] for r in R("Features")},
                          [r[0] for r in _load("_features.py")["FEATURES"]], d["Features"]["auto"] - 1),
        "service": assign("service", {r["iden"]: r["id"] for r in R("Services")},
                          [r[0] for r in _load("_services.py")["SERVICES"]], d["Services"]["auto"] - 1),
        "codec": assign("codec", {r["iden"]: r["id"] for r in R("Codecs")},
                        [r[1] for r in _load("_codecs.py")["CODECS"]], d["Codecs"]["auto"] - 1),
        "notification_template": assign(
            "notification_template", {r["type"]: r["id"] for r in R("NotificationTemplates")},
            [t for t, _n, _c in notif["TEMPLATES"]], d["NotificationTemplates"]["auto"] - 1),
        "notification_template_content": assign(
            "notification_template_content",
            {(tpl_types[r["notificationTemplateId"]], lang_ids[r["languageId"]]): r["id"]
             for r in R("NotificationTemplatesContents")},
            ours_contents, d["NotificationTemplatesContents"]["auto"] - 1),
    }
    return ids


def render_ids(ids: dict[str, dict[Any, int]]) -> str:
    lines = [
        '"""GENERATED by tools/gen_refdata_ivozprovider.py - edit only to retire a row.\n\n'
        "Ids of Polyvox's reference rows that IvozProvider does not have, above IvozProvider's\n"
        "ranges. The generator keeps every id listed here and gives new rows the next free one,\n"
        "so an id, once published, never changes.\n"
        '"""\n',
        "# fmt: off",
        "IDS = {",
    ]
    for kind, mapping in ids.items():
        lines.append(f"    {kind!r}: {{")
        lines += [f"        {k!r}: {v}," for k, v in mapping.items()]
        lines.append("    },")
    lines.append("}\n")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repo", type=Path, default=DEFAULT_REPO, help="IvozProvider git dir (bare is fine)")
    ap.add_argument("--tag", default=DEFAULT_TAG)
    ap.add_argument("--check", action="store_true", help="do not write; exit 1 if files differ")
    args = ap.parse_args()
    data = extract(args.repo, args.tag)
    files = {
        "_ivozprovider.py": render_main(data, _header(
            "IvozProvider's reference rows: ids, codes and names as an installation creates them.",
            args.repo, args.tag)),
        "_ivozprovider_rules.py": render_rules(data, _header(
            "IvozProvider's brand-less numeric transformation rule sets and rules.", args.repo, args.tag)),
        "_polyvox_ids.py": render_ids(polyvox_ids(data)),
    }
    stale = []
    for name, content in files.items():
        path = OUT / name
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != content:
                stale.append(name)
        else:
            path.write_text(content, encoding="utf-8")
            print(f"wrote {path} ({content.count(chr(10))} lines)")
    if stale:
        print("stale:", ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
