"""Issue 10: buckets (the Hub's non-versioned storage) through the official client: every `HfApi` bucket call,
and the `hf buckets …` / `hf cp` CLI in a subprocess with Xet on (bucket files only travel through Xet)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from huggingface_hub import BucketFile, BucketFolder
from huggingface_hub.errors import BucketNotFoundError, HfHubHTTPError

HF = str(Path(sys.executable).with_name("hf"))


def hf(hub: Any, home: Path, *args: str, token: str | None = None, ok: bool = True) -> str:
    """The `hf` CLI as a user would run it: HF_ENDPOINT and HF_TOKEN set, Xet on."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"HF_HUB_DISABLE_XET", "HF_HUB_DISABLE_IMPLICIT_TOKEN", "HF_HOME", "HF_HUB_CACHE"}
    }
    env.update(
        {
            "HF_ENDPOINT": hub.url,
            "HF_TOKEN": token or hub.alice,
            "HF_HOME": str(home / "hf-home"),
            "HF_XET_CACHE": str(home / "xet-cache"),
            "NO_COLOR": "1",
        }
    )
    out = subprocess.run([HF, *args], env=env, capture_output=True, text=True, timeout=300, cwd=home)
    if ok:
        assert out.returncode == 0, (args, out.stdout[-2000:], out.stderr[-3000:])
    return out.stdout + out.stderr


def digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_bucket_api_lifecycle(live_server: Any, repo_name: str, tmp_path: Path) -> None:
    api = live_server.api()
    url = api.create_bucket(repo_name)  # no namespace: the "me" route
    assert url.bucket_id == f"alice/{repo_name}"
    assert url.url == f"{live_server.url}/buckets/alice/{repo_name}"
    bid = url.bucket_id
    with pytest.raises(HfHubHTTPError) as e:
        api.create_bucket(bid)
    assert e.value.response.status_code == 409
    api.create_bucket(bid, exist_ok=True)

    info = api.bucket_info(bid)
    assert (info.id, info.private, info.size, info.total_files) == (bid, False, 0, 0)
    assert bid in [b.id for b in api.list_buckets()]
    assert bid in [b.id for b in api.list_buckets(namespace="alice", search=repo_name[:10])]
    assert bid not in [b.id for b in api.list_buckets(search="no-such-bucket-name")]

    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(700_000))
    api.batch_bucket_files(
        bid,
        add=[
            (b"hello bucket", "a.txt"),
            (str(big), "data/big.bin"),
            (b"deep", "data/sub/c.txt"),
            (b"{}", "data.json"),
            (b"", "empty.txt"),
        ],
    )
    info = api.bucket_info(bid)
    assert (info.total_files, info.size) == (5, 12 + 700_000 + 4 + 2)

    # tree: one level (folders folded), recursive (paginated at 4 per page by the session hub), lexical prefix
    top = list(api.list_bucket_tree(bid))
    assert [(type(x).__name__, x.path) for x in top] == [
        ("BucketFile", "a.txt"),
        ("BucketFile", "data.json"),
        ("BucketFolder", "data"),  # a folder sorts as its path + "/", as in git
        ("BucketFile", "empty.txt"),
    ]
    everything = list(api.list_bucket_tree(bid, recursive=True))
    assert [x.path for x in everything] == [
        "a.txt",
        "data.json",
        "data/big.bin",
        "data/sub/c.txt",
        "empty.txt",
    ]
    assert all(isinstance(x, BucketFile) and len(x.xet_hash) == 64 for x in everything)
    under = list(api.list_bucket_tree(bid, prefix="data"))
    assert [x.path for x in under] == ["data.json", "data/big.bin", "data/sub"]
    assert isinstance(under[-1], BucketFolder)
    assert [x.path for x in api.list_bucket_tree(bid, prefix="data/sub", recursive=True)] == [
        "data/sub/c.txt"
    ]

    infos = {
        x.path: x for x in api.get_bucket_paths_info(bid, ["a.txt", "missing.txt", "data", "data/big.bin"])
    }
    assert set(infos) == {"a.txt", "data/big.bin"}
    assert infos["data/big.bin"].size == 700_000

    out = tmp_path / "out"
    api.download_bucket_files(
        bid, [("a.txt", out / "a.txt"), ("data/big.bin", out / "big.bin"), ("empty.txt", out / "e.txt")]
    )
    assert (out / "a.txt").read_bytes() == b"hello bucket"
    assert digest(out / "big.bin") == digest(big)
    assert (out / "e.txt").read_bytes() == b""
    meta = api.get_bucket_file_metadata(bid, "data/big.bin")
    assert meta.size == 700_000 and meta.xet_file_data.file_hash == infos["data/big.bin"].xet_hash

    # plain HTTP (HfFileSystem reads this way): whole file and a Range
    base = f"{live_server.url}/buckets/{bid}/resolve"
    r = httpx.get(f"{base}/a.txt", headers=live_server.auth())
    assert r.status_code == 200 and r.content == b"hello bucket"
    assert r.headers["x-content-type-options"] == "nosniff"
    r = httpx.get(f"{base}/data/big.bin", headers={**live_server.auth(), "Range": "bytes=100-199"})
    assert r.status_code == 206 and r.content == big.read_bytes()[100:200]

    # server-side copy inside the bucket, delete, settings, move, delete
    api.copy_files(f"hf://buckets/{bid}/data/", f"hf://buckets/{bid}/backup/")
    paths = [x.path for x in api.list_bucket_tree(bid, prefix="backup", recursive=True)]
    assert paths == ["backup/big.bin", "backup/sub/c.txt"]
    api.batch_bucket_files(bid, delete=["data.json", "a.txt"])
    assert "a.txt" not in [x.path for x in api.list_bucket_tree(bid, recursive=True)]

    api.update_bucket_settings(bid, private=True)
    assert api.bucket_info(bid).private is True
    moved = f"acme/{repo_name}"
    api.move_bucket(bid, moved)
    with pytest.raises(BucketNotFoundError):
        api.bucket_info(bid)
    assert api.bucket_info(moved).total_files == 5
    api.download_bucket_files(moved, [("backup/big.bin", out / "again.bin")])
    assert digest(out / "again.bin") == digest(big)
    api.delete_bucket(moved)
    with pytest.raises(BucketNotFoundError):
        api.bucket_info(moved)
    api.delete_bucket(moved, missing_ok=True)


