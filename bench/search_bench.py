"""Search latency on 100k generated repos, through the real HTTP endpoint.

Usage: python bench/search_bench.py [--repos 100000] [--reps 200]

Builds a temp SQLite hub (migrated to head), inserts the repos and their tag index rows directly with SQL
(fast), starts the app under uvicorn on a loopback port, then times `GET /api/models?...` queries of several
kinds and prints p50/p95 in milliseconds per kind and over all. Goal: overall p50 <= 50 ms.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import uvicorn

from modelyard.config import Settings
from modelyard.db import migrate
from modelyard.db.schema import accounts, repo_tags, repos
from modelyard.hub.cards import derive_tags, index_keys
from modelyard.server.app import create_app
from modelyard.server.http_server import server_config
from modelyard.server.services import Services

WORDS = [
    "bert",
    "gpt",
    "llama",
    "mistral",
    "t5",
    "vit",
    "whisper",
    "clip",
    "roberta",
    "phi",
    "qwen",
    "gemma",
    "tiny",
    "base",
    "large",
    "small",
    "chat",
    "instruct",
    "code",
    "math",
    "sentiment",
    "ner",
    "qa",
    "vision",
]
PIPELINES = [
    "text-classification",
    "text-generation",
    "token-classification",
    "question-answering",
    "image-classification",
    "automatic-speech-recognition",
    "feature-extraction",
    "translation",
]
LIBRARIES = ["transformers", "sentence-transformers", "diffusers", "timm", "peft", "onnx"]
LICENSES = ["apache-2.0", "mit", "cc-by-4.0", "llama3", "other"]
LANGS = ["en", "fr", "de", "zh", "es", "ja", "multilingual"]
TAGS = [
    "pytorch",
    "safetensors",
    "demo",
    "finetuned",
    "quantized",
    "gguf",
    "4bit",
    "medical",
    "legal",
    "lora",
]


def generate(svc: Services, n: int, seed: int = 0) -> None:
    rnd = random.Random(seed)
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    users = [f"user{i}" for i in range(2000)]
    with svc.db.transaction() as conn:
        conn.execute(
            accounts.insert(),
            [
                {"id": i + 1, "name": u, "name_lower": u, "fullname": u, "kind": "user", "created_at": t0}
                for i, u in enumerate(users)
            ],
        )
        batch: list[dict[str, object]] = []
        tag_rows: list[dict[str, object]] = []
        for i in range(n):
            owner = rnd.randrange(len(users))
            name = f"{rnd.choice(WORDS)}-{rnd.choice(WORDS)}-{i}"
            card = {
                "pipeline_tag": rnd.choice(PIPELINES),
                "library_name": rnd.choice(LIBRARIES),
                "license": rnd.choice(LICENSES),
                "language": rnd.sample(LANGS, rnd.randint(1, 2)),
                "tags": rnd.sample(TAGS, rnd.randint(0, 3)),
            }
            tags, pipeline, library = derive_tags(card)
            created = t0 + timedelta(minutes=i)
            batch.append(
                {
                    "id": i + 1,
                    "type": "model",
                    "namespace": users[owner],
                    "name": name,
                    "key_lower": f"model/{users[owner]}/{name}".lower(),
                    "owner_id": owner + 1,
                    "private": rnd.random() < 0.05,
                    "created_at": created,
                    "last_modified": created + timedelta(minutes=rnd.randrange(100000)),
                    "downloads": int(rnd.paretovariate(1.2) * 10),
                    "likes": int(rnd.paretovariate(1.5)),
                    "card_data": json.dumps(card),
                    "tags": json.dumps(tags),
                    "pipeline_tag": pipeline,
                    "library_name": library,
                    "head_sha": f"{i:040x}",
                    "used_storage": rnd.randrange(10**9),
                }
            )
            tag_rows += [{"repo_id": i + 1, "tag": k} for k in index_keys(tags, card, pipeline, library)]
            if len(batch) >= 5000:
                conn.execute(repos.insert(), batch)
                conn.execute(repo_tags.insert(), tag_rows)
                batch, tag_rows = [], []
        if batch:
            conn.execute(repos.insert(), batch)
            conn.execute(repo_tags.insert(), tag_rows)
    with svc.db.engine.connect() as c:
        c.exec_driver_sql("ANALYZE")


QUERIES = {
    "search": lambda r: {"search": f"{r.choice(WORDS)}-{r.choice(WORDS)}", "limit": "30"},
    "search+sort": lambda r: {"search": r.choice(WORDS), "sort": "downloads", "limit": "30"},
    "rare search": lambda r: {"search": f"{r.choice(WORDS)}-{r.randrange(100000)}", "limit": "30"},
    "filter+sort": lambda r: {
        "filter": r.choice(TAGS),
        "pipeline_tag": r.choice(PIPELINES),
        "sort": "likes",
        "limit": "30",
    },
    "language+license": lambda r: {
        "language": r.choice(LANGS),
        "license": r.choice(LICENSES),
        "sort": "lastModified",
        "limit": "30",
    },
    "author": lambda r: {"author": f"user{r.randrange(2000)}", "limit": "30"},
    "search+filter+sort": lambda r: {
        "search": r.choice(WORDS),
        "filter": r.choice(TAGS),
        "library": r.choice(LIBRARIES),
        "sort": "downloads",
        "limit": "30",
    },
}


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repos", type=int, default=100_000)
    ap.add_argument("--reps", type=int, default=100, help="requests per query kind")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="modelyard-search-bench-"))
    settings = Settings(data_dir=str(tmp), port=0, log_level="warning")
    svc = Services.build(settings)
    migrate.upgrade(svc.db)
    t = time.perf_counter()
    generate(svc, args.repos)
    print(f"generated {args.repos} repos in {time.perf_counter() - t:.1f}s ({tmp})")

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        server_config(create_app(settings, services=svc), log_level="warning", access_log=False)
    )
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    rnd = random.Random(1)
    all_ms: list[float] = []
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        for _ in range(5):
            client.get("/api/models", params={"search": "bert", "limit": "30"})
        print(f"{'query':<20} {'p50 ms':>8} {'p95 ms':>8} {'hits':>6}")
        for kind, make in QUERIES.items():
            ms: list[float] = []
            hits = 0
            for _ in range(args.reps):
                t = time.perf_counter()
                r = client.get("/api/models", params=make(rnd))
                ms.append((time.perf_counter() - t) * 1000)
                r.raise_for_status()
                hits += len(r.json())
            all_ms += ms
            print(f"{kind:<20} {pct(ms, 0.5):8.1f} {pct(ms, 0.95):8.1f} {hits / args.reps:6.1f}")
    p50 = statistics.median(all_ms)
    print(f"{'ALL':<20} {p50:8.1f} {pct(all_ms, 0.95):8.1f}   (goal: p50 <= 50 ms)")
    server.should_exit = True
    svc.close()
    shutil.rmtree(tmp, ignore_errors=True)
    return 0 if p50 <= 50 else 1


if __name__ == "__main__":
    sys.exit(main())
