"""Content: the one answer to "where are the bytes of this file?", by the file's sha256.

A file's bytes are either a whole blob in the blob store (regular files, LFS uploads) or chunks in the Xet CAS
(what the default client uploads). Every reader of file bytes (resolve, snapshots, the dataset viewer, previews,
diffs, safetensors headers, card parsing) goes through this service: whole blob first, else Xet reconstruction.

This is about bytes only, never permissions: callers have already decided that the repo may show the file
(`Files.lfs_known` is what a repo may reference).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any, BinaryIO, cast

from modelyard.errors import BlobNotFound
from modelyard.storage import BlobStore, LocalPaths, Presigning, SeekableReader
from modelyard.xet import XetService
from modelyard.xet.errors import XetNotFound
from modelyard.xet.service import XetFile

#: Buffer of the seekable stream `open` returns for Xet-stored files.
XET_BUFFER = 256 * 1024


class Content:
    """File bytes by sha256, from the blob store or the Xet CAS (see module docstring)."""

    def __init__(self, store: BlobStore, xet: XetService | None = None) -> None:
        self.store = store
        self.xet = xet

    # --- where ------------------------------------------------------------------------------------
    def xet_hash(self, sha256: str) -> str | None:
        """The Xet file hash of content uploaded through Xet, else None."""
        return self.xet.lookup_by_sha256(sha256) if self.xet is not None else None

    def local_path(self, sha256: str) -> str | None:
        """A local file holding the whole content (for sendfile and symlinks), else None (Xet-only content, or a
        store whose blobs are not local files: `LocalPaths` is an optional capability, asked here only)."""
        return self.store.local_path(sha256) if isinstance(self.store, LocalPaths) else None

    @property
    def local_files(self) -> bool:
        """Whether blobs are local files (`local_path` answers None only for content that is not one)."""
        return isinstance(self.store, LocalPaths)

    def presigned_url(
        self, sha256: str, ttl: int, filename: str | None = None, content_type: str | None = None
    ) -> str | None:
        """Issue 17: a time-limited URL of the store's whole blob (302 downloads), None when the store cannot
        presign. The caller has checked that the blob exists and that the principal may read the file."""
        if not isinstance(self.store, Presigning):
            return None
        return self.store.presigned_get(sha256, ttl, filename, content_type)

    def has_blob(self, sha256: str) -> bool:
        """Whether the store holds the content as one whole blob (not only as Xet chunks)."""
        return self.store.exists(sha256)

    def size(self, sha256: str) -> int | None:
        """Size of the stored content, None if neither the blob store nor the Xet CAS has it."""
        try:
            return self.store.stat(sha256)
        except BlobNotFound:
            pass
        f = self._xet_file(sha256)
        return None if f is None else f.size

    def exists(self, sha256: str) -> bool:
        return self.store.exists(sha256) or self._xet_file(sha256) is not None

    # --- bytes ------------------------------------------------------------------------------------
    def open(self, sha256: str) -> BinaryIO:
        """A readable, seekable stream over the content; BlobNotFound if it is stored nowhere."""
        try:
            return self.store.open(sha256)
        except BlobNotFound:
            f = self._xet_file(sha256)
            if f is None:
                raise
        return cast(BinaryIO, io.BufferedReader(XetReader(f), XET_BUFFER))

    def read(self, sha256: str, start: int = 0, end: int | None = None) -> bytes:
        """Bytes ``[start, end)`` (end exclusive, clamped to the size); for small reads only."""
        return b"".join(self.iter_range(sha256, start, end))

    def iter_range(self, sha256: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Stream bytes ``[start, end)`` in pieces (the store's, or Xet chunks); BlobNotFound if not stored.

        The lookup happens on the call, not on the first ``next``, so a missing blob fails before a response starts.
        """
        try:
            return self.store.open_range(sha256, start, end)
        except BlobNotFound:
            f = self._xet_file(sha256)
            if f is None:
                raise
            return f.iter_bytes(start, end)

    def _xet_file(self, sha256: str) -> XetFile | None:
        xet_hash = self.xet_hash(sha256)
        if xet_hash is None or self.xet is None:
            return None
        try:
            return self.xet.open_file(xet_hash)
        except XetNotFound:  # a file row gone between the two lookups reads as absent
            return None


class XetReader(SeekableReader):
    """A seekable raw stream over a Xet-stored file: sequential reads continue one reconstruction stream; a seek
    elsewhere starts a new one at the new offset. Memory is bounded by one Xet chunk plus the caller's buffer."""

    def __init__(self, f: XetFile) -> None:
        super().__init__(f.size)
        self.f = f
        self._it: Iterator[bytes] | None = None
        self._it_pos = 0  # file offset of the first byte of `_pending`
        self._pending = b""

    def readinto(self, b: Any) -> int:
        view = memoryview(b).cast("B")
        want = min(len(view), self.f.size - self.pos)
        if want <= 0:
            return 0
        if self._it is None or not (self._it_pos <= self.pos <= self._it_pos + len(self._pending)):
            self._restart()
        skip = self.pos - self._it_pos
        if skip:
            self._pending, self._it_pos = self._pending[skip:], self.pos
        while not self._pending:
            assert self._it is not None
            piece = next(self._it, b"")
            if not piece:
                raise OSError(f"Xet file {self.f.xet_hash} ended early at byte {self.pos}")
            self._pending = piece
        n = min(want, len(self._pending))
        view[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        self._it_pos += n
        self.pos += n
        return n

    def _restart(self) -> None:
        self._drop()
        self._it = self.f.iter_bytes(self.pos, self.f.size)
        self._it_pos, self._pending = self.pos, b""

    def _drop(self) -> None:
        it, self._it = self._it, None
        close = getattr(it, "close", None)
        if close is not None:
            close()  # closes the xorb handles of an unfinished stream

    def close(self) -> None:
        self._drop()
        super().close()
