"""Issue 10, buckets, attacker side: private buckets stay private (another user, a read token, no token), a bucket's
files are readable only with a Xet token of that bucket, and knowing a file's Xet hash gives nothing.

A real hub; the official client (HfApi bucket calls, hf_xet for uploads) where it has the call, httpx for the raw
routes and the Xet CAS.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from huggingface_hub.errors import BucketNotFoundError, HfHubHTTPError

from _xet_client import xet_upload


def xet_upload_to_repo(hub: Any, tmp: Path, repo: str, data: bytes) -> str:
    """Upload `data` as w.bin to `repo` with the default client (Xet on, in a fresh process); its Xet hash."""
    xet_upload(hub, tmp, repo, data)
    r = httpx.get(f"{hub.url}/api/models/{repo}/tree/main", headers=hub.auth())
    entry = {e["path"]: e for e in r.json()}["w.bin"]
    assert len(entry["xetHash"]) == 64
    return str(entry["xetHash"])


def bucket_token(hub: Any, bid: str, kind: str, token: str | None) -> httpx.Response:
    return httpx.get(
        f"{hub.url}/api/buckets/{bid}/xet-{kind}-token", headers=hub.auth(token) if token else {}
    )


def reconstruct(tok: httpx.Response, xet_hash: str) -> int:
    body = tok.json()
    r = httpx.get(
        f"{body['casUrl']}/v1/reconstructions/{xet_hash}",
        headers={"authorization": f"Bearer {body['accessToken']}"},
    )
    return r.status_code


def batch(hub: Any, bid: str, ops: list[dict[str, Any]], token: str | None) -> httpx.Response:
    headers = {"Content-Type": "application/x-ndjson", **(hub.auth(token) if token else {})}
    return httpx.post(
        f"{hub.url}/api/buckets/{bid}/batch", content="\n".join(json.dumps(o) for o in ops), headers=headers
    )


@pytest.fixture(scope="module")
def secret(live_server: Any) -> dict[str, Any]:
    """alice's private bucket holding secret.bin (uploaded through Xet by HfApi)."""
    api = live_server.api()
    bid = api.create_bucket(f"alice/secret-{os.urandom(3).hex()}", private=True).bucket_id
    data = os.urandom(300_000)
    api.batch_bucket_files(bid, add=[(data, "dir/secret.bin")])
    f = next(iter(api.get_bucket_paths_info(bid, ["dir/secret.bin"])))
    return {"bid": bid, "xet": f.xet_hash, "data": data}


@pytest.fixture(scope="module")
def bobs(live_server: Any) -> str:
    return str(live_server.api(live_server.bob).create_bucket(f"bob/own-{os.urandom(3).hex()}").bucket_id)


def test_private_bucket_is_invisible_to_others(live_server: Any, secret: Any) -> None:
    hub, bid = live_server, secret["bid"]
    for token in (hub.bob, None):
        api = hub.api(token if token else False)
        with pytest.raises(BucketNotFoundError):
            api.bucket_info(bid)
        with pytest.raises(BucketNotFoundError):
            list(api.list_bucket_tree(bid, recursive=True))
        with pytest.raises(BucketNotFoundError):
            list(api.get_bucket_paths_info(bid, ["dir/secret.bin"]))
        assert bid not in [b.id for b in api.list_buckets(namespace="alice")]
        auth = hub.auth(token) if token else {}
        for method, url in (
            ("HEAD", f"{hub.url}/buckets/{bid}/resolve/dir/secret.bin"),
            ("GET", f"{hub.url}/buckets/{bid}/resolve/dir/secret.bin"),
            ("GET", f"{hub.url}/api/buckets/{bid}/xet-read-token"),
            ("GET", f"{hub.url}/api/buckets/{bid}/xet-write-token"),
            ("PUT", f"{hub.url}/api/buckets/{bid}/settings"),
            ("DELETE", f"{hub.url}/api/buckets/{bid}"),
        ):
            r = httpx.request(method, url, headers=auth, json={"private": False} if method == "PUT" else None)
            assert r.status_code == 404, (method, url, token, r.status_code)
            assert "x-xet-hash" not in r.headers and "secret" not in r.text
            assert r.headers["x-error-code"] == "RepoNotFound"
        assert batch(hub, bid, [{"type": "deleteFile", "path": "dir/secret.bin"}], token).status_code == 404
        r = httpx.post(
            f"{hub.url}/api/repos/move",
            json={"fromRepo": bid, "toRepo": "bob/stolen", "type": "bucket"},
            headers=auth,
        )
        assert r.status_code == 404
    assert hub.api().bucket_info(bid).total_files == 1  # nothing was changed


