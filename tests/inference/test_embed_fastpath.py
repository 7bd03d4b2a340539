"""The raw-ASGI fast path of the embedding routes (server/embed_fastpath.py) answers exactly as the routed path.

The same manager (real worker processes, tiny models) is served by two apps, fast path on and off; every request is
sent to both and the answers must be byte-identical: status, body, and headers (the Date and a fresh request id
aside), for successes and for the attacker cases (no token, a token that may not see or call a private endpoint,
malformed and oversized bodies, oversized headers, a control character in the path). Two placements: the standalone
server (the fast path in front of every middleware) and the inference app as the hub mounts it (behind the hub's
RequestIdMiddleware, with a hub-like authorizer: a repo the caller cannot see is 404, a token without the call
permission 403).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.types import ASGIApp

from inference import tiny_models
from modelyard.errors import Forbidden, RepoNotFound, Unauthorized
from modelyard.inference import EndpointConfig, EndpointManager, StaticTokenAuthorizer
from modelyard.inference.requests import MAX_CLIENT_BATCH
from modelyard.inference.source import LocalDirSource
from modelyard.server.embed_fastpath import FastPathStarlette
from modelyard.server.errors import EXCEPTION_HANDLERS, RequestIdMiddleware
from modelyard.server.inference_app import (
    MAX_BODY_BYTES,
    MAX_HEADER_BYTES,
    create_inference_app,
    create_standalone_app,
)

pytestmark = pytest.mark.timeout(300)

TOKEN = "fast-path-token"
ALICE, BOB, CAROL = "alice-token", "bob-token", "carol-token"


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("fastpath-models")
    return {
        "embedder": tiny_models.build_bert(root / "embedder", "sentence-similarity"),
        "classifier": tiny_models.build_bert(root / "classifier", "text-classification"),
    }


Case = tuple[str, str, bytes, dict[str, str]]  # method, path, body, headers


def _masked(response: httpx.Response) -> list[tuple[str, str]]:
    """The response's headers in order, the values of Date and X-Request-Id (fresh per request) masked."""
    out = []
    for key, value in response.headers.raw:
        name = key.decode("latin-1").lower()
        out.append((name, "*" if name in ("date", "x-request-id") else value.decode("latin-1")))
    return out


def _fast_path_takes(app: FastPathStarlette, method: str, path: str, headers: dict[str, str]) -> bool:
    assert app.fast_path is not None
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    scope = {"type": "http", "method": method, "path": path, "raw_path": path.encode(), "headers": raw}
    return app.fast_path.match(scope) is not None


async def _compare(fast: ASGIApp, slow: ASGIApp, cases: list[Case]) -> list[httpx.Response]:
    answers = []
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=fast), base_url="http://t") as f,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=slow), base_url="http://t") as s,
    ):
        for method, path, body, headers in cases:
            a = await f.request(method, path, content=body, headers=headers)
            b = await s.request(method, path, content=body, headers=headers)
            what = f"{method} {path} {body[:80]!r} {headers}"
            assert a.status_code == b.status_code, what
            assert a.content == b.content, what
            assert _masked(a) == _masked(b), what
            assert a.headers["x-request-id"] and a.headers["date"], what
            answers.append(a)
    return answers


def _run(
    model_dirs: dict[str, Path], body: Callable[[EndpointManager], Awaitable[None]], **manager: Any
) -> None:
    async def go() -> None:
        source = LocalDirSource(
            {
                "tests/embedder": model_dirs["embedder"],
                "tests/private-embedder": model_dirs["embedder"],
                "alice/private-embedder": model_dirs["embedder"],
                "tests/classifier": model_dirs["classifier"],
            }
        )
        mgr = EndpointManager(source, **manager)
        try:
            await body(mgr)
        finally:
            await mgr.aclose()

    asyncio.run(go())


