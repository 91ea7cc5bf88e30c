"""delivery: webhook subscriptions, deliveries, attempts, the fan-out cursor and periodic job runs

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import carehub.platform.db

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Time = carehub.platform.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "delivery_fanout",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("last_event_id", sa.BigInteger(), nullable=False),
        sa.Column("gaps", sa.JSON(), nullable=False),
        sa.Column("updated_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_delivery_fanout")),
    )
    op.create_table(
        "job_runs",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("last_started_at", Time, nullable=True),
        sa.Column("last_finished_at", Time, nullable=True),
        sa.Column("last_result", sa.Text(), nullable=True),
        sa.Column("last_ok", sa.Boolean(), nullable=True),
        sa.Column("locked_by", sa.String(length=100), nullable=True),
        sa.Column("locked_until", Time, nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_job_runs")),
    )
    op.create_table(
        "webhook_subscriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("secret", sa.String(length=200), nullable=False),
        sa.Column("topics", sa.JSON(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("updated_at", Time, nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_webhook_subscriptions_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_subscriptions")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_webhook_subscriptions_tenant_id_name")),
    )
    op.create_index(op.f("ix_webhook_subscriptions_tenant_id"), "webhook_subscriptions", ["tenant_id"], unique=False)
    op.create_table(
        "deliveries",
        sa.Column("id", BigId, nullable=False),
        sa.Column("subscription_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("topic", sa.String(length=80), nullable=False),
        sa.Column("entity", sa.String(length=40), nullable=False),
        sa.Column("entity_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("head", sa.Boolean(), nullable=False),
        sa.Column("next_attempt_at", Time, nullable=False),
        sa.Column("locked_by", sa.String(length=100), nullable=True),
        sa.Column("locked_until", Time, nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("updated_at", Time, nullable=False),
        sa.Column("delivered_at", Time, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deliveries")),
        sa.UniqueConstraint("subscription_id", "event_id", name=op.f("uq_deliveries_subscription_id_event_id")),
        postgresql_with={"fillfactor": 85},
    )
    op.create_index(
        "ix_deliveries_due",
        "deliveries",
        ["subscription_id", "next_attempt_at"],
        unique=False,
        postgresql_where=sa.text("status = 'pending' AND head = true"),
        sqlite_where=sa.text("status = 'pending' AND head = true"),
    )
    op.create_index(
        "ix_deliveries_pending_record",
        "deliveries",
        ["subscription_id", "entity", "entity_id", "event_id"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
        sqlite_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_deliveries_dead",
        "deliveries",
        ["subscription_id", "id"],
        unique=False,
        postgresql_where=sa.text("status = 'dead'"),
        sqlite_where=sa.text("status = 'dead'"),
    )
    op.create_table(
        "delivery_attempts",
        sa.Column("id", BigId, nullable=False),
        sa.Column("delivery_id", sa.BigInteger(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("started_at", Time, nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("worker", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_attempts")),
    )
    op.create_index("ix_delivery_attempts_delivery", "delivery_attempts", ["delivery_id", "number"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_delivery_attempts_delivery", table_name="delivery_attempts")
    op.drop_table("delivery_attempts")
    op.drop_index("ix_deliveries_dead", table_name="deliveries")
    op.drop_index("ix_deliveries_pending_record", table_name="deliveries")
    op.drop_index("ix_deliveries_due", table_name="deliveries")
    op.drop_table("deliveries")
    op.drop_index(op.f("ix_webhook_subscriptions_tenant_id"), table_name="webhook_subscriptions")
    op.drop_table("webhook_subscriptions")
    op.drop_table("job_runs")
    op.drop_table("delivery_fanout")
