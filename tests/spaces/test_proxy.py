"""The Spaces origin (server/spaces_proxy.py).

Part 1 drives the proxy on its own: a real uvicorn serving `create_spaces_app` over the session hub's services,
in front of a real app on a Unix socket (an echo/SSE/WebSocket app this module runs), with a stand-in for the
supervisor's two proxy calls (`acquire`, `in_use`) so each proxy rule is checked without building a Space.
Part 2 is end to end against `spaces_hub` (real builds, sandbox, Gradio and gradio_client).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from tests.spaces._spaces import card, push_space, space_url, wait_stage

from conftest import Hub
from modelyard.errors import SpaceNotRunning
from modelyard.server.http_server import server_config
from modelyard.server.spaces_proxy import (
    SIGN_COOKIE,
    _sign,
    create_spaces_app,
    rewrite_set_cookie,
    safe_static_path,
    sign_space_url,
    sign_token,
    verify_link,
)
from modelyard.spaces.manager import AppTarget
from modelyard.spaces.urls import SpaceUrls

SSE_GAP = 0.2


# --- the app behind the proxy --------------------------------------------------------------------------------
async def echo(request: Request) -> Response:
    body = b""
    async for chunk in request.stream():
        body += chunk
    return JSONResponse(
        {
            "method": request.method,
            "path": request.url.path,
            "raw_path": request.scope["raw_path"].decode("latin-1"),
            "query": request.url.query,
            "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in request.scope["headers"]],
            "body_len": len(body),
        },
        headers={"x-frame-options": "DENY"},
    )


async def sse(request: Request) -> Response:
    async def events() -> Any:
        for i in range(5):
            yield f"data: {i}\n\n".encode()
            await asyncio.sleep(SSE_GAP)

    return StreamingResponse(events(), media_type="text/event-stream")


async def cookies(request: Request) -> Response:
    resp = Response("ok")
    resp.raw_headers += [
        (b"set-cookie", b"app=1; Path=/"),
        (b"set-cookie", b"modelyard_session=stolen; Path=/; HttpOnly"),
        (b"set-cookie", b"wide=2; Domain=127.0.0.1; Path=/x"),
    ]
    return resp


async def ws_echo(websocket: WebSocket) -> None:
    offered = websocket.scope.get("subprotocols") or []
    await websocket.accept(subprotocol=offered[0] if offered else None)
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") == "close":
            await websocket.close(code=4001, reason="bye")
            return
        if message.get("text") is not None:
            await websocket.send_text("echo:" + message["text"])
        else:
            await websocket.send_bytes(b"echo:" + message["bytes"])


APP = Starlette(
    routes=[
        Route("/sse", sse),
        Route("/cookies", cookies),
        WebSocketRoute("/ws", ws_echo),
        WebSocketRoute("/spaces/{ns}/{name}/ws", ws_echo),
        Route("/{path:path}", echo, methods=["GET", "POST", "PUT", "HEAD"]),
    ]
)


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # pragma: no cover
        pass


@contextlib.contextmanager
def serve(app: Any, **bind: Any) -> Iterator[_Server]:
    config = server_config(app, log_level="warning", lifespan="off", access_log=False, **bind)
    server = _Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    try:
        yield server
    finally:
        server.should_exit = True
        thread.join(timeout=10)


class StandIn:
    """The supervisor's proxy-facing calls, pointing at apps this module runs (see the module docstring)."""

    def __init__(self) -> None:
        self.urls = SpaceUrls("", "")
        self.targets: dict[str, AppTarget] = {}
        self.down: dict[str, SpaceNotRunning] = {}
        self.users = 0
        self.acquired: list[tuple[str, float]] = []

    async def acquire(self, repo: Any, wait: float) -> AppTarget:
        self.acquired.append((repo.id_str, wait))
        if repo.id_str in self.down:
            raise self.down[repo.id_str]
        return self.targets[repo.id_str]

    @contextlib.contextmanager
    def in_use(self, repo: Any) -> Iterator[None]:
        self.users += 1
        try:
            yield
        finally:
            self.users -= 1


