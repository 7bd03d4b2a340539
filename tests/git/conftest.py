"""git fixtures: the real `git` and `git-lfs` CLIs against the session hub, isolated from any user config."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from conftest import Hub

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def has_git_lfs() -> bool:
    return shutil.which("git-lfs") is not None


@dataclass
class Git:
    """Runs git with a private HOME (no user or system config), prompts off, a fixed identity."""

    home: Path

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        env.update(
            HOME=str(self.home),
            XDG_CONFIG_HOME=str(self.home / ".config"),
            GIT_CONFIG_NOSYSTEM="1",
            GIT_TERMINAL_PROMPT="0",
            GIT_AUTHOR_NAME="Alice A.",
            GIT_AUTHOR_EMAIL="alice@example.org",
            GIT_COMMITTER_NAME="Alice A.",
            GIT_COMMITTER_EMAIL="alice@example.org",
        )
        return env

    def __call__(
        self, *args: str, cwd: Path | None = None, check: bool = True, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        p = subprocess.run(
            ["git", *args],
            cwd=cwd,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=300,
        )
        if check and p.returncode != 0:
            raise AssertionError(f"git {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
        return p


@pytest.fixture
def git(tmp_path: Path) -> Git:
    home = tmp_path / "git-home"
    home.mkdir()
    g = Git(home)
    if has_git_lfs():
        g("lfs", "install", "--skip-repo")  # the filters in HOME's config only
    return g


def git_url(
    hub: Hub, repo_id: str, token: str | None = None, user: str = "alice", repo_type: str = "model"
) -> str:
    """The clone URL of a repo (`datasets/…`, `spaces/…` prefixes), with `user:token@` when a token is given."""
    parts = urlsplit(hub.url)
    auth = f"{user}:{token}@" if token else ""
    prefix = {"model": "", "dataset": "datasets/", "space": "spaces/"}[repo_type]
    return f"{parts.scheme}://{auth}{parts.netloc}/{prefix}{repo_id}"


@pytest.fixture
def clone_url(live_server: Hub) -> Callable[..., str]:
    def make(repo_id: str, token: str | None = None, user: str = "alice", repo_type: str = "model") -> str:
        return git_url(live_server, repo_id, token, user, repo_type)

    return make
