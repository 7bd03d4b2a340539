"""Where model files come from: a ModelYard hub (snapshot download) or local directories (tests, dev).

Sources are plain picklable objects: the worker process calls :meth:`ModelSource.snapshot` itself, so a
slow download never blocks the HTTP front.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from modelyard.errors import RepoNotFound


@runtime_checkable
class ModelSource(Protocol):
    def snapshot(self, repo_id: str, revision: str) -> Path:
        """A local directory holding the repo's files at ``revision``."""
        ...


@dataclass(frozen=True)
class LocalDirSource:
    """Maps repo ids to directories. ``revision`` is ignored."""

    dirs: dict[str, Path] = field(default_factory=dict)

    def snapshot(self, repo_id: str, revision: str) -> Path:
        try:
            path = Path(self.dirs[repo_id])
        except KeyError:
            raise RepoNotFound(f"Repository {repo_id!r} not found") from None
        if not path.is_dir():
            raise RepoNotFound(f"Directory for {repo_id!r} does not exist: {path}")
        return path


@dataclass(frozen=True)
class HubSource:
    """Downloads a snapshot from a ModelYard (or HF-compatible) hub with ``huggingface_hub``."""

    endpoint_url: str
    token: str | None = None
    cache_dir: Path | None = None

    def snapshot(self, repo_id: str, revision: str) -> Path:
        os.environ.setdefault("HF_HUB_DISABLE_XET", "1")
        os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
        from huggingface_hub import snapshot_download

        path = snapshot_download(
            repo_id,
            revision=revision,
            endpoint=self.endpoint_url.rstrip("/"),
            token=self.token or False,
            cache_dir=str(self.cache_dir) if self.cache_dir else None,
        )
        return Path(path)
