"""Issue 9, findings 1, 2, 4 and the push rule: content is bound to repos.

Attacker side: a real hub, the official client where one applies (huggingface_hub, hf_xet in a subprocess),
httpx for the raw protocol calls (NDJSON commit lines, LFS batch, the Xet CAS) that no client call exposes.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import time
from pathlib import Path
from typing import Any

import blake3
import httpx
import pytest

from _xet_client import hf_client, xet_upload
from modelyard.xet.hashes import hash_to_hex, hex_to_hash
from modelyard.xet.shard import FileTerm, ShardFile, build_upload_shard, parse_shard

LFS_JSON = "application/vnd.git-lfs+json"


# --- helpers ----------------------------------------------------------------------------------------
def ndjson_commit(hub: Any, token: str, repo: str, *ops: dict[str, Any], rev: str = "main") -> httpx.Response:
    lines = [{"key": "header", "value": {"summary": "c", "description": ""}}, *ops]
    body = "\n".join(json.dumps(x) for x in lines).encode()
    return httpx.post(
        f"{hub.url}/api/models/{repo}/commit/{rev}",
        content=body,
        headers={**hub.auth(token), "content-type": "application/x-ndjson"},
        timeout=60,
    )


def lfs_line(path: str, sha256: str, size: int) -> dict[str, Any]:
    return {"key": "lfsFile", "value": {"path": path, "algo": "sha256", "oid": sha256, "size": size}}


def lfs_batch(hub: Any, repo: str, body: dict[str, Any], token: str | None) -> httpx.Response:
    headers = {"accept": LFS_JSON, "content-type": LFS_JSON}
    if token is not None:
        headers.update(hub.auth(token))
    return httpx.post(f"{hub.url}/{repo}.git/info/lfs/objects/batch", json=body, headers=headers)


def upload_body(oid: str, size: int, ref: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "operation": "upload",
        "transfers": ["basic", "multipart"],
        "objects": [{"oid": oid, "size": size}],
        "hash_algo": "sha256",
    }
    if ref is not None:
        body["ref"] = {"name": ref}
    return body


def xet_token(hub: Any, repo: str, kind: str, token: str | None, rev: str = "main") -> httpx.Response:
    return httpx.get(
        f"{hub.url}/api/models/{repo}/xet-{kind}-token/{rev}", headers=hub.auth(token) if token else {}
    )


def tree(hub: Any, repo: str, token: str) -> dict[str, Any]:
    r = httpx.get(f"{hub.url}/api/models/{repo}/tree/main", headers=hub.auth(token))
    assert r.status_code == 200, r.text
    return {e["path"]: e for e in r.json()}


@pytest.fixture(scope="module")
def private_xet(live_server: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """alice's private repo holding a 3 MB file uploaded with the default client (Xet on)."""
    hub = live_server
    tmp = tmp_path_factory.mktemp("priv-xet")
    repo = f"alice/priv-xet-{os.urandom(3).hex()}"
    hub.api().create_repo(repo, private=True)
    data = os.urandom(3_000_000)
    xet_upload(hub, tmp, repo, data)
    entry = tree(hub, repo, hub.alice)["w.bin"]
    assert len(entry["xetHash"]) == 64
    return {"repo": repo, "data": data, "sha256": hashlib.sha256(data).hexdigest(), "xet": entry["xetHash"]}


@pytest.fixture(scope="module")
def thief(live_server: Any) -> str:
    repo = f"bob/thief-{os.urandom(3).hex()}"
    live_server.api(live_server.bob).create_repo(repo)
    return repo


# --- finding 1: LFS bytes by hash -------------------------------------------------------------------
def test_lfsfile_naming_private_lfs_object_is_refused(live_server: Any, thief: str, repo_name: str) -> None:
    hub = live_server
    priv = f"alice/{repo_name}"
    hub.api().create_repo(priv, private=True)
    secret = os.urandom(200_000) + b"\0"  # binary: an LFS file (the session client has Xet off)
    hub.api().upload_file(path_or_fileobj=secret, path_in_repo="w.bin", repo_id=priv)
    sha = hashlib.sha256(secret).hexdigest()
    assert tree(hub, priv, hub.alice)["w.bin"]["lfs"]["oid"] == sha

    r = ndjson_commit(hub, hub.bob, thief, lfs_line("stolen.bin", sha, len(secret)))
    assert r.status_code in (400, 403, 404, 422), r.text
    assert r.headers.get("x-error-code")
    got = httpx.get(f"{hub.url}/{thief}/resolve/main/stolen.bin", headers=hub.auth(hub.bob))
    assert got.status_code == 404 and secret not in got.content


