"""A local Ray cluster for the `ray` tests: a head (1 CPU, the dashboard for job submission) and a second node
process (1 CPU) on 127.0.0.1, in a temp dir of their own, stopped by their own pids at the end of the session
(never `ray stop`, which would end every Ray process of the machine). Skipped when `ray` is not installed.

Not a conftest.py: tests/ray has no __init__.py (a package named `ray` would shadow the library), and a conftest
module there would shadow the root one. Test modules import `ray_cluster` from here; it is one cluster for the
whole session however many modules use it (started by the first, stopped after the last)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="ray is not installed (pip install 'modelyard[ray]')")

STARTUP_TIMEOUT = 120.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RayCluster:
    address: str  # GCS address, settings.ray_address
    dashboard_url: str  # job submission, settings.ray_dashboard_url
    temp_dir: Path
    startup_seconds: float
    roots: tuple[int, ...] = ()

    def rss_mb(self) -> float:
        """Resident memory of every process of the cluster (nodes, Serve, replicas, job drivers)."""
        return _rss_mb(_ray_pids(self.temp_dir, self.roots))


def _ray_pids(temp_dir: Path, roots: tuple[int, ...] = ()) -> list[int]:
    """Processes of this cluster only: their command line names its temp dir, or they descend from `roots` (the
    `ray start` processes) -- workers and replicas rename themselves (`ray::ServeReplica:...`)."""
    parents: dict[int, int] = {}
    mine: set[int] = set(roots)
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int(proc.name)
            parents[pid] = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if str(temp_dir).encode() in (proc / "cmdline").read_bytes():
                mine.add(pid)
    grown = True
    while grown:
        grown = False
        for pid, ppid in parents.items():
            if ppid in mine and pid not in mine:
                mine.add(pid)
                grown = True
    return sorted(p for p in mine if p != os.getpid() and p in parents)


def _rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total / 1024


_shared: dict[str, object] = {}


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[RayCluster]:
    """One cluster per session, shared by the modules that import this fixture (reference counted)."""
    if "cluster" not in _shared:
        gen = _start_cluster()
        _shared["cluster"] = next(gen)
        _shared["gen"] = gen
        _shared["users"] = 0
    _shared["users"] = int(_shared["users"]) + 1  # type: ignore[call-overload]
    try:
        yield _shared["cluster"]  # type: ignore[misc]
    finally:
        _shared["users"] = int(_shared["users"]) - 1  # type: ignore[call-overload]
        if _shared["users"] == 0:
            gen = _shared.pop("gen")
            _shared.clear()
            with contextlib.suppress(StopIteration):
                next(gen)  # type: ignore[call-overload]


def _start_cluster() -> Iterator[RayCluster]:
    temp_dir = Path(tempfile.mkdtemp(prefix="myray-", dir="/tmp"))  # short: Ray's unix socket paths
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_DEDUP_LOGS": "0"}
    env.pop("RAY_ADDRESS", None)
    # job entrypoints run `python` from the nodes' PATH: this environment's (where modelyard is installed)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    ray_bin = str(Path(sys.executable).parent / "ray")
    port, dash = free_port(), free_port()
    common = ["--num-cpus=1", "--object-store-memory=200000000", "--disable-usage-stats", "--block"]
    common += [f"--temp-dir={temp_dir}", "--node-ip-address=127.0.0.1"]

    def node_ports() -> list[str]:
        return [
            f"--dashboard-agent-listen-port={free_port()}",
            f"--dashboard-agent-grpc-port={free_port()}",
            f"--metrics-export-port={free_port()}",
            f"--runtime-env-agent-port={free_port()}",
        ]

    logs = [open(temp_dir / "head.out", "wb"), open(temp_dir / "worker.out", "wb")]  # noqa: SIM115
    started = time.monotonic()
    procs = [
        subprocess.Popen(
            [
                ray_bin,
                "start",
                "--head",
                f"--port={port}",
                "--include-dashboard=true",
                "--dashboard-host=127.0.0.1",
                f"--dashboard-port={dash}",
                f"--ray-client-server-port={free_port()}",
                *common,
                *node_ports(),
            ],
            env=env,
            stdout=logs[0],
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    ]
    address = f"127.0.0.1:{port}"
    try:
        import ray

        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:  # the head's GCS answers
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if procs[0].poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    "the Ray head did not start: " + (temp_dir / "head.out").read_text()[-3000:]
                )
            time.sleep(0.2)
        procs.append(
            subprocess.Popen(
                [ray_bin, "start", f"--address={address}", *common, *node_ports()],
                env=env,
                stdout=logs[1],
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
        ray.init(address=address, namespace="modelyard", log_to_driver=False, configure_logging=False)
        while len([n for n in ray.nodes() if n["Alive"]]) < 2:
            if procs[1].poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    "the Ray worker node did not join: " + (temp_dir / "worker.out").read_text()[-3000:]
                )
            time.sleep(0.2)
        import httpx

        while True:  # the dashboard (job submission) answers
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{dash}/api/version", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("the Ray dashboard did not start")
            time.sleep(0.3)
        cluster = RayCluster(
            address,
            f"http://127.0.0.1:{dash}",
            temp_dir,
            time.monotonic() - started,
            tuple(p.pid for p in procs),
        )
        print(f"\nray cluster up in {cluster.startup_seconds:.1f}s, RSS {cluster.rss_mb():.0f} MB")
        yield cluster
        print(f"\nray cluster RSS at the end: {cluster.rss_mb():.0f} MB")
    finally:
        with contextlib.suppress(Exception):
            import ray

            if ray.is_initialized():
                with contextlib.suppress(Exception):
                    from ray import serve

                    serve.shutdown()
                ray.shutdown()
        leftover = _ray_pids(temp_dir, tuple(p.pid for p in procs))
        for proc in reversed(procs):  # `ray start --block` ends the processes it started on SIGTERM
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        for proc in reversed(procs):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for pid in set(leftover) | set(_ray_pids(temp_dir)):  # what is left of this cluster, by pid
            with contextlib.suppress(OSError):
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                if str(temp_dir).encode() in cmdline or cmdline.startswith(b"ray::") or b"/ray/" in cmdline:
                    os.kill(pid, signal.SIGKILL)  # still one of ours (not a reused pid)
        for f in logs:
            f.close()
        shutil.rmtree(temp_dir, ignore_errors=True)
