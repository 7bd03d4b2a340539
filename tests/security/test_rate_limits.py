"""Rate limits per token and per client IP: token buckets refilled per minute; past the budget the hub answers
429 with ``Retry-After`` in the Hub's error format (``X-Error-Code: RateLimited``), on every front."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from huggingface_hub.errors import HfHubHTTPError

PER_TOKEN = 6
PER_IP = 4


@pytest.fixture(scope="module")
def limited(hub_factory: Any) -> Any:
    return hub_factory(rate_limit_per_minute=PER_TOKEN, rate_limit_anonymous_per_minute=PER_IP)


def _assert_429(r: httpx.Response) -> None:
    assert r.status_code == 429, (r.status_code, r.text[:200])
    assert r.headers["x-error-code"] == "RateLimited"
    assert r.headers.get("x-error-message") and r.headers.get("x-request-id")
    assert int(r.headers["retry-after"]) >= 1
    assert r.json()["error"]


def test_per_token_limit_with_the_official_client(limited: Any) -> None:
    hub = limited
    alice, bob = hub.api(hub.alice), hub.api(hub.bob)
    repo = f"alice/rl-{uuid.uuid4().hex[:6]}"
    alice.create_repo(repo)
    for _ in range(PER_TOKEN - 1):  # create_repo took one of alice's budget; bob has his own
        bob.model_info(repo)
    bob.model_info(repo)
    with pytest.raises(HfHubHTTPError) as e:
        bob.model_info(repo)
    assert e.value.response.status_code == 429
    assert int(e.value.response.headers["retry-after"]) >= 1
    assert e.value.response.headers["x-error-code"] == "RateLimited"
    # downloads and the CAS count too
    _assert_429(httpx.get(f"{hub.url}/{repo}/resolve/main/README.md", headers=hub.auth(hub.bob)))
    # another token of the same caller's IP is not affected
    assert alice.model_info(repo).id == repo


def test_per_ip_limit_for_anonymous_callers(limited: Any) -> None:
    hub = limited
    with httpx.Client(base_url=hub.url) as http:
        seen = [http.get("/api/models").status_code for _ in range(PER_IP + 2)]
        assert seen[:PER_IP].count(200) >= PER_IP - 1 and seen[-1] == 429, seen
        _assert_429(http.get("/api/models"))
        _assert_429(http.get("/"))  # web pages
        _assert_429(http.get(f"/xet-cas/v1/reconstructions/{'ab' * 32}"))  # the CAS
        # a token from the same IP has its own budget
        r = http.get("/api/whoami-v2", headers=hub.auth(hub.alice_read))
        assert r.status_code == 200, r.text
        # made-up tokens do not buy a fresh budget: failed authentications are counted per IP
        codes = [
            http.get("/api/whoami-v2", headers={"authorization": f"Bearer my_{uuid.uuid4().hex}"}).status_code
            for _ in range(PER_IP + 2)
        ]
        assert codes[-1] == 429, codes
