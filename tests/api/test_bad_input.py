"""Bad input gets a 4xx with a clear message (X-Error-Code / X-Error-Message / JSON `error`) and changes nothing.

Raw httpx against the live session hub, so the client's own validation cannot hide a server gap.
"""

from __future__ import annotations

import base64
import hashlib
import http.client as httpclient
import json
import os

import httpx
import pytest


@pytest.fixture
def http(live_server):
    with httpx.Client(base_url=live_server.url, timeout=60) as c:
        yield c


@pytest.fixture
def repo(live_server, api, repo_name):
    rid = f"alice/{repo_name}"
    api.create_repo(rid)
    api.upload_file(path_or_fileobj=b"hello", path_in_repo="a.txt", repo_id=rid)
    return rid


def ndjson(*lines: dict) -> bytes:
    return b"".join(json.dumps(x).encode() + b"\n" for x in lines)


def header(summary: str = "msg", **extra) -> dict:
    return {"key": "header", "value": {"summary": summary, "description": "", **extra}}


def file_line(path: str, data: bytes = b"x") -> dict:
    return {
        "key": "file",
        "value": {"path": path, "content": base64.b64encode(data).decode(), "encoding": "base64"},
    }


def commit(
    http, live_server, rid: str, body: bytes, rev: str = "main", token: str | None = None
) -> httpx.Response:
    headers = {"content-type": "application/x-ndjson"}
    if token != "":
        headers.update(live_server.auth(token))
    return http.post(f"/api/models/{rid}/commit/{rev}", content=body, headers=headers)


def head_sha(http, live_server, rid: str) -> str:
    r = http.get(f"/api/models/{rid}", headers=live_server.auth())
    assert r.status_code == 200
    return r.json()["sha"]


def files_of(http, live_server, rid: str) -> list[str]:
    r = http.get(f"/api/models/{rid}", headers=live_server.auth())
    return sorted(s["rfilename"] for s in r.json()["siblings"])


def assert_error(
    r: httpx.Response, status: int, code: str | None = None, contains: str | None = None
) -> None:
    assert r.status_code == status, (r.status_code, r.headers, r.text)
    assert r.headers.get("x-request-id")
    if code is not None:
        assert r.headers.get("x-error-code") == code, r.headers
    if r.request.method != "HEAD":
        body = r.json()
        assert isinstance(body.get("error"), str) and body["error"]
        if contains is not None:
            assert contains in body["error"], body
    if contains is not None:
        assert contains in r.headers.get("x-error-message", ""), r.headers


# --- path traversal -----------------------------------------------------------------------------------------
BAD_PATHS = [
    "../evil.txt",
    "a/../../evil.txt",
    "a/../b.txt",
    "..",
    "/etc/passwd",
    "/abs.txt",
    ".git/config",
    "sub/.git/hooks/pre-commit",
    ".git",
    "a//b.txt",
    "./../x",
    "a/./b",
    "nul\0byte",
]


@pytest.mark.parametrize("path", BAD_PATHS)
def test_commit_rejects_bad_paths(http, live_server, repo, path):
    before = head_sha(http, live_server, repo)
    r = commit(http, live_server, repo, ndjson(header(), file_line("ok.txt"), file_line(path)))
    assert_error(r, 422, "InvalidPath", "Invalid path")
    assert head_sha(http, live_server, repo) == before
    assert files_of(http, live_server, repo) == [".gitattributes", "a.txt"]


@pytest.mark.parametrize("path", ["../x.bin", "/x.bin", ".git/x.bin"])
def test_lfs_and_delete_lines_reject_bad_paths(http, live_server, repo, path):
    before = head_sha(http, live_server, repo)
    lfs = {"key": "lfsFile", "value": {"path": path, "algo": "sha256", "oid": "a" * 64, "size": 1}}
    assert_error(commit(http, live_server, repo, ndjson(header(), lfs)), 422, "InvalidPath")
    dele = {"key": "deletedFile", "value": {"path": path}}
    assert_error(commit(http, live_server, repo, ndjson(header(), dele)), 422, "InvalidPath")
    delf = {"key": "deletedFolder", "value": {"path": path}}
    assert_error(commit(http, live_server, repo, ndjson(header(), delf)), 422, "InvalidPath")
    assert head_sha(http, live_server, repo) == before