def test_lfsfile_naming_private_xet_file_is_refused(live_server: Any, thief: str, private_xet: Any) -> None:
    hub = live_server
    p = private_xet
    r = ndjson_commit(hub, hub.bob, thief, lfs_line("stolen.bin", p["sha256"], len(p["data"])))
    assert r.status_code in (400, 403, 404, 422), r.text
    got = httpx.get(f"{hub.url}/{thief}/resolve/main/stolen.bin", headers=hub.auth(hub.bob))
    assert got.status_code == 404
    # "already present" is never answered for bytes the repo does not hold
    r = lfs_batch(hub, thief, upload_body(p["sha256"], len(p["data"]), None), hub.bob)
    assert r.status_code == 200 and "actions" in r.json()["objects"][0]


def test_regular_file_sha256_is_not_an_lfs_object(live_server: Any, repo_name: str) -> None:
    hub = live_server
    repo = f"alice/{repo_name}"
    hub.api().create_repo(repo)
    text = b"hello, a regular file\n" * 10
    hub.api().upload_file(path_or_fileobj=text, path_in_repo="notes.txt", repo_id=repo)
    entry = tree(hub, repo, hub.alice)["notes.txt"]
    assert "lfs" not in entry or not entry["lfs"]
    r = ndjson_commit(
        hub, hub.alice, repo, lfs_line("notes.bin", hashlib.sha256(text).hexdigest(), len(text))
    )
    assert r.status_code in (400, 422), r.text


def test_recommit_of_own_lfs_history_is_accepted(live_server: Any, repo_name: str) -> None:
    hub = live_server
    repo = f"alice/{repo_name}"
    api = hub.api()
    api.create_repo(repo, private=True)
    data = os.urandom(100_000) + b"\0"
    api.upload_file(path_or_fileobj=data, path_in_repo="a.bin", repo_id=repo)
    api.delete_file("a.bin", repo_id=repo)
    sha = hashlib.sha256(data).hexdigest()
    r = ndjson_commit(hub, hub.alice, repo, lfs_line("again/a.bin", sha, len(data)))
    assert r.status_code == 200, r.text
    got = httpx.get(f"{hub.url}/{repo}/resolve/main/again/a.bin", headers=hub.auth(hub.alice))
    assert got.status_code == 200 and got.content == data
    # a wrong size for a held object is still refused
    r = ndjson_commit(hub, hub.alice, repo, lfs_line("bad.bin", sha, len(data) + 1))
    assert r.status_code == 400


# --- finding 2: Xet files by hash -------------------------------------------------------------------
def test_xet_read_token_is_bound_to_its_repo(live_server: Any, thief: str, private_xet: Any) -> None:
    hub = live_server
    p = private_xet
    tok = xet_token(hub, thief, "read", hub.bob)
    assert tok.status_code == 200
    cas, bearer = tok.json()["casUrl"], {"authorization": f"Bearer {tok.json()['accessToken']}"}
    r = httpx.get(f"{cas}/v1/reconstructions/{p['xet']}", headers=bearer)
    assert r.status_code == 404 and r.headers.get("x-error-code")
    assert httpx.head(f"{cas}/v1/files/{p['xet']}", headers=bearer).status_code == 404
    r = httpx.get(f"{cas}/v1/reconstructions", params={"file_id": p["xet"]}, headers=bearer)
    assert r.status_code == 200 and r.json()["files"] == {} and r.json()["fetch_info"] == {}
    # bob cannot even get a read token for the private repo
    assert xet_token(hub, p["repo"], "read", hub.bob).status_code == 404
    # alice's own token for the repo works
    own = xet_token(hub, p["repo"], "read", hub.alice).json()
    r = httpx.get(
        f"{cas}/v1/reconstructions/{p['xet']}", headers={"authorization": f"Bearer {own['accessToken']}"}
    )
    assert r.status_code == 200 and r.json()["terms"]
    ok = httpx.head(f"{cas}/v1/files/{p['xet']}", headers={"authorization": f"Bearer {own['accessToken']}"})
    assert ok.status_code == 200


