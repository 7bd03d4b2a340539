"""Hash-while-writing helpers."""

from __future__ import annotations

from dataclasses import dataclass

from modelyard.errors import BadChecksum


@dataclass(frozen=True)
class BlobInfo:
    sha256: str
    size: int


def lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def check_declared(digest: str, size: int, expected_sha256: str | None, expected_size: int | None) -> None:
    """BadChecksum unless what a writer received matches what the uploader declared (every backend's commit)."""
    if expected_size is not None and size != expected_size:
        raise BadChecksum(f"Size mismatch: declared {expected_size} bytes, received {size}")
    if expected_sha256 is not None and digest != expected_sha256.lower():
        raise BadChecksum(f"sha256 mismatch: declared {expected_sha256}, received content hashes to {digest}")
