"""SIP call records of proxy-trunks (one row per call leg through the trunks proxy).

Written synchronously by proxy-trunks when the dialog ends (BYE, timeout) or fails (negative
final reply, CANCEL), so a record is never lost once the call is over. Defined on the model's
``metadata`` (created by migration 0001; ``routingTagId`` and ``bounced`` added by migration 0002).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Integer,
    String,
    Table,
    false,
)

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

