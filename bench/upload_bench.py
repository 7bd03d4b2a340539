"""Upload and download throughput with server memory: LFS PUT vs sha256, Xet upload/download through hf_xet.

Usage: python bench/upload_bench.py [--size-gb 1] [--skip lfs,xet-up,xet-down]
Starts its own ModelYard server (`modelyard serve`, SQLite + local disk) on a loopback port, writes one random
file of the given size (GB = 10^9 bytes; `--size-gb 10` runs the 10 GiB-class case), then:
  1. Python sha256 of the file (warm page cache): the one-core physical limit of any verified upload;
  2. LFS: batch, then `PUT` the bytes with curl (the server streams to disk, hashing in the same pass);
  3. LFS through huggingface_hub (HF_HUB_DISABLE_XET=1, `upload_file`): what a user of the LFS path sees;
  4. Xet upload through the default huggingface_hub client (hf_xet) in a subprocess, `upload_file`;
  5. Xet download through hf_xet (`hf_hub_download`) in a subprocess.
The LFS and Xet files differ (the first MB is rewritten between them), so nothing is deduplicated across paths.
Samples the server's VmRSS every 50 ms and prints the peak of each phase, and the CPU seconds per GB the server
(/proc/<pid>/stat utime+stime) and the client process (its rusage) used in it. Client-side times include the
client's own work (hashing, chunking); MB/s = 10^6 B/s, MiB/s = 2^20 B/s. BENCH_TIMELINE=1 also prints the
server's CPU use per second during the Xet upload (where the time goes: xorbs arriving, then the shard).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from _harness import Hub, RssWatcher, rss_mb, start_hub, stop, write_random

CLIENT = str(Path(__file__).resolve().parents[1] / "tests" / "e2e" / "_hf_client.py")


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int, tid: int | None = None) -> float:
    """utime + stime of a process (all its threads), or of one of its threads, in seconds."""
    path = f"/proc/{pid}/stat" if tid is None else f"/proc/{pid}/task/{tid}/stat"
    with open(path) as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def machine_busy_s() -> float:
    """CPU seconds all cores of the machine spent busy (not idle or iowait) since boot."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v) - v[3] - v[4]) / _TICK


def children_cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


