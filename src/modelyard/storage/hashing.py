"""Hash-while-writing helpers."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class BlobInfo:
    sha256: str
    size: int


def git_blob_sha1_header(size: int) -> bytes:
    return f"blob {size}\0".encode()


def git_blob_sha1(data: bytes) -> str:
    h = hashlib.sha1(git_blob_sha1_header(len(data)))
    h.update(data)
    return h.hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()