def test_bucket_batch_partial_failure(live_server: Any, repo_name: str) -> None:
    """Not transactional, as on the Hub: good operations apply, the failed ones come back in `failed`."""
    api = live_server.api()
    bid = api.create_bucket(repo_name).bucket_id
    api.batch_bucket_files(bid, add=[(b"keep", "keep.txt")])
    line = {"type": "deleteFile", "path": "nope.txt"}
    ok = {"type": "deleteFile", "path": "keep.txt"}
    r = httpx.post(
        f"{live_server.url}/api/buckets/{bid}/batch",
        content="\n".join(json.dumps(x) for x in (line, ok)),
        headers={**live_server.auth(), "Content-Type": "application/x-ndjson"},
    )
    assert r.status_code == 200, r.text
    assert [f["path"] for f in r.json()["failed"]] == ["nope.txt"]
    r = httpx.post(
        f"{live_server.url}/api/buckets/{bid}/batch",
        content=json.dumps(line) + "\n",
        headers={**live_server.auth(), "Content-Type": "application/x-ndjson"},
    )
    assert r.status_code == 422 and r.json()["failed"][0]["path"] == "nope.txt"
    # malformed lines are a clear 400 in the Hub's error format, never a 500
    for bad in (
        b"{not json",
        b'{"type": "addFile", "path": "x", "xetHash": "zz"}',
        b'{"type": "rename"}',
        b"[1]",
    ):
        r = httpx.post(f"{live_server.url}/api/buckets/{bid}/batch", content=bad, headers=live_server.auth())
        assert r.status_code in (400, 422), (bad, r.status_code, r.text)
        assert r.headers.get("x-error-code") and r.headers.get("x-error-message")
    r = httpx.post(
        f"{live_server.url}/api/buckets/{bid}/batch",
        content=json.dumps({"type": "addFile", "path": "../x", "xetHash": "0" * 64}),
        headers=live_server.auth(),
    )
    assert r.status_code == 422 and r.json()["failed"][0]["path"] == "../x"


