"""Blob storage: a small Protocol any backend can implement, chosen by URL (file:// -> local filesystem).

`BlobStore` is what every backend can do, an object store as well as a local disk: put a stream (`writer`, hashed
on the way in and published under its sha256), open a stream or a byte range, exists, stat, delete. Anything more
is an optional capability, a Protocol of its own that callers test for in one place:

- `LocalPaths`: the blob is a local file (sendfile, symlinks); only `hub/content.py` asks.
- `Sweepable`: list blobs and abandoned temporary uploads (garbage collection, `hub/gc.py`).
- `Capacity`: free space and a reserve that uploads may not eat into (507s, /health, /metrics); without it a
  backend has no space limit the hub can see (`check_space` passes, `disk_space` is None).
- `Presigning` (issue 17): a URL the client can GET the blob from directly (302 downloads, `blob_redirect`).
- `TempObjects` (issue 17): named temporary objects every replica sees (LFS multipart parts on an object store).

Backends: ``file:///path`` (storage/fs.py) and ``s3://bucket/prefix`` (storage/s3.py, boto3; issue 17).

tests/contract/test_blobstore.py is the contract: one suite every backend runs.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol, runtime_checkable

from modelyard.errors import BlobNotFound, ConfigError
from modelyard.storage.hashing import BlobInfo


@dataclass(frozen=True)
class S3Options:
    """Connection settings of an ``s3://`` store (the ``s3_*`` settings); empty strings leave boto3's defaults
    (its credential chain, AWS_REGION, AWS_ENDPOINT_URL)."""

    endpoint_url: str = ""
    region: str = ""
    access_key_id: str = ""
    secret_access_key: str = field(default="", repr=False)
    addressing_style: str = "auto"
    public_endpoint_url: str = ""  # the endpoint in presigned URLs (what clients reach); empty: endpoint_url

    @classmethod
    def of(cls, settings: object) -> S3Options:
        """The ``s3_*`` fields of a `modelyard.config.Settings` (read by name: storage does not import config)."""
        return cls(
            str(getattr(settings, "s3_endpoint_url", "") or ""),
            str(getattr(settings, "s3_region", "") or ""),
            str(getattr(settings, "s3_access_key_id", "") or ""),
            str(getattr(settings, "s3_secret_access_key", "") or ""),
            str(getattr(settings, "s3_addressing_style", "") or "auto"),
            str(getattr(settings, "s3_public_endpoint_url", "") or ""),
        )


class SeekableReader(io.RawIOBase):
    """A read-only raw stream of known `size` with a position (`pos`): seek/tell for readers that fetch the bytes
    at `pos` in `readinto` (a ranged GET, a Xet reconstruction), for the zip/parquet/safetensors readers."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self.pos + offset
        elif whence == io.SEEK_END:
            pos = self.size + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if pos < 0:
            raise OSError("negative seek position")
        self.pos = pos
        return pos


@dataclass(frozen=True)
class DiskSpace:
    """Free and total bytes of the filesystem holding the store, and the reserve uploads may not eat into."""

    free: int
    total: int
    reserve: int


class BlobWriter(Protocol):
    """Receives bytes, hashes them in one pass and publishes them under their sha256 on commit."""

    size: int

    def write(self, data: bytes | memoryview) -> None: ...

    def commit(self, expected_sha256: str | None = None, expected_size: int | None = None) -> BlobInfo:
        """Publish (BadChecksum, nothing stored, on a size or sha256 mismatch); the same bytes twice store once."""
        ...

    def abort(self) -> None:
        """Drop what was written; nothing is published. Safe to call twice or after commit."""
        ...


