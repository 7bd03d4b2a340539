"""Shared fixtures: a live ModelYard hub (uvicorn on 127.0.0.1, port 0) and the tiny test model.

huggingface_hub, transformers and datasets read ``HF_ENDPOINT`` and the cache locations *at import time*
(``huggingface_hub.constants.ENDPOINT``), so this module binds the session server's socket on port 0 and sets
the client environment before anything imports them. Extra servers (``start_server``) get their own port;
pass ``endpoint=server.url`` to the client calls that target them.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

# --- client environment, before any HF library is imported -------------------------------------------
_SESSION_SOCK = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
_SESSION_SOCK.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
_SESSION_SOCK.bind(("127.0.0.1", 0))
SESSION_PORT: int = _SESSION_SOCK.getsockname()[1]
SESSION_URL = f"http://127.0.0.1:{SESSION_PORT}"
_CLIENT_HOME = tempfile.mkdtemp(prefix="modelyard-hf-home-")

os.environ.update(
    {
        "HF_ENDPOINT": SESSION_URL,
        "HF_HOME": _CLIENT_HOME,
        "HF_HUB_CACHE": os.path.join(_CLIENT_HOME, "hub"),
        "HF_DATASETS_CACHE": os.path.join(_CLIENT_HOME, "datasets"),
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
        "DISABLE_SAFETENSORS_CONVERSION": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "HF_HUB_ETAG_TIMEOUT": "30",
        "HF_HUB_DOWNLOAD_TIMEOUT": "60",
    }
)
for _var in (
    "HF_HUB_DISABLE_XET",  # the default client (Xet on) is the main mode; the `transfer` fixture adds LFS
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "HF_HUB_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "HF_DATASETS_OFFLINE",
):
    os.environ.pop(_var, None)
if "huggingface_hub" in sys.modules:  # imported by a plugin before us: align the import-time constants
    from huggingface_hub import constants as _c

    _c.ENDPOINT = SESSION_URL
    _c.HUGGINGFACE_CO_URL_TEMPLATE = SESSION_URL + "/{repo_id}/resolve/{revision}/{filename}"
    _c.HF_HUB_DISABLE_XET = False

import uvicorn  # noqa: E402

from _postgres import database_overrides, pg_cluster, postgres_url  # noqa: E402, F401
from _s3 import blob_overrides, s3_server  # noqa: E402, F401
from _transfer import TRANSFERS, transfer_mode  # noqa: E402
from modelyard.config import Settings  # noqa: E402
from modelyard.db import migrate  # noqa: E402
from modelyard.server.app import create_app  # noqa: E402
from modelyard.server.http_server import server_config  # noqa: E402
from modelyard.server.listen import bind_hub  # noqa: E402
from modelyard.server.services import Services  # noqa: E402


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_CLIENT_HOME, ignore_errors=True)


# --- live servers --------------------------------------------------------------------------------------
@dataclass
class Hub:
    """A running hub: its base URL, settings, services and the test accounts' tokens."""

    url: str
    settings: Settings
    services: Services
    alice: str = ""  # alice's write token
    alice_read: str = ""  # alice's read-only token
    bob: str = ""  # bob's write token
    org: str = "acme"  # an org alice (not bob) belongs to
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def api(self, token: str | None = None) -> Any:
        from huggingface_hub import HfApi

        return HfApi(endpoint=self.url, token=token if token is not None else self.alice)

    def auth(self, token: str | None = None) -> dict[str, str]:
        return {"authorization": f"Bearer {token if token is not None else self.alice}"}