class CpuMeter:
    """Server (all threads, and its main thread: the event loop) and client (waited children) CPU seconds spent
    inside the ``with`` block; with ``every`` > 0 also the server's CPU use per interval (``timeline``: (t, cores
    busy))."""

    def __init__(self, pid: int, every: float = 0.0) -> None:
        self.pid, self.every = pid, every
        self.server = self.loop = self.client = 0.0
        self.timeline: list[tuple[float, float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        t0 = last_t = time.perf_counter()
        last, last_m = cpu_s(self.pid), machine_busy_s()
        while not self._stop.wait(self.every):
            now, now_m, t = cpu_s(self.pid), machine_busy_s(), time.perf_counter()
            dt = t - last_t
            self.timeline.append(
                (round(t - t0, 1), round((now - last) / dt, 2), round((now_m - last_m) / dt, 2))
            )
            last, last_m, last_t = now, now_m, t

    def __enter__(self) -> CpuMeter:
        self._s0, self._l0, self._c0 = cpu_s(self.pid), cpu_s(self.pid, self.pid), children_cpu_s()
        if self.every:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self.every:
            self._thread.join()
        self.server = cpu_s(self.pid) - self._s0
        self.loop = cpu_s(self.pid, self.pid) - self._l0
        self.client = children_cpu_s() - self._c0

    def note(self, gb: float) -> str:
        return (
            f"CPU/GB server {self.server / gb:4.2f} s (event loop {self.loop / gb:4.2f}), "
            f"client {self.client / gb:4.2f} s"
        )


def client(op: str, url: str, token: str, cache: Path, xet: bool, *args: str) -> float:
    """Run one huggingface_hub operation in a fresh process; seconds it took."""
    env = {k: v for k, v in os.environ.items() if k not in {"HF_HUB_DISABLE_XET", "HF_TOKEN"}}
    env.update(
        {
            "HF_HUB_CACHE": str(cache),
            "HF_XET_CACHE": str(cache / "xet"),
            "HF_XET_CHUNK_CACHE_SIZE_BYTES": "0",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_ENDPOINT": url,
        }
    )
    if not xet:
        env["HF_HUB_DISABLE_XET"] = "1"
    t = time.perf_counter()
    out = subprocess.run(
        [sys.executable, CLIENT, op, url, token, *args], env=env, capture_output=True, text=True, timeout=3600
    )
    took = time.perf_counter() - t
    if out.returncode != 0:
        raise RuntimeError(f"client {op} failed: {out.stderr[-2000:]}")
    res = json.loads(out.stdout.strip().splitlines()[-1])
    if res.get("xet_disabled", not xet) != (not xet):
        raise RuntimeError(f"client {op}: Xet {'off' if xet else 'on'} unexpectedly")
    return took


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-gb", type=float, default=1.0)
    ap.add_argument("--skip", default="", help="comma list of: lfs, lfs-client, xet-up, xet-down")
    args = ap.parse_args()
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    size = int(args.size_gb * 1e9)
    work = Path(tempfile.mkdtemp(prefix="myupbench-"))
    hub: Hub | None = None
    rows: list[tuple[str, float, str]] = []
    mb = size / 1e6
    gb = size / 1e9
    try:
        blob = work / "big.bin"
        oid = write_random(blob, size)
        os.sync()
        t = time.perf_counter()
        with open(blob, "rb") as f:
            hashlib.file_digest(f, "sha256")
        sha_mb = mb / (time.perf_counter() - t)

        hub = start_hub(work / "data")
        server, base, token = hub.proc, hub.url, hub.token
        auth = {"authorization": f"Bearer {token}"}
        idle = rss_mb(server.pid)
        for name in ("lfs", "lfsclient", "xet"):
            httpx.post(
                base + "/api/repos/create", json={"name": name, "type": "model"}, headers=auth
            ).raise_for_status()

        lfs_mb = 0.0
        if "lfs" not in skip:
            r = httpx.post(
                f"{base}/bench/lfs.git/info/lfs/objects/batch",
                headers=auth,
                json={"operation": "upload", "transfers": ["basic"], "objects": [{"oid": oid, "size": size}]},
            )
            r.raise_for_status()
            href = r.json()["objects"][0]["actions"]["upload"]["href"]
            with RssWatcher(server.pid, "lfs-put") as w, CpuMeter(server.pid) as c:
                t = time.perf_counter()
                out = subprocess.run(
                    ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-T", str(blob), href],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                took = time.perf_counter() - t
            if not out.stdout.startswith("2"):
                raise RuntimeError(f"LFS PUT: HTTP {out.stdout}")
            lfs_mb = mb / took
            rows.append(("LFS PUT (curl)", lfs_mb, f"peak RSS {w.peak:.0f} MB; {c.note(gb)}"))
            shutil.rmtree(work / "data" / "blobs" / oid[:2], ignore_errors=True)  # disk for the next phases

        if "lfs-client" not in skip:
            with RssWatcher(server.pid, "lfs-client") as w, CpuMeter(server.pid) as c:
                took = client(
                    "upload", base, token, work / "hf-lfs", False, "bench/lfsclient", str(blob), "f"
                )
            rows.append(
                ("LFS upload_file (huggingface_hub)", mb / took, f"peak RSS {w.peak:.0f} MB; {c.note(gb)}")
            )
            shutil.rmtree(work / "data" / "blobs" / oid[:2], ignore_errors=True)
            shutil.rmtree(work / "hf-lfs", ignore_errors=True)

        # different bytes for Xet: otherwise the sha256 is known from the LFS upload
        with open(blob, "r+b") as f:
            f.write(os.urandom(min(size, 1 << 20)))
        if "xet-up" not in skip:
            timeline = 0.5 if os.environ.get("BENCH_TIMELINE") else 0.0
            with RssWatcher(server.pid, "xet-up") as w, CpuMeter(server.pid, timeline) as c:
                took = client("upload", base, token, work / "hf-up", True, "bench/xet", str(blob), "big.bin")
            rows.append(("Xet upload_file (hf_xet)", mb / took, f"peak RSS {w.peak:.0f} MB; {c.note(gb)}"))
            if timeline:
                print("xet upload took", took, "RSS rises:", [(round(a, 1), round(b)) for a, b in w.timeline])
                print("(s, server cores busy, machine cores busy) per 0.5 s:", c.timeline)
            shutil.rmtree(work / "hf-up", ignore_errors=True)
            if "xet-down" not in skip:
                with RssWatcher(server.pid, "xet-down") as w, CpuMeter(server.pid) as c:
                    took = client("download", base, token, work / "hf-down", True, "bench/xet", "big.bin")
                rows.append(
                    ("Xet hf_hub_download (hf_xet)", mb / took, f"peak RSS {w.peak:.0f} MB; {c.note(gb)}")
                )
                shutil.rmtree(work / "hf-down", ignore_errors=True)

        print(
            f"file {size / 1e9:.2f} GB ({size / 2**30:.2f} GiB); load average {os.getloadavg()[0]:.1f}; "
            f"server RSS idle {idle:.0f} MB"
        )
        print(f"{'python sha256':36}: {sha_mb:7.0f} MB/s")
        for name, speed, note in rows:
            print(f"{name:36}: {speed:7.0f} MB/s ({speed * 1e6 / 2**20:5.0f} MiB/s)  {note}")
        if lfs_mb:
            print(f"{'ratio LFS PUT / sha256':36}: {lfs_mb / sha_mb:7.2f}   (goal >= 0.7)")
    finally:
        if hub is not None:
            stop(hub.proc)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