class Rig:
    def __init__(self, hub: Hub, url: str, manager: StandIn, sock: Path, static_dir: Path) -> None:
        self.hub, self.url, self.manager, self.sock, self.static_dir = hub, url, manager, sock, static_dir

    def space(self, kind: str = "socket", private: bool = False, strip: bool = True) -> str:
        name = f"px-{uuid.uuid4().hex[:8]}"
        repo_id = f"alice/{name}"
        self.hub.api().create_repo(repo_id, repo_type="space", space_sdk="static", private=private)
        prefix = f"/spaces/{repo_id}"
        path = self.sock if kind == "socket" else self.static_dir
        self.manager.targets[repo_id] = AppTarget(kind, path, prefix, strip)  # type: ignore[arg-type]
        return repo_id

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return httpx.get(self.url + path, timeout=30, **kw)


@pytest.fixture(scope="module")
def rig(live_server: Hub) -> Iterator[Rig]:
    tmp = Path(tempfile.mkdtemp(prefix="mypx-"))
    sock = tmp / "app.sock"
    static_dir = tmp / "static"
    (static_dir / "sub").mkdir(parents=True)
    (static_dir / "index.html").write_text("<h1>static index</h1>")
    (static_dir / "app.js").write_text("console.log(1)")
    (static_dir / "sub" / "index.html").write_text("sub index")
    (static_dir / "sub" / "page.html").write_text("sub page")
    (tmp / "secret.txt").write_text("hub secret")
    os.symlink(tmp / "secret.txt", static_dir / "leak.txt")
    os.symlink(tmp, static_dir / "up")
    manager = StandIn()
    state = type("State", (), {})()
    state.services = live_server.services
    state.space_manager = manager
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    port = lsock.getsockname()[1]
    lsock.close()
    manager.urls.origin = f"http://127.0.0.1:{port}"
    with serve(APP, uds=str(sock)), serve(create_spaces_app(state), host="127.0.0.1", port=port):
        yield Rig(live_server, manager.urls.origin, manager, sock, static_dir)
    shutil.rmtree(tmp, ignore_errors=True)


# --- pieces ---------------------------------------------------------------------------------------------------
def test_signed_links(live_server: Hub) -> None:
    st = live_server.settings
    url = sign_space_url(st, "http://127.0.0.1:9/spaces/alice/x", 7, 42)
    assert url.startswith("http://127.0.0.1:9/spaces/alice/x/?__sign=")
    token = url.split("__sign=", 1)[1]
    assert verify_link(st, token) == (7, 42)
    uid, rid, exp, mac = token.split(".")
    assert verify_link(st, f"{uid}.43.{exp}.{mac}") is None  # another repo
    assert verify_link(st, f"8.{rid}.{exp}.{mac}") is None  # another user
    assert verify_link(st, f"{uid}.{rid}.{int(exp) + 1000}.{mac}") is None  # a longer life
    assert verify_link(st, sign_token(st, 7, 42, ttl=-1)) is None  # expired
    assert verify_link(st, _sign(st, "cookie", 7, 42, int(time.time()) + 60)) is None  # a cookie is no link
    assert verify_link(st, "garbage") is None and verify_link(st, "1.2.3.4.5") is None


def test_set_cookie_rewrite() -> None:
    prefix = "/spaces/alice/demo"
    assert rewrite_set_cookie("a=1; Path=/; HttpOnly", prefix, True) == f"a=1; HttpOnly; Path={prefix}/"
    assert rewrite_set_cookie("a=1", prefix, True) == f"a=1; Path={prefix}/"
    assert rewrite_set_cookie("a=1; Path=/x", prefix, True) == f"a=1; Path={prefix}/x"
    assert rewrite_set_cookie("a=1; Domain=example.org; Path=/", "", True) == "a=1; Path=/"
    assert rewrite_set_cookie(f"a=1; Path={prefix}/_stcore", prefix, False) == f"a=1; Path={prefix}/_stcore"
    assert rewrite_set_cookie("a=1; Path=/", prefix, False) == f"a=1; Path={prefix}/"
    assert rewrite_set_cookie("modelyard_session=x; Path=/", prefix, True) is None
    assert rewrite_set_cookie("Modelyard_csrf=x", "", True) is None


