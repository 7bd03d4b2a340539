"""Pure format code: hashes, compression, xorb and shard (de)serialization."""

from __future__ import annotations

import hashlib
import os

import pytest

from modelyard.xet.compression import CompressionScheme, bg4_group, bg4_regroup, decompress_chunk
from modelyard.xet.errors import XetFormatError
from modelyard.xet.hashes import (
    chunk_hash,
    file_hash,
    hash_to_hex,
    hex_to_hash,
    is_global_dedup_eligible,
    xorb_hash,
)
from modelyard.xet.shard import (
    FileTerm,
    ShardFile,
    build_dedup_shard,
    build_upload_shard,
    parse_shard,
)
from modelyard.xet.xorb import build_xorb, iter_chunk_payloads, parse_xorb


def test_hash_string_form_reverses_each_word() -> None:
    raw = bytes(range(32))
    assert hash_to_hex(raw) == "07060504030201000f0e0d0c0b0a090817161514131211101f1e1d1c1b1a1918"
    assert hex_to_hash(hash_to_hex(raw)) == raw
    with pytest.raises(ValueError):
        hex_to_hash("xyz")


def test_single_chunk_file_hash_matches_hf_xet() -> None:
    hf_xet = pytest.importorskip("hf_xet")
    data = os.urandom(5000)  # below the minimum chunk size: exactly one chunk
    import tempfile

    with tempfile.NamedTemporaryFile() as f:
        f.write(data)
        f.flush()
        (info,) = hf_xet.hash_files([f.name])
    assert info.hash == hash_to_hex(file_hash([(chunk_hash(data), len(data))]))


def test_empty_file_hash_is_zero() -> None:
    assert file_hash([]) == bytes(32)


def test_global_dedup_eligibility_uses_last_word() -> None:
    h = bytearray(32)
    assert is_global_dedup_eligible(bytes(h))
    h[24] = 1
    assert not is_global_dedup_eligible(bytes(h))


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 5, 1027])
def test_bg4_regroup_inverts_grouping(n: int) -> None:
    data = os.urandom(n)
    assert bg4_regroup(bg4_group(data)) == data


@pytest.mark.parametrize("scheme", list(CompressionScheme))
def test_xorb_roundtrip_all_schemes(scheme: CompressionScheme) -> None:
    chunks = [bytes(1000) + os.urandom(100), os.urandom(70_000), b"abc" * 20_000]
    h, data = build_xorb(chunks, scheme)
    parsed = parse_xorb(data, h)
    assert parsed.meta.hash == h
    assert parsed.meta.num_chunks == 3
    assert parsed.meta.unpacked_size == sum(map(len, chunks))
    assert list(iter_chunk_payloads(parsed.chunk_section)) == chunks
    assert parsed.meta.chunk_hashes == tuple(chunk_hash(c) for c in chunks)


def test_xorb_hash_mismatch_and_corruption_rejected() -> None:
    chunks = [os.urandom(20_000) for _ in range(20)]
    h, data = build_xorb(chunks, CompressionScheme.NONE)
    with pytest.raises(XetFormatError, match="mismatch"):
        parse_xorb(data, bytes(32))
    bad = bytearray(data)
    bad[100] ^= 1
    with pytest.raises(XetFormatError):
        parse_xorb(bytes(bad), h)
    with pytest.raises(XetFormatError):
        parse_xorb(data[:-5], h)


def test_xorb_footer_is_ignored() -> None:
    chunks = [os.urandom(10_000)]
    h, data = build_xorb(chunks)
    parsed = parse_xorb(data + b"XETBLOB\x01" + bytes(100), h)
    assert bytes(parsed.chunk_section) == data


def test_multilevel_merkle_tree_is_deterministic() -> None:
    leaves = [(hashlib.sha256(str(i).encode()).digest(), 1000 + i) for i in range(300)]
    assert xorb_hash(leaves) == xorb_hash(list(leaves))
    assert xorb_hash(leaves) != xorb_hash(leaves[:-1])


def test_decompress_rejects_wrong_length() -> None:
    with pytest.raises(XetFormatError):
        decompress_chunk(0, b"abc", 4)
    with pytest.raises(XetFormatError):
        decompress_chunk(9, b"abc", 3)
    with pytest.raises(XetFormatError):
        decompress_chunk(1, b"not lz4", 7)


def test_shard_roundtrip_and_dedup_shard() -> None:
    chunks = [os.urandom(9000) for _ in range(5)]
    h, data = build_xorb(chunks)
    meta = parse_xorb(data, h).meta
    f = ShardFile(
        b"\x01" * 32,
        [FileTerm(h, meta.range_unpacked_len(1, 4), 1, 4)],
        verification=[b"\x02" * 32],
        sha256=b"\x03" * 32,
    )
    shard = parse_shard(build_upload_shard([f], [meta]))
    (pf,) = shard.files
    assert pf.file_hash == f.file_hash and pf.terms == f.terms
    assert pf.verification == f.verification and pf.sha256 == f.sha256
    (px,) = shard.xorbs
    assert [c.hash for c in px.chunks] == list(meta.chunk_hashes)

    dedup = parse_shard(build_dedup_shard([(meta, len(data))], key=b"\x07" * 32))
    assert dedup.files == []
    assert dedup.xorbs[0].xorb_hash == h and dedup.xorbs[0].num_bytes_on_disk == len(data)


def test_shard_garbage_rejected() -> None:
    with pytest.raises(XetFormatError):
        parse_shard(b"nope" * 20)
    with pytest.raises(XetFormatError):
        parse_shard(build_upload_shard([], [])[:60])