def test_xet_token_of_a_deleted_repo_does_not_carry_over_to_its_id(live_server: Any, tmp_path: Path) -> None:
    """SQLite can hand a deleted repo's id to the next repo: a token issued before that repo existed is refused."""
    hub = live_server
    old = f"bob/gone-{os.urandom(3).hex()}"
    hub.api(hub.bob).create_repo(old)
    rt = hub.services.repos
    from modelyard.types import RepoType

    old_id = rt.get(RepoType.MODEL, *old.split("/"), None).id
    tok = xet_token(hub, old, "read", hub.bob).json()
    hub.api(hub.bob).delete_repo(old)
    time.sleep(1.1)
    new = f"alice/reuse-{os.urandom(3).hex()}"
    hub.api().create_repo(new, private=True)
    new_id = rt.get(RepoType.MODEL, *new.split("/"), _alice(hub)).id
    if new_id != old_id:
        pytest.skip("the database did not reuse the id")
    data = os.urandom(1_000_000)
    (tmp_path / "r.bin").write_bytes(data)
    hf_client(hub, tmp_path / "c", hub.alice, True, "upload", new, str(tmp_path / "r.bin"), "r.bin")
    file_hash = tree(hub, new, hub.alice)["r.bin"]["xetHash"]
    bearer = {"authorization": f"Bearer {tok['accessToken']}"}
    assert httpx.get(f"{tok['casUrl']}/v1/reconstructions/{file_hash}", headers=bearer).status_code == 404


def _alice(hub: Any) -> Any:
    return hub.services.accounts.authenticate(hub.alice)


def _footer(shard: bytes) -> tuple[bytes, int, int]:
    """(chunk_hash_hmac_key, creation, expiry) from a shard's 200-byte footer (xet-core shard.md §4)."""
    footer = shard[-200:]
    key = footer[72:104]
    created, expiry = struct.unpack_from("<QQ", footer, 104)
    return key, created, expiry


def test_global_dedupe_answers_are_keyed(live_server: Any, thief: str, private_xet: Any) -> None:
    hub = live_server
    xet = hub.services.xet
    rec = xet.index.get_file(private_xet["xet"])
    assert rec is not None
    raw: list[bytes] = []
    for t in rec.terms:
        raw.extend(xet.xorb_record(t.xorb_hash).meta.chunk_hashes)
    first = rec.terms[0]
    first_chunk = xet.xorb_record(first.xorb_hash).meta.chunk_hashes[first.chunk_start]

    tok = xet_token(hub, thief, "read", hub.bob).json()
    bearer = {"authorization": f"Bearer {tok['accessToken']}"}
    url = f"{tok['casUrl']}/v1/chunks/default-merkledb/{hash_to_hex(first_chunk)}"
    r1, r2 = httpx.get(url, headers=bearer), httpx.get(url, headers=bearer)
    assert r1.status_code == 200 and r2.status_code == 200
    for body in (r1.content, r2.content):
        assert not any(h in body for h in raw), "a raw chunk hash is in the dedupe answer"
        shard = parse_shard(body)
        assert shard.files == []  # no file info: no file hashes, no sha256
        key, created, expiry = _footer(body)
        assert key != bytes(32)
        now = time.time()
        assert created <= now + 5 and now < expiry <= now + 7 * 24 * 3600 + 5
        keyed = [c.hash for x in shard.xorbs for c in x.chunks]
        # the client matches by blake3.keyed_hash(key, its own raw chunk hash) (DataHash::hmac)
        assert blake3.blake3(first_chunk, key=key).digest() in keyed
    assert _footer(r1.content)[0] != _footer(r2.content)[0]  # a fresh key per answer: not correlatable
    # a chunk that is neither a file's first chunk nor dedupe-eligible is not answered
    meta = xet.xorb_record(first.xorb_hash).meta
    from modelyard.xet.hashes import is_global_dedup_eligible

    middle = [h for h in meta.chunk_hashes[1:] if not is_global_dedup_eligible(h)]
    if middle:
        r = httpx.get(f"{tok['casUrl']}/v1/chunks/default-merkledb/{hash_to_hex(middle[0])}", headers=bearer)
        assert r.status_code == 404
    assert hex_to_hash(hash_to_hex(first_chunk)) == first_chunk


