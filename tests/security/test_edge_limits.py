"""Edge limits, tried as an attacker: deeply nested or huge JSON, control characters in paths, reserved or
malformed ref names, oversized commit payloads and request headers. Each answer is a 4xx in the Hub's error
format (status, X-Error-Code, X-Error-Message), never a 500 or a dropped connection, and a refused request
changes nothing (same head commit, same files, same refs)."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import struct
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError

from _serve import modelyard_serve

DEEP = 100_000
NESTED_ARRAY = b"[" * DEEP + b"]" * DEEP
NESTED_OBJECT = b'{"a":' * DEEP + b"1" + b"}" * DEEP


@pytest.fixture(scope="module")
def http(live_server: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.url, timeout=60) as client:
        yield client


@pytest.fixture
def repo(live_server: Any, repo_name: str) -> str:
    api = live_server.api()
    rid = f"alice/{repo_name}"
    api.create_repo(rid)
    api.upload_file(path_or_fileobj=b"hello", path_in_repo="a.txt", repo_id=rid)
    return rid


def hub_error(r: httpx.Response, status: int, code: str | None = None) -> None:
    assert r.status_code == status, (r.status_code, dict(r.headers), r.text[:300])
    assert r.headers.get("x-error-code"), dict(r.headers)
    assert r.headers.get("x-error-message"), dict(r.headers)
    assert r.headers.get("x-request-id"), dict(r.headers)
    if code is not None:
        assert r.headers["x-error-code"] == code, dict(r.headers)


def ndjson(*lines: Any) -> bytes:
    return b"".join((x if isinstance(x, bytes) else json.dumps(x).encode()) + b"\n" for x in lines)


def header(summary: str = "msg", description: str = "") -> dict[str, Any]:
    return {"key": "header", "value": {"summary": summary, "description": description}}


def file_line(path: str, data: bytes = b"x") -> dict[str, Any]:
    content = base64.b64encode(data).decode()
    return {"key": "file", "value": {"path": path, "content": content, "encoding": "base64"}}


def commit(hub: Any, rid: str, body: bytes) -> httpx.Response:
    headers = {"content-type": "application/x-ndjson", **hub.auth()}
    return httpx.post(f"{hub.url}/api/models/{rid}/commit/main", content=body, headers=headers, timeout=60)


def state(hub: Any, rid: str) -> tuple[str, list[str], list[str], list[str]]:
    """Head commit, files, branches and tags of a repo."""
    info = httpx.get(f"{hub.url}/api/models/{rid}", headers=hub.auth(), timeout=30).json()
    refs = httpx.get(f"{hub.url}/api/models/{rid}/refs", headers=hub.auth(), timeout=30).json()
    return (
        info["sha"],
        sorted(s["rfilename"] for s in info["siblings"]),
        sorted(b["name"] for b in refs["branches"]),
        sorted(t["name"] for t in refs["tags"]),
    )


# --- finding 5: nested JSON is a 400, never a 500 ----------------------------------------------------------------
JSON_ROUTES = [
    ("POST", "/api/repos/create"),
    ("DELETE", "/api/repos/delete"),
    ("POST", "/api/repos/move"),
    ("PUT", "/api/models/{rid}/settings"),
    ("POST", "/api/models/{rid}/paths-info/main"),
    ("POST", "/api/models/{rid}/preupload/main"),
    ("POST", "/api/models/{rid}/branch/nested"),
    ("POST", "/api/models/{rid}/tag/main"),
    ("POST", "/api/models/{rid}/discussions"),
    ("POST", "/{rid}.git/info/lfs/objects/batch"),
    ("POST", "/lfs-verify/model/{rid}"),
    ("POST", "/api/validate-yaml"),
    ("POST", "/api/models/{rid}/super-squash/main"),
    ("POST", "/api/models/{rid}/discussions/1/comment"),
]


@pytest.mark.parametrize("body", [NESTED_ARRAY, NESTED_OBJECT], ids=["array", "object"])
@pytest.mark.parametrize(("method", "url"), JSON_ROUTES, ids=[f"{m} {u}" for m, u in JSON_ROUTES])
def test_nested_json_is_400(
    http: httpx.Client, live_server: Any, repo: str, method: str, url: str, body: bytes
) -> None:
    before = state(live_server, repo)
    headers = {"content-type": "application/json", **live_server.auth()}
    r = http.request(method, url.format(rid=repo), content=body, headers=headers)
    hub_error(r, 400, "BadRequest")
    assert "nested" in r.headers["x-error-message"]
    assert state(live_server, repo) == before


def test_nested_json_in_ndjson_commit_is_400(live_server: Any, repo: str) -> None:
    before = state(live_server, repo)
    for line in (NESTED_ARRAY, NESTED_OBJECT, b'{"key":"header","value":' + NESTED_OBJECT + b"}"):
        r = commit(live_server, repo, ndjson(header(), line))
        hub_error(r, 400, "BadRequest")
        assert "nested" in r.headers["x-error-message"]
        r = commit(live_server, repo, ndjson(line))
        hub_error(r, 400, "BadRequest")
    assert state(live_server, repo) == before


def test_nested_json_on_inference_management_api(http: httpx.Client) -> None:
    """The endpoints API decodes its body before any auth check: anonymous nested JSON must not be a 500."""
    r = http.post(
        "/endpoints/-/api/endpoints", content=NESTED_ARRAY, headers={"content-type": "application/json"}
    )
    hub_error(r, 400)


def test_moderately_nested_json_is_fine(http: httpx.Client, live_server: Any, repo: str) -> None:
    deep_ok = {"files": [{"path": "ok.txt", "size": 1, "sample": ""}], "x": [[[[[[[[[[1]]]]]]]]]]}
    r = http.post(f"/api/models/{repo}/preupload/main", json=deep_ok, headers=live_server.auth())
    assert r.status_code == 200, r.text
    # brackets inside strings do not count as nesting
    r = commit(live_server, repo, ndjson(header("[" * 3000), file_line("b.txt", b"[" * 100_000)))
    assert r.status_code == 200, r.text


def test_nested_json_in_uploaded_content_does_not_break_the_repo(live_server: Any, repo: str) -> None:
    """A safetensors file whose JSON header nests 100 000 deep: repo info and page keep answering (they read it)."""
    api: HfApi = live_server.api()
    hdr = NESTED_OBJECT
    api.upload_file(
        path_or_fileobj=struct.pack("<Q", len(hdr)) + hdr, path_in_repo="model.safetensors", repo_id=repo
    )
    for url in (f"/api/models/{repo}", f"/{repo}", f"/api/models/{repo}?expand=safetensors"):
        r = httpx.get(live_server.url + url, headers=live_server.auth(), timeout=30)
        assert r.status_code == 200, (url, r.status_code, r.text[:300])


def test_deeply_nested_card_yaml(http: httpx.Client, live_server: Any, repo: str) -> None:
    """validate-yaml refuses it (4xx); a raw commit keeps the file without card data, as for any invalid YAML."""
    readme = b"---\nlicense: mit\ntags: " + b"[" * 5000 + b"]" * 5000 + b"\n---\n# hi\n"
    r = http.post("/api/validate-yaml", json={"content": readme.decode()}, headers=live_server.auth())
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:300])
    assert "nested too deeply" in r.text
    r = commit(live_server, repo, ndjson(header(), file_line("README.md", readme)))
    assert r.status_code == 200, r.text[:300]
    info = http.get(f"/api/models/{repo}", headers=live_server.auth())
    assert info.status_code == 200 and not info.json().get("cardData")
    assert http.get(f"/{repo}", headers=live_server.auth()).status_code == 200


def test_huge_json_body_is_413(http: httpx.Client, live_server: Any, repo: str) -> None:
    before = state(live_server, repo)
    big = json.dumps({"name": "huge-body", "pad": "x" * (live_server.settings.max_json_body + 10)})
    r = http.post(
        "/api/repos/create", content=big, headers={"content-type": "application/json", **live_server.auth()}
    )
    hub_error(r, 413, "TooLarge")
    assert http.get("/api/models/alice/huge-body", headers=live_server.auth()).status_code == 404
    r = http.post(
        f"/api/models/{repo}/paths-info/main",
        content=big,
        headers={"content-type": "application/json", **live_server.auth()},
    )
    hub_error(r, 413, "TooLarge")
    assert state(live_server, repo) == before


# --- finding 8: control characters in paths -----------------------------------------------------------------------
CONTROL_PATHS = [
    "/api/models/alice/b%00c",
    "/api/models/alice/b%01c",
    "/api/models/alice/x/tree/main/a%00b",
    "/api/models/alice/x/revision/ma%0Ain",
    "/alice/x/resolve/main/a%00.txt",
    "/alice/x/resolve/ma%00in/a.txt",
    "/alice/x%00",
    "/alice%1F",
    "/datasets/alice/x/blob/main/a%7F",
    "/xet-cas/v1/reconstructions/ab%00",
    "/endpoints/x%00/health",
    "/static/style%00.css",
    "/%00",
]


@pytest.mark.parametrize("path", CONTROL_PATHS)
def test_control_characters_in_path_are_400(live_server: Any, path: str) -> None:
    """A raw request line (no client-side normalisation); the server must answer, not drop the connection."""
    for method in ("GET", "HEAD", "POST"):
        with socket.create_connection(("127.0.0.1", live_server.port), timeout=30) as s:
            s.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode())
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        assert data, f"{method} {path}: connection dropped without a response"
        head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").lower()
        assert head.startswith("http/1.1 400 "), (method, path, head)
        assert "x-error-code: badrequest" in head, head
        assert "x-error-message: " in head and "x-request-id: " in head, head


def test_control_characters_via_client(http: httpx.Client) -> None:
    hub_error(http.get("/api/models/alice/b%00c"), 400, "BadRequest")
    hub_error(http.get("/api/models/alice/b%0Dc"), 400, "BadRequest")


# --- finding 8: ref names ---------------------------------------------------------------------------------------
BAD_REFS = [
    "HEAD",
    "a..b",
    "a@{1}",
    "@",
    "x.lock",
    "a/x.lock/b",
    "a//b",
    "-x",
    "a/.b",
    ".a",
    "a/",
    "a.",
    "a b",
    "a~1",
    "a^",
    "a:b",
    "a?",
    "a*",
    "a[",
    "a\\b",
    "refs/pr/1",
    "refs/heads/x",
]


@pytest.mark.parametrize("name", BAD_REFS)
def test_bad_ref_names_via_official_client(live_server: Any, repo: str, name: str) -> None:
    api: HfApi = live_server.api()
    before = state(live_server, repo)
    with pytest.raises(HfHubHTTPError) as e:
        api.create_branch(repo, branch=name)
    assert e.value.response.status_code == 400, (name, e.value.response.text)
    assert e.value.response.headers.get("x-error-code") in {"InvalidRevisionName", "BadRequest"}
    assert "Invalid reference name" in e.value.response.headers.get("x-error-message", "")
    assert "Invalid reference name" in str(e.value)  # the client shows the server's message
    with pytest.raises(HfHubHTTPError) as e:
        api.create_tag(repo, tag=name)
    assert e.value.response.status_code == 400, (name, e.value.response.text)
    assert "Invalid tag name" in e.value.response.headers.get("x-error-message", "")
    assert "Invalid tag name" in str(e.value)
    assert state(live_server, repo) == before


def test_control_characters_in_tag_name_raw(http: httpx.Client, live_server: Any, repo: str) -> None:
    before = state(live_server, repo)
    for name in ["a\x00b", "a\nb", "a\x7fb", "HEAD"]:
        r = http.post(f"/api/models/{repo}/tag/main", json={"tag": name}, headers=live_server.auth())
        hub_error(r, 400)
    assert state(live_server, repo) == before


def test_good_ref_names_still_work(live_server: Any, repo: str) -> None:
    api: HfApi = live_server.api()
    api.create_branch(repo, branch="feature/x-1.2_b")
    api.create_tag(repo, tag="v1.0.0")
    api.create_tag(repo, tag="release/2024.01")
    refs = api.list_repo_refs(repo)
    assert "feature/x-1.2_b" in {b.name for b in refs.branches}
    assert {"v1.0.0", "release/2024.01"} <= {t.name for t in refs.tags}


# --- finding 8: commit limits and strict NDJSON header rules ---------------------------------------------------
@pytest.fixture(scope="module")
def small_hub(hub_factory: Any) -> Any:
    return hub_factory(
        max_commit_summary=100,
        max_commit_description=1000,
        max_commit_operations=5,
        max_ndjson_line=64 * 1024,
        max_json_body=32 * 1024,
        max_header_size=16 * 1024,
    )


@pytest.fixture
def small_repo(small_hub: Any, repo_name: str) -> str:
    api = small_hub.api()
    rid = f"alice/{repo_name}"
    api.create_repo(rid)
    api.upload_file(path_or_fileobj=b"hello", path_in_repo="a.txt", repo_id=rid)
    return rid


def test_commit_limits(small_hub: Any, small_repo: str) -> None:
    before = state(small_hub, small_repo)
    cases = [
        ("summary", ndjson(header("s" * 101), file_line("x.txt")), 413),
        ("description", ndjson(header("ok", "d" * 1001), file_line("x.txt")), 413),
        ("operations", ndjson(header(), *[file_line(f"f{i}.txt") for i in range(6)]), 413),
        ("line", ndjson(header(), file_line("big.txt", os.urandom(60 * 1024))), 413),
        ("unterminated line", ndjson(header()) + b'{"key":"file","value":{"content":"' + b"A" * 100_000, 413),
        ("header twice", ndjson(header(), file_line("x.txt"), header("again")), 422),
        ("header twice in a row", ndjson(header(), header("again"), file_line("x.txt")), 422),
        ("header last", ndjson(file_line("x.txt"), header()), 422),
    ]
    for what, body, status in cases:
        r = commit(small_hub, small_repo, body)
        hub_error(r, status)
        assert r.status_code == status, (what, r.text)
    assert state(small_hub, small_repo) == before
    # at the limits, it works
    ok = ndjson(header("s" * 100, "d" * 1000), *[file_line(f"f{i}.txt") for i in range(5)])
    assert commit(small_hub, small_repo, ok).status_code == 200


def test_official_client_summary_limit(small_hub: Any, small_repo: str) -> None:
    api: HfApi = small_hub.api()
    before = state(small_hub, small_repo)
    with pytest.raises(HfHubHTTPError) as e:
        api.upload_file(
            path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=small_repo, commit_message="m" * 500
        )
    assert e.value.response.status_code == 413
    assert "summary" in e.value.response.headers["x-error-message"]
    assert state(small_hub, small_repo) == before


def test_json_body_limit_setting(small_hub: Any, small_repo: str) -> None:
    body = {"files": [{"path": f"p{i}.txt", "size": 1, "sample": ""} for i in range(2000)]}
    r = httpx.post(
        f"{small_hub.url}/api/models/{small_repo}/preupload/main", json=body, headers=small_hub.auth()
    )
    hub_error(r, 413, "TooLarge")


def test_oversized_request_header_is_431(live_server: Any, small_hub: Any) -> None:
    for hub in (small_hub, live_server):
        big = "x" * (hub.settings.max_header_size + 100)
        r = httpx.get(f"{hub.url}/api/models", headers={"x-big": big}, timeout=30)
        hub_error(r, 431)
        r = httpx.get(f"{hub.url}/api/models", headers={"x-pad": "y" * 1000}, timeout=30)
        assert r.status_code == 200


# --- the real `modelyard serve` (httptools): control characters and huge headers answered, not dropped -------------
@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("serve-edge")
    env = dict(os.environ, MODELYARD_MAX_HEADER_SIZE=str(32 * 1024))
    with modelyard_serve(["--data-dir", str(data)], env) as (url, _):
        yield url


def raw_request(url: str, request: bytes) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            s.sendall(request)
        data = b""
        try:
            while chunk := s.recv(65536):
                data += chunk
                if b"\r\n\r\n" in data:
                    break
        except ConnectionResetError:
            pass
    return data


def test_serve_control_characters(served: str) -> None:
    for path in [
        "/api/models/a/b%00c",
        "/a/b/resolve/main/x%00y",
        "/xet-cas/v1/reconstructions/ab%01",
        "/a%0D",
    ]:
        data = raw_request(served, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert data.startswith(b"HTTP/1.1 400 "), (path, data[:200])
        assert b"x-error-code: BadRequest" in data


def test_serve_huge_header_is_431_with_bounded_buffering(served: str) -> None:
    for size in (40 * 1024, 4 * 1024 * 1024):
        data = raw_request(
            served, b"GET /api/models HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * size + b"\r\n\r\n"
        )
        assert data.startswith(b"HTTP/1.1 431 "), (size, data[:200])
        assert b"x-error-code: RequestHeaderFieldsTooLarge" in data, data[:400]
    # a head that never ends: the server answers once it has buffered the limit, without waiting for the end
    data = raw_request(served, b"GET /api/models HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 1024 * 1024)
    assert data.startswith(b"HTTP/1.1 431 "), data[:200]
    assert httpx.get(f"{served}/api/models", headers={"x-ok": "a" * 8000}, timeout=30).status_code == 200


def test_standalone_inference_front_edge() -> None:
    """`python -m modelyard.server.inference_app`: the same edge rules as the hub's /endpoints mount."""
    from inference.conftest import start_server as start_inference

    server = start_inference()
    try:
        for path in ("/endpoints/x%00/health", "/endpoints/-/api/endpoints/a%0Ab", "/%01"):
            data = raw_request(server.url, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            assert data.startswith(b"HTTP/1.1 400 "), (path, data[:200])
        r = httpx.post(
            f"{server.url}/endpoints/-/api/endpoints",
            content=NESTED_ARRAY,
            headers={"content-type": "application/json"},
            timeout=30,
        )
        hub_error(r, 400, "BadRequest")
        r = httpx.get(f"{server.url}/health", headers={"x-big": "a" * 100_000}, timeout=30)
        hub_error(r, 431, "RequestHeaderFieldsTooLarge")
    finally:
        server.stop()
