"""Issue 10 §1: files the default client uploads through Xet are first-class content.

The default ``huggingface_hub`` client (hf_xet, no flag) pushes a parquet data file, a CSV, a safetensors model, a
README, a small text file and a few MB of binary; they are stored as Xet chunks only (no whole blob). Then, through
HTTP: the dataset viewer shows the rows, repo info counts the parameters, the card is parsed, file previews and
commit diffs render, and snapshots for endpoints rebuild the bytes exactly.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import textwrap
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from _xet_client import hf_client, parquet_bytes, safetensors_bytes

CLIENT = textwrap.dedent(
    """
    import json, sys
    from huggingface_hub import HfApi, constants
    op, endpoint, token, repo, repo_type, *rest = sys.argv[1:]
    api = HfApi(endpoint=endpoint, token=token)
    if op == "folder":
        info = api.upload_folder(folder_path=rest[0], repo_id=repo, repo_type=repo_type)
    else:
        info = api.upload_file(
            path_or_fileobj=rest[0], path_in_repo=rest[1], repo_id=repo, repo_type=repo_type, create_pr=op == "pr"
        )
    out = {"commit": info.oid, "pr": info.pr_num, "xet_disabled": constants.HF_HUB_DISABLE_XET}
    print(json.dumps(out))
    """
)

EXTRA_ATTRS = "*.txt filter=lfs diff=lfs merge=lfs -text\n*.csv filter=lfs diff=lfs merge=lfs -text\n"
EXTRA_ATTRS += "README.md filter=lfs diff=lfs merge=lfs -text\n"
CARD = "---\nlicense: apache-2.0\ntags: [xet-card]\n---\n# Pushed through Xet\n"


def push(hub: Any, tmp: Path, repo: str, repo_type: str, *args: str) -> dict[str, Any]:
    """Run the default client (Xet on) in a fresh process: {commit, pr} (AssertionError if it fails)."""
    script = tmp / "client.py"
    script.write_text(CLIENT)
    op, *rest = args
    res = hf_client(hub, tmp / "cache", hub.alice, True, op, repo, repo_type, *rest, script=str(script))
    assert res["xet_disabled"] is False
    return dict(res)


def add_lfs_patterns(hub: Any, repo: str, repo_type: str) -> None:
    """Make README.md, *.txt and *.csv LFS files in this repo, so the default client sends them through Xet."""
    api = hub.api()
    attrs = api.hf_hub_download(repo, ".gitattributes", repo_type=repo_type)
    text = Path(attrs).read_text() + EXTRA_ATTRS
    api.upload_file(
        path_or_fileobj=text.encode(), path_in_repo=".gitattributes", repo_id=repo, repo_type=repo_type
    )


@pytest.fixture(scope="module")
def xet_repos(live_server: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    hub = live_server
    tmp = tmp_path_factory.mktemp("xet-content")
    tag = hashlib.sha256(str(tmp).encode()).hexdigest()[:6]
    model, dataset = f"alice/xet-model-{tag}", f"alice/xet-data-{tag}"
    api = hub.api()
    api.create_repo(model)
    api.create_repo(dataset, repo_type="dataset")
    add_lfs_patterns(hub, model, "model")
    add_lfs_patterns(hub, dataset, "dataset")

    up = tmp / "model"
    up.mkdir()
    (up / "notes.txt").write_text("first line\nsecond line\n")
    weights = safetensors_bytes({"w": ("F32", [10, 20]), "b": ("F32", [20]), "e": ("F16", [5, 4])})
    (up / "model.safetensors").write_bytes(weights)
    big = os.urandom(3_000_000)
    (up / "big.bin").write_bytes(big)
    push(hub, tmp, model, "model", "folder", str(up))
    (tmp / "notes-v2.txt").write_text("first line\nsecond line changed\nthird line\n")
    second = push(hub, tmp, model, "model", "file", str(tmp / "notes-v2.txt"), "notes.txt")["commit"]
    (tmp / "README.md").write_text(CARD)
    try:  # card parsing on commit reads the README's bytes: checked in test_card_of_a_xet_readme
        readme: str | None = None
        push(hub, tmp, model, "model", "file", str(tmp / "README.md"), "README.md")
    except AssertionError as e:
        readme = str(e)

    data = tmp / "dataset"
    (data / "data").mkdir(parents=True)
    (data / "data" / "train.parquet").write_bytes(parquet_bytes(100))
    (data / "data" / "test.csv").write_text(
        "text,label\n" + "".join(f"csv row {i},{i % 2}\n" for i in range(30))
    )
    push(hub, tmp, dataset, "dataset", "folder", str(data))
    return {
        "model": model,
        "dataset": dataset,
        "second": second,
        "readme_error": readme,
        "big": big,
        "weights": weights,
    }


def xet_hashes(hub: Any, repo: str, plural: str) -> dict[str, str | None]:
    r = httpx.get(f"{hub.url}/api/{plural}/{repo}/tree/main", params={"recursive": "1"}, headers=hub.auth())
    entries: list[dict[str, Any]] = []
    while True:
        entries += r.json()
        nxt = r.links.get("next", {}).get("url")
        if not nxt:
            break
        r = httpx.get(nxt, headers=hub.auth())
    return {e["path"]: e.get("xetHash") for e in entries if e["type"] == "file"}


def test_uploads_went_through_xet_only(live_server: Any, xet_repos: dict[str, Any]) -> None:
    hub = live_server
    model = xet_hashes(hub, xet_repos["model"], "models")
    data = xet_hashes(hub, xet_repos["dataset"], "datasets")
    for path in ("notes.txt", "model.safetensors", "big.bin"):
        assert model[path], path
    for path in ("data/train.parquet", "data/test.csv"):
        assert data[path], path
    digest = hashlib.sha256(xet_repos["big"]).hexdigest()
    assert not hub.services.store.exists(digest)  # chunks only: no whole blob to fall back on


def test_dataset_viewer_reads_xet_parquet_and_csv(live_server: Any, xet_repos: dict[str, Any]) -> None:
    hub = live_server
    url = f"{hub.url}/datasets/{xet_repos['dataset']}/viewer"
    page = httpx.get(url, params={"split": "train", "file": "data/train.parquet", "offset": "50"})
    assert page.status_code == 200
    assert "Cannot read" not in page.text
    assert "parquet row 50" in page.text and "parquet row 99" in page.text
    page = httpx.get(url, params={"split": "test", "file": "data/test.csv"})
    assert "Cannot read" not in page.text and "csv row 29" in page.text


def test_parameter_counts_of_xet_safetensors(live_server: Any, xet_repos: dict[str, Any]) -> None:
    hub = live_server
    info = hub.api().model_info(xet_repos["model"], expand=["safetensors"])
    assert info.safetensors is not None
    assert info.safetensors.total == 10 * 20 + 20 + 5 * 4
    assert info.safetensors.parameters == {"F32": 220, "F16": 20}
    page = httpx.get(f"{hub.url}/{xet_repos['model']}")
    assert page.status_code == 200 and "240" in page.text


def test_card_of_a_xet_readme(live_server: Any, xet_repos: dict[str, Any]) -> None:
    hub = live_server
    assert xet_repos["readme_error"] is None
    info = hub.api().model_info(xet_repos["model"])
    assert info.card_data is not None and info.card_data.get("license") == "apache-2.0"
    assert "xet-card" in (info.tags or [])
    page = httpx.get(f"{hub.url}/{xet_repos['model']}")
    assert "Pushed through Xet" in page.text


def test_previews_of_xet_files(live_server: Any, xet_repos: dict[str, Any]) -> None:
    hub = live_server
    base = f"{hub.url}/{xet_repos['model']}/blob/main"
    notes = httpx.get(f"{base}/notes.txt")
    assert notes.status_code == 200 and "not available" not in notes.text
    assert "second line changed" in notes.text and "third line" in notes.text
    if xet_repos["readme_error"] is None:
        readme = httpx.get(f"{base}/README.md")
        assert "not available" not in readme.text and "Pushed through Xet" in readme.text
    binary = httpx.get(f"{base}/big.bin")
    assert "not available" not in binary.text and "Binary file" in binary.text
    parquet = httpx.get(f"{hub.url}/datasets/{xet_repos['dataset']}/blob/main/data/train.parquet")
    assert "not available" not in parquet.text and "Binary file" in parquet.text


def test_commit_diff_of_xet_text_file(live_server: Any, xet_repos: dict[str, Any]) -> None:
    hub = live_server
    page = httpx.get(f"{hub.url}/{xet_repos['model']}/commit/{xet_repos['second']}")
    assert page.status_code == 200
    assert "not available" not in page.text and "not found" not in page.text.lower()
    # the diff's rows: added and deleted lines (line numbers and the sign in cells of their own)
    rows = re.findall(r'<tr class="(add|del)">(.*?)</tr>', page.text, re.S)
    src = [
        (kind, re.sub(r"<[^>]+>", "", re.findall(r'<td class="src">(.*?)</td>', html, re.S)[0]))
        for kind, html in rows
    ]
    lines = [(kind, text[1:]) for kind, text in src]  # without the +/- sign
    assert ("add", "second line changed") in lines and ("del", "second line") in lines, lines
    assert ("add", "third line") in lines, lines


def test_snapshot_for_endpoints_rebuilds_xet_files(
    live_server: Any, xet_repos: dict[str, Any], tmp_path: Path
) -> None:
    from modelyard.inference.store_source import StoreSource

    hub = live_server
    s = hub.settings
    src = StoreSource(s.resolved_database_url, s.resolved_blob_url, s.resolved_secret(), tmp_path / "snap")
    root = src.snapshot(xet_repos["model"], "main")
    assert (root / "big.bin").read_bytes() == xet_repos["big"]
    assert (root / "model.safetensors").read_bytes() == xet_repos["weights"]
    assert (root / "notes.txt").read_text() == "first line\nsecond line changed\nthird line\n"


def test_content_service_over_xet_file(live_server: Any, xet_repos: dict[str, Any]) -> None:
    """The domain service itself: size, ranged reads, a seekable stream and bounded pieces over Xet chunks."""
    content = live_server.services.content
    big: bytes = xet_repos["big"]
    sha = hashlib.sha256(big).hexdigest()
    assert content.exists(sha) and content.size(sha) == len(big)
    assert content.local_path(sha) is None and content.xet_hash(sha)
    assert content.read(sha, 1_000_000, 1_000_100) == big[1_000_000:1_000_100]
    assert content.read(sha, len(big) - 10, len(big) + 50) == big[-10:]
    pieces = list(content.iter_range(sha, 123, 2_500_000))
    assert b"".join(pieces) == big[123:2_500_000] and max(map(len, pieces)) <= 1024 * 1024
    with content.open(sha) as f:
        f.seek(-5, io.SEEK_END)
        assert f.read() == big[-5:]
        f.seek(2_000_000)
        assert f.read(10) == big[2_000_000:2_000_010] and f.tell() == 2_000_010
        f.seek(7)
        assert f.read(300_000) == big[7:300_007]
    missing = "0" * 64
    assert not content.exists(missing) and content.size(missing) is None
    with pytest.raises(FileNotFoundError):
        content.open(missing)


def test_merged_pull_request_with_a_xet_readme(live_server: Any, tmp_path: Path) -> None:
    """Merging a PR whose README arrived through Xet parses the card (the merge reads the README's bytes)."""
    hub = live_server
    repo = f"alice/xet-pr-{uuid.uuid4().hex[:6]}"
    hub.api().create_repo(repo)
    add_lfs_patterns(hub, repo, "model")
    (tmp_path / "README.md").write_text(CARD)
    pr = push(hub, tmp_path, repo, "model", "pr", str(tmp_path / "README.md"), "README.md")["pr"]
    assert pr is not None
    hub.api().merge_pull_request(repo, pr)
    info = hub.api().model_info(repo)
    assert info.card_data is not None and info.card_data.get("license") == "apache-2.0"


def test_git_lfs_download_of_a_xet_object(live_server: Any, xet_repos: dict[str, Any]) -> None:
    """A Git LFS client (batch API, then the object URL) gets the bytes of a file uploaded through Xet."""
    hub = live_server
    big: bytes = xet_repos["big"]
    oid = hashlib.sha256(big).hexdigest()
    r = httpx.post(
        f"{hub.url}/{xet_repos['model']}.git/info/lfs/objects/batch",
        json={"operation": "download", "transfers": ["basic"], "objects": [{"oid": oid, "size": len(big)}]},
        headers={**hub.auth(), "accept": "application/vnd.git-lfs+json"},
    )
    assert r.status_code == 200
    obj = r.json()["objects"][0]
    assert "error" not in obj, obj
    action = obj["actions"]["download"]
    got = httpx.get(action["href"], headers=action.get("header") or {}, timeout=60)
    assert got.status_code == 200 and got.content == big