def test_bucket_cli(live_server: Any, repo_name: str, tmp_path: Path) -> None:
    """`hf buckets create/info/ls/sync/rm/settings/move/delete` and `hf cp` with hf://buckets/ paths."""
    bid = f"alice/{repo_name}"
    hf(live_server, tmp_path, "buckets", "create", bid, "--private")
    assert bid in hf(live_server, tmp_path, "buckets", "list", "--format", "quiet")
    assert bid not in hf(
        live_server, tmp_path, "buckets", "list", "alice", "--format", "quiet", token=live_server.bob
    )
    assert '"private": true' in hf(live_server, tmp_path, "buckets", "info", bid, "--json").replace(
        "True", "true"
    )

    src = tmp_path / "src"
    (src / "nested").mkdir(parents=True)
    (src / "one.bin").write_bytes(os.urandom(200_000))
    (src / "nested" / "two.txt").write_text("two")
    single = tmp_path / "single.txt"
    single.write_text("single file")

    hf(live_server, tmp_path, "cp", str(single), f"hf://buckets/{bid}/single.txt")
    hf(live_server, tmp_path, "buckets", "sync", str(src), f"hf://buckets/{bid}/synced")
    listing = hf(live_server, tmp_path, "buckets", "ls", bid, "-R", "--format", "quiet")
    for p in ("single.txt", "synced/one.bin", "synced/nested/two.txt"):
        assert p in listing, listing

    hf(live_server, tmp_path, "cp", f"hf://buckets/{bid}/single.txt", str(tmp_path / "got.txt"))
    assert (tmp_path / "got.txt").read_text() == "single file"
    back = tmp_path / "back"
    hf(live_server, tmp_path, "buckets", "sync", f"hf://buckets/{bid}/synced", str(back))
    assert digest(back / "one.bin") == digest(src / "one.bin")
    assert (back / "nested" / "two.txt").read_text() == "two"

    hf(live_server, tmp_path, "buckets", "rm", f"{bid}/single.txt", "-y")
    assert "single.txt" not in hf(live_server, tmp_path, "buckets", "ls", bid, "-R", "--format", "quiet")
    hf(live_server, tmp_path, "buckets", "settings", bid, "--public")
    assert live_server.api(token=False).bucket_info(bid).private is False  # anonymous sees it now
    hf(live_server, tmp_path, "buckets", "move", bid, f"{bid}-moved")
    hf(live_server, tmp_path, "buckets", "delete", f"{bid}-moved", "-y")
    with pytest.raises(BucketNotFoundError):
        live_server.api().bucket_info(f"{bid}-moved")


def test_repo_to_bucket_copy(live_server: Any, repo_name: str, tmp_path: Path) -> None:
    """`hf cp hf://{repo}/… hf://buckets/…`: a Xet file of the repo is copied server-side by its Xet hash
    (copyFile), a regular file is downloaded and re-added; the bucket then serves both."""
    api = live_server.api()
    repo = f"alice/{repo_name}"
    api.create_repo(repo)
    weights = tmp_path / "w.bin"
    weights.write_bytes(os.urandom(150_000))
    (tmp_path / "config.json").write_text('{"a": 1}')
    hf(live_server, tmp_path, "upload", repo, str(weights), "w.bin")  # Xet on: an LFS/Xet file
    hf(live_server, tmp_path, "upload", repo, str(tmp_path / "config.json"), "config.json")
    bid = api.create_bucket(f"{repo_name}-b", private=True).bucket_id

    hf(live_server, tmp_path, "cp", f"hf://{repo}/w.bin", f"hf://buckets/{bid}/models/w.bin")
    hf(live_server, tmp_path, "cp", f"hf://{repo}/config.json", f"hf://buckets/{bid}/models/config.json")
    files = {x.path: x for x in api.list_bucket_tree(bid, recursive=True)}
    assert set(files) == {"models/config.json", "models/w.bin"}
    repo_file = next(iter(api.get_paths_info(repo, ["w.bin"])))
    assert files["models/w.bin"].xet_hash == repo_file.xet_hash  # copied by hash, no re-upload
    out = tmp_path / "out"
    api.download_bucket_files(bid, [("models/w.bin", out / "w.bin"), ("models/config.json", out / "c.json")])
    assert digest(out / "w.bin") == digest(weights)
    assert (out / "c.json").read_text() == '{"a": 1}'


