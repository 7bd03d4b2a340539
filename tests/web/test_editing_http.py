"""Repo editing pages over HTTP (the attacker's side): new repo, upload, new/edit/delete files, the card editor.

Each state-changing route is tried as its owner (it works), anonymously, as another user, with a read-only token's
session, without or with a foreign CSRF token, and with hostile paths and bodies (400/413/422 in the Hub's error
format, never a 500)."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from huggingface_hub import CommitOperationAdd, hf_hub_download
from tests.web._http import csrf_of, error_code, web_client

from _xet_client import safetensors_bytes

README = "---\nlicense: mit\ntags: [a]\nwidget:\n- text: hi\n---\n# Title\n\nBody text.\n"


def _repo(hub: Any, private: bool = False) -> str:
    repo = f"alice/edit-{uuid.uuid4().hex[:8]}"
    api = hub.api()
    api.create_repo(repo, private=private)
    api.create_commit(
        repo,
        [
            CommitOperationAdd("README.md", README.encode()),
            CommitOperationAdd("config.json", b'{"hidden_size": 8}\n'),
            CommitOperationAdd("sub/notes.txt", b"notes\n"),
            CommitOperationAdd("model.safetensors", safetensors_bytes({"w": ("F32", [4, 4])})),
        ],
        commit_message="seed",
    )
    return repo


def _text(hub: Any, repo: str, path: str, rev: str = "main") -> str:
    return open(hf_hub_download(repo, path, revision=rev, endpoint=hub.url, token=hub.alice)).read()


def test_new_repo(live_server: Any) -> None:
    hub = live_server
    alice, token = web_client(hub.url, hub.alice)
    page = alice.get("/new")
    assert page.status_code == 200 and 'id="new-repo-form"' in page.text
    assert '<option value="acme"' in page.text and '<option value="alice"' in page.text
    name = f"made-{uuid.uuid4().hex[:6]}"
    form = {"csrf_token": token, "owner": "acme", "name": name, "license": "apache-2.0", "gated": "manual"}
    r = alice.post("/new", data={**form, "private": "on"})
    assert r.status_code == 303 and r.headers["location"] == f"/acme/{name}", r.text[:300]
    info = hub.api().model_info(f"acme/{name}")
    assert info.private and info.gated == "manual" and info.card_data["license"] == "apache-2.0"
    assert hub.api().list_repo_commits(f"acme/{name}")[0].title == "Initial commit"
    # the same name again: 409 and the form with the message; a bad name: 400; a bad license or gating: 400
    again = alice.post("/new", data=form)
    assert again.status_code == 409 and 'role="alert"' in again.text and 'id="new-repo-form"' in again.text
    for bad, status in (
        ({"name": "bad name!"}, 400),
        ({"name": "x--y"}, 400),
        ({"license": "not-a-license"}, 400),
        ({"gated": "sometimes"}, 400),
    ):
        r = alice.post("/new", data={**form, "name": f"ok-{uuid.uuid4().hex[:6]}", **bad})
        assert r.status_code == status and 'role="alert"' in r.text, (bad, r.status_code)
    # a dataset and a space (with its SDK)
    ds = alice.post(
        "/new-dataset", data={"csrf_token": token, "owner": "alice", "name": name, "license": "mit"}
    )
    assert ds.status_code == 303 and ds.headers["location"] == f"/datasets/alice/{name}"
    sp = alice.post(
        "/new-space",
        data={"csrf_token": token, "owner": "alice", "name": name, "sdk": "static", "license": "mit"},
    )
    assert sp.status_code == 303 and hub.api().space_info(f"alice/{name}").sdk == "static"
    assert hub.api().space_info(f"alice/{name}").card_data["license"] == "mit"  # added to the Space's README
    assert alice.post("/new-space", data={"csrf_token": token, "name": name + "x"}).status_code == 400


def test_new_repo_refused(live_server: Any) -> None:
    hub = live_server
    anon, anon_token = web_client(hub.url)
    assert anon.get("/new").status_code == 303  # to the login page
    r = anon.post("/new", data={"csrf_token": anon_token, "name": "nope"})
    assert r.status_code == 401
    reader, reader_token = web_client(hub.url, hub.alice_read)
    assert "Create repository" in reader.get("/new").text and "read-only" in reader.get("/new").text
    r = reader.post("/new", data={"csrf_token": reader_token, "name": f"ro-{uuid.uuid4().hex[:6]}"})
    assert r.status_code == 403
    bob, bob_token = web_client(hub.url, hub.bob)
    assert '<option value="acme"' not in bob.get("/new").text  # not a member
    r = bob.post("/new", data={"csrf_token": bob_token, "owner": "acme", "name": f"x-{uuid.uuid4().hex[:6]}"})
    assert r.status_code == 403
    alice, _ = web_client(hub.url, hub.alice)
    for data in ({"name": "nocsrf"}, {"name": "foreign", "csrf_token": bob_token}):
        r = alice.post("/new", data=data)
        assert r.status_code == 403 and error_code(r) == "CsrfTokenInvalid"


def test_edit_new_delete(live_server: Any) -> None:
    hub = live_server
    repo = _repo(hub)
    alice, token = web_client(hub.url, hub.alice)
    page = alice.get(f"/{repo}/edit/main/config.json")
    assert page.status_code == 200 and "hidden_size" in page.text
    parent = page.text.split('name="parent" value="')[1].split('"')[0]
    r = alice.post(
        f"/{repo}/edit/main/config.json",
        data={"csrf_token": token, "content": '{"hidden_size": 16}\n', "summary": "Bigger", "parent": parent},
    )
    assert r.status_code == 303 and r.headers["location"] == f"/{repo}/blob/main/config.json"
    assert _text(hub, repo, "config.json") == '{"hidden_size": 16}\n'
    assert hub.api().list_repo_commits(repo)[0].title == "Bigger"
    # the same stale parent again: 412, nothing committed
    stale = alice.post(
        f"/{repo}/edit/main/config.json", data={"csrf_token": token, "content": "x", "parent": parent}
    )
    assert stale.status_code == 412
    # new file (into a folder), then a clash with an existing file
    assert 'value="sub/"' in alice.get(f"/{repo}/new/main?path=sub").text
    r = alice.post(
        f"/{repo}/new/main", data={"csrf_token": token, "path": "sub/new.md", "content": "# New\n"}
    )
    assert r.status_code == 303 and _text(hub, repo, "sub/new.md") == "# New\n"
    r = alice.post(f"/{repo}/new/main", data={"csrf_token": token, "path": "sub/new.md", "content": "again"})
    assert r.status_code == 409 and 'role="alert"' in r.text
    # delete: a confirmation page, then the commit; a folder too
    assert "Delete file" in alice.get(f"/{repo}/delete/main/sub/new.md").text
    r = alice.post(f"/{repo}/delete/main/sub/new.md", data={"csrf_token": token, "summary": "Remove it"})
    assert r.status_code == 303 and r.headers["location"] == f"/{repo}/tree/main/sub"
    r = alice.post(f"/{repo}/delete/main/sub", data={"csrf_token": token})
    assert r.status_code == 303
    files = set(hub.api().list_repo_files(repo))
    assert "sub/new.md" not in files and "sub/notes.txt" not in files and "config.json" in files
    # as a pull request: the branch is unchanged, the PR's ref has the change
    r = alice.post(
        f"/{repo}/edit/main/config.json",
        data={"csrf_token": token, "content": "{}\n", "summary": "Proposal", "create_pr": "1"},
    )
    assert r.status_code == 303 and "/discussions/" in r.headers["location"]
    num = int(r.headers["location"].rsplit("/", 1)[1])
    assert _text(hub, repo, "config.json") == '{"hidden_size": 16}\n'
    assert _text(hub, repo, "config.json", f"refs/pr/{num}") == "{}\n"


def test_card_editor_server_side(live_server: Any) -> None:
    hub = live_server
    repo = _repo(hub)
    alice, token = web_client(hub.url, hub.alice)
    page = alice.get(f"/{repo}/edit/main/README.md")
    assert 'id="card-editor"' in page.text and 'id="card-preview"' in page.text and "Body text." in page.text
    base = {
        "csrf_token": token,
        "content": "# Title\n\nNew **body**.\n",
        "metadata_yaml": "widget:\n- text: hi\n",
    }
    meta = {
        "license": "apache-2.0",
        "tags": "x, y",
        "language": "en, fr",
        "pipeline_tag": "text-classification",
    }
    preview = alice.post(f"/{repo}/card-preview", data={**base, **meta})
    assert preview.status_code == 200 and "<strong>body</strong>" in preview.json()["html"]
    assert preview.json()["errors"] == []
    bad = alice.post(f"/{repo}/card-preview", data={**base, **meta, "license": "nope"}).json()
    assert bad["errors"] and "license" in bad["errors"][0]
    # invalid metadata: 422 with the message, nothing committed
    before = hub.api().model_info(repo).sha
    for wrong in ({"license": "nope"}, {"metadata_yaml": "a: [1"}, {"metadata_yaml": "- a list"}):
        r = alice.post(f"/{repo}/edit/main/README.md", data={**base, **meta, **wrong})
        assert r.status_code == 422 and 'id="card-errors"' in r.text and "<li>" in r.text, wrong
    assert hub.api().model_info(repo).sha == before
    r = alice.post(f"/{repo}/edit/main/README.md", data={**base, **meta, "summary": "Card"})
    assert r.status_code == 303
    card = hub.api().model_info(repo).card_data
    assert card["license"] == "apache-2.0" and card["tags"] == ["x", "y"] and card["language"] == ["en", "fr"]
    assert card["widget"] == [{"text": "hi"}] and "New **body**." in _text(hub, repo, "README.md")
    # a repo without a card: the editor starts empty and creates it
    empty = f"alice/nocard-{uuid.uuid4().hex[:6]}"
    hub.api().create_repo(empty)
    assert 'id="card-editor"' in alice.get(f"/{empty}/edit/main/README.md").text
    r = alice.post(f"/{empty}/edit/main/README.md", data={**base, **meta})
    assert r.status_code == 303 and hub.api().model_info(empty).card_data["license"] == "apache-2.0"
    # a whole file pasted into `content` keeps its front matter (the form's fields win)
    whole = {
        "csrf_token": token,
        "content": "---\nlibrary_name: timm\n---\n# T\n",
        "metadata_yaml": "",
        **meta,
    }
    assert alice.post(f"/{repo}/edit/main/README.md", data=whole).status_code == 303
    card = hub.api().model_info(repo).card_data
    assert card["library_name"] == "timm" and card["license"] == "apache-2.0"


def test_upload_without_javascript(live_server: Any) -> None:
    hub = live_server
    repo = _repo(hub)
    alice, token = web_client(hub.url, hub.alice)
    assert 'id="upload-files"' in alice.get(f"/{repo}/upload/main").text
    weights = safetensors_bytes({"a": ("F16", [8, 8])}, tag="nojs")
    files = [
        ("files", ("weights.safetensors", weights, "application/octet-stream")),
        ("files", ("readme.txt", b"hello\n", "text/plain")),
    ]
    r = alice.post(
        f"/{repo}/upload/main",
        data={"csrf_token": token, "summary": "Upload via form", "folder": "up"},
        files=files,
    )
    assert r.status_code == 303 and r.headers["location"] == f"/{repo}/tree/main", r.text[:300]
    tree = {e.path: e for e in hub.api().list_repo_tree(repo, "up")}
    assert tree["up/weights.safetensors"].lfs is not None and tree["up/readme.txt"].lfs is None
    got = Path(
        hf_hub_download(repo, "up/weights.safetensors", endpoint=hub.url, token=hub.alice)
    ).read_bytes()
    assert got == weights
    none = alice.post(f"/{repo}/upload/main", data={"csrf_token": token}, files=[("files", ("", b"", "x/y"))])
    assert none.status_code == 400
    for hostile in ("../x.txt", "a/../../b", ".git/config", "/abs.txt", "a//b"):
        r = alice.post(
            f"/{repo}/upload/main", data={"csrf_token": token}, files=[("files", (hostile, b"x", "t/p"))]
        )
        assert r.status_code in (400, 422), (hostile, r.status_code)


def _raw_post(url: str, path: str, length: int, cookie: str) -> int:
    """POST a request announcing `length` bytes but sending few: the server must refuse it without reading."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as s:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: multipart/form-data; boundary=x\r\n"
            f"Content-Length: {length}\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n"
        )
        s.sendall(head.encode() + b"--x\r\n")
        return int(s.recv(4096).split(b" ", 2)[1])


