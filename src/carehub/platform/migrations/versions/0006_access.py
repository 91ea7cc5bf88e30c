"""access: users' branch grants

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import carehub.platform.db

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "user_branch_grants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("branch_id", BigId, nullable=False),
        sa.Column("environment_id", sa.Integer(), nullable=False),
        sa.Column("granted_by", sa.String(length=200), nullable=False),
        sa.Column("granted_at", carehub.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_user_branch_grants_user_id_users")),
        sa.ForeignKeyConstraint(
            ["environment_id"], ["environments.id"], name=op.f("fk_user_branch_grants_environment_id_environments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_branch_grants")),
        sa.UniqueConstraint("user_id", "branch_id", name=op.f("uq_user_branch_grants_user_id_branch_id")),
    )
    op.create_index(op.f("ix_user_branch_grants_user_id"), "user_branch_grants", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_user_branch_grants_user_id"), table_name="user_branch_grants")
    op.drop_table("user_branch_grants")
