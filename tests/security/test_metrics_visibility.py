"""Finding 7: endpoint names and metrics show only what the caller may see.

An endpoint of a private repo is invisible (absent from ``/endpoints/-/metrics`` and the endpoint listing,
404 ``EndpointNotFound`` on its own URLs, exactly like a name that does not exist) to anybody who cannot read
the repo; an admin account (``modelyard users create NAME --admin``) sees every endpoint in the metrics.
Endpoints are created with ``load: false``: no model is loaded, the names are what matters here.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest


@pytest.fixture(scope="module")
def deployed(live_server: Any) -> Iterator[dict[str, str]]:
    hub = live_server
    api = hub.api()
    suffix = uuid.uuid4().hex[:6]
    names = {"private": f"secret-ep-{suffix}", "public": f"open-ep-{suffix}"}
    api.create_repo(f"secret-model-{suffix}", private=True)
    api.create_repo(f"open-model-{suffix}")
    mgmt = f"{hub.url}/endpoints/-/api/endpoints"
    for kind, repo in (("private", f"secret-model-{suffix}"), ("public", f"open-model-{suffix}")):
        body = {"repo_id": f"alice/{repo}", "name": names[kind], "task": "text-classification", "load": False}
        r = httpx.post(mgmt, json=body, headers=hub.auth())
        assert r.status_code == 201, r.text
    names["private_repo"] = f"alice/secret-model-{suffix}"
    try:
        yield names
    finally:
        for name in (names["private"], names["public"]):
            httpx.delete(f"{mgmt}/{name}", headers=hub.auth())


def test_anonymous_and_other_users_do_not_see_private_endpoints(
    live_server: Any, deployed: dict[str, str]
) -> None:
    hub = live_server
    anonymous: dict[str, str] = {}
    for headers in (anonymous, hub.auth(hub.bob)):
        r = httpx.get(f"{hub.url}/endpoints/-/metrics", headers=headers)
        assert r.status_code == 200, r.text
        assert deployed["private"] not in r.text
        assert deployed["public"] in r.text
        listed = httpx.get(f"{hub.url}/endpoints/-/api/endpoints", headers=headers).json()["endpoints"]
        assert deployed["private"] not in {e["name"] for e in listed}
        assert deployed["public"] in {e["name"] for e in listed}
    # the owner sees it, with a read token too
    for token in (hub.alice, hub.alice_read):
        r = httpx.get(f"{hub.url}/endpoints/-/metrics", headers=hub.auth(token))
        assert deployed["private"] in r.text and deployed["public"] in r.text


def test_private_endpoint_urls_look_like_missing_ones(live_server: Any, deployed: dict[str, str]) -> None:
    hub = live_server
    missing = "no-such-endpoint-xyz"
    anonymous: dict[str, str] = {}
    for headers in (anonymous, hub.auth(hub.bob)):
        for tail in ("metrics", "info", "health", "v1/models"):
            r = httpx.get(f"{hub.url}/endpoints/{deployed['private']}/{tail}", headers=headers)
            ref = httpx.get(f"{hub.url}/endpoints/{missing}/{tail}", headers=headers)
            assert r.status_code == ref.status_code == 404, (tail, r.text)
            assert r.headers["x-error-code"] == ref.headers["x-error-code"] == "EndpointNotFound"
            assert deployed["private_repo"] not in r.text
            assert deployed["private_repo"] not in r.headers["x-error-message"]
        r = httpx.get(f"{hub.url}/endpoints/-/api/endpoints/{deployed['private']}", headers=headers)
        assert r.status_code == 404 and r.headers["x-error-code"] == "EndpointNotFound"
    r = httpx.get(f"{hub.url}/endpoints/{deployed['private']}/metrics", headers=hub.auth())
    assert r.status_code == 200


def test_admin_sees_every_endpoint(live_server: Any, deployed: dict[str, str], tmp_path: Any) -> None:
    hub = live_server
    name = f"root{uuid.uuid4().hex[:6]}"
    env = {
        **os.environ,
        "MODELYARD_DATA_DIR": hub.settings.data_dir,
        "MODELYARD_DATABASE_URL": hub.settings.resolved_database_url,
    }
    cli = [sys.executable, "-m", "modelyard"]
    out = subprocess.run([*cli, "users", "create", name, "--admin"], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    tok = subprocess.run(
        [*cli, "tokens", "create", name, "--name", "ops", "--role", "read"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert tok.returncode == 0, tok.stderr
    token = tok.stdout.strip().split()[-1]
    r = httpx.get(f"{hub.url}/api/whoami-v2", headers=hub.auth(token))
    assert r.status_code == 200, r.text
    r = httpx.get(f"{hub.url}/endpoints/-/metrics", headers=hub.auth(token))
    assert r.status_code == 200
    assert deployed["private"] in r.text and deployed["public"] in r.text
    # a plain user created without --admin is no admin
    plain = f"plain{uuid.uuid4().hex[:6]}"
    assert subprocess.run([*cli, "users", "create", plain], env=env, capture_output=True).returncode == 0
    ptok = hub.services.accounts.create_token(plain, "t", "read")
    r = httpx.get(f"{hub.url}/endpoints/-/metrics", headers=hub.auth(ptok))
    assert deployed["private"] not in r.text


def test_hub_health_and_metrics_name_no_repo_or_user(live_server: Any, deployed: dict[str, str]) -> None:
    """The hub's own /health and /metrics are open to anyone, so they carry totals only: no private repo, endpoint
    or account name, whoever asks."""
    hub = live_server
    secrets_ = (
        deployed["private_repo"],
        deployed["private_repo"].split("/", 1)[1],
        deployed["private"],
        "alice",
    )
    for route in ("/health", "/metrics"):
        for headers in ({}, hub.auth(hub.bob), hub.auth()):
            r = httpx.get(f"{hub.url}{route}", headers=headers)
            assert r.status_code == 200, (route, r.text)
            for name in secrets_:
                assert name not in r.text, (route, name)
    assert "modelyard_disk_free_bytes" in httpx.get(f"{hub.url}/metrics").text
