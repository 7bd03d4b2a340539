"""Issue 5 acceptance: the default huggingface_hub client (hf_xet, no flag) uploads and downloads through Xet;
a nearly identical second file stores < 10 % new bytes; an LFS upload (HF_HUB_DISABLE_XET=1) of the same repo
still works and every path downloads the same bytes."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from _xet_client import hf_client


def run_client(hub: Any, cache: Path, xet: bool, *args: str) -> Any:
    return hf_client(hub, cache, hub.alice, xet, *args, timeout=600)


def write_random(path: Path, size: int, seed: int) -> str:
    import random

    rnd = random.Random(seed)
    h = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            chunk = rnd.randbytes(min(left, 8 << 20))
            h.update(chunk)
            f.write(chunk)
            left -= len(chunk)
    return h.hexdigest()


def sha256_file(p: Path) -> str:
    h = hashlib.sha256()
    with open(p, "rb") as f:
        while chunk := f.read(8 << 20):
            h.update(chunk)
    return h.hexdigest()


def test_xet_small_roundtrip_and_plain_http(live_server: Any, repo_name: str, tmp_path: Path) -> None:
    hub = live_server
    hub.api().create_repo(repo_name)
    folder = tmp_path / "up"
    folder.mkdir()
    digest = write_random(folder / "w.bin", 3_000_000, seed=1)
    (folder / "notes.txt").write_text("hello")
    res = run_client(hub, tmp_path / "c1", True, "upload_folder", f"alice/{repo_name}", str(folder))
    assert res["xet_disabled"] is False
    tree = {e["path"]: e for e in httpx.get(f"{hub.url}/api/models/alice/{repo_name}/tree/main").json()}
    assert len(tree["w.bin"]["xetHash"]) == 64 and tree["w.bin"]["lfs"]["oid"] == digest
    assert "xetHash" not in tree["notes.txt"]
    head = httpx.head(f"{hub.url}/alice/{repo_name}/resolve/main/w.bin")
    assert head.headers["x-xet-hash"] == tree["w.bin"]["xetHash"]
    assert head.headers["x-linked-size"] == "3000000" and head.headers["etag"] == f'"{digest}"'
    assert "xet-read-token" in head.headers["link"]
    # clients without hf_xet: plain HTTP, ranges too
    body = httpx.get(f"{hub.url}/alice/{repo_name}/resolve/main/w.bin").content
    assert hashlib.sha256(body).hexdigest() == digest
    part = httpx.get(f"{hub.url}/alice/{repo_name}/resolve/main/w.bin", headers={"range": "bytes=1000-1999"})
    assert part.status_code == 206 and part.content == body[1000:2000]
    # the token endpoints: write needs write access, read follows repo visibility
    r = httpx.get(f"{hub.url}/api/models/alice/{repo_name}/xet-write-token/main", headers=hub.auth(hub.bob))
    assert r.status_code == 403
    r = httpx.get(f"{hub.url}/api/models/alice/{repo_name}/xet-read-token/main")
    assert (
        r.status_code == 200 and r.headers["x-xet-cas-url"].endswith("/xet-cas") and r.json()["accessToken"]
    )


@pytest.mark.slow
def test_xet_300mb_dedupe_and_lfs_side_by_side(live_server: Any, repo_name: str, tmp_path: Path) -> None:
    hub = live_server
    hub.api().create_repo(repo_name)
    size = 300_000_000
    folder = tmp_path / "up"
    folder.mkdir()
    first = folder / "model.bin"
    digest = write_random(first, size, seed=7)
    stats0 = hub.services.xet.stats()
    run_client(hub, tmp_path / "c1", True, "upload_folder", f"alice/{repo_name}", str(folder))
    stats1 = hub.services.xet.stats()
    assert stats1.stored_bytes - stats0.stored_bytes >= size * 0.9  # random data: stored once, ~uncompressed

    snap = run_client(hub, tmp_path / "c2", True, "snapshot", f"alice/{repo_name}")
    assert snap["model.bin"] == digest

    # a second file that differs in one 1 MB region in the middle
    second = tmp_path / "model-v2.bin"
    with open(first, "rb") as src, open(second, "wb") as dst:
        while chunk := src.read(8 << 20):
            dst.write(chunk)
    with open(second, "r+b") as f:
        f.seek(150_000_000)
        f.write(os.urandom(1_000_000))
    digest2 = sha256_file(second)
    run_client(hub, tmp_path / "c3", True, "upload", f"alice/{repo_name}", str(second), "model-v2.bin")
    stats2 = hub.services.xet.stats()
    new_bytes = stats2.stored_bytes - stats1.stored_bytes
    assert new_bytes < 0.10 * size, f"{new_bytes} new bytes stored for a 1 MB change"

    # an older-style LFS upload of the same content into the same repo
    res = run_client(hub, tmp_path / "c4", False, "upload", f"alice/{repo_name}", str(first), "lfs-copy.bin")
    assert res["xet_disabled"] is True
    for xet in (True, False):
        cache = tmp_path / f"dl-{xet}"
        for name, want in (("model.bin", digest), ("model-v2.bin", digest2), ("lfs-copy.bin", digest)):
            got = run_client(hub, cache, xet, "download", f"alice/{repo_name}", name)
            assert got["sha256"] == want, (name, xet)