async def _create(mgr: EndpointManager, name: str, repo: str) -> None:
    await mgr.create(EndpointConfig.from_dict({"name": name, "repo_id": repo, "threads": 1}), load=True)
    await mgr.wait_ready(name, timeout=120)


def _json(data: Any) -> bytes:
    return json.dumps(data).encode()


JSON = {"content-type": "application/json"}


def test_standalone_fast_path_answers_as_the_routed_path(model_dirs: dict[str, Path]) -> None:
    async def body(mgr: EndpointManager) -> None:
        for name, repo in (
            ("emb", "tests/embedder"),
            ("secret", "tests/private-embedder"),
            ("cls", "tests/classifier"),
        ):
            await _create(mgr, name, repo)
        authorize = StaticTokenAuthorizer([TOKEN], private_repos=["tests/private-embedder"])
        fast = create_standalone_app(mgr, authorize, [], fast_path=True)
        slow = create_standalone_app(mgr, authorize, [], fast_path=False)
        assert isinstance(fast, FastPathStarlette) and fast.fast_path is not None
        assert isinstance(slow, FastPathStarlette) and slow.fast_path is None
        auth = {**JSON, "authorization": f"Bearer {TOKEN}"}
        wrong = {**JSON, "authorization": "Bearer nope"}
        openai = "/endpoints/emb/v1/embeddings"
        native = "/endpoints/emb"
        served_fast: list[Case] = [
            ("POST", openai, _json({"model": "m", "input": "a cat runs"}), JSON),
            ("POST", openai, _json({"input": ["a cat runs", "the city"], "encoding_format": "base64"}), JSON),
            (
                "POST",
                openai,
                _json({"input": "a cat runs", "dimensions": 8}),
                {**JSON, "x-request-id": "r-1"},
            ),
            ("POST", native, _json({"inputs": "a cat runs"}), JSON),
            ("POST", native + "/", _json({"inputs": ["a cat runs", "ünïcode ✓"]}), JSON),
            (
                "POST",
                native,
                _json({"inputs": {"source_sentence": "a cat", "sentences": ["a dog", "x"]}}),
                JSON,
            ),
            ("POST", "/endpoints/EMB", _json({"inputs": "names are case-insensitive"}), JSON),
            # a private endpoint: no token 401, a wrong token 403, the right one 200
            ("POST", "/endpoints/secret/v1/embeddings", _json({"input": "x"}), JSON),
            ("POST", "/endpoints/secret", _json({"inputs": "x"}), JSON),
            ("POST", "/endpoints/secret/v1/embeddings", _json({"input": "x"}), wrong),
            ("POST", "/endpoints/secret", _json({"inputs": "x"}), wrong),
            ("POST", "/endpoints/secret/v1/embeddings", _json({"input": "x"}), auth),
            ("POST", "/endpoints/secret", _json({"inputs": "x"}), auth),
            # malformed bodies: 422 in the Hub format
            ("POST", openai, b"not json", JSON),
            ("POST", openai, b"", JSON),
            ("POST", openai, _json({"input": 12}), JSON),
            ("POST", openai, _json({"input": []}), JSON),
            ("POST", openai, _json({"input": "x", "encoding_format": "hex"}), JSON),
            ("POST", openai, _json({"input": "x", "dimensions": "many"}), JSON),
            ("POST", openai, _json(["input", "x"]), JSON),
            ("POST", native, b'{"inputs": ', JSON),
            ("POST", native, _json({"inputs": {"source_sentence": 1}}), JSON),
            ("POST", native, _json({"no_inputs": 1}), JSON),
            ("POST", native, _json({"inputs": "x", "parameters": []}), JSON),
            # oversized: too many inputs (422), a body over the limit (413)
            ("POST", openai, _json({"input": ["x"] * (MAX_CLIENT_BATCH + 1)}), JSON),
            ("POST", native, _json({"inputs": ["x"] * (MAX_CLIENT_BATCH + 1)}), JSON),
            ("POST", openai, b"{" + b" " * MAX_BODY_BYTES + b"}", JSON),
            # the OpenAI route of an endpoint that does not embed: 422 UnsupportedTask
            ("POST", "/endpoints/cls/v1/embeddings", _json({"input": "x"}), JSON),
        ]
        for method, path, _, headers in served_fast:
            assert _fast_path_takes(fast, method, path, headers), path
        routed: list[Case] = [
            ("POST", "/endpoints/cls", _json({"inputs": "not an embedding task"}), JSON),
            ("POST", "/endpoints/nope/v1/embeddings", _json({"input": "x"}), JSON),
            ("POST", "/endpoints/nope", _json({"inputs": "x"}), JSON),
            ("GET", openai, b"", {}),
            ("PUT", native, _json({"inputs": "x"}), JSON),
            ("POST", "/endpoints/emb/v1/embeddings/extra", _json({"input": "x"}), JSON),
            ("POST", "/endpoints/emb%0a/v1/embeddings", _json({"input": "x"}), JSON),
            ("POST", openai, _json({"input": "x"}), {**JSON, "x-big": "a" * MAX_HEADER_BYTES}),
        ]
        answers = await _compare(fast, slow, served_fast + routed)
        statuses = [a.status_code for a in answers]
        assert statuses[:7] == [200] * 7
        assert statuses[7:13] == [401, 401, 403, 403, 200, 200]
        assert set(statuses[13:26]) == {422}
        assert statuses[26:28] == [413, 422]
        assert statuses[28:] == [200, 404, 404, 405, 405, 404, 400, 431]
        assert answers[2].headers["x-request-id"] == "r-1"
        assert answers[13].headers["x-error-code"] == "InvalidInput"
        assert answers[8].headers["x-error-code"] == "Unauthorized"
        first = answers[0].json()
        assert first["model"] == "m" and first["data"][0]["index"] == 0
        native_vector = answers[3].json()[0]
        np.testing.assert_allclose(first["data"][0]["embedding"], native_vector, atol=1e-6)

    _run(model_dirs, body)


