"""Parameter counts from safetensors headers (8-byte little-endian length, then a JSON header).

Blobs are content-addressed, so a header parsed once is cached by sha256 for the life of the process.
"""

from __future__ import annotations

import json
import math
import struct
import threading
from collections import OrderedDict
from typing import Any

from modelyard.hub.revisions import FileEntry
from modelyard.storage import BlobStore

MAX_HEADER = 100 * 1024 * 1024
_cache: OrderedDict[str, dict[str, int] | None] = OrderedDict()
_lock = threading.Lock()
_CACHE_SIZE = 4096


def header_counts(store: BlobStore, sha256: str) -> dict[str, int] | None:
    """{dtype: number of parameters} of one safetensors blob; None if it is not a valid safetensors file."""
    with _lock:
        if sha256 in _cache:
            _cache.move_to_end(sha256)
            return _cache[sha256]
    counts = _read(store, sha256)
    with _lock:
        _cache[sha256] = counts
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return counts


def _read(store: BlobStore, sha256: str) -> dict[str, int] | None:
    try:
        with store.open(sha256) as f:
            raw_len = f.read(8)
            if len(raw_len) != 8:
                return None
            (n,) = struct.unpack("<Q", raw_len)
            if n > MAX_HEADER:
                return None
            header = json.loads(f.read(n))
    except (OSError, ValueError):
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


def repo_parameters(store: BlobStore, files: dict[str, FileEntry]) -> dict[str, Any] | None:
    """`{"parameters": {"F32": n, ...}, "total": n}` summed over every *.safetensors file; None if there are none."""
    total: dict[str, int] = {}
    found = False
    for path, e in files.items():
        if not path.endswith(".safetensors"):
            continue
        counts = header_counts(store, e.sha256)
        if counts is None:
            continue
        found = True
        for dtype, n in counts.items():
            total[dtype] = total.get(dtype, 0) + n
    if not found:
        return None
    return {"parameters": total, "total": sum(total.values())}
