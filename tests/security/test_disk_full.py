"""Finding 9: running out of space is an expected condition, not a 500 that breaks the hub.

A real full filesystem: the hub's data_dir is a 48 MiB tmpfs (needs root to mount; CI runs as root), with
``disk_reserve_mb=8``.
- Under the reserve (the disk still has room): LFS, regular-file and Xet uploads are refused with 507
  ``InsufficientStorage`` before any byte is stored; /health says "degraded", /metrics counts the refusals.
- Disk completely full: an upload that runs into ENOSPC mid-stream answers 507 and leaves no partial file;
  reads (API, /resolve of small and LFS files, hf_hub_download) keep answering 200, because SQLite needs to
  create nothing to open a connection.
- Space freed: uploads work again, with nothing done by hand.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from huggingface_hub import hf_hub_download
from huggingface_hub.errors import HfHubHTTPError

from _transfer import transfer_mode
from _xet_client import run_hf_client
from conftest import start_server

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def small_fs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs as a real full filesystem (CI runs as root)")
    mnt = tmp_path_factory.mktemp("smallfs")
    out = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(mnt)], capture_output=True)
    if out.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {out.stderr.decode(errors='replace').strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


@pytest.fixture(scope="module")
def hub(small_fs: Path) -> Iterator[Any]:
    # in-process client calls take the LFS path; the Xet path runs in a subprocess (xet_upload)
    with transfer_mode("lfs"), start_server(small_fs / "data", disk_reserve_mb=8) as h:
        api = h.api()
        api.create_repo("alice/full")
        api.upload_file(path_or_fileobj=b"hello\n", path_in_repo="small.txt", repo_id="alice/full")
        api.upload_file(path_or_fileobj=os.urandom(MIB), path_in_repo="w.bin", repo_id="alice/full")
        yield h


def free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def fill(fs: Path, leave: int = 0) -> Path:
    """Take the filesystem's free space down to `leave` bytes (0: completely full)."""
    filler = fs / f"filler-{uuid.uuid4().hex[:6]}"
    with open(filler, "wb", buffering=0) as f:
        block = b"\0" * (256 * 1024)
        with contextlib.suppress(OSError):
            while (room := free_bytes(fs) - leave) > 0:
                f.write(block[: min(len(block), room)])
    return filler


def leftovers(hub: Any) -> list[str]:
    tmp = Path(hub.settings.data_dir) / "blobs" / ".tmp"
    return sorted(p.name for p in tmp.iterdir()) if tmp.exists() else []


def blob_exists(hub: Any, sha: str) -> bool:
    return (Path(hub.settings.data_dir) / "blobs" / sha[:2] / sha[2:4] / sha[4:]).exists()


def xet_upload(hub: Any, tmp: Path, data: bytes) -> subprocess.CompletedProcess[str]:
    local = tmp / "x.bin"
    local.write_bytes(data)
    retry_once = {"HF_XET_CLIENT_RETRY_MAX_ATTEMPTS": "1", "HF_XET_MAX_RETRY_ATTEMPTS": "1"}
    return run_hf_client(
        hub.url, hub.alice, tmp / "c", True, "upload", "alice/full", str(local), "x.bin", env_extra=retry_once
    )


def assert_507(e: pytest.ExceptionInfo[Exception]) -> None:
    """The client surfaces the 507 as an HfHubHTTPError (LFS uploads wrap it in a RuntimeError)."""
    err: BaseException | None = e.value
    while err is not None and not isinstance(err, HfHubHTTPError):
        err = err.__cause__
    assert isinstance(err, HfHubHTTPError), repr(e.value)
    r = err.response
    assert r.status_code == 507, (r.status_code, r.text[:300])
    assert r.headers.get("x-error-code") == "InsufficientStorage"
    assert "storage" in r.headers.get("x-error-message", "").lower()


def assert_reads_work(hub: Any, tmp: Path) -> None:
    api = hub.api()
    assert api.model_info("alice/full").id == "alice/full"
    assert {f for f in api.list_repo_files("alice/full")} >= {"small.txt", "w.bin"}
    r = httpx.get(f"{hub.url}/alice/full/resolve/main/small.txt")
    assert r.status_code == 200 and r.content == b"hello\n"
    assert httpx.get(f"{hub.url}/alice/full/resolve/main/w.bin").status_code == 200
    p = hf_hub_download("alice/full", "w.bin", endpoint=hub.url, token=hub.alice, cache_dir=tmp / "dl")
    assert os.path.getsize(p) == MIB


