"""Spaces: commit → RUNNING of a Gradio Space, and what the Spaces proxy adds to its requests.

Starts its own hub (``modelyard serve`` with its Spaces origin on a second port, Spaces sandboxed as configured),
pushes a Gradio Space (gradio from uv's warm package cache) and times:

* **commit → RUNNING**: from `create_commit` to `get_space_runtime` saying RUNNING, for the first commit (the
  Space's environment is built from uv's cache) and for a second commit that changes only app.py (the
  environment is reused: only the app restarts);
* **request latency**, interleaved pairs (proxy, direct) on keep-alive connections: `GET {host}/config`, a
  `POST {host}/gradio_api/run/greet` predict call and one whose function takes 20 ms (`run/work`), through the
  Spaces origin (``/spaces/bench/demo/...``) and straight to the app's Unix socket with httpx over a UDS
  transport (the proxy's own way in); medians, p90, the ratio (goal <= 1.2x) and the added milliseconds;
* **SSE**: a generator yielding every 0.2 s, read as Gradio's event stream (``/gradio_api/call/count``) through
  the proxy and direct: the gaps between events (unbuffered: ~0.2 s both ways).

Usage: flock /tmp/modelyard-bench.lock python bench/spaces_proxy_bench.py [--pairs 300] [--json out.json]
"""

from __future__ import annotations

import argparse
import glob
import io
import itertools
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from _harness import free_port, start_hub, stop

GRADIO_VERSION = "6.31.0"
README = f"""---
title: Bench
sdk: gradio
sdk_version: {GRADIO_VERSION}
app_file: app.py
---
"""
APP = """
import time
import gradio as gr

VERSION = "{version}"


def greet(name):
    return VERSION + ":" + name


def work(name):
    time.sleep(0.02)  # a small model's time
    return name


def count(n):
    for i in range(int(n)):
        time.sleep(0.2)
        yield str(i)


with gr.Blocks() as demo:
    text = gr.Textbox()
    out = gr.Textbox()
    gr.Button("greet").click(greet, text, out, api_name="greet", queue=False)
    gr.Button("work").click(work, text, out, api_name="work", queue=False)
    gr.Button("count").click(count, text, out, api_name="count")

demo.queue().launch()
"""


def commit_to_running(
    api: Any, http: Any, base: str, repo_id: str, version: str, timeout: float = 600
) -> float:
    """Seconds from `create_commit` until get_space_runtime says RUNNING and the new revision answers."""
    from huggingface_hub import CommitOperationAdd

    ops = [
        CommitOperationAdd("README.md", io.BytesIO(README.encode())),
        CommitOperationAdd("app.py", io.BytesIO(APP.replace("{version}", version).encode())),
    ]
    t0 = time.perf_counter()
    api.create_commit(repo_id, ops, commit_message=f"app {version}", repo_type="space")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stage = api.get_space_runtime(repo_id).stage
        if stage in ("BUILD_ERROR", "RUNTIME_ERROR", "CONFIG_ERROR", "NO_APP_FILE"):
            raise RuntimeError(f"{repo_id}: {stage}")
        if stage == "RUNNING":
            r = http.post(base + "/gradio_api/run/greet", json={"data": ["x"]})
            if r.status_code == 200 and r.json()["data"][0].startswith(version + ":"):
                return time.perf_counter() - t0
        time.sleep(0.1)
    raise RuntimeError(f"{repo_id} did not serve {version} within {timeout} s")


