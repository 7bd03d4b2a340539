"""Reading pages to the Hub's level (issue 12): the model page's labelled metadata header (grouped, de-duplicated),
evaluation results, datasets used to train, spaces using the model, the model tree, the downloads chart; the file
viewer (size cap, highlighting, line numbers, Rendered/Raw for markdown, gzip for HTML only); commit diffs with
line numbers; the 404 page; card links that never point to a local 404. Over HTTP, then in Chromium (desktop and
phone, axe-core)."""

from __future__ import annotations

import base64
import gzip
import json
import re
import time
import uuid
from dataclasses import dataclass
from html import unescape
from typing import Any

import httpx
import pytest

from modelyard.hub import viewer
from modelyard.server.web import card_meta
from modelyard.types import RepoType


def _card(tag: str) -> str:
    return f"""---
license: mit
library_name: transformers
pipeline_tag: text-classification
language: [en, fr]
datasets:
- alice/data-{tag}
- glue
- some-org/elsewhere
base_model: alice/root-{tag}
tags:
- Text-Classification
- license:mit
- region:us
- autotrain_compatible
- en
- transformers
- pytorch
- dataset:glue
- base_model:alice/root-{tag}
- sentiment
- SENTIMENT
model-index:
- name: base-{tag}
  results:
  - task: {{type: text-classification, name: Text Classification}}
    dataset: {{type: glue, name: GLUE SST-2, config: sst2, split: validation}}
    metrics:
    - {{type: accuracy, value: 0.9312, name: Accuracy, verified: true}}
    - {{type: f1, value: 0.88}}
  - task: {{type: text-classification}}
    dataset: {{type: alice/data-{tag}, name: Local data}}
    metrics:
    - {{type: loss, value: 0.25}}
---
# Base model {tag}

Read [the notes](docs/notes.md), the [license](LICENSE), a [missing file](nothing-here.txt),
the [local dataset](/datasets/alice/data-{tag}), a [dataset not here](/datasets/nobody/nothing-{tag}),
a [model not here](/nobody/no-model-{tag}), [alice](/alice), [upstream](https://huggingface.co/glue) and
[an anchor](#base-model).
"""


@dataclass
class Reading:
    url: str
    tag: str
    model: str  # alice/base-<tag>
    dataset: str
    big_json_size: int
    first_sha: str
    second_sha: str


