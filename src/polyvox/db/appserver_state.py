"""State tables of the application server workers (defined on the model's ``metadata``).

* ``appserver_active_calls`` — the calls a worker is handling, one row per entity involved, written
  by :class:`polyvox.appserver.active.Publisher` and read by ``/my/active_calls``
  (``polyvox.api.custom.active_calls``); docs/appserver.md §Active calls.
* ``appserver_call_journal`` — one row per answered call while it lasts
  (:mod:`polyvox.appserver.journal`, docs/appserver.md §3.8).

``polyvox.db.model`` imports this module; migrations 0002 and 0006 create the tables.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Integer, String, Table, Text

from polyvox.db.model import metadata

appserver_active_calls = Table(
    "appserver_active_calls",
    metadata,
    Column("id", Integer().with_variant(BigInteger(), "postgresql"), primary_key=True, autoincrement=True),
    Column("worker", String(128), nullable=False, index=True),  # host:port of the application server worker
    Column("session", String(64), nullable=False),  # the call inside the worker
    Column("callId", String(255), nullable=False),  # Call-ID of the call's first leg (caller side)
    Column("brandId", Integer, nullable=True, index=True),
    Column("companyId", Integer, nullable=True, index=True),
    Column("direction", String(16), nullable=False),  # inbound | outbound (for the owner)
    Column("ownerType", String(16), nullable=False),  # user | friend | residential | retail
    Column("ownerId", Integer, nullable=True),
    Column("ownerName", String(255), nullable=True),
    Column("ownerNumber", String(64), nullable=True),  # extension of a user, else the endpoint's number
    Column("party", String(255), nullable=True),  # the other participant, as the owner sees it
    Column("state", String(16), nullable=False),  # trying | early | confirmed (spec 8.12.1)
    Column("startTime", DateTime(timezone=True), nullable=False),
    Column("answerTime", DateTime(timezone=True), nullable=True),
    # Call-IDs of the call's legs exchanged with proxy-trunks (space separated): the API drops
    # proxy-trunks' dialogs with these Call-IDs (the call is counted here, once per entity)
    Column("trunkCallIds", Text, nullable=True),
)

STATES = ("trying", "early", "confirmed")


# Call journal (docs/appserver.md §3.8, :mod:`polyvox.appserver.journal`): one row per answered call
# while it lasts, so that a worker killed during the call still gets its call registry rows
# written — by its successor on the same address at start, or by any live worker once the rows'
# heartbeat is stale. Times are naive UTC.
appserver_call_journal = Table(
    "appserver_call_journal",
    metadata,
    Column("id", Integer().with_variant(BigInteger(), "postgresql"), primary_key=True, autoincrement=True),
    Column("worker", String(128), nullable=False, index=True),  # host:port of the worker
    Column("process", String(64), nullable=False, index=True),  # random id of the worker process
    Column("session", String(64), nullable=False),  # the call inside the process
    Column("callId", String(255), nullable=False),  # Call-ID of the caller leg
    Column("answerTime", DateTime(), nullable=False),
    # last heartbeat of the process while the call was up: the end time of a call whose worker died
    Column("seenAt", DateTime(), nullable=False, index=True),
    Column("claimedBy", String(64), nullable=True),  # process finalising the row (dead owner)
    Column("claimedAt", DateTime(), nullable=True),
    Column("call", Text, nullable=False),  # JSON: the IncomingCall and the answer (journal.encode)
    sqlite_autoincrement=True,
)
