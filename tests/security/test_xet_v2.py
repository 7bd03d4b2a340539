"""Issue 10, Xet v2: the routes current hf_xet tries first keep issue 9's rules.

v2 reconstructions only for files the token's repo holds, with one signed URL per byte window; v2 shard uploads
and xorb upload grants only with a write token; an upload grant opens exactly one xorb of one length, and the
bytes still have to hash to that xorb. Attacker side: a real hub, hf_xet in a subprocess for the uploads, httpx for
the raw CAS calls that no client call exposes.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.security.test_content_binding import tree, xet_token

from _xet_client import hf_client, xet_upload
from modelyard.xet.hashes import hash_to_hex, hex_to_hash
from modelyard.xet.xorb import build_xorb


@pytest.fixture(scope="module")
def private_file(live_server: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    hub = live_server
    tmp = tmp_path_factory.mktemp("v2-priv")
    repo = f"alice/v2-priv-{os.urandom(3).hex()}"
    hub.api().create_repo(repo, private=True)
    data = os.urandom(2_000_000)
    xet_upload(hub, tmp, repo, data)
    return {"repo": repo, "data": data, "xet": tree(hub, repo, hub.alice)["w.bin"]["xetHash"]}


def _bearer(tok: httpx.Response) -> tuple[str, dict[str, str]]:
    assert tok.status_code == 200, tok.text
    return tok.json()["casUrl"], {"authorization": f"Bearer {tok.json()['accessToken']}"}


def test_v2_reconstruction_is_bound_to_the_tokens_repo(live_server: Any, private_file: Any) -> None:
    hub = live_server
    thief = f"bob/v2-thief-{os.urandom(3).hex()}"
    hub.api(hub.bob).create_repo(thief)
    cas, bob = _bearer(xet_token(hub, thief, "read", hub.bob))
    r = httpx.get(f"{cas}/v2/reconstructions/{private_file['xet']}", headers=bob)
    assert r.status_code == 404 and private_file["repo"] not in r.text
    assert httpx.get(f"{cas}/v2/reconstructions/{private_file['xet']}").status_code == 401
    cas, alice = _bearer(xet_token(hub, private_file["repo"], "read", hub.alice))
    r = httpx.get(f"{cas}/v2/reconstructions/{private_file['xet']}", headers=alice)
    assert r.status_code == 200 and r.json()["terms"]
    # each URL opens exactly the bytes of its one range
    body = b""
    for xorb, fetches in r.json()["xorbs"].items():
        stored = hub.services.xet.xorb_record(hex_to_hash(xorb)).stored_size
        for f in fetches:
            [rng] = f["ranges"]
            a, b = rng["bytes"]["start"], rng["bytes"]["end"]
            ok = httpx.get(f["url"], headers={"range": f"bytes={a}-{b}"})
            assert ok.status_code in (200, 206) and len(ok.content) == b - a + 1
            body += ok.content
            if b + 1 < stored:
                assert httpx.get(f["url"], headers={"range": f"bytes={b + 1}-{stored - 1}"}).status_code in (
                    403,
                    416,
                )
            tampered = f["url"].replace(f"r={a}-{b}", f"r={a}-{stored - 1}")
            if tampered != f["url"]:
                assert httpx.get(tampered).status_code == 403
    assert body
    # a range past the end: 416, which hf_xet reads as "no data"
    r = httpx.get(
        f"{cas}/v2/reconstructions/{private_file['xet']}", headers={**alice, "range": "bytes=9000000-9000001"}
    )
    assert r.status_code == 416


def test_v2_shards_and_grants_need_a_write_token(live_server: Any, private_file: Any) -> None:
    hub = live_server
    cas, read = _bearer(xet_token(hub, private_file["repo"], "read", hub.alice))
    h, data = build_xorb([os.urandom(5000)])
    x = hash_to_hex(h)
    assert httpx.post(f"{cas}/v2/shards", content=b"x", headers=read).status_code == 403
    assert httpx.post(f"{cas}/v2/shards", content=b"x").status_code == 401
    assert httpx.post(f"{cas}/v1/xorb-grants/default/{x}", json={"length": len(data)}).status_code == 401
    r = httpx.post(f"{cas}/v1/xorb-grants/default/{x}", json={"length": len(data)}, headers=read)
    assert r.status_code == 403
    # bob cannot get a write token for alice's repo (and so no grant)
    assert xet_token(hub, private_file["repo"], "write", hub.bob).status_code == 404


def test_v2_shard_errors_are_in_stream(live_server: Any, repo_name: str) -> None:
    hub = live_server
    hub.api().create_repo(repo_name)
    cas, write = _bearer(xet_token(hub, f"alice/{repo_name}", "write", hub.alice))
    r = httpx.post(f"{cas}/v2/shards", content=b"garbage", headers=write)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
    frames = [__import__("json").loads(line) for line in r.text.splitlines()]
    assert frames[-1]["type"] == "error" and frames[-1]["retryable"] is False, frames


def test_upload_grant_opens_one_xorb_of_one_length(live_server: Any, repo_name: str) -> None:
    hub = live_server
    hub.api().create_repo(repo_name)
    cas, write = _bearer(xet_token(hub, f"alice/{repo_name}", "write", hub.alice))
    h, data = build_xorb([os.urandom(4000), os.urandom(4000)])
    x = hash_to_hex(h)
    other_h, other = build_xorb([os.urandom(4000)])
    for bad in ({}, {"length": 0}, {"length": -1}, {"length": "12"}, {"length": 1 << 40}):
        assert httpx.post(f"{cas}/v1/xorb-grants/default/{x}", json=bad, headers=write).status_code == 400
    r = httpx.post(f"{cas}/v1/xorb-grants/default/{x}", json={"length": len(data)}, headers=write)
    assert r.status_code == 201, r.text
    grant = r.json()
    assert set(grant) == {"id", "method", "url", "headers"} and grant["method"] == "PUT"
    gid = grant["id"]
    # committing before anything was uploaded: 404 (hf_xet asks for a new grant)
    commit = f"{cas}/v1/xorb-commits/default/{x}/grant/{gid}"
    assert httpx.post(commit, headers=write).status_code == 404
    # the grant for x does not open another xorb, a forged or stretched grant opens nothing
    assert httpx.put(grant["url"].replace(x, hash_to_hex(other_h)), content=other).status_code == 403
    exp, length, sig = gid.split(".")
    stretched = grant["url"].replace(gid, f"{exp}.{int(length) + 10}.{sig}")
    assert httpx.put(stretched, content=data + b"0" * 10).status_code == 403
    assert httpx.put(grant["url"].replace(sig, "A" * len(sig)), content=data).status_code == 403
    # bytes that do not hash to the xorb are refused and stored nowhere
    fake = bytearray(data)
    fake[-100] ^= 1
    assert httpx.put(grant["url"], content=bytes(fake)).status_code == 400
    assert not hub.services.xet.has_xorb(x)
    assert httpx.put(grant["url"], content=data[:-1]).status_code == 400
    # the real bytes: stored, committed; a second PUT is 412, a second grant request 200 (exists)
    ok = httpx.put(grant["url"], content=data, headers=grant["headers"])
    assert ok.status_code == 200 and hub.services.xet.has_xorb(x)
    assert httpx.put(grant["url"], content=data).status_code == 412
    assert httpx.post(commit, headers=write).json() == {"was_inserted": True}
    again = httpx.post(f"{cas}/v1/xorb-grants/default/{x}", json={"length": len(data)}, headers=write)
    assert again.status_code == 200


def test_xet_v2_download_of_public_file_matches(live_server: Any, repo_name: str, tmp_path: Path) -> None:
    hub = live_server
    repo = f"alice/{repo_name}"
    hub.api().create_repo(repo)
    data = os.urandom(1_500_000)
    (tmp_path / "f.bin").write_bytes(data)
    hf_client(hub, tmp_path / "c1", hub.alice, True, "upload", repo, str(tmp_path / "f.bin"), "f.bin")
    res = hf_client(hub, tmp_path / "c2", hub.bob, True, "download", repo, "f.bin")
    assert res["sha256"] == hashlib.sha256(data).hexdigest()
