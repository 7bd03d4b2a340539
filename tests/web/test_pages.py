"""Server-rendered pages over HTTP: sanitised cards, files, commits, dataset rows, login cookie, errors."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import httpx
from tests.web.conftest import WebRepos

from modelyard.server.web.render import render_markdown


def test_markdown_is_sanitised() -> None:
    html = render_markdown(
        '<script>alert(1)</script>\n\n[x](javascript:alert(1)) <img src=x onerror="alert(1)"> **ok**\n\n'
        '<a href="javascript:alert(2)">y</a>'
    )
    assert "<script" not in html and 'href="javascript' not in html and "onerror" not in html
    assert "<strong>ok</strong>" in html and "<a " in html


def test_model_page(web_repos: WebRepos) -> None:
    r = httpx.get(f"{web_repos.url}/{web_repos.model}")
    assert r.status_code == 200
    html = r.text
    assert "<script>window.__pwned" not in html and 'href="javascript' not in html and "onerror" not in html
    assert "<strong>bold</strong>" in html and "<table>" in html
    assert "text-classification" in html and "license" in html and "google/bert-tiny" in html
    assert "240" in html  # safetensors parameters
    assert (
        'pipeline("text-classification"' in unescape(html) and "InferenceClient" in html and "curl -L" in html
    )


def test_files_blob_commits(web_repos: WebRepos) -> None:
    base = f"{web_repos.url}/{web_repos.model}"
    tree = httpx.get(f"{base}/tree/main").text
    assert "model.safetensors" in tree and "config.json" in tree
    blob = httpx.get(f"{base}/blob/main/config.json").text
    assert "hidden_size" in blob
    commits = httpx.get(f"{base}/commits/main").text
    assert "Bump hidden size" in commits and "Add weights and card" in commits
    sha = httpx.get(f"{web_repos.url}/api/models/{web_repos.model}").json()["sha"]
    diff = httpx.get(f"{base}/commit/{sha}").text
    assert "1 file changed" in diff and "config.json" in diff and "hidden_size" in diff


def test_dataset_viewer(web_repos: WebRepos) -> None:
    base = f"{web_repos.url}/datasets/{web_repos.dataset}"
    page = httpx.get(base).text
    assert "review number 0" in page  # preview of the first split
    v = httpx.get(f"{base}/viewer", params={"split": "train", "offset": 50}).text
    assert (
        "review number 50" in v and "review number 99" in v and "review number 100" not in v and "of 120" in v
    )
    t = httpx.get(f"{base}/viewer", params={"split": "test"}).text
    assert "test review 0" in t
    p = httpx.get(f"{base}/viewer", params={"split": "validation", "offset": 50}).text
    assert "parquet row 50" in p and "of 100" in p


def test_listing_user_and_errors(web_repos: WebRepos) -> None:
    name = web_repos.model.split("/")[1]
    r = httpx.get(f"{web_repos.url}/models", params={"search": name, "license": "mit"})
    assert web_repos.model in r.text
    assert (
        web_repos.model
        not in httpx.get(f"{web_repos.url}/models", params={"search": name, "license": "x"}).text
    )
    assert web_repos.model in httpx.get(f"{web_repos.url}/alice").text
    assert httpx.get(f"{web_repos.url}/alice/does-not-exist").status_code == 404
    assert httpx.get(f"{web_repos.url}/no-such-user").status_code == 404


def test_login_shows_private_repos(live_server: Any, web_repos: WebRepos) -> None:
    url = f"{web_repos.url}/{web_repos.private}"
    assert httpx.get(url).status_code == 404
    with httpx.Client(base_url=web_repos.url) as c:
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text)
        assert csrf is not None
        bad = c.post("/login", data={"token": "nope", "csrf_token": csrf.group(1)})
        assert bad.status_code == 401
        ok = c.post("/login", data={"token": web_repos.token, "next": "/alice", "csrf_token": csrf.group(1)})
        assert ok.status_code == 303 and "httponly" in ok.headers["set-cookie"].lower()
        assert c.get(url).status_code == 200
        assert web_repos.private in c.get("/alice").text
        # the cookie does not authenticate the API (Bearer only) ...
        assert c.get(f"/api/models/{web_repos.private}").status_code in (401, 404)
        # ... but download links on the private repo's pages work for the logged-in user
        readme = f"/{web_repos.private}/resolve/main/.gitattributes"
        assert c.get(readme).status_code == 200 and c.head(readme).status_code == 200
        assert httpx.get(web_repos.url + readme).status_code == 404
        page = c.get("/alice")
        logout = re.search(r'action="/logout".*?name="csrf_token" value="([^"]+)"', page.text, re.S)
        assert logout is not None
        assert c.post("/logout", data={"csrf_token": logout.group(1)}).status_code == 303
        assert c.get(url).status_code == 404
        assert c.get(readme).status_code == 404
