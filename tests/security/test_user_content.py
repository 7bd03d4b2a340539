"""Finding 3: user files must never run as script on the hub's origin.

Attacker: alice pushes page.html / logo.svg / evil.js with the official client and gets a victim to open the
file's /resolve or /raw URL. The hub must answer with nosniff, a sandboxing CSP and, for every type a browser
could execute, `Content-Disposition: attachment` and an inert Content-Type. With `content_url` set, file bytes
are only ever served from that other origin, through short-lived signed URLs, and hf_hub_download still works.
"""

from __future__ import annotations

import re
import socket
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from huggingface_hub import CommitOperationAdd, hf_hub_download

from conftest import Hub, start_server  # the rootdir conftest (tests/ is on sys.path)

HTML = b"<html><body><script>fetch('/api/whoami-v2').then(r=>r.text()).then(alert)</script></body></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.domain)</script></svg>'
JS = b"alert(document.cookie)"
ACTIVE = {
    "page.html": HTML,
    "page.htm": HTML,
    "doc.xhtml": HTML,
    "logo.svg": SVG,
    "feed.xml": b"<?xml version='1.0'?><x/>",
    "evil.js": JS,
    "evil.mjs": JS,
    "style.css": b"body{}",
    "noext": HTML,  # sniffable without a type
}
PASSIVE = {"notes.txt": b"hello", "cfg.json": b'{"a": 1}', "w.bin": b"\0\1\2"}
CSP = "default-src 'none'; sandbox"


def _push(hub: Hub, files: dict[str, bytes], private: bool = False) -> str:
    repo = f"alice/content-{uuid.uuid4().hex[:8]}"
    api = hub.api()
    api.create_repo(repo, private=private)
    api.create_commit(
        repo,
        operations=[CommitOperationAdd(name, data) for name, data in files.items()],
        commit_message="user content",
    )
    return repo


@pytest.fixture(scope="module")
def content_repo(live_server: Hub) -> str:
    return _push(live_server, {**ACTIVE, **PASSIVE})


@pytest.mark.parametrize("kind", ["resolve", "raw"])
@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("name", sorted(ACTIVE))
def test_active_types_are_inert(
    live_server: Hub, content_repo: str, kind: str, method: str, name: str
) -> None:
    r = httpx.request(method, f"{live_server.url}/{content_repo}/{kind}/main/{name}")
    assert r.status_code == 200
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["content-security-policy"] == CSP
    assert r.headers["content-disposition"].startswith("attachment")
    ctype = r.headers["content-type"].split(";")[0].strip()
    assert ctype in {"text/plain", "application/octet-stream"}, ctype
    if method == "GET":
        assert r.content == ACTIVE[name]


@pytest.mark.parametrize("kind", ["resolve", "raw"])
@pytest.mark.parametrize("name", sorted(PASSIVE))
def test_passive_types_stay_inline(live_server: Hub, content_repo: str, kind: str, name: str) -> None:
    for method in ("GET", "HEAD"):
        r = httpx.request(method, f"{live_server.url}/{content_repo}/{kind}/main/{name}")
        assert r.status_code == 200
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["content-security-policy"] == CSP
        assert r.headers["content-disposition"].startswith("inline")
    assert r.headers["content-type"].split(";")[0] != "text/html"


def test_raw_serves_lfs_pointer_like_the_hub(live_server: Hub) -> None:
    """On the Hub, /raw answers the git blob: the LFS pointer for LFS files, the bytes for regular files."""
    repo = f"alice/raw-{uuid.uuid4().hex[:8]}"
    api = live_server.api()
    api.create_repo(repo)
    big = b"x" * (11 * 1024 * 1024)  # over the client's LFS threshold (10 MB)
    api.create_commit(
        repo,
        operations=[CommitOperationAdd("big.bin", big), CommitOperationAdd("small.txt", b"hi")],
        commit_message="files",
    )
    r = httpx.get(f"{live_server.url}/{repo}/raw/main/big.bin")
    assert r.status_code == 200
    assert r.text.startswith("version https://git-lfs.github.com/spec/v1\noid sha256:")
    assert f"size {len(big)}" in r.text
    assert r.headers["x-content-type-options"] == "nosniff"
    assert httpx.get(f"{live_server.url}/{repo}/raw/main/small.txt").content == b"hi"
    assert httpx.get(f"{live_server.url}/{repo}/raw/main/nope.txt").status_code == 404
    assert httpx.get(f"{live_server.url}/datasets/{repo}/raw/main/small.txt").status_code == 404


def test_raw_respects_privacy(live_server: Hub) -> None:
    repo = _push(live_server, {"secret.txt": b"s3cret"}, private=True)
    url = f"{live_server.url}/{repo}/raw/main/secret.txt"
    assert httpx.get(url).status_code in (401, 404)
    assert httpx.get(url, headers=live_server.auth(live_server.bob)).status_code in (401, 403, 404)
    assert httpx.get(url, headers=live_server.auth()).content == b"s3cret"


