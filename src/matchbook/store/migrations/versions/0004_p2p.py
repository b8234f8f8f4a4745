"""P2P escrow trading: payment methods, ads, trades, transitions, chat, feedback,
notifications (the read model), and which notifications each user has read.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 14:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AMOUNT = sa.BigInteger().with_variant(sa.Numeric(38, 0), "postgresql")
TRADE_STATES = ("pending_payment", "paid", "disputed", "completed", "cancelled", "expired",
                "resolved_release", "resolved_refund")
AD_STATES = ("open", "paused", "closed", "cancelled")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    op.create_table(
        "p2p_payment_methods",
        sa.Column("method_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("removed", sa.Boolean(), nullable=False),
        sa.Column("created_seq", sa.BigInteger(), nullable=False),
        sa.Column("created_ts_ns", sa.BigInteger(), nullable=False),
        sa.Column("updated_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("method_id", name="pk_p2p_payment_methods"),
    )
    op.create_index("ix_p2p_payment_methods_user", "p2p_payment_methods",
                    ["user_id", "method_id"])

    op.create_table(
        "p2p_ads",
        sa.Column("ad_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("maker_id", sa.BigInteger(), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("asset", sa.String(16), nullable=False),
        sa.Column("fiat", sa.String(16), nullable=False),
        sa.Column("price_minor", AMOUNT, nullable=False),
        sa.Column("price_margin_bps", sa.Integer(), nullable=False),
        sa.Column("price_symbol", sa.String(32), nullable=False),
        sa.Column("qty_minor", AMOUNT, nullable=False),
        sa.Column("remaining_minor", AMOUNT, nullable=False),
        sa.Column("min_qty_minor", AMOUNT, nullable=False),
        sa.Column("max_qty_minor", AMOUNT, nullable=False),
        sa.Column("payment_method_ids", sa.String(200), nullable=False),
        sa.Column("payment_window_s", sa.Integer(), nullable=False),
        sa.Column("terms", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_seq", sa.BigInteger(), nullable=False),
        sa.Column("created_ts_ns", sa.BigInteger(), nullable=False),
        sa.Column("updated_seq", sa.BigInteger(), nullable=False),
        sa.Column("updated_ts_ns", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(_in("state", AD_STATES), name="ck_p2p_ads_state"),
        sa.PrimaryKeyConstraint("ad_id", name="pk_p2p_ads"),
    )
    op.create_index("ix_p2p_ads_board", "p2p_ads", ["state", "side", "asset", "fiat"])
    op.create_index("ix_p2p_ads_maker", "p2p_ads", ["maker_id", "ad_id"])

    op.create_table(
        "p2p_trades",
        sa.Column("trade_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("ad_id", sa.BigInteger(), nullable=False),
        sa.Column("ad_side", sa.String(4), nullable=False),
        sa.Column("maker_id", sa.BigInteger(), nullable=False),
        sa.Column("buyer_id", sa.BigInteger(), nullable=False),
        sa.Column("seller_id", sa.BigInteger(), nullable=False),
        sa.Column("asset", sa.String(16), nullable=False),
        sa.Column("fiat", sa.String(16), nullable=False),
        sa.Column("qty_minor", AMOUNT, nullable=False),
        sa.Column("price_minor", AMOUNT, nullable=False),
        sa.Column("fiat_amount_minor", AMOUNT, nullable=False),
        sa.Column("fee_minor", AMOUNT, nullable=False),
        sa.Column("payment_method_id", sa.BigInteger(), nullable=False),
        sa.Column("payment_method_name", sa.String(64), nullable=False),
        sa.Column("payment_details", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("pay_by_ns", sa.BigInteger(), nullable=False),
        sa.Column("appeal_after_ns", sa.BigInteger(), nullable=False),
        sa.Column("escalate_at_ns", sa.BigInteger(), nullable=False),
        sa.Column("paid_ts_ns", sa.BigInteger(), nullable=True),
        sa.Column("finished_ts_ns", sa.BigInteger(), nullable=True),
        sa.Column("dispute_opened_by", sa.BigInteger(), nullable=True),
        sa.Column("dispute_reason", sa.String(64), nullable=True),
        sa.Column("dispute_text", sa.Text(), nullable=True),
        sa.Column("dispute_opened_ts_ns", sa.BigInteger(), nullable=True),
        sa.Column("proposed_outcome", sa.String(8), nullable=True),
        sa.Column("proposed_by", sa.BigInteger(), nullable=True),
        sa.Column("resolution_note", sa.Text(), nullable=True),
        sa.Column("created_seq", sa.BigInteger(), nullable=False),
        sa.Column("created_ts_ns", sa.BigInteger(), nullable=False),
        sa.Column("updated_seq", sa.BigInteger(), nullable=False),
        sa.Column("updated_ts_ns", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(_in("state", TRADE_STATES), name="ck_p2p_trades_state"),
        sa.PrimaryKeyConstraint("trade_id", name="pk_p2p_trades"),
    )
    op.create_index("ix_p2p_trades_buyer", "p2p_trades", ["buyer_id", "trade_id"])
    op.create_index("ix_p2p_trades_seller", "p2p_trades", ["seller_id", "trade_id"])
    op.create_index("ix_p2p_trades_state", "p2p_trades", ["state", "trade_id"])
    op.create_index("ix_p2p_trades_ad", "p2p_trades", ["ad_id", "trade_id"])

    op.create_table(
        "p2p_transitions",
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("event_index", sa.Integer(), nullable=False),
        sa.Column("trade_id", sa.BigInteger(), nullable=False),
        sa.Column("from_state", sa.String(16), nullable=True),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(8), nullable=False),
        sa.Column("actor_id", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("to_buyer_minor", AMOUNT, nullable=False),
        sa.Column("fee_minor", AMOUNT, nullable=False),
        sa.Column("to_seller_minor", AMOUNT, nullable=False),
        sa.Column("to_ad_minor", AMOUNT, nullable=False),
        sa.Column("ts_ns", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("seq", "event_index", name="pk_p2p_transitions"),
    )
    op.create_index("ix_p2p_transitions_trade", "p2p_transitions", ["trade_id", "seq"])

    op.create_table(
        "p2p_messages",
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("event_index", sa.Integer(), nullable=False),
        sa.Column("trade_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("author", sa.String(8), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("ts_ns", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("seq", "event_index", name="pk_p2p_messages"),
    )
    op.create_index("ix_p2p_messages_trade", "p2p_messages", ["trade_id", "seq"])

    op.create_table(
        "p2p_feedback",
        sa.Column("trade_id", sa.BigInteger(), nullable=False),
        sa.Column("from_user_id", sa.BigInteger(), nullable=False),
        sa.Column("to_user_id", sa.BigInteger(), nullable=False),
        sa.Column("positive", sa.Boolean(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("ts_ns", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("trade_id", "from_user_id", name="pk_p2p_feedback"),
    )
    op.create_index("ix_p2p_feedback_to", "p2p_feedback", ["to_user_id", "seq"])

    op.create_table(
        "notifications",
        sa.Column("notification_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("trade_id", sa.BigInteger(), nullable=True),
        sa.Column("ad_id", sa.BigInteger(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("ts_ns", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("notification_id", name="pk_notifications"),
    )
    op.create_index("ix_notifications_user", "notifications", ["user_id", "notification_id"])

    # the API's own state (not derived from the journal; `db rebuild` keeps it)
    op.create_table(
        "notification_reads",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("notification_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "notification_id", name="pk_notification_reads"),
    )
    op.create_table(
        "notification_marks",
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("read_up_to", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="pk_notification_marks"),
    )


def downgrade() -> None:
    for table in ("notification_marks", "notification_reads", "notifications",
                  "p2p_feedback", "p2p_messages", "p2p_transitions", "p2p_trades",
                  "p2p_ads", "p2p_payment_methods"):
        op.drop_table(table)
