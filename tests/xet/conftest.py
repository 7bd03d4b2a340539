"""Fixtures: a XetService on a fresh SQLite DB + fs blob store, served by a real uvicorn on 127.0.0.1:0.

The server hosts the CAS app at /xet-cas and a stand-in for the two Hub token routes
(``/api/{type}s/{ns}/{name}/xet-{read|write}-token/{rev}``) built with ``modelyard.xet.hub_routes``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from modelyard.db import Database, migrate
from modelyard.storage import open_store
from modelyard.xet import XetService
from modelyard.xet.hub_routes import xet_token_response

CLIENT = str(Path(__file__).with_name("_client.py"))
HUB_TOKEN = "hub-test-token"


def make_service(tmp: Path) -> XetService:
    db = Database(f"sqlite:///{tmp}/hub.db")
    migrate.upgrade(db)
    return XetService(db, open_store(f"file://{tmp}/blobs"), secret="test-secret")


def stand_in_hub(svc: XetService, base: dict[str, str]) -> Starlette:
    async def token(request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {HUB_TOKEN}":
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        p = request.path_params
        scope = "write" if p["kind"] == "write" else "read"
        repo_key = f"{p['type']}/{p['ns']}/{p['name']}"
        return xet_token_response(svc, repo_key, scope, f"{base['url']}/xet-cas")

    return Starlette(
        routes=[
            Route("/api/{type}s/{ns}/{name}/xet-{kind}-token/{rev}", token, methods=["GET"]),
            Mount("/xet-cas", app=svc.cas_app()),
        ]
    )


@dataclass
class LiveCas:
    svc: XetService
    url: str
    tmp: Path

    def refresh_url(self, kind: str = "write") -> str:
        return f"{self.url}/api/models/user/repo/xet-{kind}-token/main"

    def client(self, *args: str, home: str = "client") -> dict[str, object]:
        env = {**os.environ, "HF_HOME": str(self.tmp / home), "HF_XET_CACHE": str(self.tmp / home / "xet")}
        env.pop("HF_HUB_DISABLE_XET", None)
        proc = subprocess.run(
            [sys.executable, CLIENT, *args], env=env, capture_output=True, text=True, timeout=600, check=False
        )
        if proc.returncode != 0:
            raise AssertionError(f"hf_xet client failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
        return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]

    def upload(self, *paths: Path, home: str = "client") -> dict[str, object]:
        return self.client("upload", self.refresh_url("write"), *map(str, paths), home=home)

    def download(self, file_hash: str, size: int, dest: Path, home: str = "client") -> None:
        self.client("download", self.refresh_url("read"), file_hash, str(size), str(dest), home=home)


@pytest.fixture
def live_cas(tmp_path: Path) -> Iterator[LiveCas]:
    svc = make_service(tmp_path)
    base: dict[str, str] = {}
    config = uvicorn.Config(
        stand_in_hub(svc, base), host="127.0.0.1", port=0, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    base["url"] = f"http://127.0.0.1:{port}"
    try:
        yield LiveCas(svc, base["url"], tmp_path)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        svc.db.dispose()
