"""Issue 10 §1: server memory must not grow with the size of an upload.

A 300 MB file goes up through Xet (the default huggingface_hub client, hf_xet) and another through LFS
(HF_HUB_DISABLE_XET=1) to a `modelyard serve` in its own process; its VmRSS is sampled every 20 ms. Xorb bodies
(up to 64 MiB each, several in flight) used to be read whole, copied and parsed in memory: +240 MB for 300 MB,
+1.2 GB for 10 GiB. Now they are parsed and written chunk by chunk as they arrive. The 10 GiB figures are
``bench/upload_bench.py --size-gb 10`` (docs/benchmarks.md).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from _serve import modelyard_serve
from _xet_client import run_hf_client

SIZE = 300_000_000
MAX_GROWTH_MB = 100  # above idle, per upload: ~40 (Xet) and ~30 (LFS) now; a Xet upload took ~225 before


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class _Peak(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop = pid, 0.0, False

    def run(self) -> None:
        while not self.stop:
            self.peak = max(self.peak, _rss_mb(self.pid))
            time.sleep(0.02)


def _random_file(path: Path, size: int) -> None:
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 8 << 20)
            f.write(os.urandom(n))
            left -= n


def _upload(url: str, token: str, cache: Path, xet: bool, path: Path, name: str) -> None:
    out = run_hf_client(url, token, cache, xet, "upload", "mem/big", str(path), name, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert f'"xet_disabled": {str(not xet).lower()}' in out.stdout


@pytest.mark.slow
def test_upload_memory_does_not_grow_with_file_size(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "MODELYARD_DATA_DIR": str(tmp_path / "data"),
        "MODELYARD_LOG_LEVEL": "warning",
    }
    mod = [sys.executable, "-m", "modelyard"]
    subprocess.run([*mod, "users", "create", "mem"], env=env, check=True, capture_output=True)
    token = subprocess.run(
        [*mod, "tokens", "create", "mem"], env=env, check=True, capture_output=True, text=True
    ).stdout.strip()
    with modelyard_serve(["--migrate"], env) as (url, server):
        httpx.post(
            url + "/api/repos/create",
            json={"name": "big", "type": "model"},
            headers={"authorization": f"Bearer {token}"},
        ).raise_for_status()
        growth: dict[str, float] = {}
        for kind in ("xet", "lfs"):
            blob = tmp_path / f"{kind}.bin"
            _random_file(blob, SIZE)
            idle = _rss_mb(server.pid)
            peak = _Peak(server.pid)
            peak.start()
            try:
                _upload(url, token, tmp_path / f"hf-{kind}", kind == "xet", blob, f"{kind}.bin")
            finally:
                peak.stop = True
                peak.join()
            growth[kind] = peak.peak - idle
            blob.unlink()
        assert all(g < MAX_GROWTH_MB for g in growth.values()), (
            f"server RSS grew by {growth} MB during {SIZE // 1_000_000} MB uploads (bound {MAX_GROWTH_MB})"
        )