def test_under_the_reserve_uploads_are_refused_before_storing(
    hub: Any, small_fs: Path, tmp_path: Path
) -> None:
    filler = fill(small_fs, leave=5 * MIB)  # room for the file, but under the 8 MiB reserve
    try:
        before = leftovers(hub)
        data = os.urandom(MIB)
        with pytest.raises((HfHubHTTPError, RuntimeError)) as e:  # LFS (the `hub` fixture's mode)
            hub.api().upload_file(path_or_fileobj=data, path_in_repo="big.bin", repo_id="alice/full")
        assert_507(e)
        assert not blob_exists(hub, hashlib.sha256(data).hexdigest())
        with pytest.raises((HfHubHTTPError, RuntimeError)) as e:  # a small regular file, inline in the commit
            hub.api().upload_file(path_or_fileobj=b"tiny\n", path_in_repo="t.txt", repo_id="alice/full")
        assert_507(e)
        out = xet_upload(hub, tmp_path, os.urandom(MIB))
        assert out.returncode != 0 and ("507" in out.stderr or "InsufficientStorage" in out.stderr), (
            out.stderr[-1500:]
        )
        assert leftovers(hub) == before
        health = httpx.get(f"{hub.url}/health")
        assert health.status_code == 200
        body = health.json()
        assert body["status"] == "degraded" and body["database"]["ok"] is True
        assert body["disk"]["reserve_bytes"] == 8 * MIB and body["disk"]["free_bytes"] < 8 * MIB
        assert body["disk"]["uploads_accepted"] is False
        metrics = httpx.get(f"{hub.url}/metrics")
        assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
        assert f"modelyard_disk_reserve_bytes {8 * MIB}" in metrics.text
        assert "modelyard_disk_free_bytes " in metrics.text and "alice" not in metrics.text
        refused = [ln for ln in metrics.text.splitlines() if ln.startswith("modelyard_uploads_refused_total")]
        assert any('reason="reserve"' in ln and not ln.endswith(" 0") for ln in refused), refused
        assert_reads_work(hub, tmp_path)
    finally:
        filler.unlink()
    hub.api().upload_file(path_or_fileobj=b"tiny\n", path_in_repo="t.txt", repo_id="alice/full")
    assert httpx.get(f"{hub.url}/health").json()["status"] == "ok"


def test_full_disk_upload_gets_507_leaves_nothing_and_reads_keep_working(
    hub: Any, small_fs: Path, tmp_path: Path
) -> None:
    size = 12 * MIB
    data = os.urandom(size)
    oid = hashlib.sha256(data).hexdigest()
    batch = httpx.post(
        f"{hub.url}/alice/full.git/info/lfs/objects/batch",
        headers=hub.auth(),
        json={
            "operation": "upload",
            "transfers": ["basic"],
            "ref": {"name": "main"},
            "objects": [{"oid": oid, "size": size}],
        },
    )
    assert batch.status_code == 200, batch.text
    href = batch.json()["objects"][0]["actions"]["upload"]["href"]
    fillers: list[Path] = []

    def body() -> Iterator[bytes]:
        yield data[:MIB]  # the upload has started: the reserve check is behind it
        fillers.append(fill(small_fs))  # ... and now the disk is full
        for i in range(MIB, size, MIB):
            yield data[i : i + MIB]

    try:
        r = httpx.put(href, content=body(), headers={"content-length": str(size)}, timeout=60)
        assert r.status_code == 507, (r.status_code, r.text[:300])
        assert r.headers["x-error-code"] == "InsufficientStorage"
        assert leftovers(hub) == [], "the partial upload must be removed"
        assert not blob_exists(hub, oid)
        with pytest.raises(OSError) as full, open(small_fs / "probe", "wb") as f:  # really full
            f.write(b"\0" * 65536)
            f.flush()
            os.fsync(f.fileno())
        assert full.value.errno == errno.ENOSPC
        (small_fs / "probe").unlink(missing_ok=True)
        with pytest.raises((HfHubHTTPError, RuntimeError)) as e:
            hub.api().upload_file(
                path_or_fileobj=os.urandom(MIB), path_in_repo="more.bin", repo_id="alice/full"
            )
        assert_507(e)
        out = xet_upload(hub, tmp_path, os.urandom(MIB))
        assert out.returncode != 0 and ("507" in out.stderr or "InsufficientStorage" in out.stderr), (
            out.stderr[-1500:]
        )
        assert leftovers(hub) == []
        for _ in range(3):  # every read opens a fresh database connection
            assert_reads_work(hub, tmp_path)
        health = httpx.get(f"{hub.url}/health").json()
        assert health["status"] == "degraded" and health["disk"]["free_bytes"] < MIB
    finally:
        for f in fillers:
            f.unlink()
    info = hub.api().upload_file(path_or_fileobj=data, path_in_repo="after.bin", repo_id="alice/full")
    assert info.oid
    assert httpx.get(f"{hub.url}/alice/full/resolve/main/after.bin").content == data
    assert httpx.get(f"{hub.url}/health").json()["status"] == "ok"
