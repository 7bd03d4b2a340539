"""End to end with the real hf_xet client: upload, download byte-identical, dedupe across files."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from tests.xet.conftest import LiveCas

pytest.importorskip("hf_xet")

MB = 1024 * 1024


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_upload_then_download_roundtrip(live_cas: LiveCas, tmp_path: Path) -> None:
    data = os.urandom(12 * MB) + bytes(3 * MB) + os.urandom(MB // 3)  # random + compressible tail
    src = _write(tmp_path / "model.bin", data)
    res = live_cas.upload(src)
    (info,) = res["files"]  # type: ignore[misc]
    assert info["sha256"] == hashlib.sha256(data).hexdigest()
    assert info["size"] == len(data)

    svc = live_cas.svc
    assert svc.lookup_by_sha256(info["sha256"]) == info["hash"]
    assert svc.sha256_of(info["hash"]) == info["sha256"]
    assert svc.file_size(info["hash"]) == len(data)
    f = svc.open_file(info["hash"])
    assert hashlib.sha256(f.read()).hexdigest() == info["sha256"]
    assert f.read(5 * MB + 7, 9 * MB + 3) == data[5 * MB + 7 : 9 * MB + 3]

    dest = tmp_path / "out.bin"
    live_cas.download(info["hash"], len(data), dest, home="other-client")
    assert dest.read_bytes() == data


def test_dedupe_second_file_one_mb_changed(live_cas: LiveCas, tmp_path: Path) -> None:
    base = bytearray(os.urandom(40 * MB))
    first = _write(tmp_path / "a.bin", bytes(base))
    live_cas.upload(first, home="c1")
    before = live_cas.svc.stats().stored_bytes

    base[17 * MB : 18 * MB] = os.urandom(MB)
    second = _write(tmp_path / "b.bin", bytes(base))
    res = live_cas.upload(second, home="c2")  # fresh client cache: dedupe must come from the server
    new_bytes = live_cas.svc.stats().stored_bytes - before
    ratio = new_bytes / len(base)
    assert ratio < 0.10, f"stored {new_bytes} new bytes for a 1 MB change ({ratio:.1%})"
    assert res["metrics"]["deduped_bytes_by_global_dedup"] > 0  # type: ignore[index]

    (info,) = res["files"]  # type: ignore[misc]
    dest = tmp_path / "b.out"
    live_cas.download(info["hash"], len(base), dest, home="c3")
    assert dest.read_bytes() == bytes(base)


@pytest.mark.slow
def test_300mb_roundtrip_and_dedupe(tmp_path: Path) -> None:
    from bench.xet_dedupe import main as bench_main  # the bench asserts byte-identity and < 10 % new bytes

    assert bench_main(["--size-mb", "300", "--region-mb", "1", "--workdir", str(tmp_path / "bench")]) == 0
