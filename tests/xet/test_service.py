"""XetService with synthetic xorbs and shards (no hf_xet): verification, index, reconstruction, streaming."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from tests.xet.conftest import make_service

from modelyard.xet import XetFormatError, XetNotFound, XetRangeError, XetService
from modelyard.xet.hashes import chunk_hash, file_hash, hash_to_hex, hex_to_hash, range_verification_hash
from modelyard.xet.reconstruct import plan_reconstruction
from modelyard.xet.shard import FileTerm, ShardFile, build_upload_shard, parse_shard
from modelyard.xet.xorb import XorbMeta, build_xorb, parse_xorb


@pytest.fixture
def svc(tmp_path: Path) -> XetService:
    return make_service(tmp_path)


def _xorb(svc: XetService, chunks: list[bytes]) -> XorbMeta:
    h, data = build_xorb(chunks)
    assert svc.put_xorb(hash_to_hex(h), data)
    return parse_xorb(data, h).meta


def _file(terms: list[tuple[XorbMeta, int, int]], data: bytes | None = None) -> ShardFile:
    leaves = [(m.chunk_hashes[i], m.chunk_len(i)) for m, s, e in terms for i in range(s, e)]
    return ShardFile(
        file_hash(leaves),
        [FileTerm(m.hash, m.range_unpacked_len(s, e), s, e) for m, s, e in terms],
        verification=[range_verification_hash(m.chunk_hashes[s:e]) for m, s, e in terms],
        sha256=hex_to_hash(hashlib.sha256(data).hexdigest()) if data is not None else None,
    )


def test_two_xorb_file_roundtrip_and_ranges(svc: XetService) -> None:
    c1 = [os.urandom(30_000) for _ in range(6)]
    c2 = [bytes(20_000) + os.urandom(5) for _ in range(4)]
    m1, m2 = _xorb(svc, c1), _xorb(svc, c2)
    data = b"".join(c1[2:5]) + b"".join(c2) + b"".join(c1[0:2])
    f = _file([(m1, 2, 5), (m2, 0, 4), (m1, 0, 2)], data)
    assert svc.put_shard(build_upload_shard([f], [m1, m2])) is True
    assert svc.put_shard(build_upload_shard([f], [m1, m2])) is False  # same shard again

    fh = hash_to_hex(f.file_hash)
    sha = hashlib.sha256(data).hexdigest()
    assert svc.lookup_by_sha256(sha) == fh
    assert svc.size_by_sha256(sha) == len(data)
    assert svc.sha256_of(fh) == sha
    xf = svc.open_file(fh)
    assert xf.size == len(data) and xf.read() == data
    for a, b in [
        (0, 1),
        (29_999, 30_001),
        (89_999, 170_003),
        (len(data) - 3, len(data)),
        (5, len(data) + 99),
    ]:
        assert xf.read(a, b) == data[a:b], (a, b)
    assert xf.read(10, 10) == b""

    rec = svc.index.get_file(fh)
    assert rec is not None
    plan = plan_reconstruction(rec, svc._meta, 95_000, 100_000)
    assert plan.offset_into_first_range == 5_000
    assert [(t.chunk_start, t.chunk_end) for t in plan.terms] == [(0, 1)]
    with pytest.raises(XetRangeError):
        plan_reconstruction(rec, svc._meta, len(data))

    js = svc.reconstruction(fh, "http://cas")
    assert [t["range"] for t in js["terms"]] == [  # type: ignore[index]
        {"start": 2, "end": 5},
        {"start": 0, "end": 4},
        {"start": 0, "end": 2},
    ]
    fetch = js["fetch_info"][m1.hex]  # type: ignore[index]
    assert [fi["range"] for fi in fetch] == [{"start": 0, "end": 5}]  # merged [0,2) + [2,5)
    assert fetch[0]["url_range"] == {"start": 0, "end": m1.byte_ends[4] - 1}


def test_dedup_index_answers_with_shard_siblings(svc: XetService) -> None:
    m1 = _xorb(svc, [os.urandom(10_000) for _ in range(3)])
    m2 = _xorb(svc, [os.urandom(10_000) for _ in range(3)])
    f = _file([(m1, 0, 3), (m2, 0, 3)])
    svc.put_shard(build_upload_shard([f], [m1, m2]))
    shard = svc.dedup_shard(hash_to_hex(m1.chunk_hashes[0]))  # first chunk of a file: indexed
    assert shard is not None
    assert {x.xorb_hash for x in parse_shard(shard).xorbs} == {m1.hash, m2.hash}
    assert svc.dedup_shard(hash_to_hex(m1.chunk_hashes[1])) is None


def test_shard_verification_failures(svc: XetService) -> None:
    chunks = [os.urandom(10_000) for _ in range(4)]
    m = _xorb(svc, chunks)
    good = _file([(m, 0, 4)], b"".join(chunks))

    bad_proof = _file([(m, 0, 4)])
    bad_proof.verification = [bytes(32)]
    bad_hash = _file([(m, 0, 4)])
    bad_hash.file_hash = bytes(32)
    bad_range = _file([(m, 0, 4)])
    bad_range.terms = [FileTerm(m.hash, m.unpacked_size, 0, 9)]
    bad_size = _file([(m, 0, 4)])
    bad_size.terms = [FileTerm(m.hash, 1, 0, 4)]
    bad_sha = _file([(m, 0, 4)])
    bad_sha.sha256 = bytes(32)
    no_proof = _file([(m, 0, 4)])
    no_proof.verification = None
    for f, msg in [
        (bad_proof, "range verification"),
        (bad_hash, "does not match its chunks"),
        (bad_range, "invalid chunk range"),
        (bad_size, "wrong size"),
        (bad_sha, "sha256"),
        (no_proof, "no verification"),
    ]:
        with pytest.raises(XetFormatError, match=msg):
            svc.put_shard(build_upload_shard([f], []))

    unknown = build_xorb([os.urandom(100)])
    ghost = XorbMeta(unknown[0], (chunk_hash(b"x"),), (9,), (1,))
    with pytest.raises(XetFormatError, match="not uploaded"):
        svc.put_shard(build_upload_shard([good], [ghost]))
    assert svc.lookup_by_sha256(hashlib.sha256(b"".join(chunks)).hexdigest()) is None
    assert svc.put_shard(build_upload_shard([good], [m]))


def test_put_xorb_idempotent_and_verified(svc: XetService) -> None:
    h, data = build_xorb([os.urandom(5000)])
    with pytest.raises(XetFormatError):
        svc.put_xorb(hash_to_hex(bytes(32)), data)
    assert svc.put_xorb(hash_to_hex(h), data)
    assert not svc.put_xorb(hash_to_hex(h), data)
    assert svc.stats().xorbs == 1
    with pytest.raises(XetNotFound):
        svc.open_file("0" * 64)