def test_static_path_is_safe(tmp_path: Path) -> None:
    root = tmp_path / "site"
    (root / "d").mkdir(parents=True)
    (root / "index.html").write_text("i")
    (root / "d" / "f.txt").write_text("f")
    (tmp_path / "secret").write_text("s")
    os.symlink(tmp_path / "secret", root / "link")
    os.symlink(root / "d" / "f.txt", root / "inside")
    assert safe_static_path(root, "/", b"/", "index.html") == (root / "index.html").resolve()
    assert safe_static_path(root, "/d/f.txt", b"/d/f.txt", "index.html") == (root / "d" / "f.txt").resolve()
    assert safe_static_path(root, "/inside", b"/inside", "index.html") is not None  # a link within the dir
    for rest, raw in [
        ("/../secret", b"/../secret"),
        ("/d/../../secret", b"/d/%2e%2e/%2e%2e/secret"),
        ("/d/../../secret", b"/d%2f..%2f..%2fsecret"),
        ("/..\\secret", b"/..%5csecret"),
        ("/link", b"/link"),
        ("/nope", b"/nope"),
        ("/d/f.txt\x00", b"/d/f.txt%00"),
    ]:
        assert safe_static_path(root, rest, raw, "index.html") is None, rest


# --- the proxy in front of a real app ----------------------------------------------------------------------------
def headers_seen(resp: httpx.Response) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for k, v in resp.json()["headers"]:
        out.setdefault(k, []).append(v)
    return out


def released(rig: Rig) -> None:
    """`in_use` is let go once the answer is sent (the client may see the answer a moment before)."""
    deadline = time.monotonic() + 5
    while rig.manager.users and time.monotonic() < deadline:
        time.sleep(0.02)
    assert rig.manager.users == 0


def test_forwarding_strips_credentials(rig: Rig) -> None:
    repo_id = rig.space()
    r = rig.get(
        f"/spaces/{repo_id}/api/x%2Fy?q=1&q=2",
        headers={
            "authorization": f"Bearer {rig.hub.alice}",
            "x-hf-authorization": f"Bearer {rig.hub.alice}",
            "cookie": f"modelyard_session=s; modelyard_csrf=c; {SIGN_COOKIE}=z; app=1",
            "x-forwarded-host": "evil.example",
            "accept-encoding": "identity",
        },
    )
    assert r.status_code == 200, r.text
    seen = headers_seen(r)
    assert r.json()["raw_path"] == "/api/x%2Fy"  # prefix stripped, encoding kept
    assert r.json()["query"] == "q=1&q=2"
    assert "authorization" not in seen and "x-hf-authorization" not in seen
    assert seen["cookie"] == ["app=1"]
    host = rig.url.split("://", 1)[1]
    assert seen["host"] == [host] and seen["x-forwarded-host"] == [host]
    assert seen["x-forwarded-proto"] == ["http"]
    assert seen["x-forwarded-prefix"] == [f"/spaces/{repo_id}"]
    assert seen["x-forwarded-for"] == ["127.0.0.1"]
    assert "x-frame-options" not in r.headers
    assert r.headers["content-security-policy"].startswith("frame-ancestors 'self'")
    released(rig)


def test_prefix_kept_when_the_app_wants_it(rig: Rig) -> None:
    repo_id = rig.space(strip=False)
    r = rig.get(f"/spaces/{repo_id}/_stcore/health")
    assert r.json()["path"] == f"/spaces/{repo_id}/_stcore/health"


def test_slash_redirect_keeps_the_query(rig: Rig) -> None:
    repo_id = rig.space()
    r = rig.get(f"/spaces/{repo_id}?a=1&b=2")
    assert r.status_code == 307
    assert r.headers["location"] == f"/spaces/{repo_id}/?a=1&b=2"


def test_app_cookies_are_confined(rig: Rig) -> None:
    repo_id = rig.space()
    r = rig.get(f"/spaces/{repo_id}/cookies")
    got = r.headers.get_list("set-cookie")
    assert got == [f"app=1; Path=/spaces/{repo_id}/", f"wide=2; Path=/spaces/{repo_id}/x"]


def test_no_cookie_jar_between_callers(rig: Rig) -> None:
    """The proxy's pooled connection to an app keeps no cookies: one caller's Set-Cookie never rides along with
    another caller's request."""
    repo_id = rig.space()
    assert rig.get(f"/spaces/{repo_id}/cookies").headers.get_list("set-cookie")
    seen = headers_seen(rig.get(f"/spaces/{repo_id}/who"))
    assert "cookie" not in seen, seen