@pytest.fixture(scope="module")
def reading(live_server: Any) -> Reading:
    from huggingface_hub import CommitOperationAdd, hf_hub_download

    api = live_server.api()
    tag = uuid.uuid4().hex[:6]
    model, dataset = f"alice/base-{tag}", f"alice/data-{tag}"
    api.create_repo(dataset, repo_type="dataset")
    api.upload_file(
        path_or_fileobj=b"---\nlicense: mit\n---\n# data\n",
        path_in_repo="README.md",
        repo_id=dataset,
        repo_type="dataset",
    )
    api.create_repo(f"alice/root-{tag}")
    api.create_repo(model)
    vocab = {f"token{i}": i for i in range(28000)}
    big = json.dumps({"version": "1.0", "truncation": None, "model": {"vocab": vocab}}, indent=2).encode()
    api.create_commit(
        model,
        operations=[
            CommitOperationAdd("README.md", _card(tag).encode()),
            CommitOperationAdd("LICENSE", b"MIT License\n"),
            CommitOperationAdd(
                "docs/notes.md", b"---\ntitle: x\n---\n# Notes title\n\nSee [back](../LICENSE).\n"
            ),
            CommitOperationAdd("tokenizer.json", big),
            CommitOperationAdd(
                "minified.json", json.dumps({f"k{i}": [i, None] for i in range(200)}).encode()
            ),
            CommitOperationAdd("vocab.txt", "".join(f"w{i}\n" for i in range(12000)).encode()),
            CommitOperationAdd("train.py", b"def train(x):\n    return x < 1  # <b>not bold</b>\n"),
            CommitOperationAdd("weights.dat", b"\0\1" * 3000),
            CommitOperationAdd(
                "config.json", json.dumps({"a": 1, "b": 2, "c": 3, "d": 4}, indent=1).encode()
            ),
        ],
        commit_message="Add model",
    )
    first = api.model_info(model).sha
    api.create_commit(
        model,
        operations=[
            CommitOperationAdd(
                "config.json", json.dumps({"a": 1, "b": 20, "c": 3, "d": 4, "e": 5}, indent=1).encode()
            ),
            CommitOperationAdd("weights.dat", b"\0\2" * 4000),
        ],
        commit_message="Change config and weights",
    )
    second = api.model_info(model).sha
    # the model tree: a fine-tune, an adapter, a quantization of the base model
    for name, extra in (
        ("ft", ""),
        ("lora", "library_name: peft\n"),
        ("q", "tags: [gguf]\n"),
    ):
        api.create_repo(f"alice/{name}-{tag}")
        card = f"---\nbase_model: {model}\n{extra}---\n# {name}\n"
        api.upload_file(
            path_or_fileobj=card.encode(), path_in_repo="README.md", repo_id=f"alice/{name}-{tag}"
        )
    api.create_repo(f"alice/space-{tag}", repo_type="space", space_sdk="static")
    space_card = f"---\ntitle: s\nsdk: static\nmodels:\n- {model}\n- nobody/missing-{tag}\n---\n# space\n"
    api.upload_file(
        path_or_fileobj=space_card.encode(),
        path_in_repo="README.md",
        repo_id=f"alice/space-{tag}",
        repo_type="space",
    )
    # a card the client would refuse (validate-yaml): committed over the raw NDJSON commit API
    bad = f"alice/bad-{tag}"
    api.create_repo(bad)
    bad_card = (
        "---\nmodel-index:\n- name: x\n  results:\n  - task: broken\n    dataset: [1, 2]\n    metrics: {}\n"
        "  - task: {type: t}\n    dataset: {type: d, name: D}\n    metrics:\n    - not-a-metric\n"
        "    - {type: acc, value: {nested: 1}}\n    - {type: acc, value: 0.5}\nbase_model: [1, {a: b}]\n"
        "datasets: {x: 1}\ntags: [[1], null]\n---\n# bad\n"
    )
    lines = [
        {"key": "header", "value": {"summary": "bad card", "description": ""}},
        {
            "key": "file",
            "value": {
                "path": "README.md",
                "encoding": "base64",
                "content": base64.b64encode(bad_card.encode()).decode(),
            },
        },
    ]
    resp = httpx.post(
        f"{live_server.url}/api/models/{bad}/commit/main",
        content="\n".join(json.dumps(x) for x in lines),
        headers={"Authorization": f"Bearer {live_server.alice}", "Content-Type": "application/x-ndjson"},
    )
    assert resp.status_code == 200, resp.text
    for _ in range(3):  # downloads for the chart
        hf_hub_download(model, "config.json", endpoint=live_server.url, force_download=True, token=False)
    live_server.services.repos.flush_downloads()
    return Reading(live_server.url, tag, model, dataset, len(big), str(first), str(second))


def _get(url: str, **kw: Any) -> httpx.Response:
    return httpx.get(url, timeout=30, **kw)


def _rows(html: str) -> dict[str, list[str]]:
    header = re.search(r'<dl class="meta-header" id="chips">(.*?)</dl>', html, re.S)
    assert header is not None
    out: dict[str, list[str]] = {}
    for title, chips in re.findall(r"<dt>(.*?)</dt>\s*<dd>(.*?)</dd>", header.group(1), re.S):
        labels = re.findall(r'class="chip[^"]*"[^>]*>([^<]*)', chips)
        out[title] = [unescape(x) for x in labels]
    return out


