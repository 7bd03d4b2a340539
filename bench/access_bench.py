"""Access control cost: what the gate, the org role and the fine-grained scope add to the hot metadata call.

Starts its own hub (``modelyard serve``) with the same small file in four repos, then runs hey (closed loop,
keep-alive) back to back on ``HEAD /{repo}/resolve/main/config.json`` (the first call of every ``hf_hub_download``):

* a public repo, the owner's write token (the baseline),
* a public **gated** repo, another user whose access request was granted (the gate lookup),
* the gated repo with that user's **fine-grained** token scoped to it (scope check + gate),
* a **private org** repo, a member with the ``read`` role (org role lookup).

Prints req/s, p50 and p99 per case and the ratio to the baseline (same server, same run): the portable figure.
Then times the pickle scanner on a torch checkpoint of ``--pickle-mb`` MB (``hub/pickle_scanner.py``), in MB/s.

Usage: python bench/access_bench.py [--duration 8] [--connections 32] [--pickle-mb 200] [--json out.json]
Needs hey (apt-get install hey).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _harness import MODELYARD, start_hub, stop
from metadata_bench import CONFIG, hey


def cli(env: dict[str, str], *args: str) -> str:
    return subprocess.run(
        [*MODELYARD, *args], env=env, check=True, capture_output=True, text=True
    ).stdout.strip()


def seed(base: str, token: str, env: dict[str, str]) -> dict[str, Any]:
    from huggingface_hub import HfApi

    cli(env, "users", "create", "reader")
    cli(env, "users", "create", "team", "--org", "--member", "bench")
    cli(env, "orgs", "add-member", "team", "reader", "--role", "read")
    reader = cli(env, "tokens", "create", "reader", "--name", "bench-read-write")
    scoped = json.loads(
        cli(
            env,
            "tokens",
            "create",
            "reader",
            "--name",
            "bench-fine",
            "--role",
            "fineGrained",
            "--scope",
            "model:bench/gated=repo.content.read",
            "--format",
            "json",
        )
    )["token"]
    api = HfApi(endpoint=base, token=token)
    for repo, private in (("bench/public", False), ("bench/gated", False), ("team/private", True)):
        api.create_repo(repo, private=private, exist_ok=True)
        api.upload_file(path_or_fileobj=CONFIG.encode(), path_in_repo="config.json", repo_id=repo)
    api.update_repo_settings("bench/gated", gated="manual")
    api.grant_access("bench/gated", "reader")
    return {"reader": reader, "scoped": scoped}


def scan_speed(mb: int, work: Path) -> dict[str, float]:
    """Seconds and MB/s for the pickle scan of a torch checkpoint of `mb` MB (tensor storage skipped by design)."""
    import torch

    from modelyard.hub import pickle_scanner

    path = work / "model.bin"
    torch.save({"w": torch.zeros(mb * 1024 * 1024 // 4)}, path)
    t0 = time.perf_counter()
    with path.open("rb") as f:
        status, _imports, _err = pickle_scanner.scan_stream(f)
    dt = time.perf_counter() - t0
    return {"mb": mb, "seconds": dt, "mb_per_s": mb / dt, "status": status}  # type: ignore[dict-item]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--pickle-mb", type=int, default=200)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    if not shutil.which("hey"):
        sys.exit("hey not installed: apt-get install hey")
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
    work = Path(tempfile.mkdtemp(prefix="myaccess-"))
    procs: list[subprocess.Popen[Any]] = []
    try:
        hub = start_hub(
            work / "data",
            {
                "MODELYARD_RATE_LIMIT_PER_MINUTE": "1000000000",
                "MODELYARD_RATE_LIMIT_ANONYMOUS_PER_MINUTE": "1000000000",
            },
        )
        procs.append(hub.proc)
        base = hub.url
        toks = seed(base, hub.token, hub.env)
        cases = [
            ("public repo, owner's write token (baseline)", "bench/public", hub.token),
            ("gated repo, granted user", "bench/gated", toks["reader"]),
            ("gated repo, granted user, fine-grained token", "bench/gated", toks["scoped"]),
            ("private org repo, read-role member", "team/private", toks["reader"]),
        ]
        rows: dict[str, dict[str, Any]] = {}
        for label, repo, tok in cases:
            rows[label] = hey(f"{base}/{repo}/resolve/main/config.json", "HEAD", tok, args, work)
        report: dict[str, Any] = {
            "cpu_count": os.cpu_count(),
            "rows": rows,
            "load_average_1m": os.getloadavg()[0],
        }
        print(
            f"hey -c{args.connections} -z{args.duration}s, {os.cpu_count()} CPUs, load {report['load_average_1m']:.2f}"
        )
        print("| HEAD resolve config.json | req/s | p50 ms | p99 ms | vs baseline |")
        print("|---|---:|---:|---:|---:|")
        ref = rows[cases[0][0]]["req_per_s"]
        for label, row in rows.items():
            flag = " (ERRORS)" if row["errors"] else ""
            print(
                f"| {label}{flag} | {row['req_per_s']:.0f} | {row.get('p50_ms', 0):.2f} | "
                f"{row.get('p99_ms', 0):.2f} | {row['req_per_s'] / ref:.3f} |"
            )
        for label, row in rows.items():
            if row["errors"]:
                print(f"--- {label}:\n{row['wrk_output']}")
        if args.pickle_mb:
            report["pickle_scan"] = scan = scan_speed(args.pickle_mb, work)
            print(
                f"pickle scan of a {scan['mb']} MB torch checkpoint: {scan['seconds'] * 1000:.0f} ms "
                f"({scan['mb_per_s']:.0f} MB/s, {scan['status']})"
            )
        if args.json:
            args.json.write_text(json.dumps(report, indent=2))
    finally:
        for p in reversed(procs):
            stop(p, 15)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
