"""The hub on PostgreSQL: migrations apply, and the core client workflow works the same as on SQLite."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from huggingface_hub import hf_hub_download

pytestmark = pytest.mark.postgres


def test_hub_on_postgres(postgres_url: str, hub_factory: Any, tmp_path: Path) -> None:
    hub = hub_factory(database_url=postgres_url)
    assert hub.services.db.engine.dialect.name == "postgresql"
    api = hub.api()
    api.create_repo("pg-model", private=True)
    folder = tmp_path / "up"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "bert"}')
    (folder / "README.md").write_text("---\nlicense: mit\ntags: [pg]\n---\n# on postgres\n")
    weights = os.urandom(2_000_000)
    (folder / "model.safetensors").write_bytes(weights)
    api.upload_folder(folder_path=folder, repo_id="alice/pg-model")
    api.create_tag("alice/pg-model", tag="v1")
    api.create_branch("alice/pg-model", branch="dev")
    api.upload_file(
        path_or_fileobj=b"dev only", path_in_repo="dev.txt", repo_id="alice/pg-model", revision="dev"
    )
    assert sorted(api.list_repo_files("alice/pg-model")) == [
        ".gitattributes",
        "README.md",
        "config.json",
        "model.safetensors",
    ]
    assert "dev.txt" in api.list_repo_files("alice/pg-model", revision="dev")
    info = api.model_info("alice/pg-model", revision="v1")
    assert info.card_data is not None and info.card_data["license"] == "mit" and info.private
    p = hf_hub_download(
        "alice/pg-model",
        "model.safetensors",
        revision="v1",
        endpoint=hub.url,
        token=hub.alice,
        cache_dir=tmp_path / "cache",
    )
    assert hashlib.sha256(Path(p).read_bytes()).hexdigest() == hashlib.sha256(weights).hexdigest()
    # private: 404 RepoNotFound to anonymous, listed only for the owner
    r = httpx.get(f"{hub.url}/api/models/alice/pg-model")
    assert r.status_code == 404 and r.headers["x-error-code"] == "RepoNotFound"
    assert [m.id for m in api.list_models(author="alice")] == ["alice/pg-model"]
    assert list(hub.api(token=hub.bob).list_models(author="alice")) == []
    commits = api.list_repo_commits("alice/pg-model")
    assert [c.title for c in commits][-1] == "initial commit" and len(commits) == 2
    # issue 10 on PostgreSQL: duplicate (history copied with INSERT … SELECT), lfs-files, collections
    api.duplicate_repo("alice/pg-model", "alice/pg-copy")
    assert api.model_info("alice/pg-copy").sha == api.model_info("alice/pg-model").sha
    assert [f.filename for f in api.list_lfs_files("alice/pg-copy")] == ["model.safetensors"]
    c = api.create_collection("PG picks", private=True)
    api.add_collection_item(c.slug, "alice/pg-copy", "model", note="copy")
    assert [x.slug for x in api.list_collections(owner="ALICE", item="models/alice/pg-copy")] == [c.slug]
    assert list(hub.api(token=hub.bob).list_collections(owner="alice")) == []