@pytest.mark.parametrize("path", ["../x.txt", "/x.txt", ".git/config"])
def test_preupload_rejects_bad_paths(http, live_server, repo, path):
    r = http.post(
        f"/api/models/{repo}/preupload/main",
        json={"files": [{"path": path, "sample": "", "size": 1}]},
        headers=live_server.auth(),
    )
    assert_error(r, 422, "InvalidPath")


def test_resolve_traversal_is_not_served(live_server, repo):
    """Raw request lines (no client-side dot-segment normalisation) cannot escape the repo."""
    conn = httpclient.HTTPConnection("127.0.0.1", live_server.port, timeout=30)
    try:
        for raw in [
            f"/{repo}/resolve/main/../../../../etc/passwd",
            f"/{repo}/resolve/main/%2E%2E/%2E%2E/etc/passwd",
            f"/{repo}/resolve/main//etc/passwd",
            f"/{repo}/resolve/main/.git/config",
        ]:
            conn.request("GET", raw, headers=live_server.auth())
            resp = conn.getresponse()
            body = resp.read()
            assert 400 <= resp.status < 500, (raw, resp.status)
            assert b"root:" not in body
    finally:
        conn.close()


# --- malformed NDJSON -----------------------------------------------------------------------------------------
MALFORMED = {
    "not json": b'{"key":"header","value":{"summary":"x"}}\n{not json}\n',
    "no header": ndjson(file_line("x.txt")),
    "unknown key": ndjson(header(), {"key": "copyFile", "value": {"path": "x"}}),
    "value not object": ndjson(header(), {"key": "file", "value": "x"}),
    "empty summary": ndjson(header(""), file_line("x.txt")),
    "bad base64": ndjson(
        header(), {"key": "file", "value": {"path": "x.txt", "content": "!!!", "encoding": "base64"}}
    ),
    "no content": ndjson(header(), {"key": "file", "value": {"path": "x.txt"}}),
    "no path": ndjson(header(), {"key": "file", "value": {"content": "eA=="}}),
    "bad lfs oid": ndjson(
        header(), {"key": "lfsFile", "value": {"path": "x.bin", "algo": "sha256", "oid": "zz"}}
    ),
    "bad lfs size": ndjson(
        header(),
        {"key": "lfsFile", "value": {"path": "x.bin", "algo": "sha256", "oid": "a" * 64, "size": -1}},
    ),
    "array line": b"[1,2,3]\n",
    "binary garbage": b"\xff\xfe\x00garbage\n",
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_ndjson(http, live_server, repo, case):
    before = head_sha(http, live_server, repo)
    r = commit(http, live_server, repo, MALFORMED[case])
    assert_error(r, 422, "BadPayload", "Malformed")
    assert head_sha(http, live_server, repo) == before
    assert files_of(http, live_server, repo) == [".gitattributes", "a.txt"]


def test_commit_unknown_lfs_oid_is_rejected(http, live_server, repo):
    before = head_sha(http, live_server, repo)
    oid = hashlib.sha256(b"never uploaded").hexdigest()
    line = {"key": "lfsFile", "value": {"path": "w.bin", "algo": "sha256", "oid": oid, "size": 14}}
    r = commit(http, live_server, repo, ndjson(header(), line))
    assert 400 <= r.status_code < 500
    assert "was not uploaded" in r.json()["error"]
    assert head_sha(http, live_server, repo) == before


def test_commit_delete_missing_file_is_entry_not_found(http, live_server, repo):
    before = head_sha(http, live_server, repo)
    r = commit(
        http, live_server, repo, ndjson(header(), {"key": "deletedFile", "value": {"path": "nope.txt"}})
    )
    assert_error(r, 404, "EntryNotFound", "A file with this name doesn't exist")
    assert head_sha(http, live_server, repo) == before


def test_commit_to_missing_branch(http, live_server, repo):
    r = commit(http, live_server, repo, ndjson(header(), file_line("x.txt")), rev="no-branch")
    assert_error(r, 404, "RevisionNotFound")
    r = commit(http, live_server, repo + "-nope", ndjson(header(), file_line("x.txt")))
    assert_error(r, 404, "RepoNotFound")


def test_create_pr_against_sha_is_revision_not_found(http, live_server, repo):
    sha = head_sha(http, live_server, repo)
    headers = {"content-type": "application/x-ndjson", **live_server.auth()}
    r = http.post(
        f"/api/models/{repo}/commit/{sha}?create_pr=1",
        content=ndjson(header(), file_line("x.txt")),
        headers=headers,
    )
    assert_error(r, 404, "RevisionNotFound")


def test_file_and_folder_clash(http, live_server, repo):
    before = head_sha(http, live_server, repo)
    r = commit(http, live_server, repo, ndjson(header(), file_line("a.txt/inner.txt")))
    assert_error(r, 422, "InvalidPath")
    assert head_sha(http, live_server, repo) == before


# --- LFS upload with a wrong sha256 ---------------------------------------------------------------------------
def lfs_batch(http, live_server, rid: str, oid: str, size: int) -> dict:
    r = http.post(
        f"/{rid}.git/info/lfs/objects/batch",
        json={
            "operation": "upload",
            "transfers": ["basic", "multipart"],
            "objects": [{"oid": oid, "size": size}],
            "hash_algo": "sha256",
            "ref": {"name": "main"},
        },
        headers={
            "accept": "application/vnd.git-lfs+json",
            "content-type": "application/vnd.git-lfs+json",
            **live_server.auth(),
        },
    )
    assert r.status_code == 200, r.text
    (obj,) = r.json()["objects"]
    return obj


def test_lfs_put_with_wrong_sha256(http, live_server, repo):
    store = live_server.services.store
    claimed = os.urandom(4096)
    oid = hashlib.sha256(claimed).hexdigest()
    obj = lfs_batch(http, live_server, repo, oid, len(claimed))
    href = obj["actions"]["upload"]["href"]
    assert href.startswith(live_server.url)
    other = os.urandom(4096)  # same size, different content
    r = httpx.put(href, content=other, timeout=60)
    assert_error(r, 400, "BadChecksum")
    assert oid in r.json()["error"] or "sha256" in r.json()["error"].lower()
    assert not store.exists(oid)
    assert not store.exists(hashlib.sha256(other).hexdigest())
    # more bytes than declared
    r = httpx.put(href, content=claimed + b"extra", timeout=60)
    assert_error(r, 400, "BadChecksum")
    assert not store.exists(oid)
    # verify says it is not there; a commit naming it is refused
    verify = obj["actions"]["verify"]
    r = http.post(verify["href"], json={"oid": oid, "size": len(claimed)}, headers=live_server.auth())
    assert r.status_code == 404
    before = head_sha(http, live_server, repo)
    line = {"key": "lfsFile", "value": {"path": "w.bin", "algo": "sha256", "oid": oid, "size": len(claimed)}}
    assert commit(http, live_server, repo, ndjson(header(), line)).status_code == 400
    assert head_sha(http, live_server, repo) == before
    # the right bytes are then accepted
    r = httpx.put(href, content=claimed, timeout=60)
    assert r.status_code == 200, r.text
    assert store.exists(oid)
    r = http.post(verify["href"], json={"oid": oid, "size": len(claimed)}, headers=live_server.auth())
    assert r.status_code == 200
    assert commit(http, live_server, repo, ndjson(header(), line)).status_code == 200
    # uploading it again: the batch answers "already there" (no actions)
    assert "actions" not in lfs_batch(http, live_server, repo, oid, len(claimed))


def test_lfs_put_with_tampered_signature(http, live_server, repo):
    data = b"signed upload"
    oid = hashlib.sha256(data).hexdigest()
    href = lfs_batch(http, live_server, repo, oid, len(data))["actions"]["upload"]["href"]
    r = httpx.put(href.replace("sig=", "sig=0"), content=data)
    assert_error(r, 403, "Forbidden")
    r = httpx.put(href.replace(f"size={len(data)}", f"size={len(data) + 1}"), content=data + b"!")
    assert_error(r, 403, "Forbidden")
    r = httpx.put(href.split("?")[0], content=data)
    assert_error(r, 403)
    assert not live_server.services.store.exists(oid)


def test_lfs_batch_invalid_objects(http, live_server, repo):
    r = http.post(
        f"/{repo}.git/info/lfs/objects/batch",
        json={"operation": "upload", "objects": [{"oid": "not-a-sha", "size": 3}], "ref": {"name": "main"}},
        headers=live_server.auth(),
    )
    assert r.status_code == 200
    assert r.json()["objects"][0]["error"]["code"] == 422
    r = http.post(
        f"/{repo}.git/info/lfs/objects/batch", json={"operation": "nope"}, headers=live_server.auth()
    )
    assert_error(r, 422)
    r = http.post(f"/{repo}.git/info/lfs/objects/batch", content=b"{bad", headers=live_server.auth())
    assert_error(r, 422)


def test_lfs_batch_needs_write_access(http, live_server, repo):
    body = {"operation": "upload", "objects": [{"oid": "a" * 64, "size": 3}], "ref": {"name": "main"}}
    r = http.post(f"/{repo}.git/info/lfs/objects/batch", json=body)
    assert_error(r, 401)
    r = http.post(
        f"/{repo}.git/info/lfs/objects/batch", json=body, headers=live_server.auth(live_server.alice_read)
    )
    assert_error(r, 403)
    r = http.post(f"/{repo}.git/info/lfs/objects/batch", json=body, headers=live_server.auth(live_server.bob))
    assert_error(r, 403)


# --- repo names ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name",
    [
        "bad--name",
        "a..b",
        "x" * 97,
        "name.git",
        "",
        "sp ace",
        "-lead",
        "trail-",
        "semi;colon",
        "ü",
        "a/b/c",
        ".",
    ],
)
def test_create_repo_invalid_names(http, live_server, name):
    r = http.post("/api/repos/create", json={"name": name, "type": "model"}, headers=live_server.auth())
    assert_error(r, 400)
    assert r.headers["x-error-code"] in {"InvalidRepoName", "BadRequest"}
    assert "Invalid" in r.json()["error"] or "name" in r.json()["error"]
    if name and "/" not in name and name.isprintable() and " " not in name and ";" not in name:
        assert http.get(f"/api/models/alice/{name}", headers=live_server.auth()).status_code == 404