# --- the model page ------------------------------------------------------------------------------------
def test_metadata_header_is_grouped_and_deduplicated(reading: Reading) -> None:
    t0 = time.perf_counter()
    r = _get(f"{reading.url}/{reading.model}")
    elapsed = time.perf_counter() - t0
    assert r.status_code == 200
    assert elapsed < 1.0, f"model page took {elapsed:.2f}s"
    rows = _rows(r.text)
    assert list(rows) == ["Tasks", "Libraries", "Datasets", "Languages", "Licenses", "Other"]
    assert rows["Tasks"] == ["text-classification"]  # the tag Text-Classification is the same task
    assert rows["Libraries"] == ["transformers", "pytorch"]
    assert rows["Languages"] == ["en", "fr"]
    assert rows["Licenses"] == ["mit"]  # license:mit is the same license
    assert rows["Other"] == ["sentiment"]  # SENTIMENT is a duplicate; region:us, autotrain_compatible hidden
    assert rows["Datasets"] == [reading.dataset, "glue", "some-org/elsewhere"]
    every = [x.lower() for chips in rows.values() for x in chips]
    assert len(every) == len(set(every))
    header = re.search(r'<dl class="meta-header".*?</dl>', r.text, re.S).group(0)  # type: ignore[union-attr]
    assert "region:us" not in header and "autotrain" not in header and "base_model:" not in header
    # chips link to the filtered listing; a dataset on this hub to its page, the others upstream
    assert 'href="/models?pipeline_tag=text-classification"' in header
    assert 'href="/models?license=mit"' in header
    assert f'href="/datasets/{reading.dataset}"' in header
    assert 'href="https://huggingface.co/datasets/glue"' in header
    assert re.search(
        r'class="chip datasets external" href="https://huggingface.co/datasets/glue" rel="noopener', header
    )


def test_evaluation_results_and_training_datasets(reading: Reading) -> None:
    html = _get(f"{reading.url}/{reading.model}").text
    evals = re.search(r'<section class="eval-results" id="eval-results">(.*?)</section>', html, re.S)
    assert evals is not None
    rows = re.findall(r"<tr>(.*?)</tr>", evals.group(1), re.S)
    text = [re.sub(r"<[^>]+>", " ", x) for x in rows[1:]]
    assert len(text) == 3
    assert "GLUE SST-2" in text[0] and "Accuracy" in text[0] and "0.9312" in text[0] and "verified" in text[0]
    assert "f1" in text[1] and "0.88" in text[1]
    assert f'href="/datasets/{reading.dataset}"' in rows[3] and "0.25" in text[2]
    train = re.search(r'id="train-datasets">(.*?)</section>', html, re.S).group(1)  # type: ignore[union-attr]
    assert f'<a href="/datasets/{reading.dataset}">{reading.dataset}</a>' in train
    assert 'href="https://huggingface.co/datasets/some-org/elsewhere"' in train and "external" in train


def test_malformed_card_metadata_renders(reading: Reading) -> None:
    r = _get(f"{reading.url}/alice/bad-{reading.tag}")
    assert r.status_code == 200
    evals = re.search(r'id="eval-results">(.*?)</section>', r.text, re.S)
    assert (
        evals is not None and len(re.findall(r"<tr>", evals.group(1))) == 2
    )  # header + the one valid metric


def test_model_tree_and_spaces_using(reading: Reading) -> None:
    html = _get(f"{reading.url}/{reading.model}").text
    tree = re.search(r'id="model-tree">(.*?)</section>', html, re.S).group(1)  # type: ignore[union-attr]
    assert f'<a href="/alice/root-{reading.tag}">alice/root-{reading.tag}</a>' in tree  # the parent, local
    for title, child in (("Fine-tunes", "ft"), ("Adapters", "lora"), ("Quantizations", "q")):
        group = re.search(rf'{title} <span class="count">(\d+)</span>.*?</ul>', tree, re.S)
        assert group is not None and group.group(1) == "1", title
        assert f"/alice/{child}-{reading.tag}" in group.group(0)
    spaces = re.search(r'id="spaces-using">(.*?)</section>', html, re.S).group(1)  # type: ignore[union-attr]
    assert f'href="/spaces/alice/space-{reading.tag}"' in spaces and '<span class="count">1</span>' in spaces
    # the child shows its base model; the space lists its models (the missing one upstream)
    child = _get(f"{reading.url}/alice/lora-{reading.tag}").text
    assert f'href="/{reading.model}"' in child and "This model: an adapter" in child
    space = _get(f"{reading.url}/spaces/alice/space-{reading.tag}").text
    assert f'href="/{reading.model}"' in space
    assert f'href="https://huggingface.co/nobody/missing-{reading.tag}"' in space


