"""Raw-HTTP checks of /resolve (HEAD headers, Range, errors), tree/paths-info/refs/commits wire shapes."""

from __future__ import annotations

import hashlib
import re

import httpx
import pytest
from huggingface_hub import CommitOperationAdd

from _transfer import TRANSFERS, assert_arrived, transfer_mode

REGULAR = b"0123456789abcdefghij" * 5  # 100 bytes, text -> regular
# 2048 bytes, *.bin -> LFS (or Xet): fresh bytes per upload path, so each mode's content is its own
LFS_BY_MODE = {"xet": bytes(range(256)) * 8, "lfs": bytes(reversed(range(256))) * 8}


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@pytest.fixture(scope="module", params=TRANSFERS)
def files_repo(live_server, request):
    """(repo id, commit, the *.bin file's bytes), the binary file uploaded through Xet or LFS."""
    mode = request.param
    lfs = LFS_BY_MODE[mode]
    api = live_server.api()
    rid = f"alice/resolve-checks-{mode}"
    api.create_repo(rid, exist_ok=True)
    with transfer_mode(mode):
        info = api.create_commit(
            rid,
            [
                CommitOperationAdd("text.txt", REGULAR),
                CommitOperationAdd("w/data.bin", lfs),
                CommitOperationAdd("dir with space/ü.txt", b"unicode"),
            ],
            commit_message="files",
        )
    assert_arrived(live_server, hashlib.sha256(lfs).hexdigest(), mode)
    return rid, info.oid, lfs


@pytest.fixture
def http(live_server):
    with httpx.Client(base_url=live_server.url, timeout=60, headers=live_server.auth()) as c:
        yield c


def test_head_regular_file_headers(http, files_repo):
    rid, sha, _lfs = files_repo
    r = http.head(f"/{rid}/resolve/main/text.txt", headers={"accept-encoding": "identity"})
    assert r.status_code == 200
    assert r.headers["x-repo-commit"] == sha
    assert r.headers["etag"].strip('"') == git_blob_sha1(REGULAR)
    assert int(r.headers["content-length"]) == len(REGULAR)
    assert "x-linked-size" not in r.headers
    assert r.headers["accept-ranges"] == "bytes"
    assert r.headers.get("x-request-id")
    assert r.content == b""


def test_head_lfs_file_headers(http, files_repo):
    rid, sha, lfs = files_repo
    r = http.head(f"/{rid}/resolve/main/w/data.bin")
    assert r.status_code == 200
    assert r.headers["x-repo-commit"] == sha
    assert r.headers["etag"].strip('"') == hashlib.sha256(lfs).hexdigest()
    assert r.headers["x-linked-etag"].strip('"') == hashlib.sha256(lfs).hexdigest()
    assert int(r.headers["x-linked-size"]) == len(lfs)
    assert int(r.headers["content-length"]) == len(lfs)


def test_get_by_sha_and_encoded_path(http, files_repo):
    rid, sha, lfs = files_repo
    r = http.get(f"/{rid}/resolve/{sha}/w/data.bin")
    assert r.status_code == 200 and r.content == lfs
    r = http.get(f"/{rid}/resolve/main/dir%20with%20space/%C3%BC.txt")
    assert r.status_code == 200 and r.content == b"unicode"
    r = http.get(f"/{rid}/resolve/{sha[:7]}/text.txt")
    assert r.status_code == 200 and r.content == REGULAR


@pytest.mark.parametrize(
    ("rng", "start", "end"),
    [
        ("bytes=2-8", 2, 9),
        ("bytes=0-0", 0, 1),
        ("bytes=2040-", 2040, 2048),
        ("bytes=-5", 2043, 2048),
        ("bytes=100-99999", 100, 2048),
        ("bytes=0-2047", 0, 2048),
    ],
)
def test_range_206(http, files_repo, rng, start, end):
    rid, sha, lfs = files_repo
    r = http.get(f"/{rid}/resolve/main/w/data.bin", headers={"range": rng})
    assert r.status_code == 206, r.text
    assert r.content == lfs[start:end]
    assert r.headers["content-range"] == f"bytes {start}-{end - 1}/{len(lfs)}"
    assert int(r.headers["content-length"]) == end - start
    assert r.headers["x-repo-commit"] == sha


@pytest.mark.parametrize("rng", ["bytes=2048-", "bytes=5000-6000", "bytes=2048-2050"])
def test_range_past_end_416(http, files_repo, rng):
    rid, _, _lfs = files_repo
    r = http.get(f"/{rid}/resolve/main/w/data.bin", headers={"range": rng})
    assert r.status_code == 416
    assert r.headers.get("x-error-code") == "RangeNotSatisfiable"