def test_app_pages_have_a_strict_csp(live_server: Hub, content_repo: str) -> None:
    for path in (
        "/",
        "/models",
        f"/{content_repo}",
        f"/{content_repo}/tree/main",
        "/login",
        "/no-such/page/x",
    ):
        r = httpx.get(live_server.url + path)
        csp = r.headers.get("content-security-policy", "")
        directives = {d.strip().split(" ")[0]: d.strip() for d in csp.split(";") if d.strip()}
        assert directives.get("default-src") == "default-src 'self'", (path, csp)
        assert directives.get("frame-ancestors") == "frame-ancestors 'none'", path
        assert directives.get("object-src") == "object-src 'none'", path
        assert directives.get("base-uri") == "base-uri 'none'", path
        assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp, path
        assert r.headers.get("x-content-type-options") == "nosniff", path
        assert r.headers.get("referrer-policy"), path
        # no inline script or event handler the CSP would block
        assert "<script>" not in r.text and " onchange=" not in r.text and " onclick=" not in r.text, path
    r = httpx.get(live_server.url + "/static/app.js")
    assert r.headers.get("x-content-type-options") == "nosniff"


# --- content_url: a separate origin for file bytes --------------------------------------------------------
@pytest.fixture(scope="module")
def split_hub(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A hub at http://127.0.0.1:P whose file bytes are served from http://localhost:P (another origin)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    with start_server(
        tmp_path_factory.mktemp("split"), sock=sock, content_url=f"http://localhost:{port}"
    ) as hub:
        hub.extra["content"] = f"http://localhost:{port}"
        hub.extra["repo"] = _push(hub, {"page.html": HTML, "notes.txt": b"hello"})
        hub.extra["private"] = _push(hub, {"secret.txt": b"s3cret"}, private=True)
        yield hub


def test_content_url_redirects_browsers_and_clients(split_hub: Hub) -> None:
    repo, content = split_hub.extra["repo"], split_hub.extra["content"]
    for kind in ("resolve", "raw"):
        r = httpx.get(f"{split_hub.url}/{repo}/{kind}/main/page.html")
        assert r.status_code == 302, r.text
        loc = r.headers["location"]
        assert loc.startswith(content + "/"), loc
        assert r.headers.get("x-repo-commit") and r.headers.get("etag")
        f = httpx.get(loc)  # no cookie, no token: the signature is the permission
        assert f.status_code == 200 and f.content == HTML
        assert f.headers["content-disposition"].startswith("attachment")
        assert f.headers["content-security-policy"] == CSP
        # tampered or unsigned URLs are refused on the content origin
        assert httpx.get(loc.replace("page.html", "notes.txt")).status_code == 403
        assert httpx.get(loc.split("?")[0]).status_code == 403
    # the hub's pages may show images from the content origin, and only there besides https
    assert (
        f"img-src 'self' https: data: {content}"
        in httpx.get(split_hub.url + "/").headers["content-security-policy"]
    )
    # the content origin serves nothing else: no pages, no API
    assert httpx.get(f"{content}/").status_code == 404
    assert httpx.get(f"{content}/api/models").status_code == 404
    assert httpx.get(f"{content}/{repo}/resolve/main/notes.txt").status_code == 403


def test_content_url_private_and_hf_hub_download(split_hub: Hub, tmp_path: Path) -> None:
    private = split_hub.extra["private"]
    assert httpx.get(f"{split_hub.url}/{private}/resolve/main/secret.txt").status_code in (401, 404)
    r = httpx.get(f"{split_hub.url}/{private}/resolve/main/secret.txt", headers=split_hub.auth())
    assert r.status_code == 302 and r.headers["location"].startswith(split_hub.extra["content"])
    path = hf_hub_download(
        private,
        "secret.txt",
        endpoint=split_hub.url,
        token=split_hub.alice,
        cache_dir=tmp_path / "cache",
    )
    assert Path(path).read_bytes() == b"s3cret"
    rng = httpx.get(r.headers["location"], headers={"Range": "bytes=1-3"})
    assert rng.status_code == 206 and rng.content == b"3cr"


def test_content_url_browser_with_login_cookie(split_hub: Hub) -> None:
    """A browser logged in on the hub gets a signed URL on the content origin; the cookie never goes there."""
    private = split_hub.extra["private"]
    with httpx.Client(base_url=split_hub.url) as c:
        form = c.get("/login")
        m = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert m is not None
        data = {"token": split_hub.alice, "next": "/", "csrf_token": m.group(1)}
        assert c.post("/login", data=data).status_code == 303
        r = c.get(f"/{private}/resolve/main/secret.txt")
        assert r.status_code == 302
        assert httpx.get(r.headers["location"]).content == b"s3cret"
