"""Headless Chromium (Debian `chromium` package) driven by Playwright: search, open a model, browse files,
read a dataset's rows, use the inference widget. Skipped when /usr/bin/chromium or playwright is missing."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from tests.web.conftest import WebRepos

pytestmark = [
    pytest.mark.skipif(
        not os.path.exists("/usr/bin/chromium"), reason="/usr/bin/chromium missing: apt-get install chromium"
    ),
]


def test_search_and_open_model(page: Any, web_repos: WebRepos, tmp_path: Path) -> None:
    name = web_repos.model.split("/")[1]
    page.goto(web_repos.url + "/")
    page.fill("#q", name)
    page.press("#q", "Enter")
    page.wait_for_url("**/models?search=*")
    link = page.locator("#results a.repo-link", has_text=web_repos.model)
    assert link.count() == 1
    link.click()
    page.wait_for_url(f"**/{web_repos.model}")
    assert page.locator(".repo-header h1").inner_text().replace(" ", "").endswith(name + "copy")
    card = page.locator("#model-card")
    assert "Sentiment model" in card.inner_text()
    assert page.evaluate("window.__pwned === undefined")  # the card's script and handlers never ran
    assert page.locator("#chips a", has_text="text-classification").count() == 1
    page.click("button[data-snippet=curl]")
    assert (
        page.locator("#snippet-curl").is_visible() and not page.locator("#snippet-transformers").is_visible()
    )
    assert page.locator("#inference-widget").is_hidden()  # no endpoint deployed
    out = Path(os.environ.get("MODELYARD_SCREENSHOTS", tmp_path))
    out.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(out / "model-page.png"), full_page=True)


def test_filter_chips(page: Any, web_repos: WebRepos) -> None:
    page.goto(web_repos.url + "/models?search=" + web_repos.model.split("/")[1])
    page.click(".filters a.chip:has-text('mit')")
    assert "license=mit" in page.url
    assert page.locator("#results a.repo-link", has_text=web_repos.model).count() == 1


def test_browse_files_and_history(page: Any, web_repos: WebRepos) -> None:
    page.goto(f"{web_repos.url}/{web_repos.model}")
    page.click("nav.tabs >> text=Files and versions")
    page.wait_for_url("**/tree/main")
    rows = page.locator("#files tr")
    assert {"config.json", "model.safetensors", "README.md"} <= {
        t.strip() for t in page.locator("#files td.name a").all_inner_texts()
    }
    assert rows.count() >= 4
    page.click("#files td.name a:has-text('config.json')")
    page.wait_for_url("**/blob/main/config.json")
    assert "hidden_size" in page.locator("#blob").inner_text()
    page.click("nav.tabs >> text=Commit history")
    page.click("#commits a.title:has-text('Bump hidden size')")
    assert "1 file changed" in page.locator("#diff-summary").inner_text()


def test_dataset_rows(page: Any, web_repos: WebRepos) -> None:
    page.goto(f"{web_repos.url}/datasets/{web_repos.dataset}")
    assert "review number 0" in page.locator(".preview").inner_text()
    page.click("nav.tabs >> text=Data viewer")
    assert page.locator("table.rows tbody tr").count() == 50
    assert "of 120" in page.locator("#rowinfo").inner_text()
    page.click(".pager a[rel=next]")
    assert "review number 50" in page.locator("table.rows").inner_text()
    page.click("#splits a:has-text('validation')")
    assert "parquet row 0" in page.locator("table.rows").inner_text()
    page.click("#splits a:has-text('test')")
    assert "test review 29" in page.locator("table.rows").inner_text()


def test_login_and_private_repo(page: Any, web_repos: WebRepos) -> None:
    page.goto(f"{web_repos.url}/{web_repos.private}")
    assert page.locator(".error-page h1").inner_text() == "Repository not found"
    page.click("text=log in")
    page.fill("form.token-login input[name=token]", web_repos.token)
    page.click("form.token-login button[type=submit]")
    page.wait_for_url(f"{web_repos.url}/{web_repos.private}")
    assert page.locator(".badge.private").count() >= 1
    assert not page.evaluate("document.cookie.includes('modelyard_session')")  # HttpOnly
    # like (a CSRF-protected form) and log out (POST, with its CSRF token) from the page
    page.click(".likebtn")
    page.wait_for_url(f"**/{web_repos.private}")
    assert page.locator(".likebtn.liked").count() == 1
    page.click("button:has-text('Log out')")
    page.wait_for_url(web_repos.url + "/")
    page.goto(f"{web_repos.url}/{web_repos.private}")
    assert page.locator(".error-page h1").inner_text() == "Repository not found"


def test_selects_without_inline_handlers(page: Any, web_repos: WebRepos) -> None:
    """The sort and branch pickers work through app.js (the CSP forbids inline onchange handlers)."""
    page.goto(web_repos.url + "/models?search=" + web_repos.model.split("/")[1])
    page.select_option("select[name=sort]", "likes")
    page.wait_for_url("**sort=likes*")
    import uuid

    from huggingface_hub import HfApi

    branch = f"b-{uuid.uuid4().hex[:6]}"
    HfApi(endpoint=web_repos.url, token=web_repos.token).create_branch(web_repos.model, branch=branch)
    page.goto(f"{web_repos.url}/{web_repos.model}/tree/main")
    page.select_option("select[name=rev]", branch)
    page.wait_for_url(f"**/tree/{branch}")


def test_inference_widget(page: Any, web_repos: WebRepos) -> None:
    """Against the documented shapes: GET /endpoints/-/api/endpoints, POST /endpoints/{name} {"inputs": ...}."""
    calls: list[Any] = []

    def endpoints(route: Any) -> None:
        route.fulfill(
            json={
                "endpoints": [
                    {
                        "name": "sentiment",
                        "repo_id": web_repos.model,
                        "state": "ready",
                        "task": "text-classification",
                    }
                ]
            }
        )

    def predict(route: Any) -> None:
        calls.append(json.loads(route.request.post_data))
        route.fulfill(json=[[{"label": "POSITIVE", "score": 0.93}, {"label": "NEGATIVE", "score": 0.07}]])

    page.route("**/endpoints/-/api/endpoints", endpoints)
    page.route("**/endpoints/sentiment", predict)
    page.goto(f"{web_repos.url}/{web_repos.model}")
    widget = page.locator("#inference-widget")
    widget.wait_for(state="visible")
    assert widget.locator("textarea").input_value() == "I love this!"  # from the card's widget examples
    widget.locator("button:has-text('Compute')").click()
    page.wait_for_selector("#inference-widget .widget-output .bar")
    assert "POSITIVE" in widget.locator(".widget-output").inner_text()
    assert calls == [{"inputs": "I love this!"}]


def test_inference_widget_with_a_real_endpoint(page: Any, live_server: Any, tiny_model_dir: Path) -> None:
    """The widget on a model page finds the endpoint deployed for the repo and shows its real output."""
    import time
    import uuid

    import httpx

    hub = live_server
    repo = f"alice/widget-{uuid.uuid4().hex[:6]}"
    api = hub.api()
    api.create_repo(repo)
    api.upload_folder(folder_path=tiny_model_dir, repo_id=repo)
    api.upload_file(
        path_or_fileobj=b"---\npipeline_tag: text-classification\n---\n# tiny\n",
        path_in_repo="README.md",
        repo_id=repo,
    )
    name = repo.split("/")[1]
    mgmt = f"{hub.url}/endpoints/-/api/endpoints"
    r = httpx.post(mgmt, json={"repo_id": repo, "name": name}, headers=hub.auth())
    assert r.status_code == 201, r.text
    try:
        deadline = time.monotonic() + 120
        while httpx.get(f"{hub.url}/endpoints/{name}/health").status_code != 200:
            assert time.monotonic() < deadline, "endpoint did not load"
            time.sleep(0.3)
        page.goto(f"{hub.url}/{repo}")
        widget = page.locator("#inference-widget")
        widget.wait_for(state="visible")
        widget.locator("textarea").fill("the cat is happy today")
        widget.locator("button:has-text('Compute')").click()
        page.wait_for_selector("#inference-widget .widget-output .bar")
        text = widget.locator(".widget-output").inner_text()
        assert "POSITIVE" in text and "NEGATIVE" in text
    finally:
        httpx.delete(f"{mgmt}/{name}", headers=hub.auth())
