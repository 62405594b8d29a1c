"""Destination rate CSV import (spec 9.4.3 "Importing a CSV file", "Re-importing a CSV file").

The API stores the uploaded file and marks the destination rate group ``waiting``; this job
claims it (``waiting`` -> ``inProgress``), parses and checks every line first (no write), then
applies the whole file in one transaction: unknown prefixes become brand destinations, rates of
prefixes already in the group are updated, the others added, rates not in the file kept. Any
bad line fails the whole import: status ``error`` with ``lastExecutionError`` naming the line,
nothing written. Progress is kept in ``destination_rate_imports``. Format rules and decisions:
docs/billing-import.md.

Run by the API right after an upload (a background thread) and by the worker role
(:func:`run_pending`, or ``python -m polyvox.workers.rate_import`` as a standalone loop).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.engine import Connection

from polyvox.db.model import ENTITY, config_version, stored_files
from polyvox.db.rate_imports import destination_rate_imports
from polyvox.domain.rating import RATE_CSV_COLUMNS, RateLine, RatesCsvError, parse_rates_csv
from polyvox.platform.clock import utcnow

log = logging.getLogger("polyvox.workers.rate_import")

WAITING, IN_PROGRESS, IMPORTED, ERROR = "waiting", "inProgress", "imported", "error"
SUPERSEDED = "superseded"  # outcome only: a newer upload replaced the file being imported
PROGRESS_EVERY = 1000  # lines between two progress writes while checking the file


# ----------------------------------------------------------------------------- file format
# importerArguments.columns: what each CSV column holds, in order (aliases accepted)
COLUMN_ALIASES = {
    "destinationname": "name", "destination": "name", "name": "name", "destination.name": "name",
    "destinationprefix": "prefix", "prefix": "prefix", "destination.prefix": "prefix",
    "cost": "cost", "rate": "cost", "ratecost": "cost", "perminuterate": "cost", "price": "cost",
    "connectfee": "connectFee", "connectioncharge": "connectFee", "connectionfee": "connectFee",
    "rateincrement": "rateIncrement", "chargeperiod": "rateIncrement",
    "groupintervalstart": "groupIntervalStart", "intervalstart": "groupIntervalStart",
    "": "ignore", "ignore": "ignore", "-": "ignore",
}
DEFAULT_COLUMNS = RATE_CSV_COLUMNS


class ArgumentsError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class ImporterArguments:
    columns: tuple[str, ...] = DEFAULT_COLUMNS
    ignore_first: bool = False

    def as_json(self) -> dict[str, Any]:
        return {"delimiter": ",", "enclosure": '"', "scape": "\\", "ignoreFirst": self.ignore_first,
                "columns": list(self.columns)}


def importer_arguments(raw: Any) -> ImporterArguments:
    """Checks the contract's ``FileImporterArguments`` (``delimiter``, ``enclosure``, ``scape``,
    ``ignoreFirst``, ``columns``). Comma is the only separator and double quote the only
    enclosure (spec "CSV format"); ``columns`` maps each CSV column to a rate field."""
    if raw is None or raw == "":
        return ImporterArguments()
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError as e:
            raise ArgumentsError("importerArguments", f"invalid JSON: {e}") from e
    if not isinstance(raw, dict):
        raise ArgumentsError("importerArguments", "This value should be an object.")
    unknown = set(raw) - {"delimiter", "enclosure", "scape", "escape", "ignoreFirst", "columns"}
    if unknown:
        raise ArgumentsError(f"importerArguments.{sorted(unknown)[0]}", "Unknown importer argument.")
    if raw.get("delimiter") not in (None, "", ","):
        raise ArgumentsError("importerArguments.delimiter", "Comma is the only allowed separator character.")
    if raw.get("enclosure") not in (None, "", '"'):
        raise ArgumentsError("importerArguments.enclosure",
                             "Single quotes are not supported: the enclosure is the double quote.")
    for key in ("scape", "escape"):
        if raw.get(key) not in (None, "", "\\", '"'):
            raise ArgumentsError(f"importerArguments.{key}", "Only \\ or \" are supported as escape character.")
    ignore = raw.get("ignoreFirst", False)
    if ignore in (0, 1, "0", "1", "true", "false"):
        ignore = ignore in (1, "1", "true")
    if not isinstance(ignore, bool):
        raise ArgumentsError("importerArguments.ignoreFirst", "This value should be of type boolean.")
    cols = raw.get("columns")
    if cols in (None, "", []):
        return ImporterArguments(DEFAULT_COLUMNS, ignore)
    if isinstance(cols, str):
        cols = [c.strip() for c in cols.split(",")]
    if not isinstance(cols, list) or not all(isinstance(c, str) for c in cols):
        raise ArgumentsError("importerArguments.columns", "This value should be a list of column names.")
    mapped: list[str] = []
    for c in cols:
        name = COLUMN_ALIASES.get(c.strip().lower().replace("_", "").replace(" ", ""))
        if name is None:
            raise ArgumentsError("importerArguments.columns", f"Unknown column {c!r}: expected destinationName, "
                                 "destinationPrefix, cost, connectFee, rateIncrement, groupIntervalStart or ignore.")
        if name != "ignore" and name in mapped:
            raise ArgumentsError("importerArguments.columns", f"Column {c!r} given twice.")
        mapped.append(name)
    missing = [r for r in RATE_CSV_COLUMNS if r not in mapped]
    if missing:
        raise ArgumentsError("importerArguments.columns", f"Missing column(s): {', '.join(missing)}.")
    return ImporterArguments(tuple(mapped), ignore)


def decode(content: bytes) -> str:
    """UTF-8 (with or without BOM); anything else is read as Windows-1252/Latin-1 (spreadsheet exports)."""
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            return content.decode("cp1252")
        except UnicodeDecodeError:
            return content.decode("latin-1")


# ----------------------------------------------------------------------------- the job
@dataclass(frozen=True)
class Outcome:
    status: str
    error: str | None = None
    destinations_added: int = 0
    rates_added: int = 0
    rates_updated: int = 0


def _t(name: str) -> Any:
    return ENTITY[name].table


def _bump(conn: Connection) -> None:
    if conn.execute(update(config_version).where(config_version.c.id == 1)
                    .values(version=config_version.c.version + 1)).rowcount == 0:
        conn.execute(insert(config_version).values(id=1, version=1))


def queue(conn: Connection, group_id: int, file_name: str | None, now: dt.datetime | None = None) -> None:
    """Marks the group ``waiting`` (in the caller's transaction, with the uploaded file)."""
    now = now or utcnow()
    g = _t("DestinationRateGroup")
    conn.execute(update(g).where(g.c.id == group_id).values(status=WAITING, lastExecutionError=None))
    values = {"state": WAITING, "fileName": file_name, "totalLines": 0, "processedLines": 0,
              "destinationsAdded": 0, "ratesAdded": 0, "ratesUpdated": 0, "queuedAt": now, "startedAt": None,
              "finishedAt": None, "error": None}
    j = destination_rate_imports
    if conn.execute(update(j).where(j.c.destinationRateGroupId == group_id)
                    .values(attempt=j.c.attempt + 1, **values)).rowcount == 0:
        conn.execute(insert(j).values(destinationRateGroupId=group_id, attempt=1, **values))


def _job(engine: Engine, group_id: int, **values: Any) -> None:
    j = destination_rate_imports
    with engine.begin() as c:
        if c.execute(update(j).where(j.c.destinationRateGroupId == group_id).values(**values)).rowcount == 0:
            c.execute(insert(j).values(destinationRateGroupId=group_id, **{"state": IN_PROGRESS, **values}))


def run_import(engine: Engine, group_id: int, clock: Callable[[], dt.datetime] = utcnow) -> Outcome | None:
    """Imports the waiting file of one group. None when it was not waiting (someone else has it)."""
    g = _t("DestinationRateGroup")
    j = destination_rate_imports
    with engine.begin() as c:
        claimed = c.execute(update(g).where(g.c.id == group_id, g.c.status == WAITING)
                            .values(status=IN_PROGRESS)).rowcount
        attempt = c.execute(select(j.c.attempt).where(j.c.destinationRateGroupId == group_id)).scalar() or 0
    if not claimed:
        return None
    _job(engine, group_id, state=IN_PROGRESS, startedAt=clock(), processedLines=0)
    try:
        outcome = _import(engine, group_id, attempt, clock)
    except Exception as e:  # never leave a group inProgress
        log.exception("rate import of group %s failed", group_id)
        outcome = Outcome(ERROR, f"internal error: {e}")
    if outcome.status == ERROR:
        message = (outcome.error or "")[:300]
        with engine.begin() as c:
            if _current(c, group_id, attempt):
                c.execute(update(g).where(g.c.id == group_id).values(status=ERROR, lastExecutionError=message))
                c.execute(update(j).where(j.c.destinationRateGroupId == group_id).values(
                    state=ERROR, finishedAt=clock(), error=message))
    return outcome


def _current(conn: Connection, group_id: int, attempt: int) -> bool:
    """The import started for ``attempt`` is still the one wanted (no newer upload, group exists)."""
    g, j = _t("DestinationRateGroup"), destination_rate_imports
    status = conn.execute(select(g.c.status).where(g.c.id == group_id)).scalar()
    now = conn.execute(select(j.c.attempt).where(j.c.destinationRateGroupId == group_id)).scalar() or 0
    return status == IN_PROGRESS and now == attempt


def _import(engine: Engine, group_id: int, attempt: int, clock: Callable[[], dt.datetime]) -> Outcome:
    g = _t("DestinationRateGroup")
    with engine.connect() as c:
        row = c.execute(select(g).where(g.c.id == group_id)).first()
        content = c.execute(select(stored_files.c.content).where(
            stored_files.c.entity == "DestinationRateGroup", stored_files.c.rowId == group_id,
            stored_files.c.field == "file")).scalar()
    if row is None:
        return Outcome(ERROR, "the destination rate group no longer exists")
    if content is None:
        return Outcome(ERROR, "no file uploaded")
    try:
        args = importer_arguments({
            "columns": json.loads(row.importerArgumentsColumns) if row.importerArgumentsColumns else None,
            "ignoreFirst": bool(row.importerArgumentsIgnoreFirst)})
    except (ArgumentsError, ValueError) as e:
        return Outcome(ERROR, f"importer arguments: {e}")
    text = decode(bytes(content))
    try:
        lines, total = parse_rates_csv(text, columns=args.columns, skip_header=args.ignore_first,
                                       progress=lambda n: _job(engine, group_id, processedLines=n),
                                       progress_every=PROGRESS_EVERY)
    except RatesCsvError as e:
        return Outcome(ERROR, f"line {e.line}: {e.message}")
    _job(engine, group_id, processedLines=total, totalLines=total)
    return _write(engine, row, lines, args, attempt, clock)


def _write(engine: Engine, group: Any, lines: Sequence[RateLine], args: ImporterArguments, attempt: int,
           clock: Callable[[], dt.datetime]) -> Outcome:
    d, r, g = _t("Destination"), _t("DestinationRate"), _t("DestinationRateGroup")
    with engine.begin() as c:
        c.execute(select(g.c.id).where(g.c.id == group.id).with_for_update())  # serialises with a re-upload
        if not _current(c, group.id, attempt):  # deleted or re-uploaded meanwhile: the newer upload wins
            return Outcome(SUPERSEDED)
        known: dict[str, int] = {}
        for did, prefix in c.execute(select(d.c.id, d.c.prefix).where(d.c.brandId == group.brandId)
                                     .order_by(d.c.id)):
            known.setdefault(prefix, did)
        added_dest = 0
        for line in lines:
            if line.rate.prefix not in known:
                name = line.rate.destination
                known[line.rate.prefix] = c.execute(insert(d).values(
                    brandId=group.brandId, prefix=line.rate.prefix, nameEn=name, nameEs=name, nameCa=name,
                    nameIt=name, nameEu=name)).inserted_primary_key[0]  # type: ignore[index]
                added_dest += 1
        existing: dict[int, int] = {}
        for rid, did in c.execute(select(r.c.id, r.c.destinationId).where(r.c.destinationRateGroupId == group.id)
                                  .order_by(r.c.id)):
            existing.setdefault(did, rid)
        new_rows: list[dict[str, Any]] = []
        updated = 0
        for line in lines:
            rate = line.rate
            did = known[rate.prefix]
            values = {"cost": rate.per_minute, "connectFee": rate.connection_fee,
                      "rateIncrement": f"{rate.increment}s", "groupIntervalStart": f"{rate.interval_start}s"}
            if did in existing:
                c.execute(update(r).where(r.c.id == existing[did]).values(**values))
                updated += 1
            else:
                new_rows.append({"destinationRateGroupId": group.id, "destinationId": did, **values})
        if new_rows:
            c.execute(insert(r), new_rows)
        c.execute(update(g).where(g.c.id == group.id).values(
            status=IMPORTED, lastExecutionError=None, fileImporterArguments=json.dumps(args.as_json())))
        _bump(c)
        j = destination_rate_imports
        c.execute(update(j).where(j.c.destinationRateGroupId == group.id).values(
            state=IMPORTED, finishedAt=clock(), destinationsAdded=added_dest, ratesAdded=len(new_rows),
            ratesUpdated=updated, error=None))
    log.info("rate import of group %s: %s rates added, %s updated, %s destinations added", group.id,
             len(new_rows), updated, added_dest)
    return Outcome(IMPORTED, None, added_dest, len(new_rows), updated)


def run_pending(engine: Engine) -> int:
    """Imports every waiting group (the worker role's job); returns how many were imported or failed."""
    g = _t("DestinationRateGroup")
    with engine.connect() as c:
        ids = list(c.execute(select(g.c.id).where(g.c.status == WAITING).order_by(g.c.id)).scalars())
    return sum(1 for i in ids if run_import(engine, int(i)) is not None)


def main() -> None:  # pragma: no cover - thin loop around run_pending
    import os

    from polyvox import config
    from polyvox.db.engine import make_engine

    logging.basicConfig(level=logging.INFO)
    engine = make_engine(os.environ.get("POLYVOX_DATABASE_URL") or config.load().database_url)
    poll = float(os.environ.get("POLYVOX_WORKER_POLL", "2"))
    while True:
        try:
            run_pending(engine)
        except Exception:
            log.exception("rate import cycle failed")
        time.sleep(poll)


if __name__ == "__main__":  # pragma: no cover
    main()
