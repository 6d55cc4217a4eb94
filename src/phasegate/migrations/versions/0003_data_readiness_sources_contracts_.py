"""data readiness: sources, contracts, snapshots, audits, gaps, lineage, jobs

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 02:18:36.581026
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "data_contracts",
        sa.Column("id", sa.String(length=80), nullable=False),
        sa.Column("source_id", sa.String(length=80), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("data_contracts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_data_contracts_source_id"), ["source_id"], unique=False)

    op.create_table(
        "data_jobs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("source_id", sa.String(length=80), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("stage", sa.Text(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("result_id", sa.String(length=40), nullable=True),
        sa.Column("error", sa.JSON(), nullable=True),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "data_sources",
        sa.Column("id", sa.String(length=80), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("owner", sa.Text(), nullable=True),
        sa.Column("classification", sa.String(length=20), nullable=True),
        sa.Column("location", sa.Text(), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "lineage_edges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("upstream", sa.String(length=200), nullable=False),
        sa.Column("downstream", sa.String(length=200), nullable=False),
        sa.Column("transformation", sa.Text(), nullable=False),
        sa.Column("recorded_by", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("upstream", "downstream", "transformation", name="uq_lineage_edge"),
    )
    with op.batch_alter_table("lineage_edges", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_lineage_edges_downstream"), ["downstream"], unique=False)
        batch_op.create_index(batch_op.f("ix_lineage_edges_upstream"), ["upstream"], unique=False)

    op.create_table(
        "data_audits",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("source_id", sa.String(length=80), nullable=False),
        sa.Column("engine", sa.String(length=20), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("report_html", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["source_id"], ["data_sources.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("data_audits", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_data_audits_source_id"), ["source_id"], unique=False)

    op.create_table(
        "data_gaps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.String(length=80), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("severity", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("owner", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("first_audit", sa.String(length=40), nullable=False),
        sa.Column("last_audit", sa.String(length=40), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["source_id"], ["data_sources.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source_id", "key", name="uq_gap_key"),
    )
    with op.batch_alter_table("data_gaps", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_data_gaps_source_id"), ["source_id"], unique=False)

    op.create_table(
        "profile_snapshots",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("source_id", sa.String(length=80), nullable=False),
        sa.Column("label", sa.String(length=80), nullable=False),
        sa.Column("engine", sa.String(length=20), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=80), nullable=False),
        sa.Column("profile", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["source_id"], ["data_sources.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("profile_snapshots", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_profile_snapshots_source_id"), ["source_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("profile_snapshots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_profile_snapshots_source_id"))

    op.drop_table("profile_snapshots")
    with op.batch_alter_table("data_gaps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_data_gaps_source_id"))

    op.drop_table("data_gaps")
    with op.batch_alter_table("data_audits", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_data_audits_source_id"))

    op.drop_table("data_audits")
    with op.batch_alter_table("lineage_edges", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lineage_edges_upstream"))
        batch_op.drop_index(batch_op.f("ix_lineage_edges_downstream"))

    op.drop_table("lineage_edges")
    op.drop_table("data_sources")
    op.drop_table("data_jobs")
    with op.batch_alter_table("data_contracts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_data_contracts_source_id"))

    op.drop_table("data_contracts")
