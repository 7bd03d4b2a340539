"""One error edge: every front (HF API, web pages, static files, the Xet CAS, inference endpoints, signed LFS
uploads) answers with an ``X-Request-Id``, and every error in the Hub's format (status, ``X-Error-Code``,
``X-Error-Message``; JSON ``{"error": ...}`` except on web pages, which render HTML)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

HEX = "ab" * 32


def _assert_error(r: httpx.Response, status: int, code: str | None = None) -> None:
    assert r.status_code == status, (r.status_code, r.text[:300])
    assert r.headers.get("x-request-id"), dict(r.headers)
    assert r.headers.get("x-error-code"), dict(r.headers)
    assert r.headers.get("x-error-message"), dict(r.headers)
    if code is not None:
        assert r.headers["x-error-code"] == code, dict(r.headers)


def _assert_json_error(r: httpx.Response, status: int, code: str | None = None) -> None:
    _assert_error(r, status, code)
    assert r.headers["content-type"].startswith("application/json"), r.headers["content-type"]
    assert r.json()["error"] == r.headers["x-error-message"]


@pytest.fixture(scope="module")
def http(live_server: Any) -> Any:
    with httpx.Client(base_url=live_server.url, timeout=30) as client:
        yield client


def test_api_routes_and_unknown_routes(http: httpx.Client, live_server: Any) -> None:
    r = http.get("/api/whoami-v2", headers=live_server.auth())
    assert r.status_code == 200 and r.headers.get("x-request-id")
    _assert_json_error(http.get("/api/models/alice/no-such-repo-xyz"), 404)
    _assert_json_error(http.get("/api/no/such/route"), 404)
    _assert_json_error(http.delete("/api/whoami-v2"), 405)


def test_web_pages_and_static_files(http: httpx.Client) -> None:
    r = http.get("/")
    assert r.status_code == 200 and r.headers.get("x-request-id")
    r = http.get("/static/style.css")
    assert r.status_code == 200 and r.headers.get("x-request-id")
    _assert_json_error(http.get("/static/no-such-file.css"), 404)
    # the web's own error pages are HTML, with the same headers as the API's errors
    r = http.get("/no-such-user-xyz")
    _assert_error(r, 404)
    assert r.headers["content-type"].startswith("text/html")
    r = http.get("/a/b/c/d/e/f/g/h")  # the catch-all "page not found"
    _assert_error(r, 404, "NotFound")
    assert r.headers["content-type"].startswith("text/html")


def test_xet_cas_errors(http: httpx.Client, live_server: Any, repo_name: str) -> None:
    # a bad token: 401 (hf_xet refreshes its token on 401), in the shared format
    r = http.get(f"/xet-cas/v1/reconstructions/{HEX}", headers={"authorization": "Bearer nope"})
    _assert_json_error(r, 401)
    r = http.get(f"/xet-cas/v1/reconstructions/{HEX}")
    _assert_json_error(r, 401)
    # a HubError raised inside a CAS handler (malformed hash, unknown file): shared format, not a 500
    api = live_server.api()
    api.create_repo(repo_name)
    tok = http.get(f"/api/models/alice/{repo_name}/xet-read-token/main", headers=live_server.auth())
    assert tok.status_code == 200, tok.text
    cas = {"authorization": f"Bearer {tok.json()['accessToken']}"}
    _assert_json_error(http.get("/xet-cas/v1/reconstructions/not-a-hash", headers=cas), 400)
    _assert_json_error(http.get(f"/xet-cas/v1/reconstructions/{HEX}", headers=cas), 404)
    # signed xorb URLs with a bad signature
    _assert_json_error(http.get(f"/xet-cas/v1/xorb-data/default/{HEX}?exp=1&sig=00"), 403)
    # unknown CAS route
    _assert_json_error(http.get("/xet-cas/v9/nothing"), 404)


def test_endpoint_errors(http: httpx.Client, live_server: Any) -> None:
    _assert_json_error(http.get("/endpoints/no-such-endpoint/info"), 404, "EndpointNotFound")
    _assert_json_error(http.get("/endpoints/no-such-endpoint/health"), 404, "EndpointNotFound")
    # a HubError from the endpoints app's management API (bad body): shared format with a request id
    r = http.post("/endpoints/-/api/endpoints", content=b"[1,2", headers=live_server.auth())
    assert 400 <= r.status_code < 500
    _assert_json_error(r, r.status_code)
    r = http.get("/endpoints/-/health")
    assert r.status_code == 200 and r.headers.get("x-request-id")
    _assert_json_error(http.get("/endpoints/-/nothing/here"), 404)


def test_lfs_upload_with_bad_signature(http: httpx.Client) -> None:
    r = http.put(f"/lfs-upload/{HEX}?exp=1&sig=00", content=b"x")
    assert 400 <= r.status_code < 500
    _assert_json_error(r, r.status_code)


def test_request_id_is_echoed_or_replaced(http: httpx.Client) -> None:
    rid = f"trace-{uuid.uuid4().hex}"
    for url in ("/api/models", "/", "/static/style.css", "/endpoints/-/health", "/api/nope"):
        r = http.get(url, headers={"x-request-id": rid})
        assert r.headers["x-request-id"] == rid, url
    r = http.get(f"/xet-cas/v1/reconstructions/{HEX}", headers={"x-request-id": rid})
    assert r.headers["x-request-id"] == rid
    # an insane incoming id (too long, odd characters) is replaced, never reflected
    for bad in ("x" * 500, "a b<script>", "\u00e9t\u00e9"):
        r = http.get("/api/models", headers=[(b"x-request-id", bad.encode("utf-8"))])
        assert r.headers["x-request-id"] and r.headers["x-request-id"] != bad
        assert len(r.headers["x-request-id"]) <= 128
    # exactly one X-Request-Id per response
    r = http.get("/api/models/alice/no-such-repo-xyz")
    assert len(r.headers.get_list("x-request-id")) == 1


def test_unexpected_errors_in_a_mounted_sub_app_are_a_logged_500(caplog: pytest.LogCaptureFixture) -> None:
    """A bug (not a HubError) in a handler of a mounted sub-app: 500 "Internal server error" in the Hub's format
    with the request id, which the log line carries too; a HubError there gets its own status."""
    import asyncio

    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.routing import Mount, Route

    from modelyard.errors import Conflict
    from modelyard.server.errors import EXCEPTION_HANDLERS, RequestIdMiddleware

    async def boom(request: Request) -> Any:
        raise KeyError("secret detail")

    async def conflict(request: Request) -> Any:
        raise Conflict("already there")

    sub = Starlette(
        routes=[Route("/boom", boom), Route("/conflict", conflict)], exception_handlers=EXCEPTION_HANDLERS
    )
    app = RequestIdMiddleware(
        Starlette(routes=[Mount("/sub", app=sub)], exception_handlers=EXCEPTION_HANDLERS)
    )

    async def go() -> tuple[httpx.Response, httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.get("/sub/boom", headers={"x-request-id": "rid-42"}), await client.get(
                "/sub/conflict"
            )

    with caplog.at_level("ERROR", logger="modelyard.server"):
        r, c = asyncio.run(go())
    _assert_json_error(r, 500, "InternalError")
    assert r.headers["x-request-id"] == "rid-42"
    assert "secret detail" not in r.text and "Internal server error" in r.json()["error"]
    assert any("rid-42" in rec.getMessage() for rec in caplog.records)
    _assert_json_error(c, 409, "Conflict")


def test_date_header_is_exact_and_single(http: httpx.Client) -> None:
    """One Date header, the second the response was sent in. uvicorn's own Date lags up to a second (a timer);
    huggingface_hub's fetch_space_logs stops at the first line newer than Date + 1 s, so a stale Date dropped the
    last lines of a build that had just failed. Asked just after a second begins, where a stale Date shows."""
    import time
    from email.utils import parsedate_to_datetime

    for _ in range(3):
        time.sleep(1.08 - time.time() % 1)  # ~80 ms into a new second
        before = int(time.time())
        r = http.get("/api/models", params={"limit": 1})
        after = int(time.time())
        dates = r.headers.get_list("date")
        assert len(dates) == 1, dates
        assert before <= parsedate_to_datetime(dates[0]).timestamp() <= after, (dates, before, after)
