"""Blob storage: a small Protocol, chosen by URL (file:// -> local filesystem)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

from modelyard.errors import BlobNotFound, ConfigError
from modelyard.storage.hashing import BlobInfo


class BlobWriter(Protocol):
    """Receives bytes, hashes them in one pass and publishes them under their sha256 on commit."""

    size: int

    def write(self, data: bytes | memoryview) -> None: ...

    def commit(self, expected_sha256: str | None = None, expected_size: int | None = None) -> BlobInfo: ...

    def abort(self) -> None: ...


class BlobStore(Protocol):
    def writer(self, max_size: int | None = None) -> BlobWriter: ...

    def open(self, sha256: str) -> BinaryIO: ...

    def stat(self, sha256: str) -> int: ...

    def exists(self, sha256: str) -> bool: ...

    def delete(self, sha256: str) -> None: ...

    def local_path(self, sha256: str) -> str | None: ...

    def put_bytes(self, data: bytes, expected_sha256: str | None = None) -> BlobInfo: ...

    def iter_blobs(self) -> Iterator[tuple[str, float]]:
        """(sha256, mtime) of every published blob."""
        ...

    def iter_temp(self) -> Iterator[tuple[Path, float]]:
        """Unpublished temp files with their mtime."""
        ...


def open_store(url: str) -> BlobStore:
    if url.startswith("file://"):
        from modelyard.storage.fs import FsBlobStore

        return FsBlobStore(url[len("file://") :])
    raise ConfigError(f"Unsupported blob store URL {url!r}: use file:///path")


__all__ = ["BlobInfo", "BlobNotFound", "BlobStore", "BlobWriter", "open_store"]