def test_hostile_requests(live_server: Any) -> None:
    hub = live_server
    repo = _repo(hub)
    alice, token = web_client(hub.url, hub.alice)
    # hostile paths: never a 500, never a file outside the repo's tree
    for path in (
        "../../etc/passwd",
        "..%2F..%2Fx",
        "%2Fetc%2Fpasswd",
        ".git/config",
        "a%01b",
        "sub/%2E%2E/config.json",
    ):
        for route in ("edit", "delete"):
            r = alice.get(f"/{repo}/{route}/main/{path}")
            assert r.status_code in (400, 404, 405, 422), (route, path, r.status_code)  # `..`: another route
            r = alice.post(f"/{repo}/{route}/main/{path}", data={"csrf_token": token, "content": "x"})
            assert r.status_code in (400, 404, 405, 422), (route, path, r.status_code)  # `..`: another route
    for path in ("../x", "/abs", "a\x01b", ".git/config", "a//b", ""):
        r = alice.post(f"/{repo}/new/main", data={"csrf_token": token, "path": path, "content": "x"})
        assert r.status_code in (400, 422) and 'role="alert"' in r.text, (path, r.status_code)
    # LFS/Xet files and binary files are not edited as text
    r = alice.get(f"/{repo}/edit/main/model.safetensors")
    assert r.status_code == 422 and error_code(r) == "FileNotEditable"
    r = alice.post(f"/{repo}/edit/main/model.safetensors", data={"csrf_token": token, "content": "x"})
    assert r.status_code == 422 and error_code(r) == "FileNotEditable"
    # oversize: a text over the editor's cap, a body over the form's, an upload announcing more than allowed
    big = alice.post(
        f"/{repo}/new/main", data={"csrf_token": token, "path": "big.txt", "content": "x" * 1_100_000}
    )
    assert big.status_code == 413
    bigger = alice.post(
        f"/{repo}/edit/main/config.json", data={"csrf_token": token, "content": "x" * 3_200_000}
    )
    assert bigger.status_code == 413 and error_code(bigger) == "TooLarge"
    cookie = "; ".join(f"{k}={v}" for k, v in alice.cookies.items())
    assert _raw_post(hub.url, f"/{repo}/upload/main", 200 * 1024 * 1024, cookie) == 413
    assert "big.txt" not in hub.api().list_repo_files(repo)


