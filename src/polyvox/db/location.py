"""Registrations of proxy-users (IvozProvider's ``kam_users_location``).

The table has the shape of Kamailio 5.6's usrloc ``location`` table (schema version 9). It is
written by proxy-users' Python routing script (``polyvox.sip.proxy_users``) right after every
successful ``save()``: the contacts of the AoR as usrloc holds them replace the AoR's rows, in
one transaction, through SQLAlchemy (so it works the same on SQLite and PostgreSQL, no Kamailio
DB driver needed). The proxy's timer process deletes expired rows and, once at start, loads the
unexpired rows back into usrloc (RPC ``ul.add``), so registrations survive a proxy restart.
The API reads it for the ``*/status`` endpoints. ``expires`` and ``last_modified`` are UTC.

Defined on :data:`polyvox.db.model.metadata` so that Alembic sees the tables once
``polyvox.db.model`` imports this module.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Column, DateTime, Float, Index, Integer, String, Table

from polyvox.db.model import metadata

TABLE = "kam_users_location"

location = Table(
    TABLE, metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ruid", String(64), nullable=False, default=""),
    Column("username", String(64), nullable=False, default=""),
    Column("domain", String(190), nullable=True),
    Column("contact", String(512), nullable=False, default=""),
    Column("received", String(128), nullable=True),
    Column("path", String(512), nullable=True),
    Column("expires", DateTime, nullable=False, default=dt.datetime(2030, 5, 28, 21, 32, 15)),
    Column("q", Float, nullable=False, default=1.0),
    Column("callid", String(255), nullable=False, default="Default-Call-ID"),
    Column("cseq", Integer, nullable=False, default=1),
    Column("last_modified", DateTime, nullable=False, default=dt.datetime(2000, 1, 1, 0, 0, 1)),
    Column("flags", Integer, nullable=False, default=0),
    Column("cflags", Integer, nullable=False, default=0),
    Column("user_agent", String(255), nullable=False, default=""),
    Column("socket", String(64), nullable=True),
    Column("methods", Integer, nullable=True),
    Column("instance", String(255), nullable=True),
    Column("reg_id", Integer, nullable=False, default=0),
    Column("server_id", Integer, nullable=False, default=0),
    Column("connection_id", Integer, nullable=False, default=0),
    Column("keepalive", Integer, nullable=False, default=0),
    Column("partition", Integer, nullable=False, default=0),
    Index("ix_kam_users_location_account", "username", "domain"),
    Index("ix_kam_users_location_expires", "expires"),
)


def signed32(v: int) -> int:
    """usrloc's unsigned 32-bit values (methods = 0xFFFFFFFF) as a signed INTEGER column value."""
    v = int(v) & 0xFFFFFFFF
    return v - (1 << 32) if v >= (1 << 31) else v
