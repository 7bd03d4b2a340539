"""Multipart LFS upload through the real client (a dedicated hub with small part sizes), and the CLI."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from huggingface_hub import HfApi, hf_hub_download

from _serve import modelyard_serve

MB = 1024 * 1024


@pytest.fixture(scope="module")
def multipart_hub(hub_factory):
    return hub_factory(multipart_threshold=5 * MB, multipart_chunk_size=2 * MB)


@pytest.mark.parametrize("transfer", ["lfs"], indirect=True)  # multipart is the LFS path; Xet has no parts
def test_multipart_lfs_upload_through_client(multipart_hub, tmp_path, transfer):
    hub = multipart_hub
    api = HfApi(endpoint=hub.url, token=hub.alice)
    rid = "alice/multipart"
    api.create_repo(rid, exist_ok=True)
    size = 7 * MB + 12345  # 4 parts of 2 MiB (last one short)
    data = os.urandom(size)
    sha = hashlib.sha256(data).hexdigest()

    # the batch answer asks for parts: chunk_size + one URL per part
    r = httpx.post(
        f"{hub.url}/{rid}.git/info/lfs/objects/batch",
        json={
            "operation": "upload",
            "transfers": ["basic", "multipart"],
            "objects": [{"oid": sha, "size": size}],
            "hash_algo": "sha256",
            "ref": {"name": "main"},
        },
        headers=hub.auth(),
    )
    header = r.json()["objects"][0]["actions"]["upload"]["header"]
    assert header["chunk_size"] == str(2 * MB)
    assert sorted(k for k in header if k != "chunk_size") == ["1", "2", "3", "4"]

    (tmp_path / "big.bin").write_bytes(data)
    api.upload_file(path_or_fileobj=tmp_path / "big.bin", path_in_repo="big.bin", repo_id=rid)
    assert hub.services.store.exists(sha)
    assert not list(Path(hub.services.store.tmp_dir).glob("mp-*")), "multipart scratch files left behind"
    entry = next(iter(api.get_paths_info(rid, ["big.bin"])))
    assert entry.lfs.sha256 == sha and entry.size == size
    got = hf_hub_download(rid, "big.bin", cache_dir=tmp_path / "cache", endpoint=hub.url, token=hub.alice)
    assert hashlib.sha256(Path(got).read_bytes()).hexdigest() == sha

    # below the threshold: a basic upload (no parts)
    small = os.urandom(MB)
    api.upload_file(path_or_fileobj=small, path_in_repo="small.bin", repo_id=rid)
    got = hf_hub_download(rid, "small.bin", cache_dir=tmp_path / "cache", endpoint=hub.url, token=hub.alice)
    assert Path(got).read_bytes() == small


def test_multipart_bad_parts_rejected(multipart_hub):
    hub = multipart_hub
    api = HfApi(endpoint=hub.url, token=hub.alice)
    rid = "alice/multipart-bad"
    api.create_repo(rid, exist_ok=True)
    size = 5 * MB
    data = os.urandom(size)
    sha = hashlib.sha256(data).hexdigest()
    r = httpx.post(
        f"{hub.url}/{rid}.git/info/lfs/objects/batch",
        json={"operation": "upload", "objects": [{"oid": sha, "size": size}], "ref": {"name": "main"}},
        headers=hub.auth(),
    )
    action = r.json()["objects"][0]["actions"]["upload"]
    parts = {int(k): v for k, v in action["header"].items() if k != "chunk_size"}
    assert len(parts) == 3
    etags = []
    for n, url in sorted(parts.items()):
        chunk = data[(n - 1) * 2 * MB : n * 2 * MB]
        if n == 2:
            chunk = bytes(len(chunk))  # corrupt part 2 (right size, wrong bytes)
        resp = httpx.put(url, content=chunk, timeout=60)
        assert resp.status_code == 200
        etags.append({"partNumber": n, "etag": resp.headers["etag"]})
    # a part larger than its slot is refused
    resp = httpx.put(parts[3], content=os.urandom(2 * MB), timeout=60)
    assert resp.status_code == 400
    # wrong number of parts
    resp = httpx.post(action["href"], json={"oid": sha, "parts": etags[:2]})
    assert 400 <= resp.status_code < 500
    # completion checks the sha256 of the assembled object
    resp = httpx.post(action["href"], json={"oid": sha, "parts": etags})
    assert resp.status_code == 400 and resp.headers["x-error-code"] == "BadChecksum"
    assert not hub.services.store.exists(sha)


# --- CLI ---------------------------------------------------------------------------------------------------------
def cli(data_dir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MODELYARD_DATA_DIR": str(data_dir)}
    proc = subprocess.run(
        [sys.executable, "-m", "modelyard", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if check:
        assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
    return proc


def test_cli_users_tokens_db(tmp_path):
    d = tmp_path / "data"
    out = cli(d, "db", "upgrade")
    assert "up to date" in out.stdout
    assert "current" in cli(d, "db", "check").stdout
    assert "Created user carol" in cli(d, "users", "create", "carol", "--fullname", "Carol C.").stdout
    assert "Created org team" in cli(d, "users", "create", "team", "--org", "--member", "carol").stdout
    dup = cli(d, "users", "create", "carol", check=False)
    assert dup.returncode != 0 and "already exists" in dup.stderr
    bad = cli(d, "users", "create", "bad--name", check=False)
    assert bad.returncode != 0 and "Invalid" in bad.stderr
    assert "carol" in cli(d, "users", "list").stdout
    tok = cli(d, "tokens", "create", "carol").stdout.strip()
    assert tok.startswith("hf_")
    ro = json.loads(
        cli(d, "tokens", "create", "carol", "--name", "ro", "--role", "read", "--format", "json").stdout
    )
    assert ro["role"] == "read" and ro["token"] != tok
    missing = cli(d, "tokens", "create", "nobody", check=False)
    assert missing.returncode != 0


def test_cli_serve_and_tokens_work(tmp_path):
    """`modelyard serve` in a subprocess; users and tokens made with the CLI authenticate."""
    d = tmp_path / "data"
    cli(d, "users", "create", "dave")
    tok = cli(d, "tokens", "create", "dave").stdout.strip()
    read_tok = cli(d, "tokens", "create", "dave", "--name", "ro", "--role", "read").stdout.strip()
    env = {**os.environ, "MODELYARD_DATA_DIR": str(d), "MODELYARD_LOG_LEVEL": "warning"}
    with modelyard_serve(["--migrate"], env, output=subprocess.PIPE) as (url, _):
        api = HfApi(endpoint=url, token=tok)
        assert api.whoami()["name"] == "dave"
        api.create_repo("cli-made")
        api.upload_file(path_or_fileobj=b"via cli server", path_in_repo="x.txt", repo_id="dave/cli-made")
        assert HfApi(endpoint=url, token=read_tok).whoami()["auth"]["accessToken"]["role"] == "read"
        r = httpx.get(f"{url}/dave/cli-made/resolve/main/x.txt")
        assert r.content == b"via cli server"
    assert "current" in cli(d, "db", "check").stdout
