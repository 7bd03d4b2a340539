"""Web page render latency on a hub with 10k repos, through the real HTTP server.

Usage: python bench/web_bench.py [--repos 10000] [--reps 100]

Builds a temp SQLite hub with the repos of bench/search_bench.py's generator (bulk SQL), gives one user (user0) a
few hundred repos, commits and likes (its user page and activity list), creates one real model through the client
(card, config, weights: the model and files pages), starts the app under uvicorn on a loopback port, then times
GET of the main pages with httpx and prints p50/p95 per page next to a baseline: the JSON API call that answers
the same question (/api/models with the same query, the model's info, its tree), and the ratio of the two p95s.
Goal: every page's p95 <= 100 ms.
"""

from __future__ import annotations

import argparse
import io
import shutil
import socket
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import uvicorn
from search_bench import generate, pct  # the same 100k-repo generator (this folder is on sys.path)
from sqlalchemy import text

from modelyard.config import Settings
from modelyard.db import migrate
from modelyard.db.schema import commits, likes
from modelyard.server.app import create_app
from modelyard.server.http_server import server_config
from modelyard.server.services import Services

GOAL_MS = 100.0


def give_user0_a_big_profile(svc: Services, n: int) -> None:
    """user0 owns every 20th repo (a user page with many repos), authored a commit in each, liked 200."""
    t0 = datetime(2024, 6, 1, tzinfo=UTC)
    with svc.db.transaction() as conn:
        conn.execute(
            text(
                "UPDATE repos SET namespace = 'user0', owner_id = 1, key_lower = 'model/user0/' || lower(name) "
                "WHERE id % 20 = 0"
            )
        )
        conn.execute(
            commits.insert(),
            [
                {
                    "repo_id": i,
                    "sha": f"{i:040x}",
                    "parent_sha": None,
                    "tree_sha": "0" * 40,
                    "author": "user0",
                    "title": f"Update {i}",
                    "message": "",
                    "created_at": t0 + timedelta(minutes=i),
                }
                for i in range(20, n + 1, 20)
            ],
        )
        conn.execute(
            likes.insert(),
            [
                {"account_id": 1, "repo_id": i, "created_at": t0 + timedelta(minutes=i)}
                for i in range(7, 1407, 7)
            ],
        )
    with svc.db.engine.connect() as c:
        c.exec_driver_sql("ANALYZE")


def real_model(url: str, token: str) -> str:
    from huggingface_hub import CommitOperationAdd, HfApi

    api = HfApi(endpoint=url, token=token)
    repo = "bench/demo-model"
    api.create_repo(repo)
    card = "---\nlicense: mit\npipeline_tag: text-classification\nlibrary_name: transformers\n---\n# Demo\n\n"
    ops = [
        CommitOperationAdd("README.md", (card + "Some text. " * 200).encode()),
        CommitOperationAdd("config.json", b'{"model_type": "bert", "hidden_size": 32}\n'),
        CommitOperationAdd("model.safetensors", io.BytesIO(b"\0" * 4096)),
    ]
    ops += [CommitOperationAdd(f"extra/file{i}.txt", f"file {i}\n".encode()) for i in range(40)]
    api.create_commit(repo, operations=ops, commit_message="Add the model")
    return repo


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repos", type=int, default=10_000)
    ap.add_argument("--reps", type=int, default=100, help="requests per page")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="modelyard-web-bench-"))
    settings = Settings(data_dir=str(tmp), port=0, log_level="warning")
    svc = Services.build(settings)
    migrate.upgrade(svc.db)
    t = time.perf_counter()
    generate(svc, args.repos)
    give_user0_a_big_profile(svc, args.repos)
    print(f"generated {args.repos} repos in {time.perf_counter() - t:.1f}s ({tmp})")
    svc.accounts.create("bench")
    token = svc.accounts.create_token("bench", "bench", "write")

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        server_config(create_app(settings, services=svc), log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    model = real_model(url, token)
    # (label, page, baseline: the JSON API call answering the same question)
    pages = [
        ("home", "/", "/api/models?sort=downloads&limit=30"),
        (
            "models search+facets",
            "/models?search=bert&pipeline_tag=text-classification",
            "/api/models?search=bert&pipeline_tag=text-classification&sort=downloads&limit=30",
        ),
        (
            "models filters",
            "/models?license=mit&language=en&sort=likes",
            "/api/models?license=mit&language=en&sort=likes&limit=30",
        ),
        ("search (all types)", "/search?q=llama", "/api/models?search=llama&sort=downloads&limit=6"),
        ("model page", f"/{model}", f"/api/models/{model}"),
        ("files page", f"/{model}/tree/main", f"/api/models/{model}/tree/main"),
        ("user page (500 repos)", "/user0", "/api/models?author=user0&sort=lastModified&limit=50"),
    ]
    worst = 0.0
    with httpx.Client(base_url=url, timeout=30) as client:
        for _, page, base in pages:  # warm up (templates, caches)
            for _ in range(3):
                client.get(page).raise_for_status()
                client.get(base).raise_for_status()
        print(f"{'page':<24} {'p50 ms':>8} {'p95 ms':>8} {'API p95':>8} {'ratio':>6}")
        for label, page, base in pages:
            ms: list[float] = []
            base_ms: list[float] = []
            for _ in range(args.reps):  # interleaved: both see the same machine load
                t = time.perf_counter()
                client.get(page).raise_for_status()
                ms.append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                client.get(base).raise_for_status()
                base_ms.append((time.perf_counter() - t) * 1000)
            p95, b95 = pct(ms, 0.95), pct(base_ms, 0.95)
            worst = max(worst, p95)
            print(f"{label:<24} {pct(ms, 0.5):8.1f} {p95:8.1f} {b95:8.1f} {p95 / b95:5.1f}x")
    print(f"worst page p95: {worst:.1f} ms (goal: <= {GOAL_MS:.0f} ms)")
    server.should_exit = True
    thread.join(timeout=15)  # the server's requests are done before the database goes
    svc.close()
    shutil.rmtree(tmp, ignore_errors=True)
    return 0 if worst <= GOAL_MS else 1


if __name__ == "__main__":
    sys.exit(main())