def test_create_repo_bad_bodies(http, live_server):
    h = live_server.auth()
    assert_error(http.post("/api/repos/create", content=b"{nope", headers=h), 422, "BadPayload")
    assert_error(http.post("/api/repos/create", json=["x"], headers=h), 400)
    assert_error(http.post("/api/repos/create", json={"name": "ok-name", "type": "weird"}, headers=h), 400)
    assert_error(
        http.post("/api/repos/create", json={"name": "ok-name", "visibility": "secret"}, headers=h), 400
    )
    assert_error(http.post("/api/repos/create", json={"name": "ok-space", "type": "space"}, headers=h), 400)
    assert http.get("/api/models/alice/ok-name", headers=h).status_code == 404
    assert_error(http.post("/api/repos/create", json={"name": "x", "organization": "bob"}, headers=h), 403)
    assert_error(
        http.post("/api/repos/create", json={"name": "x", "organization": "ghost-org"}, headers=h), 403
    )


# --- tokens ---------------------------------------------------------------------------------------------------------
def test_missing_token(http, live_server, repo):
    assert_error(http.get("/api/whoami-v2"), 401)
    assert_error(http.post("/api/repos/create", json={"name": "anon-x"}), 401)
    assert_error(commit(http, live_server, repo, ndjson(header(), file_line("x.txt")), token=""), 401)
    assert_error(http.post(f"/api/models/{repo}/branch/b"), 401)
    assert_error(http.request("DELETE", "/api/repos/delete", json={"name": repo}), 401)
    assert_error(http.put(f"/api/models/{repo}/settings", json={"private": True}), 401)
    # public reads need no token
    assert http.get(f"/api/models/{repo}").status_code == 200
    assert http.get(f"/{repo}/resolve/main/a.txt").content == b"hello"


