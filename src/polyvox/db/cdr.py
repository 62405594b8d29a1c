"""SIP call records of proxy-trunks (one row per call leg through the trunks proxy).

Written synchronously by proxy-trunks when the dialog ends (BYE, timeout) or fails (negative
final reply, CANCEL), so a record is never lost once the call is over. Defined on the model's
``metadata`` (created by migration 0001). ``routingTagId`` and ``bounced`` are newer: migration
0002 (integrator) adds them; until then :func:`ensure_columns` adds them (tests) and
:func:`present_columns` lets proxy-trunks and the billing worker work without them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Engine,
    Float,
    Integer,
    String,
    Table,
    false,
    inspect,
    text,
)
from sqlalchemy.engine import Connection

from polyvox.db.model import metadata

kam_trunks_cdrs = Table(
    "kam_trunks_cdrs",
    metadata,
    Column("id", Integer().with_variant(BigInteger(), "postgresql"), primary_key=True, autoincrement=True),
    Column("callid", String(255), nullable=False, index=True),
    Column("direction", String(16), nullable=False),  # inbound | outbound
    Column("brandId", Integer, nullable=True, index=True),
    Column("companyId", Integer, nullable=True, index=True),
    Column("carrierId", Integer, nullable=True),
    Column("carrierServerId", Integer, nullable=True),
    Column("ddiProviderId", Integer, nullable=True),
    Column("ddiId", Integer, nullable=True),
    Column("endpointType", String(32), nullable=True),
    Column("endpointId", Integer, nullable=True),
    Column("endpointName", String(255), nullable=True),
    Column("caller", String(128), nullable=True),  # E.164
    Column("callee", String(128), nullable=True),  # E.164
    Column("startTime", DateTime(timezone=True), nullable=False),
    Column("answerTime", DateTime(timezone=True), nullable=True),
    Column("endTime", DateTime(timezone=True), nullable=False),
    Column("duration", Float, nullable=False, default=0),  # answered seconds
    Column("disconnectCode", Integer, nullable=True),  # SIP status of a failed call, 200 when answered
    Column("disconnectReason", String(255), nullable=True),
    # outbound: the routing tag used for routing and rating (dialled, else the presented DDI's)
    Column("routingTagId", Integer, nullable=True),
    # an outbound call to one of the platform's own DDIs (never reached a carrier): two rows with
    # the same callid, the calling client's (outbound, billed) and the DDI client's (inbound)
    Column("bounced", Boolean, nullable=False, server_default=false()),
    sqlite_autoincrement=True,
)


def ensure_columns(engine: Engine) -> None:
    """Adds ``routingTagId`` and ``bounced`` to a ``kam_trunks_cdrs`` created by migration 0001
    (until migration 0002 adds them; used by the tests)."""
    kam_trunks_cdrs.create(engine, checkfirst=True)
    have = {c["name"] for c in inspect(engine).get_columns("kam_trunks_cdrs")}
    with engine.begin() as conn:
        if "routingTagId" not in have:
            conn.execute(text('ALTER TABLE kam_trunks_cdrs ADD COLUMN "routingTagId" INTEGER'))
        if "bounced" not in have:
            conn.execute(text("ALTER TABLE kam_trunks_cdrs ADD COLUMN bounced BOOLEAN NOT NULL DEFAULT false"))


# columns added after migration 0001 (migration 0002): readers and writers skip them while the
# database does not have them yet, so nothing breaks between deploying this code and migrating
NEW_COLUMNS = ("routingTagId", "bounced")
_migrated: set[str] = set()


def present_columns(conn: Connection) -> list[Column[Any]]:
    """The ``kam_trunks_cdrs`` columns that exist in the database behind ``conn`` (all of them
    once ``routingTagId`` / ``bounced`` are there; a database found migrated is remembered)."""
    key = conn.engine.url.render_as_string(hide_password=True)
    if key not in _migrated:
        have = {c["name"] for c in inspect(conn).get_columns("kam_trunks_cdrs")}
        if not all(name in have for name in NEW_COLUMNS):
            return [c for c in kam_trunks_cdrs.c if c.name not in NEW_COLUMNS]
        _migrated.add(key)
    return list(kam_trunks_cdrs.c)
