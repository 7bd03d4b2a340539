"""Finding 6: memory per download. Many concurrent clients that read slowly must not make the server buffer
megabytes each: a download holds a bounded buffer (tens of KB) whether the file was uploaded whole (LFS,
served with sendfile or small pread chunks) or through Xet (xorb ranges read chunk by chunk).

The hub runs in this process (``hub_factory``), so the process RSS is the server's; the clients are raw
sockets on an asyncio loop that read 16 KiB and then stall, which is what makes a server buffer ahead.
The full-size figure (300 clients, 50 MB) is ``bench/download_memory_bench.py``.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from _transfer import transfer_mode

CLIENTS = 100
SIZE = 20_000_000
MAX_GROWTH_MB = 64  # ~650 KiB per connection, all included; today's Xet path needs ~8 MiB each
CLIENT = str(Path(__file__).parents[1] / "e2e" / "_hf_client.py")


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Peak(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak, self.stop = 0.0, False

    def run(self) -> None:
        while not self.stop:
            self.peak = max(self.peak, rss_mb())
            time.sleep(0.02)


async def stalled_download(port: int, path: str, started: list[int], stop: asyncio.Event) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=32 * 1024)
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    got = len(await reader.read(16 * 1024))
    started.append(int(head.startswith(b"HTTP/1.1 200")))
    await stop.wait()
    writer.close()
    return got


async def crowd(port: int, path: str, hold_s: float) -> list[int]:
    stop = asyncio.Event()
    started: list[int] = []
    tasks = [asyncio.create_task(stalled_download(port, path, started, stop)) for _ in range(CLIENTS)]
    deadline = time.monotonic() + 30
    while len(started) < CLIENTS and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await asyncio.sleep(hold_s)  # every connection is open and stalled: the server holds what it buffered
    stop.set()
    await asyncio.gather(*tasks)
    return started


def random_file(path: Path) -> Path:
    with open(path, "wb") as f:
        for _ in range(SIZE // (1 << 20) + 1):
            f.write(os.urandom(min(1 << 20, SIZE - f.tell())))
    return path


@pytest.fixture(scope="module")
def hub(hub_factory: Any) -> Any:
    return hub_factory()


@pytest.mark.parametrize("kind", ["lfs", "xet"])
def test_stalled_downloads_hold_bounded_memory(hub: Any, kind: str, tmp_path: Path) -> None:
    repo = f"alice/mem-{kind}"
    hub.api().create_repo(repo, exist_ok=True)
    local = random_file(tmp_path / "w.bin")
    if kind == "lfs":
        with transfer_mode("lfs"):  # the session default is the Xet client
            hub.api().upload_file(path_or_fileobj=str(local), path_in_repo="w.bin", repo_id=repo)
    else:
        env = {k: v for k, v in os.environ.items() if k != "HF_HUB_DISABLE_XET"}
        env.update({"HF_HUB_CACHE": str(tmp_path / "c"), "HF_XET_CACHE": str(tmp_path / "x")})
        out = subprocess.run(
            [sys.executable, CLIENT, "upload", hub.url, hub.alice, repo, str(local), "w.bin"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert out.returncode == 0, out.stderr[-2000:]
        assert '"xet_disabled": false' in out.stdout
    head = __import__("httpx").head(f"{hub.url}/{repo}/resolve/main/w.bin")
    assert head.status_code == 200 and ("x-xet-hash" in head.headers) == (kind == "xet")

    base = rss_mb()
    watch = Peak()
    watch.start()
    started = asyncio.run(crowd(hub.port, f"/{repo}/resolve/main/w.bin", hold_s=2.0))
    watch.stop = True
    watch.join()
    assert sum(started) == CLIENTS
    growth = watch.peak - base
    assert growth < MAX_GROWTH_MB, (
        f"{CLIENTS} stalled {kind} downloads grew the server's RSS by {growth:.0f} MB "
        f"({growth * 1024 / CLIENTS:.0f} KiB per connection)"
    )