@pytest.mark.parametrize("auth", ["Bearer my_invalid", "Bearer", "Basic !!!", "Bearer " + "x" * 5000])
def test_invalid_token(http, live_server, repo, auth):
    before = head_sha(http, live_server, repo)
    r = http.post(
        f"/api/models/{repo}/commit/main",
        content=ndjson(header(), file_line("x.txt")),
        headers={"authorization": auth, "content-type": "application/x-ndjson"},
    )
    assert r.status_code == 401, r.text
    r = http.get("/api/whoami-v2", headers={"authorization": auth})
    assert_error(r, 401)
    assert head_sha(http, live_server, repo) == before


def test_invalid_token_message(http):
    r = http.get("/api/whoami-v2", headers={"authorization": "Bearer my_invalid"})
    assert_error(r, 401, "Unauthorized", "Invalid credentials in Authorization header")
    # an invalid token is refused even on public resources (never silently anonymous)
    r = http.get("/api/models", headers={"authorization": "Bearer my_invalid"})
    assert r.status_code == 401


def test_read_token_cannot_write_raw(http, live_server, repo):
    h = live_server.auth(live_server.alice_read)
    before = head_sha(http, live_server, repo)
    r = http.post(
        f"/api/models/{repo}/commit/main",
        content=ndjson(header(), file_line("x.txt")),
        headers={**h, "content-type": "application/x-ndjson"},
    )
    assert_error(r, 403, "Forbidden")
    assert_error(http.post(f"/api/models/{repo}/tag/main", json={"tag": "t"}, headers=h), 403)
    assert_error(http.put(f"/api/models/{repo}/settings", json={"private": True}, headers=h), 403)
    assert_error(http.post("/api/repos/move", json={"fromRepo": repo, "toRepo": repo + "-2"}, headers=h), 403)
    assert_error(http.post(f"/api/models/{repo}/preupload/main", json={"files": []}, headers=h), 403)
    assert head_sha(http, live_server, repo) == before
    assert http.get(f"/api/models/{repo}", headers=h).json()["private"] is False


