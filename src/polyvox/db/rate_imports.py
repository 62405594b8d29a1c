"""Progress of the rate CSV imports (one row per destination rate group), defined on the model's
``metadata``.

Written by the API when a file is uploaded (``polyvox.api.custom.rate_import``) and by the import
job (:mod:`polyvox.workers.rate_import`); the state mirrors ``DestinationRateGroup.status``.
``polyvox.db.model`` imports this module; migration 0002 creates the table (docs/billing-import.md).
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Integer, String, Table

from polyvox.db.model import metadata

destination_rate_imports = Table(
    "destination_rate_imports", metadata,
    Column("destinationRateGroupId", Integer, primary_key=True, autoincrement=False),
    Column("state", String(20), nullable=False),  # mirrors DestinationRateGroup.status
    Column("attempt", Integer, nullable=False, default=0),  # +1 per upload: a newer upload supersedes
    Column("fileName", String(255), nullable=True),
    Column("totalLines", Integer, nullable=False, default=0),  # physical lines of the file
    Column("processedLines", Integer, nullable=False, default=0),  # lines checked so far
    Column("destinationsAdded", Integer, nullable=False, default=0),
    Column("ratesAdded", Integer, nullable=False, default=0),
    Column("ratesUpdated", Integer, nullable=False, default=0),
    Column("queuedAt", DateTime, nullable=True),  # UTC
    Column("startedAt", DateTime, nullable=True),
    Column("finishedAt", DateTime, nullable=True),
    Column("error", String(300), nullable=True),
)
