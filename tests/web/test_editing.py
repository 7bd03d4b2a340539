"""Repo editing in Chromium with JavaScript on: create a model, upload weights (files, a folder, a drop) with
progress through the clients' upload path (preupload, LFS batch, NDJSON commit), resume a multipart upload, edit the
card with the metadata form and its live preview, and propose changes as another user (pull requests)."""

from __future__ import annotations

import hashlib
import re
import uuid
from pathlib import Path
from typing import Any

from huggingface_hub import CommitOperationAdd, hf_hub_download
from tests.web._browser import axe, login, no_sideways_scroll, shot

from _xet_client import safetensors_bytes


def _progress(page: Any) -> dict[str, int]:
    rows = page.eval_on_selector_all(
        ".upload-item",
        "els => els.map(e => [e.querySelector('.upload-path').textContent, "
        "e.querySelector('.upload-progress').value])",
    )
    return {path: int(value) for path, value in rows}


def _hold(page: Any, pattern: str) -> list[Any]:
    """Hold the requests matching `pattern` (the test continues them), so the page can be seen mid-upload."""
    held: list[Any] = []
    page.route(re.compile(pattern), lambda route: held.append(route))
    return held


def _wait_for(page: Any, held: list[Any]) -> Any:
    for _ in range(300):
        if held:
            return held.pop(0)
        page.wait_for_timeout(50)
    raise AssertionError("the request never came")


def test_create_upload_and_edit_card(live_server: Any, page: Any, tmp_path: Path) -> None:
    hub = live_server
    login(page, hub.url, hub.alice)
    name = f"browser-{uuid.uuid4().hex[:6]}"
    page.goto(f"{hub.url}/new")
    page.select_option("#owner", "alice")
    page.fill("#name", name)
    page.select_option("#license", "mit")
    page.select_option("#gated", "off")
    axe(page)
    no_sideways_scroll(page)
    shot(page, "edit-new-repo")
    page.click("#new-repo-form button[type=submit]")
    page.wait_for_url(f"{hub.url}/alice/{name}")
    repo = f"alice/{name}"
    assert hub.api().model_info(repo).card_data["license"] == "mit"

    # upload: a file picked, a folder picked, a file dropped
    weights = safetensors_bytes({"w": ("F32", [16, 16]), "b": ("F32", [16])}, tag=name)
    (tmp_path / "model.safetensors").write_bytes(weights)
    folder = tmp_path / "extra"
    folder.mkdir()
    (folder / "a.txt").write_text("A file\n")
    (folder / "b.json").write_text('{"b": 1}\n')
    page.goto(f"{hub.url}/{repo}/tree/main")
    page.click("text=Upload files")
    page.wait_for_url(f"{hub.url}/{repo}/upload/main")
    page.set_input_files("#upload-files", str(tmp_path / "model.safetensors"))
    page.set_input_files("#upload-folder", str(folder))
    page.evaluate(
        """() => { const dt = new DataTransfer();
        dt.items.add(new File(["dropped\\n"], "dropped.txt", {type: "text/plain"}));
        document.getElementById("dropzone").dispatchEvent(
          new DragEvent("drop", {dataTransfer: dt, bubbles: true, cancelable: true})); }"""
    )
    assert set(_progress(page)) == {"model.safetensors", "extra/a.txt", "extra/b.json", "dropped.txt"}
    page.fill("#summary", "Upload weights")
    held = _hold(page, r"/api/models/alice/[^/]+/commit/main")
    page.click("#upload-form button[type=submit]")
    commit = _wait_for(page, held)
    progress = _progress(page)
    assert progress["model.safetensors"] == 100  # the LFS upload is done before the commit
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, "edit-upload")
    axe(page)
    commit.continue_()
    page.wait_for_url(f"{hub.url}/{repo}/tree/main")
    files = set(hub.api().list_repo_files(repo))
    assert {"model.safetensors", "extra/a.txt", "extra/b.json", "dropped.txt"} <= files
    path = hf_hub_download(repo, "model.safetensors", endpoint=hub.url, token=hub.alice)
    assert Path(path).read_bytes() == weights  # byte-identical through the official client
    oid = hashlib.sha256(weights).hexdigest()
    assert oid in {sha for sha, _, _ in hub.services.files.list_lfs(_repo(hub, repo))}
    assert hub.api().list_repo_commits(repo)[0].title == "Upload weights"

    # the card editor: metadata form, live preview, validation, commit
    page.goto(f"{hub.url}/{repo}/blob/main/README.md")
    page.click("a.btn:has-text('Edit')")
    page.wait_for_selector("#card-editor")
    page.select_option("#meta-license", "apache-2.0")
    page.fill("#meta-tags", "vision, tiny")
    page.fill("#meta-pipeline_tag", "image-classification")
    page.fill("#content", "# My model\n\nIt is **tiny**.\n")
    page.wait_for_selector("#card-preview strong:has-text('tiny')")
    page.fill("#metadata_yaml", "model-index: [")
    page.wait_for_selector("#card-errors li")
    page.fill("#metadata_yaml", "widget:\n- text: hello\n")
    page.wait_for_selector("#card-errors li", state="detached")
    axe(page)
    no_sideways_scroll(page)
    shot(page, "edit-card-editor")
    page.fill("#summary", "Edit the card")
    page.click("#edit-form button[type=submit]")
    page.wait_for_url(f"{hub.url}/{repo}/blob/main/README.md")
    card = hub.api().model_info(repo).card_data
    assert card["license"] == "apache-2.0" and card["tags"] == ["vision", "tiny"]
    assert card["pipeline_tag"] == "image-classification" and card["widget"] == [{"text": "hello"}]