def test_other_users_private_repo_is_repo_not_found(http, live_server, api, repo_name):
    rid = f"alice/{repo_name}"
    api.create_repo(rid, private=True)
    api.upload_file(path_or_fileobj=b"s", path_in_repo="s.txt", repo_id=rid)
    for h in ({}, live_server.auth(live_server.bob)):
        for method, url in [
            ("GET", f"/api/models/{rid}"),
            ("GET", f"/api/models/{rid}/tree/main"),
            ("GET", f"/api/models/{rid}/refs"),
            ("GET", f"/api/models/{rid}/commits/main"),
            ("HEAD", f"/{rid}/resolve/main/s.txt"),
            ("GET", f"/{rid}/resolve/main/s.txt"),
            ("POST", f"/api/models/{rid}/paths-info/main"),
        ]:
            r = http.request(method, url, headers=h)
            assert_error(r, 404, "RepoNotFound")
        # and the error does not reveal the repo exists: same answer as a missing repo
        assert (
            http.get(f"/api/models/{rid}-missing", headers=h).json()["error"].replace("-missing", "")
            == (http.get(f"/api/models/{rid}", headers=h).json()["error"])
        )
    r = http.post(
        f"/{rid}.git/info/lfs/objects/batch",
        json={"operation": "download", "objects": []},
        headers=live_server.auth(live_server.bob),
    )
    assert_error(r, 404, "RepoNotFound")


def test_settings_bad_values(http, live_server, repo):
    h = live_server.auth()
    assert_error(http.put(f"/api/models/{repo}/settings", json={"gated": "sometimes"}, headers=h), 400)
    assert_error(http.put(f"/api/models/{repo}/settings", json={"visibility": "hidden"}, headers=h), 400)
    info = http.get(f"/api/models/{repo}", headers=h).json()
    assert info["gated"] is False and info["private"] is False


def test_branch_and_tag_bad_names(http, live_server, repo):
    h = live_server.auth()
    for bad in ["refs%2Fheads%2Fx", "a..b", "bad%20name", "x.lock", "-x"]:
        r = http.post(f"/api/models/{repo}/branch/{bad}", json={}, headers=h)
        assert 400 <= r.status_code < 500, (bad, r.status_code, r.text)
    refs = http.get(f"/api/models/{repo}/refs", headers=h).json()
    assert [b["name"] for b in refs["branches"]] == ["main"]
    assert_error(http.post(f"/api/models/{repo}/tag/main", json={"tag": "a b"}, headers=h), 400)
    assert_error(http.post(f"/api/models/{repo}/tag/main", json={}, headers=h), 400)
    assert_error(
        http.post(f"/api/models/{repo}/branch/x", json={"startingPoint": "nope"}, headers=h),
        404,
        "RevisionNotFound",
    )


