"""A standalone CAS server for tests and bench/: XetService + stand-in Hub token routes on uvicorn, port 0.

Not used by the hub; the real token routes live in ``modelyard.server`` (see ``hub_routes``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from modelyard.db import Database, migrate
from modelyard.server.errors import EXCEPTION_HANDLERS, RequestIdMiddleware
from modelyard.server.http_server import server_config
from modelyard.server.xet_cas import create_cas_app
from modelyard.server.xet_routes import xet_token_response
from modelyard.storage import open_store
from modelyard.xet.auth import Scope
from modelyard.xet.service import XetService

HUB_TOKEN = "hub-test-token"


def make_service(root: Path) -> XetService:
    db = Database(f"sqlite:///{root}/hub.db")
    migrate.upgrade(db)
    return XetService(db, open_store(f"file://{root}/blobs"), secret="test-secret")


def stand_in_hub(svc: XetService, base: dict[str, str]) -> Starlette:
    async def token(request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {HUB_TOKEN}":
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        p = request.path_params
        scope: Scope = "write" if p["kind"] == "write" else "read"
        return xet_token_response(svc, f"{p['type']}/{p['ns']}/{p['name']}", scope, f"{base['url']}/xet-cas")

    return Starlette(
        routes=[
            Route("/api/{type}s/{ns}/{name}/xet-{kind}-token/{rev}", token, methods=["GET"]),
            Mount("/xet-cas", app=create_cas_app(svc)),
        ],
        middleware=[Middleware(RequestIdMiddleware)],
        exception_handlers=EXCEPTION_HANDLERS,
    )


@dataclass
class StandaloneCas:
    svc: XetService
    root: Path
    url: str = ""
    _server: uvicorn.Server | None = field(default=None, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def start(self) -> StandaloneCas:
        base: dict[str, str] = {}
        cfg = server_config(
            stand_in_hub(self.svc, base), host="127.0.0.1", port=0, log_level="warning", lifespan="off"
        )
        self._server = uvicorn.Server(cfg)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.url = base["url"] = f"http://127.0.0.1:{port}"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.svc.db.dispose()

    def refresh_url(self, kind: str = "write") -> str:
        return f"{self.url}/api/models/user/repo/xet-{kind}-token/main"

    def client(self, *args: str, home: str = "client") -> dict[str, object]:
        """Run the hf_xet driver in a subprocess with its own (initially empty) client cache ``home``."""
        env = {**os.environ, "HF_HOME": str(self.root / home), "HF_XET_CACHE": str(self.root / home / "xet")}
        env.pop("HF_HUB_DISABLE_XET", None)
        proc = subprocess.run(
            [sys.executable, "-m", "modelyard.xet._hfxet_client", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"hf_xet client failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
        return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]

    def upload(self, *paths: Path, home: str = "client") -> dict[str, object]:
        return self.client("upload", self.refresh_url("write"), *map(str, paths), home=home)

    def download(self, file_hash: str, size: int, dest: Path, home: str = "client") -> None:
        self.client("download", self.refresh_url("read"), file_hash, str(size), str(dest), home=home)