def test_bucket_filesystem_and_pandas(live_server: Any, repo_name: str) -> None:
    """HfFileSystem (`hf://buckets/…`) lists, reads with Range, writes and removes; pandas reads and writes CSV."""
    from huggingface_hub import HfFileSystem

    api = live_server.api()
    bid = api.create_bucket(repo_name, private=True).bucket_id
    payload = os.urandom(100_000)
    api.batch_bucket_files(
        bid, add=[(b"hello", "a.txt"), (payload, "data/big.bin"), (b"y", "data/sub/c.txt")]
    )
    fs = HfFileSystem(endpoint=live_server.url, token=live_server.alice)
    root = f"buckets/{bid}"
    assert fs.ls(root, detail=False) == [f"{root}/a.txt", f"{root}/data"]
    assert fs.ls(f"{root}/data", detail=False) == [f"{root}/data/big.bin", f"{root}/data/sub"]
    assert fs.find(root) == [f"{root}/a.txt", f"{root}/data/big.bin", f"{root}/data/sub/c.txt"]
    assert fs.cat(f"{root}/a.txt") == b"hello"
    with fs.open(f"{root}/data/big.bin", "rb") as f:
        f.seek(500)
        assert f.read(1000) == payload[500:1500]
    with fs.open(f"{root}/new.txt", "wb") as f:
        f.write(b"written by fs")
    assert fs.cat(f"{root}/new.txt") == b"written by fs"
    fs.rm(f"{root}/new.txt")
    assert not fs.exists(f"{root}/new.txt")

    import pandas as pd

    opts = {"endpoint": live_server.url, "token": live_server.alice}
    pd.DataFrame({"a": [1, 2]}).to_csv(f"hf://{root}/t.csv", index=False, storage_options=opts)
    assert pd.read_csv(f"hf://{root}/t.csv", storage_options=opts)["a"].tolist() == [1, 2]
    anonymous = HfFileSystem(endpoint=live_server.url, token=False)
    assert not anonymous.exists(f"{root}/a.txt")  # private: nothing for anonymous


TRICKY = [
    "d",
    "d-x",
    "d.txt",
    "d/a",
    "d/b/c",
    "d/b/d",
    "d/b0",
    "d0",
    "d0/x",
    "d_/y",
    "dé/z",
    "d /sp",
    "e/é/ü",
    "e/é0",
    "e!",
    "z",
]


def expected_tree(paths: list[str], prefix: str, recursive: bool) -> list[tuple[str, str]]:
    """The listing a filesystem view gives, computed the slow way (the semantics `Buckets.tree` documents)."""
    out: set[tuple[str, str]] = set()  # a file "d" and a folder "d" may both exist (as in S3)
    for p in sorted(paths):
        if not p.startswith(prefix):
            continue
        if recursive:
            out.add((p, "file"))
            continue
        if not prefix or prefix.endswith("/"):
            base = prefix
        elif p.startswith(prefix + "/"):
            base = prefix + "/"
        else:
            base = prefix.rsplit("/", 1)[0] + "/" if "/" in prefix else ""
        head, sep, _ = p[len(base) :].partition("/")
        out.add((base + head, "directory" if sep else "file"))
    return sorted(out, key=lambda kv: kv[0] + ("/" if kv[1] == "directory" else ""))


def test_bucket_tree_paging_and_folders(live_server: Any, repo_name: str) -> None:
    """Listings page (4 per page on the session hub) and fold folders exactly like a brute-force listing, for
    paths whose characters sort around '/' ('-', '.', ' ', '0', '_', non-ASCII)."""
    api = live_server.api()
    bid = api.create_bucket(repo_name).bucket_id
    api.batch_bucket_files(bid, add=[(p.encode(), p) for p in TRICKY])
    for prefix in ("", "d", "d/", "d/b", "d0", "e", "e/é", "nothing"):
        for recursive in (False, True):
            got = [
                (x.path, "file" if isinstance(x, BucketFile) else "directory")
                for x in api.list_bucket_tree(bid, prefix=prefix or None, recursive=recursive)
            ]
            assert got == expected_tree(TRICKY, prefix, recursive), (prefix, recursive)
