"""Local-filesystem blob store: sha256 fan-out ab/cd/<rest>; tmp file + fsync + os.replace."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from modelyard.errors import BadChecksum, BlobNotFound, TooLarge
from modelyard.storage.hashing import BlobInfo

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_FLUSH_AT = 4 * 1024 * 1024


class FsBlobWriter:
    def __init__(self, store: FsBlobStore, max_size: int | None) -> None:
        self._store = store
        self._max = max_size
        fd, name = tempfile.mkstemp(dir=store.tmp_dir, prefix="up-")
        self._f = os.fdopen(fd, "wb", buffering=0)
        self._tmp = name
        self._h = hashlib.sha256()
        self._buf = bytearray()
        self.size = 0
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
        self._h.update(data)
        view = memoryview(data)
        while view:
            written = self._f.write(view)
            view = view[written or 0 :]

    def commit(self, expected_sha256: str | None = None, expected_size: int | None = None) -> BlobInfo:
        self._flush()
        digest = self._h.hexdigest()
        try:
            if expected_size is not None and self.size != expected_size:
                raise BadChecksum(f"Size mismatch: declared {expected_size} bytes, received {self.size}")
            if expected_sha256 is not None and digest != expected_sha256.lower():
                raise BadChecksum(
                    f"sha256 mismatch: declared {expected_sha256}, received content hashes to {digest}"
                )
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
    def __init__(self, root: str) -> None:
        self.root = Path(root).resolve()
        self.tmp_dir = self.root / ".tmp"
        self.tmp_dir.mkdir(parents=True, exist_ok=True)

    def _path(self, sha256: str) -> Path:
        if not _HEX64.match(sha256):
            raise BlobNotFound(f"Invalid blob key {sha256!r}")
        return self.root / sha256[:2] / sha256[2:4] / sha256[4:]

    def writer(self, max_size: int | None = None) -> FsBlobWriter:
        return FsBlobWriter(self, max_size)

    def put_bytes(self, data: bytes, expected_sha256: str | None = None) -> BlobInfo:
        w = self.writer()
        w.write(data)
        return w.commit(expected_sha256, len(data))

    def open(self, sha256: str) -> BinaryIO:
        try:
            return open(self._path(sha256), "rb")
        except FileNotFoundError:
            raise BlobNotFound(f"Blob {sha256} not found") from None

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

    def iter_temp(self) -> Iterator[tuple[Path, float]]:
        """Unpublished temp files (interrupted uploads, multipart parts) with their mtime."""
        for f in self.tmp_dir.iterdir():
            yield f, f.stat().st_mtime