@pytest.mark.parametrize("who", ["anonymous", "reader", "bob", "no csrf", "foreign csrf"])
def test_refused(live_server: Any, who: str) -> None:
    hub = live_server
    repo = _repo(hub)
    private = _repo(hub, private=True)
    token_of = {"anonymous": None, "reader": hub.alice_read, "bob": hub.bob}
    client, token = web_client(hub.url, token_of.get(who, hub.alice))
    if who == "foreign csrf":
        token = web_client(hub.url, hub.bob)[1]
    elif who == "no csrf":
        token = ""
    before = hub.api().model_info(repo).sha
    posts = [
        ("edit/main/config.json", {"content": "pwned"}, None),
        ("new/main", {"path": "pwned.txt", "content": "pwned"}, None),
        ("delete/main/config.json", {}, None),
        ("upload/main", {}, [("files", ("pwned.txt", b"pwned", "text/plain"))]),
    ]
    for route, data, files in posts:
        body = {**data, **({"csrf_token": token} if token else {})}
        r = client.post(f"/{repo}/{route}", data=body, files=files)
        if who in ("no csrf", "foreign csrf"):
            assert r.status_code == 403 and error_code(r) == "CsrfTokenInvalid", (route, r.status_code)
        elif who == "anonymous":
            assert r.status_code == 401, (route, r.status_code)
        elif who == "reader":
            assert r.status_code == 403, (route, r.status_code)
        else:  # bob may not write: his change becomes a pull request, main stays as it was
            assert r.status_code == 303 and "/discussions/" in r.headers["location"], (route, r.status_code)
        # nobody but alice sees or edits her private repo: 404 (her read-only token: 403)
        r = client.post(f"/{private}/{route}", data=body, files=files)
        if who in ("anonymous", "bob"):
            assert r.status_code == 404, (route, r.status_code)
        elif who == "reader":
            assert r.status_code == 403, (route, r.status_code)
    assert hub.api().model_info(repo).sha == before
    for route in ("edit/main/config.json", "new/main", "delete/main/config.json", "upload/main"):
        r = client.get(f"/{private}/{route}")
        if who in ("anonymous", "bob"):
            assert r.status_code == 404, (route, r.status_code)
        page = client.get(f"/{repo}/{route}")
        if who == "anonymous":
            assert page.status_code == 303 and page.headers["location"].startswith("/login")
        elif who == "reader":
            assert page.status_code == 403
        elif who == "bob":
            assert page.status_code == 200 and "proposed as a pull request" in page.text
    # the files page shows the edit links to those who may use them only
    links = client.get(f"/{repo}/tree/main").text
    assert ("Upload files" in links) == (who in ("bob", "no csrf", "foreign csrf"))


def test_csrf_token_in_pages(live_server: Any) -> None:
    """Every edit page's form carries the session's token (the one its POST needs)."""
    hub = live_server
    repo = _repo(hub)
    alice, token = web_client(hub.url, hub.alice)
    for route in ("edit/main/README.md", "new/main", "delete/main/config.json", "upload/main"):
        assert csrf_of(alice.get(f"/{repo}/{route}").text) == token
    assert csrf_of(alice.get("/new").text) == token
