"""Every table, declared once. The owning hub module is noted per table; only it issues SQL against it."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    false,
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
    # migration 0006_admin: admins see every endpoint in listings and metrics (`users create NAME --admin`)
    Column("is_admin", Boolean, nullable=False, default=False, server_default=false()),
    # migration 0010_access: an org setting, new repos in the namespace are private unless asked otherwise
    Column("default_private", Boolean, nullable=False, default=False, server_default=false()),
    # migration 0014_accounts: web login password (argon2 hash, hub.passwords; NULL: no password login) and email
    Column("password_hash", String(200), nullable=True),
    Column("email", String(254), nullable=True),
)

# owner: hub.accounts
memberships = Table(
    "memberships",
    metadata,
    Column("org_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("role", String(16), nullable=False, default="write"),  # "read" | "contributor" | "write" | "admin"
)

# owner: hub.accounts
tokens = Table(
    "tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),  # "read" | "write" | "fineGrained"
    Column("created_at", DateTime(timezone=True), nullable=False),
    # migration 0010_access: fine-grained permissions (JSON, the Hub's `fineGrained` shape) and an optional expiry
    Column("scopes", Text, nullable=True),
    Column("expires_at", DateTime(timezone=True), nullable=True),
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
    # migration 0010_access: the account that created the repo (org "contributor" members write to their own repos)
    Column("created_by", Integer, nullable=True),
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
    # migration 0018_git: the exact git commit object of a pushed commit (any author, parents, signature); API
    # commits have none, their object is rebuilt from the columns (hub/gitobjects.commit_body)
    Column("raw", LargeBinary, nullable=True),
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
    Column("mode", Integer, nullable=True),  # migration 0018_git: git file mode; NULL = 0o100644
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
    # migration 0018_git: an annotated tag pushed with git: its tag object (the ref names it; commit_sha is the
    # commit it points to)
    Column("tag_raw", LargeBinary, nullable=True),
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

# ---------------------------------------------------------------------------------------------------
# owner: hub.sessions — web login sessions (migration 0005_sessions). The cookie holds a random session id; only
# its sha256 is stored. A session is bound to the token used to log in: revoking that token ends it (cascade).
web_sessions = Table(
    "web_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column(
        "token_hash",
        String(64),
        ForeignKey("tokens.token_hash", ondelete="CASCADE"),
        nullable=True,  # migration 0014_accounts: NULL for a password login (bound to account_id instead)
        index=True,
    ),
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=True, index=True),
    Column("csrf_secret", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

# ---------------------------------------------------------------------------------------------------
# owner: hub.buckets — non-versioned storage (migration 0007_buckets). A bucket is its own scope with its own id
# space (not a repo row): Xet tokens for it carry the key "bucket/<ns>/<name>" and the bucket's id.
buckets = Table(
    "buckets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("namespace", String(96), nullable=False),
    Column("name", String(96), nullable=False),
    Column("key_lower", String(200), nullable=False, unique=True),  # "<ns>/<name>" lower-cased
    Column("owner_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("private", Boolean, nullable=False, default=False),
    Column("region", String(8), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_modified", DateTime(timezone=True), nullable=False),
)

# owner: hub.buckets — the files of a bucket (one row per path; the bytes are a Xet file)
bucket_files = Table(
    "bucket_files",
    metadata,
    Column("bucket_id", Integer, ForeignKey("buckets.id", ondelete="CASCADE"), primary_key=True),
    # code-point order everywhere (tree listings page and skip folders by path ranges): SQLite's BINARY, PG's "C"
    Column("path", String(1024).with_variant(String(1024, collation="C"), "postgresql"), primary_key=True),
    Column("xet_hash", String(64), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("content_type", String(200), nullable=True),
    Column("mtime", DateTime(timezone=True), nullable=False),
    Column("uploaded_at", DateTime(timezone=True), nullable=False),
)

# owner: hub.buckets — Xet files uploaded with a write token of the bucket (proof of possession; what `addFile` may name)
bucket_objects = Table(
    "bucket_objects",
    metadata,
    Column("bucket_id", Integer, ForeignKey("buckets.id", ondelete="CASCADE"), primary_key=True),
    Column("sha256", String(64), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("pushed_at", DateTime(timezone=True), nullable=False),
)

Index("ix_buckets_namespace", buckets.c.namespace)
Index("ix_bucket_files_sha256", bucket_files.c.bucket_id, bucket_files.c.sha256)

# ---------------------------------------------------------------------------------------------------
# owner: hub.webhooks — webhooks (migration 0008_webhooks). A webhook belongs to the user who created it; its secret
# is sent verbatim in X-Webhook-Secret, so it is stored as given (shown to its owner only).
webhooks = Table(
    "webhooks",
    metadata,
    Column("id", String(24), primary_key=True),  # 24 hex digits, like the Hub's ids
    Column("owner_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("url", Text, nullable=False),
    Column("secret", String(256), nullable=True),
    Column("domains", String(32), nullable=False),  # "repo,discussion"
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# owner: hub.webhooks — what a webhook watches: kind "user"|"org" (name = namespace) or a repo type (name = "ns/name")
webhook_watches = Table(
    "webhook_watches",
    metadata,
    Column("webhook_id", String(24), ForeignKey("webhooks.id", ondelete="CASCADE"), primary_key=True),
    Column("kind", String(8), primary_key=True),
    Column("name_lower", String(200), primary_key=True),
    Column("name", String(200), nullable=False),
)

Index("ix_webhook_watches_name_lower", webhook_watches.c.name_lower)

# owner: hub.webhooks — the delivery queue and log: one row per (event, webhook). state: pending -> delivered |
# failed (attempts exhausted) | skipped (the owner may no longer read the repo, or the webhook was disabled).
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("webhook_id", String(24), ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False),
    Column("repo_id", Integer, nullable=True),  # no foreign key: a delete event outlives its repo
    Column("repo_namespace", String(96), nullable=False),
    Column("repo_private", Boolean, nullable=False),
    Column("scope", String(32), nullable=False),
    Column("action", String(16), nullable=False),
    Column("payload", Text, nullable=False),
    Column("state", String(12), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_ms", BigInteger, nullable=True),  # epoch ms; the worker claims due pending rows
    Column("created_at", DateTime(timezone=True), nullable=False),
)

Index("ix_webhook_deliveries_due", webhook_deliveries.c.state, webhook_deliveries.c.next_attempt_ms)
Index("ix_webhook_deliveries_webhook", webhook_deliveries.c.webhook_id, webhook_deliveries.c.id)

# owner: hub.webhooks — one row per HTTP attempt of a delivery (the delivery log)
webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "delivery_id",
        Integer,
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("error", String(500), nullable=True),
    Column("duration_ms", Integer, nullable=False),
)

# ---------------------------------------------------------------------------------------------------
# owner: hub.collections — collections (migration 0009_collections). The slug is "<namespace>/<title-slug>-<object_id>";
# the 24-hex object_id is what identifies a collection (the title part may change).
collections = Table(
    "collections",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("object_id", String(24), nullable=False, unique=True),
    Column("owner_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("namespace", String(96), nullable=False),  # the owner's name (accounts are never renamed)
    Column("title", String(200), nullable=False),
    Column("description", Text, nullable=True),
    Column("private", Boolean, nullable=False, default=False),
    Column("theme", String(16), nullable=False),
    Column("position", Integer, nullable=False, default=0),  # order among the owner's collections
    Column("upvotes", Integer, nullable=False, default=0),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_updated", DateTime(timezone=True), nullable=False),
)

# owner: hub.collections — the items of a collection. A repo item names its repo by id (it follows moves and goes
# with the repo); a collection or bucket item by id; a paper by its id string.
collection_items = Table(
    "collection_items",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("object_id", String(24), nullable=False, unique=True),
    Column(
        "collection_id", Integer, ForeignKey("collections.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column("item_type", String(16), nullable=False),  # model | dataset | space | paper | collection | bucket
    Column("repo_id", Integer, ForeignKey("repos.id", ondelete="CASCADE"), nullable=True, index=True),
    Column("ref_collection_id", Integer, ForeignKey("collections.id", ondelete="CASCADE"), nullable=True),
    Column("paper_id", String(32), nullable=True),
    Column("bucket_id", Integer, ForeignKey("buckets.id", ondelete="CASCADE"), nullable=True),
    Column("position", Integer, nullable=False, default=0),
    Column("note", Text, nullable=True),
    Column("added_at", DateTime(timezone=True), nullable=False),
)

# ---------------------------------------------------------------------------------------------------
# owner: hub.gating — access requests of gated repos (migration 0011_gating): one row per (repo, user). request_id is
# the Hub's 24-hex `requestId`; status: pending | accepted | rejected; fields: JSON answers of the card's gate form.
access_requests = Table(
    "access_requests",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", String(24), nullable=False, unique=True),
    Column("repo_id", Integer, ForeignKey("repos.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("status", String(16), nullable=False),
    Column("fields", Text, nullable=True),
    Column("rejection_reason", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("handled_by", String(96), nullable=True),  # the maintainer's name (no key: outlives the account)
)

Index("uq_access_requests_repo_user", access_requests.c.repo_id, access_requests.c.user_id, unique=True)
Index(
    "ix_access_requests_repo_status",
    access_requests.c.repo_id,
    access_requests.c.status,
    access_requests.c.id,
)

# ---------------------------------------------------------------------------------------------------
# owner: hub.audit — the audit log (migration 0013_audit): who changed what, when, from where. No foreign keys:
# entries outlive the accounts and repos they name. namespace: the lower-cased user/org an entry belongs to (an
# org's admins read its entries); details: JSON, never a secret.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor_id", Integer, nullable=True),  # no foreign key: an entry outlives a deleted account
    Column("actor_name", String(96), nullable=False),  # the account name, or "system" / "cli:<os user>"
    Column("token_name", String(100), nullable=True),  # the name (never the value) of the token used
    Column("action", String(32), nullable=False),  # "repo.delete", "token.create", ... (hub/audit.py ACTIONS)
    Column("target", String(300), nullable=False),  # "model/acme/x", "user/bob", "webhook/<id>"
    Column("namespace", String(96), nullable=True),
    Column("details", Text, nullable=False),
    Column("ip", String(64), nullable=True),  # the client address; None outside requests (CLI, workers)
)

Index("ix_audit_log_namespace", audit_log.c.namespace, audit_log.c.id)
Index("ix_audit_log_at", audit_log.c.at)

# ---------------------------------------------------------------------------------------------------
# owner: hub.pickles — pickle scans (migration 0012_pickle_scans), one row per content sha256: the same bytes in many
# repos are scanned once. status: queued -> safe | suspicious | unsafe | error; imports: JSON [{module, name, safety}].
pickle_scans = Table(
    "pickle_scans",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("status", String(12), nullable=False),
    Column("imports", Text, nullable=True),
    Column("scanner", String(64), nullable=True),  # "picklescan 1.0.5"
    Column("error", String(300), nullable=True),
    Column("queued_at", DateTime(timezone=True), nullable=False),
    Column("scanned_at", DateTime(timezone=True), nullable=True),
)

Index("ix_pickle_scans_status", pickle_scans.c.status, pickle_scans.c.queued_at)

# ---------------------------------------------------------------------------------------------------
# owner: hub.signup — site settings, sign-up invites and admin-issued password reset links (migration 0014_accounts).
# Invite and reset codes are random; only their sha256 is stored. Each is single use (used_at) and expires.
site_settings = Table(
    "site_settings",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

invites = Table(
    "invites",
    metadata,
    Column("code_hash", String(64), primary_key=True),
    Column("created_by", Integer, ForeignKey("accounts.id", ondelete="SET NULL"), nullable=True),
    Column("by_site_admin", Boolean, nullable=False, default=False),  # valid for sign-up even when "closed"
    Column("org_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=True),
    Column("role", String(16), nullable=True),  # the org role the invitee gets
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True), nullable=True),
    Column("used_by", Integer, ForeignKey("accounts.id", ondelete="SET NULL"), nullable=True),
)

password_resets = Table(
    "password_resets",
    metadata,
    Column("code_hash", String(64), primary_key=True),
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("created_by", Integer, ForeignKey("accounts.id", ondelete="SET NULL"), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True), nullable=True),
)

# ---------------------------------------------------------------------------------------------------
# owner: hub.repos — downloads per repo per UTC day (migration 0015_downloads_daily), written by the same
# flush as `repos.downloads`; the model page draws the last 30 days.

downloads_daily = Table(
    "downloads_daily",
    metadata,
    Column("repo_id", Integer, ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("count", BigInteger, nullable=False, default=0),
)

# ---------------------------------------------------------------------------------------------------
# owner: hub.spaces — a Space's settings, secrets and variables (migration 0016_spaces), kept by repo id (a
# rename keeps them; deleting the repo drops them). Secret values are AES-GCM ciphertexts (nonce apart), never
# plain text; the key is derived from the server secret.
space_settings = Table(
    "space_settings",
    metadata,
    Column("repo_id", Integer, ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True),
    Column("sleep_time", Integer, nullable=True),  # seconds; NULL: the server default; -1: never sleeps
    Column("hardware", String(64), nullable=False, default="cpu-basic"),
    Column("paused", Boolean, nullable=False, default=False),
    Column("dev_mode", Boolean, nullable=False, default=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

space_secrets = Table(
    "space_secrets",
    metadata,
    Column("repo_id", Integer, ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(128), primary_key=True),
    Column("nonce", LargeBinary(12), nullable=False),
    Column("ciphertext", LargeBinary, nullable=False),
    Column("description", Text, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

space_variables = Table(
    "space_variables",
    metadata,
    Column("repo_id", Integer, ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(128), primary_key=True),
    Column("value", Text, nullable=False),
    Column("description", Text, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# --- jobs (hub/jobs.py, jobs/manager.py) --------------------------------------------------------------------------
jobs = Table(
    "jobs",
    metadata,
    Column("id", String(24), primary_key=True),  # 24 hex, like the Hub's
    Column(
        "namespace_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column("initiator_id", Integer, ForeignKey("accounts.id", ondelete="SET NULL"), nullable=True),
    Column(
        "token_role", String(16), nullable=False
    ),  # the submitting token's role: the job token gets no more
    Column("token_grants", Text, nullable=True),  # and its fine-grained permissions (JSON), if any
    Column("kind", String(16), nullable=False),  # "job" | "training"
    Column("spec", Text, nullable=False),  # JobSpec as JSON, without secret values
    Column("secret_nonce", LargeBinary(12), nullable=True),
    Column("secret_data", LargeBinary, nullable=True),  # AES-GCM of {"KEY": "value"}
    Column("stage", String(16), nullable=False, index=True),
    Column("message", Text, nullable=True),
    Column("exit_code", Integer, nullable=True),
    Column("labels", Text, nullable=False, default="{}"),
    Column("scheduled_job_id", String(24), nullable=True, index=True),
    Column("recipe", Text, nullable=True),  # training: the RecipeSpec as JSON
    Column("result", Text, nullable=True),  # training: {"repo": ..., "metrics": {...}, "endpoint": ...}
    Column("progress", Text, nullable=True),  # the last progress event (JSON)
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    Column("started_at", DateTime(timezone=True), nullable=True),
    Column("finished_at", DateTime(timezone=True), nullable=True),
)

scheduled_jobs = Table(
    "scheduled_jobs",
    metadata,
    Column("id", String(24), primary_key=True),
    Column(
        "namespace_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column("initiator_id", Integer, ForeignKey("accounts.id", ondelete="SET NULL"), nullable=True),
    Column("token_role", String(16), nullable=False),
    Column("token_grants", Text, nullable=True),
    Column("spec", Text, nullable=False),
    Column("secret_nonce", LargeBinary(12), nullable=True),
    Column("secret_data", LargeBinary, nullable=True),
    Column("schedule", String(128), nullable=False),
    Column("suspend", Boolean, nullable=False, default=False),
    Column("concurrency", Boolean, nullable=False, default=False),  # True: a new run may start while one runs
    Column("labels", Text, nullable=False, default="{}"),
    Column("last_job_id", String(24), nullable=True),
    Column("last_job_at", DateTime(timezone=True), nullable=True),
    Column("next_run_at", DateTime(timezone=True), nullable=True, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# ---------------------------------------------------------------------------------------------------
# owner: hub.tasks — the background task queue (migration 0019_tasks; docs/scaling.md): every replica enqueues and
# claims here, so each task runs once. state: queued -> running (leased until run_at_ms) -> done | failed, or back to
# queued with a later run_at_ms (retry). A running task whose lease ran out is claimable again (its worker died).
# key: optional, unique: enqueueing a key that exists is a no-op (periodic work: "gc:<period number>").
tasks = Table(
    "tasks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(64), nullable=False),
    Column("key", String(200), nullable=True, unique=True),
    Column("payload", Text, nullable=False),  # JSON object
    Column("state", String(8), nullable=False),  # queued | running | done | failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("max_attempts", Integer, nullable=False, default=5),
    Column("run_at_ms", BigInteger, nullable=False),  # epoch ms: due at (queued), lease end (running)
    Column("lease_until_ms", BigInteger, nullable=True),
    Column("leased_by", String(64), nullable=True),  # the worker (replica) that claimed it last
    Column("last_error", String(1000), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

Index("ix_tasks_due", tasks.c.state, tasks.c.run_at_ms)

# owner: hub.replicas — the server processes sharing this database, each heartbeating from its task worker; the live
# ones (seen within a few heartbeats) split the rate limits (server/ratelimit.py).
replicas = Table(
    "replicas",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("hostname", String(255), nullable=False),
    Column("address", String(255), nullable=True),
    Column("pid", Integer, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("last_seen_ms", BigInteger, nullable=False, index=True),
)

# owner: hub.replicas — secrets generated once and shared by every replica (name "server": the signing secret when
# no secret_key is configured; an existing <data_dir>/secret is imported on first start).
server_secrets = Table(
    "server_secrets",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# --- inference endpoint registry (migration 0020, owner: inference/registry.py) ---------------------------------

inference_endpoints = Table(
    "inference_endpoints",
    metadata,
    Column("name", String(64), primary_key=True),  # the endpoint name (inference/config.NAME_RE)
    Column("config", Text, nullable=False),  # EndpointConfig.to_dict() as JSON
    Column("paused", Boolean, nullable=False, default=False),
    Column("created_at", Float, nullable=False),  # Unix time
    Column("updated_at", Float, nullable=False),
)

# --- the change counter (migration 0021, owner: db/__init__.py) -------------------------------------------------
# One row (id 1). On PostgreSQL every write transaction increments `n` under the writer lock, so a reader that sees
# the same `n` twice knows no transaction committed in between: the row caches (db/cache.py) key on it, as they key
# on SQLite's `PRAGMA data_version` (unused there).
db_version = Table(
    "db_version",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("n", BigInteger, nullable=False),
)
