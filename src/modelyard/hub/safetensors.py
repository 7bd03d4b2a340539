"""Parameter counts from safetensors headers (8-byte little-endian length, then a JSON header).

Blobs are content-addressed, so a header parsed once is cached by sha256 for the life of the process.
"""

from __future__ import annotations

import math
import struct
import threading
from collections import OrderedDict
from typing import Any

from modelyard import jsonlimits
from modelyard.db import CacheMiss, in_cache_only
from modelyard.errors import BlobNotFound, HubError
from modelyard.hub.content import Content
from modelyard.hub.revisions import FileEntry

MAX_HEADER = 100 * 1024 * 1024
_cache: OrderedDict[str, dict[str, int] | None] = OrderedDict()
_lock = threading.Lock()
_CACHE_SIZE = 4096


def header_counts(content: Content, sha256: str) -> dict[str, int] | None:
    """{dtype: number of parameters} of one safetensors blob; None if it is not a valid safetensors file."""
    with _lock:
        if sha256 in _cache:
            _cache.move_to_end(sha256)
            return _cache[sha256]
    if in_cache_only():  # file reads belong in a thread, not on the event loop
        raise CacheMiss
    try:
        counts = _read(content, sha256)
    except BlobNotFound:  # not stored (yet): no counts, and nothing cached
        return None
    with _lock:
        _cache[sha256] = counts
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return counts


def _read(content: Content, sha256: str) -> dict[str, int] | None:
    try:
        raw_len = content.read(sha256, 0, 8)
        if len(raw_len) != 8:
            return None
        (n,) = struct.unpack("<Q", raw_len)
        if n > MAX_HEADER:
            return None
        header = jsonlimits.loads(
            content.read(sha256, 8, 8 + n), max_bytes=MAX_HEADER, what="safetensors header"
        )
    except BlobNotFound:
        raise
    except (
        OSError,
        ValueError,
        HubError,
    ):  # unreadable or malformed (too deep, not JSON): no parameter counts
        return None
    if not isinstance(header, dict):
        return None
    counts: dict[str, int] = {}
    for name, t in header.items():
        if name == "__metadata__" or not isinstance(t, dict):
            continue
        dtype, shape = t.get("dtype"), t.get("shape")
        if not isinstance(dtype, str) or not isinstance(shape, list):
            return None
        counts[dtype] = counts.get(dtype, 0) + math.prod(int(x) for x in shape)
    return counts


def repo_parameters(content: Content, files: dict[str, FileEntry]) -> dict[str, Any] | None:
    """`{"parameters": {"F32": n, ...}, "total": n}` summed over every *.safetensors file; None if there are none."""
    total: dict[str, int] = {}
    found = False
    for path, e in files.items():
        if not path.endswith(".safetensors"):
            continue
        counts = header_counts(content, e.sha256)
        if counts is None:
            continue
        found = True
        for dtype, n in counts.items():
            total[dtype] = total.get(dtype, 0) + n
    if not found:
        return None
    return {"parameters": total, "total": sum(total.values())}
