"""State the SIP proxies keep in the database: registrations of proxy-users (IvozProvider's
``kam_users_location``) and the answered dialogs of both proxies (``kam_dialogs``).

The table has the shape of Kamailio 5.6's usrloc ``location`` table (schema version 9). It is
written by proxy-users' Python routing script (``polyvox.sip.proxy_users``) right after every
successful ``save()``: the contacts of the AoR as usrloc holds them replace the AoR's rows, in
one transaction, through SQLAlchemy (so it works the same on SQLite and PostgreSQL, no Kamailio
DB driver needed). The proxy's timer process deletes expired rows and, once at start, loads the
unexpired rows back into usrloc (RPC ``ul.add``), so registrations survive a proxy restart.
The API reads it for the ``*/status`` endpoints. ``expires`` and ``last_modified`` are UTC.

``kam_dialogs``: one row per answered dialog of a proxy (``proxy`` = its name and address),
written at ``dialog:start`` and deleted at ``dialog:end`` by :class:`polyvox.sip.kemi.DialogGuard`.
After a restart of the proxy (its dialog module starts empty) an in-dialog request is relayed
when its dialog is found here and its sender is one of the stored parties; ``vals`` keeps the
dialog variables the proxy needs to go on (media relay set, rtpengine identity, call record).

Defined on :data:`polyvox.db.model.metadata` so that Alembic sees the tables once
``polyvox.db.model`` imports this module.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Column, DateTime, Float, Index, Integer, String, Table, Text, delete, insert, select

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


def expiry(usrloc_expires: Any, now: dt.datetime) -> dt.datetime:
    """The expiry of a contact (naive UTC) from usrloc's ``expires`` as ``$ulc(...=>expires)``
    reports it: the absolute expiry time in epoch seconds (not the seconds left). 0 (a
    permanent contact, which Polyvox never makes) and garbage expire now."""
    try:
        epoch = int(usrloc_expires or 0)
    except (TypeError, ValueError):
        return now
    if epoch <= 0:
        return now
    return dt.datetime.fromtimestamp(epoch, dt.UTC).replace(tzinfo=None)


# ---------------------------------------------------------------------------- answered dialogs
dialogs = Table(
    "kam_dialogs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("proxy", String(190), nullable=False),
    Column("callid", String(255), nullable=False),
    Column("caller_tag", String(128), nullable=False, default=""),
    Column("callee_tag", String(128), nullable=False, default=""),
    Column("peers", String(512), nullable=False, default=""),
    Column("vals", Text, nullable=False, default="{}"),
    Column("created", DateTime, nullable=False),
    Index("ix_kam_dialogs_call", "proxy", "callid"),
    Index("ix_kam_dialogs_created", "created"),
)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def save_dialog(engine: Any, *, proxy: str, callid: str, caller_tag: str, callee_tag: str, peers: str,
                values: str) -> None:
    with engine.begin() as conn:
        conn.execute(insert(dialogs).values(proxy=proxy, callid=callid[:255], caller_tag=caller_tag[:128],
                                            callee_tag=callee_tag[:128], peers=peers[:512], vals=values,
                                            created=_utcnow()))


def drop_dialog(engine: Any, *, proxy: str, callid: str, caller_tag: str) -> None:
    with engine.begin() as conn:
        conn.execute(delete(dialogs).where((dialogs.c.proxy == proxy) & (dialogs.c.callid == callid[:255])
                                           & (dialogs.c.caller_tag == caller_tag[:128])))


def drop_dialog_row(engine: Any, row_id: int) -> None:
    with engine.begin() as conn:
        conn.execute(delete(dialogs).where(dialogs.c.id == row_id))


def find_dialog(engine: Any, *, proxy: str, callid: str, tags: tuple[str, str]) -> tuple[int, str, str] | None:
    """``(id, peers, vals)`` of the stored dialog with this Call-ID whose two tags are ``tags`` (in
    either order: the request may come from the caller or the callee)."""
    with engine.connect() as conn:
        rows = conn.execute(select(dialogs.c.id, dialogs.c.caller_tag, dialogs.c.callee_tag, dialogs.c.peers,
                                   dialogs.c.vals)
                            .where((dialogs.c.proxy == proxy) & (dialogs.c.callid == callid[:255]))).all()
    wanted = {t[:128] for t in tags}
    for row in rows:
        if {row.caller_tag, row.callee_tag} == wanted:
            return int(row.id), str(row.peers or ""), str(row.vals or "{}")
    return None


def purge_dialogs(engine: Any, *, proxy: str, older_than: dt.timedelta) -> int:
    """Stored dialogs older than the proxies' longest dialog (their end was never seen)."""
    with engine.begin() as conn:
        return int(conn.execute(delete(dialogs).where((dialogs.c.proxy == proxy)
                                                      & (dialogs.c.created < _utcnow() - older_than))).rowcount or 0)


def dialogs_since(engine: Any, *, proxy: str, since: dt.datetime, before: dt.datetime) -> list[Any]:
    """Stored dialogs of ``proxy`` created in [since, before)."""
    with engine.connect() as conn:
        return list(conn.execute(select(dialogs).where((dialogs.c.proxy == proxy) & (dialogs.c.created >= since)
                                                       & (dialogs.c.created < before))).all())