class _ThreadedServer(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # pragma: no cover - older uvicorn
        pass


@contextmanager
def start_server(
    data_dir: Path,
    sock: socket.socket | None = None,
    spaces: bool = False,
    jobs: bool = False,
    **overrides: Any,
) -> Iterator[Hub]:
    """Run a hub on 127.0.0.1 (port 0 unless `sock` is given) in a thread, with users alice, bob and org acme.

    `spaces=True`: Spaces run (spaces_enabled), served by a second listener on its own port (the Spaces origin,
    `hub.extra["spaces_url"]`); otherwise space repos only store files (no builds in unrelated tests)."""
    overrides.setdefault("spaces_enabled", spaces)
    overrides.setdefault("jobs_enabled", jobs)  # `jobs=True`: the job runner (tests/jobs, tests/training)
    if sock is None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
    # CI runners may have little free disk; the reserve is tested on its own
    overrides.setdefault("disk_reserve_mb", 64)
    # MODELYARD_TEST_DB=postgres / MODELYARD_TEST_BLOBS=s3: the same tests on PostgreSQL / an S3 server (issue 17)
    for key, value in {**database_overrides(data_dir), **blob_overrides(data_dir)}.items():
        overrides.setdefault(key, value)
    settings = Settings(data_dir=str(data_dir), port=0, log_level="warning", **overrides)
    services = Services.build(settings)
    migrate.upgrade(services.db)
    app = create_app(settings, services=services, auto_migrate=True)
    bind_hub(app, ("127.0.0.1", sock.getsockname()[1]))  # jobs reach the hub here (their HF_ENDPOINT)
    config = server_config(app, log_level="warning", lifespan="on", timeout_keep_alive=30, access_log=False)
    server = _ThreadedServer(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the hub server did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]  # read the bound port back
    hub = Hub(url=f"http://127.0.0.1:{port}", settings=settings, services=services)
    spaces_server: _ThreadedServer | None = None
    if spaces:
        from modelyard.server.listen import bind_spaces, spaces_app

        ssock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ssock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ssock.bind(("127.0.0.1", 0))
        sport = ssock.getsockname()[1]
        bind_spaces(app, hub_address=("127.0.0.1", port), spaces_origin=f"http://127.0.0.1:{sport}")
        sconfig = server_config(
            spaces_app(app), log_level="warning", lifespan="off", timeout_keep_alive=30, access_log=False
        )
        spaces_server = _ThreadedServer(sconfig)
        sthread = threading.Thread(target=spaces_server.run, kwargs={"sockets": [ssock]}, daemon=True)
        sthread.start()
        while not spaces_server.started:
            if not sthread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the spaces listener did not start")
            time.sleep(0.02)
        hub.extra["spaces_url"] = f"http://127.0.0.1:{sport}"
    acc = services.accounts
    # a data_dir used before (restart tests, issue 14): the accounts exist, new tokens only
    restarted = acc.find("alice") is not None
    if not restarted:
        acc.create("alice", "Alice A.")
        acc.create("bob", "Bob B.")
        acc.create(hub.org, "Acme Inc.", kind="org")
        acc.add_member(hub.org, "alice")
    suffix = f"-{time.time_ns()}" if restarted else ""
    hub.alice = acc.create_token("alice", "ci-write" + suffix, "write")
    hub.alice_read = acc.create_token("alice", "ci-read" + suffix, "read")
    hub.bob = acc.create_token("bob", "bob-write" + suffix, "write")
    try:
        yield hub
    finally:
        if spaces_server is not None:
            spaces_server.should_exit = True
        server.should_exit = True
        thread.join(timeout=15)


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """The session hub, at HF_ENDPOINT. tree_page_size is small so every listing paginates."""
    with start_server(tmp_path_factory.mktemp("hub"), sock=_SESSION_SOCK, tree_page_size=4) as hub:
        assert hub.url == SESSION_URL
        yield hub


@pytest.fixture(scope="session")
def hub_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Start extra hubs with custom Settings: ``hub_factory(multipart_threshold=..., ...)``; stopped at session end."""
    stack: list[Any] = []

    def make(**overrides: Any) -> Hub:
        cm = start_server(tmp_path_factory.mktemp("hub-extra"), **overrides)
        hub = cm.__enter__()
        stack.append(cm)
        return hub

    yield make
    for cm in reversed(stack):
        cm.__exit__(None, None, None)


@pytest.fixture
def api(live_server: Hub) -> Any:
    """HfApi as alice (write token) against the session hub."""
    return live_server.api()


@pytest.fixture(params=TRANSFERS)
def transfer(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run the test once per upload path: "xet" (the default client) and "lfs" (HF_HUB_DISABLE_XET=1).

    Check which path the server saw with ``assert_arrived(hub, sha256, transfer)`` (tests/_transfer.py).
    Pin a test to one path with ``@pytest.mark.parametrize("transfer", ["lfs"], indirect=True)``.
    """
    with transfer_mode(request.param) as mode:
        yield mode


@pytest.fixture
def repo_name(request: pytest.FixtureRequest) -> str:
    """A repo name unique to this test."""
    base = request.node.name.split("[")[0].replace("test_", "", 1).replace("_", "-")[:40].strip("-.")
    return f"{base}-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def hf_cache(tmp_path: Path) -> Path:
    """A fresh, empty HF cache dir for this test."""
    p = tmp_path / "hf-cache"
    p.mkdir()
    return p


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from _tiny import build_tiny_model  # tests/ is on sys.path (rootdir conftest)

    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))
