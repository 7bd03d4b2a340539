"""Buckets: the Hub's non-versioned storage.  owns: buckets, bucket_files, bucket_objects

A bucket is a flat map ``path -> Xet file`` with no history. The bytes never pass through the hub: the client
uploads them to the Xet CAS with a write token of the bucket, then names them (``addFile`` with the Xet hash).

A bucket is its own access scope, with its own id space (not a repo row). Its Xet tokens carry the key
``bucket/<ns>/<name>`` (``scope_key``) and the bucket's id; the CAS's content binding sends such tokens here.
What a bucket holds (what its tokens may read, what ``addFile`` may name) is: files uploaded with one of its write
tokens (``bucket_objects``: the shard's range proofs showed the uploader had the chunks) and the files it lists
(``bucket_files``, e.g. server-side copies from a source the caller could read). Nothing global: knowing a Xet
hash gives nothing. Permissions are those of repos: the owner namespace's members write, private buckets are
invisible (404) to everyone else.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, select

from modelyard.db import Database
from modelyard.db.schema import bucket_files, bucket_objects, buckets
from modelyard.errors import (
    BadRequest,
    Conflict,
    EntryNotFound,
    Forbidden,
    HubError,
    InvalidRepoName,
    RepoExists,
    RepoNotFound,
    Unauthorized,
)
from modelyard.hub import audit
from modelyard.hub._time import now
from modelyard.hub.access import Perm, role_at_least
from modelyard.hub.accounts import Accounts, Principal
from modelyard.hub.paths import validate_path
from modelyard.types import RepoType, valid_name
from modelyard.xet import XetService

SCOPE_PREFIX = "bucket/"
MAX_OPS = 1000  # operations per batch request, paths per paths-info request (as the client sends)
REGIONS = {"us", "eu"}
_XET_HASH = re.compile(r"^[0-9a-f]{64}$")
_MAX_MTIME_MS = 253402300799999  # 9999-12-31
_SCAN_CHUNK = 256  # rows per query of a tree listing
_NEXT = (
    "\x01"  # path + _NEXT is the smallest possible path after path (no path holds NUL: PostgreSQL text can't)
)


@dataclass(frozen=True)
class Bucket:
    id: int
    namespace: str
    name: str
    private: bool
    region: str | None
    created_at: datetime
    last_modified: datetime

    @property
    def id_str(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def scope_key(self) -> str:
        """The key its Xet tokens carry (the CAS binding dispatches on the prefix)."""
        return SCOPE_PREFIX + self.id_str.lower()


@dataclass(frozen=True)
class BucketEntry:
    type: str  # "file" | "directory"
    path: str
    size: int = 0
    xet_hash: str = ""
    mtime: datetime | None = None
    uploaded_at: datetime | None = None
    sha256: str = ""  # the content's key in the content service (hub/content.py)


@dataclass(frozen=True)
class AddFile:
    path: str
    xet_hash: str
    mtime_ms: int | None
    content_type: str | None = None


@dataclass(frozen=True)
class CopyFile:
    path: str
    xet_hash: str
    mtime_ms: int | None
    source_type: str  # model | dataset | space | bucket
    source_id: str


@dataclass(frozen=True)
class DeleteFile:
    path: str


Op = AddFile | CopyFile | DeleteFile
#: ``(who, repo_type, ns, name, sha256) -> bool``: `who` can read the repo and the repo holds the content.
RepoHolds = Callable[[Principal | None, RepoType, str, str, str], bool]


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _row_to_bucket(r: Any) -> Bucket:
    return Bucket(
        r.id, r.namespace, r.name, bool(r.private), r.region, _aware(r.created_at), _aware(r.last_modified)
    )


def _row_to_entry(r: Any) -> BucketEntry:
    return BucketEntry(
        "file", r.path, int(r.size), r.xet_hash, _aware(r.mtime), _aware(r.uploaded_at), r.sha256
    )


def _folder_of(prefix: str, path: str) -> str:
    """The folder a one-level listing of `prefix` shows `path` in: ``prefix/`` when the path is below it,
    else the folder holding `prefix` itself (a lexical match such as ``logs.json`` for ``logs``)."""
    if not prefix or prefix.endswith("/"):
        return prefix
    if path.startswith(prefix + "/"):
        return prefix + "/"
    return prefix.rsplit("/", 1)[0] + "/" if "/" in prefix else ""


def _resume_key(e: BucketEntry) -> str:
    """Where a listing continues after entry `e`: right after a file, after everything under a folder."""
    return e.path + "0" if e.type == "directory" else e.path + _NEXT


def can_read(bucket: Bucket, who: Principal | None) -> bool:
    """Public buckets to everyone; private ones to members whose token allows ``repo.content.read`` (or
    ``repo.write``) on it."""
    ns, name = bucket.namespace, bucket.name
    return not bucket.private or (
        who is not None
        and who.member_of(ns)
        and (
            who.allows(Perm.REPO_CONTENT_READ, "bucket", ns, name)
            or who.allows(Perm.REPO_WRITE, "bucket", ns, name)
        )
    )


def can_write(bucket: Bucket, who: Principal | None) -> bool:
    """Org members with the write or admin role (the user in their own namespace) whose token allows
    ``repo.write`` on the bucket. Buckets record no creator, so contributors (and read members) only read them."""
    return (
        who is not None
        and who.can_write
        and role_at_least(who.role_in(bucket.namespace), "write")
        and who.allows(Perm.REPO_WRITE, "bucket", bucket.namespace, bucket.name)
    )


def _not_found(ns: str, name: str) -> RepoNotFound:
    # X-Error-Code RepoNotFound on /api/buckets/... is what the client turns into BucketNotFoundError
    return RepoNotFound(f"Bucket not found: {ns}/{name}")


def parse_op(item: object) -> Op:
    """One NDJSON line of a batch request; BadRequest when malformed."""
    if not isinstance(item, dict):
        raise BadRequest("Each batch line must be a JSON object")
    kind, path = item.get("type"), item.get("path")
    if not isinstance(path, str):
        raise BadRequest(f"Batch operation {kind!r} needs a string 'path'")
    if kind == "deleteFile":
        return DeleteFile(path)
    if kind not in ("addFile", "copyFile"):
        raise BadRequest(f"Unknown batch operation {kind!r}: addFile, copyFile or deleteFile")
    xet_hash, mtime = item.get("xetHash"), item.get("mtime")
    if not isinstance(xet_hash, str) or not _XET_HASH.match(xet_hash.lower()):
        raise BadRequest(f"{kind} {path!r}: 'xetHash' must be 64 hex digits")
    if mtime is not None and (
        not isinstance(mtime, int) or isinstance(mtime, bool) or not 0 <= mtime <= _MAX_MTIME_MS
    ):
        raise BadRequest(f"{kind} {path!r}: 'mtime' must be milliseconds since the epoch")
    if kind == "addFile":
        ctype = item.get("contentType")
        if ctype is not None and (not isinstance(ctype, str) or len(ctype) > 200):
            raise BadRequest(f"addFile {path!r}: 'contentType' must be a short string")
        return AddFile(path, xet_hash.lower(), mtime, ctype)
    stype, sid = item.get("sourceRepoType"), item.get("sourceRepoId")
    if stype not in ("model", "dataset", "space", "bucket") or not isinstance(sid, str):
        raise BadRequest(
            f"copyFile {path!r}: needs 'sourceRepoType' (model|dataset|space|bucket) and 'sourceRepoId'"
        )
    return CopyFile(path, xet_hash.lower(), mtime, stype, sid)


class Buckets:
    """Bucket CRUD, listings, the batch of file operations, and the content binding of bucket Xet tokens.

    ``repo_holds(who, repo_type, ns, name, sha256)`` answers for copies out of repos (read access, and the repo
    holds the content); the hub passes it in so this module needs no repo internals.
    """

    def __init__(self, db: Database, accounts: Accounts, xet: XetService, repo_holds: RepoHolds) -> None:
        self.db = db
        self.accounts = accounts
        self.xet = xet
        self.repo_holds = repo_holds

    # --- lookup -------------------------------------------------------------------------------------
    @staticmethod
    def _find(conn: Connection, ns: str, name: str) -> Bucket | None:
        row = conn.execute(select(buckets).where(buckets.c.key_lower == f"{ns}/{name}".lower())).first()
        return _row_to_bucket(row) if row else None

    @staticmethod
    def by_id(conn: Connection, bucket_id: int) -> Bucket | None:
        """The bucket with this id, whoever may read it (callers check `can_read`; hub.collections' items)."""
        row = conn.execute(select(buckets).where(buckets.c.id == bucket_id)).first()
        return _row_to_bucket(row) if row else None

    def get(self, who: Principal | None, ns: str, name: str) -> Bucket:
        """The bucket if `who` may read it; RepoNotFound otherwise (private buckets are 404 to others)."""
        with self.db.read() as conn:
            b = self._find(conn, ns, name)
        if b is None or not can_read(b, who):
            raise _not_found(ns, name)
        return b

    def get_for_write(self, who: Principal | None, ns: str, name: str) -> Bucket:
        b = self.get(who, ns, name)
        if who is None:
            raise Unauthorized("You must be authenticated to write to this bucket")
        if not who.can_write:
            raise Forbidden("This token is read-only: use a token with the 'write' role")
        if not can_write(b, who):
            if who.member_of(b.namespace):
                who.require(Perm.REPO_WRITE, "bucket", b.namespace, b.name)  # TokenScope: the token lacks it
            raise Forbidden(f"You don't have write access to bucket {b.id_str}")
        return b

    def namespace_of(self, who: Principal | None, ns: str) -> str:
        """``me`` is the caller's own namespace."""
        if ns != "me":
            return ns
        if who is None:
            raise Unauthorized("You must be authenticated to use the 'me' namespace")
        return who.account.name

    # --- create / list / settings / move / delete -----------------------------------------------------
    def create(
        self, who: Principal | None, ns: str, name: str, private: bool | None, region: str | None = None
    ) -> Bucket:
        if who is None:
            raise Unauthorized("You must be authenticated to create a bucket")
        ns = self.namespace_of(who, ns)
        if not valid_name(name) or not valid_name(ns):
            raise InvalidRepoName(
                f"Invalid bucket name {ns}/{name}: use 1-96 of letters, digits, '.', '_' and '-', "
                "no '--' or '..'"
            )
        if region is not None and region not in REGIONS:
            raise BadRequest(f"Invalid region {region!r}: 'us' or 'eu'")
        with self.db.read() as conn:
            existing = self._find(conn, ns, name)
        if existing is not None and can_read(existing, who):
            raise RepoExists(f"You already created this bucket: {existing.id_str}", bucket=existing.id_str)
        owner = self.accounts.find(ns)
        if owner is None or not role_at_least(who.role_in(ns), "write"):
            raise Forbidden(f"You don't have the rights to create a bucket under the namespace {ns!r}")
        if not who.can_write:
            raise Forbidden("This token is read-only: use a token with the 'write' role")
        who.require(Perm.REPO_WRITE, owner.kind, owner.name)
        if private is None:  # the org setting "new repos are private by default"
            private = self.accounts.default_private(owner.name)
        ts = now()
        with self.db.transaction() as conn:
            if existing is not None or self._find(conn, ns, name) is not None:
                raise RepoExists(f"A bucket called {ns}/{name} already exists", bucket=f"{ns}/{name}")
            conn.execute(
                buckets.insert().values(
                    namespace=owner.name,
                    name=name,
                    key_lower=f"{owner.name}/{name}".lower(),
                    owner_id=owner.id,
                    private=bool(private),
                    region=region,
                    created_at=ts,
                    last_modified=ts,
                )
            )
            found = self._find(conn, owner.name, name)
            assert found is not None
            audit.record(
                conn,
                "bucket.create",
                actor=who,
                target=f"bucket/{found.id_str}",
                namespace=found.namespace,
                details={"private": found.private},
            )
        return found

    def in_namespace(self, who: Principal | None, ns: str, search: str | None = None) -> list[Bucket]:
        """The buckets of a namespace that `who` may see, by name."""
        ns = self.namespace_of(who, ns)
        with self.db.read() as conn:
            rows = conn.execute(
                select(buckets).where(func.lower(buckets.c.namespace) == ns.lower()).order_by(buckets.c.name)
            ).all()
        found = [_row_to_bucket(r) for r in rows]
        needle = (search or "").lower()
        return [b for b in found if can_read(b, who) and needle in b.name.lower()]

    def stats(self, bucket_id: int) -> tuple[int, int]:
        """(total size in bytes, number of files)."""
        with self.db.read() as conn:
            row = conn.execute(
                select(func.coalesce(func.sum(bucket_files.c.size), 0), func.count()).where(
                    bucket_files.c.bucket_id == bucket_id
                )
            ).one()
        return int(row[0]), int(row[1])

    def delete(self, who: Principal | None, ns: str, name: str) -> None:
        b = self.get_for_write(who, ns, name)
        with self.db.transaction() as conn:
            conn.execute(bucket_files.delete().where(bucket_files.c.bucket_id == b.id))
            conn.execute(bucket_objects.delete().where(bucket_objects.c.bucket_id == b.id))
            conn.execute(buckets.delete().where(buckets.c.id == b.id))
            audit.record(conn, "bucket.delete", actor=who, target=f"bucket/{b.id_str}", namespace=b.namespace)

    def update_settings(self, who: Principal | None, ns: str, name: str, private: bool | None) -> Bucket:
        b = self.get_for_write(who, ns, name)
        if private is not None:
            with self.db.transaction() as conn:
                conn.execute(buckets.update().where(buckets.c.id == b.id).values(private=private))
                if private != b.private:
                    audit.record(
                        conn,
                        "bucket.visibility",
                        actor=who,
                        target=f"bucket/{b.id_str}",
                        namespace=b.namespace,
                        details={"private": private},
                    )
        return self.get(who, b.namespace, b.name)

    def move(self, who: Principal | None, src: str, dst: str) -> Bucket:
        try:
            s_ns, s_name = src.split("/")
            d_ns, d_name = dst.split("/")
        except ValueError:
            raise InvalidRepoName("fromRepo and toRepo must be 'namespace/name'") from None
        b = self.get_for_write(who, s_ns, s_name)
        assert who is not None
        if not valid_name(d_ns) or not valid_name(d_name):
            raise InvalidRepoName(f"Invalid bucket name {dst}")
        owner = self.accounts.find(d_ns)
        if owner is None or not role_at_least(who.role_in(d_ns), "write"):
            raise Forbidden(f"You don't have the rights to move a bucket to the namespace {d_ns!r}")
        who.require(Perm.REPO_WRITE, owner.kind, owner.name)
        with self.db.transaction() as conn:
            other = self._find(conn, d_ns, d_name)
            if other is not None and other.id != b.id:
                raise Conflict(f"A bucket called {dst} already exists")
            conn.execute(
                buckets.update()
                .where(buckets.c.id == b.id)
                .values(
                    namespace=owner.name,
                    name=d_name,
                    key_lower=f"{owner.name}/{d_name}".lower(),
                    owner_id=owner.id,
                    last_modified=now(),
                )
            )
            # both namespaces' admins see the move
            for ns in sorted({b.namespace.lower(), owner.name.lower()}):
                audit.record(
                    conn,
                    "bucket.move",
                    actor=who,
                    target=f"bucket/{b.id_str}",
                    namespace=ns,
                    details={"to": f"{owner.name}/{d_name}"},
                )
        return self.get(who, owner.name, d_name)

    # --- files --------------------------------------------------------------------------------------
    def tree(
        self, bucket: Bucket, prefix: str = "", recursive: bool = False, start: str = "", limit: int = 1000
    ) -> tuple[list[BucketEntry], str | None]:
        """One page of the files whose path starts with `prefix` (lexically, as on the Hub), in path order (a
        folder sorts as its path + "/", as in git), from the resume key `start`; and the next page's resume key
        (None at the end).

        Without `recursive`, one level: the children of the folder `prefix` (and of the folder holding the other
        lexical matches, e.g. ``logs.json`` for ``logs``), deeper files folded into ``directory`` entries. A folder
        costs one indexed query, whatever it holds: the scan jumps from ``d/`` to ``d0`` (``0`` follows ``/``).
        Paths compare by code point in SQLite (BINARY), PostgreSQL (the column's "C" collation) and Python alike.
        """
        out: list[BucketEntry] = []
        pos = max(prefix, start)
        with self.db.read() as conn:
            while len(out) <= limit:
                rows = conn.execute(
                    select(bucket_files)
                    .where(bucket_files.c.bucket_id == bucket.id, bucket_files.c.path >= pos)
                    .order_by(bucket_files.c.path)
                    .limit(_SCAN_CHUNK)
                ).all()
                jumped = False
                for r in rows:
                    if not r.path.startswith(prefix):
                        return out[:limit], None
                    base = _folder_of(prefix, r.path)
                    head, sep, _ = r.path[len(base) :].partition("/")
                    if recursive or not sep:
                        out.append(_row_to_entry(r))
                        pos = r.path + _NEXT
                    else:
                        out.append(BucketEntry("directory", base + head))
                        pos, jumped = base + head + "0", True
                    if jumped or len(out) > limit:
                        break
                if len(out) > limit:
                    break
                if not jumped and len(rows) < _SCAN_CHUNK:
                    return out, None
        return out[:limit], _resume_key(out[limit - 1])

    def paths_info(self, bucket: Bucket, paths: Sequence[str]) -> list[BucketEntry]:
        """The files among `paths` (unknown paths and folders are left out)."""
        if len(paths) > MAX_OPS:
            raise BadRequest(f"At most {MAX_OPS} paths per request")
        wanted = [p for p in dict.fromkeys(paths) if isinstance(p, str)]
        out: list[BucketEntry] = []
        with self.db.read() as conn:
            for i in range(0, len(wanted), 200):
                rows = conn.execute(
                    select(bucket_files).where(
                        bucket_files.c.bucket_id == bucket.id, bucket_files.c.path.in_(wanted[i : i + 200])
                    )
                ).all()
                out.extend(_row_to_entry(r) for r in rows)
        return sorted(out, key=lambda e: e.path)

    def file(self, bucket: Bucket, path: str) -> BucketEntry:
        with self.db.read() as conn:
            row = conn.execute(
                select(bucket_files).where(bucket_files.c.bucket_id == bucket.id, bucket_files.c.path == path)
            ).first()
        if row is None:
            raise EntryNotFound(f"Entry not found: {path} does not exist in bucket {bucket.id_str}")
        return _row_to_entry(row)

    # --- batch --------------------------------------------------------------------------------------
    def batch(self, who: Principal | None, bucket: Bucket, ops: Sequence[Op]) -> list[dict[str, str]]:
        """Apply the operations one by one (not a transaction, as on the Hub); the failed ones, with reasons."""
        bucket = self.get_for_write(who, bucket.namespace, bucket.name)
        if len(ops) > MAX_OPS:
            raise BadRequest(f"At most {MAX_OPS} operations per batch")
        failed: list[dict[str, str]] = []
        for op in ops:
            try:
                path = validate_path(op.path)
                if isinstance(op, DeleteFile):
                    self._delete(bucket, path)
                else:
                    self._put(who, bucket, path, op)
            except HubError as e:
                failed.append({"path": op.path, "error": e.message})
        return failed

    def _delete(self, bucket: Bucket, path: str) -> None:
        with self.db.transaction() as conn:
            n = conn.execute(
                bucket_files.delete().where(
                    bucket_files.c.bucket_id == bucket.id, bucket_files.c.path == path
                )
            ).rowcount
            if not n:
                raise EntryNotFound(f"{path} does not exist in bucket {bucket.id_str}")
            conn.execute(buckets.update().where(buckets.c.id == bucket.id).values(last_modified=now()))

    def _put(self, who: Principal | None, bucket: Bucket, path: str, op: AddFile | CopyFile) -> None:
        sha256 = self.xet.sha256_of(op.xet_hash)
        size = self.xet.file_size(op.xet_hash)
        missing = f"Xet file {op.xet_hash} was not uploaded to this bucket"
        if sha256 is None or size is None:
            raise EntryNotFound(missing)
        if isinstance(op, AddFile):
            if not self._held(bucket.id, sha256):
                raise EntryNotFound(missing)
        elif not self._source_holds(who, op, sha256):
            raise EntryNotFound(f"Xet file {op.xet_hash} not found in {op.source_type} {op.source_id}")
        ts = now()
        mtime = ts if op.mtime_ms is None else datetime.fromtimestamp(op.mtime_ms / 1000, UTC)
        ctype = op.content_type if isinstance(op, AddFile) else None
        values = dict(
            xet_hash=op.xet_hash, sha256=sha256, size=size, content_type=ctype, mtime=mtime, uploaded_at=ts
        )
        with self.db.transaction() as conn:
            where = (bucket_files.c.bucket_id == bucket.id) & (bucket_files.c.path == path)
            if conn.execute(select(bucket_files.c.path).where(where)).first():
                conn.execute(bucket_files.update().where(where).values(**values))
            else:
                conn.execute(bucket_files.insert().values(bucket_id=bucket.id, path=path, **values))
            conn.execute(buckets.update().where(buckets.c.id == bucket.id).values(last_modified=ts))

    def _source_holds(self, who: Principal | None, op: CopyFile, sha256: str) -> bool:
        """The caller can read the source and the source holds this content (a listed file, an upload)."""
        ns, _, name = op.source_id.partition("/")
        if not ns or not name:
            return False
        if op.source_type == "bucket":
            try:
                src = self.get(who, ns, name)
            except RepoNotFound:
                return False
            with self.db.read() as conn:
                row = conn.execute(
                    select(bucket_files.c.path).where(
                        bucket_files.c.bucket_id == src.id,
                        bucket_files.c.xet_hash == op.xet_hash,
                    )
                ).first()
            return row is not None
        return bool(self.repo_holds(who, RepoType.parse(op.source_type), ns, name, sha256))

    # --- content binding (the Xet CAS asks) ----------------------------------------------------------
    def _held(self, bucket_id: int, sha256: str) -> bool:
        with self.db.read() as conn:
            row = conn.execute(
                select(bucket_objects.c.sha256).where(
                    bucket_objects.c.bucket_id == bucket_id, bucket_objects.c.sha256 == sha256
                )
            ).first()
            if row is None:
                row = conn.execute(
                    select(bucket_files.c.path)
                    .where(bucket_files.c.bucket_id == bucket_id, bucket_files.c.sha256 == sha256)
                    .limit(1)
                ).first()
        return row is not None

    @staticmethod
    def _issued_for(conn: Connection, bucket_id: int, issued_at: int) -> bool:
        """The bucket with this id exists and is the one a token issued at `issued_at` was for (a bucket created
        later, e.g. reusing a deleted bucket's id, is another bucket)."""
        row = conn.execute(select(buckets.c.created_at).where(buckets.c.id == bucket_id)).first()
        return row is not None and int(_aware(row.created_at).timestamp()) <= issued_at

    def holds(self, bucket_id: int, sha256: str, issued_at: int) -> bool:
        """Whether the bucket a token (issued at `issued_at`) was for holds the content."""
        with self.db.read() as conn:
            if not self._issued_for(conn, bucket_id, issued_at):
                return False
        return self._held(bucket_id, sha256)

    def record(self, bucket_id: int, objects: Sequence[tuple[str, int]], issued_at: int) -> None:
        """Bind content just uploaded with a write token of this bucket (proof of possession was given)."""
        with self.db.transaction() as conn:
            if not self._issued_for(conn, bucket_id, issued_at):
                return
            for sha256, size in dict(objects).items():
                where = (bucket_objects.c.bucket_id == bucket_id) & (bucket_objects.c.sha256 == sha256)
                if conn.execute(select(bucket_objects.c.sha256).where(where)).first() is None:
                    conn.execute(
                        bucket_objects.insert().values(
                            bucket_id=bucket_id, sha256=sha256, size=size, pushed_at=now()
                        )
                    )