def test_pooled_connections_survive_an_app_restart(rig: Rig) -> None:
    """The proxy keeps connections to an app alive between requests; when the app restarts on the same socket,
    the next request goes through on a new connection (never a 502 for a connection the app closed)."""
    sock = Path(tempfile.mkdtemp(prefix="mypx-")) / "r.sock"
    repo_id = rig.space()
    rig.manager.targets[repo_id] = AppTarget("socket", sock, f"/spaces/{repo_id}", True)
    for _ in range(2):
        with serve(APP, uds=str(sock)):
            for _ in range(3):
                assert rig.get(f"/spaces/{repo_id}/a").status_code == 200
            r = httpx.post(rig.url + f"/spaces/{repo_id}/b", content=b"x" * 1000, timeout=30)
            assert r.status_code == 200 and r.json()["body_len"] == 1000
    assert rig.get(f"/spaces/{repo_id}/a").status_code == 502  # stopped: nothing listens on the socket


def test_request_body_streams(rig: Rig) -> None:
    repo_id = rig.space()
    body = os.urandom(3 * 1024 * 1024)
    r = httpx.post(rig.url + f"/spaces/{repo_id}/upload", content=body, timeout=30)
    assert r.json()["body_len"] == len(body)

    def gen() -> Iterator[bytes]:
        for _ in range(4):
            yield b"x" * 100_000

    r = httpx.post(rig.url + f"/spaces/{repo_id}/upload", content=gen(), timeout=30)  # chunked
    assert r.json()["body_len"] == 400_000


def test_sse_is_not_buffered(rig: Rig) -> None:
    repo_id = rig.space()
    arrivals = []
    with httpx.stream("GET", rig.url + f"/spaces/{repo_id}/sse", timeout=30) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("data:"):
                arrivals.append(time.monotonic())
                if len(arrivals) == 3:
                    assert rig.manager.users == 1  # held while streaming
    assert len(arrivals) == 5
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert min(gaps) > SSE_GAP * 0.6, gaps


def test_head_and_unknown_spaces(rig: Rig) -> None:
    repo_id = rig.space()
    assert httpx.head(rig.url + f"/spaces/{repo_id}/x").status_code == 200
    r = rig.get("/spaces/alice/does-not-exist/")
    assert r.status_code == 404 and r.headers["x-error-code"] == "RepoNotFound"
    assert r.json() == {"error": "Repository not found"}
    assert rig.get("/elsewhere").status_code == 404
    home = rig.get("/")
    assert home.status_code == 200 and "/spaces" in home.text


def test_private_space_access(rig: Rig) -> None:
    hub = rig.hub
    repo_id = rig.space(private=True)
    base = f"/spaces/{repo_id}/"
    for headers in (
        {},
        {"authorization": f"Bearer {hub.bob}"},
        {"x-hf-authorization": f"Bearer {hub.bob}"},
        {"authorization": "Bearer hf_not_a_token"},
        {"cookie": f"{SIGN_COOKIE}=1.2.3.abc"},
    ):
        r = rig.get(base, headers=headers)
        assert r.status_code == 404, headers
        assert r.json() == {"error": "Repository not found"}
    r = rig.get(base, headers={"x-hf-authorization": f"Bearer {hub.alice}"})
    assert r.status_code == 200
    assert "x-hf-authorization" not in headers_seen(r)
    r = rig.get(base, headers={"authorization": f"Bearer {hub.alice_read}"})
    assert r.status_code == 200

    st = hub.settings
    repo = hub.services.repos.get(*_space_key(repo_id), hub.services.accounts.authenticate(hub.alice))
    alice_id = hub.services.accounts.get("alice").id
    bob_id = hub.services.accounts.get("bob").id
    forged = sign_token(st, alice_id, repo.id).rsplit(".", 1)[0] + "." + "A" * 43
    assert rig.get(base + f"?__sign={forged}").status_code == 403
    assert rig.get(base + f"?__sign={sign_token(st, alice_id, repo.id, ttl=-5)}").status_code == 403
    assert rig.get(base + f"?__sign={sign_token(st, bob_id, repo.id)}").status_code == 404  # bob may not read
    assert rig.get(base + f"?__sign={sign_token(st, alice_id, repo.id + 999)}").status_code == 404

    link = sign_space_url(st, rig.url + f"/spaces/{repo_id}", alice_id, repo.id) + "&keep=1"
    r = httpx.get(link, timeout=30)
    assert r.status_code == 303
    assert r.headers["location"] == f"/spaces/{repo_id}/?keep=1"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{SIGN_COOKIE}=") and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert f"Path=/spaces/{repo_id}/" in cookie
    value = cookie.split(";", 1)[0].split("=", 1)[1]
    r = rig.get(base + "x", headers={"cookie": f"other=1; {SIGN_COOKIE}={value}"})
    assert r.status_code == 200
    assert headers_seen(r)["cookie"] == ["other=1"]  # the proxy's cookie never reaches the app
    other = rig.space(private=True)  # the cookie of one Space opens no other
    assert rig.get(f"/spaces/{other}/", headers={"cookie": f"{SIGN_COOKIE}={value}"}).status_code == 404


