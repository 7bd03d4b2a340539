"""Every table, declared once. The owning hub module is noted per table; only it issues SQL against it."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# owner: hub.accounts
accounts = Table(
    "accounts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(96), nullable=False),
    Column("name_lower", String(96), nullable=False, unique=True),
    Column("fullname", String(200), nullable=False, default=""),
    Column("kind", String(8), nullable=False),  # "user" | "org"
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# owner: hub.accounts
memberships = Table(
    "memberships",
    metadata,
    Column("org_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("role", String(16), nullable=False, default="write"),
)

# owner: hub.accounts
tokens = Table(
    "tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("role", String(8), nullable=False),  # "read" | "write"
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# owner: hub.repos
repos = Table(
    "repos",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("type", String(8), nullable=False),
    Column("namespace", String(96), nullable=False),
    Column("name", String(96), nullable=False),
    Column("key_lower", String(210), nullable=False, unique=True),  # "<type>/<ns>/<name>" lower-cased
    Column("owner_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("private", Boolean, nullable=False, default=False),
    Column("gated", String(8), nullable=True),
    Column("sdk", String(16), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_modified", DateTime(timezone=True), nullable=False),
    Column("downloads", BigInteger, nullable=False, default=0),
    Column("likes", Integer, nullable=False, default=0),
    Column("card_data", Text, nullable=True),  # JSON of README front matter at the main head
    Column("tags", Text, nullable=True),  # JSON list derived from the card
    Column("pipeline_tag", String(64), nullable=True),
    Column("library_name", String(64), nullable=True),
    Column("head_sha", String(40), nullable=True),
    Column("used_storage", BigInteger, nullable=False, default=0),
)

# owner: hub.repos
repo_redirects = Table(
    "repo_redirects",
    metadata,
    Column("key_lower", String(210), primary_key=True),
    Column("repo_id", Integer, ForeignKey("repos.id", ondelete="CASCADE"), nullable=False),
)

# owner: hub.revisions
commits = Table(
    "commits",
    metadata,
    Column("repo_id", Integer, ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True),
    Column("sha", String(40), primary_key=True),
    Column("parent_sha", String(40), nullable=True),
    Column("tree_sha", String(40), nullable=False),
    Column("author", String(96), nullable=False),
    Column("title", Text, nullable=False),
    Column("message", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# owner: hub.revisions — the full manifest of each commit (one row per file)
commit_files = Table(
    "commit_files",
    metadata,
    Column("repo_id", Integer, primary_key=True),
    Column("commit_sha", String(40), primary_key=True),
    Column("path", String(1024), primary_key=True),
    Column("oid", String(40), nullable=False),  # git blob sha1 (of the content, or of the LFS pointer)
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("lfs", Boolean, nullable=False),
    Column("last_commit_sha", String(40), nullable=False),
)

# owner: hub.revisions
refs = Table(
    "refs",
    metadata,
    Column("repo_id", Integer, ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True),
    Column("kind", String(8), primary_key=True),  # "branch" | "tag" | "pr"
    Column("name", String(256), primary_key=True),
    Column("commit_sha", String(40), nullable=False),
    Column("message", Text, nullable=True),
)

# owner: hub.files — LFS objects uploaded to (or committed in) a repo
lfs_objects = Table(
    "lfs_objects",
    metadata,
    Column("repo_id", Integer, ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True),
    Column("sha256", String(64), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("pushed_at", DateTime(timezone=True), nullable=False),
)

# owner: hub.discussions
discussions = Table(
    "discussions",
    metadata,
    Column("repo_id", Integer, ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True),
    Column("num", Integer, primary_key=True),
    Column("title", Text, nullable=False),
    Column("author", String(96), nullable=False),
    Column("is_pr", Boolean, nullable=False),
    Column("status", String(10), nullable=False),
    Column("base_ref", String(256), nullable=True),
    Column("merge_commit", String(40), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# owner: hub.discussions
discussion_events = Table(
    "discussion_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("repo_id", Integer, nullable=False),
    Column("num", Integer, nullable=False),
    Column("type", String(16), nullable=False),
    Column("author", String(96), nullable=True),
    Column("data", Text, nullable=False),  # JSON
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# owner: hub.likes
likes = Table(
    "likes",
    metadata,
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("repo_id", Integer, ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

Index("ix_commit_files_sha256", commit_files.c.sha256)
Index("ix_discussion_events_num", discussion_events.c.repo_id, discussion_events.c.num)
Index("ix_repos_type_lastmod", repos.c.type, repos.c.last_modified)
Index("ix_repos_type_downloads", repos.c.type, repos.c.downloads)
Index("ix_repos_type_likes", repos.c.type, repos.c.likes)
Index("ix_repos_type_created", repos.c.type, repos.c.created_at)
Index("ix_repos_namespace", repos.c.namespace)


# ---------------------------------------------------------------------------------------------------
# owner: xet — Xet CAS index (modelyard.xet.index is the only module issuing SQL against these).
# Hashes are stored in the Xet string form (64 hex). Xorb bytes live in the blob store under the sha256 of
# their serialized form (blob_sha256); shards are kept there too.
from sqlalchemy import LargeBinary  # noqa: E402

# owner: xet
xet_xorbs = Table(
    "xet_xorbs",
    metadata,
    Column("xorb_hash", String(64), primary_key=True),
    Column("blob_sha256", String(64), nullable=False),
    Column("num_chunks", Integer, nullable=False),
    Column("unpacked_size", BigInteger, nullable=False),
    Column("stored_size", BigInteger, nullable=False),
    Column(
        "chunk_meta", LargeBinary, nullable=False
    ),  # packed per chunk: hash[32], byte_end u32, unpacked_end u32
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# owner: xet
xet_shards = Table(
    "xet_shards",
    metadata,
    Column("shard_sha256", String(64), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("num_files", Integer, nullable=False),
    Column("num_xorbs", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# owner: xet — which shard registered which xorb (global dedupe answers with the sibling xorbs)
xet_shard_xorbs = Table(
    "xet_shard_xorbs",
    metadata,
    Column("shard_sha256", String(64), primary_key=True),
    Column("xorb_hash", String(64), primary_key=True),
)

# owner: xet — file reconstructions
xet_files = Table(
    "xet_files",
    metadata,
    Column("file_hash", String(64), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("num_terms", Integer, nullable=False),
    Column(
        "terms", LargeBinary, nullable=False
    ),  # packed per term: xorb hash[32], start u32, end u32, bytes u32
    Column("shard_sha256", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# owner: xet — global dedupe index (chunks with hash % 1024 == 0, and first chunks of files)
xet_dedup_chunks = Table(
    "xet_dedup_chunks",
    metadata,
    Column("chunk_hash", String(64), primary_key=True),
    Column("xorb_hash", String(64), nullable=False),
)

Index("ix_xet_files_sha256", xet_files.c.sha256)
Index("ix_xet_shard_xorbs_xorb", xet_shard_xorbs.c.xorb_hash)


# ---------------------------------------------------------------------------------------------------
# owner: hub.search — discovery (migration 0003_discovery). One row per searchable key of a repo's main head:
# its tags plus aliases such as "language:en", "license:mit", "library:transformers" (see hub.cards.index_keys).
repo_tags = Table(
    "repo_tags",
    metadata,
    Column("repo_id", Integer, ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True),
    Column("tag", String(200), primary_key=True),
)

Index("ix_repo_tags_tag", repo_tags.c.tag, repo_tags.c.repo_id)
Index("ix_likes_repo", likes.c.repo_id)
