"""Large LFS upload bodies read straight from the socket (server/raw_body.py), driven over a raw TCP socket so that
each HTTP detail is under the test's control: ``Expect: 100-continue``, a pipelined next request, a client that
hangs up mid-body, a body that does not hash to its oid, a client that trickles. The official clients' own LFS
uploads (huggingface_hub with Xet off, git-lfs, the JS client) run through the same path in tests/e2e and
tests/git."""

from __future__ import annotations

import hashlib
import os
import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from modelyard.server import raw_body

SIZE = raw_body.MIN_FAST + 3 * 1024 * 1024 + 17  # more than one read batch would need for small MIN_FAST


def _metric(hub: Any, path: str) -> int:
    text = httpx.get(hub.url + "/metrics").text
    for line in text.splitlines():
        if line.startswith(f'modelyard_upload_bodies_total{{path="{path}"}}'):
            return int(line.split()[-1])
    raise AssertionError(f"no upload body counter for {path} in /metrics")


@pytest.fixture
def repo(live_server: Any, repo_name: str) -> Iterator[str]:
    api = live_server.api()
    repo_id = f"alice/{repo_name}"
    api.create_repo(repo_id)
    yield repo_id
    api.delete_repo(repo_id)


def _ticket(hub: Any, repo_id: str, data: bytes) -> tuple[str, dict[str, str], str]:
    """(href, headers, oid) of a basic LFS upload of `data` to `repo_id`, from the batch API as git-lfs gets it."""
    oid = hashlib.sha256(data).hexdigest()
    r = httpx.post(
        f"{hub.url}/{repo_id}.git/info/lfs/objects/batch",
        headers={**hub.auth(), "accept": "application/vnd.git-lfs+json"},
        json={"operation": "upload", "transfers": ["basic"], "objects": [{"oid": oid, "size": len(data)}]},
    )
    r.raise_for_status()
    action = r.json()["objects"][0]["actions"]["upload"]
    return action["href"], dict(action.get("header") or {}), oid


def _head(href: str, headers: dict[str, str], length: int, expect: bool = False) -> bytes:
    u = urlsplit(href)
    lines = [f"PUT {u.path}?{u.query} HTTP/1.1", f"Host: {u.netloc}", f"Content-Length: {length}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if expect:
        lines.append("Expect: 100-continue")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _connect(href: str) -> socket.socket:
    u = urlsplit(href)
    return socket.create_connection((u.hostname, u.port), timeout=30)


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Read until the server closes the connection: (status, headers, body) of the first response."""
    raw = b""
    while chunk := sock.recv(65536):
        raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    return int(status_line.split()[1]), headers, body


def _available(hub: Any, repo_id: str, oid: str, size: int) -> bool:
    r = httpx.post(
        f"{hub.url}/lfs-verify/model/{repo_id}",
        headers={**hub.auth(), "accept": "application/vnd.git-lfs+json"},
        json={"oid": oid, "size": size},
    )
    return r.status_code == 200


def test_large_put_with_expect_continue_reads_from_the_socket(live_server: Any, repo: str) -> None:
    data = os.urandom(SIZE)
    href, headers, oid = _ticket(live_server, repo, data)
    before = _metric(live_server, "socket")
    with _connect(href) as s:
        s.sendall(_head(href, headers, len(data), expect=True))
        interim = s.recv(64)
        assert interim.startswith(b"HTTP/1.1 100 Continue"), interim  # sent before any body byte
        s.sendall(data)
        status, resp_headers, _ = _read_response(s)
    assert status == 200
    assert resp_headers.get("connection") == "close"  # the parser was bypassed: the connection is not reused
    assert _metric(live_server, "socket") == before + 1
    assert _available(live_server, repo, oid, len(data))


def test_a_pipelined_request_is_never_read_into_the_body(live_server: Any, repo: str) -> None:
    data = os.urandom(SIZE)
    href, headers, oid = _ticket(live_server, repo, data)
    nxt = f"GET /api/whoami-v2 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {live_server.alice}\r\n\r\n".encode()
    with _connect(href) as s:
        s.sendall(_head(href, headers, len(data)) + data + nxt)
        try:
            status, resp_headers, body = _read_response(s)
        except ConnectionResetError:  # closed with the unread pipelined request in its buffer: TCP resets
            status, resp_headers, body = 200, {"connection": "close"}, b""
    assert status == 200, body[:300]
    assert resp_headers.get("connection") == "close"
    # the pipelined request was not answered on this connection (clients retry it)
    assert b"alice" not in body
    # the body read was exactly Content-Length bytes: with a byte more or less it would not hash to the oid
    assert _available(live_server, repo, oid, len(data))


def _slots_free() -> int:
    return raw_body._slots._value  # type: ignore[attr-defined,no-any-return]


def test_a_client_hanging_up_mid_body_publishes_nothing_and_frees_its_reader(
    live_server: Any, repo: str
) -> None:
    data = os.urandom(SIZE)
    href, headers, oid = _ticket(live_server, repo, data)
    before = _metric(live_server, "socket")
    with _connect(href) as s:
        s.sendall(_head(href, headers, len(data)) + data[: SIZE // 2])
        time.sleep(0.3)  # the reader thread is inside the body
    deadline = time.monotonic() + 10
    while _slots_free() != raw_body.MAX_READERS and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _slots_free() == raw_body.MAX_READERS  # the reader thread was given back
    assert _metric(live_server, "socket") == before + 1
    assert not _available(live_server, repo, oid, len(data))
    # the server is fine: the same object uploads in full afterwards
    with _connect(href) as s:
        s.sendall(_head(href, headers, len(data)) + data)
        status, _, _ = _read_response(s)
    assert status == 200 and _available(live_server, repo, oid, len(data))


def test_a_body_that_does_not_hash_to_its_oid_is_refused_and_not_kept(live_server: Any, repo: str) -> None:
    data = os.urandom(SIZE)
    href, headers, oid = _ticket(live_server, repo, data)
    forged = data[:-1] + bytes([data[-1] ^ 1])  # the attacker's bytes under someone else's hash
    with _connect(href) as s:
        s.sendall(_head(href, headers, len(forged)) + forged)
        status, resp_headers, body = _read_response(s)
    assert status == 400, body[:300]
    assert resp_headers.get("x-error-code") == "BadChecksum", resp_headers
    assert resp_headers.get("connection") == "close"
    assert not _available(live_server, repo, oid, len(data))


def test_a_trickling_client_is_read_in_full(live_server: Any, repo: str) -> None:
    data = os.urandom(SIZE)
    href, headers, oid = _ticket(live_server, repo, data)
    with _connect(href) as s:
        s.sendall(_head(href, headers, len(data)))
        step = 512 * 1024
        for i in range(0, len(data), step):
            s.sendall(data[i : i + step])
            time.sleep(0.005)
        status, _, body = _read_response(s)
    assert status == 200, body[:300]
    assert _available(live_server, repo, oid, len(data))


def test_small_bodies_keep_the_connection(live_server: Any, repo: str) -> None:
    """Below MIN_FAST the body goes through ASGI and the connection stays open for the next request."""
    data = os.urandom(64 * 1024)
    href, headers, oid = _ticket(live_server, repo, data)
    with httpx.Client(timeout=30) as client:
        r = client.put(href, content=data, headers=headers)
        assert r.status_code == 200 and r.headers.get("connection") != "close"
    assert _available(live_server, repo, oid, len(data))
