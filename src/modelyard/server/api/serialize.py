"""Wire shapes (camelCase, as the HF clients read them)."""

from __future__ import annotations

from typing import Any

from modelyard.hub._time import iso
from modelyard.hub.files import TreeEntry
from modelyard.hub.repos import Repo
from modelyard.hub.revisions import Commit, FileEntry
from modelyard.storage.hashing import lfs_pointer
from modelyard.types import RepoType


def pointer_size(sha256: str, size: int) -> int:
    return len(lfs_pointer(sha256, size))


def sibling(e: FileEntry, blobs: bool) -> dict[str, Any]:
    d: dict[str, Any] = {"rfilename": e.path}
    if blobs:
        d["size"] = e.size
        d["blobId"] = e.oid
        d["lfs"] = (
            {"sha256": e.sha256, "size": e.size, "pointerSize": pointer_size(e.sha256, e.size)}
            if e.lfs
            else None
        )
    return d


def repo_info(
    repo: Repo,
    sha: str | None,
    files: dict[str, FileEntry] | None,
    blobs: bool = False,
    expand: list[str] | None = None,
    extra: dict[str, Any] | None = None,
    safetensors: dict[str, Any] | None = None,
    space: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """`space`: a Space's `host`, `subdomain` and `runtime` (server/api/spaces.py space_fields)."""
    d: dict[str, Any] = {
        "_id": str(repo.id),
        "id": repo.id_str,
        "author": repo.namespace,
        "sha": sha,
        "lastModified": iso(repo.last_modified),
        "createdAt": iso(repo.created_at),
        "private": repo.private,
        "gated": repo.gated or False,
        "disabled": False,
        "downloads": repo.downloads,
        "likes": repo.likes,
        "tags": list(repo.tags),
        "cardData": repo.card_data,
        "usedStorage": repo.used_storage,
    }
    if repo.type is RepoType.MODEL:
        d["modelId"] = repo.id_str
        d["pipeline_tag"] = repo.pipeline_tag
        d["library_name"] = repo.library_name
        d["trendingScore"] = repo.likes
        if safetensors is not None:
            d["safetensors"] = safetensors
    if repo.type is RepoType.SPACE:
        d["sdk"] = repo.sdk
        d["runtime"] = {"stage": "NO_APP_FILE"}
        if space is not None:
            d.update(space)
    if files is not None:
        d["siblings"] = [sibling(e, blobs) for e in sorted(files.values(), key=lambda e: e.path)]
    if extra:
        d.update(extra)
    if expand:
        keep = set(expand) | {"id", "_id"}
        d = {k: v for k, v in d.items() if k in keep}
    return d


def last_commit(c: Commit | None) -> dict[str, Any] | None:
    if c is None:
        return None
    return {"id": c.sha, "title": c.title, "date": iso(c.created_at)}


def tree_entry(
    t: TreeEntry,
    commits: dict[str, Commit] | None,
    xet_hashes: dict[str, str | None] | None = None,
    security: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    d: dict[str, Any] = {"type": t.type, "oid": t.oid, "path": t.path}
    if t.type == "file":
        d["size"] = t.size
        if t.lfs:
            d["lfs"] = {"oid": t.sha256, "size": t.size, "pointerSize": pointer_size(t.sha256, t.size)}
            xet_hash = (xet_hashes or {}).get(t.sha256)
            if xet_hash:
                d["xetHash"] = xet_hash
    else:
        d["size"] = 0
    if commits is not None:
        d["lastCommit"] = last_commit(commits.get(t.last_commit_sha))
    if security is not None and t.path in security:  # expand: the file's scan results (hub/pickles.py)
        d["securityFileStatus"] = security[t.path]
    return d


def commit_item(c: Commit, formatted: bool) -> dict[str, Any]:
    import html

    d: dict[str, Any] = {
        "id": c.sha,
        "authors": [{"user": c.author, "avatar": None}],
        "date": iso(c.created_at),
        "title": c.title,
        "message": c.message,
    }
    if formatted:
        d["formatted"] = {"title": html.escape(c.title), "message": html.escape(c.message)}
    return d
