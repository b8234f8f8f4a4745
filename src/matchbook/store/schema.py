"""The SQL read model: tables derived from the engine's event stream (SQLAlchemy Core).

The database is a projection, never the source of truth: every row can be rebuilt from
the journal. Conventions:

* ids, prices (ticks), quantities (lots), sequence numbers and timestamps (ns since the
  Unix epoch) are ``BigInteger``;
* money is in minor units of its asset and uses :class:`Amount`: ``NUMERIC(38, 0)`` on
  PostgreSQL (sums may exceed 64 bits), ``INTEGER`` on SQLite (64-bit, exact; a value
  beyond it raises ``OverflowError`` instead of being rounded). Python sees ``int``;
* enumerations are lower-case words (``buy``, ``limit``, ``gtc``, ``partially_filled``)
  so that rows read well in SQL and map to the API without a table of numbers;
* every row carries the sequence number of the command that wrote it, which makes the
  projection idempotent (see :mod:`matchbook.store.projector`).

The Alembic revisions in ``migrations/`` create exactly these tables; a test compares
them.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Dialect,
    Index,
    Integer,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator, TypeEngine

DEFAULT_PROJECTION = "sql"
"""The ``projection_state`` name of the SQL projector."""

ORDER_STATUSES = (
    "new",
    "partially_filled",
    "filled",
    "cancelled",
    "expired",
    "rejected",
    "pending_trigger",
)
OPEN_STATUSES = ("new", "partially_filled", "pending_trigger")
CLOSED_STATUSES = ("filled", "cancelled", "expired", "rejected")
WITHDRAWAL_STATUSES = ("pending", "completed", "rejected")

SIDES = {1: "buy", 2: "sell"}
ORDER_TYPES = {1: "limit", 2: "market", 3: "stop_limit", 4: "stop_market"}
TIME_IN_FORCE = {1: "gtc", 2: "ioc", 3: "fok", 4: "gtd"}
CANCEL_REASONS = {1: "user", 2: "unfilled", 3: "self_trade", 4: "cancel_all", 5: "suspended",
                  6: "no_funds"}


class Amount(TypeDecorator[int]):
    """An integer amount in minor units: ``NUMERIC(38, 0)`` on PostgreSQL, ``INTEGER``
    elsewhere; always bound and returned as a Python ``int``."""

    impl = Numeric(38, 0)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(Numeric(38, 0))
        return dialect.type_descriptor(BigInteger())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None or dialect.name != "postgresql":
            return value
        return Decimal(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> int | None:
        return None if value is None else int(value)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


metadata = MetaData(naming_convention={"pk": "pk_%(table_name)s"})

ROW_ID = BigInteger().with_variant(Integer(), "sqlite")
"""The integer key of a history table: ``BIGINT`` on PostgreSQL; on SQLite ``INTEGER``,
which makes the key an alias of the row id (SQLite's own 64-bit key), so a row lives in
one B-tree instead of two (the table and its key's index): one write fewer per insert."""

orders = Table(
    "orders",
    metadata,
    Column("order_id", ROW_ID, primary_key=True, autoincrement=False),
    Column("user_id", BigInteger, nullable=False),
    Column("symbol", String(32), nullable=False),
    Column("side", String(4), nullable=False),
    Column("type", String(16), nullable=False),
    Column("price_ticks", BigInteger, nullable=False),  # 0 for market and stop-market
    Column("qty_lots", BigInteger, nullable=False),  # total: amended, shrunk by STP decrement
    Column("filled_lots", BigInteger, nullable=False),
    Column("leaves_lots", BigInteger, nullable=False),  # open quantity (0 once closed)
    Column("status", String(16), nullable=False),
    Column("time_in_force", String(3), nullable=False),
    Column("client_order_id", String(64), nullable=True),
    Column("stop_price_ticks", BigInteger, nullable=False),  # 0: not a stop order
    Column("display_lots", BigInteger, nullable=False),  # 0: not an iceberg
    Column("post_only", Boolean, nullable=False),
    Column("expire_ts_ns", BigInteger, nullable=False),  # 0: not GTD
    Column("quote_amount_minor", Amount, nullable=False),  # market buy by quote amount
    Column("filled_notional_minor", Amount, nullable=False),  # sum of fills' notional
    Column("fee_minor", Amount, nullable=False),  # fees paid (negative: rebates)
    Column("created_seq", BigInteger, nullable=False),
    Column("updated_seq", BigInteger, nullable=False),
    Column("created_ts_ns", BigInteger, nullable=False),
    Column("updated_ts_ns", BigInteger, nullable=False),
    Column("cancel_reason", String(16), nullable=True),
    CheckConstraint(_in("status", ORDER_STATUSES), name="ck_orders_status"),
    Index("ix_orders_user_status", "user_id", "status", "order_id"),
    Index("ix_orders_user_symbol", "user_id", "symbol", "order_id"),
    Index("ix_orders_symbol_status", "symbol", "status"),
)

order_events = Table(
    "order_events",
    metadata,
    Column("seq", BigInteger, nullable=False),
    Column("event_index", Integer, nullable=False),  # position in the command's events
    Column("order_id", BigInteger, nullable=False),
    Column("event_type", String(16), nullable=False),  # accepted, filled, cancelled, ...
    Column("status", String(16), nullable=False),  # the order's status after the event
    Column("qty_lots", BigInteger, nullable=False),  # filled / cancelled / amended lots
    Column("price_ticks", BigInteger, nullable=False),  # fill or amended price, else 0
    Column("filled_lots", BigInteger, nullable=False),
    Column("leaves_lots", BigInteger, nullable=False),
    Column("trade_id", BigInteger, nullable=True),
    Column("ts_ns", BigInteger, nullable=False),
    PrimaryKeyConstraint("seq", "event_index", name="pk_order_events"),
    Index("ix_order_events_order", "order_id", "seq"),
)

trades = Table(
    "trades",
    metadata,
    Column("trade_id", ROW_ID, primary_key=True, autoincrement=False),
    Column("symbol", String(32), nullable=False),
    Column("price_ticks", BigInteger, nullable=False),
    Column("qty_lots", BigInteger, nullable=False),
    Column("aggressor_side", String(4), nullable=False),
    Column("maker_order_id", BigInteger, nullable=False),
    Column("taker_order_id", BigInteger, nullable=False),
    Column("maker_user_id", BigInteger, nullable=False),
    Column("taker_user_id", BigInteger, nullable=False),
    Column("notional_minor", Amount, nullable=False),
    Column("base_minor", Amount, nullable=False),
    Column("maker_fee_minor", Amount, nullable=False),
    Column("taker_fee_minor", Amount, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("ts_ns", BigInteger, nullable=False),
    Index("ix_trades_symbol_ts", "symbol", "ts_ns"),
    Index("ix_trades_symbol_id", "symbol", "trade_id"),
    Index("ix_trades_maker_user", "maker_user_id", "trade_id"),
    Index("ix_trades_taker_user", "taker_user_id", "trade_id"),
)

ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("seq", BigInteger, nullable=False),
    Column("index", Integer, nullable=False),
    Column("debit", String(64), nullable=False),
    Column("credit", String(64), nullable=False),
    Column("asset", String(16), nullable=False),
    Column("amount_minor", Amount, nullable=False),
    Column("reason", String(16), nullable=False),
    Column("reference", String(64), nullable=False),
    # the users behind ``debit``/``credit`` (NULL for fees and external), to page a
    # user's ledger through an index
    Column("debit_user_id", BigInteger, nullable=True),
    Column("credit_user_id", BigInteger, nullable=True),
    Column("ts_ns", BigInteger, nullable=False),
    PrimaryKeyConstraint("seq", "index", name="pk_ledger_entries"),
    Index("ix_ledger_debit_user", "debit_user_id", "seq"),
    Index("ix_ledger_credit_user", "credit_user_id", "seq"),
)

balances = Table(
    "balances",
    metadata,
    Column("user_id", BigInteger, nullable=False),
    Column("asset", String(16), nullable=False),
    Column("available_minor", Amount, nullable=False),
    Column("held_minor", Amount, nullable=False),
    Column("updated_seq", BigInteger, nullable=False),
    PrimaryKeyConstraint("user_id", "asset", name="pk_balances"),
)

system_balances = Table(
    "system_balances",
    metadata,
    Column("account", String(16), nullable=False),  # fees, external
    Column("asset", String(16), nullable=False),
    Column("balance_minor", Amount, nullable=False),
    Column("updated_seq", BigInteger, nullable=False),
    PrimaryKeyConstraint("account", "asset", name="pk_system_balances"),
)

wallet_addresses = Table(
    "wallet_addresses",
    metadata,
    Column("address", String(128), primary_key=True),
    Column("user_id", BigInteger, nullable=False),
    Column("asset", String(16), nullable=False),
    Column("created_seq", BigInteger, nullable=False),
    Column("created_ts_ns", BigInteger, nullable=False),
    UniqueConstraint("user_id", "asset", name="uq_wallet_addresses_user_asset"),
)

withdrawals = Table(
    "withdrawals",
    metadata,
    Column("withdrawal_id", ROW_ID, primary_key=True, autoincrement=False),
    Column("user_id", BigInteger, nullable=False),
    Column("asset", String(16), nullable=False),
    Column("amount_minor", Amount, nullable=False),
    Column("destination", String(200), nullable=False),
    Column("status", String(16), nullable=False),
    Column("reason", String(200), nullable=True),  # why it was rejected
    Column("requested_seq", BigInteger, nullable=False),
    Column("requested_ts_ns", BigInteger, nullable=False),
    Column("updated_seq", BigInteger, nullable=False),
    Column("updated_ts_ns", BigInteger, nullable=False),
    CheckConstraint(_in("status", WITHDRAWAL_STATUSES), name="ck_withdrawals_status"),
    Index("ix_withdrawals_user", "user_id", "withdrawal_id"),
    Index("ix_withdrawals_status", "status"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", ROW_ID, primary_key=True, autoincrement=False),
    Column("ts_ns", BigInteger, nullable=False),
    Column("user_id", BigInteger, nullable=True),
    Column("command_type", String(32), nullable=False),
    Column("command", Text, nullable=False),  # JSON object: {"type": ..., fields...}
    Column("result_code", Integer, nullable=False),  # 0 or the rejection code
    Column("event_count", Integer, nullable=False),
    Index("ix_audit_log_user", "user_id", "seq"),
)

projection_state = Table(
    "projection_state",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("last_seq", BigInteger, nullable=False),
    Column("last_ts_ns", BigInteger, nullable=False),
)

projection_dead_letters = Table(
    "projection_dead_letters",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False),  # the projection (projection_state.name)
    Column("first_seq", BigInteger, nullable=False),
    Column("last_seq", BigInteger, nullable=False),
    Column("error", Text, nullable=False),
    Column("command", Text, nullable=False),  # the first record's command, as in audit_log
    Column("recorded_ns", BigInteger, nullable=False),  # wall clock when it was skipped
)
"""Records the projector could not write and skipped (see ``Projector.follow``)."""


# -- P2P escrow trading ------------------------------------------------------------------
# Ads and trades are upserted rows with their latest state; transitions, chat lines
# (with a system line per transition), feedback and notifications are appended. Money is
# in minor units: the asset's for quantities and fees, the fiat's for prices and fiat
# amounts. Payment details are kept for the trade's parties; the API never shows them
# publicly.

P2P_TRADE_STATES = ("pending_payment", "paid", "disputed", "completed", "cancelled",
                    "expired", "resolved_release", "resolved_refund")
P2P_AD_STATES = ("open", "paused", "closed", "cancelled")

p2p_payment_methods = Table(
    "p2p_payment_methods",
    metadata,
    Column("method_id", BigInteger, primary_key=True, autoincrement=False),
    Column("user_id", BigInteger, nullable=False),
    Column("name", String(64), nullable=False),
    Column("details", Text, nullable=False),
    Column("removed", Boolean, nullable=False),
    Column("created_seq", BigInteger, nullable=False),
    Column("created_ts_ns", BigInteger, nullable=False),
    Column("updated_seq", BigInteger, nullable=False),
    Index("ix_p2p_payment_methods_user", "user_id", "method_id"),
)

p2p_ads = Table(
    "p2p_ads",
    metadata,
    Column("ad_id", BigInteger, primary_key=True, autoincrement=False),
    Column("maker_id", BigInteger, nullable=False),
    Column("side", String(4), nullable=False),
    Column("asset", String(16), nullable=False),
    Column("fiat", String(16), nullable=False),
    Column("price_minor", Amount, nullable=False),  # 0: a margin ad
    Column("price_margin_bps", Integer, nullable=False),
    Column("price_symbol", String(32), nullable=False),
    Column("qty_minor", Amount, nullable=False),
    Column("remaining_minor", Amount, nullable=False),
    Column("min_qty_minor", Amount, nullable=False),
    Column("max_qty_minor", Amount, nullable=False),
    Column("payment_method_ids", String(200), nullable=False),  # comma-separated
    Column("payment_window_s", Integer, nullable=False),
    Column("terms", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("created_seq", BigInteger, nullable=False),
    Column("created_ts_ns", BigInteger, nullable=False),
    Column("updated_seq", BigInteger, nullable=False),
    Column("updated_ts_ns", BigInteger, nullable=False),
    CheckConstraint(_in("state", P2P_AD_STATES), name="ck_p2p_ads_state"),
    Index("ix_p2p_ads_board", "state", "side", "asset", "fiat"),
    Index("ix_p2p_ads_maker", "maker_id", "ad_id"),
)

p2p_trades = Table(
    "p2p_trades",
    metadata,
    Column("trade_id", BigInteger, primary_key=True, autoincrement=False),
    Column("ad_id", BigInteger, nullable=False),
    Column("ad_side", String(4), nullable=False),
    Column("maker_id", BigInteger, nullable=False),
    Column("buyer_id", BigInteger, nullable=False),
    Column("seller_id", BigInteger, nullable=False),
    Column("asset", String(16), nullable=False),
    Column("fiat", String(16), nullable=False),
    Column("qty_minor", Amount, nullable=False),
    Column("price_minor", Amount, nullable=False),
    Column("fiat_amount_minor", Amount, nullable=False),
    Column("fee_minor", Amount, nullable=False),
    Column("payment_method_id", BigInteger, nullable=False),
    Column("payment_method_name", String(64), nullable=False),
    Column("payment_details", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("pay_by_ns", BigInteger, nullable=False),  # 0: not running
    Column("appeal_after_ns", BigInteger, nullable=False),
    Column("escalate_at_ns", BigInteger, nullable=False),
    Column("paid_ts_ns", BigInteger, nullable=True),  # when last marked paid
    Column("finished_ts_ns", BigInteger, nullable=True),  # when it reached a terminal state
    Column("dispute_opened_by", BigInteger, nullable=True),  # NULL: escalated, or none
    Column("dispute_reason", String(64), nullable=True),
    Column("dispute_text", Text, nullable=True),
    Column("dispute_opened_ts_ns", BigInteger, nullable=True),
    Column("proposed_outcome", String(8), nullable=True),
    Column("proposed_by", BigInteger, nullable=True),
    Column("resolution_note", Text, nullable=True),
    Column("created_seq", BigInteger, nullable=False),
    Column("created_ts_ns", BigInteger, nullable=False),
    Column("updated_seq", BigInteger, nullable=False),
    Column("updated_ts_ns", BigInteger, nullable=False),
    CheckConstraint(_in("state", P2P_TRADE_STATES), name="ck_p2p_trades_state"),
    Index("ix_p2p_trades_buyer", "buyer_id", "trade_id"),
    Index("ix_p2p_trades_seller", "seller_id", "trade_id"),
    Index("ix_p2p_trades_state", "state", "trade_id"),
    Index("ix_p2p_trades_ad", "ad_id", "trade_id"),
)

p2p_transitions = Table(
    "p2p_transitions",
    metadata,
    Column("seq", BigInteger, nullable=False),
    Column("event_index", Integer, nullable=False),
    Column("trade_id", BigInteger, nullable=False),
    Column("from_state", String(16), nullable=True),  # NULL: the take
    Column("to_state", String(16), nullable=False),
    Column("actor", String(8), nullable=False),  # buyer, seller, admin, system
    Column("actor_id", BigInteger, nullable=True),  # NULL: a deadline
    Column("reason", Text, nullable=False),
    Column("to_buyer_minor", Amount, nullable=False),
    Column("fee_minor", Amount, nullable=False),
    Column("to_seller_minor", Amount, nullable=False),
    Column("to_ad_minor", Amount, nullable=False),
    Column("ts_ns", BigInteger, nullable=False),
    PrimaryKeyConstraint("seq", "event_index", name="pk_p2p_transitions"),
    Index("ix_p2p_transitions_trade", "trade_id", "seq"),
)

p2p_messages = Table(
    "p2p_messages",
    metadata,
    Column("seq", BigInteger, nullable=False),
    Column("event_index", Integer, nullable=False),
    Column("trade_id", BigInteger, nullable=False),
    Column("message_id", BigInteger, nullable=True),  # NULL: a system line
    Column("user_id", BigInteger, nullable=True),
    Column("author", String(8), nullable=False),  # buyer, seller, admin, system
    Column("text", Text, nullable=False),
    Column("ts_ns", BigInteger, nullable=False),
    PrimaryKeyConstraint("seq", "event_index", name="pk_p2p_messages"),
    Index("ix_p2p_messages_trade", "trade_id", "seq"),
)

p2p_feedback = Table(
    "p2p_feedback",
    metadata,
    Column("trade_id", BigInteger, nullable=False),
    Column("from_user_id", BigInteger, nullable=False),
    Column("to_user_id", BigInteger, nullable=False),
    Column("positive", Boolean, nullable=False),
    Column("comment", Text, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("ts_ns", BigInteger, nullable=False),
    PrimaryKeyConstraint("trade_id", "from_user_id", name="pk_p2p_feedback"),
    Index("ix_p2p_feedback_to", "to_user_id", "seq"),
)

notifications = Table(
    "notifications",
    metadata,
    # seq * 1000 + the notification's place among its command's: the same id on every
    # rebuild, and known to the live WebSocket push before the row is written
    Column("notification_id", BigInteger, primary_key=True, autoincrement=False),
    Column("user_id", BigInteger, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("trade_id", BigInteger, nullable=True),
    Column("ad_id", BigInteger, nullable=True),
    Column("text", Text, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("ts_ns", BigInteger, nullable=False),
    Index("ix_notifications_user", "user_id", "notification_id"),
)

__all__ = [
    "CANCEL_REASONS",
    "CLOSED_STATUSES",
    "DEFAULT_PROJECTION",
    "OPEN_STATUSES",
    "ORDER_STATUSES",
    "ORDER_TYPES",
    "P2P_AD_STATES",
    "P2P_TRADE_STATES",
    "SIDES",
    "TIME_IN_FORCE",
    "WITHDRAWAL_STATUSES",
    "Amount",
    "audit_log",
    "balances",
    "ledger_entries",
    "metadata",
    "notifications",
    "order_events",
    "orders",
    "p2p_ads",
    "p2p_feedback",
    "p2p_messages",
    "p2p_payment_methods",
    "p2p_trades",
    "p2p_transitions",
    "projection_dead_letters",
    "projection_state",
    "system_balances",
    "trades",
    "wallet_addresses",
    "withdrawals",
]