def _hub_like(use: str) -> Callable[[str | None, str], Awaitable[None]]:
    """The hub's rule, in small: alice/* repos are private to alice (404 to anyone else); carol may view alice's
    endpoints but not call them (403); bob is a signed-in stranger."""

    async def check(token: str | None, repo_id: str) -> None:
        if token not in (None, ALICE, BOB, CAROL):
            raise Unauthorized("Invalid credentials in Authorization header")
        if repo_id.startswith("alice/"):
            if token not in (ALICE, CAROL):
                raise RepoNotFound(f"Repository {repo_id} not found")
            if use == "call" and token == CAROL:
                raise Forbidden("This token does not have the 'inference.endpoints.infer.write' permission")

    return check


def test_mounted_fast_path_answers_as_the_routed_path(model_dirs: dict[str, Path]) -> None:
    """As the hub mounts the inference app: behind RequestIdMiddleware, under /endpoints, hub-like checks."""

    def mounted(fast_path: bool, mgr: EndpointManager) -> ASGIApp:
        app = create_inference_app(mgr, _hub_like("view"), invoke=_hub_like("call"), fast_path=fast_path)
        return RequestIdMiddleware(
            Starlette(routes=[Mount("/endpoints", app=app)], exception_handlers=EXCEPTION_HANDLERS)
        )

    async def body(mgr: EndpointManager) -> None:
        await _create(mgr, "mine", "alice/private-embedder")
        await _create(mgr, "pub", "tests/embedder")
        fast, slow = mounted(True, mgr), mounted(False, mgr)
        cases: list[Case] = []
        for token in (None, ALICE, BOB, CAROL, "forged"):
            headers = {**JSON, **({"authorization": f"Bearer {token}"} if token else {})}
            cases += [
                ("POST", "/endpoints/mine/v1/embeddings", _json({"input": "x"}), headers),
                ("POST", "/endpoints/mine", _json({"inputs": "x"}), headers),
                ("POST", "/endpoints/pub", _json({"inputs": ["x", "y"]}), headers),
                ("POST", "/endpoints/mine", b"garbage", headers),
            ]
        answers = await _compare(fast, slow, cases)
        by_token = [[a.status_code for a in answers[i : i + 4]] for i in range(0, len(answers), 4)]
        assert by_token == [
            [404, 404, 200, 404],  # anonymous: alice's endpoint does not exist for it
            [200, 200, 200, 422],  # alice
            [404, 404, 200, 404],  # bob
            [403, 403, 200, 403],  # carol may see, not call
            [401, 401, 401, 401],  # a forged token
        ]
        assert answers[0].headers["x-error-code"] == "EndpointNotFound"
        assert "alice" not in answers[0].text

    _run(model_dirs, body)


