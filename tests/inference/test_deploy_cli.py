"""``modelyard deploy``: against the live hub (endpoint created there) and ``--serve-local`` (snapshot download)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from huggingface_hub import InferenceClient

from modelyard.cli.deploy import deploy

pytestmark = pytest.mark.timeout(300)


def test_deploy_on_the_hub(live_server: Any, repo_name: str, tiny_model_dir: Path) -> None:
    hub = live_server
    api = hub.api()
    api.create_repo(repo_name)
    api.upload_folder(folder_path=tiny_model_dir, repo_id=f"alice/{repo_name}")
    result = CliRunner().invoke(
        deploy,
        [
            f"alice/{repo_name}",
            "--hub",
            hub.url,
            "--token",
            hub.alice,
            "--name",
            repo_name,
            "--timeout",
            "180",
        ],
    )
    try:
        assert result.exit_code == 0, result.output
        assert "Ready: task text-classification" in result.output
        out = InferenceClient(base_url=f"{hub.url}/endpoints/{repo_name}").text_classification(
            "the cat is happy"
        )
        assert abs(sum(o.score for o in out) - 1.0) < 1e-3
        args = [f"alice/{repo_name}", "--hub", hub.url, "--name", repo_name]
        again = CliRunner().invoke(deploy, [*args, "--token", hub.alice])
        assert again.exit_code != 0 and "409" in again.output
        anonymous = CliRunner().invoke(deploy, args)  # deploying needs write access to the repo
        assert anonymous.exit_code != 0 and "401" in anonymous.output
    finally:
        httpx.delete(f"{hub.url}/endpoints/-/api/endpoints/{repo_name}", headers=hub.auth())


def test_deploy_serve_local_downloads_from_the_hub(
    live_server: Any, repo_name: str, tiny_model_dir: Path
) -> None:
    hub = live_server
    api = hub.api()
    api.create_repo(repo_name, private=True)
    api.upload_folder(folder_path=tiny_model_dir, repo_id=f"alice/{repo_name}")
    env = dict(os.environ, HF_HUB_DISABLE_XET="1", PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "modelyard", "deploy", f"alice/{repo_name}", "--serve-local", "--port", "0"]
    cmd += ["--hub", hub.url, "--token", hub.alice, "--name", "local-copy"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        assert proc.stdout is not None
        url = None
        for line in proc.stdout:
            if line.startswith("MODELYARD_INFERENCE_LISTENING"):
                url = line.split()[1]
                break
        assert url, "server did not start"
        endpoint = f"{url}/endpoints/local-copy"
        deadline = time.monotonic() + 180
        while httpx.get(endpoint + "/health").status_code != 200:
            assert time.monotonic() < deadline
            assert proc.poll() is None
            time.sleep(0.2)
        out = InferenceClient(base_url=endpoint).text_classification("the cat is happy")
        assert {o.label for o in out} <= {"NEGATIVE", "POSITIVE"}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
