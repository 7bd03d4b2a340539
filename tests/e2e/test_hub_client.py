"""Hub core through the official huggingface_hub client (issue 2 acceptance), against the live session hub."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from huggingface_hub import (
    CommitOperationAdd,
    CommitOperationDelete,
    HfApi,
    hf_hub_download,
    snapshot_download,
)
from huggingface_hub.errors import (
    BadRequestError,
    EntryNotFoundError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from _transfer import assert_arrived

CHUNK = 8 * 1024 * 1024


def sha256_file(path: Path | str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def write_random(path: Path, size: int) -> str:
    """Write `size` random bytes in chunks; return their sha256."""
    h = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            chunk = os.urandom(min(CHUNK, left))
            h.update(chunk)
            f.write(chunk)
            left -= len(chunk)
    return h.hexdigest()


def tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): sha256_file(p)
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".cache" not in p.relative_to(root).parts
    }


# --- identity and repo creation ---------------------------------------------------------------------------
def test_whoami(live_server, api):
    me = api.whoami()
    assert me["name"] == "alice"
    assert me["type"] == "user"
    assert me["fullname"] == "Alice A."
    assert [o["name"] for o in me["orgs"]] == ["acme"]
    assert me["auth"]["accessToken"]["role"] == "write"
    assert (
        HfApi(endpoint=live_server.url, token=live_server.alice_read).whoami()["auth"]["accessToken"]["role"]
        == "read"
    )


def test_create_repo_409_has_url_and_exist_ok(live_server, api, repo_name):
    url = api.create_repo(repo_name)
    assert url == f"{live_server.url}/alice/{repo_name}"
    assert url.repo_id == f"alice/{repo_name}"
    with pytest.raises(HfHubHTTPError) as ei:
        api.create_repo(repo_name)
    assert ei.value.response.status_code == 409
    assert ei.value.response.json()["url"] == url
    again = api.create_repo(repo_name, exist_ok=True)
    assert again == url
    # a new repo starts with an initial commit holding .gitattributes, authored by the creator
    assert api.list_repo_files(f"alice/{repo_name}") == [".gitattributes"]
    commits = api.list_repo_commits(f"alice/{repo_name}")
    assert [c.title for c in commits] == ["initial commit"]
    assert commits[0].authors == ["alice"]


def test_create_repo_in_org_and_dataset(live_server, api, repo_name):
    url = api.create_repo(f"acme/{repo_name}", repo_type="dataset")
    assert url == f"{live_server.url}/datasets/acme/{repo_name}"
    info = api.dataset_info(f"acme/{repo_name}")
    assert info.id == f"acme/{repo_name}"
    assert info.author == "acme"
    # bob is not a member of acme
    with pytest.raises(HfHubHTTPError) as ei:
        live_server.api(live_server.bob).create_repo(f"acme/{repo_name}-2")
    assert ei.value.response.status_code == 403
    assert not api.repo_exists(f"acme/{repo_name}-2")


def test_invalid_repo_names_rejected(api):
    for bad in ["bad--name", "bad..name", "x" * 97, "ends.git", "sp ace", "-lead"]:
        with pytest.raises((HfHubHTTPError, ValueError)):
            api.create_repo(bad)
        # the client validates some names itself; the server must reject what gets through too
    assert not [m for m in api.list_models(author="alice") if "bad" in m.id and "--" in m.id]


def test_delete_repo(api, repo_name):
    rid = f"alice/{repo_name}"
    api.create_repo(rid)
    api.delete_repo(rid)
    assert not api.repo_exists(rid)
    with pytest.raises(RepositoryNotFoundError):
        api.delete_repo(rid)
    api.delete_repo(rid, missing_ok=True)


# --- upload / download ------------------------------------------------------------------------------------
@pytest.mark.slow
def test_upload_folder_tiny_model_and_300mb_snapshot_roundtrip(
    live_server, api, repo_name, tiny_model_dir, tmp_path, hf_cache
):
    src = tmp_path / "src"
    src.mkdir()
    for f in tiny_model_dir.iterdir():
        (src / f.name).write_bytes(f.read_bytes())
    (src / "sub").mkdir()
    (src / "sub" / "notes.txt").write_text("nested regular file\n")
    big_sha = write_random(src / "big.bin", 300 * 1024 * 1024)
    expected = tree_digest(src)
    assert expected["big.bin"] == big_sha

    rid = f"alice/{repo_name}"
    api.create_repo(rid)
    info = api.upload_folder(folder_path=src, repo_id=rid, commit_message="tiny model + 300 MB")
    assert len(info.oid) == 40

    files = {s.rfilename: s for s in api.model_info(rid, files_metadata=True).siblings}
    assert files["big.bin"].size == 300 * 1024 * 1024
    assert files["big.bin"].lfs is not None and files["big.bin"].lfs.sha256 == big_sha
    assert files["model.safetensors"].lfs is not None
    assert files["config.json"].lfs is None
    assert_arrived(live_server, big_sha, "xet")  # the default client; the 300 MB LFS run is in test_xet_hub

    out = Path(snapshot_download(rid, cache_dir=hf_cache, token=live_server.alice))
    got = tree_digest(out)
    got.pop(".gitattributes")
    assert got == expected
    assert out.name == info.oid  # snapshots/<sha>
    # the blob of the LFS file in the cache is named by its sha256 (the ETag)
    assert (hf_cache / f"models--alice--{repo_name}" / "blobs" / big_sha).exists()


def test_hf_hub_download_by_tag_branch_and_sha(live_server, api, repo_name, hf_cache):
    rid = f"alice/{repo_name}"
    api.create_repo(rid)
    c1 = api.upload_file(path_or_fileobj=b"version 1\n", path_in_repo="f.txt", repo_id=rid)
    api.create_tag(rid, tag="v1")
    api.create_branch(rid, branch="stable")
    c2 = api.upload_file(path_or_fileobj=b"version 2\n", path_in_repo="f.txt", repo_id=rid)
    c3 = api.upload_file(
        path_or_fileobj=b"version 3 on dev\n", path_in_repo="f.txt", repo_id=rid, revision="stable"
    )

    def get(rev: str | None) -> bytes:
        return Path(hf_hub_download(rid, "f.txt", revision=rev, cache_dir=hf_cache)).read_bytes()

    assert get(None) == b"version 2\n"
    assert get("main") == b"version 2\n"
    assert get("v1") == b"version 1\n"
    assert get("stable") == b"version 3 on dev\n"
    assert get(c1.oid) == b"version 1\n"
    assert get(c2.oid) == b"version 2\n"
    assert get(c3.oid) == b"version 3 on dev\n"
    assert get(c1.oid[:7]) == b"version 1\n"  # short sha
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(rid, "f.txt", revision="nope", cache_dir=hf_cache)
    with pytest.raises(EntryNotFoundError):
        hf_hub_download(rid, "missing.txt", cache_dir=hf_cache)
    # the missing file is remembered under .no_exist/<sha>/ (needs X-Repo-Commit on the 404)
    assert (hf_cache / f"models--alice--{repo_name}" / ".no_exist" / c2.oid / "missing.txt").exists()
    assert api.file_exists(rid, "f.txt") and not api.file_exists(rid, "missing.txt")


def test_upload_file_lfs_pattern_and_regular(live_server, api, repo_name, hf_cache, transfer):
    rid = f"alice/{repo_name}"
    api.create_repo(rid)
    tiny, raw = f"tiny {transfer}".encode(), b"\x00\x01binary " + transfer.encode()  # fresh bytes per mode
    api.upload_file(path_or_fileobj=tiny, path_in_repo="w/small.bin", repo_id=rid)  # *.bin -> LFS
    api.upload_file(path_or_fileobj=raw, path_in_repo="raw.dat", repo_id=rid)  # binary -> LFS
    api.upload_file(path_or_fileobj=b"plain text", path_in_repo="a.txt", repo_id=rid)
    by_path = {e.path: e for e in api.list_repo_tree(rid, recursive=True)}
    assert by_path["w/small.bin"].lfs is not None
    assert by_path["w/small.bin"].lfs.sha256 == hashlib.sha256(tiny).hexdigest()
    assert by_path["w/small.bin"].size == 8
    assert by_path["raw.dat"].lfs is not None
    assert by_path["a.txt"].lfs is None
    assert by_path["a.txt"].blob_id == hashlib.sha1(b"blob 10\0plain text").hexdigest()
    assert_arrived(live_server, hashlib.sha256(tiny).hexdigest(), transfer)
    assert_arrived(live_server, hashlib.sha256(raw).hexdigest(), transfer)
    assert Path(hf_hub_download(rid, "w/small.bin", cache_dir=hf_cache)).read_bytes() == tiny
    # re-uploading identical content is a no-op (preupload returns the remote oid)
    head = api.model_info(rid).sha
    api.upload_file(path_or_fileobj=b"plain text", path_in_repo="a.txt", repo_id=rid)
    api.upload_file(path_or_fileobj=tiny, path_in_repo="w/small.bin", repo_id=rid)
    assert api.model_info(rid).sha == head


def test_same_lfs_object_in_two_repos_stored_once(live_server, api, repo_name, transfer):
    data = os.urandom(200_000)
    sha = hashlib.sha256(data).hexdigest()
    xet = live_server.services.xet
    stored = []
    for suffix in ("a", "b"):
        rid = f"alice/{repo_name}-{suffix}"
        api.create_repo(rid)
        api.upload_file(path_or_fileobj=data, path_in_repo="same.bin", repo_id=rid)
        stored.append(xet.stats().stored_bytes)
    assert_arrived(live_server, sha, transfer)
    if transfer == "lfs":
        blob_root = Path(live_server.settings.data_dir) / "blobs"
        copies = [p for p in blob_root.rglob("*") if p.is_file() and p.name.endswith(sha[4:])]
        assert len(copies) == 1, copies
    else:  # the second repo's upload finds every chunk known: no new xorb bytes
        assert stored[1] == stored[0], stored
    for suffix in ("a", "b"):
        e = next(iter(api.get_paths_info(f"alice/{repo_name}-{suffix}", ["same.bin"])))
        assert e.lfs.sha256 == sha


def test_create_commit_parent_commit_stale_is_412(api, repo_name):
    rid = f"alice/{repo_name}"
    api.create_repo(rid)
    first = api.upload_file(path_or_fileobj=b"1", path_in_repo="x.txt", repo_id=rid)
    second = api.create_commit(
        rid, [CommitOperationAdd("y.txt", b"2")], commit_message="y", parent_commit=first.oid
    )
    with pytest.raises(HfHubHTTPError) as ei:
        api.create_commit(
            rid, [CommitOperationAdd("z.txt", b"3")], commit_message="z", parent_commit=first.oid
        )
    assert ei.value.response.status_code == 412
    assert "The branch was updated since you opened this page" in str(ei.value)
    assert api.model_info(rid).sha == second.oid
    assert "z.txt" not in api.list_repo_files(rid)


def test_delete_file_and_folder(api, repo_name):
    rid = f"alice/{repo_name}"
    api.create_repo(rid)
    api.create_commit(
        rid,
        [
            CommitOperationAdd(p, p.encode())
            for p in ["keep.txt", "d/a.txt", "d/b.txt", "d/e/c.txt", "other/x.txt"]
        ],
        commit_message="files",
    )
    api.delete_file("keep.txt", rid)
    assert "keep.txt" not in api.list_repo_files(rid)
    api.delete_folder("d", rid)
    assert api.list_repo_files(rid) == [".gitattributes", "other/x.txt"]
    # deleting a folder through a deletedFile op works too
    api.create_commit(rid, [CommitOperationDelete("other")], commit_message="rm other")
    assert api.list_repo_files(rid) == [".gitattributes"]
    with pytest.raises(EntryNotFoundError) as ei:
        api.delete_file("nope.txt", rid)
    assert "A file with this name doesn't exist" in str(ei.value)


def test_paths_info(api, repo_name):
    rid = f"alice/{repo_name}"
    api.create_repo(rid)
    api.create_commit(
        rid,
        [CommitOperationAdd("a.txt", b"a"), CommitOperationAdd("sub/b.bin", b"bbb")],
        commit_message="first",
    )
    c2 = api.create_commit(rid, [CommitOperationAdd("sub/c.txt", b"c")], commit_message="second")
    infos = {
        e.path: e for e in api.get_paths_info(rid, ["a.txt", "sub", "sub/b.bin", "missing"], expand=True)
    }
    assert set(infos) == {"a.txt", "sub", "sub/b.bin"}
    assert infos["a.txt"].size == 1 and infos["a.txt"].lfs is None
    assert infos["sub/b.bin"].lfs is not None and infos["sub/b.bin"].lfs.size == 3
    assert infos["a.txt"].last_commit.title == "first"
    assert infos["sub"].last_commit.oid == c2.oid
    assert type(infos["sub"]).__name__ == "RepoFolder"


def test_tree_pagination_and_listing(live_server, api, repo_name):
    assert live_server.settings.tree_page_size == 4
    rid = f"alice/{repo_name}"
    api.create_repo(rid)
    paths = [f"f{i:02d}.txt" for i in range(11)] + ["d1/x.txt", "d1/d2/y.txt", "d3/z.txt"]
    api.create_commit(rid, [CommitOperationAdd(p, p.encode()) for p in paths], commit_message="many")
    files = api.list_repo_files(rid)
    assert sorted(files) == sorted([*paths, ".gitattributes"])
    entries = list(api.list_repo_tree(rid, recursive=True))
    assert len(entries) == len(paths) + 1 + 3  # files + .gitattributes + dirs d1, d1/d2, d3
    top = list(api.list_repo_tree(rid))
    assert {e.path for e in top if type(e).__name__ == "RepoFolder"} == {"d1", "d3"}
    sub = list(api.list_repo_tree(rid, path_in_repo="d1"))
    assert sorted(e.path for e in sub) == ["d1/d2", "d1/x.txt"]
    with pytest.raises(EntryNotFoundError):
        list(api.list_repo_tree(rid, path_in_repo="nope"))
    # the raw Link header is absolute and carries the query
    import httpx

    r = httpx.get(
        f"{live_server.url}/api/models/{rid}/tree/main?recursive=true&expand=false",
        headers=live_server.auth(),
    )
    assert r.status_code == 200 and len(r.json()) == 4
    link = r.headers["link"]
    assert link.startswith(f"<{live_server.url}/api/models/{rid}/tree/main?") and 'rel="next"' in link
    assert "recursive=true" in link


def test_refs_commits_branches_tags(api, repo_name):
    rid = f"alice/{repo_name}"
    api.create_repo(rid)
    c1 = api.upload_file(path_or_fileobj=b"1", path_in_repo="a.txt", repo_id=rid, commit_message="one")
    c2 = api.upload_file(path_or_fileobj=b"2", path_in_repo="a.txt", repo_id=rid, commit_message="two")
    api.create_branch(rid, branch="dev", revision=c1.oid)
    api.create_tag(rid, tag="v1", revision=c1.oid[:7], tag_message="first release")
    api.create_tag(rid, tag="v2")
    refs = api.list_repo_refs(rid)
    assert {b.name: b.target_commit for b in refs.branches} == {"main": c2.oid, "dev": c1.oid}
    assert {t.name: t.target_commit for t in refs.tags} == {"v1": c1.oid, "v2": c2.oid}
    assert refs.converts == []
    assert api.list_repo_refs(rid, include_pull_requests=True).pull_requests == []
    titles = [c.title for c in api.list_repo_commits(rid)]
    assert titles == ["two", "one", "initial commit"]
    assert [c.title for c in api.list_repo_commits(rid, revision="dev")] == ["one", "initial commit"]
    formatted = api.list_repo_commits(rid, formatted=True)
    assert formatted[0].formatted_title == "two"

    # errors
    with pytest.raises(HfHubHTTPError) as ei:
        api.create_branch(rid, branch="dev")
    assert ei.value.response.status_code == 409
    assert "refs/heads/dev already exists" in str(ei.value)
    api.create_branch(rid, branch="dev", exist_ok=True)
    api.create_branch(rid, branch="v1")  # a branch may share a tag's name
    with pytest.raises(HfHubHTTPError) as ei:
        api.create_tag(rid, tag="v1")
    assert ei.value.response.status_code == 409
    with pytest.raises(HfHubHTTPError) as ei:
        api.create_tag(rid, tag="invalid tag")
    assert ei.value.response.status_code == 400
    with pytest.raises(RevisionNotFoundError):
        api.create_tag(rid, tag="v9", revision="no-such-branch")
    with pytest.raises(HfHubHTTPError) as ei:
        api.delete_branch(rid, branch="main")
    assert "Cannot delete refs/heads/main" in str(ei.value)
    with pytest.raises(HfHubHTTPError) as ei:
        api.delete_branch(rid, branch="no-such")
    assert "Invalid rev id" in str(ei.value)
    with pytest.raises(RevisionNotFoundError):
        api.delete_tag(rid, tag="no-such")
    with pytest.raises(HfHubHTTPError):
        api.delete_tag(rid, tag="main")

    api.delete_branch(rid, branch="dev")
    api.delete_tag(rid, tag="v1")
    refs = api.list_repo_refs(rid)
    assert {b.name for b in refs.branches} == {"main", "v1"}
    assert {t.name for t in refs.tags} == {"v2"}
    with pytest.raises(RevisionNotFoundError):
        api.list_repo_commits(rid, revision="dev")


def test_private_repo_is_404_to_others(live_server, api, repo_name, hf_cache):
    rid = f"alice/{repo_name}"
    api.create_repo(rid, private=True)
    api.upload_file(path_or_fileobj=b"secret", path_in_repo="s.txt", repo_id=rid)
    assert api.model_info(rid).private is True
    bob = live_server.api(live_server.bob)
    anon = HfApi(endpoint=live_server.url, token=False)
    for other in (bob, anon):
        with pytest.raises(RepositoryNotFoundError):
            other.model_info(rid)
        with pytest.raises(RepositoryNotFoundError):
            other.list_repo_files(rid)
        assert not other.repo_exists(rid)
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download(rid, "s.txt", cache_dir=hf_cache, token=live_server.bob)
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download(rid, "s.txt", cache_dir=hf_cache, token=False)
    assert rid not in [m.id for m in bob.list_models(author="alice")]
    assert rid in [m.id for m in api.list_models(author="alice")]
    # read tokens of the owner can read
    reader = live_server.api(live_server.alice_read)
    assert reader.model_info(rid).id == rid

    # settings toggle
    api.update_repo_settings(rid, private=False)
    assert anon.model_info(rid).private is False
    assert Path(hf_hub_download(rid, "s.txt", cache_dir=hf_cache, token=False)).read_bytes() == b"secret"
    api.update_repo_settings(rid, private=True)
    with pytest.raises(RepositoryNotFoundError):
        anon.model_info(rid)
    with pytest.raises(RepositoryNotFoundError):
        bob.update_repo_settings(rid, private=False)
    assert api.model_info(rid).private is True


def test_read_token_cannot_write(live_server, api, repo_name):
    rid = f"alice/{repo_name}"
    api.create_repo(rid)
    reader = live_server.api(live_server.alice_read)
    with pytest.raises(HfHubHTTPError) as ei:
        reader.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=rid)
    assert ei.value.response.status_code == 403
    with pytest.raises(HfHubHTTPError) as ei:
        reader.create_repo(f"{repo_name}-new")
    assert ei.value.response.status_code == 403
    with pytest.raises(HfHubHTTPError) as ei:
        reader.create_branch(rid, branch="b")
    assert ei.value.response.status_code == 403
    with pytest.raises(HfHubHTTPError) as ei:
        reader.delete_repo(rid)
    assert ei.value.response.status_code == 403
    with pytest.raises(HfHubHTTPError):
        live_server.api(live_server.bob).upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=rid)
    assert api.list_repo_files(rid) == [".gitattributes"]
    assert api.repo_exists(rid)


def test_invalid_token_is_401(live_server):
    bad = HfApi(endpoint=live_server.url, token="my_not-a-real-token")
    with pytest.raises(HfHubHTTPError) as ei:
        bad.whoami()
    assert ei.value.response.status_code == 401
    with pytest.raises(HfHubHTTPError) as ei:
        HfApi(endpoint=live_server.url, token=False).create_repo("anon-repo")
    assert ei.value.response.status_code == 401


def test_move_repo_old_id_redirects(live_server, api, repo_name, hf_cache):
    old, new = f"alice/{repo_name}", f"acme/{repo_name}-moved"
    api.create_repo(old, private=True)
    api.upload_file(path_or_fileobj=b"moved content", path_in_repo="file.txt", repo_id=old)
    api.move_repo(old, new)
    assert api.model_info(new).id == new
    assert api.model_info(old).id == new  # follows the redirect
    assert Path(
        hf_hub_download(old, "file.txt", cache_dir=hf_cache, token=live_server.alice)
    ).read_bytes() == (b"moved content")
    # redirects do not leak private repos
    with pytest.raises(RepositoryNotFoundError):
        live_server.api(live_server.bob).model_info(old)
    # moving onto an existing repo fails
    api.create_repo(f"{repo_name}-other")
    with pytest.raises(HfHubHTTPError) as ei:
        api.move_repo(new, f"alice/{repo_name}-other")
    assert "already exists" in str(ei.value)


def test_hf_file_system_range_reads(live_server, api, repo_name, transfer):
    from huggingface_hub import HfFileSystem

    rid = f"alice/{repo_name}"
    api.create_repo(rid)
    data = bytes(range(256)) * 40 + transfer.encode()  # fresh bytes per mode
    api.upload_file(path_or_fileobj=data, path_in_repo="data.bin", repo_id=rid)
    assert_arrived(live_server, hashlib.sha256(data).hexdigest(), transfer)
    fs = HfFileSystem(endpoint=live_server.url, token=live_server.alice, skip_instance_cache=True)
    with fs.open(f"{rid}/data.bin", "rb", block_size=100) as f:
        f.seek(1000)
        assert f.read(50) == data[1000:1050]
        f.seek(len(data) - 10)
        assert f.read(100) == data[-10:]
    assert fs.info(f"{rid}/data.bin")["size"] == len(data)


def test_bad_requests_from_client_are_clear(api, repo_name):
    rid = f"alice/{repo_name}"
    api.create_repo(rid)
    with pytest.raises((BadRequestError, HfHubHTTPError, ValueError)):
        api.create_commit(rid, [CommitOperationAdd(".git/config", b"x")], commit_message="evil")
    assert api.list_repo_files(rid) == [".gitattributes"]


def test_concurrent_commits_lose_nothing(live_server, api, repo_name, transfer):
    """Parallel commits to one branch serialise: every file lands, history is linear with one commit each."""
    from concurrent.futures import ThreadPoolExecutor

    rid = f"alice/{repo_name}"
    api.create_repo(rid)
    n = 8

    def push(i: int) -> str:
        client = live_server.api()
        ops = [
            CommitOperationAdd(f"c/{i}.txt", f"{i}".encode()),
            CommitOperationAdd(f"c/{i}.bin", os.urandom(2048)),
        ]
        return client.create_commit(rid, ops, commit_message=f"commit {i}").oid

    with ThreadPoolExecutor(n) as pool:
        oids = list(pool.map(push, range(n)))
    assert len(set(oids)) == n
    files = api.list_repo_files(rid)
    assert sorted(files) == sorted(
        [".gitattributes"] + [f"c/{i}.{ext}" for i in range(n) for ext in ("txt", "bin")]
    )
    history = api.list_repo_commits(rid)
    assert len(history) == n + 1
    assert {c.commit_id for c in history[:-1]} == set(oids)
    assert api.model_info(rid).sha == history[0].commit_id
