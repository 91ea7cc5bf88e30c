"""publishing: configuration, runs and the published copy

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import carehub.platform.db

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "published_branches",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", carehub.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_published_branches_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_published_branches")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_published_branches_tenant_id_name")),
    )
    op.create_table(
        "monitored_contracts",
        sa.Column("environment_id", sa.Integer(), nullable=False),
        sa.Column("contract_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("ticked_by", sa.String(length=200), nullable=False),
        sa.Column("ticked_at", carehub.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["environment_id"], ["environments.id"], name=op.f("fk_monitored_contracts_environment_id_environments")
        ),
        sa.PrimaryKeyConstraint("environment_id", "contract_id", name=op.f("pk_monitored_contracts")),
    )
    op.create_table(
        "publish_runs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("environment_id", sa.Integer(), nullable=False),
        sa.Column("trigger", sa.String(length=20), nullable=False),
        sa.Column("started_at", carehub.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", carehub.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("changes", sa.Integer(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["environment_id"], ["environments.id"], name=op.f("fk_publish_runs_environment_id_environments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_publish_runs")),
    )
    op.create_index(
        "ix_publish_runs_environment_started", "publish_runs", ["environment_id", "started_at"], unique=False
    )
    op.create_table(
        "publish_schedules",
        sa.Column("environment_id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("publish_until", sa.Date(), nullable=False),
        sa.Column("window_end_at", carehub.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("set_by", sa.String(length=200), nullable=False),
        sa.Column("set_at", carehub.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["environment_id"], ["environments.id"], name=op.f("fk_publish_schedules_environment_id_environments")
        ),
        sa.PrimaryKeyConstraint("environment_id", "group_id", name=op.f("pk_publish_schedules")),
    )
    op.create_table(
        "publish_settings",
        sa.Column("environment_id", sa.Integer(), nullable=False),
        sa.Column("default_days_ahead", sa.Integer(), nullable=False),
        sa.Column("reconcile_every_minutes", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("last_export_at", carehub.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_reconcile_at", carehub.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["environment_id"], ["environments.id"], name=op.f("fk_publish_settings_environment_id_environments")
        ),
        sa.PrimaryKeyConstraint("environment_id", name=op.f("pk_publish_settings")),
    )
    op.create_table(
        "published_care_plans",
        sa.Column("plan_visit_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("contract_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("visit_type_code", sa.String(length=40), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("days", sa.String(length=40), nullable=False),
        sa.Column("start_time", sa.String(length=5), nullable=False),
        sa.Column("duration_minutes", sa.Integer(), nullable=False),
        sa.Column("carers_needed", sa.Integer(), nullable=False),
        sa.Column("ended_at", carehub.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("content", sa.Text(), nullable=True),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("environment_id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("first_published_at", carehub.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", carehub.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["environment_id"], ["environments.id"], name=op.f("fk_published_care_plans_environment_id_environments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_published_care_plans")),
        sa.UniqueConstraint("plan_visit_id", "revision", name=op.f("uq_published_care_plans_plan_visit_id_revision")),
    )
    op.create_index("ix_published_care_plans_client", "published_care_plans", ["client_id"], unique=False)
    op.create_index(
        "ix_published_care_plans_environment_seq", "published_care_plans", ["environment_id", "seq"], unique=False
    )
    op.create_table(
        "published_clients",
        sa.Column("client_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("first_name", sa.String(length=100), nullable=False),
        sa.Column("last_name", sa.String(length=100), nullable=False),
        sa.Column("branch_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("address", sa.String(length=400), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("environment_id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("first_published_at", carehub.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", carehub.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["published_branches.id"], name=op.f("fk_published_clients_branch_id_published_branches")
        ),
        sa.ForeignKeyConstraint(
            ["environment_id"], ["environments.id"], name=op.f("fk_published_clients_environment_id_environments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_published_clients")),
        sa.UniqueConstraint("client_id", name=op.f("uq_published_clients_client_id")),
    )
    op.create_index(
        "ix_published_clients_environment_seq", "published_clients", ["environment_id", "seq"], unique=False
    )
    op.create_table(
        "published_visit_workers",
        sa.Column("visit_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("worker_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("environment_id", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["environment_id"], ["environments.id"], name=op.f("fk_published_visit_workers_environment_id_environments")
        ),
        sa.PrimaryKeyConstraint("visit_id", "worker_id", name=op.f("pk_published_visit_workers")),
    )
    op.create_index(
        "ix_published_visit_workers_worker_seq", "published_visit_workers", ["worker_id", "seq"], unique=False
    )
    op.create_table(
        "published_visits",
        sa.Column("visit_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("client_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("plan_visit_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("contract_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("start_at", carehub.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("end_at", carehub.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("workers", sa.String(length=400), nullable=False),
        sa.Column("cancelled_at", carehub.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("environment_id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("first_published_at", carehub.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", carehub.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["environment_id"], ["environments.id"], name=op.f("fk_published_visits_environment_id_environments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_published_visits")),
        sa.UniqueConstraint("visit_id", name=op.f("uq_published_visits_visit_id")),
    )
    op.create_index("ix_published_visits_client", "published_visits", ["client_id"], unique=False)
    op.create_index("ix_published_visits_environment_seq", "published_visits", ["environment_id", "seq"], unique=False)
    op.create_index("ix_published_visits_plan_visit", "published_visits", ["plan_visit_id"], unique=False)
    op.create_table(
        "published_workers",
        sa.Column("worker_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=60), nullable=False),
        sa.Column("first_name", sa.String(length=100), nullable=False),
        sa.Column("last_name", sa.String(length=100), nullable=False),
        sa.Column("branch_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("email", sa.String(length=200), nullable=True),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("environment_id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("first_published_at", carehub.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", carehub.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["published_branches.id"], name=op.f("fk_published_workers_branch_id_published_branches")
        ),
        sa.ForeignKeyConstraint(
            ["environment_id"], ["environments.id"], name=op.f("fk_published_workers_environment_id_environments")
        ),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_published_workers_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_published_workers")),
        sa.UniqueConstraint("tenant_id", "username", name=op.f("uq_published_workers_tenant_id_username")),
        sa.UniqueConstraint("worker_id", name=op.f("uq_published_workers_worker_id")),
    )
    op.create_index(
        "ix_published_workers_environment_seq", "published_workers", ["environment_id", "seq"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_published_workers_environment_seq", table_name="published_workers")
    op.drop_table("published_workers")
    op.drop_index("ix_published_visits_plan_visit", table_name="published_visits")
    op.drop_index("ix_published_visits_environment_seq", table_name="published_visits")
    op.drop_index("ix_published_visits_client", table_name="published_visits")
    op.drop_table("published_visits")
    op.drop_index("ix_published_visit_workers_worker_seq", table_name="published_visit_workers")
    op.drop_table("published_visit_workers")
    op.drop_index("ix_published_clients_environment_seq", table_name="published_clients")
    op.drop_table("published_clients")
    op.drop_index("ix_published_care_plans_environment_seq", table_name="published_care_plans")
    op.drop_index("ix_published_care_plans_client", table_name="published_care_plans")
    op.drop_table("published_care_plans")
    op.drop_table("publish_settings")
    op.drop_table("publish_schedules")
    op.drop_index("ix_publish_runs_environment_started", table_name="publish_runs")
    op.drop_table("publish_runs")
    op.drop_table("monitored_contracts")
    op.drop_table("published_branches")
