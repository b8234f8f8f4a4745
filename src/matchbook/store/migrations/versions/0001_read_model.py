"""The read model: orders, order events, trades, ledger, balances, wallets, audit log.

Revision ID: 0001
Revises:
Create Date: 2025-01-01 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# money in minor units: NUMERIC(38, 0) on PostgreSQL (sums may exceed 64 bits), a 64-bit
# INTEGER on SQLite
AMOUNT = sa.BigInteger().with_variant(sa.Numeric(38, 0), "postgresql")

ORDER_STATUSES = ("new", "partially_filled", "filled", "cancelled", "expired", "rejected",
                  "pending_trigger")
WITHDRAWAL_STATUSES = ("pending", "completed", "rejected")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("order_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("price_ticks", sa.BigInteger(), nullable=False),
        sa.Column("qty_lots", sa.BigInteger(), nullable=False),
        sa.Column("filled_lots", sa.BigInteger(), nullable=False),
        sa.Column("leaves_lots", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("time_in_force", sa.String(3), nullable=False),
        sa.Column("client_order_id", sa.String(64), nullable=True),
        sa.Column("stop_price_ticks", sa.BigInteger(), nullable=False),
        sa.Column("display_lots", sa.BigInteger(), nullable=False),
        sa.Column("post_only", sa.Boolean(), nullable=False),
        sa.Column("expire_ts_ns", sa.BigInteger(), nullable=False),
        sa.Column("quote_amount_minor", AMOUNT, nullable=False),
        sa.Column("filled_notional_minor", AMOUNT, nullable=False),
        sa.Column("fee_minor", AMOUNT, nullable=False),
        sa.Column("created_seq", sa.BigInteger(), nullable=False),
        sa.Column("updated_seq", sa.BigInteger(), nullable=False),
        sa.Column("created_ts_ns", sa.BigInteger(), nullable=False),
        sa.Column("updated_ts_ns", sa.BigInteger(), nullable=False),
        sa.Column("cancel_reason", sa.String(16), nullable=True),
        sa.CheckConstraint(_in("status", ORDER_STATUSES), name="ck_orders_status"),
        sa.PrimaryKeyConstraint("order_id", name="pk_orders"),
    )
    op.create_index("ix_orders_user_status", "orders", ["user_id", "status", "order_id"])
    op.create_index("ix_orders_user_symbol", "orders", ["user_id", "symbol", "order_id"])
    op.create_index("ix_orders_symbol_status", "orders", ["symbol", "status"])

    op.create_table(
        "order_events",
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("event_index", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("event_type", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("qty_lots", sa.BigInteger(), nullable=False),
        sa.Column("price_ticks", sa.BigInteger(), nullable=False),
        sa.Column("filled_lots", sa.BigInteger(), nullable=False),
        sa.Column("leaves_lots", sa.BigInteger(), nullable=False),
        sa.Column("trade_id", sa.BigInteger(), nullable=True),
        sa.Column("ts_ns", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("seq", "event_index", name="pk_order_events"),
    )
    op.create_index("ix_order_events_order", "order_events", ["order_id", "seq"])

    op.create_table(
        "trades",
        sa.Column("trade_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("price_ticks", sa.BigInteger(), nullable=False),
        sa.Column("qty_lots", sa.BigInteger(), nullable=False),
        sa.Column("aggressor_side", sa.String(4), nullable=False),
        sa.Column("maker_order_id", sa.BigInteger(), nullable=False),
        sa.Column("taker_order_id", sa.BigInteger(), nullable=False),
        sa.Column("maker_user_id", sa.BigInteger(), nullable=False),
        sa.Column("taker_user_id", sa.BigInteger(), nullable=False),
        sa.Column("notional_minor", AMOUNT, nullable=False),
        sa.Column("base_minor", AMOUNT, nullable=False),
        sa.Column("maker_fee_minor", AMOUNT, nullable=False),
        sa.Column("taker_fee_minor", AMOUNT, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("ts_ns", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("trade_id", name="pk_trades"),
    )
    op.create_index("ix_trades_symbol_ts", "trades", ["symbol", "ts_ns"])
    op.create_index("ix_trades_symbol_id", "trades", ["symbol", "trade_id"])
    op.create_index("ix_trades_maker_user", "trades", ["maker_user_id", "trade_id"])
    op.create_index("ix_trades_taker_user", "trades", ["taker_user_id", "trade_id"])

    op.create_table(
        "ledger_entries",
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("debit", sa.String(64), nullable=False),
        sa.Column("credit", sa.String(64), nullable=False),
        sa.Column("asset", sa.String(16), nullable=False),
        sa.Column("amount_minor", AMOUNT, nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("reference", sa.String(64), nullable=False),
        sa.Column("debit_user_id", sa.BigInteger(), nullable=True),
        sa.Column("credit_user_id", sa.BigInteger(), nullable=True),
        sa.Column("ts_ns", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("seq", "index", name="pk_ledger_entries"),
    )
    op.create_index("ix_ledger_debit_user", "ledger_entries", ["debit_user_id", "seq"])
    op.create_index("ix_ledger_credit_user", "ledger_entries", ["credit_user_id", "seq"])

    op.create_table(
        "balances",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("asset", sa.String(16), nullable=False),
        sa.Column("available_minor", AMOUNT, nullable=False),
        sa.Column("held_minor", AMOUNT, nullable=False),
        sa.Column("updated_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "asset", name="pk_balances"),
    )

    op.create_table(
        "system_balances",
        sa.Column("account", sa.String(16), nullable=False),
        sa.Column("asset", sa.String(16), nullable=False),
        sa.Column("balance_minor", AMOUNT, nullable=False),
        sa.Column("updated_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account", "asset", name="pk_system_balances"),
    )

    op.create_table(
        "wallet_addresses",
        sa.Column("address", sa.String(128), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("asset", sa.String(16), nullable=False),
        sa.Column("created_seq", sa.BigInteger(), nullable=False),
        sa.Column("created_ts_ns", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("address", name="pk_wallet_addresses"),
        sa.UniqueConstraint("user_id", "asset", name="uq_wallet_addresses_user_asset"),
    )

    op.create_table(
        "withdrawals",
        sa.Column("withdrawal_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("asset", sa.String(16), nullable=False),
        sa.Column("amount_minor", AMOUNT, nullable=False),
        sa.Column("destination", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(200), nullable=True),
        sa.Column("requested_seq", sa.BigInteger(), nullable=False),
        sa.Column("requested_ts_ns", sa.BigInteger(), nullable=False),
        sa.Column("updated_seq", sa.BigInteger(), nullable=False),
        sa.Column("updated_ts_ns", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(_in("status", WITHDRAWAL_STATUSES), name="ck_withdrawals_status"),
        sa.PrimaryKeyConstraint("withdrawal_id", name="pk_withdrawals"),
    )
    op.create_index("ix_withdrawals_user", "withdrawals", ["user_id", "withdrawal_id"])
    op.create_index("ix_withdrawals_status", "withdrawals", ["status"])

    op.create_table(
        "audit_log",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("ts_ns", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("command_type", sa.String(32), nullable=False),
        sa.Column("command", sa.Text(), nullable=False),
        sa.Column("result_code", sa.Integer(), nullable=False),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_user", "audit_log", ["user_id", "seq"])

    op.create_table(
        "projection_state",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_ts_ns", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_projection_state"),
    )


def downgrade() -> None:
    for table in ("projection_state", "audit_log", "withdrawals", "wallet_addresses",
                  "system_balances", "balances", "ledger_entries", "trades", "order_events",
                  "orders"):
        op.drop_table(table)
