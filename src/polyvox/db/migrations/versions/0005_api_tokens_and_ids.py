"""tokens bound to a per-account version; ids never reused on SQLite

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07

- ``administrators.tokenVersion`` and ``users.tokenVersion``: a random value per account that
  every token of the account carries (polyvox.api.auth). Existing accounts get a random one,
  so tokens issued before this revision (which carry none) are refused: log in again.
- ``login_throttle``: failed logins per account name and per address.
- SQLite: every table is rebuilt with ``INTEGER PRIMARY KEY AUTOINCREMENT`` (which SQLite
  cannot add to an existing table), keeping its rows, ids, indexes and foreign keys, so that
  the id of a deleted row is never handed out again. The rebuild needs foreign-key enforcement
  off (dropping the old copy of a parent table would otherwise cascade into its children), and
  SQLite only switches that outside a transaction: the revisions before this one are committed
  first, and the rebuild runs in a transaction of its own that ends with a foreign-key check.
  PostgreSQL sequences never reuse a value: nothing to rebuild there.
"""
import re

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

_ACCOUNTS = ("administrators", "users")


def upgrade() -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    op.create_table(
        "login_throttle",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("windowStart", sa.DateTime(), nullable=False),
        sa.Column("lockedUntil", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_throttle")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_login_throttle_scope_subject", "login_throttle", ["scope", "subject"], unique=True)
    random_version = "lower(hex(randomblob(16)))" if sqlite else "md5(random()::text || clock_timestamp()::text)"
    for table in _ACCOUNTS:
        op.add_column(table, sa.Column("tokenVersion", sa.String(length=32), nullable=True))
        op.execute(f'UPDATE {table} SET "tokenVersion" = {random_version}')
    if not sqlite:
        for table in _ACCOUNTS:
            op.alter_column(table, "tokenVersion", existing_type=sa.String(length=32), nullable=False)
        return
    _rebuild_sqlite_tables(bind)


def _rebuild_sqlite_tables(bind: sa.Connection) -> None:
    """SQLite's generalized ALTER TABLE (https://www.sqlite.org/lang_altertable.html#otheralter):
    each table's own CREATE statement with ``PRIMARY KEY AUTOINCREMENT`` on ``id``, the rows
    copied as they are (AUTOINCREMENT then starts after the largest id), the old table dropped,
    the new one renamed and the table's indexes and triggers created again."""
    raw = bind.connection.dbapi_connection
    assert raw is not None
    raw.commit()
    raw.execute("PRAGMA foreign_keys=OFF")
    # a rename leaves the other tables' references alone (they name the final table already)
    raw.execute("PRAGMA legacy_alter_table=ON")
    try:
        raw.execute("BEGIN")
        tables = list(raw.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "AND sql NOT LIKE '%AUTOINCREMENT%' ORDER BY name"))
        for name, sql in tables:
            pk = [r[1] for r in raw.execute(f'PRAGMA table_info("{name}")') if r[5]]
            if pk != ["id"]:
                continue  # keyed by another table's id (a 1:1 state row) or by a natural key
            temp = f"_autoincrement_{name}"
            create = _autoincrement_sql(name, sql, temp)
            if name in _ACCOUNTS:
                create, n = re.subn(r'"tokenVersion" VARCHAR\(32\)', '"tokenVersion" VARCHAR(32) NOT NULL', create)
                assert n == 1, create
            others = [r[0] for r in raw.execute(
                "SELECT sql FROM sqlite_master WHERE tbl_name = ? AND type IN ('index', 'trigger') "
                "AND sql IS NOT NULL", (name,))]
            raw.execute(create)
            raw.execute(f'INSERT INTO "{temp}" SELECT * FROM "{name}"')
            raw.execute(f'DROP TABLE "{name}"')
            raw.execute(f'ALTER TABLE "{temp}" RENAME TO "{name}"')
            for statement in others:
                raw.execute(statement)
        problems = list(raw.execute("PRAGMA foreign_key_check"))
        if problems:
            raise RuntimeError(f"foreign keys broken by the table rebuild: {problems[:5]}")
        raw.commit()
    except BaseException:
        raw.rollback()
        raise
    finally:
        raw.execute("PRAGMA legacy_alter_table=OFF")
        raw.execute("PRAGMA foreign_keys=ON")


def _autoincrement_sql(name: str, sql: str, temp: str) -> str:
    """The table's CREATE statement (as SQLAlchemy wrote it) under the name ``temp`` with the
    primary key on the ``id`` column declared AUTOINCREMENT."""
    out, n_head = re.subn(rf'^CREATE TABLE ("?){re.escape(name)}\1 \(', f'CREATE TABLE "{temp}" (', sql)
    out, n_col = re.subn(r'(\n\s*)id INTEGER NOT NULL,', r'\1id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,', out)
    out, n_pk = re.subn(r',\s*(CONSTRAINT "?\w+"? )?PRIMARY KEY \(id\)', '', out)
    if (n_head, n_col, n_pk) != (1, 1, 1):
        raise RuntimeError(f"unexpected CREATE statement of {name}: {sql}")
    return out


def downgrade() -> None:
    # the rebuilt tables keep AUTOINCREMENT: harmless, and ids stay unique
    for table in _ACCOUNTS:
        with op.batch_alter_table(table) as b:
            b.drop_column("tokenVersion")
    op.drop_index("ix_login_throttle_scope_subject", table_name="login_throttle")
    op.drop_table("login_throttle")