class BlobStore(Protocol):
    """Content-addressed blobs, keyed by lowercase hex sha256. A malformed key reads as absent (BlobNotFound)."""

    def writer(self, max_size: int | None = None, expected_size: int | None = None) -> BlobWriter:
        """A writer for one upload (TooLarge past `max_size`); a backend with `Capacity` may refuse it (507)."""
        ...

    def open(self, sha256: str) -> BinaryIO:
        """A readable, seekable stream over the blob; BlobNotFound if absent."""
        ...

    def open_range(self, sha256: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Bytes ``[start, end)`` (end exclusive, clamped to the size) in pieces; BlobNotFound on the call itself,
        not on the first ``next``, so that a missing blob fails before a response starts."""
        ...

    def exists(self, sha256: str) -> bool: ...

    def stat(self, sha256: str) -> int:
        """Size in bytes; BlobNotFound if absent."""
        ...

    def delete(self, sha256: str) -> None:
        """Remove the blob; BlobNotFound if absent."""
        ...


@runtime_checkable
class LocalPaths(Protocol):
    """Optional: blobs are local files."""

    def local_path(self, sha256: str) -> str | None:
        """The local file holding the blob, None if absent."""
        ...


@runtime_checkable
class Sweepable(Protocol):
    """Optional: the store can list what garbage collection looks at."""

    def iter_blobs(self) -> Iterator[tuple[str, float]]:
        """(sha256, mtime) of every published blob."""
        ...

    def iter_temp(self) -> Iterator[tuple[str, float]]:
        """(name, mtime) of unpublished temporary uploads (interrupted uploads, multipart parts)."""
        ...

    def delete_temp(self, name: str) -> None:
        """Remove one temporary upload named by `iter_temp`; gone already is fine."""
        ...


@runtime_checkable
class Presigning(Protocol):
    """Optional (issue 17): the store hands out time-limited URLs of one blob that clients fetch directly."""

    def presigned_get(
        self, sha256: str, ttl: int, filename: str | None = None, content_type: str | None = None
    ) -> str:
        """A GET URL of this blob only, valid `ttl` seconds; ``Content-Disposition: attachment`` names
        `filename`. BlobNotFound for a malformed key (it does not check that the blob exists)."""
        ...


@runtime_checkable
class TempObjects(Protocol):
    """Optional (issue 17): named temporary objects shared by every replica (LFS multipart parts). They are
    listed by `Sweepable.iter_temp` and removed by `Sweepable.delete_temp`."""

    def temp_writer(self, name: str, max_size: int | None = None) -> BlobWriter:
        """A writer whose ``commit`` stores the bytes under temp `name` (replacing it), not as a blob."""
        ...

    def open_temp(self, name: str) -> BinaryIO:
        """A readable stream over temp `name`; BlobNotFound if absent."""
        ...

    def temp_size(self, name: str) -> int | None:
        """Size of temp `name`, None if absent."""
        ...

    def concat_temp(
        self, names: list[str], expected_sha256: str | None = None, expected_size: int | None = None
    ) -> BlobInfo:
        """Publish the temp objects `names`, in order, as one blob (BadChecksum, nothing published, on a size
        or sha256 mismatch; BlobNotFound if one is missing). The temp objects stay (`delete_temp` removes them)."""
        ...


@runtime_checkable
class Capacity(Protocol):
    """Optional: a store with finite space and a reserve that uploads may not eat into."""

    refused: dict[str, int]  # uploads refused for want of space: {"reserve": n, "full": n}

    def space(self) -> DiskSpace: ...

    def check_space(self, incoming: int = 0) -> None:
        """InsufficientStorage (507) unless `incoming` more bytes leave the reserve free."""
        ...


def put_bytes(store: BlobStore, data: bytes, expected_sha256: str | None = None) -> BlobInfo:
    """Store a small in-memory blob through the store's writer."""
    w = store.writer(expected_size=len(data))
    try:
        w.write(data)
        return w.commit(expected_sha256, len(data))
    finally:
        w.abort()  # a no-op after a commit


def check_space(store: BlobStore, incoming: int = 0) -> None:
    """InsufficientStorage unless `incoming` more bytes fit; a store without `Capacity` always has room."""
    if isinstance(store, Capacity):
        store.check_space(incoming)


def disk_space(store: BlobStore) -> DiskSpace | None:
    """Free space of a store with `Capacity`, else None."""
    return store.space() if isinstance(store, Capacity) else None


def count_refused(store: BlobStore, reason: str) -> None:
    """Count an upload refused for want of space ("reserve" or "full"), for /metrics."""
    if isinstance(store, Capacity):
        store.refused[reason] = store.refused.get(reason, 0) + 1


def refused_counts(store: BlobStore) -> dict[str, int]:
    return dict(store.refused) if isinstance(store, Capacity) else {}


def open_store(url: str, reserve_bytes: int = 0, s3: S3Options | None = None) -> BlobStore:
    """The store of `url`: ``file:///path`` (`reserve_bytes` kept free) or ``s3://bucket/prefix`` (`s3`: the
    connection settings, boto3's defaults when None)."""
    if url.startswith("file://"):
        from modelyard.storage.fs import FsBlobStore

        return FsBlobStore(url[len("file://") :], reserve_bytes)
    if url.startswith("s3://"):
        from modelyard.storage.s3 import S3BlobStore

        return S3BlobStore(url, s3)
    raise ConfigError(f"Unsupported blob store URL {url!r}: use file:///path or s3://bucket/prefix")


__all__ = [
    "BlobInfo",
    "BlobNotFound",
    "BlobStore",
    "BlobWriter",
    "Capacity",
    "DiskSpace",
    "LocalPaths",
    "Presigning",
    "S3Options",
    "SeekableReader",
    "Sweepable",
    "TempObjects",
    "check_space",
    "count_refused",
    "disk_space",
    "open_store",
    "put_bytes",
    "refused_counts",
]
