"""Spaces end to end: pushed with HfApi, built with uv, run sandboxed, reached through the Spaces origin with
gradio_client and plain HTTP. The model → API → demo story: a Gradio Space calls an inference endpoint of a model
on the same hub, with the token it needs as a Space secret."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from gradio_client import Client
from huggingface_hub import constants
from tests.inference.test_hub_endpoint_api import CPU
from tests.spaces._spaces import card, push_space, space_url, wait_running, wait_stage

pytestmark = pytest.mark.timeout(600)


CLASSIFY_APP = """
import os
import gradio as gr
from huggingface_hub import InferenceClient

print("token is", os.environ.get("HF_TOKEN"), flush=True)  # the run log must show *** instead
client = InferenceClient(
    base_url=os.environ["HF_ENDPOINT"] + "/endpoints/" + os.environ["ENDPOINT_NAME"],
    token=os.environ["HF_TOKEN"],
)

def classify(text):
    return client.text_classification(text)[0].label

gr.Interface(classify, gr.Textbox(label="text"), gr.Textbox(label="label")).launch()
"""


def test_gradio_space_calls_a_model_endpoint_on_the_same_hub(
    spaces_hub: Any, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = spaces_hub
    api = hub.api()
    model = "alice/space-classifier"
    api.create_repo(model, exist_ok=True)
    api.upload_folder(folder_path=tiny_model_dir, repo_id=model)
    monkeypatch.setattr(constants, "INFERENCE_ENDPOINTS_ENDPOINT", f"{hub.url}/v2")
    api.create_inference_endpoint("space-classifier", repository=model, task="text-classification", **CPU)
    try:
        repo_id = "alice/classify-demo"
        api.create_repo(repo_id, repo_type="space", space_sdk="gradio", exist_ok=True)
        # secrets and variables first: the build that the commit starts already sees them
        api.add_space_secret(repo_id, "HF_TOKEN", hub.alice_read)
        api.add_space_variable(repo_id, "ENDPOINT_NAME", "space-classifier")
        push_space(
            hub,
            "classify-demo",
            {"README.md": card("gradio", models=[model]), "app.py": CLASSIFY_APP},
            exist_ok=True,
        )
        runtime = wait_stage(hub, repo_id, {"RUNNING", "BUILD_ERROR", "RUNTIME_ERROR"})
        assert runtime["stage"] == "RUNNING", runtime
        client = Client(space_url(hub, repo_id) + "/", verbose=False)
        label = client.predict("the cat is happy today", api_name="/classify")
        assert label in {"POSITIVE", "NEGATIVE"}
        run_log = "\n".join(api.fetch_space_logs(repo_id, follow=False))
        assert "token is ***" in run_log
        assert hub.alice_read not in run_log
        assert hub.alice_read not in str(api.get_space_secrets(repo_id))
    finally:
        api.delete_inference_endpoint("space-classifier")


def test_static_space_is_served_on_the_spaces_origin_only(spaces_hub: Any) -> None:
    hub = spaces_hub
    html = "<!doctype html><title>static</title><link rel=stylesheet href=style.css><p id=x>hello static</p>"
    repo_id = push_space(
        hub,
        "static-demo",
        {"README.md": card("static"), "index.html": html, "style.css": "p { color: red }"},
    )
    assert wait_stage(hub, repo_id, {"RUNNING", "NO_APP_FILE", "CONFIG_ERROR"})["stage"] == "RUNNING"
    page = httpx.get(space_url(hub, repo_id) + "/", timeout=30)
    assert page.status_code == 200 and "hello static" in page.text
    assert page.headers["content-type"].startswith("text/html")
    css = httpx.get(space_url(hub, repo_id) + "/style.css", timeout=30)
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    # on the hub's own origin the same file is never a page
    raw = httpx.get(f"{hub.url}/spaces/{repo_id}/resolve/main/index.html", timeout=30)
    assert "attachment" in raw.headers.get("content-disposition", "")
    # the hub does not serve Spaces, the Spaces origin does not serve the hub
    assert (
        httpx.get(f"{hub.extra['spaces_url']}/api/whoami-v2", headers=hub.auth(), timeout=30).status_code
        == 404
    )


def test_streamlit_space_runs(spaces_hub: Any) -> None:
    hub = spaces_hub
    app = "import streamlit as st\nst.title('hello streamlit')\nst.write(st.text_input('name', 'x'))\n"
    repo_id = push_space(hub, "streamlit-demo", {"README.md": card("streamlit"), "app.py": app})
    wait_running(hub, repo_id)
    health = httpx.get(space_url(hub, repo_id) + "/_stcore/health", timeout=30)
    assert health.status_code == 200 and health.text == "ok"
    page = httpx.get(space_url(hub, repo_id) + "/", timeout=30)
    assert page.status_code == 200 and "<html" in page.text.lower()


def test_bad_requirement_is_a_build_error_with_uv_output(spaces_hub: Any) -> None:
    hub = spaces_hub
    repo_id = push_space(
        hub,
        "bad-requirements",
        {
            "README.md": card("gradio"),
            "app.py": "import gradio as gr\ngr.Interface(lambda x: x, 'text', 'text').launch()\n",
            "requirements.txt": "this-package-does-not-exist-modelyard-xyz==1.0\n",
        },
    )
    runtime = wait_stage(hub, repo_id, {"RUNNING", "BUILD_ERROR", "RUNTIME_ERROR"})
    assert runtime["stage"] == "BUILD_ERROR", runtime
    build_log = "\n".join(hub.api().fetch_space_logs(repo_id, build=True, follow=False))
    assert "this-package-does-not-exist-modelyard-xyz" in build_log
    # a request through the proxy gets the stage, not a hang
    r = httpx.get(space_url(hub, repo_id) + "/config", timeout=30)
    assert r.status_code == 503 and r.headers.get("x-error-code") == "SpaceNotRunning"


def test_crashing_app_is_a_runtime_error(spaces_hub: Any) -> None:
    hub = spaces_hub
    app = (
        "import sys\nprint('starting up', flush=True)\nraise SystemExit('the demo cannot start: no model')\n"
    )
    repo_id = push_space(hub, "crashing", {"README.md": card("gradio"), "app.py": app})
    runtime = wait_stage(hub, repo_id, {"RUNNING", "BUILD_ERROR", "RUNTIME_ERROR"}, timeout=300)
    assert runtime["stage"] == "RUNTIME_ERROR", runtime
    assert runtime["errorMessage"]
    run_log = "\n".join(hub.api().fetch_space_logs(repo_id, follow=False))
    assert "the demo cannot start: no model" in run_log


PROBE_APP = """
import json, os, socket
import gradio as gr

