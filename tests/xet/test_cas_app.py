"""CAS HTTP surface in-process: auth, error codes, fallbacks, signed xorb ranges, token-endpoint helpers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from tests.xet.conftest import make_service

from modelyard.server.xet_cas import create_cas_app
from modelyard.server.xet_routes import xet_resolve_headers, xet_token_payload
from modelyard.xet import XetService
from modelyard.xet.hashes import hash_to_hex
from modelyard.xet.xorb import build_xorb


@pytest.fixture
def svc(tmp_path: Path) -> XetService:
    return make_service(tmp_path)


def _auth(svc: XetService, scope: str) -> dict[str, str]:
    token, _ = svc.issue_token("model/u/r", scope)  # type: ignore[arg-type]
    return {"authorization": f"Bearer {token}"}


def test_auth_and_scopes(svc: XetService) -> None:
    c = TestClient(create_cas_app(svc))
    h, data = build_xorb([os.urandom(3000)])
    url = f"/v1/xorbs/default/{hash_to_hex(h)}"
    assert c.post(url, content=data).status_code == 401
    assert c.post(url, content=data, headers={"authorization": "Bearer xet1.e30.bad"}).status_code == 401
    r = c.post(url, content=data, headers=_auth(svc, "read"))
    assert r.status_code == 403 and r.headers["x-error-code"] == "XetTokenScope"
    r = c.post(url, content=data, headers=_auth(svc, "write"))
    assert r.status_code == 200 and r.json() == {"was_inserted": True}
    assert c.post(url, content=data, headers=_auth(svc, "write")).json() == {"was_inserted": False}
    assert c.head(url, headers=_auth(svc, "read")).status_code == 200


def test_errors_and_fallbacks(svc: XetService) -> None:
    c = TestClient(create_cas_app(svc))
    read, write = _auth(svc, "read"), _auth(svc, "write")
    assert c.get("/v1/reconstructions/nothex", headers=read).status_code == 400
    assert c.get("/v1/reconstructions/" + "a" * 64, headers=read).status_code == 404
    assert c.get("/v2/reconstructions/" + "a" * 64, headers=read).status_code == 404  # unknown file
    r = c.post("/v2/shards", content=b"x", headers=write)  # served (issue 10): errors are in-stream frames
    assert r.status_code == 200 and '"type":"error"' in r.text.splitlines()[-1]
    assert c.post("/v1/xorb-grants/default/" + "a" * 64, json={}, headers=write).status_code == 400
    assert c.post("/v1/xorb-grants/default/" + "a" * 64, json={"length": 9}, headers=write).status_code == 201
    assert c.get("/v1/chunks/default-merkledb/" + "b" * 64, headers=read).status_code == 404
    r = c.post("/v1/shards", content=b"garbage", headers=write)
    assert r.status_code == 400 and r.headers["x-error-code"] == "XetBadObject"
    _, data = build_xorb([os.urandom(3000)])
    assert c.post(f"/v1/xorbs/default/{'c' * 64}", content=data, headers=write).status_code == 400
    assert c.post("/v1/telemetry", json={"event": "x"}).status_code == 200


def test_signed_xorb_ranges(svc: XetService) -> None:
    c = TestClient(create_cas_app(svc))
    h, data = build_xorb([os.urandom(3000), os.urandom(4000)])
    x = hash_to_hex(h)
    svc.put_xorb(x, data)
    url = svc.xorb_url("http://testserver", x, 0, len(data) - 1)
    r = c.get(url, headers={"range": "bytes=8-99"})
    assert r.status_code == 206 and r.content == data[8:100]
    assert r.headers["content-range"] == f"bytes 8-99/{len(data)}"
    assert c.get(url).content == data
    assert c.get(url, headers={"range": f"bytes={len(data)}-"}).status_code == 416
    assert c.get(url.replace("sig=", "sig=x")).status_code == 403
    # a URL opens only the bytes it was signed for
    part = svc.xorb_url("http://testserver", x, 8, 99)
    r = c.get(part)
    assert r.status_code == 206 and r.content == data[8:100]
    assert c.get(part, headers={"range": "bytes=10-20"}).content == data[10:21]
    assert c.get(part, headers={"range": "bytes=0-99"}).status_code == 403
    assert c.get(part, headers={"range": "bytes=8-100"}).status_code == 403
    assert c.get(part.replace("r=8-99", "r=0-99")).status_code == 403


def test_token_payload_and_resolve_headers() -> None:
    body, headers = xet_token_payload("http://h/xet-cas", "tok", 123)
    assert body == {"accessToken": "tok", "exp": 123, "casUrl": "http://h/xet-cas"}
    assert headers == {
        "X-Xet-Cas-Url": "http://h/xet-cas",
        "X-Xet-Access-Token": "tok",
        "X-Xet-Token-Expiration": "123",
    }
    rh = xet_resolve_headers("f" * 64, "http://h/api/models/u/r/xet-read-token/abc")
    assert rh["Link"] == '<http://h/api/models/u/r/xet-read-token/abc>; rel="xet-auth"'
