"""mobile sync: linked devices, one-time link codes, recorded syncs

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import carehub.platform.db

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "mobile_devices",
        sa.Column("id", BigId, nullable=False),
        sa.Column("environment_id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("worker_id", BigId, nullable=False),
        sa.Column("username", sa.String(length=60), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("display_prefix", sa.String(length=16), nullable=False),
        sa.Column("linked_at", carehub.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_sync_at", carehub.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_cursor", sa.BigInteger(), nullable=True),
        sa.Column("revoked_at", carehub.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["environment_id"], ["environments.id"], name=op.f("fk_mobile_devices_environment_id_environments")
        ),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_mobile_devices_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mobile_devices")),
    )
    op.create_index(
        "ix_mobile_devices_environment_worker", "mobile_devices", ["environment_id", "worker_id"], unique=False
    )
    op.create_index("ix_mobile_devices_token_hash", "mobile_devices", ["token_hash"], unique=True)
    op.create_table(
        "mobile_device_syncs",
        sa.Column("id", BigId, nullable=False),
        sa.Column("device_id", BigId, nullable=False),
        sa.Column("at", carehub.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("cursor_from", sa.BigInteger(), nullable=True),
        sa.Column("cursor_to", sa.BigInteger(), nullable=False),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"], ["mobile_devices.id"], name=op.f("fk_mobile_device_syncs_device_id_mobile_devices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mobile_device_syncs")),
    )
    op.create_index("ix_mobile_device_syncs_device_at", "mobile_device_syncs", ["device_id", "at"], unique=False)
    op.create_table(
        "mobile_link_codes",
        sa.Column("id", BigId, nullable=False),
        sa.Column("environment_id", sa.Integer(), nullable=False),
        sa.Column("worker_id", BigId, nullable=False),
        sa.Column("username_key", sa.String(length=60), nullable=False),
        sa.Column("code_salt", sa.String(length=32), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", carehub.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", carehub.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("locked_at", carehub.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", carehub.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("used_at", carehub.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("device_id", BigId, nullable=True),
        sa.ForeignKeyConstraint(
            ["device_id"], ["mobile_devices.id"], name=op.f("fk_mobile_link_codes_device_id_mobile_devices")
        ),
        sa.ForeignKeyConstraint(
            ["environment_id"], ["environments.id"], name=op.f("fk_mobile_link_codes_environment_id_environments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mobile_link_codes")),
    )
    op.create_index(
        "ix_mobile_link_codes_environment_worker", "mobile_link_codes", ["environment_id", "worker_id"], unique=False
    )
    op.create_index("ix_mobile_link_codes_username_key", "mobile_link_codes", ["username_key"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_mobile_link_codes_username_key", table_name="mobile_link_codes")
    op.drop_index("ix_mobile_link_codes_environment_worker", table_name="mobile_link_codes")
    op.drop_table("mobile_link_codes")
    op.drop_index("ix_mobile_device_syncs_device_at", table_name="mobile_device_syncs")
    op.drop_table("mobile_device_syncs")
    op.drop_index("ix_mobile_devices_token_hash", table_name="mobile_devices")
    op.drop_index("ix_mobile_devices_environment_worker", table_name="mobile_devices")
    op.drop_table("mobile_devices")
