"""On SQLite, the keys of the history tables (orders, trades, withdrawals, audit_log)
become aliases of the row id: ``INTEGER PRIMARY KEY`` instead of ``BIGINT``, which SQLite
keeps in a separate index beside the table. Each insert then writes one B-tree fewer.
The tables are rebuilt with their rows and indexes; PostgreSQL is unchanged.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 21:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEYS = (("orders", "order_id"), ("trades", "trade_id"), ("withdrawals", "withdrawal_id"),
        ("audit_log", "seq"))


def _retype(to: sa.types.TypeEngine[int], was: sa.types.TypeEngine[int]) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table, key in KEYS:
        with op.batch_alter_table(table, recreate="always") as batch:
            batch.alter_column(key, type_=to, existing_type=was, existing_nullable=False)


def upgrade() -> None:
    _retype(sa.Integer(), sa.BigInteger())


def downgrade() -> None:
    _retype(sa.BigInteger(), sa.Integer())