def test_range_regular_file_and_ignored_ranges(http, files_repo):
    rid, _, _lfs = files_repo
    r = http.get(f"/{rid}/resolve/main/text.txt", headers={"range": "bytes=10-19"})
    assert r.status_code == 206 and r.content == REGULAR[10:20]
    # a syntactically unsupported Range is ignored (full 200), as RFC 9110 allows
    r = http.get(f"/{rid}/resolve/main/text.txt", headers={"range": "items=1-2"})
    assert r.status_code == 200 and r.content == REGULAR


def test_entry_not_found_carries_repo_commit(http, files_repo):
    rid, sha, _lfs = files_repo
    for method in ("HEAD", "GET"):
        r = http.request(method, f"/{rid}/resolve/main/nope.txt")
        assert r.status_code == 404
        assert r.headers["x-error-code"] == "EntryNotFound"
        assert r.headers["x-repo-commit"] == sha
        assert r.headers["x-error-message"] == "Entry not found"  # the Hub's text (issue 10)
    # a directory is not a file
    r = http.head(f"/{rid}/resolve/main/w")
    assert r.status_code == 404 and r.headers["x-error-code"] == "EntryNotFound"


def test_revision_and_repo_not_found(http, files_repo):
    rid, _, _lfs = files_repo
    r = http.head(f"/{rid}/resolve/no-such-rev/text.txt")
    assert r.status_code == 404 and r.headers["x-error-code"] == "RevisionNotFound"
    r = http.head(f"/{rid}/resolve/{'0' * 40}/text.txt")
    assert r.status_code == 404 and r.headers["x-error-code"] == "RevisionNotFound"
    r = http.head(f"/{rid}-none/resolve/main/text.txt")
    assert r.status_code == 404 and r.headers["x-error-code"] == "RepoNotFound"
    r = http.get(f"/api/models/{rid}/revision/nope")
    assert r.status_code == 404 and r.headers["x-error-code"] == "RevisionNotFound"
    r = http.get(f"/api/models/{rid}/tree/main/nope")
    assert r.status_code == 404 and r.headers["x-error-code"] == "EntryNotFound"
    r = http.get(f"/api/models/{rid}/commits/nope")
    assert r.status_code == 404 and r.headers["x-error-code"] == "RevisionNotFound"


def test_repo_ids_are_case_insensitive(http, files_repo):
    rid, sha, _lfs = files_repo
    r = http.get(f"/api/models/{rid.upper()}")
    assert r.status_code == 200 and r.json()["id"] == rid and r.json()["sha"] == sha
    assert http.get(f"/{rid.upper()}/resolve/main/text.txt").content == REGULAR


def test_repo_info_shape(http, files_repo):
    rid, sha, lfs = files_repo
    d = http.get(f"/api/models/{rid}/revision/main?blobs=true").json()
    assert d["id"] == rid and d["sha"] == sha and d["private"] is False
    sib = {s["rfilename"]: s for s in d["siblings"]}
    assert sib["text.txt"]["lfs"] is None and sib["text.txt"]["blobId"] == git_blob_sha1(REGULAR)
    assert sib["w/data.bin"]["lfs"]["sha256"] == hashlib.sha256(lfs).hexdigest()
    assert sib["w/data.bin"]["size"] == len(lfs)
    assert sib["w/data.bin"]["lfs"]["pointerSize"] > 100
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$", d["lastModified"])


def test_tree_entries_and_pagination_follow(live_server, http, files_repo):
    rid, sha, lfs = files_repo
    seen, url, pages = [], f"/api/models/{rid}/tree/main?recursive=true&expand=false", 0
    while url:
        r = http.get(url)
        assert r.status_code == 200
        assert r.headers["x-repo-commit"] == sha
        assert len(r.json()) <= 4
        seen += r.json()
        pages += 1
        m = re.match(r'<([^>]+)>; rel="next"', r.headers.get("link", ""))
        url = m.group(1) if m else None
        if url:
            assert url.startswith(live_server.url + "/")  # absolute
    paths = [e["path"] for e in seen]
    assert len(paths) == len(set(paths)) == 6  # 4 files + 2 dirs
    assert pages == 2
    by = {e["path"]: e for e in seen}
    assert by["w"]["type"] == "directory" and re.fullmatch(r"[0-9a-f]{40}", by["w"]["oid"])
    assert by["w/data.bin"]["lfs"]["oid"] == hashlib.sha256(lfs).hexdigest()
    assert by["w/data.bin"]["size"] == len(lfs)
    assert by["text.txt"]["oid"] == git_blob_sha1(REGULAR) and "lfs" not in by["text.txt"]
    # encoded sub-path (sub%2Fdir) and expand=true with lastCommit
    r = http.get(f"/api/models/{rid}/tree/main/dir%20with%20space?recursive=false&expand=true")
    assert [e["path"] for e in r.json()] == ["dir with space/ü.txt"]
    assert r.json()[0]["lastCommit"]["id"] == sha


