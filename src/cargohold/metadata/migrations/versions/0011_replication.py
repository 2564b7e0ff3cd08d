"""Replication: remote registries that every push of a package or workspace is copied to.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "replications",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("package", sa.String(length=255), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("username", sa.String(length=320), nullable=True),
        sa.Column("password", sa.Text(), nullable=True),
        sa.Column("prefix", sa.String(length=255), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("since_event", sa.BigInteger(), nullable=False),
        sa.Column("retry_at", sa.Double(), nullable=True),
        sa.Column("last_success_at", sa.Double(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", sa.Double(), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("created_by", sa.String(length=320), nullable=True),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.Column("lease_holder", sa.String(length=200), nullable=True),
        sa.Column("lease_until", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_replications_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_replications")),
    )
    op.create_index("ix_replications_workspace", "replications", ["workspace_id"], unique=False)
    op.create_table(
        "replication_jobs",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("replication_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("package", sa.String(length=255), nullable=False),
        sa.Column("tag", sa.String(length=128), nullable=True),
        sa.Column("digest", sa.String(length=150), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("next_attempt_at", sa.Double(), nullable=True),
        sa.Column("last_attempt_at", sa.Double(), nullable=True),
        sa.Column("finished_at", sa.Double(), nullable=True),
        sa.Column("copied", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["replication_id"],
            ["replications.id"],
            name=op.f("fk_replication_jobs_replication_id_replications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_replication_jobs")),
        sa.UniqueConstraint(
            "replication_id", "event_id", name=op.f("uq_replication_jobs_replication_id")
        ),
    )
    op.create_index(
        "ix_replication_jobs_due", "replication_jobs", ["state", "next_attempt_at"], unique=False
    )
    op.create_index(
        "ix_replication_jobs_replication",
        "replication_jobs",
        ["replication_id", "id"],
        unique=False,
    )
    op.create_table(
        "replication_cursors",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_replication_cursors")),
    )


def downgrade() -> None:
    op.drop_table("replication_cursors")
    op.drop_index("ix_replication_jobs_replication", table_name="replication_jobs")
    op.drop_index("ix_replication_jobs_due", table_name="replication_jobs")
    op.drop_table("replication_jobs")
    op.drop_index("ix_replications_workspace", table_name="replications")
    op.drop_table("replications")