def test_downloads_chart(reading: Reading) -> None:
    html = _get(f"{reading.url}/{reading.model}").text
    chart = re.search(r'id="downloads-chart">(.*?)</section>', html, re.S)
    assert chart is not None
    bars = re.findall(r'<rect [^>]*height="([\d.]+)"[^>]*><title>([^<]+)</title>', chart.group(1))
    assert len(bars) == 30
    assert bars[-1][1].endswith(": 3 downloads") and float(bars[-1][0]) > 0  # today
    assert all(float(h) == 0 for h, _ in bars[:-1])
    assert "<script" not in chart.group(1)


def test_community_tab_counts_open_discussions(reading: Reading, live_server: Any) -> None:
    api = live_server.api()
    api.create_discussion(reading.model, title="A question")
    html = _get(f"{reading.url}/{reading.model}").text
    tab = re.search(r'<a href="/[^"]+/discussions"[^>]*>(.*?)</a>', html, re.S)
    assert tab is not None and re.sub(r"<[^>]+>", "", tab.group(1)).split() == ["Community", "1"]


# --- the file viewer -----------------------------------------------------------------------------------
def test_big_json_is_capped_highlighted_and_fast(reading: Reading, live_server: Any) -> None:
    url = f"{reading.url}/{reading.model}/blob/main/tokenizer.json"
    assert reading.big_json_size > 700_000
    t0 = time.perf_counter()
    r = _get(url, headers={"Accept-Encoding": "identity"})
    elapsed = time.perf_counter() - t0
    assert r.status_code == 200 and elapsed < 1.0, f"{elapsed:.2f}s"
    shown = re.search(r"This file is 733\.9 kB: showing the first ([\d.]+) kB", r.text)
    assert shown is not None and 190 < float(shown.group(1)) <= 200 and "Download the full file" in r.text
    assert (
        '<span class="nt">&#34;token0&#34;</span>' in r.text or '<span class="nt">"token0"</span>' in r.text
    )
    assert "<tr><td>1</td><td>" in r.text
    assert "token27999" not in r.text  # past the cap
    assert len(r.content) < 3_000_000
    assert "Content-Encoding" not in r.headers
    # gzip for HTML pages ...
    z = httpx.get(url, headers={"Accept-Encoding": "gzip"}, timeout=30)
    assert z.headers["content-encoding"] == "gzip" and "accept-encoding" in z.headers["vary"].lower()
    raw = httpx.Client().send(httpx.Request("GET", url, headers={"Accept-Encoding": "gzip"}), stream=True)
    body = b"".join(raw.iter_raw())
    assert len(body) < len(r.content) / 4 and abs(len(gzip.decompress(body)) - len(r.content)) < 200
    # ... never for file downloads
    for path in ("resolve/main/tokenizer.json", "resolve/main/README.md"):
        d = httpx.get(
            f"{reading.url}/{reading.model}/{path}", headers={"Accept-Encoding": "gzip"}, timeout=30
        )
        assert d.status_code == 200 and "content-encoding" not in d.headers, path
    d = httpx.get(f"{reading.url}/api/models/{reading.model}", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in d.headers
    # logged-in pages hold the session's CSRF token: never compressed (BREACH)
    with httpx.Client(base_url=reading.url, timeout=30) as c:
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text)
        assert csrf is not None
        login = c.post("/login", data={"token": live_server.alice, "csrf_token": csrf.group(1), "next": "/"})
        assert login.status_code == 303
        mine = c.get(url, headers={"Accept-Encoding": "gzip"})
        assert mine.status_code == 200 and 'name="csrf-token"' in mine.text
        assert "content-encoding" not in mine.headers


