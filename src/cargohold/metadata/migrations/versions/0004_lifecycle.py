"""Lifecycle: retention policies, tag protection, quotas, and what garbage collection needs
(tombstones, leases, the runs it made, which manifests are children, links by digest).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("manifests", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("is_child", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.add_column(sa.Column("quota_bytes", sa.BigInteger(), nullable=True))
    op.execute(
        "UPDATE manifests SET is_child = "
        + sa.true().compile(dialect=op.get_bind().dialect).string
        + " WHERE EXISTS (SELECT 1 FROM manifest_references r JOIN manifests i"
        " ON i.id = r.manifest_id WHERE r.kind = 'manifest' AND r.digest = manifests.digest"
        " AND i.package_id = manifests.package_id)"
    )
    op.create_index("ix_package_blobs_digest", "package_blobs", ["digest"], unique=False)
    op.create_table(
        "retention_policies",
        sa.Column("package_id", sa.Integer(), nullable=False),
        sa.Column("keep_newest", sa.Integer(), nullable=True),
        sa.Column("keep_pattern", sa.String(length=500), nullable=True),
        sa.Column("untagged_days", sa.Integer(), nullable=True),
        sa.Column("tag_days", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.Column("updated_by", sa.String(length=320), nullable=True),
        sa.ForeignKeyConstraint(
            ["package_id"],
            ["packages.id"],
            name=op.f("fk_retention_policies_package_id_packages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("package_id", name=op.f("pk_retention_policies")),
    )
    op.create_table(
        "tag_protections",
        sa.Column("package_id", sa.Integer(), nullable=False),
        sa.Column("pattern", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("created_by", sa.String(length=320), nullable=True),
        sa.ForeignKeyConstraint(
            ["package_id"],
            ["packages.id"],
            name=op.f("fk_tag_protections_package_id_packages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("package_id", "pattern", name=op.f("pk_tag_protections")),
    )
    op.create_table(
        "blob_tombstones",
        sa.Column("digest", sa.String(length=150), nullable=False),
        sa.Column("since", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_blob_tombstones")),
    )
    op.create_table(
        "gc_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("started_at", sa.Double(), nullable=False),
        sa.Column("finished_at", sa.Double(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("report", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gc_runs")),
    )
    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_leases")),
    )


def downgrade() -> None:
    op.drop_table("leases")
    op.drop_table("gc_runs")
    op.drop_table("blob_tombstones")
    op.drop_table("tag_protections")
    op.drop_table("retention_policies")
    op.drop_index("ix_package_blobs_digest", table_name="package_blobs")
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.drop_column("quota_bytes")
    with op.batch_alter_table("manifests", schema=None) as batch_op:
        batch_op.drop_column("is_child")
