"""content binding: which repo holds which LFS / Xet object

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # No schema change: the binding lives in existing tables. A repo holds an object when `lfs_objects` has a
    # (repo_id, sha256) row (LFS PUT with the repo's ticket, or a Xet shard uploaded with a write token of the
    # repo) or `commit_files` has an LFS entry with that sha256 (indexed by ix_commit_files_sha256).
    pass


def downgrade() -> None:
    pass
