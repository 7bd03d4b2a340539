"""Issue 10 §3: existing routes behave as on the Hub, driven through the official client (huggingface_hub).

HEAD as a revision, repo ids without a namespace, the Hub's error texts, backslashes in paths, preupload and the
repo's .gitignore, validate-yaml, the default README of a Space, and the Xet v2 routes hf_xet tries first."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import httpx
import pytest
from huggingface_hub import CommitOperationAdd, HfApi, ModelCard, hf_hub_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)


def _upload(api: HfApi, repo: str, path: str, data: bytes, **kw: Any) -> Any:
    return api.upload_file(path_or_fileobj=io.BytesIO(data), path_in_repo=path, repo_id=repo, **kw)


# --- HEAD as a revision ------------------------------------------------------------------------------------
def test_head_revision_everywhere(live_server: Any, repo_name: str, tmp_path: Path) -> None:
    hub = live_server
    api = hub.api()
    repo = f"alice/{repo_name}"
    api.create_repo(repo_name)
    sha = _upload(api, repo, "dir/config.json", b'{"a": 1}').oid
    assert api.model_info(repo, revision="HEAD").sha == sha
    assert api.revision_exists(repo, "HEAD")
    files = {e.path for e in api.list_repo_tree(repo, revision="HEAD", recursive=True)}
    assert "dir/config.json" in files
    [info] = api.get_paths_info(repo, ["dir/config.json"], revision="HEAD")
    assert info.size == 8
    p = hf_hub_download(repo, "dir/config.json", revision="HEAD", cache_dir=tmp_path)
    assert Path(p).read_bytes() == b'{"a": 1}'
    assert next(iter(api.list_repo_commits(repo, revision="HEAD"))).commit_id == sha
    r = httpx.get(f"{hub.url}/{repo}/raw/HEAD/dir/config.json", headers=hub.auth())
    assert r.status_code == 200 and r.content == b'{"a": 1}' and r.headers["x-repo-commit"] == sha
    # a commit to HEAD lands on the default branch
    _upload(api, repo, "b.txt", b"b", revision="HEAD")
    assert api.file_exists(repo, "b.txt", revision="main")


# --- repo ids without a namespace --------------------------------------------------------------------------
NO_NS_CALLS = [
    ("model_info", lambda api: api.model_info("gpt2")),
    ("model_info_rev", lambda api: api.model_info("gpt2", revision="main")),
    ("dataset_info", lambda api: api.dataset_info("squad")),
    ("list_repo_tree", lambda api: list(api.list_repo_tree("gpt2"))),
    ("list_repo_refs", lambda api: api.list_repo_refs("gpt2")),
    ("list_repo_commits", lambda api: api.list_repo_commits("gpt2")),
    ("get_paths_info", lambda api: api.get_paths_info("gpt2", ["config.json"])),
    ("file_exists_via_hf_hub_download", lambda api: api.hf_hub_download("gpt2", "config.json")),
    ("get_hf_file_metadata", lambda api: api.get_hf_file_metadata(url=_url("gpt2"))),
    ("unlike", lambda api: api.unlike("gpt2")),
    ("list_repo_likers", lambda api: list(api.list_repo_likers("gpt2"))),
    ("create_branch", lambda api: api.create_branch("gpt2", branch="x")),
    ("delete_branch", lambda api: api.delete_branch("gpt2", branch="x")),
    ("create_tag", lambda api: api.create_tag("gpt2", tag="v1")),
    ("update_repo_settings", lambda api: api.update_repo_settings("gpt2", private=True)),
    ("auth_check", lambda api: api.auth_check("gpt2")),
    ("list_discussions", lambda api: list(api.get_repo_discussions("gpt2"))),
    ("create_discussion", lambda api: api.create_discussion("gpt2", title="hello")),
    ("upload_file", lambda api: api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id="gpt2")),
    ("super_squash", lambda api: api.super_squash_history("gpt2")),
    ("list_lfs_files", lambda api: list(api.list_lfs_files("gpt2"))),
]


def _url(repo: str) -> str:
    from huggingface_hub import constants

    return f"{constants.ENDPOINT}/{repo}/resolve/main/config.json"


@pytest.mark.parametrize("call", [c for _, c in NO_NS_CALLS], ids=[n for n, _ in NO_NS_CALLS])
@pytest.mark.parametrize("who", ["alice", "anonymous"])
def test_repo_id_without_namespace_is_repo_not_found(live_server: Any, call: Any, who: str) -> None:
    api = live_server.api() if who == "alice" else HfApi(endpoint=live_server.url, token=False)
    with pytest.raises(RepositoryNotFoundError) as e:
        call(api)
    r = e.value.response
    assert r is not None and r.status_code in (401, 404), r
    assert r.headers["x-error-code"] == "RepoNotFound"
    assert r.headers["x-error-message"] == "Repository not found"


@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "/gpt2/resolve/main/config.json"),
        ("HEAD", "/gpt2/resolve/main/config.json"),
        ("GET", "/gpt2/raw/main/config.json"),
        ("GET", "/datasets/squad/resolve/main/x.csv"),
        ("POST", "/api/models/gpt2/like"),  # like has no HfApi call; the web UI and JS client use it
        ("DELETE", "/api/models/gpt2/like"),
        ("GET", "/api/spaces/gpt2/revision/main"),
        ("POST", "/api/models/gpt2/preupload/main"),
    ],
)
def test_without_namespace_plain_http(live_server: Any, method: str, path: str) -> None:
    for _ in (1,):
        r = httpx.request(method, live_server.url + path)
        assert r.status_code == 404 and r.headers["x-error-code"] == "RepoNotFound", (method, r.status_code)


def test_hub_repo_id_rule_accepts_underscores(live_server: Any, repo_name: str) -> None:
    api = live_server.api()
    for name in (f"_{repo_name}", f"{repo_name}_", f"__{repo_name}__"):
        url = api.create_repo(name)
        assert url.repo_id == f"alice/{name}"
        assert api.model_info(f"alice/{name}").id == f"alice/{name}"
    for bad in (f"-{repo_name}", f"{repo_name}.", f"{repo_name}--x"):
        r = httpx.post(f"{live_server.url}/api/repos/create", json={"name": bad}, headers=live_server.auth())
        assert r.status_code == 400, (bad, r.status_code)


# --- error texts --------------------------------------------------------------------------------------------
def test_error_texts_as_on_the_hub(live_server: Any, repo_name: str) -> None:
    hub = live_server
    api = hub.api()
    repo = f"alice/{repo_name}"
    api.create_repo(repo_name, private=True)
    with pytest.raises(RepositoryNotFoundError) as e:
        HfApi(endpoint=hub.url, token=hub.bob).model_info(repo)
    assert e.value.response.headers["x-error-message"] == "Repository not found"
    assert repo_name not in e.value.response.text  # the private repo's name is not echoed
    with pytest.raises(RevisionNotFoundError) as e2:
        api.model_info(repo, revision="nope")
    assert e2.value.response.headers["x-error-message"] == "Revision not found"
    with pytest.raises(EntryNotFoundError) as e3:
        api.hf_hub_download(repo, "missing.txt")
    r = httpx.get(f"{hub.url}/{repo}/resolve/main/missing.txt", headers=hub.auth())
    assert r.status_code == 404 and r.headers["x-error-message"] == "Entry not found"
    assert r.headers["x-error-code"] == "EntryNotFound" and e3.value is not None


def test_tag_on_missing_revision_is_404_before_name_check(live_server: Any, repo_name: str) -> None:
    api = live_server.api()
    api.create_repo(repo_name)
    with pytest.raises(RevisionNotFoundError):
        api.create_tag(f"alice/{repo_name}", tag="bad..name", revision="no-such-branch")
    with pytest.raises(Exception) as e:
        api.create_tag(f"alice/{repo_name}", tag="bad..name", revision="main")
    assert e.value.response.status_code == 400  # type: ignore[attr-defined]


# --- backslashes --------------------------------------------------------------------------------------------
def test_backslash_is_a_literal_path_character(live_server: Any, repo_name: str, tmp_path: Path) -> None:
    hub = live_server
    api = hub.api()
    repo = f"alice/{repo_name}"
    api.create_repo(repo_name)
    api.create_commit(
        repo,
        [
            CommitOperationAdd("a\\b.txt", b"backslash"),
            CommitOperationAdd("..\\evil", b"not a traversal"),
            CommitOperationAdd("d\\..\\..\\x.txt", b"nor this"),
        ],
        commit_message="backslashes",
    )
    files = set(api.list_repo_files(repo))
    assert {"a\\b.txt", "..\\evil", "d\\..\\..\\x.txt"} <= files
    assert not any(f.startswith(("a/", "d/")) or f == "evil" for f in files)
    p = hf_hub_download(repo, "a\\b.txt", cache_dir=tmp_path)
    assert Path(p).read_bytes() == b"backslash"
    [info] = api.get_paths_info(repo, ["..\\evil"])
    assert info.path == "..\\evil" and info.size == len(b"not a traversal")
    # snapshots (what endpoints load) keep them as names inside the snapshot directory
    from modelyard.hub.snapshots import materialize
    from modelyard.types import RepoType

    svc = hub.services
    dest = tmp_path / "snap"
    snap = materialize(svc.db, svc.content, RepoType.MODEL, repo, "main", dest)
    assert (snap / "a\\b.txt").read_bytes() == b"backslash"
    assert (snap / "..\\evil").read_bytes() == b"not a traversal"
    outside = [p for p in dest.rglob("*") if snap not in p.parents and p != snap and p.is_file()]
    assert outside == [] and not (dest / "evil").exists() and not (tmp_path / "x.txt").exists()


# --- preupload and .gitignore -------------------------------------------------------------------------------
def test_preupload_honours_the_repo_gitignore(live_server: Any, repo_name: str) -> None:
    api = live_server.api()
    repo = f"alice/{repo_name}"
    api.create_repo(repo_name)
    _upload(api, repo, ".gitignore", b"*.log\n!keep.log\nbuild/\n")
    api.create_commit(
        repo,
        [
            CommitOperationAdd("run.log", b"ignored"),
            CommitOperationAdd("keep.log", b"kept"),
            CommitOperationAdd("build/out.txt", b"ignored"),
            CommitOperationAdd("src/main.py", b"kept"),
        ],
        commit_message="with ignored files",
    )
    files = set(api.list_repo_files(repo))
    assert {"keep.log", "src/main.py", ".gitignore"} <= files
    assert "run.log" not in files and "build/out.txt" not in files


# --- validate-yaml ------------------------------------------------------------------------------------------
def test_validate_yaml_matches_the_hub(live_server: Any) -> None:
    ok = ModelCard("\n---\nlicense: mit\n---\n# Card\n")
    ok.validate()  # front matter after a leading newline
    assert ok.data.license == "mit"
    with pytest.raises(ValueError, match="license"):
        ModelCard("---\nlicense: not-a-license\n---\n").validate()
    # a model-index the client cannot parse is refused before sending; what validate() would send, sent as is
    r = httpx.post(
        f"{live_server.url}/api/validate-yaml",
        json={"content": "---\nmodel-index:\n- results:\n  - task: {}\n---\n", "repoType": "model"},
    )
    assert r.status_code == 400 and "model-index" in r.text
    good = "---\nlicense: [apache-2.0, mit]\nmodel-index:\n- name: m\n  results:\n  - task: {type: text-classification}\n    dataset: {type: imdb, name: IMDb}\n    metrics: [{type: accuracy, value: 0.9}]\n---\n"
    ModelCard(good).validate()


# --- Spaces -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("sdk", ["gradio", "docker", "static"])
def test_space_created_with_default_readme(live_server: Any, repo_name: str, sdk: str) -> None:
    api = live_server.api()
    repo = f"alice/{repo_name}-{sdk}"
    api.create_repo(repo, repo_type="space", space_sdk=sdk)
    assert set(api.list_repo_files(repo, repo_type="space")) == {".gitattributes", "README.md"}
    info = api.space_info(repo)
    assert info.sdk == sdk
    assert info.card_data is not None and info.card_data.get("sdk") == sdk
    text = Path(api.hf_hub_download(repo, "README.md", repo_type="space")).read_text()
    assert text.startswith("---\ntitle: ") and f"\nsdk: {sdk}\n" in text and "colorFrom:" in text


# --- Xet v2: what current hf_xet tries first is served ------------------------------------------------------
def _record_cas(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, int]]:
    """Record (method, path, status) of every CAS request of hubs started after this call."""
    import modelyard.server.app as app_mod

    seen: list[tuple[str, str, int]] = []
    real = app_mod.create_cas_app

    def recording(svc: Any) -> Any:
        inner = real(svc)

        async def app(scope: Any, receive: Any, send: Any) -> None:
            async def spy(message: Any) -> None:
                if message["type"] == "http.response.start":
                    seen.append((scope["method"], scope["path"], message["status"]))
                await send(message)

            await inner(scope, receive, spy)

        return app

    monkeypatch.setattr(app_mod, "create_cas_app", recording)
    return seen


def test_default_client_uses_xet_v2_without_fallbacks(
    hub_factory: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import hashlib

    from tests.e2e.test_xet_hub import run_client, write_random

    seen = _record_cas(monkeypatch)
    hub = hub_factory()
    hub.api().create_repo("xet-v2")
    folder = tmp_path / "up"
    folder.mkdir()
    digest = write_random(folder / "w.bin", 3_000_000, seed=7)
    res = run_client(hub, tmp_path / "c1", True, "upload_folder", "alice/xet-v2", str(folder))
    assert res["xet_disabled"] is False
    down = run_client(hub, tmp_path / "c2", True, "download", "alice/xet-v2", "w.bin")
    assert down["sha256"] == digest
    routes = [(m, "/".join(p.removeprefix("/xet-cas/").split("/")[:2]), st) for m, p, st in seen]
    assert ("POST", "v2/shards", 200) in routes, seen
    assert ("GET", "v2/reconstructions", 200) in routes, seen
    assert ("POST", "v1/xorb-grants", 201) in routes, seen
    assert ("PUT", "v1/xorb-uploads", 200) in routes, seen
    assert ("POST", "v1/xorb-commits", 200) in routes, seen
    # no fallback: nothing answered 404 (except global-dedupe misses), and the v1 variants were never needed
    assert [r for r in routes if r[2] == 404 and r[1] != "v1/chunks"] == [], seen
    v1 = {("POST", "v1/shards"), ("GET", "v1/reconstructions"), ("POST", "v1/xorbs")}
    assert not any(r[:2] in v1 for r in routes), seen
    assert hashlib.sha256((tmp_path / "up" / "w.bin").read_bytes()).hexdigest() == digest