def test_referencing_a_foreign_xorb_needs_the_raw_chunk_hashes(
    live_server: Any, thief: str, private_xet: Any
) -> None:
    """What a dedupe answer tells (xorb hash, chunk count and sizes) is not enough to claim a file: every term
    of an uploaded shard carries a range hash over the raw chunk hashes, which the server checks."""
    hub = live_server
    xet = hub.services.xet
    rec = xet.index.get_file(private_xet["xet"])
    assert rec is not None
    first = rec.terms[0]
    meta = xet.xorb_record(first.xorb_hash).meta
    read = xet_token(hub, thief, "read", hub.bob).json()
    answer = httpx.get(
        f"{read['casUrl']}/v1/chunks/default-merkledb/{hash_to_hex(meta.chunk_hashes[first.chunk_start])}",
        headers={"authorization": f"Bearer {read['accessToken']}"},
    )
    block = next(x for x in parse_shard(answer.content).xorbs if x.xorb_hash == first.xorb_hash)
    n = len(block.chunks)
    guess = ShardFile(
        os.urandom(32),
        [FileTerm(block.xorb_hash, block.num_bytes_in_xorb, 0, n)],
        verification=[os.urandom(32)],
    )
    write = xet_token(hub, thief, "write", hub.bob).json()
    r = httpx.post(
        f"{write['casUrl']}/v1/shards",
        content=build_upload_shard([guess], []),
        headers={"authorization": f"Bearer {write['accessToken']}"},
    )
    assert r.status_code == 400 and r.headers["x-error-code"] == "XetBadObject"
    assert "verification" in r.headers["x-error-message"]
    r = httpx.get(
        f"{read['casUrl']}/v1/reconstructions/{private_xet['xet']}",
        headers={"authorization": f"Bearer {read['accessToken']}"},
    )
    assert r.status_code == 404


def test_signed_xorb_urls_cover_only_the_planned_bytes(
    live_server: Any, private_xet: Any, tmp_path: Path, repo_name: str
) -> None:
    """A public file that shares chunks with a private one is reconstructed from the private file's xorb; the
    signed URL handed out for it must not open the rest of that xorb (the private bytes)."""
    hub = live_server
    pub = f"alice/{repo_name}"
    hub.api().create_repo(pub)
    shared = private_xet["data"][:1_500_000] + os.urandom(500_000)
    (tmp_path / "p.bin").write_bytes(shared)
    hf_client(hub, tmp_path / "c1", hub.alice, True, "upload", pub, str(tmp_path / "p.bin"), "p.bin")
    xet = hub.services.xet
    private_rec = xet.index.get_file(private_xet["xet"])
    assert private_rec is not None
    private_xorbs = {hash_to_hex(t.xorb_hash) for t in private_rec.terms}

    tok = xet_token(hub, pub, "read", hub.bob).json()
    p_hash = tree(hub, pub, hub.bob)["p.bin"]["xetHash"]
    recon = httpx.get(
        f"{tok['casUrl']}/v1/reconstructions/{p_hash}",
        headers={"authorization": f"Bearer {tok['accessToken']}"},
    ).json()
    shared_xorbs = private_xorbs & set(recon["fetch_info"])
    assert shared_xorbs, "the public file was expected to dedupe against the private file's xorb"
    x = shared_xorbs.pop()
    stored = xet.xorb_record(hex_to_hash(x)).stored_size
    for fi in recon["fetch_info"][x]:
        a, b = fi["url_range"]["start"], fi["url_range"]["end"]
        assert b + 1 < stored  # the private file's chunks lie beyond the public file's range
        ok = httpx.get(fi["url"], headers={"range": f"bytes={a}-{b}"})
        assert ok.status_code == 206 and len(ok.content) == b - a + 1
        wider = httpx.get(fi["url"], headers={"range": f"bytes={a}-{stored - 1}"})
        assert wider.status_code in (403, 416) and len(wider.content) < stored - a
        whole = httpx.get(fi["url"])
        assert len(whole.content) <= b - a + 1
        beyond = httpx.get(fi["url"], headers={"range": f"bytes={b + 1}-{stored - 1}"})
        assert beyond.status_code in (403, 416)


