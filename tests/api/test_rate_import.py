"""Destination rate CSV import (spec 9.4.3 "Importing a CSV file", "CSV format", "Re-importing a CSV
file", "Destinations"): multipart upload on the contract's POST/PUT /destination_rate_groups, a
background import with status waiting -> inProgress -> imported|error, all-or-nothing with the
failing line named, re-import semantics, download of the last file, unknown prefixes added to
the brand's destinations. Real database (SQLite, or PostgreSQL with POLYVOX_TEST_DB=postgresql)."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import Engine, insert, select, update

from polyvox.db.model import ENTITY, stored_files
from polyvox.workers import rate_import
from tests.api.conftest import Api
from tests.api.test_custom_support import other_brand

FIRST = (
    b"Destination,Prefix,Rate,Connection,Period\n"
    b"Spain,+34,0.0100,0.0500,60\n"
    b'"Spain, mobile",+346,0.12345,0,1\n'
    b"France,+33,0.02,0.01,30\n"
)

SECOND = "Spain mobile,+346,0.2,0.1,1\r\nGermany,+49,0.03,0,60\r\nRéunion,+262,0.1,0,60\r\n".encode()


def _names(value: str) -> dict[str, str]:
    return {k: value for k in ("en", "es", "ca", "it", "eu")}


def _eur(api: Api, tok: str) -> int:
    cur = api.get("brand", "/currencies", tok, params={"iden": "EUR"}).json()
    return int(cur[0]["id"])


def _upload(api: Api, tok: str, content: bytes | None, *, ident: int | None = None, name: str = "rates.csv",
            args: dict[str, Any] | None = None, extra: dict[str, Any] | None = None) -> httpx.Response:
    body: dict[str, Any] = {} if ident else {"name": _names("Deck"), "description": _names(""),
                                             "deductibleConnectionFee": False, "currency": _eur(api, tok)}
    body.update(extra or {})
    if args is not None:
        body["importerArguments"] = args
    files = {"file": (name, content, "text/csv")} if content is not None else None
    data = {"destinationRateGroup": json.dumps(body)}
    if ident:
        return api.request("PUT", "brand", f"/destination_rate_groups/{ident}", tok, data=data, files=files)
    return api.request("POST", "brand", "/destination_rate_groups", tok, data=data, files=files)


def _wait(api: Api, tok: str, ident: int, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        item = api.get("brand", f"/destination_rate_groups/{ident}", tok).json()
        if item["status"] in ("imported", "error"):
            return dict(item)
        time.sleep(0.1)
    raise AssertionError(f"import of group {ident} not finished: {item}")


def _rates(db: Engine, group: int) -> dict[str, tuple[Decimal, Decimal, str, str]]:
    d, r = ENTITY["Destination"].table, ENTITY["DestinationRate"].table
    with db.connect() as c:
        rows = c.execute(select(d.c.prefix, r.c.cost, r.c.connectFee, r.c.rateIncrement, r.c.groupIntervalStart)
                         .join(d, d.c.id == r.c.destinationId).where(r.c.destinationRateGroupId == group)).all()
    return {p: (Decimal(cost), Decimal(fee), inc, start) for p, cost, fee, inc, start in rows}


def _destinations(db: Engine) -> dict[str, str]:
    d = ENTITY["Destination"].table
    with db.connect() as c:
        return {p: n for p, n in c.execute(select(d.c.prefix, d.c.nameEn).where(d.c.brandId == 1))}


def test_import_then_reimport_then_download(api: Api, tokens: dict[str, str], db: Engine) -> None:
    tok = tokens["brand"]
    d = ENTITY["Destination"].table
    with db.begin() as c:  # an existing destination of the brand keeps its name and id
        spain = c.execute(insert(d).values(brandId=1, prefix="+34", nameEn="Spain (all)", nameEs="España",
                                           nameCa="Espanya", nameIt="Spagna", nameEu="Espainia")).inserted_primary_key[0]
    before = len(_destinations(db))

    r = _upload(api, tok, FIRST, args={"ignoreFirst": True, "delimiter": ",", "enclosure": '"'})
    assert r.status_code == 201, r.text
    item = r.json()
    gid = item["id"]
    assert item["status"] in ("waiting", "inProgress", "imported")
    assert item["file"]["baseName"] == "rates.csv" and item["file"]["fileSize"] == len(FIRST)
    done = _wait(api, tok, gid)
    assert done["status"] == "imported" and done["lastExecutionError"] is None

    rates = _rates(db, gid)
    assert rates == {"+34": (Decimal("0.0100"), Decimal("0.0500"), "60s", "0s"),
                     "+346": (Decimal("0.1235"), Decimal("0"), "1s", "0s"),  # 4 decimals, half up
                     "+33": (Decimal("0.0200"), Decimal("0.0100"), "30s", "0s")}
    dests = _destinations(db)
    assert len(dests) == before + 2  # +346 and +33 added, +34 reused
    assert dests["+34"] == "Spain (all)" and dests["+346"] == "Spain, mobile" and dests["+33"] == "France"
    with db.connect() as c:
        assert c.execute(select(d.c.id).where(d.c.prefix == "+34", d.c.brandId == 1)).scalar_one() == spain
    listed = api.get("brand", "/destination_rates", tok, params={"destinationRateGroup": gid}).json()
    assert len(listed) == 3
    prog = api.get("brand", f"/destination_rate_groups/{gid}/import", tok).json()
    assert prog["status"] == "imported" and prog["ratesAdded"] == 3 and prog["ratesUpdated"] == 0
    assert prog["destinationsAdded"] == 2 and prog["totalLines"] == 4 and prog["fileName"] == "rates.csv"

    # re-import: +346 updated, +49 added, +34 and +33 kept
    r = _upload(api, tok, SECOND, ident=gid, name="second.csv")
    assert r.status_code == 200, r.text
    assert _wait(api, tok, gid)["status"] == "imported"
    rates = _rates(db, gid)
    assert set(rates) == {"+34", "+346", "+33", "+49", "+262"}
    assert rates["+346"] == (Decimal("0.2000"), Decimal("0.1000"), "1s", "0s")
    assert rates["+34"] == (Decimal("0.0100"), Decimal("0.0500"), "60s", "0s")
    assert rates["+49"] == (Decimal("0.0300"), Decimal("0"), "60s", "0s")
    assert _destinations(db)["+346"] == "Spain, mobile"  # existing destination names are kept
    assert _destinations(db)["+262"] == "Réunion"  # UTF-8, CRLF line ends
    prog = api.get("brand", f"/destination_rate_groups/{gid}/import", tok).json()
    assert prog["ratesAdded"] == 2 and prog["ratesUpdated"] == 1 and prog["destinationsAdded"] == 2

    # the download is the last imported file, not the combination
    dl = api.get("brand", f"/destination_rate_groups/{gid}/file", tok)
    assert dl.status_code == 200 and dl.content == SECOND
    assert 'filename="second.csv"' in dl.headers["content-disposition"]


def test_bad_line_fails_the_whole_import_and_names_the_line(api: Api, tokens: dict[str, str], db: Engine) -> None:
    tok = tokens["brand"]
    r = _upload(api, tok, b"Spain,+34,0.01,0,60\n")
    gid = r.json()["id"]
    assert _wait(api, tok, gid)["status"] == "imported"
    dests = _destinations(db)

    cases = [
        (b"Italy,+39,0.01,0,60\nSpain,+34,0.02,0,60\nItaly again,+39,0.03,0,60\n",
         "line 3: prefix +39 already used on line 1"),
        (b"Italy,+39,0.01,0,60\nPortugal,+351,0,01,0,60\n", "line 2: expected 5 comma-separated columns, got 6"),
        (b"Italy,+39,0.01,0,60\nPortugal,351,0.01,0,60\n", "line 2: prefix '351' must start with +"),
        (b"Italy,+39,0.01,0,60\n\nPortugal,+351,0.01,0,0\n", "line 3: charge period '0' must be an integer >= 1"),
        (b"Italy,+39,0.01,0,60\nPortugal,+351,0.01,0,1.5\n", "line 2: charge period '1.5'"),
        (b"'Italy',+39,0.01,0,60\n", "line 1: single quotes are not supported"),
        (b"Italy;+39;0.01;0;60\n", "line 1: expected 5 comma-separated columns, got 1"),
        (b"Italy,+39,1e3,0,60\n", "line 1: per minute rate '1e3' must be a number with a point"),
        (b"", "line 1: the file holds no rate"),
    ]
    for content, message in cases:
        r = _upload(api, tok, content, ident=gid)
        assert r.status_code == 200, r.text
        item = _wait(api, tok, gid)
        assert item["status"] == "error", (content, item)
        assert item["lastExecutionError"].startswith(message), (content, item["lastExecutionError"])
        # nothing written: the rates and destinations are those of the last good import
        assert _rates(db, gid) == {"+34": (Decimal("0.0100"), Decimal("0"), "60s", "0s")}
        assert _destinations(db) == dests
    prog = api.get("brand", f"/destination_rate_groups/{gid}/import", tok).json()
    assert prog["status"] == "error" and prog["error"].startswith("line 1: the file holds no rate")

    # a good file afterwards clears the error
    r = _upload(api, tok, b"Italy,+39,0.01,0,60\n", ident=gid)
    item = _wait(api, tok, gid)
    assert item["status"] == "imported" and item["lastExecutionError"] is None
    assert set(_rates(db, gid)) == {"+34", "+39"}


def test_columns_in_another_order_and_interval_start(api: Api, tokens: dict[str, str], db: Engine) -> None:
    tok = tokens["brand"]
    content = b"x,+44,60,0.05,0.002,UK,10\n"
    args = {"columns": ["ignore", "destinationPrefix", "rateIncrement", "cost", "connectFee", "destinationName",
                        "groupIntervalStart"]}
    r = _upload(api, tok, content, args=args)
    assert r.status_code == 201, r.text
    gid = r.json()["id"]
    assert _wait(api, tok, gid)["status"] == "imported"
    assert _rates(db, gid) == {"+44": (Decimal("0.0500"), Decimal("0.0020"), "60s", "10s")}
    assert _destinations(db)["+44"] == "UK"
    item = api.get("brand", f"/destination_rate_groups/{gid}", tok).json()
    used = json.loads(item["file"]["importerArguments"])
    assert used["columns"][1] == "prefix" and used["delimiter"] == ","


def test_invalid_importer_arguments_are_refused_and_change_nothing(api: Api, tokens: dict[str, str],
                                                                   db: Engine) -> None:
    tok = tokens["brand"]
    g = ENTITY["DestinationRateGroup"].table
    with db.connect() as c:
        count = len(c.execute(select(g.c.id)).all())
    for args, field in (({"delimiter": ";"}, "importerArguments.delimiter"),
                        ({"enclosure": "'"}, "importerArguments.enclosure"),
                        ({"columns": ["destinationName", "destinationPrefix"]}, "importerArguments.columns"),
                        ({"columns": ["name", "prefix", "cost", "connectFee", "rateIncrement", "bogus"]},
                         "importerArguments.columns"),
                        ({"ignoreFirst": "maybe"}, "importerArguments.ignoreFirst")):
        r = _upload(api, tok, b"Spain,+34,0.01,0,60\n", args=args)
        assert r.status_code == 400, r.text
        assert r.json()["violations"][0]["propertyPath"] == field
    with db.connect() as c:
        assert len(c.execute(select(g.c.id)).all()) == count


def test_other_brand_cannot_see_or_reimport(api: Api, tokens: dict[str, str], db: Engine) -> None:
    tok = tokens["brand"]
    gid = _upload(api, tok, b"Spain,+34,0.01,0,60\n").json()["id"]
    _wait(api, tok, gid)
    other = other_brand(db)
    otok = api.login("brand", other.brand_admin, "changeme")
    assert api.get("brand", f"/destination_rate_groups/{gid}/import", otok).status_code == 404
    assert _upload(api, otok, b"Spain,+34,9,0,60\n", ident=gid).status_code == 404
    assert api.get("brand", f"/destination_rate_groups/{gid}/file", otok).status_code == 404
    # its own group gets its own destinations
    r = _upload(api, otok, b"Spain,+34,9,0,60\n")
    assert r.status_code == 201, r.text
    assert _wait(api, otok, r.json()["id"])["status"] == "imported"
    assert _rates(db, gid)["+34"][0] == Decimal("0.0100")
    d = ENTITY["Destination"].table
    with db.connect() as c:
        assert c.execute(select(d.c.nameEn).where(d.c.brandId == other.brand, d.c.prefix == "+34")).scalar() == "Spain"


def test_worker_imports_waiting_groups(api: Api, tokens: dict[str, str], db: Engine) -> None:
    """A group left waiting (the API process died before importing) is imported by the worker."""
    tok = tokens["brand"]
    gid = _upload(api, tok, b"Spain,+34,0.01,0,60\n").json()["id"]
    _wait(api, tok, gid)
    g = ENTITY["DestinationRateGroup"].table
    with db.begin() as c:
        c.execute(update(stored_files).where(stored_files.c.entity == "DestinationRateGroup",
                                             stored_files.c.rowId == gid).values(content=b"Spain,+34,0.5,0,60\n"))
        rate_import.queue(c, gid, "rates.csv")
    assert api.get("brand", f"/destination_rate_groups/{gid}", tok).json()["status"] == "waiting"
    assert rate_import.run_pending(db) == 1
    assert rate_import.run_pending(db) == 0
    assert api.get("brand", f"/destination_rate_groups/{gid}", tok).json()["status"] == "imported"
    assert _rates(db, gid)["+34"][0] == Decimal("0.5000")
    with db.connect() as c:
        assert c.execute(select(g.c.status).where(g.c.id == gid)).scalar() == "imported"