def raw_get(url: str, path: str) -> tuple[int, str]:
    """GET `path` byte for byte (HTTP clients normalise `..` away before sending)."""
    host, port = url.split("://", 1)[1].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode("latin-1")


def _space_key(repo_id: str) -> tuple[Any, str, str]:
    from modelyard.types import RepoType

    ns, name = repo_id.split("/")
    return RepoType.SPACE, ns, name


def test_static_space(rig: Rig) -> None:
    repo_id = rig.space(kind="static")
    r = rig.get(f"/spaces/{repo_id}/")
    assert r.status_code == 200 and r.text == "<h1>static index</h1>"
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert "frame-ancestors" in r.headers["content-security-policy"]
    assert rig.get(f"/spaces/{repo_id}/app.js").headers["content-type"].startswith("text/javascript")
    assert rig.get(f"/spaces/{repo_id}/sub/").text == "sub index"
    assert rig.get(f"/spaces/{repo_id}/sub/page.html").text == "sub page"
    head = httpx.head(rig.url + f"/spaces/{repo_id}/sub/page.html")
    assert head.status_code == 200 and head.headers["content-length"] == "8" and head.content == b""
    for path in (
        "/../secret.txt",
        "/sub/%2e%2e/%2e%2e/secret.txt",
        "/sub%2f..%2f..%2fsecret.txt",
        "/leak.txt",
        "/up/secret.txt",
        "/..%5csecret.txt",
        "/nope.html",
    ):
        status, text = raw_get(rig.url, f"/spaces/{repo_id}{path}")
        assert status in (400, 404) and "hub secret" not in text, (path, status)
    assert httpx.post(rig.url + f"/spaces/{repo_id}/").status_code == 405


def test_not_running_pages(rig: Rig) -> None:
    repo_id = rig.space()
    rig.manager.down[repo_id] = SpaceNotRunning("Space is sleeping", stage="SLEEPING")
    nav = {"accept": "text/html,application/xhtml+xml"}
    r = rig.get(f"/spaces/{repo_id}/", headers=nav)
    assert r.status_code == 200 and "http-equiv='refresh' content='2'" in r.text and "SLEEPING" in r.text
    assert rig.manager.acquired[-1] == (repo_id, 0)  # a navigation only wakes
    r = rig.get(f"/spaces/{repo_id}/config")
    assert r.status_code == 503 and r.json()["stage"] == "SLEEPING"
    assert r.headers["x-error-code"] == "SpaceNotRunning"
    assert rig.manager.acquired[-1] == (repo_id, float(rig.hub.settings.spaces_start_timeout))
    rig.manager.down[repo_id] = SpaceNotRunning("Build failed: <no such package>", stage="BUILD_ERROR")
    r = rig.get(f"/spaces/{repo_id}/", headers=nav)
    assert r.status_code == 503 and "BUILD_ERROR" in r.text and "&lt;no such package&gt;" in r.text
    assert "refresh" not in r.text


def test_crashed_app_is_502(rig: Rig) -> None:
    repo_id = rig.space()
    rig.manager.targets[repo_id] = AppTarget(
        "socket", rig.sock.parent / "gone.sock", f"/spaces/{repo_id}", True
    )
    r = rig.get(f"/spaces/{repo_id}/")
    assert r.status_code == 502 and r.headers["x-error-code"] == "SpaceUnreachable"
    assert "error" in r.json()


def test_websocket_bridge(rig: Rig) -> None:
    from websockets.exceptions import ConnectionClosed, InvalidStatus
    from websockets.sync.client import connect

    repo_id = rig.space()
    ws_url = rig.url.replace("http://", "ws://") + f"/spaces/{repo_id}/ws"
    with connect(ws_url, subprotocols=["streamlit", "other"]) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == "streamlit"
        ws.send("hello")
        assert ws.recv(timeout=10) == "echo:hello"
        ws.send(b"\x00\x01")
        assert ws.recv(timeout=10) == b"echo:\x00\x01"
        assert rig.manager.users == 1
        ws.send("close")
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=10)
        assert info.value.rcvd is not None and info.value.rcvd.code == 4001
    kept = rig.space(strip=False)  # the prefix reaches the app
    with connect(rig.url.replace("http://", "ws://") + f"/spaces/{kept}/ws") as ws:
        ws.send("x")
        assert ws.recv(timeout=10) == "echo:x"
    private = rig.space(private=True)
    with pytest.raises(InvalidStatus) as denied:
        connect(rig.url.replace("http://", "ws://") + f"/spaces/{private}/ws")
    assert denied.value.response.status_code in (403, 404)
    with connect(
        rig.url.replace("http://", "ws://") + f"/spaces/{private}/ws",
        additional_headers={"x-hf-authorization": f"Bearer {rig.hub.alice}"},
    ) as ws:
        ws.send("x")
        assert ws.recv(timeout=10) == "echo:x"
    released(rig)


