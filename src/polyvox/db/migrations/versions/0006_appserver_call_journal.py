"""the application server's journal of answered calls

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # polyvox.db.appserver_state.appserver_call_journal (docs/appserver.md §3.8)
    op.create_table('appserver_call_journal',
    sa.Column('id', sa.Integer().with_variant(sa.BigInteger(), 'postgresql'), autoincrement=True, nullable=False),
    sa.Column('worker', sa.String(length=128), nullable=False),
    sa.Column('process', sa.String(length=64), nullable=False),
    sa.Column('session', sa.String(length=64), nullable=False),
    sa.Column('callId', sa.String(length=255), nullable=False),
    sa.Column('answerTime', sa.DateTime(), nullable=False),
    sa.Column('seenAt', sa.DateTime(), nullable=False),
    sa.Column('claimedBy', sa.String(length=64), nullable=True),
    sa.Column('claimedAt', sa.DateTime(), nullable=True),
    sa.Column('call', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_appserver_call_journal')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('appserver_call_journal', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_appserver_call_journal_process'), ['process'], unique=False)
        batch_op.create_index(batch_op.f('ix_appserver_call_journal_seenAt'), ['seenAt'], unique=False)
        batch_op.create_index(batch_op.f('ix_appserver_call_journal_worker'), ['worker'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('appserver_call_journal', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_appserver_call_journal_worker'))
        batch_op.drop_index(batch_op.f('ix_appserver_call_journal_seenAt'))
        batch_op.drop_index(batch_op.f('ix_appserver_call_journal_process'))
    op.drop_table('appserver_call_journal')
