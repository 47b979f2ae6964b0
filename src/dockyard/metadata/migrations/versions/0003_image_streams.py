"""Image stream fields on repositories: uid, generation, resourceVersion, labels, spec.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("repositories", schema=None) as batch_op:
        batch_op.add_column(sa.Column("uid", sa.String(length=36), nullable=True))
        batch_op.add_column(
            sa.Column("generation", sa.BigInteger(), server_default="1", nullable=False)
        )
        batch_op.add_column(
            sa.Column("resource_version", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("labels", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("annotations", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("spec", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("repositories", schema=None) as batch_op:
        for column in ("spec", "annotations", "labels", "resource_version", "generation", "uid"):
            batch_op.drop_column(column)