def test_wildcard_hosts(rig: Rig) -> None:
    """spaces_url = http://*.spaces.test: the Host names the Space, its app is at "/" (nothing stripped)."""
    saved = rig.manager.urls
    rig.manager.urls = SpaceUrls("http://*.spaces.test", saved.origin)
    try:
        repo_id = rig.space()
        rig.manager.targets[repo_id] = AppTarget("socket", rig.sock, "", True)
        host = repo_id.replace("/", "-") + ".spaces.test"
        r = rig.get("/api/x?y=1", headers={"host": host})
        assert r.status_code == 200, r.text
        assert r.json()["path"] == "/api/x" and r.json()["query"] == "y=1"
        assert headers_seen(r)["x-forwarded-host"] == [host]
        assert headers_seen(r)["x-forwarded-prefix"] == [""]
        assert rig.get("/", headers={"host": "nobody-here.spaces.test"}).status_code == 404
        assert (
            rig.get(f"/spaces/{repo_id}/", headers={"host": "spaces.test"}).status_code == 404
        )  # no path mode
        private = rig.space(private=True)
        rig.manager.targets[private] = AppTarget("socket", rig.sock, "", True)
        phost = private.replace("/", "-") + ".spaces.test"
        assert rig.get("/", headers={"host": phost}).status_code == 404
        st = rig.hub.settings
        alice = rig.hub.services.accounts.get("alice").id
        repo = rig.hub.services.repos.get(
            *_space_key(private), rig.hub.services.accounts.authenticate(rig.hub.alice)
        )
        r = rig.get(f"/?__sign={sign_token(st, alice, repo.id)}", headers={"host": phost})
        assert r.status_code == 303 and r.headers["location"] == "/"
        assert "Path=/;" in r.headers["set-cookie"] or r.headers["set-cookie"].endswith("Path=/")
        assert "Domain" not in r.headers["set-cookie"]  # host-only: never another Space's host
        value = r.headers["set-cookie"].split(";", 1)[0].split("=", 1)[1]
        r = rig.get("/page", headers={"host": phost, "cookie": f"{SIGN_COOKIE}={value}"})
        assert r.status_code == 200 and r.json()["path"] == "/page"
        assert rig.get("/cookies", headers={"host": host}).headers.get_list("set-cookie") == [
            "app=1; Path=/",
            "wide=2; Path=/x",
        ]
    finally:
        rig.manager.urls = saved


# --- end to end: real Spaces on `spaces_hub` ----------------------------------------------------------------------
GRADIO_APP = """
import json
import time

import gradio as gr


def greet(name):
    return "Hello " + name + "!"


def count(n):
    for i in range(int(n)):
        time.sleep(0.2)
        yield str(i)


def seen(request: gr.Request):
    return json.dumps({k.lower(): v for k, v in request.headers.items()})


with gr.Blocks() as demo:
    text = gr.Textbox(label="in")
    out = gr.Textbox(label="out")
    gr.Button("greet").click(greet, text, out, api_name="greet")
    gr.Button("count").click(count, text, out, api_name="count")
    gr.Button("seen").click(seen, None, out, api_name="seen")

demo.queue().launch()
"""


def point_hf_at(monkeypatch: pytest.MonkeyPatch, hub: Hub) -> None:
    """HF_ENDPOINT = `hub` for gradio_client (it calls huggingface_hub's module-level HfApi, bound at import)."""
    from huggingface_hub import constants, hf_api

    monkeypatch.setattr(constants, "ENDPOINT", hub.url)
    monkeypatch.setattr(hf_api.api, "endpoint", hub.url)