def app_socket(tmp_root: Path) -> str:
    socks = sorted(glob.glob(str(tmp_root / "mysp-*" / "*" / "app.sock")), key=os.path.getmtime)
    if not socks:
        raise RuntimeError(f"no app socket under {tmp_root}")
    return socks[-1]


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def latency(proxy: Any, direct: Any, base: str, pairs: int) -> dict[str, Any]:
    """Interleaved (proxy, direct) pairs of GET /config and POST /gradio_api/run/greet; ms."""
    calls = {
        "GET /config": lambda c, b: c.get(b + "/config"),
        "POST /gradio_api/run/greet": lambda c, b: c.post(
            b + "/gradio_api/run/greet", json={"data": ["bench"]}
        ),
        "POST run/work (20 ms)": lambda c, b: c.post(b + "/gradio_api/run/work", json={"data": ["bench"]}),
    }
    out: dict[str, Any] = {}
    for name, call in calls.items():
        for _ in range(20):  # warm both paths (connections, Gradio's caches)
            call(proxy, base)
            call(direct, "http://space")
        times: dict[str, list[float]] = {"proxy": [], "direct": []}
        for i in range(pairs):
            order = [("proxy", proxy, base), ("direct", direct, "http://space")]
            if i % 2:
                order.reverse()
            for label, client, b in order:
                t0 = time.perf_counter()
                r = call(client, b)
                times[label].append((time.perf_counter() - t0) * 1000)
                assert r.status_code == 200, (label, r.status_code, r.text[:200])
        p, d = statistics.median(times["proxy"]), statistics.median(times["direct"])
        out[name] = {
            "proxy_p50_ms": round(p, 3),
            "direct_p50_ms": round(d, 3),
            "proxy_p90_ms": round(pct(times["proxy"], 0.9), 3),
            "direct_p90_ms": round(pct(times["direct"], 0.9), 3),
            "ratio_p50": round(p / d, 3),
            "added_p50_ms": round(p - d, 3),
        }
    return out


def sse_gaps(client: Any, base: str, n: int = 8) -> list[float]:
    event = client.post(base + "/gradio_api/call/count", json={"data": [str(n)]}).json()["event_id"]
    arrivals = []
    with client.stream("GET", base + f"/gradio_api/call/count/{event}") as r:
        for line in r.iter_lines():
            if line.startswith("event: generating") or line.startswith("event: complete"):
                arrivals.append(time.perf_counter())
    return [round((b - a) * 1000, 1) for a, b in itertools.pairwise(arrivals)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=300)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    import httpx
    from huggingface_hub import HfApi

    work = Path(tempfile.mkdtemp(prefix="spb-"))  # short: the app sockets live under it (TMPDIR)
    spaces_port = free_port()
    hub = start_hub(
        work / "data",
        {
            "MODELYARD_SPACES_PORT": str(spaces_port),
            "MODELYARD_SPACES_SLEEP_TIME": "-1",
            "TMPDIR": str(work),
        },
    )
    result: dict[str, Any] = {}
    try:
        api = HfApi(endpoint=hub.url, token=hub.token)
        repo_id = "bench/demo"
        api.create_repo(repo_id, repo_type="space", space_sdk="gradio")
        base = f"http://127.0.0.1:{spaces_port}/spaces/{repo_id}"
        with httpx.Client(timeout=60) as proxy:
            result["commit_to_running_first_s"] = round(commit_to_running(api, proxy, base, repo_id, "v1"), 2)
            result["commit_to_running_second_s"] = round(
                commit_to_running(api, proxy, base, repo_id, "v2"), 2
            )
            sock = app_socket(work)
            transport = httpx.HTTPTransport(uds=sock)
            with httpx.Client(transport=transport, timeout=60) as direct:
                config = proxy.get(base + "/config").json()
                result["config_root"] = config.get("root")
                result["latency"] = latency(proxy, direct, base, args.pairs)
                result["sse_gaps_ms"] = {
                    "proxy": sse_gaps(proxy, base),
                    "direct": sse_gaps(direct, "http://space"),
                }
    finally:
        stop(hub.proc, 30)
        shutil.rmtree(work, ignore_errors=True)

    print(
        f"commit -> RUNNING, first commit (env built from uv's warm cache): {result['commit_to_running_first_s']} s"
    )
    print(
        f"commit -> RUNNING, second commit (env reused, app restarted):    {result['commit_to_running_second_s']} s"
    )
    print(f"/config root through the proxy: {result['config_root']}")
    for name, row in result["latency"].items():
        print(
            f"{name:28s} proxy p50 {row['proxy_p50_ms']:7.2f} ms (p90 {row['proxy_p90_ms']:.2f})  "
            f"direct p50 {row['direct_p50_ms']:7.2f} ms (p90 {row['direct_p90_ms']:.2f})  "
            f"ratio {row['ratio_p50']:.2f}x  (+{row['added_p50_ms']:.2f} ms)"
        )
    for label, gaps in result["sse_gaps_ms"].items():
        print(f"SSE gaps {label:6s} (ms): {gaps}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
