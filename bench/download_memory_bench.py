"""Server memory under many concurrent downloads: peak RSS of `modelyard serve` while N clients download.

Usage: python bench/download_memory_bench.py [--size-mb 50] [--clients 300] [--slow-share 0.5]
                                              [--kinds lfs,xet] [--baseline-mb 3600]
Starts its own hub on a temp dir, uploads one random file with HfApi through LFS (HF_HUB_DISABLE_XET=1) and
one through Xet (hf_xet), then opens N concurrent GET /resolve connections per kind (raw asyncio sockets):
a share of them read slowly (16 KiB every 50 ms) for the whole run, the others read at full speed. Samples
the server's VmRSS every 20 ms and prints the peak against the 300 MB goal (and a baseline if given).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _harness import Hub, RssWatcher, rss_mb, start_hub, stop

GOAL_MB = 300.0


UPLOAD = """
import sys
from huggingface_hub import HfApi
url, token, repo, path, name = sys.argv[1:6]
api = HfApi(endpoint=url, token=token)
api.create_repo(repo, exist_ok=True)
api.upload_file(path_or_fileobj=path, path_in_repo=name, repo_id=repo)
"""


def upload(url: str, token: str, repo: str, path: Path, name: str, xet: bool, cache: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"HF_HUB_DISABLE_XET", "HF_TOKEN"}}
    env.update({"HF_HOME": str(cache), "HF_XET_CACHE": str(cache / "xet"), "HF_HUB_DISABLE_TELEMETRY": "1"})
    if not xet:
        env["HF_HUB_DISABLE_XET"] = "1"
    subprocess.run(
        [sys.executable, "-c", UPLOAD, url, token, repo, str(path), name], env=env, check=True, timeout=600
    )


async def one_download(port: int, path: str, size: int, slow: bool, stop: asyncio.Event) -> int:
    """Bytes received. Slow readers read 16 KiB every 50 ms until `stop`; fast ones read everything."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=64 * 1024)
    sock = writer.get_extra_info("socket")
    if slow and sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(head[:200].decode(errors="replace"))
    got = 0
    try:
        while got < size:
            if slow:
                if stop.is_set():
                    break
                data = await reader.read(16 * 1024)
                await asyncio.sleep(0.05)
            else:
                data = await reader.read(256 * 1024)
            if not data:
                break
            got += len(data)
    finally:
        writer.close()
    return got


async def run_clients(
    port: int, path: str, size: int, n: int, slow_share: float, hold_s: float
) -> dict[str, float]:
    stop = asyncio.Event()
    n_slow = int(n * slow_share)
    t0 = time.perf_counter()
    slow = [asyncio.create_task(one_download(port, path, size, True, stop)) for _ in range(n_slow)]
    fast = [asyncio.create_task(one_download(port, path, size, False, stop)) for _ in range(n - n_slow)]
    fast_bytes = sum(await asyncio.gather(*fast))
    t_fast = time.perf_counter() - t0
    await asyncio.sleep(max(0.0, hold_s - t_fast))
    stop.set()
    slow_bytes = sum(await asyncio.gather(*slow))
    if fast_bytes != size * (n - n_slow):
        raise RuntimeError(f"fast readers got {fast_bytes} of {size * (n - n_slow)} bytes")
    return {
        "fast_s": t_fast,
        "fast_mb_s": fast_bytes / 1e6 / t_fast if t_fast else 0,
        "slow_mb": slow_bytes / 1e6,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mb", type=int, default=50)
    ap.add_argument("--clients", type=int, default=300)
    ap.add_argument("--slow-share", type=float, default=0.5)
    ap.add_argument(
        "--hold-s", type=float, default=8.0, help="keep slow readers connected at least this long"
    )
    ap.add_argument("--kinds", default="lfs,xet")
    ap.add_argument(
        "--baseline-mb", type=float, default=0.0, help="peak RSS of an earlier run, for the ratio"
    )
    args = ap.parse_args()
    size = args.size_mb * 1_000_000
    work = Path(tempfile.mkdtemp(prefix="mymem-"))
    hub: Hub | None = None
    try:
        hub = start_hub(work / "data")
        server, port, url, token = hub.proc, hub.port, hub.url, hub.token
        kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
        for kind in kinds:  # different bytes per kind: the same sha256 would be served from the LFS blob
            blob = work / f"{kind}.bin"
            with open(blob, "wb") as f:
                for _ in range(0, size, 1 << 20):
                    f.write(os.urandom(min(1 << 20, size - f.tell())))
            upload(url, token, "bench/mem", blob, f"{kind}.bin", kind == "xet", work / "hf")
        os.sync()
        print(
            f"file {size / 1e6:.0f} MB, {args.clients} clients per kind ({args.slow_share:.0%} slow readers)"
        )
        print(f"server RSS idle: {rss_mb(server.pid):.0f} MB")
        overall = 0.0
        for kind in kinds:
            with RssWatcher(server.pid, interval=0.02) as w:
                res = asyncio.run(
                    run_clients(
                        port,
                        f"/bench/mem/resolve/main/{kind}.bin",
                        size,
                        args.clients,
                        args.slow_share,
                        args.hold_s,
                    )
                )
                time.sleep(0.3)
            overall = max(overall, w.peak)
            print(
                f"{kind:4}: peak RSS {w.peak:7.0f} MB ({w.peak / GOAL_MB:.2f} of the {GOAL_MB:.0f} MB goal); "
                f"fast readers {res['fast_mb_s']:.0f} MB/s total in {res['fast_s']:.1f} s, "
                f"slow readers got {res['slow_mb']:.0f} MB"
            )
        print(f"peak RSS {overall:.0f} MB, ratio to goal {overall / GOAL_MB:.2f} (goal < 1.0)")
        if args.baseline_mb:
            print(f"vs baseline {args.baseline_mb:.0f} MB: {overall / args.baseline_mb:.3f}x")
    finally:
        if hub is not None:
            stop(hub.proc)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