def test_read_token_reads_but_never_writes(live_server: Any, secret: Any) -> None:
    hub, bid = live_server, secret["bid"]
    api = hub.api(hub.alice_read)
    assert api.bucket_info(bid).private is True  # a member's read token reads
    assert bucket_token(hub, bid, "read", hub.alice_read).status_code == 200
    assert bucket_token(hub, bid, "write", hub.alice_read).status_code == 403
    assert (
        batch(hub, bid, [{"type": "deleteFile", "path": "dir/secret.bin"}], hub.alice_read).status_code == 403
    )
    with pytest.raises(HfHubHTTPError) as e:
        api.update_bucket_settings(bid, private=False)
    assert e.value.response.status_code == 403
    with pytest.raises(HfHubHTTPError) as e:
        api.delete_bucket(bid)
    assert e.value.response.status_code == 403
    with pytest.raises(HfHubHTTPError) as e:
        api.create_bucket(f"alice/by-read-token-{os.urandom(2).hex()}")
    assert e.value.response.status_code == 403
    assert hub.api().bucket_info(bid).private is True


def test_public_bucket_is_read_only_to_others(live_server: Any, tmp_path: Path) -> None:
    hub = live_server
    bid = hub.api().create_bucket(f"alice/open-{os.urandom(3).hex()}").bucket_id
    hub.api().batch_bucket_files(bid, add=[(b"public bytes", "p.txt")])
    bob = hub.api(hub.bob)
    assert bob.bucket_info(bid).total_files == 1
    bob.download_bucket_files(bid, [("p.txt", tmp_path / "p.txt")])  # reading is fine, through Xet
    assert (tmp_path / "p.txt").read_bytes() == b"public bytes"
    assert bucket_token(hub, bid, "write", hub.bob).status_code == 403
    assert batch(hub, bid, [{"type": "deleteFile", "path": "p.txt"}], hub.bob).status_code == 403
    assert batch(hub, bid, [{"type": "deleteFile", "path": "p.txt"}], None).status_code == 401
    with pytest.raises(ConnectionError, match="403"):  # hf_xet cannot even get a write token
        bob.batch_bucket_files(bid, add=[(b"graffiti", "g.txt")])
    for call in (lambda: bob.update_bucket_settings(bid, private=True), lambda: bob.delete_bucket(bid)):
        with pytest.raises(HfHubHTTPError) as e:
            call()
        assert e.value.response.status_code == 403
    with pytest.raises(HfHubHTTPError) as e:
        bob.move_bucket(bid, "bob/taken")
    assert e.value.response.status_code == 403
    with pytest.raises(HfHubHTTPError) as e:
        bob.create_bucket(f"acme/not-a-member-{os.urandom(2).hex()}")  # bob is not in acme
    assert e.value.response.status_code == 403
    assert [x.path for x in hub.api().list_bucket_tree(bid, recursive=True)] == ["p.txt"]


def test_bucket_xet_token_reads_only_its_bucket(live_server: Any, secret: Any, bobs: str) -> None:
    hub = live_server
    assert reconstruct(bucket_token(hub, secret["bid"], "read", hub.alice), secret["xet"]) == 200  # control
    assert reconstruct(bucket_token(hub, bobs, "read", hub.bob), secret["xet"]) == 404
    assert reconstruct(bucket_token(hub, bobs, "write", hub.bob), secret["xet"]) == 404
    # a repo's token does not open a bucket's file either
    repo = f"bob/tok-{os.urandom(3).hex()}"
    hub.api(hub.bob).create_repo(repo)
    tok = httpx.get(f"{hub.url}/api/models/{repo}/xet-read-token/main", headers=hub.auth(hub.bob))
    assert reconstruct(tok, secret["xet"]) == 404


