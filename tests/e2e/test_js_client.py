"""The official JavaScript client, ``@huggingface/hub`` from npm (version pinned in tests/js/package.json), against
a real hub: ``npm ci`` (cached in tests/js/node_modules, git-ignored), then ``node --test tests/js/hub.test.mjs``
with the hub URL and alice's/bob's tokens in the environment. The node tests upload through both of the
client's paths (Xet, its default, and LFS with ``useXet: false``) and read everything back; the attacker side
(another user, no token, an invalid token, a read token) is in the same file.

Skipped, saying why, when node (>= 18) or npm is missing, or when npm cannot reach its registry."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

JS_DIR = Path(__file__).resolve().parents[1] / "js"
STAMP = JS_DIR / "node_modules" / ".modelyard-lock-sha256"
NET_ERRORS = ("ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "ETIMEDOUT", "ECONNRESET", "network")


def _node() -> tuple[str, str]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed for the JavaScript client tests (apt-get install nodejs npm)")
    out = subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    m = re.match(r"v(\d+)", out)
    if not m or int(m.group(1)) < 18:
        pytest.skip(f"@huggingface/hub needs node >= 18, found {out}")
    return node, npm


def _npm_ci(npm: str) -> None:
    """``npm ci`` once per package-lock.json: a stamp in node_modules records the lock file it installed."""
    lock = hashlib.sha256((JS_DIR / "package-lock.json").read_bytes()).hexdigest()
    if STAMP.is_file() and STAMP.read_text().strip() == lock:
        return
    out = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=JS_DIR,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if out.returncode != 0:
        text = out.stdout + out.stderr
        if any(e in text for e in NET_ERRORS):
            pytest.skip(f"npm cannot reach its registry: {text.strip()[-500:]}")
        raise AssertionError(f"npm ci failed:\n{text[-3000:]}")
    STAMP.write_text(lock)


@pytest.fixture(scope="module")
def js_hub(hub_factory: Any) -> Any:
    """A hub with a small multipart threshold, so that the client's LFS path also does a multipart upload."""
    return hub_factory(multipart_threshold=2 * 1024 * 1024, multipart_chunk_size=1024 * 1024)


def test_js_client(js_hub: Any) -> None:
    node, npm = _node()
    _npm_ci(npm)
    env = {
        **os.environ,
        "MODELYARD_URL": js_hub.url,
        "MODELYARD_TOKEN": js_hub.alice,
        "MODELYARD_TOKEN_READ": js_hub.alice_read,
        "MODELYARD_TOKEN_BOB": js_hub.bob,
        "NO_COLOR": "1",
    }
    out = subprocess.run(
        [node, "--test", "--test-reporter=tap", "hub.test.mjs"],
        cwd=JS_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = out.stdout + out.stderr
    counts = {k: int(v) for k, v in re.findall(r"^# (pass|fail|skipped|todo|cancelled) (\d+)$", report, re.M)}
    assert out.returncode == 0 and counts.get("fail") == 0, report[-6000:]
    # 1 + 2 modes x 9 steps: a step that silently stopped running would show here
    assert counts.get("pass") == 19 and counts.get("skipped") == 0 and counts.get("todo") == 0, counts


def test_tokens_have_the_hub_prefix_and_old_ones_still_work(js_hub: Any) -> None:
    """New tokens start with hf_ (the JS client refuses others); a token issued before, with another prefix, keeps
    working: only the token's sha256 is stored and looked up."""
    from modelyard.db.schema import tokens
    from modelyard.hub._time import now
    from modelyard.hub.accounts import hash_token

    svc = js_hub.services
    assert svc.accounts.create_token("bob", "js-new").startswith("hf_")
    legacy = "my_" + "L" * 40
    bob_id = svc.accounts.get("bob").id
    with svc.db.transaction() as conn:
        conn.execute(
            tokens.insert().values(
                account_id=bob_id,
                name="legacy",
                token_hash=hash_token(legacy),
                role="write",
                created_at=now(),
            )
        )
    assert js_hub.api(legacy).whoami()["name"] == "bob"


def test_lfs_batch_xet_transfer_is_only_for_writers(js_hub: Any, repo_name: str) -> None:
    """The batch answer with ``"transfer": "xet"`` carries a CAS write token: never for a caller without the push
    right (another user, a read token, no token), and a private repo stays not found for a stranger."""
    api = js_hub.api()
    repo = f"alice/{repo_name}"
    api.create_repo(repo, private=True)
    body = {
        "operation": "upload",
        "transfers": ["basic", "multipart", "xet"],
        "hash_algo": "sha_256",
        "ref": {"name": "main"},
        "objects": [{"oid": "ab" * 32, "size": 1234}],
    }
    url = f"{js_hub.url}/{repo}.git/info/lfs/objects/batch"
    lfs = {"accept": "application/vnd.git-lfs+json", "content-type": "application/vnd.git-lfs+json"}
    ok = httpx.post(url, json=body, headers={**lfs, **js_hub.auth()})
    assert ok.status_code == 200, ok.text
    data = ok.json()
    assert data["transfer"] == "xet"
    up = data["objects"][0]["actions"]["upload"]
    assert up["href"] == f"{js_hub.url}/api/models/{repo}/xet-write-token/main"
    assert up["header"]["X-Xet-Cas-Url"] == f"{js_hub.url}/xet-cas" and up["header"]["X-Xet-Access-Token"]
    # the href is the client's token refresher: it answers the owner only
    assert httpx.get(up["href"], headers=js_hub.auth()).status_code == 200
    assert httpx.get(up["href"], headers=js_hub.auth(js_hub.bob)).status_code == 404
    for headers, statuses in (
        (js_hub.auth(js_hub.bob), {404}),  # a stranger: the private repo does not exist for them
        (js_hub.auth(js_hub.alice_read), {403}),  # a read token cannot push
        ({}, {401, 404}),  # no token
        (js_hub.auth("hf_" + "x" * 34), {401}),  # an invalid token
    ):
        r = httpx.post(url, json=body, headers={**lfs, **headers})
        assert r.status_code in statuses, (r.status_code, r.text)
        assert "X-Xet-Access-Token" not in r.text and "xet-write-token" not in r.text
    # offering only basic keeps the plain LFS answer (huggingface_hub 2.x never offers xet here)
    plain = httpx.post(
        url, json={**body, "transfers": ["basic", "multipart"]}, headers={**lfs, **js_hub.auth()}
    )
    assert plain.json()["transfer"] == "basic"
    assert "/lfs-upload/" in plain.json()["objects"][0]["actions"]["upload"]["href"]
