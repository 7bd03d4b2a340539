"""`modelyard train` (cli/train.py) as a user runs it: a subprocess talking HTTP to a hub running jobs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.training._data import push_sentiment_dataset, push_tiny_bert

from conftest import Hub

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def data(training_hub: Hub) -> Hub:
    push_tiny_bert(training_hub, "alice/cli-bert")
    push_sentiment_dataset(training_hub, "alice/cli-sentiment", n=200)
    return training_hub


def train(
    hub: Hub, *args: str, token: str | None = None, timeout: float = 700
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_TOKEN": token or hub.alice}
    env.pop("MODELYARD_HUB", None)
    env.pop("MODELYARD_TOKEN", None)
    cmd = [str(Path(sys.executable).parent / "modelyard"), "train", *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)


BASE = ("text-classification", "--model", "alice/cli-bert", "--dataset", "alice/cli-sentiment")


def test_validation_error_exits_2_with_the_hubs_message(data: Hub) -> None:
    p = train(data, *BASE, "--output", "alice/cli-x", "--column", "text=txt")
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert (
        "Error (422): column 'txt' (text) not found in alice/cli-sentiment (train); available: text, label"
        in (p.stderr)
    )
    p = train(data, *BASE, "--output", "alice/cli-x", token=data.alice_read)
    assert p.returncode == 2 and "Error (403)" in p.stderr
    p = train(data, *BASE, "--output", "alice/cli-x", "--column", "text")  # not ROLE=COLUMN
    assert p.returncode == 2 and "ROLE=COLUMN" in p.stderr


def test_validate_only(data: Hub) -> None:
    p = train(data, *BASE, "--output", "alice/cli-x", "--validate-only")
    assert p.returncode == 0, p.stderr
    assert "OK: splits train; columns text, label" in p.stdout and "train: 200 rows" in p.stdout


def test_no_wait_prints_the_job_and_returns(data: Hub) -> None:
    start = time.monotonic()
    p = train(data, *BASE, "--output", "alice/cli-nowait", "--epochs", "50", "--no-wait", timeout=120)
    assert p.returncode == 0, p.stderr
    assert time.monotonic() - start < 60
    line = next(ln for ln in p.stdout.splitlines() if ln.startswith("Job "))
    job_id = line.split()[1]
    assert f"{data.url}/jobs/alice/{job_id}" in line
    r = httpx.post(f"{data.url}/api/jobs/alice/{job_id}/cancel", headers=data.auth(), timeout=30)
    assert r.status_code == 200, r.text


def test_a_short_run_shows_progress_metrics_and_the_repo(data: Hub) -> None:
    args: list[Any] = [
        *BASE,
        "--output",
        "alice/cli-tuned",
        "--epochs",
        "3",
        "--lr",
        "1e-3",
        "--batch-size",
        "16",
    ]
    p = train(data, *args, "--hp", "logging_steps=2", "--seed", "7")
    assert p.returncode == 0, (p.stdout[-3000:], p.stderr[-3000:])
    out = p.stdout
    bars = [ln for ln in out.splitlines() if ln.startswith("[") and "loss" in ln]
    assert bars, out
    assert "Metrics:" in out and "accuracy:" in out
    assert f"Model: {data.url}/alice/cli-tuned" in out
    assert data.api().model_info("alice/cli-tuned").card_data.base_model == "alice/cli-bert"


def test_ctrl_c_asks_and_cancels_the_job(data: Hub) -> None:
    env = {**os.environ, "HF_ENDPOINT": data.url, "HF_TOKEN": data.alice, "PYTHONUNBUFFERED": "1"}
    cmd = [str(Path(sys.executable).parent / "modelyard"), "train", *BASE, "--output", "alice/cli-ctrl-c"]
    p = subprocess.Popen(
        [*cmd, "--epochs", "200", "--hp", "logging_steps=1"],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # a suite started in the background (`bash .ci/run &`, nohup) has SIGINT ignored and a child inherits
        # that, so Python installs no KeyboardInterrupt handler; a user at a terminal has the default: restore it
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert p.stdout is not None and p.stdin is not None
    lines: list[str] = []
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # wait for the first progress line: the job is training
        line = p.stdout.readline()
        lines.append(line)
        if line.startswith("[") and "loss" in line:
            break
    job_id = next(ln.split()[1] for ln in lines if ln.startswith("Job "))
    p.send_signal(signal.SIGINT)
    p.stdin.write("y\n")
    p.stdin.flush()
    out, _ = p.communicate(timeout=120)
    assert p.returncode == 130, "".join(lines) + out
    assert "Cancel the job?" in out and "Canceled." in out
    info = httpx.get(f"{data.url}/api/jobs/alice/{job_id}", headers=data.auth(), timeout=30).json()
    assert info["status"]["stage"] == "CANCELED"
