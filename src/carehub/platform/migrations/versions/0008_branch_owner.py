"""branch owner: the environment whose records a published branch holds; added environments get a convention

Also: API token scopes (``api_tokens.scope``: 'roster', the default for every token made before, or 'admin').

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scope", sa.String(length=16), server_default="roster", nullable=False))
    with op.batch_alter_table("published_branches", schema=None) as batch_op:
        batch_op.add_column(sa.Column("environment_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_published_branches_environment_id_environments"),
            "environments",
            ["environment_id"],
            ["id"],
        )
    # A branch published before belongs to the environment whose records it holds (the first, should two
    # environments' records already share one: publishing then refuses the other's from the next run).
    op.execute(
        """
        UPDATE published_branches SET environment_id = (
            SELECT MIN(held.environment_id) FROM (
                SELECT environment_id, branch_id FROM published_clients
                UNION ALL
                SELECT environment_id, branch_id FROM published_workers
            ) AS held
            WHERE held.branch_id = published_branches.id
        )
        """
    )
    # Added environments created without a naming convention get the default one, so their prefix applies.
    op.execute(
        """
        UPDATE environments
        SET branch_format = '{prefix} - {branch}',
            username_format = COALESCE(username_format, '{prefix}.{username}'),
            visit_id_format = COALESCE(visit_id_format, '{prefix}-{id}')
        WHERE is_primary = false AND prefix IS NOT NULL AND branch_format IS NULL
        """
    )


def downgrade() -> None:
    with op.batch_alter_table("published_branches", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_published_branches_environment_id_environments"), type_="foreignkey")
        batch_op.drop_column("environment_id")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("scope")
