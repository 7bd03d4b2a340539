"""Streamed xorb ingest (issue 10 §1): a xorb body parsed and verified chunk by chunk as it arrives, in pieces of
any size, gives exactly what parsing it whole gives; a bad or cut body is refused and leaves nothing stored."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from tests.xet.conftest import make_service

from modelyard.xet import XetFormatError
from modelyard.xet.hashes import hash_to_hex
from modelyard.xet.xorb import XorbStream, build_xorb, parse_xorb


def _xorb() -> tuple[bytes, bytes]:
    chunks = [os.urandom(random.randint(1, 20_000)) for _ in range(12)] + [
        bytes(30_000)
    ]  # lz4 and raw chunks
    return build_xorb(chunks)


def _pieces(data: bytes, seed: int) -> list[bytes]:
    rnd = random.Random(seed)
    out, pos = [], 0
    while pos < len(data):
        n = rnd.choice([1, 3, 7, 8, 9, 100, 4096, 70_000])
        out.append(data[pos : pos + n])
        pos += n
    return out


@pytest.mark.parametrize("seed", range(4))
def test_stream_in_any_pieces_equals_whole_parse(seed: int) -> None:
    h, data = _xorb()
    footer = b"XETBLOB\x01" + bytes(200)
    sunk: list[bytes] = []
    s = XorbStream(h, lambda v: sunk.append(bytes(v)))
    for piece in _pieces(data + footer, seed):
        s.feed(piece)
    meta = s.finish()
    assert meta == parse_xorb(data, h).meta
    assert b"".join(sunk) == data  # every chunk byte, the footer dropped
    assert s.received == len(data) + len(footer)


def test_stream_refuses_wrong_hash_cut_body_and_oversize() -> None:
    h, data = _xorb()
    s = XorbStream(bytes(32))
    s.feed(data)
    with pytest.raises(XetFormatError, match="hash mismatch"):
        s.finish()
    for cut in (3, len(data) - 5):
        s = XorbStream(h)
        s.feed(data[:cut])
        with pytest.raises(XetFormatError, match="truncated"):
            s.finish()
    s = XorbStream(h, limit=len(data) - 1)
    with pytest.raises(XetFormatError, match="exceeds the limit"):
        s.feed(data)


def test_ingest_publishes_only_verified_xorbs(tmp_path: Path) -> None:
    svc = make_service(tmp_path)
    h, data = _xorb()
    x = hash_to_hex(h)
    bad = svc.xorb_ingest(x)
    tampered = bytearray(data)
    tampered[-1] ^= 1
    with pytest.raises(XetFormatError):
        for piece in _pieces(bytes(tampered), 1):
            bad.write(piece)
        bad.commit()
    assert not svc.has_xorb(x)
    assert not any(svc.store.iter_temp())  # type: ignore[attr-defined]  # the temp blob went with the refusal
    ok = svc.xorb_ingest(x)
    for piece in _pieces(data, 2):
        ok.write(piece)
    assert ok.commit() is True and svc.has_xorb(x)
    again = svc.xorb_ingest(x)
    again.write(data)
    assert again.commit() is False and again.received == len(data)


def test_stream_sinks_each_piece_as_it_came_and_holds_only_a_possible_footer() -> None:
    """Large pieces reach the sink as they were fed (no copy: the blob writer can take them as they are); only the
    < 8 bytes at a chunk boundary wait, since they may start a footer, which is never sunk."""
    chunks = [os.urandom(20_000) for _ in range(10)]
    h, data = build_xorb(chunks)
    got: list[memoryview] = []
    s = XorbStream(h, got.append)
    half = len(data) // 2
    first, second = memoryview(data)[:half], memoryview(data)[half:]
    s.feed(first)
    s.feed(second)
    assert s.finish() == parse_xorb(data, h).meta
    assert [bytes(v) for v in got] == [bytes(first), bytes(second)]
    assert got[0].obj is data and got[1].obj is data  # views of the caller's buffer, not copies

    footer = b"XETBLOB\x01" + bytes(64)
    for cut in range(1, 8):  # the footer's first `cut` bytes end a piece: held, then dropped with the footer
        sunk: list[bytes] = []
        s = XorbStream(h, lambda v, sunk=sunk: sunk.append(bytes(v)))
        s.feed(data + footer[:cut])
        s.feed(footer[cut:])
        assert s.finish().hash == h and b"".join(sunk) == data
    boundary = len(build_xorb(chunks[:3])[1])  # a piece ends 1..7 bytes into the 4th chunk's header
    for cut in range(1, 8):
        sunk = []
        s = XorbStream(h, lambda v, sunk=sunk: sunk.append(bytes(v)))
        s.feed(data[: boundary + cut])
        assert b"".join(sunk) == data[:boundary]
        s.feed(data[boundary + cut :])
        assert s.finish().hash == h and b"".join(sunk) == data
