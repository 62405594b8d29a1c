"""proxies' state

- ``kam_dialogs``: answered dialogs of both proxies, so that their in-dialog requests are still
  relayed after a proxy restart (``polyvox.db.location``, docs/sip.md §11).
- ``kam_users_location``: rows written with the absolute expiry added to the write time (57
  years ahead) get their real expiry back: usrloc's epoch expiry is ``expires - last_modified``
  (both columns were written from the same clock reading).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""
import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

WRONG = dt.timedelta(days=3650)  # no registration lasts ten years: such rows carry the double expiry


def upgrade() -> None:
    op.create_table(
        'kam_dialogs',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('proxy', sa.String(length=190), nullable=False),
        sa.Column('callid', sa.String(length=255), nullable=False),
        sa.Column('caller_tag', sa.String(length=128), nullable=False),
        sa.Column('callee_tag', sa.String(length=128), nullable=False),
        sa.Column('peers', sa.String(length=512), nullable=False),
        sa.Column('vals', sa.Text(), nullable=False),
        sa.Column('created', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_kam_dialogs')),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table('kam_dialogs', schema=None) as batch_op:
        batch_op.create_index('ix_kam_dialogs_call', ['proxy', 'callid'], unique=False)
        batch_op.create_index('ix_kam_dialogs_created', ['created'], unique=False)

    conn = op.get_bind()
    loc = sa.table('kam_users_location', sa.column('id', sa.Integer), sa.column('expires', sa.DateTime),
                   sa.column('last_modified', sa.DateTime))
    for row in conn.execute(sa.select(loc.c.id, loc.c.expires, loc.c.last_modified)).all():
        if row.expires is None or row.last_modified is None or row.expires - row.last_modified < WRONG:
            continue
        epoch = (row.expires - row.last_modified).total_seconds()
        fixed = dt.datetime.fromtimestamp(epoch, dt.UTC).replace(tzinfo=None)
        conn.execute(sa.update(loc).where(loc.c.id == row.id).values(expires=fixed))


def downgrade() -> None:
    with op.batch_alter_table('kam_dialogs', schema=None) as batch_op:
        batch_op.drop_index('ix_kam_dialogs_created')
        batch_op.drop_index('ix_kam_dialogs_call')
    op.drop_table('kam_dialogs')
