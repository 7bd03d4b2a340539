"""File throughput: /resolve download vs nginx on the same file, LFS upload vs Python sha256, server RSS.

Usage: python bench/file_bench.py [--size-mb 1000] [--reps 3] [--data-parent DIR]
Starts its own ModelYard server (and nginx, if installed) on loopback ports, prints medians and ratios.
`--data-parent /dev/shm` puts the hub's data (blobs, database) on a RAM disk: the upload then measures the hub's
own ingest path (receive, sha256, write) without the disk's write-back and fsync, which bound a durable upload.
The hub's CPU seconds per GB uploaded (utime + stime from /proc) are printed next to sha256's own.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
from _harness import RssWatcher, start_hub, start_nginx, stop, write_random


def curl(args: list[str], metric: str = "speed_download", expect_bytes: int | None = None) -> float:
    """Speed in B/s; with expect_bytes, fails unless exactly that many bytes came back with a 2xx."""
    fmt = "%{http_code} %{size_download} %{" + metric + "}"
    out = subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "-w", fmt, *args], capture_output=True, text=True, check=True
    ).stdout.split()
    code, got, speed = int(out[0]), int(out[1]), float(out[2])
    if code >= 300 or (expect_bytes is not None and got != expect_bytes):
        raise RuntimeError(f"curl {args[0]}: HTTP {code}, {got} bytes (expected {expect_bytes})")
    return speed


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, all its threads, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mb", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--data-parent", default=None, help="directory for the hub's data (default: a temp dir)")
    args = ap.parse_args()
    size = args.size_mb * 1_000_000
    work = Path(tempfile.mkdtemp(prefix="mybench-"))
    data_dir = Path(tempfile.mkdtemp(prefix="mybench-data-", dir=args.data_parent)) / "data"
    procs: list[subprocess.Popen[bytes]] = []
    try:
        blob = work / "big.bin"
        oid = write_random(blob, size)
        os.sync()

        # Python sha256 of the same file (warm page cache), the upload's physical limit on one core
        sha_speeds = []
        for _ in range(args.reps):
            t = time.perf_counter()
            with open(blob, "rb") as f:
                hashlib.file_digest(f, "sha256")
            sha_speeds.append(size / (time.perf_counter() - t))
        sha_mb = statistics.median(sha_speeds) / 1e6

        hub = start_hub(data_dir)
        procs.append(hub.proc)
        server, base, token = hub.proc, hub.url, hub.token
        auth = {"authorization": f"Bearer {token}"}
        httpx.post(
            base + "/api/repos/create", json={"name": "big", "type": "model"}, headers=auth
        ).raise_for_status()

        # upload: LFS batch -> PUT the bytes with curl (server streams to disk, hashing in one pass)
        up_speeds, up_rss, up_cpu = [], 0.0, []
        for i in range(args.reps):
            if i:  # a fresh object each time: same bytes would be deduplicated... so delete it from the store
                shutil.rmtree(data_dir / "blobs" / oid[:2], ignore_errors=True)
                httpx.post(
                    base + "/api/repos/create", json={"name": f"big{i}", "type": "model"}, headers=auth
                )
            repo = "big" if i == 0 else f"big{i}"
            r = httpx.post(
                f"{base}/bench/{repo}.git/info/lfs/objects/batch",
                headers=auth,
                json={"operation": "upload", "transfers": ["basic"], "objects": [{"oid": oid, "size": size}]},
            )
            r.raise_for_status()
            href = r.json()["objects"][0]["actions"]["upload"]["href"]
            c0 = cpu_seconds(server.pid)
            with RssWatcher(server.pid) as w:
                up_speeds.append(curl(["-T", str(blob), href], "speed_upload"))
            up_cpu.append((cpu_seconds(server.pid) - c0) / (size / 1e9))
            up_rss = max(up_rss, w.peak)
        # commit it so it can be downloaded
        lines = [
            json.dumps({"key": "header", "value": {"summary": "big"}}),
            json.dumps(
                {"key": "lfsFile", "value": {"path": "big.bin", "algo": "sha256", "oid": oid, "size": size}}
            ),
        ]
        httpx.post(
            f"{base}/api/models/bench/big/commit/main",
            headers={**auth, "content-type": "application/x-ndjson"},
            content="\n".join(lines),
        ).raise_for_status()

        dl, dl_rss = [], 0.0
        url = f"{base}/bench/big/resolve/main/big.bin"
        curl([url])  # warm
        for _ in range(args.reps):
            with RssWatcher(server.pid) as w:
                dl.append(curl([url], expect_bytes=size))
            dl_rss = max(dl_rss, w.peak)

        ng: list[float] = []
        if shutil.which("nginx"):
            ng_proc, nport = start_nginx(work, work, "/big.bin", connections=64)
            procs.append(ng_proc)
            curl([f"http://127.0.0.1:{nport}/big.bin"])
            for _ in range(args.reps):
                ng.append(curl([f"http://127.0.0.1:{nport}/big.bin"], expect_bytes=size))

        med = lambda xs: statistics.median(xs) / 1e6  # noqa: E731
        print(f"file size: {size / 1e6:.0f} MB, {args.reps} reps, medians (MB/s = 10^6 B/s)")
        print(f"download /resolve  : {med(dl):8.0f} MB/s  runs {[round(x / 1e6) for x in dl]}")
        if ng:
            print(f"download nginx     : {med(ng):8.0f} MB/s  runs {[round(x / 1e6) for x in ng]}")
            print(
                f"ratio resolve/nginx: {med(dl) / med(ng):8.2f}   (goal >= 0.8; Starlette FileResponse: 0.19)"
            )
        else:
            print("nginx not installed: apt-get install nginx for the ratio")
        print(f"upload LFS PUT     : {med(up_speeds):8.0f} MB/s  runs {[round(x / 1e6) for x in up_speeds]}")
        print(f"python sha256      : {sha_mb:8.0f} MB/s")
        print(f"ratio upload/sha256: {med(up_speeds) / sha_mb:8.2f}   (goal >= 0.7)")
        print(
            f"hub CPU per GB up  : {statistics.median(up_cpu):8.2f} s    runs {[round(x, 2) for x in up_cpu]}"
            f" (sha256 alone: {1e3 / sha_mb:.2f} s)"
        )
        print(f"server peak RSS    : upload {up_rss:.0f} MB, download {dl_rss:.0f} MB (goal < 200 MB)")
    finally:
        for p in procs:
            stop(p)
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(data_dir.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
