"""Metadata speed: the calls every ``from_pretrained`` makes before any byte moves, next to nginx.

Starts its own hub (``modelyard serve``, the production entry point) with a seeded public model repo
(config.json, README.md, tokenizer.json, a small model.safetensors as LFS) and an nginx serving a small static
file, then runs wrk (closed loop, keep-alive, ``-t2 -c32`` by default) back to back on:

* ``HEAD /{repo}/resolve/main/config.json`` with a token (what hf_hub_download sends first),
* the same anonymously,
* ``GET /api/models/{repo}`` with a token (model_info),
* ``GET /{repo}/resolve/main/config.json`` (a counted download: the counter is batched off the request path),
* nginx: ``GET /config.json`` (a static file of the same size).

Prints req/s, p50 and p99 per route and the ratio to nginx, and the 1-minute load average (the ratios are the
portable figures on a shared machine). Rate limits are raised, not turned off, so their middleware still runs.

Usage: python bench/metadata_bench.py [--duration 10] [--connections 32] [--threads 2] [--json out.json]
Needs wrk (apt-get install wrk) and, for the reference, nginx.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
from _harness import parse_wrk, start_hub, start_nginx, stop

REPO = "bench/tiny-model"
CONFIG = json.dumps(
    {"architectures": ["BertModel"], "model_type": "bert", "hidden_size": 4, "num_hidden_layers": 1}, indent=2
)


def tiny_safetensors() -> bytes:
    header = json.dumps({"w": {"dtype": "F32", "shape": [4, 4], "data_offsets": [0, 64]}}).encode()
    header += b" " * (-len(header) % 8)
    return struct.pack("<Q", len(header)) + header + bytes(64)


def seed(base: str, token: str, work: Path) -> None:
    from huggingface_hub import CommitOperationAdd, HfApi

    api = HfApi(endpoint=base, token=token)
    api.create_repo(REPO, exist_ok=True)
    ops = [
        CommitOperationAdd("config.json", CONFIG.encode()),
        CommitOperationAdd("README.md", b"---\nlicense: mit\n---\n# tiny\n"),
        CommitOperationAdd("tokenizer.json", json.dumps({"version": "1.0", "model": {}}).encode()),
        CommitOperationAdd("model.safetensors", tiny_safetensors()),
    ]
    api.create_commit(REPO, operations=ops, commit_message="seed")
    (work / "static").mkdir()
    (work / "static" / "config.json").write_text(CONFIG)


def wrk(url: str, method: str, token: str | None, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    script = work / f"wrk-{method}-{bool(token)}.lua"
    lines = [f'wrk.method = "{method}"']
    if token:
        lines.append(f'wrk.headers["Authorization"] = "Bearer {token}"')
    script.write_text("\n".join(lines) + "\n")
    base = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        "--latency",
        "--timeout",
        "5s",
        "-s",
        str(script),
    ]
    subprocess.run([*base, f"-d{args.warmup}s", url], check=True, capture_output=True)
    text = subprocess.run(
        [*base, f"-d{args.duration}s", url], check=True, capture_output=True, text=True
    ).stdout
    row: dict[str, Any] = {"errors": "Non-2xx" in text or "Socket errors" in text, **parse_wrk(text)}
    if row["errors"]:
        row["wrk_output"] = text
    return row


def hey(url: str, method: str, token: str | None, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """wrk cannot measure HEAD (its parser waits for a body after a Content-Length): hey (Go) does."""
    cmd = ["hey", "-c", str(args.connections), "-m", method, "-t", "5", "-disable-compression"]
    if token:
        cmd += ["-H", f"Authorization: Bearer {token}"]
    subprocess.run([*cmd, "-z", f"{args.warmup}s", url], check=True, capture_output=True)
    text = subprocess.run(
        [*cmd, "-z", f"{args.duration}s", url], check=True, capture_output=True, text=True
    ).stdout
    codes = re.findall(r"\[(\d+)\]\s+(\d+) responses", text)
    row: dict[str, Any] = {"errors": "Error distribution" in text or any(c != "200" for c, _ in codes)}
    row["requests"] = sum(int(n) for _, n in codes)
    for line in text.splitlines():
        parts = line.split()
        if line.strip().startswith("Requests/sec:"):
            row["req_per_s"] = float(parts[1])
        elif len(parts) >= 4 and parts[0] in ("50%", "99%") and parts[1] == "in":
            row[f"p{parts[0][:-1]}_ms"] = float(parts[2]) * 1000
    if row["errors"]:
        row["wrk_output"] = text
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk not installed: apt-get install wrk")
    os.environ["HF_HUB_DISABLE_XET"] = "1"  # the seed goes through LFS (set before the client is imported)
    work = Path(tempfile.mkdtemp(prefix="mymeta-"))
    procs: list[subprocess.Popen[Any]] = []
    try:
        hub = start_hub(
            work / "data",
            {
                # raised, not off: the limiter's middleware still runs on every request
                "MODELYARD_RATE_LIMIT_PER_MINUTE": "1000000000",
                "MODELYARD_RATE_LIMIT_ANONYMOUS_PER_MINUTE": "1000000000",
                "HF_HUB_DISABLE_XET": "1",
                "HF_HUB_DISABLE_TELEMETRY": "1",
            },
        )
        procs.append(hub.proc)
        base, token = hub.url, hub.token
        seed(base, token, work)

        resolve = f"{base}/{REPO}/resolve/main/config.json"
        routes: list[tuple[str, str, str, str | None]] = [
            ("HEAD resolve config.json (token)", "HEAD", resolve, token),
            ("HEAD resolve config.json (anon)", "HEAD", resolve, None),
            ("GET /api/models/{repo} (token)", "GET", f"{base}/api/models/{REPO}", token),
            ("GET resolve config.json (counted)", "GET", resolve, token),
        ]
        report: dict[str, Any] = {"cpu_count": os.cpu_count(), "connections": args.connections, "rows": {}}
        nginx: dict[str, dict[str, Any]] = {}  # per method: HEAD rows are measured with hey, GET with wrk
        if shutil.which("nginx"):
            ng, nport = start_nginx(work, work / "static", "/config.json")
            procs.append(ng)
            for method in ("GET", "HEAD"):
                tool = hey if method == "HEAD" else wrk
                nginx[method] = tool(f"http://127.0.0.1:{nport}/config.json", method, None, args, work)
                report["rows"][f"nginx {method} static config.json"] = {**nginx[method], "method": method}
        for label, method, url, tok in routes:
            report["rows"][label] = (hey if method == "HEAD" else wrk)(url, method, tok, args, work)
            report["rows"][label]["method"] = method
        info = httpx.get(f"{base}/api/models/{REPO}", params={"expand": "downloads"})
        downloads = info.json()  # pending counts included
        report["load_average_1m"] = os.getloadavg()[0]

        print(
            f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s, {os.cpu_count()} CPUs, "
            f"1-min load average {report['load_average_1m']:.2f}"
        )
        print("| route (HEAD: hey, GET: wrk) | req/s | p50 ms | p99 ms | vs nginx, same method |")
        print("|---|---:|---:|---:|---:|")
        for label, row in report["rows"].items():
            ref = nginx.get(row.get("method", ""))
            ratio = f"{row['req_per_s'] / ref['req_per_s']:.3f}" if ref else "-"
            flag = " (ERRORS)" if row["errors"] else ""
            print(
                f"| {label}{flag} | {row['req_per_s']:.0f} | {row.get('p50_ms', 0):.2f} | "
                f"{row.get('p99_ms', 0):.2f} | {ratio} |"
            )
        counted = report["rows"]["GET resolve config.json (counted)"].get("requests", 0)
        shown = downloads.get("downloads")
        print(f"downloads shown by model_info: {shown} (wrk counted {counted} in the timed run)")
        for label, row in report["rows"].items():
            if row["errors"]:
                print(f"--- {label}:\n{row['wrk_output']}")
        goal = all(
            r["req_per_s"] >= 2000 and r.get("p99_ms", 1e9) < 50
            for k, r in report["rows"].items()
            if not k.startswith("nginx")
        )
        print(f"goal (>= 2000 req/s and p99 < 50 ms on every hub route): {'met' if goal else 'not met'}")
        if args.json:
            args.json.write_text(json.dumps(report, indent=2))
    finally:
        for p in reversed(procs):
            stop(p, 15)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