def test_same_bytes_uploaded_by_bob_with_xet_work(
    live_server: Any, private_xet: Any, tmp_path: Path, repo_name: str
) -> None:
    """Proof of possession: bob has the bytes, so his upload (deduped against alice's xorbs) is his."""
    hub = live_server
    repo = f"bob/{repo_name}"
    hub.api(hub.bob).create_repo(repo, private=True)
    (tmp_path / "same.bin").write_bytes(private_xet["data"])
    res = hf_client(
        hub, tmp_path / "c1", hub.bob, True, "upload", repo, str(tmp_path / "same.bin"), "same.bin"
    )
    assert res["xet_disabled"] is False
    entry = tree(hub, repo, hub.bob)["same.bin"]
    assert entry["xetHash"] == private_xet["xet"]
    got = hf_client(hub, tmp_path / "c2", hub.bob, True, "download", repo, "same.bin")
    assert got["sha256"] == private_xet["sha256"]
    # and his read token reconstructs it (it is held by his repo now)
    tok = xet_token(hub, repo, "read", hub.bob).json()
    r = httpx.get(
        f"{tok['casUrl']}/v1/reconstructions/{entry['xetHash']}",
        headers={"authorization": f"Bearer {tok['accessToken']}"},
    )
    assert r.status_code == 200


def test_xet_upload_and_download_with_default_client(
    live_server: Any, tmp_path: Path, repo_name: str
) -> None:
    hub = live_server
    repo = f"alice/{repo_name}"
    hub.api().create_repo(repo, private=True)
    data = os.urandom(2_500_000)
    (tmp_path / "m.bin").write_bytes(data)
    hf_client(hub, tmp_path / "c1", hub.alice, True, "upload", repo, str(tmp_path / "m.bin"), "m.bin")
    got = hf_client(hub, tmp_path / "c2", hub.alice, True, "download", repo, "m.bin")
    assert got["sha256"] == hashlib.sha256(data).hexdigest()
    got = hf_client(hub, tmp_path / "c3", hub.alice, False, "download", repo, "m.bin")
    assert got["sha256"] == hashlib.sha256(data).hexdigest()


# --- finding 4: LFS batch permissions ---------------------------------------------------------------
def test_lfs_batch_upload_needs_push_rights(live_server: Any, repo_name: str) -> None:
    hub = live_server
    pub = f"alice/{repo_name}"
    hub.api().create_repo(pub)
    oid, size = hashlib.sha256(b"x").hexdigest(), 1
    assert lfs_batch(hub, pub, upload_body(oid, size, "refs/heads/main"), hub.bob).status_code == 403
    assert lfs_batch(hub, pub, upload_body(oid, size, "refs/pr/999"), hub.bob).status_code == 403
    assert lfs_batch(hub, pub, upload_body(oid, size, None), hub.alice_read).status_code == 403
    assert lfs_batch(hub, pub, upload_body(oid, size, "refs/heads/main"), hub.alice_read).status_code == 403
    r = lfs_batch(hub, pub, upload_body(oid, size, None), None)
    assert r.status_code == 401 and r.headers.get("x-error-code")
    # the owner gets upload actions; so does a user opening a PR (no "ref": how huggingface_hub sends create_pr)
    r = lfs_batch(hub, pub, upload_body(oid, size, "refs/heads/main"), hub.alice)
    assert r.status_code == 200 and "upload" in r.json()["objects"][0]["actions"]
    r = lfs_batch(hub, pub, upload_body(oid, size, None), hub.bob)
    assert r.status_code == 200 and "upload" in r.json()["objects"][0]["actions"]


