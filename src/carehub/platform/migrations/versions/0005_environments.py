"""environments: naming convention, pause, connection history

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import carehub.platform.db

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _time(name: str) -> sa.Column[object]:
    return sa.Column(name, carehub.platform.db.UTCDateTime(timezone=True), nullable=True)


def upgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(_time("superseded_at"))
        batch.add_column(sa.Column("superseded_by_environment_id", sa.Integer(), nullable=True))
    with op.batch_alter_table("environments") as batch:
        batch.add_column(sa.Column("branch_format", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("username_format", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("visit_id_format", sa.String(length=100), nullable=True))
        batch.add_column(_time("connected_at"))
        batch.add_column(_time("paused_at"))
        batch.add_column(sa.Column("source_tenant_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_environments_source_tenant_id_tenants"), "tenants", ["source_tenant_id"], ["id"]
        )
    op.create_table(
        "environment_logins",
        sa.Column("id", BigId, nullable=False),
        sa.Column("environment_id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("worker_id", BigId, nullable=False),
        sa.Column("worker_external_id", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=201), nullable=False),
        sa.Column("old_username", sa.String(length=60), nullable=False),
        sa.Column("new_username", sa.String(length=60), nullable=False),
        sa.Column("branch", sa.String(length=200), nullable=False),
        sa.Column("created_at", carehub.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["environment_id"], ["environments.id"], name=op.f("fk_environment_logins_environment_id_environments")
        ),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_environment_logins_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_environment_logins")),
        sa.UniqueConstraint("environment_id", "worker_id", name=op.f("uq_environment_logins_environment_id_worker_id")),
        sa.UniqueConstraint("tenant_id", "new_username", name=op.f("uq_environment_logins_tenant_id_new_username")),
    )


def downgrade() -> None:
    op.drop_table("environment_logins")
    with op.batch_alter_table("environments") as batch:
        batch.drop_constraint(op.f("fk_environments_source_tenant_id_tenants"), type_="foreignkey")
        for name in ("source_tenant_id", "paused_at", "connected_at", "visit_id_format", "username_format"):
            batch.drop_column(name)
        batch.drop_column("branch_format")
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("superseded_by_environment_id")
        batch.drop_column("superseded_at")