def test_unknown_route_and_method(http):
    assert_error(http.get("/api/does-not-exist"), 404)
    assert_error(http.request("PATCH", "/api/whoami-v2"), 405)


# --- wrongly typed JSON fields are 4xx, never 500 -------------------------------------------------------------------
WRONG_TYPES = [
    ("POST", "/api/repos/create", {"name": "t-org-int", "organization": 5}),
    ("POST", "/api/repos/create", {"name": "t-vis-list", "visibility": ["private"]}),
    ("POST", "/api/repos/create", {"name": "t-priv-str", "private": "no"}),
    ("POST", "/api/repos/create", {"name": "t-sdk-int", "type": "space", "sdk": 5}),
    ("DELETE", "/api/repos/delete", {"name": "x", "organization": 3}),
    ("PUT", "/api/models/{rid}/settings", {"gated": ["auto"]}),
    ("PUT", "/api/models/{rid}/settings", {"private": "false"}),
    ("POST", "/api/models/{rid}/paths-info/main", [1]),
    ("POST", "/api/models/{rid}/paths-info/main", {"paths": [1, None]}),
    ("POST", "/api/models/{rid}/preupload/main", {"files": ["a.txt"]}),
    ("POST", "/api/models/{rid}/preupload/main", {"files": [{"path": "a.txt", "size": "big"}]}),
    ("POST", "/api/models/{rid}/preupload/main", {"files": [{"path": "a.txt", "size": 1, "sample": 5}]}),
    ("POST", "/api/models/{rid}/branch/b-int", {"startingPoint": 5}),
    ("POST", "/api/models/{rid}/tag/main", {"tag": "t-int", "message": 5}),
    ("POST", "/api/models/{rid}/super-squash/main", {"message": 5}),
    ("POST", "/{rid}.git/info/lfs/objects/batch", {"operation": "upload", "objects": [], "ref": 5}),
]


@pytest.mark.parametrize(
    ("method", "url", "body"), WRONG_TYPES, ids=[f"{m} {u} {b}" for m, u, b in WRONG_TYPES]
)
def test_wrong_json_types_are_4xx(http, live_server, repo, method, url, body):
    before = head_sha(http, live_server, repo)
    r = http.request(method, url.format(rid=repo), json=body, headers=live_server.auth())
    if "lfs/objects/batch" in url:
        assert r.status_code < 500, r.text  # an odd `ref` is ignored, not a crash
    else:
        assert_error(r, r.status_code)
        assert 400 <= r.status_code < 500, (r.status_code, r.text)
    assert head_sha(http, live_server, repo) == before
    refs = http.get(f"/api/models/{repo}/refs", headers=live_server.auth()).json()
    assert [b["name"] for b in refs["branches"]] == ["main"] and refs["tags"] == []
    assert http.get(f"/api/models/{repo}", headers=live_server.auth()).json()["private"] is False
    for name in ("t-org-int", "t-vis-list", "t-priv-str"):
        assert http.get(f"/api/models/alice/{name}", headers=live_server.auth()).status_code == 404


@pytest.mark.parametrize(
    ("body", "ctype"),
    [
        (b"{bad", "application/json"),
        (b"\xff\xfe", "application/json"),
        (b"\xff\xfe", "application/x-www-form-urlencoded"),
    ],
)
def test_paths_info_unparsable_bodies(http, live_server, repo, body, ctype):
    headers = {**live_server.auth(), "content-type": ctype}
    r = http.post(f"/api/models/{repo}/paths-info/main", content=body, headers=headers)
    assert 400 <= r.status_code < 500, (ctype, r.status_code, r.text)


@pytest.mark.parametrize("query", ["cursor=-1", "limit=0", "limit=-3", "cursor=abc"])
def test_tree_bad_pagination_params(http, live_server, repo, query):
    r = http.get(f"/api/models/{repo}/tree/main?{query}", headers=live_server.auth())
    assert_error(r, 400, "BadRequest")


def test_commits_negative_page(http, live_server, repo):
    assert_error(
        http.get(f"/api/models/{repo}/commits/main?p=-1", headers=live_server.auth()), 400, "BadRequest"
    )