def test_minified_json_is_pretty_printed(reading: Reading) -> None:
    html = _get(f"{reading.url}/{reading.model}/blob/main/minified.json").text
    assert 'id="pretty-note"' in html and "shown indented" in html
    assert "<tr><td>401</td>" in html  # 200 keys, one line each for the key and its list, ...
    assert '<span class="nt">"k0"</span>' in html


def test_long_files_show_10k_lines(reading: Reading) -> None:
    html = _get(f"{reading.url}/{reading.model}/blob/main/vocab.txt").text
    assert "<tr><td>10000</td><td>w9999</td></tr>" in html and "<tr><td>10001</td>" not in html
    assert 'id="preview-truncated"' in html


def test_code_is_escaped_and_highlighted(reading: Reading) -> None:
    html = _get(f"{reading.url}/{reading.model}/blob/main/train.py").text
    assert "<b>not bold</b>" not in html and "&lt;b&gt;not bold&lt;/b&gt;" in html
    assert '<span class="k">def</span>' in html and "<tr><td>2</td>" in html
    assert "showing the first" not in html
    binary = _get(f"{reading.url}/{reading.model}/blob/main/weights.dat").text
    assert "Binary file" in binary


def test_markdown_rendered_and_raw(reading: Reading) -> None:
    base = f"{reading.url}/{reading.model}/blob/main/docs/notes.md"
    rendered = _get(base).text
    assert '<h2 class="md-h1">Notes title</h2>' in rendered and "title: x" not in rendered
    assert f'href="/{reading.model}/blob/main/LICENSE"' in rendered  # ../LICENSE, from docs/
    assert 'aria-current="page">Rendered' in rendered and 'href="?view=raw"' in rendered
    raw = _get(base, params={"view": "raw"}).text
    assert "Notes title</h2>" not in raw and "# Notes title" in raw and "<tr><td>4</td>" in raw
    assert 'aria-current="page">Raw' in raw
    readme = _get(f"{reading.url}/{reading.model}/blob/main/README.md").text
    assert '<h2 class="md-h1">Base model' in readme


# --- commits -------------------------------------------------------------------------------------------
def test_commit_diff_has_line_numbers(reading: Reading) -> None:
    html = _get(f"{reading.url}/{reading.model}/commit/{reading.second_sha}").text
    assert "2 files changed" in html
    rows = re.findall(r'<tr class="(add|del|ctx|hunk)">(.*?)</tr>', html, re.S)
    cells = [(k, re.findall(r"<td[^>]*>(.*?)</td>", body, re.S)) for k, body in rows]
    assert cells[0][0] == "hunk" and cells[0][1][1].startswith("@@ -1,6 +1,7 @@")
    assert ("del", ["3", ""]) in [(k, c[:2]) for k, c in cells]  # "b": 2 was line 3 of the old file
    assert ("add", ["", "3"]) in [(k, c[:2]) for k, c in cells]
    assert ("ctx", ["1", "1"]) in [(k, c[:2]) for k, c in cells]
    adds = [c for k, c in cells if k == "add"]
    assert any('"b": 20' in unescape(c[2]) for c in adds)
    assert "\n\n" not in re.search(r'<table class="diff">.*?</table>', html, re.S).group(0)  # type: ignore[union-attr]
    # weights.dat: binary, so sizes and content hashes instead of lines
    lfs = re.search(r'<dl class="lfs-change">(.*?)</dl>', html, re.S)
    binary = re.search(r"weights\.dat.*?</details>", html, re.S).group(0)  # type: ignore[union-attr]
    assert "6.0 kB" in binary and "8.0 kB" in binary
    assert lfs is None or "sha256:" in lfs.group(1)