def gradio_call(http: httpx.Client, url: str, api: str, data: list[Any]) -> Any:
    """Gradio's two-step HTTP API: POST /gradio_api/call/{api}, then read its event stream to `complete`."""
    r = http.post(f"{url}/gradio_api/call/{api}", json={"data": data})
    assert r.status_code == 200, r.text
    event = r.json()["event_id"]
    with http.stream("GET", f"{url}/gradio_api/call/{api}/{event}") as stream:
        kind = ""
        for line in stream.iter_lines():
            if line.startswith("event:"):
                kind = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and kind == "complete":
                return json.loads(line[5:])[0]
    raise AssertionError(f"no complete event from {api}")


@pytest.fixture(scope="module")
def gradio_spaces(spaces_hub: Hub) -> dict[str, str]:
    """A public and a private Gradio Space (the same app), RUNNING."""

    files: dict[str, str | bytes] = {"README.md": card("gradio", app_file="app.py"), "app.py": GRADIO_APP}
    public = push_space(spaces_hub, "proxy-gradio", files, exist_ok=True)
    private = push_space(spaces_hub, "proxy-gradio-private", files, private=True, exist_ok=True)
    wait_stage(spaces_hub, public, {"RUNNING"}, timeout=400)
    wait_stage(spaces_hub, private, {"RUNNING"}, timeout=400)
    return {"public": public, "private": private}


@pytest.mark.timeout(900)
def test_gradio_client_through_the_proxy(spaces_hub: Hub, gradio_spaces: dict[str, str]) -> None:
    from gradio_client import Client

    url = space_url(spaces_hub, gradio_spaces["public"])
    config = httpx.get(url + "/config", timeout=60).json()
    assert config["root"] == url  # Gradio builds its URLs on the Spaces origin, under the Space's prefix
    client = Client(url + "/", verbose=False)
    assert client.predict("Ada", api_name="/greet") == "Hello Ada!"
    job = client.submit("5", api_name="/count")
    outputs = list(job)
    assert outputs == ["0", "1", "2", "3", "4"]