def test_paths_info_form_and_expand(http, files_repo):
    rid, sha, lfs = files_repo
    r = http.post(
        f"/api/models/{rid}/paths-info/main", data={"paths": ["text.txt", "w", "missing"], "expand": "true"}
    )
    assert r.status_code == 200
    got = {e["path"]: e for e in r.json()}
    assert set(got) == {"text.txt", "w"}
    assert got["w"]["type"] == "directory"
    assert got["text.txt"]["lastCommit"]["title"] == "files"
    r = http.post(f"/api/models/{rid}/paths-info/{sha}", data={"paths": ["w/data.bin"], "expand": "False"})
    assert r.json()[0]["lfs"]["size"] == len(lfs) and "lastCommit" not in r.json()[0]


def test_refs_and_commits_shape(http, live_server, files_repo):
    rid, sha, _lfs = files_repo
    refs = http.get(f"/api/models/{rid}/refs").json()
    assert refs["branches"] == [{"name": "main", "ref": "refs/heads/main", "targetCommit": sha}]
    assert refs["tags"] == [] and refs["converts"] == []
    assert "pullRequests" in http.get(f"/api/models/{rid}/refs?include_prs=1").json()
    r = http.get(f"/api/models/{rid}/commits/main?limit=1")
    assert r.status_code == 200 and len(r.json()) == 1
    c = r.json()[0]
    assert c["id"] == sha and c["title"] == "files" and c["authors"] == [{"user": "alice", "avatar": None}]
    assert r.headers["link"].startswith(f"<{live_server.url}/")
    r2 = http.get(re.match(r"<([^>]+)>", r.headers["link"]).group(1))
    assert [x["title"] for x in r2.json()] == ["initial commit"]
    r = http.get(f"/api/models/{rid}/commits/main?expand%5B%5D=formatted")
    assert "formatted" in r.json()[0]


def test_pr_revision_encoded(live_server, http):
    api = live_server.api()
    rid = "alice/pr-encoded"
    api.create_repo(rid, exist_ok=True)
    c = api.upload_file(path_or_fileobj=b"in a pr", path_in_repo="sub/dir/p.txt", repo_id=rid, create_pr=True)
    assert c.pr_url and c.pr_num is not None
    ref = f"refs%2Fpr%2F{c.pr_num}"
    r = http.get(f"/api/models/{rid}/tree/{ref}/sub%2Fdir?recursive=true&expand=true")
    assert r.status_code == 200 and [e["path"] for e in r.json()] == ["sub/dir/p.txt"]
    r = http.get(f"/{rid}/resolve/{ref}/sub/dir/p.txt")
    assert r.content == b"in a pr"
    r = http.get(f"/{rid}/resolve/refs/pr/{c.pr_num}/sub/dir/p.txt")  # literal form
    assert r.content == b"in a pr"
    # the PR commit is not on main
    assert "sub/dir/p.txt" not in api.list_repo_files(rid)


def test_every_response_has_request_id(live_server):
    for url in ["/api/whoami-v2", "/api/models", "/nope/nope/resolve/main/x", "/api/models/alice/nope"]:
        r = httpx.get(live_server.url + url)
        assert r.headers.get("x-request-id"), url
    r = httpx.get(live_server.url + "/api/models", headers={"x-request-id": "trace-123"})
    assert r.headers["x-request-id"] == "trace-123"


def test_delete_repo_with_body_and_missing(live_server, http):
    api = live_server.api()
    api.create_repo("alice/delete-raw", exist_ok=True)
    r = http.request(
        "DELETE", "/api/repos/delete", json={"name": "delete-raw", "organization": None, "type": "model"}
    )
    assert r.status_code == 200
    r = http.request("DELETE", "/api/repos/delete", json={"name": "delete-raw", "type": "model"})
    assert r.status_code == 404 and r.headers["x-error-code"] == "RepoNotFound"