def test_lfs_batch_download_and_verify_of_private_repo(live_server: Any, repo_name: str) -> None:
    hub = live_server
    priv = f"alice/{repo_name}"
    hub.api().create_repo(priv, private=True)
    data = os.urandom(50_000) + b"\0"
    hub.api().upload_file(path_or_fileobj=data, path_in_repo="d.bin", repo_id=priv)
    oid = hashlib.sha256(data).hexdigest()
    body = {"operation": "download", "objects": [{"oid": oid, "size": len(data)}]}
    for token in (hub.bob, None):
        r = lfs_batch(hub, priv, body, token)
        assert r.status_code in (401, 404) and r.headers.get("x-error-code") in (
            "RepoNotFound",
            "Unauthorized",
        )
    r = lfs_batch(hub, priv, body, hub.alice)
    assert r.status_code == 200 and "download" in r.json()["objects"][0]["actions"]
    verify = f"{hub.url}/lfs-verify/model/{priv}"
    r = httpx.post(verify, json={"oid": oid, "size": len(data)}, headers=hub.auth(hub.alice_read))
    assert r.status_code == 403
    r = httpx.post(verify, json={"oid": oid, "size": len(data)})
    assert r.status_code in (401, 404)
    r = httpx.post(verify, json={"oid": oid, "size": len(data)}, headers=hub.auth(hub.alice))
    assert r.status_code == 200


# --- one push rule ----------------------------------------------------------------------------------
def test_push_rule_for_pr_refs_and_xet_tokens(live_server: Any, repo_name: str) -> None:
    hub = live_server
    pub = f"alice/{repo_name}"
    api = hub.api()
    api.create_repo(pub)
    api.upload_file(path_or_fileobj=b"base", path_in_repo="a.txt", repo_id=pub)
    alice_pr = api.upload_file(
        path_or_fileobj=b"alice's pr", path_in_repo="p.txt", repo_id=pub, create_pr=True
    )
    bob_api = hub.api(hub.bob)
    bob_pr = bob_api.upload_file(
        path_or_fileobj=b"bob's pr", path_in_repo="q.txt", repo_id=pub, create_pr=True
    )
    assert bob_pr.pr_num is not None and alice_pr.pr_num is not None
    file_line = {"key": "file", "value": {"path": "z.txt", "content": "eg==", "encoding": "base64"}}
    # bob may push to his own PR, not to alice's PR nor to main
    assert ndjson_commit(hub, hub.bob, pub, file_line, rev=f"refs%2Fpr%2F{bob_pr.pr_num}").status_code == 200
    r = ndjson_commit(hub, hub.bob, pub, file_line, rev=f"refs%2Fpr%2F{alice_pr.pr_num}")
    assert r.status_code == 403, r.text
    assert ndjson_commit(hub, hub.bob, pub, file_line).status_code == 403
    # a read token pushes nothing, not even a PR
    r = ndjson_commit(hub, hub.alice_read, pub, file_line)
    assert r.status_code == 403
    r = httpx.post(
        f"{hub.url}/api/models/{pub}/preupload/main?create_pr=1",
        json={"files": [{"path": "x.bin", "size": 1, "sample": ""}]},
        headers=hub.auth(hub.alice_read),
    )
    assert r.status_code == 403
    # Xet write tokens follow the same rule
    assert xet_token(hub, pub, "write", hub.bob).status_code == 403
    assert xet_token(hub, pub, "write", hub.alice_read).status_code == 403
    assert xet_token(hub, pub, "write", None).status_code == 401
    assert xet_token(hub, pub, "write", hub.bob, rev=f"refs%2Fpr%2F{alice_pr.pr_num}").status_code == 403
    assert xet_token(hub, pub, "write", hub.bob, rev=f"refs%2Fpr%2F{bob_pr.pr_num}").status_code == 200
    r = httpx.get(f"{hub.url}/api/models/{pub}/xet-write-token/main?create_pr=1", headers=hub.auth(hub.bob))
    assert r.status_code == 200
    assert xet_token(hub, pub, "write", hub.alice).status_code == 200