# --- errors --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "heading", "code"),
    [
        ("/nobody/no-such-repo", "Repository not found", "RepoNotFound"),
        ("/datasets/nobody/no-such-set", "Repository not found", "RepoNotFound"),
        ("/models/x/y/z/none", "Page not found", "NotFound"),
        ("/no-such-user-xyz", "User not found", "UserNotFound"),
    ],
)
def test_404_page_is_human(reading: Reading, path: str, heading: str, code: str) -> None:
    r = _get(reading.url + path)
    assert r.status_code == 404
    assert r.headers["x-error-code"] == code
    text = re.sub(r"<[^>]+>", " ", re.search(r"<main.*</main>", r.text, re.S).group(0))  # type: ignore[union-attr]
    assert f"<h1>{heading}</h1>" in r.text
    assert code not in text and "NotFound" not in text
    assert "log in" in text


def test_missing_file_is_file_not_found(reading: Reading) -> None:
    r = _get(f"{reading.url}/{reading.model}/blob/main/nope.txt")
    assert r.status_code == 404 and "<h1>File not found</h1>" in r.text
    assert "EntryNotFound" not in r.text and r.headers["x-error-code"] == "EntryNotFound"


# --- card links ----------------------------------------------------------------------------------------
def test_card_links_never_point_to_local_404s(reading: Reading) -> None:
    html = _get(f"{reading.url}/{reading.model}").text
    card = re.search(r'<article class="card" id="model-card">(.*?)</article>', html, re.S).group(1)  # type: ignore[union-attr]
    assert f'href="/{reading.model}/blob/main/docs/notes.md"' in card
    assert f'href="/{reading.model}/blob/main/LICENSE"' in card
    assert '<span class="dead-link">missing file</span>' in card
    assert f'href="/datasets/{reading.dataset}"' in card
    assert f'href="https://huggingface.co/datasets/nobody/nothing-{reading.tag}"' in card
    assert f'href="https://huggingface.co/nobody/no-model-{reading.tag}"' in card
    assert 'href="/alice"' in card and 'href="#base-model"' in card
    for href in re.findall(r'href="(/[^"]*)"', card):
        assert _get(reading.url + unescape(href)).status_code == 200, href


def test_card_links_without_upstream_are_text() -> None:
    links = card_meta.Linker({RepoType.DATASET: {"a/here": "a/Here"}}, upstream="")
    assert links.repo(RepoType.DATASET, "A/HERE") == card_meta.Chip("a/Here", "/datasets/a/Here")
    assert links.repo(RepoType.DATASET, "glue") == card_meta.Chip("glue", None)
    rw = card_meta.CardLinks(links, "/u/m", "main", ["x.md"])
    html = (
        '<p><a href="/datasets/a/here">ok</a> <a href="/datasets/b/gone">gone</a> '
        '<a href="x.md">file</a> <a href="y.md">nofile</a> <a href="https://e.org/x">ext</a>'
        '<img src="x.md" alt=""></p>'
    )
    out = rw.rewrite(html)
    assert '<a href="/datasets/a/here">ok</a>' in out and '<span class="dead-link">gone</span>' in out
    assert '<a href="/u/m/blob/main/x.md">file</a>' in out and '<span class="dead-link">nofile</span>' in out
    assert '<a href="https://e.org/x">ext</a>' in out and 'src="/u/m/resolve/main/x.md"' in out
    up = card_meta.CardLinks(card_meta.Linker({}, "https://up.example"), "/u/m", "main", [])
    assert 'href="https://up.example/datasets/b/gone"' in up.rewrite('<a href="/datasets/b/gone">g</a>')


def test_malformed_cards_do_not_break_the_page() -> None:
    for mi in (None, "x", [1], [{"results": "x"}], [{"results": [{"metrics": [{"value": {"a": 1}}]}]}]):
        assert card_meta.eval_results({"model-index": mi}) == []
    rows = card_meta.metadata_rows(
        RepoType.MODEL,
        {"datasets": [{"x": 1}, "d/ok"], "license": 3, "language": None, "tags": [None]},
        ["license:3", "", "a:b:c"],
        None,
        None,
        card_meta.Linker({}),
    )
    assert {r.title: [c.label for c in r.chips] for r in rows} == {
        "Datasets": ["d/ok"],
        "Licenses": ["3"],
        "Other": ["a:b:c"],
    }