def test_hub_embedding_calls_keep_the_hub_checks(live_server: Any, repo_name: str, tmp_path: Path) -> None:
    """On the live hub (the fast path inside the mounted app, behind the hub's middlewares): alice's private
    embedder answers her; anonymous, bob and a forged token get exactly what the routed ``GET /v1/models`` of the
    same endpoint answers them (the same visibility check), and bad bodies the Hub's 422."""
    hub = live_server
    api = hub.api()
    api.create_repo(repo_name, private=True)
    folder = tiny_models.build_bert(tmp_path / "embedder", "sentence-similarity")
    api.upload_folder(folder_path=folder, repo_id=f"alice/{repo_name}")
    mgmt = f"{hub.url}/endpoints/-/api/endpoints"
    name = f"{repo_name}-emb"[:63]
    config = {"name": name, "repo_id": f"alice/{repo_name}", "task": "feature-extraction", "threads": 1}
    created = httpx.post(mgmt, json=config, headers=hub.auth(), timeout=60)
    assert created.status_code == 201, created.text
    try:
        for _ in range(600):
            state = httpx.get(f"{mgmt}/{name}", headers=hub.auth(), timeout=30).json()["state"]
            if state in ("ready", "failed"):
                break
            time.sleep(0.2)
        assert state == "ready"
        url = f"{hub.url}/endpoints/{name}"
        ok = httpx.post(f"{url}/v1/embeddings", json={"input": ["a", "b"]}, headers=hub.auth(), timeout=30)
        assert ok.status_code == 200 and len(ok.json()["data"]) == 2, ok.text
        native = httpx.post(url, json={"inputs": "a"}, headers=hub.auth(), timeout=30)
        assert native.status_code == 200 and len(native.json()[0]) == 32, native.text
        for headers in ({}, hub.auth(hub.bob), hub.auth("hf_forged")):
            fast = httpx.post(f"{url}/v1/embeddings", json={"input": "a"}, headers=headers, timeout=30)
            fast_native = httpx.post(url, json={"inputs": "a"}, headers=headers, timeout=30)
            routed = httpx.get(f"{url}/v1/models", headers=headers, timeout=30)
            assert routed.status_code in (401, 404), routed.text
            for answer in (fast, fast_native):
                assert (answer.status_code, answer.content) == (routed.status_code, routed.content)
                assert answer.headers["x-error-code"] == routed.headers["x-error-code"]
                assert answer.headers["x-request-id"]
            assert f"alice/{repo_name}" not in fast.text  # the repo is not revealed
        for body in (b"not json", _json({"input": ["x"] * (MAX_CLIENT_BATCH + 1)})):
            bad = httpx.post(f"{url}/v1/embeddings", content=body, headers={**JSON, **hub.auth()}, timeout=30)
            assert bad.status_code == 422 and bad.headers["x-error-code"] == "InvalidInput", bad.text
    finally:
        httpx.delete(f"{mgmt}/{name}", headers=hub.auth(), timeout=30)
