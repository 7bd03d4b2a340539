"""File throughput: /resolve download vs nginx on the same file, LFS upload vs Python sha256, server RSS.

Usage: python bench/file_bench.py [--size-mb 1000] [--reps 3]
Starts its own ModelYard server (and nginx, if installed) on loopback ports, prints medians and ratios.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 30) -> None:
    end = time.time() + timeout
    while time.time() < end:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except FileNotFoundError:
        pass
    return 0.0


class RssWatcher(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop = pid, 0.0, False

    def run(self) -> None:
        while not self.stop:
            self.peak = max(self.peak, rss_mb(self.pid))
            time.sleep(0.05)


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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mb", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    size = args.size_mb * 1_000_000
    work = Path(tempfile.mkdtemp(prefix="mybench-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        blob = work / "big.bin"
        h = hashlib.sha256()
        with open(blob, "wb") as f:
            left = size
            while left:
                chunk = os.urandom(min(left, 8 << 20))
                h.update(chunk)
                f.write(chunk)
                left -= len(chunk)
        oid = h.hexdigest()
        os.sync()

        # Python sha256 of the same file (warm page cache), the upload's physical limit on one core
        sha_speeds = []
        for _ in range(args.reps):
            t = time.perf_counter()
            with open(blob, "rb") as f:
                hashlib.file_digest(f, "sha256")
            sha_speeds.append(size / (time.perf_counter() - t))
        sha_mb = statistics.median(sha_speeds) / 1e6

        env = {**os.environ, "MODELYARD_DATA_DIR": str(work / "data")}
        mod = [sys.executable, "-m", "modelyard"]
        subprocess.run([*mod, "users", "create", "bench"], env=env, check=True, capture_output=True)
        token = subprocess.run(
            [*mod, "tokens", "create", "bench"], env=env, check=True, capture_output=True, text=True
        ).stdout.strip()
        port = free_port()
        server = subprocess.Popen(
            [*mod, "serve", "--port", str(port), "--migrate"], env={**env, "MODELYARD_LOG_LEVEL": "warning"}
        )
        procs.append(server)
        base = f"http://127.0.0.1:{port}"
        wait_http(base + "/api/whoami-v2")
        auth = {"authorization": f"Bearer {token}"}
        httpx.post(
            base + "/api/repos/create", json={"name": "big", "type": "model"}, headers=auth
        ).raise_for_status()

        # upload: LFS batch -> PUT the bytes with curl (server streams to disk, hashing in one pass)
        up_speeds, up_rss = [], 0.0
        for i in range(args.reps):
            if i:  # a fresh object each time: same bytes would be deduplicated... so delete it from the store
                shutil.rmtree(work / "data" / "blobs" / oid[:2], ignore_errors=True)
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
            w = RssWatcher(server.pid)
            w.start()
            up_speeds.append(curl(["-T", str(blob), href], "speed_upload"))
            w.stop = True
            w.join()
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
            w = RssWatcher(server.pid)
            w.start()
            dl.append(curl([url], expect_bytes=size))
            w.stop = True
            w.join()
            dl_rss = max(dl_rss, w.peak)

        ng: list[float] = []
        if shutil.which("nginx"):
            nport = free_port()
            conf = work / "nginx.conf"
            conf.write_text(f"""user root; worker_processes 1; daemon off; pid {work}/nginx.pid; error_log {work}/nginx.err;
events {{ worker_connections 64; }}
http {{ access_log off; sendfile on; client_body_temp_path {work}/ngtmp; proxy_temp_path {work}/ngtmp;
fastcgi_temp_path {work}/ngtmp; uwsgi_temp_path {work}/ngtmp; scgi_temp_path {work}/ngtmp;
server {{ listen 127.0.0.1:{nport}; root {work}; }} }}""")
            ng_proc = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(work)])
            procs.append(ng_proc)
            wait_http(f"http://127.0.0.1:{nport}/big.bin")
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
        print(f"ratio upload/sha256: {med(up_speeds) / sha_mb:8.2f}")
        print(f"server peak RSS    : upload {up_rss:.0f} MB, download {dl_rss:.0f} MB (goal < 200 MB)")
    finally:
        for p in procs:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
