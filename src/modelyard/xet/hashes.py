"""Xet hashing: chunk hashes, the aggregated Merkle tree (xorb and file hashes), range verification hashes.

All hashes are 32 raw bytes. On the wire (URL paths, JSON) a hash is written as 64 hex characters, but *not*
byte-by-byte: each 8-byte word is read as a little-endian u64 and printed as 16 hex digits (see
:func:`hash_to_hex`). Everything here mirrors xet-core ``merklehash`` and ``metadata_shard::chunk_verification``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import blake3

HASH_LEN = 32

DATA_KEY = bytes(
    [102, 151, 245, 119, 91, 149, 80, 222, 49, 53, 203, 172, 165, 151, 24, 28,
     157, 228, 33, 16, 155, 235, 43, 88, 180, 208, 176, 75, 147, 173, 242, 41]
)  # fmt: skip
INTERNAL_NODE_KEY = bytes(
    [1, 126, 197, 199, 165, 71, 41, 150, 253, 148, 102, 102, 180, 138, 2, 230,
     93, 221, 83, 111, 55, 199, 109, 210, 248, 99, 82, 230, 74, 83, 113, 63]
)  # fmt: skip
VERIFICATION_KEY = bytes(
    [127, 24, 87, 214, 206, 86, 237, 102, 18, 127, 249, 19, 231, 165, 195, 243,
     164, 205, 38, 213, 181, 219, 73, 230, 65, 36, 152, 127, 40, 251, 148, 195]
)  # fmt: skip
ZERO_HASH = bytes(HASH_LEN)

#: Mean branching factor of the aggregated hash tree; a node is cut when ``hash % 4 == 0``.
_BRANCHING = 4
_MAX_GROUP = 2 * _BRANCHING + 1
#: A chunk is eligible for the global dedupe index when ``hash % 1024 == 0``.
GLOBAL_DEDUP_MODULUS = 1024

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class HashFormatError(ValueError):
    """A hash string is not 64 lower-case hex characters."""


def hash_to_hex(h: bytes) -> str:
    """Raw 32-byte hash -> the Xet string form (each 8-byte word reversed, then hex)."""
    if len(h) != HASH_LEN:
        raise HashFormatError(f"hash must be {HASH_LEN} bytes, got {len(h)}")
    return h[0:8][::-1].hex() + h[8:16][::-1].hex() + h[16:24][::-1].hex() + h[24:32][::-1].hex()


def hex_to_hash(s: str) -> bytes:
    """The Xet string form -> raw 32 bytes. Raises :class:`HashFormatError` on malformed input."""
    s = s.lower()
    if not _HEX64.match(s):
        raise HashFormatError(f"not a 64-hex hash: {s!r}")
    raw = bytes.fromhex(s)
    return raw[0:8][::-1] + raw[8:16][::-1] + raw[16:24][::-1] + raw[24:32][::-1]


def is_hex_hash(s: str) -> bool:
    return bool(_HEX64.match(s))


def chunk_hash(data: bytes | memoryview) -> bytes:
    return blake3.blake3(data, key=DATA_KEY).digest()


def _mod(h: bytes, m: int) -> int:
    # MerkleHash % m is computed on the last u64 word (little-endian).
    return int.from_bytes(h[24:32], "little") % m


def is_global_dedup_eligible(h: bytes) -> bool:
    return _mod(h, GLOBAL_DEDUP_MODULUS) == 0


def _merge(nodes: Sequence[tuple[bytes, int]]) -> tuple[bytes, int]:
    buf = "".join(f"{hash_to_hex(h)} : {size}\n" for h, size in nodes)
    return blake3.blake3(buf.encode(), key=INTERNAL_NODE_KEY).digest(), sum(size for _, size in nodes)


def _next_cut(nodes: Sequence[tuple[bytes, int]], start: int) -> int:
    n = len(nodes) - start
    if n <= 2:
        return n
    end = min(_MAX_GROUP, n)
    for i in range(2, end):
        if _mod(nodes[start + i][0], _BRANCHING) == 0:
            return i + 1
    return end


def aggregated_hash(nodes: Iterable[tuple[bytes, int]]) -> bytes:
    """Root of the Xet aggregated Merkle tree over ``(hash, size)`` leaves (zero hash if empty)."""
    level = list(nodes)
    if not level:
        return ZERO_HASH
    while len(level) > 1:
        out: list[tuple[bytes, int]] = []
        i = 0
        while i < len(level):
            cut = _next_cut(level, i)
            out.append(_merge(level[i : i + cut]))
            i += cut
        level = out
    return level[0][0]


def xorb_hash(chunks: Iterable[tuple[bytes, int]]) -> bytes:
    return aggregated_hash(chunks)


def file_hash(chunks: Iterable[tuple[bytes, int]]) -> bytes:
    """File hash: the aggregated hash, then a blake3 keyed hash with an all-zero key (zero hash if empty)."""
    root = aggregated_hash(chunks)
    if root == ZERO_HASH:
        return ZERO_HASH
    return blake3.blake3(root, key=ZERO_HASH).digest()


def range_verification_hash(chunk_hashes: Iterable[bytes]) -> bytes:
    """Hash that proves knowledge of a term's chunk hashes (``FileVerificationEntry.range_hash``)."""
    return blake3.blake3(b"".join(chunk_hashes), key=VERIFICATION_KEY).digest()
