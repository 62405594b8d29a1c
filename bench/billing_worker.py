"""Billing worker throughput: billable calls produced per second from call records (bounded).

Run: .venv/bin/python bench/billing_worker.py [--records N] [--batch B] [--db sqlite|postgresql]

Builds a fresh database (SQLite file in a temporary directory, or a temporary PostgreSQL database
at POLYVOX_TEST_PG / 127.0.0.1:5432), the demo data, a client rating plan (3 destinations, one with
a deductible connection fee), a carrier with cost calculation, and N ``kam_trunks_cdrs`` records
(outbound, pseudo-prepaid client so that balances, movements and notifications are exercised),
then measures in the same run:

* worker: :func:`polyvox.workers.billing.bill_pending` over the records (rating with the
  client's and the carrier's active profiles, billable call, claim, balance updates, movements);
* reference: a bare copy of the same records into ``billable_calls`` + ``billing_cdr_claims``
  in batches of the same size (select + insert, no rating, no balances) — the storage floor;

and prints records/s of both and the ratio (worker / reference). Each phase stops after
``--budget`` seconds (default 20).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

from sqlalchemy import create_engine, delete, func, insert, make_url, select, text
from sqlalchemy.engine import Engine

from polyvox.api import seeding
from polyvox.api.writer import Writer
from polyvox.db import seed
from polyvox.db.billing_state import billing_cdr_claims
from polyvox.db.cdr import kam_trunks_cdrs
from polyvox.db.engine import make_engine, upgrade
from polyvox.db.model import ENTITY
from polyvox.workers.billing import bill_pending

PG_ADMIN = os.environ.get("POLYVOX_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
T0 = dt.datetime(2026, 3, 10, 10, 0, tzinfo=dt.UTC)


def _setup(engine: Engine) -> tuple[int, int, int]:
    """The configuration, as DemoBrand's operator would send it, written through the resource
    engine (``Writer``: the API's rules, derived columns and configuration-version bump; the bench
    runs no API process) in one transaction."""
    with engine.begin() as c:
        w = Writer(c)
        brand = seed.find(c, "Brand", name="DemoBrand")
        company = seed.find(c, "Company", name="DemoCompany")
        eur = seed.find(c, "Currency", iden="EUR")
        assert brand and company and eur
        rules = (w.get("Company", company) or {})["transformationRuleSetId"]
        # pseudo-prepaid with a balance that never runs out; maxDailyUsage 0: no daily limit
        w.update("Company", company, billingMethod="pseudoprepaid", balance="1000000", maxDailyUsage=0)
        carrier = w.create("Carrier", brand=brand, name="BenchCarrier", description="", transformationRuleSet=rules,
                           calculateCost=True, balance="1000")
        dests = {p: w.create("Destination", brand=brand, prefix=p, name={"en": f"Dest {p}"})
                 for p in ("+34", "+346", "+33")}
        retail = w.create("DestinationRateGroup", brand=brand, name={"en": "Retail"}, currency=eur,
                          deductibleConnectionFee=False)
        minimal = w.create("DestinationRateGroup", brand=brand, name={"en": "Minimal"}, currency=eur,
                           deductibleConnectionFee=True)
        wholesale = w.create("DestinationRateGroup", brand=brand, name={"en": "Wholesale"}, currency=eur,
                             deductibleConnectionFee=False)
        for drg, prefix, rate, fee, inc in ((retail, "+34", "0.02", "0.01", "60s"),
                                            (retail, "+346", "0.10", "0.05", "30s"),
                                            (minimal, "+33", "0.10", "0.01", "1s"),
                                            (wholesale, "+34", "0.01", "0", "1s"),
                                            (wholesale, "+33", "0.03", "0", "1s")):
            w.create("DestinationRate", destinationRateGroup=drg, destination=dests[prefix], cost=rate,
                     connectFee=fee, rateIncrement=inc, groupIntervalStart="0s")
        client_plan = w.create("RatingPlanGroup", brand=brand, name={"en": "Retail plan"}, currency=eur)
        carrier_plan = w.create("RatingPlanGroup", brand=brand, name={"en": "Carrier plan"}, currency=eur)
        # one weight per plan of a group (a group's plans are told apart by weight); the retail and
        # minimal rates share no prefix, so their order does not change any price
        for group, drg, weight in ((client_plan, retail, 10), (client_plan, minimal, 20), (carrier_plan, wholesale, 10)):
            w.create("RatingPlan", ratingPlanGroup=group, destinationRateGroup=drg, weight=weight,
                     timingType="always", timeIn="00:00:00")
        for owner in ({"company": company, "ratingPlanGroup": client_plan},
                      {"carrier": carrier, "ratingPlanGroup": carrier_plan}):
            w.create("RatingProfile", brand=brand, activationTime="2020-01-01 00:00:00", **owner)
        w.create("BalanceNotification", brand=brand, company=company, toAddress="ops@example.com", threshold="10")
    return brand, company, carrier


def _records(engine: Engine, n: int, brand: int, company: int, carrier: int, tag: str) -> None:
    callees = ("+34944048184", "+34600111222", "+33123456789")
    rows = []
    for i in range(n):
        start = T0 + dt.timedelta(seconds=i)
        answer = start + dt.timedelta(seconds=2)
        duration = 5 + (i * 37) % 600
        rows.append({"callid": f"{tag}-{i}", "direction": "outbound", "brandId": brand, "companyId": company,
                     "carrierId": carrier, "caller": "+34911000001", "callee": callees[i % 3], "startTime": start,
                     "answerTime": answer, "endTime": answer + dt.timedelta(seconds=duration),
                     "duration": float(duration), "disconnectCode": 200, "disconnectReason": "ended",
                     "endpointType": "terminal", "endpointId": 1, "endpointName": "b1c1t1_alice"})
    with engine.begin() as c:
        for k in range(0, n, 1000):
            c.execute(insert(kam_trunks_cdrs), rows[k:k + 1000])


def _reference(engine: Engine, batch: int, budget: float) -> tuple[int, float]:
    """Copy unclaimed records into billable_calls + claims, no rating: the storage floor."""
    bc, cl, cdr = ENTITY["BillableCall"].table, billing_cdr_claims, kam_trunks_cdrs
    done, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < budget:
        with engine.begin() as c:
            rows = list(c.execute(select(cdr).outerjoin(cl, cl.c.cdrId == cdr.c.id).where(cl.c.cdrId.is_(None))
                                  .order_by(cdr.c.id).limit(batch)))
            if not rows:
                break
            for r in rows:
                bid = c.execute(insert(bc).values(brandId=r.brandId, companyId=r.companyId, callid=r.callid,
                                                  caller=r.caller, callee=r.callee, startTime=r.startTime,
                                                  duration=Decimal(int(r.duration)), direction=r.direction,
                                                  carrierId=r.carrierId)).inserted_primary_key[0]
                c.execute(insert(cl).values(cdrId=r.id, billableCallId=bid, outcome="billed",
                                            claimedAt=dt.datetime(2026, 1, 1)))
            done += len(rows)
    return done, time.perf_counter() - t0


def _worker(engine: Engine, batch: int, budget: float) -> tuple[int, float]:
    done, t0 = 0, time.perf_counter()
    now = T0 + dt.timedelta(days=1)
    while time.perf_counter() - t0 < budget:
        r = bill_pending(engine, now, batch=batch, send_mail=False)
        if r.billed + r.skipped == 0:
            break
        done += r.billed + r.skipped
        if r.billed + r.skipped < batch:
            break
    return done, time.perf_counter() - t0


def _reset(engine: Engine) -> None:
    with engine.begin() as c:
        c.execute(delete(billing_cdr_claims))
        c.execute(delete(ENTITY["BillableCall"].table))
        c.execute(delete(ENTITY["BalanceMovement"].table))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--budget", type=float, default=20.0, help="seconds per phase")
    ap.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="polyvox-bench-"))
    pg_name = None
    if args.db == "postgresql":
        pg_name = f"polyvox_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{pg_name}"'))
        url = make_url(PG_ADMIN).set(database=pg_name).render_as_string(hide_password=False)
    else:
        url = f"sqlite:///{tmp / 'bench.sqlite3'}"
    try:
        upgrade(url)
        engine = make_engine(url)
        with engine.begin() as c:
            seeding.first_start(c, demo=True)
        brand, company, carrier = _setup(engine)
        _records(engine, args.records, brand, company, carrier, "ref")
        ref_n, ref_s = _reference(engine, args.batch, args.budget)
        _reset(engine)
        worker_n, worker_s = _worker(engine, args.batch, args.budget)
        with engine.connect() as c:
            billed = c.execute(select(func.count()).select_from(ENTITY["BillableCall"].table)).scalar_one()
            priced = c.execute(select(func.count()).select_from(ENTITY["BillableCall"].table)
                               .where(ENTITY["BillableCall"].table.c.price.isnot(None))).scalar_one()
        engine.dispose()
        ref_rate, worker_rate = ref_n / ref_s, worker_n / worker_s
        print(f"database: {args.db}, {args.records} call records, batches of {args.batch}")
        print(f"reference (bare copy into billable_calls + claims): {ref_n} records in {ref_s:.2f} s = "
              f"{ref_rate:,.0f} records/s")
        print(f"worker (rated, costed, balances, movements):       {worker_n} records in {worker_s:.2f} s = "
              f"{worker_rate:,.0f} billable calls/s ({billed} billable calls, {priced} priced)")
        print(f"ratio worker / reference: {worker_rate / ref_rate:.2f}")
    finally:
        if pg_name is not None:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))
            admin.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