def probe(_):
    out = {}
    def attempt(name, fn):
        try:
            out[name] = "ok: " + str(fn())[:200]
        except Exception as e:
            out[name] = "blocked: " + type(e).__name__
    data = os.environ["HUB_DATA_DIR"]
    attempt("list_data_dir", lambda: os.listdir(data))
    attempt("read_db", lambda: open(os.path.join(data, "modelyard.db"), "rb").read(16))
    attempt("read_secret_key", lambda: open(os.path.join(data, "secret")).read())
    attempt("read_root", lambda: os.listdir("/root"))
    attempt("write_app", lambda: open("/app/x", "w").write("x"))
    environs = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                environs.append(open(f"/proc/{pid}/environ", "rb").read().decode("latin-1"))
            except OSError:
                pass
    hint = os.environ["OTHER_SECRET_HINT"][::-1]  # reversed: its own environment holds the hint, not the secret
    out["other_secret_seen"] = any(hint in e for e in environs)
    out["processes_seen"] = len(environs)
    out["own_secret_seen"] = os.environ.get("MY_SECRET") == "own-secret-value"
    host, port = os.environ["HUB_HOST_PORT"].split(":")
    attempt("hub_port_direct", lambda: socket.create_connection((host, int(port)), timeout=2))
    attempt("hub_via_endpoint", lambda: __import__("urllib.request").request.urlopen(
        os.environ["HF_ENDPOINT"] + "/api/models", timeout=5).status)
    return json.dumps(out)

