"""Hash-while-writing helpers."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BlobInfo:
    sha256: str
    size: int


def lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()
