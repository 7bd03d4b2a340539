"""Local-filesystem blob store: sha256 fan-out ab/cd/<rest>; tmp file + fsync + os.replace.

Running out of space is an expected condition: a writer refuses to start when free space would fall under the
configured reserve, and one that hits ENOSPC removes its temp file; both raise InsufficientStorage (507).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from modelyard.errors import BlobNotFound, InsufficientStorage, TooLarge
from modelyard.storage import DiskSpace
from modelyard.storage.hashing import BlobInfo, check_declared
from modelyard.storage.ingest import beside_hash, start_writeback

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_FLUSH_AT = 4 * 1024 * 1024
_WRITEBACK_AT = 16 * 1024 * 1024
_NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})


def is_no_space(e: BaseException) -> bool:
    """True for the OSErrors of a full filesystem (ENOSPC) or an exhausted quota (EDQUOT)."""
    return isinstance(e, OSError) and e.errno in _NO_SPACE


class FsBlobWriter:
    def __init__(self, store: FsBlobStore, max_size: int | None, expected_size: int | None = None) -> None:
        self._store = store
        self._max = max_size
        store.check_space(expected_size or 0)
        try:
            fd, name = tempfile.mkstemp(dir=store.tmp_dir, prefix="up-")
        except OSError as e:
            if is_no_space(e):
                raise store.full("no room for a temporary file") from None
            raise
        self._f = os.fdopen(fd, "wb", buffering=0)
        self._tmp = name
        self._h = hashlib.sha256()
        self._buf = bytearray()
        self.size = 0
        self._written = 0  # bytes written to the temp file
        self._synced = 0  # bytes whose write-back to disk has been started
        self._done = False

    def write(self, data: bytes | memoryview) -> None:
        n = len(data)
        if self._max is not None and self.size + n > self._max:
            self.abort()
            raise TooLarge(f"Upload exceeds the limit of {self._max} bytes")
        self.size += n
        if not self._buf and n >= _FLUSH_AT:
            self._emit(data)
            return
        self._buf += data
        if len(self._buf) >= _FLUSH_AT:
            self._flush()

    def _flush(self) -> None:
        if self._buf:
            self._emit(self._buf)
            self._buf = bytearray()

    def _emit(self, data: bytes | bytearray | memoryview) -> None:
        # small writes cost ~5x more per byte than 1+ MiB ones: callers' 64 KiB chunks are batched
        try:
            beside_hash(self._h.update, data, lambda: self._write_all(data))
        except OSError as e:
            if is_no_space(e):
                self.abort()  # the partial temp file goes at once: it holds the space the disk lacks
                raise self._store.full(f"the disk filled up after {self.size} bytes") from None
            raise

    def _write_all(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data)
        while view:
            written = self._f.write(view)
            view = view[written or 0 :]
            self._written += written or 0
        if self._written - self._synced >= _WRITEBACK_AT:  # the disk starts on it now, not at the final fsync
            start_writeback(self._f.fileno(), self._synced, self._written - self._synced)
            self._synced = self._written

    def commit(self, expected_sha256: str | None = None, expected_size: int | None = None) -> BlobInfo:
        self._flush()
        digest = self._h.hexdigest()
        try:
            check_declared(digest, self.size, expected_sha256, expected_size)
            final = self._store._path(digest)
            if final.exists():
                self.abort()
                os.utime(final)  # fresh again: a GC sweep running now must not take what this commit names
            else:
                self._f.flush()
                os.fsync(self._f.fileno())
                self._f.close()
                final.parent.mkdir(parents=True, exist_ok=True)
                os.replace(self._tmp, final)
                self._done = True
            return BlobInfo(digest, self.size)
        except OSError as e:
            self.abort()
            if is_no_space(e):
                raise self._store.full("the disk filled up while publishing the file") from None
            raise
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        with contextlib.suppress(OSError):
            self._f.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._tmp)


class FsBlobStore:
    def __init__(self, root: str, reserve_bytes: int = 0) -> None:
        self.root = Path(root).resolve()
        self.tmp_dir = self.root / ".tmp"
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        self.reserve_bytes = max(0, reserve_bytes)
        self.refused: dict[str, int] = {"reserve": 0, "full": 0}  # uploads refused, for /metrics

    # --- free space ---------------------------------------------------------------------------------
    def space(self) -> DiskSpace:
        st = os.statvfs(self.root)
        return DiskSpace(st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize, self.reserve_bytes)

    def check_space(self, incoming: int = 0) -> None:
        """Refuse (InsufficientStorage) an upload of `incoming` bytes that would leave less than the reserve."""
        free = self.space().free
        if free - max(0, incoming) < self.reserve_bytes or (incoming > 0 and incoming > free):
            self.refused["reserve"] += 1
            raise InsufficientStorage(
                f"Insufficient storage on the server: {free} bytes free, {max(0, incoming)} needed by this "
                f"upload, {self.reserve_bytes} kept in reserve (setting disk_reserve_mb). Try again later."
            )

    def full(self, detail: str) -> InsufficientStorage:
        self.refused["full"] += 1
        return InsufficientStorage(
            f"Insufficient storage on the server: {detail}; the upload was discarded. Try again later."
        )

    def _path(self, sha256: str) -> Path:
        if not _HEX64.match(sha256):
            raise BlobNotFound(f"Invalid blob key {sha256!r}")
        return self.root / sha256[:2] / sha256[2:4] / sha256[4:]

    def writer(self, max_size: int | None = None, expected_size: int | None = None) -> FsBlobWriter:
        return FsBlobWriter(self, max_size, expected_size)

    def open(self, sha256: str) -> BinaryIO:
        try:
            return open(self._path(sha256), "rb")
        except FileNotFoundError:
            raise BlobNotFound(f"Blob {sha256} not found") from None

    def open_range(self, sha256: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        return _iter_file(self.open(sha256), start, end)  # opened now: BlobNotFound before the first piece

    def local_path(self, sha256: str) -> str | None:
        p = self._path(sha256)
        return str(p) if p.exists() else None

    def stat(self, sha256: str) -> int:
        try:
            return self._path(sha256).stat().st_size
        except FileNotFoundError:
            raise BlobNotFound(f"Blob {sha256} not found") from None

    def exists(self, sha256: str) -> bool:
        try:
            return self._path(sha256).exists()
        except BlobNotFound:
            return False

    def delete(self, sha256: str) -> None:
        try:
            self._path(sha256).unlink()
        except FileNotFoundError:
            raise BlobNotFound(f"Blob {sha256} not found") from None

    def iter_blobs(self) -> Iterator[tuple[str, float]]:
        """(sha256, mtime) of every published blob."""
        for a in self.root.iterdir():
            if len(a.name) != 2 or not a.is_dir():
                continue
            for b in a.iterdir():
                for f in b.iterdir():
                    key = a.name + b.name + f.name
                    if _HEX64.match(key):
                        yield key, f.stat().st_mtime

    def iter_temp(self) -> Iterator[tuple[str, float]]:
        """Unpublished temp files (interrupted uploads, multipart parts): (name, mtime)."""
        for f in self.tmp_dir.iterdir():
            yield f.name, f.stat().st_mtime

    def delete_temp(self, name: str) -> None:
        if "/" in name or name in ("", ".", ".."):
            raise ValueError(f"Invalid temp file name {name!r}")
        (self.tmp_dir / name).unlink(missing_ok=True)


#: Largest piece `open_range` yields.
READ_CHUNK = 1024 * 1024


def _iter_file(f: BinaryIO, start: int, end: int | None) -> Iterator[bytes]:
    with f:
        f.seek(max(0, start))
        left = None if end is None else max(0, end - max(0, start))
        while left is None or left > 0:
            data = f.read(READ_CHUNK if left is None else min(READ_CHUNK, left))
            if not data:
                return
            if left is not None:
                left -= len(data)
            yield data