gr.Interface(probe, "text", "text").launch()
"""


def test_a_space_cannot_read_the_hub_or_another_spaces_secrets(spaces_hub: Any) -> None:
    hub = spaces_hub
    api = hub.api()
    other_secret = "other-space-secret-" + "x" * 24
    other = push_space(
        hub,
        "isolation-victim",
        {
            "README.md": card("gradio"),
            "app.py": "import gradio as gr\ngr.Interface(lambda x: x, 'text', 'text').launch()\n",
        },
    )
    api.add_space_secret(other, "VICTIM_SECRET", other_secret)
    api.restart_space(other)
    wait_running(hub, other)

    prober = "alice/isolation-prober"
    api.create_repo(prober, repo_type="space", space_sdk="gradio")
    api.add_space_secret(prober, "MY_SECRET", "own-secret-value")
    api.add_space_variable(prober, "HUB_DATA_DIR", str(Path(hub.settings.data_dir).resolve()))
    api.add_space_variable(prober, "OTHER_SECRET_HINT", other_secret[::-1])
    api.add_space_variable(prober, "HUB_HOST_PORT", f"127.0.0.1:{hub.port}")
    push_space(hub, "isolation-prober", {"README.md": card("gradio"), "app.py": PROBE_APP}, exist_ok=True)
    wait_running(hub, prober)
    import json

    out = json.loads(Client(space_url(hub, prober) + "/", verbose=False).predict("x", api_name="/probe"))
    assert out["own_secret_seen"] is True, out
    assert out["other_secret_seen"] is False, out
    for name in ("list_data_dir", "read_db", "read_secret_key", "read_root", "write_app"):
        assert out[name].startswith("blocked"), (name, out)
    assert out["hub_via_endpoint"] == "ok: 200", out  # the hub is reachable, as HF_ENDPOINT
    if hub.services.settings.spaces_sandbox != "none":
        assert out["hub_port_direct"] == "ok: " or out["hub_port_direct"].startswith(("ok", "blocked")), out


def test_sleep_wake_and_restart_after_a_commit(spaces_hub: Any) -> None:
    hub = spaces_hub
    api = hub.api()
    app = "import gradio as gr\ndef answer(x):\n    return 'v1:' + x\ngr.Interface(answer, 'text', 'text').launch()\n"
    repo_id = push_space(hub, "sleepy", {"README.md": card("gradio"), "app.py": app})
    wait_running(hub, repo_id)
    url = space_url(hub, repo_id) + "/"
    assert Client(url, verbose=False).predict("a", api_name="/answer") == "v1:a"

    api.set_space_sleep_time(repo_id, 3)
    assert wait_stage(hub, repo_id, {"SLEEPING"}, timeout=60)["stage"] == "SLEEPING"
    # a browser navigation wakes it with a waiting page; an API client waits for it
    page = httpx.get(url, headers={"accept": "text/html"}, timeout=30)
    assert page.status_code in (200, 503)
    started = time.monotonic()
    assert Client(url, verbose=False).predict("b", api_name="/answer") == "v1:b"
    assert time.monotonic() - started < 120
    api.set_space_sleep_time(repo_id, 3600)

    # a new commit rebuilds and restarts; the new code answers
    push_space(
        hub,
        "sleepy",
        {
            "app.py": "import gradio as gr\ndef answer(x):\n    return 'v2:' + x\ngr.Interface(answer, 'text', 'text').launch()\n"
        },
        exist_ok=True,
    )
    deadline = time.monotonic() + 180
    answer = ""
    while time.monotonic() < deadline:
        rt = wait_stage(hub, repo_id, {"RUNNING", "RUNTIME_ERROR", "BUILD_ERROR"})
        assert rt["stage"] == "RUNNING", rt
        answer = Client(url, verbose=False).predict("c", api_name="/answer")
        if answer == "v2:c":
            break
        time.sleep(1)
    assert answer == "v2:c"

    api.pause_space(repo_id)
    assert api.get_space_runtime(repo_id).stage == "PAUSED"
    r = httpx.get(url + "config", timeout=30)
    assert r.status_code == 503 and r.headers.get("x-error-code") == "SpaceNotRunning"
    api.restart_space(repo_id)
    assert wait_stage(hub, repo_id, {"RUNNING", "RUNTIME_ERROR"})["stage"] == "RUNNING"
