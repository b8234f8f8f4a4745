"""Tables of the API's own state: users, refresh tokens and API keys.

They live in the same database as the read model and are created by the same Alembic
migrations; unlike the read model they are not derived from the journal (a user's
email and password hash are not exchange state), so ``db rebuild`` leaves them alone.
"""

from __future__ import annotations

import sqlalchemy as sa

users_metadata = sa.MetaData()

users = sa.Table(
    "users", users_metadata,
    sa.Column("user_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("email", sa.String(254), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(200), nullable=False),
    sa.Column("role", sa.String(16), nullable=False, server_default="user"),
    sa.Column("created_ns", sa.BigInteger, nullable=False),
)

refresh_tokens = sa.Table(
    "refresh_tokens", users_metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.Integer, nullable=False, index=True),
    sa.Column("family", sa.String(32), nullable=False, index=True),
    sa.Column("expires_ns", sa.BigInteger, nullable=False),
    sa.Column("revoked", sa.Boolean, nullable=False),
    sa.Column("created_ns", sa.BigInteger, nullable=False),
)

api_keys = sa.Table(
    "api_keys", users_metadata,
    sa.Column("key_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.Integer, nullable=False, index=True),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("scopes", sa.String(64), nullable=False),
    sa.Column("label", sa.String(100), nullable=False),
    sa.Column("created_ns", sa.BigInteger, nullable=False),
    sa.Column("revoked", sa.Boolean, nullable=False),
)

notification_reads = sa.Table(
    "notification_reads", users_metadata,
    sa.Column("user_id", sa.BigInteger, nullable=False),
    sa.Column("notification_id", sa.BigInteger, nullable=False),
    sa.PrimaryKeyConstraint("user_id", "notification_id", name="pk_notification_reads"),
)
"""Notifications a user marked read one by one (the read model's ids are stable)."""

notification_marks = sa.Table(
    "notification_marks", users_metadata,
    sa.Column("user_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("read_up_to", sa.BigInteger, nullable=False),
)
"""Per user: every notification up to this id is read."""
