"""Record who opened each upload session, so that one principal's open sessions can be
counted and capped.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("uploads", schema=None) as batch_op:
        batch_op.add_column(sa.Column("opened_by", sa.String(length=100), nullable=True))
        batch_op.create_index("ix_uploads_opened_by", ["opened_by", "updated_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("uploads", schema=None) as batch_op:
        batch_op.drop_index("ix_uploads_opened_by")
        batch_op.drop_column("opened_by")
