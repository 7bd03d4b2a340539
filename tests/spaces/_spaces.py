"""Helpers of the Spaces tests: a card, push a Space, wait for a stage, the Space's URL on the Spaces origin."""

from __future__ import annotations

import io
import time
from typing import Any

import pytest
from huggingface_hub import CommitOperationAdd

from conftest import Hub

GRADIO_VERSION = "6.31.0"
STREAMLIT_VERSION = "1.67.0"


def card(sdk: str, **meta: Any) -> str:
    lines = ["---", "title: Test", f"sdk: {sdk}"]
    if sdk == "gradio":
        meta.setdefault("sdk_version", GRADIO_VERSION)
    if sdk == "streamlit":
        meta.setdefault("sdk_version", STREAMLIT_VERSION)
    for k, v in meta.items():
        if isinstance(v, list):
            lines.append(f"{k}:")
            lines += [f"  - {x}" for x in v]
        else:
            lines.append(f"{k}: {v}")
    return "\n".join([*lines, "---", "", "A test Space."]) + "\n"


def push_space(
    hub: Hub,
    name: str,
    files: dict[str, str | bytes],
    token: str | None = None,
    private: bool = False,
    exist_ok: bool = False,
) -> str:
    """Create space alice/<name> (or the token's user) and commit `files` in one commit; returns the repo id."""
    api = hub.api(token)
    user = api.whoami()["name"]
    repo_id = f"{user}/{name}"
    sdk = "static"
    readme = files.get("README.md")
    if isinstance(readme, str):
        for line in readme.splitlines():
            if line.startswith("sdk:"):
                sdk = line.split(":", 1)[1].strip()
    api.create_repo(repo_id, repo_type="space", space_sdk=sdk, private=private, exist_ok=exist_ok)
    ops = [
        CommitOperationAdd(path, io.BytesIO(data.encode() if isinstance(data, str) else data))
        for path, data in files.items()
    ]
    api.create_commit(repo_id, ops, commit_message="space files", repo_type="space")
    return repo_id


def wait_stage(
    hub: Hub, repo_id: str, stages: set[str], timeout: float = 300, token: str | None = None
) -> dict[str, Any]:
    """Poll get_space_runtime until its stage is one of `stages`; the runtime's raw JSON. Fails with the logs."""
    api = hub.api(token)
    deadline = time.monotonic() + timeout
    runtime = api.get_space_runtime(repo_id)
    while runtime.stage not in stages:
        if time.monotonic() > deadline:
            logs = logs_of(hub, repo_id, token)
            pytest.fail(f"{repo_id} stayed {runtime.stage} (wanted {sorted(stages)}){logs}")
        time.sleep(0.5)
        runtime = api.get_space_runtime(repo_id)
    return dict(runtime.raw)


def space_url(hub: Hub, repo_id: str) -> str:
    return f"{hub.extra['spaces_url']}/spaces/{repo_id}"


def logs_of(hub: Hub, repo_id: str, token: str | None = None) -> str:
    api = hub.api(token)
    out = ""
    for kind in ("build", "run"):
        try:
            out += f"\n--- {kind} log ---\n" + "\n".join(
                api.fetch_space_logs(repo_id, build=kind == "build", follow=False)
            )
        except Exception as e:  # pragma: no cover - diagnostics only
            out += f"\n({kind} log unavailable: {e})"
    return out


def wait_running(hub: Hub, repo_id: str, timeout: float = 300, token: str | None = None) -> dict[str, Any]:
    """Wait until the Space settles; fail with its build and run logs unless it is RUNNING."""
    runtime = wait_stage(
        hub, repo_id, {"RUNNING", "BUILD_ERROR", "RUNTIME_ERROR", "CONFIG_ERROR"}, timeout, token
    )
    if runtime["stage"] != "RUNNING":
        pytest.fail(
            f"{repo_id} is {runtime['stage']}: {runtime.get('errorMessage')}{logs_of(hub, repo_id, token)}"
        )
    return runtime
