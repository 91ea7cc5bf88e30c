"""forms: tenant forms, versions, services and branch associations

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import carehub.platform.db

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _time(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, carehub.platform.db.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "forms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=60), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        _time("created_at"),
        _time("updated_at"),
        _time("archived_at", nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_forms_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_forms")),
        sa.UniqueConstraint("tenant_id", "key", name=op.f("uq_forms_tenant_id_key")),
    )
    op.create_index(op.f("ix_forms_tenant_id"), "forms", ["tenant_id"], unique=False)
    op.create_table(
        "form_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("form_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        _time("created_at"),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["form_id"], ["forms.id"], name=op.f("fk_form_versions_form_id_forms")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_form_versions")),
        sa.UniqueConstraint("form_id", "version", name=op.f("uq_form_versions_form_id_version")),
    )
    op.create_table(
        "services",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("dedicated_branch_id", BigId, nullable=True),
        _time("created_at"),
        _time("updated_at"),
        _time("archived_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["dedicated_branch_id"], ["branches.id"], name=op.f("fk_services_dedicated_branch_id_branches")
        ),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_services_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_services")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_services_tenant_id_name")),
    )
    op.create_index(op.f("ix_services_tenant_id"), "services", ["tenant_id"], unique=False)
    op.create_table(
        "service_forms",
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("form_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["form_id"], ["forms.id"], name=op.f("fk_service_forms_form_id_forms")),
        sa.ForeignKeyConstraint(["service_id"], ["services.id"], name=op.f("fk_service_forms_service_id_services")),
        sa.PrimaryKeyConstraint("service_id", "form_id", name=op.f("pk_service_forms")),
    )
    op.create_index(op.f("ix_service_forms_form_id"), "service_forms", ["form_id"], unique=False)
    op.create_table(
        "service_branches",
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("branch_id", BigId, nullable=False),
        sa.ForeignKeyConstraint(["branch_id"], ["branches.id"], name=op.f("fk_service_branches_branch_id_branches")),
        sa.ForeignKeyConstraint(["service_id"], ["services.id"], name=op.f("fk_service_branches_service_id_services")),
        sa.PrimaryKeyConstraint("service_id", "branch_id", name=op.f("pk_service_branches")),
    )
    op.create_index(op.f("ix_service_branches_branch_id"), "service_branches", ["branch_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_service_branches_branch_id"), table_name="service_branches")
    op.drop_table("service_branches")
    op.drop_index(op.f("ix_service_forms_form_id"), table_name="service_forms")
    op.drop_table("service_forms")
    op.drop_index(op.f("ix_services_tenant_id"), table_name="services")
    op.drop_table("services")
    op.drop_table("form_versions")
    op.drop_index(op.f("ix_forms_tenant_id"), table_name="forms")
    op.drop_table("forms")