def test_diff_lines_numbering() -> None:
    text = "--- a/x\n+++ b/x\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n\\ No newline at end of file\n@@ -10 +10,2 @@\n+y\n z\n"
    got = [(d.kind, d.old, d.new, d.text) for d in viewer.diff_lines(text)]
    assert got == [
        ("hunk", None, None, "@@ -1,3 +1,3 @@"),
        ("ctx", 1, 1, "a"),
        ("del", 2, None, "b"),
        ("add", None, 2, "B"),
        ("ctx", 3, 3, "c"),
        ("hunk", None, None, "@@ -10 +10,2 @@"),
        ("add", None, 10, "y"),
        ("ctx", 10, 11, "z"),
    ]


# --- in Chromium ---------------------------------------------------------------------------------------
browser_only = pytest.mark.skipif(
    not __import__("os").path.exists("/usr/bin/chromium"), reason="/usr/bin/chromium missing"
)


@browser_only
def test_model_page_in_browser(page: Any, phone: Any, reading: Reading) -> None:
    from tests.web._browser import axe, no_sideways_scroll, shot

    for pg, name in ((page, "reading-model"), (phone, "reading-model-phone")):
        pg.goto(f"{reading.url}/{reading.model}")
        assert pg.locator("h1").count() == 1
        assert pg.locator("#chips dt").all_inner_texts() == [
            "TASKS",
            "LIBRARIES",
            "DATASETS",
            "LANGUAGES",
            "LICENSES",
            "OTHER",
        ] or pg.locator("#chips dt").all_inner_texts() == [
            "Tasks",
            "Libraries",
            "Datasets",
            "Languages",
            "Licenses",
            "Other",
        ]
        assert pg.locator("#eval-results tbody tr").count() == 3
        assert pg.locator("#downloads-chart svg rect").count() == 30
        assert pg.locator("#model-tree .tree-row").count() == 4
        no_sideways_scroll(pg)
        axe(pg)
        shot(pg, name)
    page.click("#chips a:has-text('mit')")
    page.wait_for_url("**/models?license=mit")


@browser_only
def test_file_viewer_in_browser(page: Any, phone: Any, reading: Reading) -> None:
    from tests.web._browser import axe, no_sideways_scroll, shot

    page.goto(f"{reading.url}/{reading.model}/blob/main/tokenizer.json")
    assert page.locator("#preview-truncated").is_visible()
    assert page.locator("#blob .nt").first.is_visible()
    shot(page, "reading-blob-json", full_page=False)
    # axe-core takes minutes over the 9,000 highlighted lines: it checks the same page on a small JSON file
    page.goto(f"{reading.url}/{reading.model}/blob/main/config.json")
    assert page.locator("#blob .nt").count() == 5
    axe(page)
    phone.goto(f"{reading.url}/{reading.model}/blob/main/tokenizer.json")
    no_sideways_scroll(phone)
    page.goto(f"{reading.url}/{reading.model}/blob/main/docs/notes.md")
    assert page.locator("#blob .markdown h2").inner_text() == "Notes title"
    page.click(".view-switch a:has-text('Raw')")
    page.wait_for_url("**?view=raw")
    assert "# Notes title" in page.locator("#blob table.code").inner_text()
    axe(page)
    page.click(".view-switch a:has-text('Rendered')")
    assert page.locator("#blob .markdown h2").count() == 1


@browser_only
def test_commit_diff_and_404_in_browser(page: Any, phone: Any, reading: Reading) -> None:
    from tests.web._browser import axe, no_sideways_scroll, shot

    page.goto(f"{reading.url}/{reading.model}/commit/{reading.second_sha}")
    assert page.locator("table.diff tr.add").count() >= 2
    axe(page)
    shot(page, "reading-commit-diff")
    phone.goto(f"{reading.url}/{reading.model}/commit/{reading.second_sha}")
    no_sideways_scroll(phone)
    axe(phone)
    page.goto(f"{reading.url}/nobody/no-such-repo")
    assert page.locator("h1").inner_text() == "Repository not found"
    assert "NotFound" not in page.locator("main").inner_text()
    axe(page)
    shot(page, "reading-404")
