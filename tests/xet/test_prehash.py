"""The background sha256 of an upload's xorbs (xet/prehash.py): the shard check starts from it only where the
file's terms are exactly the xorbs it hashed, whole and in that order, so the sha256 a file is published under is
its content's whatever order the client announced or sent xorbs in."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest
from tests.xet.conftest import make_service

from modelyard.xet import XetFormatError, XetService
from modelyard.xet.auth import Claims
from modelyard.xet.hashes import file_hash, hash_to_hex, hex_to_hash, range_verification_hash
from modelyard.xet.prehash import PrefixHasher
from modelyard.xet.shard import FileTerm, ShardFile, build_upload_shard
from modelyard.xet.xorb import XorbMeta, build_xorb, parse_xorb

CLAIMS = Claims("model/ns/repo", "write", int(time.time()) + 3600, repo_id=1, issued_at=1)


@pytest.fixture
def svc(tmp_path: Path) -> XetService:
    s = make_service(tmp_path)
    s.prehash = PrefixHasher(s._meta, s._open_xorb, idle=False)  # a busy test machine must not starve it
    return s


def _upload(svc: XetService, chunks: list[bytes], claims: Claims | None = CLAIMS) -> XorbMeta:
    h, data = build_xorb(chunks)
    x = hash_to_hex(h)
    if claims is not None:
        svc.announce_xorb(claims, x)
    ingest = svc.xorb_ingest(x)
    ingest.write(data)
    assert ingest.commit()
    return parse_xorb(data, h).meta


def _file(terms: list[tuple[XorbMeta, int, int]], sha256: str | None) -> ShardFile:
    leaves = [(m.chunk_hashes[i], m.chunk_len(i)) for m, s, e in terms for i in range(s, e)]
    return ShardFile(
        file_hash(leaves),
        [FileTerm(m.hash, m.range_unpacked_len(s, e), s, e) for m, s, e in terms],
        verification=[range_verification_hash(m.chunk_hashes[s:e]) for m, s, e in terms],
        sha256=hex_to_hash(sha256) if sha256 is not None else None,
    )


def _hashed(svc: XetService, n: int) -> None:
    """Wait until the session's chain has hashed `n` xorbs."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        chain = svc.prehash._chains.get(CLAIMS)
        if chain is not None and len(chain.states) >= n:
            return
        time.sleep(0.01)
    raise AssertionError("the background hasher did not get there")


def test_file_of_whole_announced_xorbs_starts_from_the_chain(svc: XetService) -> None:
    parts = [[os.urandom(9_000) for _ in range(5)] for _ in range(3)]
    metas = [_upload(svc, p) for p in parts]
    _hashed(svc, 3)
    data = b"".join(b"".join(p) for p in parts)
    f = _file([(m, 0, m.num_chunks) for m in metas], hashlib.sha256(data).hexdigest())
    prefix = svc.prehash.take(CLAIMS)
    assert prefix is not None and prefix.start(f.terms)[0] == 3
    assert svc.put_shard(build_upload_shard([f], metas), CLAIMS)
    assert svc.sha256_of(hash_to_hex(f.file_hash)) == hashlib.sha256(data).hexdigest()
    assert CLAIMS not in svc.prehash._chains  # a shard ends its session's chain


@pytest.mark.parametrize("layout", ["reordered", "partial", "other-start", "lying"])
def test_chain_never_gives_a_file_another_sha256(svc: XetService, layout: str) -> None:
    parts = [[os.urandom(7_000) for _ in range(4)] for _ in range(3)]
    metas = [_upload(svc, p) for p in parts]
    _hashed(svc, 3)
    if layout == "reordered":  # xorbs announced 0, 1, 2; the file is 1, 0, 2
        terms = [(metas[1], 0, 4), (metas[0], 0, 4), (metas[2], 0, 4)]
        data = b"".join(parts[1]) + b"".join(parts[0]) + b"".join(parts[2])
    elif layout == "partial":  # the first xorb only in part: nothing of the chain fits
        terms = [(metas[0], 0, 3), (metas[1], 0, 4)]
        data = b"".join(parts[0][:3]) + b"".join(parts[1])
    elif layout == "other-start":  # starts inside the chain, not at its start
        terms = [(metas[1], 0, 4), (metas[2], 0, 4)]
        data = b"".join(parts[1]) + b"".join(parts[2])
    else:  # the chain fits, the declared sha256 is another file's: still refused
        terms = [(m, 0, 4) for m in metas]
        data = b"tampered"
    f = _file(terms, hashlib.sha256(data).hexdigest())
    shard = build_upload_shard([f], metas)
    if layout == "lying":
        with pytest.raises(XetFormatError, match="declared sha256"):
            svc.put_shard(shard, CLAIMS)
        return
    assert svc.put_shard(shard, CLAIMS)
    assert svc.sha256_of(hash_to_hex(f.file_hash)) == hashlib.sha256(data).hexdigest()


def test_chains_are_per_session_and_bounded(svc: XetService) -> None:
    other = Claims("model/ns/other", "write", CLAIMS.exp, repo_id=2, issued_at=1)
    m = _upload(svc, [os.urandom(5_000)], claims=other)
    _upload(svc, [os.urandom(5_000)])
    _hashed(svc, 1)
    mine = svc.prehash.take(CLAIMS)
    assert mine is not None and m.hash not in mine.order  # another token's xorbs are not in this chain
    assert svc.prehash.take(CLAIMS) is None  # taken once
    for i in range(20):
        svc.announce_xorb(
            Claims(f"model/ns/r{i}", "write", CLAIMS.exp, repo_id=10 + i), hash_to_hex(os.urandom(32))
        )
    assert len(svc.prehash._chains) <= 8
