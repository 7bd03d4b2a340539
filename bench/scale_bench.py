"""Scale-out figures (issue 17, docs/scaling.md): the topology of tests/scale (PostgreSQL + an S3 server (moto) +
`modelyard serve` replicas + nginx), measured two ways.

(a) Download of one big LFS file (256 MiB by default) stored in the object store:
    * through the hub (blob_redirect off: the replica reads the object from S3 and streams it),
    * via the presigned redirect (blob_redirect on: the replica answers 302, curl -L fetches from the store),
    * the store's own GET of the presigned URL (the ceiling both are bound by here).
    MB/s and CPU seconds per GB of the replica and of the S3 server. moto is a Python server and far slower
    than MinIO/S3: the redirect's gain is in the hub's CPU per GB, not in this box's MB/s.
(b) Metadata: ``HEAD /{repo}/resolve/main/config.json`` (hey) and ``GET /api/models/{repo}`` (wrk), closed
    loop at 32 connections, on 1 replica behind nginx, 3 replicas behind nginx (same PostgreSQL) and 1 replica
    direct; req/s, p50, p99, and the CPU time per request of each part (replicas, nginx, PostgreSQL, the load
    generator), from which docs/scaling.md models req/s per core and where the database saturates.

This box has 2 cores shared by everything above (and other work: the 1-minute load average is printed): 3
replicas cannot beat 1 here, the CPU per request is the portable figure.

Usage: flock /tmp/modelyard-bench.lock python bench/scale_bench.py [--size-mb 256] [--duration 10] [--json out]
Needs nginx, wrk, hey, curl, PostgreSQL binaries and moto (the dev group).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "tests"), str(HERE.parent / "tests" / "scale")]
os.environ["HF_HUB_DISABLE_XET"] = "1"  # the big file goes through LFS: a whole object in the store
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"

import httpx  # noqa: E402
import psutil  # noqa: E402
from _harness import write_random  # noqa: E402
from _topology import (  # noqa: E402
    Replica,
    Topology,
    _start_nginx,
    _stop,
    build_services,
    free_port,
    start_topology,
)
from metadata_bench import REPO, hey, seed, wrk  # noqa: E402

GB = 1024**3


def cpu_of(pids: list[int]) -> float:
    """User+system CPU seconds of these processes and their children (PostgreSQL backends, nginx workers),
    exited children included (the parent's children_* times: a backend that ends keeps its CPU counted)."""
    total = 0.0
    for pid in pids:
        try:
            p = psutil.Process(pid)
            t = p.cpu_times()
            total += t.children_user + t.children_system
            for q in [p, *p.children(recursive=True)]:
                try:
                    t = q.cpu_times()
                    total += t.user + t.system
                except psutil.NoSuchProcess:
                    pass
        except psutil.NoSuchProcess:
            pass
    return total


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def postmaster_pid(topo: Topology) -> int:
    url = topo.settings["database_url"]
    port = url.rsplit(":", 1)[1].split("/")[0]
    for p in psutil.process_iter(["name", "cmdline"]):
        cmd = p.info["cmdline"] or []
        if p.info["name"] == "postgres" and "-p" in cmd and cmd[cmd.index("-p") + 1] == port:
            return int(p.pid)
    raise RuntimeError("postmaster not found")


def measured(
    parts: dict[str, list[int]], run: Callable[[], dict[str, Any]]
) -> tuple[dict[str, Any], dict[str, float]]:
    """Run `run`, return its result and the CPU seconds each part (and the load generator) used meanwhile."""
    before = {k: cpu_of(v) for k, v in parts.items()}
    gen0 = children_cpu()
    t0 = time.perf_counter()
    row = run()
    wall = time.perf_counter() - t0
    cpu = {k: cpu_of(v) - before[k] for k, v in parts.items()}
    cpu["load generator"] = children_cpu() - gen0
    cpu["wall"] = wall
    return row, cpu


def db_transactions(topo: Topology) -> int:
    """Transactions the hub's database has run (pg_stat_database; the statistics lag up to ~0.5 s)."""
    import psycopg

    url = topo.settings["database_url"].replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
    return int(row[0]) if row else 0


def download_once(url: str, token: str, size: int, follow: bool) -> dict[str, Any]:
    return {"speed": curl_get(url, token, size, follow)}


def curl_get(url: str, token: str, size: int, follow: bool) -> float:
    fmt = "%{http_code} %{size_download} %{speed_download}"
    cmd = ["curl", "-s", "-o", "/dev/null", "-w", fmt, "-H", f"Authorization: Bearer {token}"]
    out = subprocess.run([*cmd, *(["-L"] if follow else []), url], capture_output=True, text=True, check=True)
    code, got, speed = out.stdout.split()
    if int(code) != 200 or int(got) != size:
        raise RuntimeError(f"GET {url}: HTTP {code}, {got} bytes, expected {size}")
    return float(speed)


def download_part(topo: Topology, token: str, work: Path, size_mb: int, reps: int) -> dict[str, Any]:
    from huggingface_hub import HfApi

    size = size_mb * 1024 * 1024 + 123
    big = work / "big.bin"
    sha = write_random(big, size)
    direct = topo.replicas[0]
    api = HfApi(endpoint=direct.url, token=token)
    api.create_repo("bench/big", exist_ok=True)
    t0 = time.perf_counter()
    api.upload_file(path_or_fileobj=str(big), path_in_repo="big.bin", repo_id="bench/big")
    upload_s = time.perf_counter() - t0
    big.unlink()
    # a replica with blob_redirect on (same database, store and secret)
    rdir = work / "replica-redirect"
    rdir.mkdir()
    env = {**topo.env_for(rdir), "MODELYARD_BLOB_REDIRECT": "true"}
    redirect = Replica(9, free_port(), rdir, env, work / "replica-redirect.log")
    redirect.start()
    try:
        url = "/bench/big/resolve/main/big.bin"
        r = httpx.get(redirect.url + url, headers={"authorization": f"Bearer {token}"})
        assert r.status_code == 302, (r.status_code, r.text[:200])
        presigned = r.headers["location"]
        moto = topo.extra["s3"].proc.pid
        rows: dict[str, Any] = {"size_bytes": size, "sha256": sha, "upload_lfs_s": upload_s}
        cases: list[tuple[str, int | None, str, bool]] = [
            ("through the hub (blob_redirect off)", direct.proc.pid, direct.url + url, False),
            ("presigned redirect (blob_redirect on), curl -L", redirect.proc.pid, redirect.url + url, True),
            ("S3 server's own GET of the presigned URL", None, presigned, False),
        ]
        for label, hub_pid, target, follow in cases:
            best: dict[str, Any] | None = None
            for _ in range(reps):
                parts = {"hub": [hub_pid] if hub_pid else [], "s3 server": [moto]}
                speed, cpu = measured(parts, functools.partial(download_once, target, token, size, follow))
                gb = size / GB
                row = {
                    "MB_per_s": speed["speed"] / 1e6,
                    "hub_cpu_s_per_GB": cpu["hub"] / gb,
                    "s3_cpu_s_per_GB": cpu["s3 server"] / gb,
                    "curl_cpu_s_per_GB": cpu["load generator"] / gb,
                }
                if best is None or row["MB_per_s"] > best["MB_per_s"]:
                    best = row
            rows[label] = best
        return rows
    finally:
        redirect.stop()


def metadata_part(topo: Topology, token: str, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    seed(topo.url, token, work)
    one_port = free_port()
    nginx1 = _start_nginx(work / "nginx-1", one_port, [topo.replicas[0].port], 1)
    try:
        pg = postmaster_pid(topo)
        targets = [
            ("1 replica, direct", topo.replicas[0].url, [topo.replicas[0]], None),
            ("1 replica behind nginx", f"http://127.0.0.1:{one_port}", [topo.replicas[0]], nginx1.pid),
            ("3 replicas behind nginx", topo.url, topo.replicas, topo.nginx.pid if topo.nginx else None),
        ]
        out: dict[str, Any] = {}
        for label, base, reps, ngx in targets:
            for route, method, path in (
                ("HEAD resolve config.json", "HEAD", f"/{REPO}/resolve/main/config.json"),
                ("GET /api/models/{repo}", "GET", f"/api/models/{REPO}"),
            ):
                parts = {
                    "replicas": [r.proc.pid for r in reps if r.proc],
                    "nginx": [ngx] if ngx else [],
                    "postgres": [pg],
                }
                tool = hey if method == "HEAD" else wrk
                time.sleep(0.6)  # let the statistics collector catch up
                tx0 = db_transactions(topo)
                s3_0 = s3_requests(topo)
                row, cpu = measured(parts, functools.partial(tool, base + path, method, token, args, work))
                # the tools run a warm-up before the timed run: CPU per request over both, requests of the timed
                # run scaled by the warm-up's share of the time
                n = row.get("requests") or 1
                n_all = n * (args.duration + args.warmup) / args.duration
                time.sleep(0.6)
                row["db_transactions_per_request"] = (db_transactions(topo) - tx0) / n_all
                row["s3_requests_per_request"] = (s3_requests(topo) - s3_0) / n_all
                row["cpu_ms_per_request"] = {k: 1000 * v / n_all for k, v in cpu.items() if k != "wall"}
                row["load_average_1m"] = os.getloadavg()[0]
                row.pop("wrk_output", None)
                out[f"{label}: {route}"] = row
        return out
    finally:
        _stop(nginx1)


def s3_requests(topo: Topology) -> int:
    """Requests the S3 server has answered (moto logs one line per request)."""
    return len(topo.extra["s3"].log.read_text(errors="replace").splitlines())


def sqlite_part(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """The single-machine default on the same box, for comparison: one replica, SQLite, file:// blobs."""
    from _harness import start_hub, stop

    hub = start_hub(
        work / "sqlite-data",
        {
            "MODELYARD_RATE_LIMIT_PER_MINUTE": "1000000000",
            "MODELYARD_RATE_LIMIT_ANONYMOUS_PER_MINUTE": "1000000000",
            "MODELYARD_SPACES_ENABLED": "false",
            "MODELYARD_JOBS_ENABLED": "false",
        },
    )
    out: dict[str, Any] = {}
    try:
        seed_dir = work / "sqlite-seed"
        seed_dir.mkdir()
        seed(hub.url, hub.token, seed_dir)
        for route, method, path in (
            ("HEAD resolve config.json", "HEAD", f"/{REPO}/resolve/main/config.json"),
            ("GET /api/models/{repo}", "GET", f"/api/models/{REPO}"),
        ):
            tool = hey if method == "HEAD" else wrk
            row, cpu = measured(
                {"replicas": [hub.proc.pid], "nginx": [], "postgres": []},
                functools.partial(tool, hub.url + path, method, hub.token, args, seed_dir),
            )
            n_all = (row.get("requests") or 1) * (args.duration + args.warmup) / args.duration
            row["cpu_ms_per_request"] = {k: 1000 * v / n_all for k, v in cpu.items() if k != "wall"}
            row["db_transactions_per_request"] = float("nan")
            row["s3_requests_per_request"] = 0.0
            row.pop("wrk_output", None)
            out[f"1 replica, SQLite + file:// (default), direct: {route}"] = row
    finally:
        stop(hub.proc, 15)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mb", type=int, default=256)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-download", action="store_true")
    ap.add_argument("--skip-metadata", action="store_true")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    for tool in ("nginx", "wrk", "hey", "curl"):
        if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists():
            sys.exit(f"{tool} is not installed")
    work = Path(tempfile.mkdtemp(prefix="scale-bench-"))
    report: dict[str, Any] = {"cpu_count": os.cpu_count(), "connections": args.connections}
    try:
        with start_topology(
            work / "topology",
            replicas=3,
            # raised, not off: the limiter's middleware still runs on every request (as in metadata_bench)
            rate_limit_per_minute=1_000_000_000,
            rate_limit_anonymous_per_minute=1_000_000_000,
        ) as topo:
            services = build_services(topo, work / "checker")
            if services.accounts.find("bench") is None:
                services.accounts.create("bench", "Bench")
            token = services.accounts.create_token("bench", "bench", "write")
            services.db.dispose()
            if not args.skip_download:
                report["download"] = download_part(topo, token, work, args.size_mb, args.reps)
            if not args.skip_metadata:
                report["metadata"] = metadata_part(topo, token, work, args)
        if not args.skip_metadata:
            report["metadata"].update(sqlite_part(work, args))
        report["load_average_1m"] = os.getloadavg()[0]
        print_report(report, args)
        if args.json:
            args.json.write_text(json.dumps(report, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def print_report(report: dict[str, Any], args: argparse.Namespace) -> None:
    print(f"{report['cpu_count']} CPUs, 1-min load average {report['load_average_1m']:.2f}")
    if "download" in report:
        d = report["download"]
        print(
            f"\n(a) download of {d['size_bytes'] / 2**20:.0f} MiB (upload through LFS took {d['upload_lfs_s']:.1f} s)"
        )
        print("| path | MB/s | hub CPU s/GB | S3 server CPU s/GB | curl CPU s/GB |")
        print("|---|---:|---:|---:|---:|")
        for label, row in d.items():
            if isinstance(row, dict):
                print(
                    f"| {label} | {row['MB_per_s']:.0f} | {row['hub_cpu_s_per_GB']:.2f} | "
                    f"{row['s3_cpu_s_per_GB']:.2f} | {row['curl_cpu_s_per_GB']:.2f} |"
                )
    if "metadata" not in report:
        return
    print(f"\n(b) metadata, {args.connections} connections, {args.duration} s (HEAD: hey, GET: wrk)")
    print(
        "| target: route | req/s | p50 ms | p99 ms | CPU ms/request: replicas / nginx / postgres / generator "
        "| DB transactions/request | S3 requests/request |"
    )
    print("|---|---:|---:|---:|---|---:|---:|")
    for label, row in report["metadata"].items():
        c = row["cpu_ms_per_request"]
        flag = " (ERRORS)" if row.get("errors") else ""
        print(
            f"| {label}{flag} | {row['req_per_s']:.0f} | {row.get('p50_ms', 0):.2f} | {row.get('p99_ms', 0):.2f} | "
            f"{c['replicas']:.2f} / {c['nginx']:.2f} / {c['postgres']:.2f} / {c['load generator']:.2f} | "
            f"{row['db_transactions_per_request']:.1f} | {row['s3_requests_per_request']:.2f} |"
        )


if __name__ == "__main__":
    main()
