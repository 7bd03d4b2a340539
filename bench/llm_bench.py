"""LLM serving: continuous batching (16 concurrent chat streams) vs one-at-a-time ``generate`` on the same model.

Self-contained. Builds a small random Llama (hidden 256, 4 layers, 4 heads, intermediate 1024, a byte-level BPE
tokenizer of 2000 tokens trained on generated
text, every token whole ASCII text, a chat template, no EOS token so every answer runs to
``max_tokens``), then measures in this one run:

1. baseline: in-process ``model.generate`` (greedy, KV cache, torch threads = cores), one request at a time, on
   the same chat prompts and ``max_new_tokens``: generated tokens/s, and the time to first token that a server
   running one request at a time would give 16 requests arriving together (the sum of the runs before it, plus its
   own prefill);
2. the ModelYard endpoint (``python -m modelyard.server.inference_app``, continuous batching in a worker process):
   ``--clients`` (16) concurrent streamed ``/v1/chat/completions`` clients, each sending ``--rounds`` requests back
   to back: total generated tokens/s over the wall time, time to first token p50 / p99; plus one client alone.

Usage: python bench/llm_bench.py [--clients 16] [--rounds 2] [--max-tokens 96] [--json out.json]
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
import tempfile
import time
from pathlib import Path
from typing import Any

from _harness import free_port, wait_http

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
    "cat",
    "dog",
    "city",
    "river",
    "mountain",
    "book",
    "story",
    "music",
    "light",
    "water",
    "house",
    "garden",
    "road",
    "car",
    "train",
    "ship",
    "bird",
    "tree",
    "flower",
    "stone",
    "fire",
    "wind",
    "rain",
    "snow",
    "sun",
    "moon",
    "star",
    "night",
    "morning",
]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def build_model(path: Path) -> None:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    rng = random.Random(0)
    texts = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 20))) for _ in range(3000)]
    specials = ["<pad>", "<unk>", "<|user|>", "<|assistant|>", "<|system|>", "<|end|>"]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    # no byte-level initial alphabet: every token is whole ASCII text (a random model never emits half a character)
    trainer = trainers.BpeTrainer(vocab_size=2000, special_tokens=specials)
    tok.train_from_iterator(texts, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>")  # type: ignore[no-untyped-call]
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(path)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(fast),
        hidden_size=256,
        intermediate_size=1024,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=2048,
        pad_token_id=0,
        bos_token_id=None,
        eos_token_id=None,
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config).eval()  # type: ignore[no-untyped-call]
    model.generation_config.eos_token_id = None
    model.generation_config.bos_token_id = None
    model.generation_config.pad_token_id = 0
    model.save_pretrained(path)
    (path / "README.md").write_text("---\npipeline_tag: text-generation\n---\n# bench llama\n")


def make_prompts(n: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(12, 28))) for _ in range(n)]


def baseline(model_dir: Path, prompts: list[str], max_tokens: int, threads: int) -> dict[str, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(threads)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()  # type: ignore[no-untyped-call]
    encoded: list[Any] = [
        tokenizer.apply_chat_template(
            [{"role": "user", "content": p}],
            add_generation_prompt=True,
            return_tensors="pt",
            return_dict=True,
        )
        for p in prompts
    ]

    def generate(enc: Any, n: int) -> Any:
        with torch.inference_mode():
            return model.generate(**enc, max_new_tokens=n, min_new_tokens=n, do_sample=False, pad_token_id=0)

    generate(encoded[0], 4)  # warm-up
    durations, firsts, tokens = [], [], 0
    started = time.perf_counter()
    for enc in encoded:
        t0 = time.perf_counter()
        generate(enc, 1)
        firsts.append(time.perf_counter() - t0)  # prefill + first token
        t0 = time.perf_counter()
        out = generate(enc, max_tokens)
        durations.append(time.perf_counter() - t0)
        tokens += out.shape[1] - enc["input_ids"].shape[1]
    elapsed = sum(durations)
    # a one-request-at-a-time server, all requests arriving at once: each waits for the ones before it
    queued_ttft = [sum(durations[:i]) + firsts[i] for i in range(len(durations))]
    del started
    return {
        "tokens": tokens,
        "seconds": elapsed,
        "tokens_per_s": tokens / elapsed,
        "per_request_s": statistics.median(durations),
        "ttft_alone_p50_ms": 1000 * statistics.median(firsts),
        "ttft_queued_p50_ms": 1000 * _pct(queued_ttft, 50),
        "ttft_queued_p99_ms": 1000 * _pct(queued_ttft, 99),
    }


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


async def _chat(client: Any, url: str, prompt: str, max_tokens: int) -> tuple[float, int]:
    """One streamed chat: (time to first content chunk, completion tokens from the usage chunk)."""
    body = {
        "model": "bench",
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    t0 = time.perf_counter()
    first = None
    tokens = 0
    async with client.stream("POST", url, json=body) as resp:
        resp.raise_for_status()
        async for line in resp.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if chunk.get("usage"):
                tokens = int(chunk["usage"]["completion_tokens"])
            if first is None and chunk.get("choices") and chunk["choices"][0]["delta"].get("content"):
                first = time.perf_counter() - t0
    return (first if first is not None else time.perf_counter() - t0), tokens


async def load(url: str, prompts: list[str], clients: int, rounds: int, max_tokens: int) -> dict[str, Any]:
    import httpx

    limits = httpx.Limits(max_connections=clients + 4, max_keepalive_connections=clients + 4)
    async with httpx.AsyncClient(timeout=600, limits=limits) as client:
        await _chat(client, url, prompts[0], 4)  # warm-up
        ttfts: list[float] = []
        total = 0

        async def one(i: int) -> None:
            nonlocal total
            for r in range(rounds):
                ttft, tokens = await _chat(client, url, prompts[(i + r * clients) % len(prompts)], max_tokens)
                ttfts.append(ttft)
                total += tokens

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(clients)))
        elapsed = time.perf_counter() - started
    return {
        "clients": clients,
        "requests": len(ttfts),
        "tokens": total,
        "seconds": elapsed,
        "tokens_per_s": total / elapsed,
        "ttft_p50_ms": 1000 * _pct(ttfts, 50),
        "ttft_p99_ms": 1000 * _pct(ttfts, 99),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--model-dir", type=Path, help="reuse a model built by an earlier run")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads, both sides")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    tmp = tempfile.TemporaryDirectory(prefix="llm-bench-")
    model_dir = args.model_dir or Path(tmp.name) / "llama"
    if not (model_dir / "config.json").exists():
        build_model(model_dir)
    print(
        f"# model: random Llama, hidden 256, 4 layers, vocab 2000 ({model_dir}); cores: {os.cpu_count()}, "
        f"torch threads: {args.threads}; load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    prompts = make_prompts(args.clients * args.rounds)

    # the baseline runs half its requests before the endpoint and half after (this host's speed drifts)
    half = max(1, args.clients // 2)
    before = baseline(model_dir, prompts[:half], args.max_tokens, args.threads)
    print(f"baseline pass 1: {before['tokens_per_s']:.1f} tok/s", flush=True)

    port = free_port()
    cmd = [sys.executable, "-m", "modelyard.server.inference_app", "--model-dir", str(model_dir)]
    cmd += ["--name", "llm", "--task", "text-generation", "--port", str(port), "--threads", str(args.threads)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    try:
        base_url = f"http://127.0.0.1:{port}/endpoints/llm"
        wait_http(base_url + "/health", 180, need_ok=True)
        url = base_url + "/v1/chat/completions"
        alone = asyncio.run(load(url, prompts, 1, 4, args.max_tokens))
        print(
            f"endpoint, 1 client: {alone['tokens_per_s']:.1f} tok/s, TTFT p50 {alone['ttft_p50_ms']:.1f} ms",
            flush=True,
        )
        many = asyncio.run(load(url, prompts, args.clients, args.rounds, args.max_tokens))
    finally:
        proc.terminate()
        proc.wait(30)
    after = baseline(model_dir, prompts[half : 2 * half], args.max_tokens, args.threads)
    print(f"baseline pass 2: {after['tokens_per_s']:.1f} tok/s", flush=True)
    base = {k: (before[k] + after[k]) / 2 for k in before}
    base["tokens_per_s"] = (before["tokens"] + after["tokens"]) / (before["seconds"] + after["seconds"])
    print(
        f"baseline generate, one at a time: {base['tokens_per_s']:.1f} tok/s "
        f"({base['per_request_s'] * 1000:.0f} ms per request); TTFT alone p50 {base['ttft_alone_p50_ms']:.1f} ms; "
        f"TTFT of a one-at-a-time server for {half} requests arriving together: "
        f"p50 {base['ttft_queued_p50_ms']:.0f} ms, p99 {base['ttft_queued_p99_ms']:.0f} ms"
    )
    print(
        f"endpoint, {args.clients} concurrent chat streams x {args.rounds} rounds: {many['tokens_per_s']:.1f} tok/s "
        f"({many['tokens']} tokens in {many['seconds']:.1f} s); TTFT p50 {many['ttft_p50_ms']:.1f} ms, "
        f"p99 {many['ttft_p99_ms']:.1f} ms"
    )
    ratio = many["tokens_per_s"] / base["tokens_per_s"]
    print(f"ratio (continuous batching / one-at-a-time generate): {ratio:.2f}x (goal >= 4x)")
    print(f"# load average at the end: {os.getloadavg()[0]:.1f}")
    if args.json:
        args.json.write_text(
            json.dumps({"baseline": base, "alone": alone, "concurrent": many, "ratio": ratio})
        )


if __name__ == "__main__":
    main()
