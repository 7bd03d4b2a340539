"""Shared pieces of the benchmark scripts: a throwaway `modelyard serve`, nginx, RSS sampling, wrk parsing.

The scripts run as ``python bench/<name>.py`` (this folder is then first on sys.path) and import it as
``_harness``. httpx is imported lazily: inference_bench.py re-runs itself as a light load-generator process.
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODELYARD = [sys.executable, "-m", "modelyard"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 60, need_ok: bool = False) -> None:
    """Wait until `url` answers (with need_ok: answers 200)."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200 or not need_ok:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def stop(proc: subprocess.Popen[Any], timeout: float = 10) -> None:
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except FileNotFoundError:
        pass
    return 0.0


class RssWatcher(threading.Thread):
    """Peak VmRSS of a process while in the `with` block (sampled every `interval` s; `timeline` holds each new
    peak). With BENCH_PYSPY=/path/to/py-spy set and a label, also records a py-spy profile of it (raw stacks,
    idle included) to BENCH_PYSPY_OUT-<label>.txt."""

    def __init__(self, pid: int, label: str = "", interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop, self.interval = pid, 0.0, False, interval
        self.timeline: list[tuple[float, float]] = []
        self.spy: subprocess.Popen[bytes] | None = None
        if os.environ.get("BENCH_PYSPY") and label:
            out = f"{os.environ.get('BENCH_PYSPY_OUT', '/tmp/upload-bench')}-{label}.txt"
            cmd = [os.environ["BENCH_PYSPY"], "record", "-p", str(pid), "-o", out, "-f", "raw", "--idle"]
            self.spy = subprocess.Popen([*cmd, "--threads", "-r", "100"], stdout=subprocess.DEVNULL)
            time.sleep(1.0)

    def run(self) -> None:
        t0 = time.perf_counter()
        while not self.stop:
            now = rss_mb(self.pid)
            if now > self.peak:
                self.peak = now
                self.timeline.append((time.perf_counter() - t0, now))
            time.sleep(self.interval)

    def __enter__(self) -> RssWatcher:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop = True
        self.join()
        if self.spy is not None:
            self.spy.send_signal(2)
            self.spy.wait()


def write_random(path: Path, size: int) -> str:
    """Write `size` random bytes to `path`; their sha256 (hex)."""
    h = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            chunk = os.urandom(min(left, 8 << 20))
            h.update(chunk)
            f.write(chunk)
            left -= len(chunk)
    return h.hexdigest()


@dataclass
class Hub:
    proc: subprocess.Popen[bytes]
    port: int
    token: str
    env: dict[str, str]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def start_hub(data_dir: Path, extra_env: dict[str, str] | None = None) -> Hub:
    """User `bench` with a token, then `modelyard serve --migrate` on a free loopback port, up and answering."""
    env = {
        **os.environ,
        "MODELYARD_DATA_DIR": str(data_dir),
        "MODELYARD_LOG_LEVEL": "warning",
        **(extra_env or {}),
    }
    subprocess.run([*MODELYARD, "users", "create", "bench"], env=env, check=True, capture_output=True)
    token = subprocess.run(
        [*MODELYARD, "tokens", "create", "bench"], env=env, check=True, capture_output=True, text=True
    ).stdout.strip()
    port = free_port()
    proc = subprocess.Popen([*MODELYARD, "serve", "--port", str(port), "--migrate"], env=env)
    hub = Hub(proc, port, token, env)
    try:
        wait_http(hub.url + "/api/whoami-v2")
    except BaseException:
        stop(proc)
        raise
    return hub


def start_nginx(
    work: Path, root: Path, probe: str, connections: int = 256, server_extra: str = ""
) -> tuple[subprocess.Popen[bytes], int]:
    """nginx (one worker, sendfile) serving `root` on a free loopback port; waits for GET `probe` to answer.
    `server_extra`: more directives inside the `server` block (e.g. a FastCGI `location`)."""
    port = free_port()
    conf = work / "nginx.conf"
    conf.write_text(f"""user root; worker_processes 1; daemon off; pid {work}/nginx.pid; error_log {work}/nginx.err;
events {{ worker_connections {connections}; }}
http {{ access_log off; sendfile on; client_body_temp_path {work}/ngtmp; proxy_temp_path {work}/ngtmp;
fastcgi_temp_path {work}/ngtmp; uwsgi_temp_path {work}/ngtmp; scgi_temp_path {work}/ngtmp;
server {{ listen 127.0.0.1:{port}; root {root}; {server_extra} }} }}""")
    proc = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(work)])
    try:
        wait_http(f"http://127.0.0.1:{port}{probe}")
    except BaseException:
        stop(proc)
        raise
    return proc, port


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def wrk_ms(text: str) -> float:
    """A wrk duration ("850.12us", "1.20ms", "2.00s") in milliseconds."""
    for unit in ("us", "ms", "s", "m"):
        if text.endswith(unit) and text[: -len(unit)].replace(".", "", 1).isdigit():
            return float(text[: -len(unit)]) * _UNITS[unit]
    raise ValueError(text)


def parse_wrk(text: str) -> dict[str, Any]:
    """req_per_s, p50_ms, p99_ms and requests from `wrk --latency` output."""
    row: dict[str, Any] = {}
    for line in text.splitlines():
        parts = line.split()
        if line.startswith("Requests/sec:"):
            row["req_per_s"] = float(parts[1])
        elif len(parts) == 2 and parts[0] in ("50%", "99%"):
            row[f"p{parts[0][:-1]}_ms"] = wrk_ms(parts[1])
        elif "requests in" in line:
            row["requests"] = int(parts[0])
    return row