def _repo(hub: Any, repo_id: str) -> Any:
    ns, name = repo_id.split("/")
    from modelyard.types import RepoType

    return hub.services.repos.get(RepoType.MODEL, ns, name, None)


def test_pull_requests_from_another_account(live_server: Any, phone: Any, tmp_path: Path) -> None:
    hub = live_server
    repo = f"alice/pr-{uuid.uuid4().hex[:6]}"
    hub.api().create_repo(repo)
    hub.api().create_commit(repo, [CommitOperationAdd("config.json", b"{}\n")], commit_message="seed")
    login(phone, hub.url, hub.bob)
    phone.goto(f"{hub.url}/{repo}/upload/main")
    assert phone.is_visible("#pr-only-note")  # bob may not write: his upload is a pull request
    (tmp_path / "proposal.txt").write_text("from bob\n")
    phone.set_input_files("#upload-files", str(tmp_path / "proposal.txt"))
    no_sideways_scroll(phone)
    axe(phone)
    shot(phone, "edit-upload-phone")
    phone.fill("#summary", "Bob's files")
    phone.click("#upload-form button[type=submit]")
    phone.wait_for_url(re.compile(rf"{re.escape(hub.url)}/{repo}/discussions/\d+$"))
    num = int(phone.url.rsplit("/", 1)[1])
    assert hf_hub_download(repo, "proposal.txt", revision=f"refs/pr/{num}", endpoint=hub.url, token=hub.alice)
    assert "proposal.txt" not in hub.api().list_repo_files(repo)
    # an edit, also as a pull request
    phone.goto(f"{hub.url}/{repo}/edit/main/config.json")
    phone.fill("#content", '{"bob": true}\n')
    phone.fill("#summary", "Bob's config")
    no_sideways_scroll(phone)
    phone.click("#edit-form button[type=submit]")
    phone.wait_for_url(re.compile(rf"{re.escape(hub.url)}/{repo}/discussions/\d+$"))
    titles = {d.title for d in hub.api().get_repo_discussions(repo)}
    assert {"Bob's files", "Bob's config"} <= titles


def test_resumable_multipart_upload(hub_factory: Any, browser: Any, tmp_path: Path) -> None:
    """Parts of a large file go through the LFS multipart transfer; after a failure, the retry sends only the
    parts the server does not have yet."""
    from tests.web._browser import DESKTOP
    from tests.web.conftest import _browser_page

    hub = hub_factory(multipart_threshold=100_000, multipart_chunk_size=64 * 1024)
    repo = f"alice/mp-{uuid.uuid4().hex[:6]}"
    hub.api().create_repo(repo)
    data = bytes(range(256)) * 1200  # 307 kB: 5 parts
    (tmp_path / "big.bin").write_bytes(data)
    pages = _browser_page(browser, DESKTOP)
    page = next(pages)
    try:
        login(page, hub.url, hub.alice)
        page.goto(f"{hub.url}/{repo}/upload/main")
        page.set_input_files("#upload-files", str(tmp_path / "big.bin"))
        sent: list[str] = []
        page.on("request", lambda r: sent.append(r.url) if "/part/" in r.url else None)
        page.route(re.compile(r"/part/4\?"), lambda route: route.abort())
        page.click("#upload-form button[type=submit]")
        page.wait_for_selector("#upload-error:not([hidden])")
        first = sorted(int(re.search(r"/part/(\d+)", u).group(1)) for u in sent)  # type: ignore[union-attr]
        assert first == [1, 2, 3, 4]
        page.unroute(re.compile(r"/part/4\?"))
        sent.clear()
        page.click("#upload-form button[type=submit]")
        page.wait_for_url(f"{hub.url}/{repo}/tree/main")
        again = sorted(int(re.search(r"/part/(\d+)", u).group(1)) for u in sent)  # type: ignore[union-attr]
        assert again == [4, 5]  # parts 1-3 were not sent again
        got = hf_hub_download(repo, "big.bin", endpoint=hub.url, token=hub.alice)
        assert Path(got).read_bytes() == data
    finally:
        next(pages, None)


def test_streaming_sha256(live_server: Any, page: Any) -> None:
    """The page's own SHA-256 (used past crypto.subtle's limits) agrees with hashlib, whatever the slicing."""
    hub = live_server
    repo = f"alice/sha-{uuid.uuid4().hex[:6]}"
    hub.api().create_repo(repo)
    login(page, hub.url, hub.alice)
    page.goto(f"{hub.url}/{repo}/upload/main")
    for n in (0, 1, 55, 56, 63, 64, 65, 119, 1000, 70_001):
        data = bytes((i * 7 + 3) & 255 for i in range(n))
        got = page.evaluate(
            """n => { const d = new Uint8Array(n); for (let i = 0; i < n; i++) d[i] = (i * 7 + 3) & 255;
            const h = new ModelYardSha256.Sha256(); let o = 0, step = 1;
            while (o < n) { h.update(d.subarray(o, o + step)); o += step; step = step * 3 + 1; }
            return h.hex(); }""",
            n,
        )
        assert got == hashlib.sha256(data).hexdigest(), n