@pytest.mark.timeout(900)
def test_gradio_client_by_space_id(
    spaces_hub: Hub, gradio_spaces: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Client("ns/name") with HF_ENDPOINT: the client reads `host` from GET /api/spaces/{id} and urljoins
    "config" onto it (so in path-prefix mode `host` must end with "/")."""
    from gradio_client import Client

    point_hf_at(monkeypatch, spaces_hub)
    by_id = Client(gradio_spaces["public"], verbose=False)
    assert by_id.predict("Bo", api_name="/greet") == "Hello Bo!"
    private = Client(gradio_spaces["private"], token=spaces_hub.alice, verbose=False)
    assert private.predict("Di", api_name="/greet") == "Hello Di!"


@pytest.mark.timeout(900)
def test_private_gradio_space(spaces_hub: Hub, gradio_spaces: dict[str, str]) -> None:
    from gradio_client import Client

    repo_id = gradio_spaces["private"]
    url = space_url(spaces_hub, repo_id)
    assert httpx.get(url + "/config", timeout=60).status_code == 404
    bob = httpx.get(url + "/config", headers={"authorization": f"Bearer {spaces_hub.bob}"}, timeout=60)
    assert bob.status_code == 404 and bob.json() == {"error": "Repository not found"}
    client = Client(url + "/", token=spaces_hub.alice, verbose=False)  # sends x-hf-authorization
    assert client.predict("Cy", api_name="/greet") == "Hello Cy!"
    seen = json.loads(client.predict(api_name="/seen"))
    assert "authorization" not in seen and "x-hf-authorization" not in seen  # the app never sees hub tokens
    assert spaces_hub.alice not in json.dumps(seen)
    assert not any(c.strip().startswith("modelyard") for c in seen.get("cookie", "").split(";"))

    # the hub's space page way: a signed link, swapped for the proxy's cookie
    st = spaces_hub.settings
    repo = spaces_hub.services.repos.get(
        *_space_key(repo_id), spaces_hub.services.accounts.authenticate(spaces_hub.alice)
    )
    alice_id = spaces_hub.services.accounts.get("alice").id
    with httpx.Client(timeout=60) as browser:
        assert browser.get(url + f"/?__sign={sign_token(st, alice_id, repo.id, ttl=-1)}").status_code == 403
        r = browser.get(sign_space_url(st, url, alice_id, repo.id))
        assert r.status_code == 303
        r = browser.get(url + "/config")  # the cookie jar now holds the proxy's cookie for this path
        assert r.status_code == 200 and r.json()["root"] == url
        browser.cookies.set("modelyard_session", "hub-login")  # browsers send it to every port of the host
        r = browser.get(url + "/", headers={"accept": "text/html"})
        assert r.status_code == 200 and "x-frame-options" not in r.headers
        assert "frame-ancestors" in r.headers["content-security-policy"]
        seen = json.loads(gradio_call(browser, url, "seen", []))  # with the proxy's cookie and the hub's
        assert not any(c.strip().startswith("modelyard") for c in seen.get("cookie", "").split(";")), seen


@pytest.mark.timeout(900)
def test_gradio_sse_spacing(spaces_hub: Hub, gradio_spaces: dict[str, str]) -> None:
    """Gradio's own SSE (POST /gradio_api/call/count, then GET its event stream): events 0.2 s apart arrive apart."""

    url = space_url(spaces_hub, gradio_spaces["public"])
    event = httpx.post(url + "/gradio_api/call/count", json={"data": ["5"]}, timeout=60).json()["event_id"]
    arrivals = []
    with httpx.stream("GET", url + f"/gradio_api/call/count/{event}", timeout=60) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("event: generating") or line.startswith("event: complete"):
                arrivals.append(time.monotonic())
    assert len(arrivals) >= 5, arrivals
    gaps = [b - a for a, b in itertools.pairwise(arrivals)][:4]
    assert min(gaps) > 0.1, gaps


STREAMLIT_APP = """
import streamlit as st

st.title("proxy streamlit")
st.write("hello from streamlit")
"""


@pytest.mark.timeout(900)
def test_streamlit_websocket_through_the_proxy(spaces_hub: Hub) -> None:
    from websockets.sync.client import connect

    files: dict[str, str | bytes] = {
        "README.md": card("streamlit", app_file="app.py"),
        "app.py": STREAMLIT_APP,
    }
    repo_id = push_space(spaces_hub, "proxy-streamlit", files, exist_ok=True)
    wait_stage(spaces_hub, repo_id, {"RUNNING"}, timeout=400)
    url = space_url(spaces_hub, repo_id)
    assert httpx.get(url + "/_stcore/health", timeout=60).text == "ok"
    page = httpx.get(url + "/", timeout=60)
    assert page.status_code == 200 and "<html" in page.text.lower()
    origin = url.split("/spaces/", 1)[0]
    with connect(
        url.replace("http://", "ws://") + "/_stcore/stream",
        subprotocols=["streamlit"],  # type: ignore[list-item]
        origin=origin,  # type: ignore[arg-type]
        max_size=None,
    ) as ws:
        assert ws.subprotocol == "streamlit"
        with pytest.raises(
            TimeoutError
        ):  # Streamlit keeps the session open, waiting for the browser's messages
            ws.recv(timeout=1.5)


@pytest.mark.timeout(300)
def test_static_space_end_to_end(spaces_hub: Hub) -> None:
    files: dict[str, str | bytes] = {
        "README.md": card("static", app_file="main.html"),
        "main.html": "<h1>static main</h1><script src='js/app.js'></script>",
        "js/app.js": "document.title = 'ok'",
    }
    repo_id = push_space(spaces_hub, "proxy-static", files, exist_ok=True)
    wait_stage(spaces_hub, repo_id, {"RUNNING"}, timeout=120)
    url = space_url(spaces_hub, repo_id)
    r = httpx.get(url + "/", timeout=30)
    assert r.status_code == 200 and "static main" in r.text  # app_file served at "/"
    assert r.headers["content-type"].startswith("text/html")  # HTML runs here: the Spaces origin, not the hub
    assert httpx.get(url + "/js/app.js", timeout=30).headers["content-type"].startswith("text/javascript")
    status, _ = raw_get(spaces_hub.extra["spaces_url"], f"/spaces/{repo_id}/js/../../../../../etc/passwd")
    assert status == 404
    nav = {"accept": "text/html"}
    spaces_hub.api().pause_space(repo_id)
    try:
        r = httpx.get(url + "/", headers=nav, timeout=30)
        assert r.status_code == 503 and "PAUSED" in r.text and "refresh" not in r.text
        r = httpx.get(url + "/js/app.js", timeout=30)
        assert r.status_code == 503 and r.json()["stage"] == "PAUSED"
    finally:
        spaces_hub.api().restart_space(repo_id)
    wait_stage(spaces_hub, repo_id, {"RUNNING"}, timeout=120)
    assert "static main" in httpx.get(url + "/", timeout=30).text
