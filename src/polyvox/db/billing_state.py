"""Bookkeeping tables of the billing worker (:mod:`polyvox.workers.billing`, defined on the model's ``metadata``).

* ``billing_cdr_claims`` — one row per ``kam_trunks_cdrs`` record already turned into a
  billable call (or deliberately skipped). Its primary key is the record id, inserted in the
  same transaction as the billable call and the balance updates: a record is billed at most once
  (a second worker's insert conflicts and its whole transaction rolls back) and never lost (an
  unclaimed record is picked up again by the next pass, after any restart).
* ``billing_prepaid_debits`` — money already debited from a prepaid client during a running call
  (interim debits); the settlement at hang-up only applies the difference.
* ``billing_usage_days`` — the local day (client timezone) the client's ``currentDayUsage``
  counts, and whether today's max-daily-usage notification was already sent.
* ``billing_mail_outbox`` — e-mails queued in the transaction that decided them and sent after
  commit (retried on SMTP failures), so a notification is neither lost nor duplicated by a crash.

``polyvox.db.model`` imports this module; migration 0002 creates the tables (the worker role
relies on ``polyvox db upgrade`` / ``polyvox up``, which migrate first).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Integer,
    Numeric,
    String,
    Table,
    Text,
)

from polyvox.db.model import metadata

_BIG = Integer().with_variant(BigInteger(), "postgresql")

billing_cdr_claims = Table(
    "billing_cdr_claims",
    metadata,
    Column("cdrId", _BIG, primary_key=True, autoincrement=False),
    Column("billableCallId", Integer, nullable=True),
    Column("outcome", String(32), nullable=False),  # billed | skipped_unanswered | skipped_no_company
    Column("claimedAt", DateTime, nullable=False),
)

billing_prepaid_debits = Table(
    "billing_prepaid_debits",
    metadata,
    Column("callid", String(255), primary_key=True),
    Column("companyId", Integer, nullable=False, index=True),
    Column("debited", Numeric(20, 4), nullable=False, default=0),
    Column("paidUntil", Integer, nullable=False, default=0),
    Column("updatedAt", DateTime, nullable=False),
)

billing_usage_days = Table(
    "billing_usage_days",
    metadata,
    Column("companyId", Integer, primary_key=True, autoincrement=False),
    Column("day", Date, nullable=False),
    Column("maxNotified", Boolean, nullable=False, default=False),
)

billing_mail_outbox = Table(
    "billing_mail_outbox",
    metadata,
    Column("id", _BIG, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),  # lowbalance | maxDailyUsage
    Column("toAddress", String(255), nullable=False),
    Column("fromAddress", String(255), nullable=False),
    Column("fromName", String(255), nullable=True),
    Column("subject", String(255), nullable=False),
    Column("body", Text, nullable=False),
    Column("bodyType", String(25), nullable=False, default="text/plain"),
    Column("createdAt", DateTime, nullable=False),
    Column("sentAt", DateTime, nullable=True, index=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("lastError", String(500), nullable=True),
    sqlite_autoincrement=True,
)

TABLES = (billing_cdr_claims, billing_prepaid_debits, billing_usage_days, billing_mail_outbox)