def test_knowing_a_xet_hash_gives_nothing(live_server: Any, secret: Any, bobs: str, tmp_path: Path) -> None:
    """bob learns the Xet hash of alice's private file: naming it in his bucket (add or copy) fails."""
    hub = live_server
    h = secret["xet"]
    repo = f"alice/priv-{os.urandom(3).hex()}"
    hub.api().create_repo(repo, private=True)
    repo_hash = xet_upload_to_repo(hub, tmp_path, repo, os.urandom(200_000))
    attempts = [
        {"type": "addFile", "path": "a.bin", "xetHash": h, "mtime": 0},
        {
            "type": "copyFile",
            "path": "b.bin",
            "xetHash": h,
            "sourceRepoType": "bucket",
            "sourceRepoId": secret["bid"],
        },
        {"type": "copyFile", "path": "c.bin", "xetHash": h, "sourceRepoType": "bucket", "sourceRepoId": bobs},
        {"type": "addFile", "path": "d.bin", "xetHash": repo_hash},
        {
            "type": "copyFile",
            "path": "e.bin",
            "xetHash": repo_hash,
            "sourceRepoType": "model",
            "sourceRepoId": repo,
        },
        {"type": "addFile", "path": "f.bin", "xetHash": "ab" * 32},
        {
            "type": "copyFile",
            "path": "g.bin",
            "xetHash": h,
            "sourceRepoType": "bucket",
            "sourceRepoId": "alice/nx",
        },
    ]
    r = batch(hub, bobs, attempts, hub.bob)
    assert r.status_code == 422, r.text
    assert sorted(f["path"] for f in r.json()["failed"]) == [
        "a.bin",
        "b.bin",
        "c.bin",
        "d.bin",
        "e.bin",
        "f.bin",
        "g.bin",
    ]
    errors = {f["path"]: f["error"] for f in r.json()["failed"]}
    assert errors["b.bin"] == errors["g.bin"].replace("alice/nx", secret["bid"])  # private reads as missing
    assert list(hub.api(hub.bob).list_bucket_tree(bobs, recursive=True)) == []
    tok = bucket_token(hub, bobs, "read", hub.bob)
    assert reconstruct(tok, h) == 404 and reconstruct(tok, repo_hash) == 404
    # control: alice may copy from her own private bucket and repo into another bucket of hers
    mine = hub.api().create_bucket(f"alice/copy-{os.urandom(3).hex()}").bucket_id
    ok = [
        {
            "type": "copyFile",
            "path": "b.bin",
            "xetHash": h,
            "sourceRepoType": "bucket",
            "sourceRepoId": secret["bid"],
        },
        {
            "type": "copyFile",
            "path": "e.bin",
            "xetHash": repo_hash,
            "sourceRepoType": "model",
            "sourceRepoId": repo,
        },
    ]
    r = batch(hub, mine, ok, hub.alice)
    assert r.status_code == 200 and r.json() == {"failed": []}, r.text
    assert reconstruct(bucket_token(hub, mine, "read", hub.alice), h) == 200


def test_bucket_ids_are_not_repo_ids(hub_factory: Any, tmp_path: Path) -> None:
    """On a fresh hub alice's private repo and bob's bucket both get id 1: bob's bucket token still reads nothing
    of the repo (a bucket token is looked up in the bucket id space only)."""
    hub = hub_factory()
    repo = "alice/first"
    hub.api().create_repo(repo, private=True)
    repo_hash = xet_upload_to_repo(hub, tmp_path, repo, os.urandom(150_000))
    bid = hub.api(hub.bob).create_bucket("bob/first").bucket_id
    from modelyard.types import RepoType

    repo_id = hub.services.repos.get(
        RepoType.MODEL, "alice", "first", hub.services.accounts.authenticate(hub.alice)
    ).id
    assert hub.services.buckets.get(None, "bob", "first").id == repo_id
    assert reconstruct(bucket_token(hub, bid, "read", hub.bob), repo_hash) == 404
    own = httpx.get(f"{hub.url}/api/models/{repo}/xet-read-token/main", headers=hub.auth())
    assert reconstruct(own, repo_hash) == 200  # control
