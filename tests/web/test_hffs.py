"""HfFileSystem against the hub: ls, glob, info, open with ranges, reads past EOF."""

from __future__ import annotations

from typing import Any

from tests.web.conftest import WebRepos


def test_hffs_ls_glob_open(live_server: Any, web_repos: WebRepos) -> None:
    from huggingface_hub import HfFileSystem

    fs = HfFileSystem(endpoint=live_server.url, token=live_server.alice, skip_instance_cache=True)
    root = f"datasets/{web_repos.dataset}"
    names = {e["name"] for e in fs.ls(root, detail=True)}
    assert f"{root}/data" in names and f"{root}/README.md" in names
    assert sorted(fs.glob(f"{root}/data/*.csv")) == [f"{root}/data/train.csv"]
    assert len(fs.glob(f"{root}/**/*.*")) >= 4
    info = fs.info(f"{root}/data/train.csv")
    assert info["type"] == "file" and info["size"] > 100
    with fs.open(f"{root}/data/train.csv", "rb", block_size=16) as f:
        f.seek(11)
        assert f.read(15) == b"review number 0"
        f.seek(info["size"] - 3)
        assert f.read(100) == b",1\n"  # a read running past EOF is cut at EOF
        f.seek(info["size"] + 10)
        assert f.read(10) == b""  # past EOF
    full = fs.cat_file(f"{root}/data/train.csv")
    assert fs.cat_file(f"{root}/data/train.csv", start=5, end=25) == full[5:25]
    assert fs.cat_file(f"{web_repos.model}/config.json", start=0, end=1) == b"{"
    assert fs.exists(f"{web_repos.model}/model.safetensors")
    assert not fs.exists(f"{web_repos.model}/nope.bin")
