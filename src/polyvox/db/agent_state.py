"""State written by the trunks agent (:mod:`polyvox.sip.agent`), read by proxy-trunks and the API.

Defined on the model's ``metadata`` (``polyvox.db.model`` imports this module; migration 0002
creates the tables: the agent relies on ``polyvox db upgrade`` / ``polyvox up``, which migrate first).
No foreign keys: the agent removes the rows of deleted carrier servers / registrations itself.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, Integer, String, Table, select
from sqlalchemy.engine import Connection

from polyvox.db.model import metadata

carrier_server_status = Table(
    "carrier_server_status", metadata,
    Column("carrierServerId", Integer, primary_key=True, autoincrement=False),
    Column("active", Boolean, nullable=False, default=True),
    Column("lastReply", DateTime, nullable=True),  # UTC, last final reply of any kind
    Column("lastCode", Integer, nullable=True),  # its status code; NULL = the last ping timed out
    Column("updatedAt", DateTime, nullable=False),  # UTC, last ping result
)

ddi_provider_registration_status = Table(
    "ddi_provider_registration_status", metadata,
    Column("ddiProviderRegistrationId", Integer, primary_key=True, autoincrement=False),
    Column("registered", Boolean, nullable=False, default=False),
    Column("inProgress", Boolean, nullable=False, default=False),
    Column("expiresAt", DateTime, nullable=True),  # UTC end of the granted binding
    Column("contactUser", String(64), nullable=False),  # the Contact user in use (random when empty)
    Column("lastCode", Integer, nullable=True),
    Column("lastError", String(255), nullable=True),
    Column("updatedAt", DateTime, nullable=False),
)


def inactive_carrier_servers(conn: Connection) -> set[int]:
    """Carrier servers whose last OPTIONS ping got no valid reply (proxy-trunks skips them).

    A server never pinged yet is not inactive. A database error reads as "nothing inactive"
    (the health state must never stop calls: proxy-trunks then tries every server); on PostgreSQL
    call it on an autocommit connection (as ``TrunksRepository`` does) so that such a failure
    cannot abort a caller's transaction."""
    try:
        rows = conn.execute(select(carrier_server_status.c.carrierServerId)
                            .where(carrier_server_status.c.active.is_(False))).scalars()
        return {int(r) for r in rows}
    except Exception:  # database unavailable: nothing is inactive
        return set()
