"""The Hub's Spaces API (server/api/spaces.py) through HfApi and the `hf spaces …` CLI: runtime and control,
sleep time, hardware, secrets and variables, logs, duplicate_repo of a Space; the attacker side (another user, a
read token, no token, a fine-grained token for another repo, hostile keys); secret values never come back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from huggingface_hub.errors import HfHubHTTPError
from tests.spaces._spaces import card, push_space, space_url, wait_stage

from modelyard.hub.access import Grants

pytestmark = pytest.mark.timeout(600)

SECRET = "s3cr3t-" + uuid.uuid4().hex  # appears nowhere but in the app's environment
STATIC = {"README.md": card("static"), "index.html": "<h1>hello</h1>"}

ENV_APP = """
import os
import gradio as gr

print("secret is", os.environ.get("API_KEY"), flush=True)  # the run log must show *** instead
print("mode is", os.environ.get("MODE"), flush=True)

def read(name):
    return os.environ.get(name, "")

gr.Interface(read, gr.Textbox(label="name"), gr.Textbox(label="value")).launch()
"""


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def _hf(
    hub: Any, *args: str, token: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """The `hf` CLI in a subprocess, pointed at the hub."""
    env = {
        **os.environ,
        "HF_ENDPOINT": hub.url,
        "HF_TOKEN": token if token is not None else hub.alice,
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "NO_COLOR": "1",
    }
    for k in ("HF_HUB_OFFLINE", "HF_HUB_DISABLE_IMPLICIT_TOKEN"):
        env.pop(k, None)
    hf = Path(sys.executable).with_name("hf")
    return subprocess.run(
        [str(hf), *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def _status(e: pytest.ExceptionInfo[HfHubHTTPError]) -> int:
    assert e.value.response is not None
    return int(e.value.response.status_code)


def _raw(hub: Any, method: str, path: str, token: str | None = None, **kw: Any) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return httpx.request(method, f"{hub.url}{path}", headers=headers, timeout=30, **kw)


# --- no running app needed ------------------------------------------------------------------------------------
def test_hardware_list_zero_gpu_and_dev_mode(spaces_hub: Any) -> None:
    hub = spaces_hub
    api = hub.api()
    hw = api.list_spaces_hardware()
    assert [h.name for h in hw] == ["cpu-basic"]
    assert hw[0].unit_cost_usd == 0 and hw[0].cpu.endswith("vCPU")
    out = _hf(hub, "spaces", "hardware", "--format", "json")
    assert out.returncode == 0, out.stderr
    assert "cpu-basic" in out.stdout
    r = _raw(hub, "GET", "/api/spaces/zero-gpu/quota", hub.alice)
    assert r.status_code == 404 and "ZeroGPU" in r.json()["error"] and r.headers["x-error-code"] == "NotFound"
    repo_id = push_space(hub, _name("devmode"), STATIC)
    with pytest.raises(HfHubHTTPError) as e:
        api.enable_space_dev_mode(repo_id)
    assert _status(e) == 400 and "not supported" in str(e.value)


def test_secrets_and_variables_round_trip(spaces_hub: Any) -> None:
    hub = spaces_hub
    api = hub.api()
    repo_id = push_space(hub, _name("settings"), STATIC)
    api.add_space_secret(repo_id, "API_KEY", SECRET, description="the provider key")
    api.add_space_secret(repo_id, "OTHER", "other-" + SECRET)
    secrets = api.get_space_secrets(repo_id)
    assert set(secrets) == {"API_KEY", "OTHER"}
    assert secrets["API_KEY"].description == "the provider key" and secrets["API_KEY"].updated_at is not None
    variables = api.add_space_variable(repo_id, "MODE", "fast", description="how fast")
    assert variables["MODE"].value == "fast" and variables["MODE"].description == "how fast"
    variables = api.add_space_variable(repo_id, "LEVEL", "3")
    assert {k: v.value for k, v in variables.items()} == {"MODE": "fast", "LEVEL": "3"}
    assert {k: v.value for k, v in api.get_space_variables(repo_id).items()} == {"MODE": "fast", "LEVEL": "3"}
    variables = api.delete_space_variable(repo_id, "LEVEL")
    assert set(variables) == {"MODE"}
    api.delete_space_secret(repo_id, "OTHER")
    api.delete_space_secret(repo_id, "OTHER")  # deleting twice is fine, as on the Hub
    assert set(api.get_space_secrets(repo_id)) == {"API_KEY"}
    # a key is a secret or a variable, not both
    with pytest.raises(HfHubHTTPError) as e:
        api.add_space_variable(repo_id, "API_KEY", "x")
    assert _status(e) == 400
    # the CLI
    env_value = "cli-" + SECRET
    out = _hf(hub, "spaces", "secrets", "add", repo_id, "-s", f"CLI_SECRET={env_value}")
    assert out.returncode == 0, out.stderr
    out = _hf(hub, "spaces", "secrets", "ls", repo_id, "--format", "json")
    assert out.returncode == 0 and "CLI_SECRET" in out.stdout and env_value not in out.stdout, out.stderr
    out = _hf(hub, "spaces", "variables", "add", repo_id, "-e", "CLI_VAR=hello")
    assert out.returncode == 0, out.stderr
    out = _hf(hub, "spaces", "variables", "ls", repo_id, "--format", "json")
    assert out.returncode == 0 and "CLI_VAR" in out.stdout and "hello" in out.stdout, out.stderr
    out = _hf(hub, "spaces", "secrets", "delete", repo_id, "CLI_SECRET", "--yes")
    assert out.returncode == 0, out.stderr
    out = _hf(hub, "spaces", "variables", "delete", repo_id, "CLI_VAR", "--yes")
    assert out.returncode == 0, out.stderr
    assert set(api.get_space_secrets(repo_id)) == {"API_KEY"}
    assert set(api.get_space_variables(repo_id)) == {"MODE"}
    # the secret value comes back from nowhere
    seen = [
        json.dumps(_raw(hub, "GET", f"/api/spaces/{repo_id}/secrets", hub.alice).json()),
        json.dumps(api.space_info(repo_id).__dict__, default=str),
        _raw(hub, "GET", f"/api/spaces/{repo_id}", hub.alice).text,
        _raw(hub, "GET", "/api/spaces?author=alice&full=true", hub.alice).text,
        json.dumps(api.get_space_runtime(repo_id).raw),
        httpx.get(f"{hub.url}/spaces/{repo_id}", timeout=30).text,
    ]
    for text in seen:
        assert SECRET not in text


def test_sleep_time_and_hardware(spaces_hub: Any) -> None:
    hub = spaces_hub
    api = hub.api()
    repo_id = push_space(hub, _name("hw"), STATIC)
    rt = api.set_space_sleep_time(repo_id, 300)
    assert rt.sleep_time == 300 and api.get_space_runtime(repo_id).sleep_time == 300
    rt = api.set_space_sleep_time(repo_id, -1)
    assert rt.sleep_time is None  # never sleeps
    for bad in (0, -5, "10", 2**40):
        r = _raw(hub, "POST", f"/api/spaces/{repo_id}/sleeptime", hub.alice, json={"seconds": bad})
        assert r.status_code == 400 and r.headers["x-error-code"] == "BadRequest", (bad, r.text)
    rt = api.request_space_hardware(repo_id, "cpu-basic", sleep_time=600)
    assert rt.requested_hardware == "cpu-basic" and rt.sleep_time == 600
    with pytest.raises(HfHubHTTPError) as e:
        api.request_space_hardware(repo_id, "t4-medium")
    assert _status(e) == 400
    assert e.value.response is not None and e.value.response.headers["x-error-code"] == "HardwareNotAvailable"
    assert "t4-medium" in str(e.value) and "cpu-basic" in str(e.value)
    assert api.get_space_runtime(repo_id).requested_hardware == "cpu-basic"
    out = _hf(hub, "spaces", "settings", repo_id, "--hardware", "t4-medium")
    assert out.returncode != 0 and "not available" in (out.stdout + out.stderr)
    out = _hf(hub, "spaces", "settings", repo_id, "--sleep-time", "900")
    assert out.returncode == 0, out.stderr
    assert api.get_space_runtime(repo_id).sleep_time == 900


@pytest.mark.parametrize(
    "key",
    ["A B", "../x", "K" * 10_000, "HF_ENDPOINT", "PATH", "LD_PRELOAD", "PYTHONPATH", "GRADIO_ROOT_PATH", ""],
)
def test_hostile_keys_are_refused(spaces_hub: Any, key: str) -> None:
    hub = spaces_hub
    repo_id = hub.extra.get("hostile_space")
    if repo_id is None:
        repo_id = hub.extra["hostile_space"] = push_space(hub, _name("hostile"), STATIC)
    for kind in ("secrets", "variables"):
        r = _raw(hub, "POST", f"/api/spaces/{repo_id}/{kind}", hub.alice, json={"key": key, "value": "v"})
        assert r.status_code == 400, r.text
        assert r.headers["x-error-code"] == "BadRequest" and len(r.text) < 1000
    assert hub.api().get_space_secrets(repo_id) == {} and hub.api().get_space_variables(repo_id) == {}


def test_hostile_bodies_are_refused(spaces_hub: Any) -> None:
    hub = spaces_hub
    repo_id = push_space(hub, _name("bodies"), STATIC)
    base = f"/api/spaces/{repo_id}"
    cases: list[tuple[str, str, Any]] = [
        ("POST", "/secrets", {"key": "BIG", "value": "x" * (64 * 1024 + 1)}),
        ("POST", "/secrets", {"key": "NUL", "value": "a\x00b"}),
        ("POST", "/secrets", {"key": "NOVALUE"}),
        ("POST", "/variables", {"key": "NUM", "value": 3}),
        ("POST", "/variables", {"key": "D", "value": "v", "description": "d" * 5000}),
        ("POST", "/variables", ["not", "an", "object"]),
        ("DELETE", "/secrets", {}),
        ("POST", "/hardware", {}),
        ("POST", "/hardware", {"flavor": "cpu-basic", "sleepTimeSeconds": "soon"}),
        ("POST", "/sleeptime", {"seconds": None}),
    ]
    for method, path, body in cases:
        r = _raw(hub, method, base + path, hub.alice, json=body)
        assert r.status_code == 400, (method, path, r.status_code, r.text)
        assert r.headers["x-error-code"] in {"BadRequest", "HardwareNotAvailable"}
    r = _raw(hub, "POST", base + "/secrets", hub.alice, content=b"{not json")
    assert 400 <= r.status_code < 500
    assert hub.api().get_space_secrets(repo_id) == {}


def test_attacker_side(spaces_hub: Any) -> None:
    hub = spaces_hub
    alice = hub.api()
    private = push_space(hub, _name("private"), STATIC, private=True)
    public = push_space(hub, _name("public"), STATIC)
    for repo_id in (private, public):
        alice.add_space_secret(repo_id, "API_KEY", SECRET)
        alice.add_space_variable(repo_id, "MODE", "fast")
    bob = hub.api(hub.bob)
    reader = hub.api(hub.alice_read)
    anonymous = hub.api(False)
    acc = hub.services.accounts
    grants = Grants.parse(
        {
            "global": [],
            "scoped": [{"entity": {"type": "space", "name": public}, "permissions": ["repo.write"]}],
        }
    )
    scoped_public = acc.create_token("alice", f"fg-{uuid.uuid4().hex[:6]}", "fineGrained", grants)
    scoped = hub.api(scoped_public)

    def refused(call: Any, *statuses: int) -> None:
        with pytest.raises(HfHubHTTPError) as e:
            call()
        assert _status(e) in statuses, (call, _status(e), str(e.value))

    # private Space: invisible to bob and to anonymous callers
    for who in (bob, anonymous):
        refused(lambda who=who: who.get_space_runtime(private), 401, 404)
        refused(lambda who=who: who.get_space_secrets(private), 401, 404)
        refused(lambda who=who: who.get_space_variables(private), 401, 404)
        refused(lambda who=who: list(who.fetch_space_logs(private)), 401, 404)
        refused(lambda who=who: who.restart_space(private), 401, 404)
    refused(lambda: bob.get_space_secrets(private), 404)
    # public Space: bob reads the runtime, changes nothing, and reads no secrets or variables
    assert bob.get_space_runtime(public).stage
    for who, codes in ((bob, (403,)), (reader, (403,)), (anonymous, (401,))):
        refused(lambda who=who: who.get_space_secrets(public), *codes)
        refused(lambda who=who: who.get_space_variables(public), *codes)
        refused(lambda who=who: who.add_space_secret(public, "API_KEY", "stolen"), *codes)
        refused(lambda who=who: who.delete_space_secret(public, "API_KEY"), *codes)
        refused(lambda who=who: who.add_space_variable(public, "MODE", "slow"), *codes)
        refused(lambda who=who: who.delete_space_variable(public, "MODE"), *codes)
        refused(lambda who=who: who.restart_space(public), *codes)
        refused(lambda who=who: who.pause_space(public), *codes)
        refused(lambda who=who: who.set_space_sleep_time(public, 60), *codes)
        refused(lambda who=who: who.request_space_hardware(public, "cpu-basic"), *codes)
    # alice's read token reads her private Space but changes nothing
    assert reader.get_space_runtime(private).stage
    refused(lambda: reader.add_space_secret(private, "API_KEY", "x"), 403)
    refused(lambda: reader.restart_space(private), 403)
    # a fine-grained token with repo.write on the public Space only
    assert set(scoped.get_space_secrets(public)) == {"API_KEY"}
    scoped.add_space_variable(public, "FROM_SCOPED", "1")
    refused(lambda: scoped.add_space_secret(private, "API_KEY", "x"), 403, 404)
    refused(lambda: scoped.pause_space(private), 403, 404)
    # nothing changed
    assert alice.get_space_secrets(public)["API_KEY"]
    assert {k: v.value for k, v in alice.get_space_variables(public).items()} == {
        "MODE": "fast",
        "FROM_SCOPED": "1",
    }
    assert {k: v.value for k, v in alice.get_space_variables(private).items()} == {"MODE": "fast"}
    assert alice.get_space_runtime(public).stage != "PAUSED"
    # the CLI as bob
    out = _hf(hub, "spaces", "secrets", "ls", private, token=hub.bob)
    assert out.returncode != 0 and SECRET not in out.stdout + out.stderr


def test_duplicate_space_with_secrets_and_variables(spaces_hub: Any) -> None:
    hub = spaces_hub
    api = hub.api()
    src = push_space(hub, _name("dup-src"), STATIC)
    api.add_space_secret(src, "SRC_SECRET", SECRET)
    api.add_space_variable(src, "SRC_VAR", "from-source", description="copied")
    api.add_space_variable(src, "OVERRIDDEN", "old")
    dst = f"alice/{_name('dup-dst')}"
    url = api.duplicate_repo(
        src,
        dst,
        repo_type="space",
        space_hardware="cpu-basic",
        space_sleep_time=1200,
        space_secrets=[{"key": "NEW_SECRET", "value": "new-" + SECRET, "description": "given"}],
        space_variables=[{"key": "NEW_VAR", "value": "given"}, {"key": "OVERRIDDEN", "value": "new"}],
    )
    assert str(url).endswith(f"/spaces/{dst}")
    assert set(api.get_space_secrets(dst)) == {"NEW_SECRET"}  # the source's secrets are not copied
    assert api.get_space_secrets(dst)["NEW_SECRET"].description == "given"
    assert {k: v.value for k, v in api.get_space_variables(dst).items()} == {
        "SRC_VAR": "from-source",
        "NEW_VAR": "given",
        "OVERRIDDEN": "new",
    }
    rt = api.get_space_runtime(dst)
    assert rt.sleep_time == 1200 and rt.requested_hardware == "cpu-basic"
    wait_stage(hub, dst, {"RUNNING"}, timeout=120)  # the copy builds and runs like a pushed Space
    assert "hello" in httpx.get(space_url(hub, dst) + "/", timeout=30).text
    assert api.space_info(dst).sha == api.space_info(src).sha
    # exist_ok: the 409 carries the url
    again = api.duplicate_repo(src, dst, repo_type="space", exist_ok=True)
    assert str(again).endswith(f"/spaces/{dst}")
    # refused before anything is created
    for extra in (
        {"space_hardware": "t4-medium"},
        {"space_secrets": [{"key": "HF_ENDPOINT", "value": "http://evil"}]},
        {"space_variables": [{"key": "A B", "value": "x"}]},
        {"space_secrets": [{"key": "K", "value": "x"}], "space_variables": [{"key": "K", "value": "y"}]},
    ):
        target = f"alice/{_name('dup-bad')}"
        with pytest.raises(HfHubHTTPError) as e:
            api.duplicate_repo(src, target, repo_type="space", **extra)
        assert _status(e) == 400, extra
        assert not api.repo_exists(target, repo_type="space")
    # bob duplicates alice's public Space into his namespace: variables yes, secrets no
    bob = hub.api(hub.bob)
    mine = f"bob/{_name('dup-bob')}"
    bob.duplicate_repo(src, mine, repo_type="space")
    assert bob.get_space_secrets(mine) == {}
    assert set(bob.get_space_variables(mine)) == {"SRC_VAR", "OVERRIDDEN"}


def test_spaces_disabled(hub_factory: Any) -> None:
    """A hub without Spaces keeps the settings; the runtime says Spaces are off; control calls are refused."""
    hub = hub_factory(spaces_enabled=False)
    api = hub.api()
    repo_id = push_space(hub, "off", STATIC)
    rt = api.get_space_runtime(repo_id)
    assert rt.stage == "STOPPED" and "disabled" in rt.raw["errorMessage"]
    api.add_space_secret(repo_id, "API_KEY", SECRET)
    assert set(api.get_space_secrets(repo_id)) == {"API_KEY"}
    assert api.set_space_sleep_time(repo_id, 120).sleep_time == 120
    for call in (lambda: api.restart_space(repo_id), lambda: api.pause_space(repo_id)):
        with pytest.raises(HfHubHTTPError) as e:
            call()
        assert _status(e) == 400 and "disabled" in str(e.value)
    info = api.space_info(repo_id)
    assert info.host == "" or info.host is None
    assert info.runtime is not None and info.runtime.stage == "STOPPED"


# --- a running app (the supervisor) ------------------------------------------------------------------------
def test_gradio_space_runtime_logs_restart_pause(spaces_hub: Any) -> None:
    hub = spaces_hub
    api = hub.api()
    name = _name("lifecycle")
    repo_id = f"alice/{name}"
    api.create_repo(repo_id, repo_type="space", space_sdk="gradio")
    api.add_space_secret(repo_id, "API_KEY", SECRET)
    api.add_space_variable(repo_id, "MODE", "fast")
    push_space(hub, name, {"README.md": card("gradio"), "app.py": ENV_APP}, exist_ok=True)
    rt = api.wait_for_space(repo_id, timeout=300)  # type: ignore[attr-defined]
    if rt.stage != "RUNNING":
        wait_stage(hub, repo_id, {"RUNNING"}, timeout=5)  # fails with the logs
    assert rt.stage == "RUNNING" and rt.hardware == "cpu-basic"
    info = api.space_info(repo_id)
    assert info.host == space_url(hub, repo_id) + "/" and info.subdomain == f"alice-{name}"
    assert info.runtime is not None and info.runtime.stage == "RUNNING"
    listed = {s.id: s for s in api.list_spaces(author="alice")}
    assert listed[repo_id].runtime is not None and listed[repo_id].runtime.stage == "RUNNING"
    # logs: the build log says something; the run log has the variable but never the secret
    build = list(api.fetch_space_logs(repo_id, build=True))
    assert build
    run = "\n".join(api.fetch_space_logs(repo_id))
    assert "mode is fast" in run and "secret is ***" in run and SECRET not in run
    out = _hf(hub, "spaces", "logs", repo_id)
    assert out.returncode == 0 and "mode is fast" in out.stdout and SECRET not in out.stdout, out.stderr
    # the raw stream: SSE events with timestamps, a Date header
    with httpx.stream("GET", f"{hub.url}/api/spaces/{repo_id}/logs/run", headers=hub.auth(), timeout=30) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        assert r.headers.get("date")
        first = next(line for line in r.iter_lines() if line.startswith("data: "))
        event = json.loads(first[len("data: ") :])
        assert set(event) == {"data", "timestamp"} and event["timestamp"].endswith("Z")
    # the app sees its variables and secrets
    page = httpx.get(f"{hub.url}/spaces/{repo_id}", timeout=30)
    assert SECRET not in page.text
    # pause: stays paused; restart (factory) brings it back
    rt = api.pause_space(repo_id)
    assert rt.stage == "PAUSED"
    time.sleep(1)
    assert api.get_space_runtime(repo_id).stage == "PAUSED"
    out = _hf(hub, "spaces", "restart", repo_id, "--format", "json")
    assert out.returncode == 0, out.stderr
    rt = api.wait_for_space(repo_id, timeout=300)  # type: ignore[attr-defined]
    assert rt.stage == "RUNNING", rt.raw
    rt = api.restart_space(repo_id, factory_reboot=True)
    assert rt.stage != "PAUSED"
    out = _hf(hub, "spaces", "wait", repo_id, "--timeout", "300", timeout=320)
    assert out.returncode == 0, out.stdout + out.stderr
    assert api.get_space_runtime(repo_id).stage == "RUNNING"
    # a changed secret restarts the app, which then sees it (redacted in its log too)
    api.add_space_secret(repo_id, "API_KEY", "second-" + SECRET)
    rt = api.wait_for_space(repo_id, timeout=300)  # type: ignore[attr-defined]
    assert rt.stage == "RUNNING"
    deadline = time.monotonic() + 60
    run = ""
    while time.monotonic() < deadline and "secret is ***" not in run:
        run = "\n".join(api.fetch_space_logs(repo_id))
        time.sleep(1)
    assert "secret is ***" in run and SECRET not in run
    out = _hf(hub, "spaces", "pause", repo_id)
    assert out.returncode == 0, out.stderr
    assert api.get_space_runtime(repo_id).stage == "PAUSED"


def test_gradio_client_resolves_a_space_by_id(spaces_hub: Any) -> None:
    """gradio_client.Client("ns/name") (in a subprocess with HF_ENDPOINT): space_info's host, runtime's stage."""
    hub = spaces_hub
    name = _name("resolve")
    repo_id = push_space(hub, name, {"README.md": card("gradio"), "app.py": ENV_APP})
    hub.api().add_space_variable(repo_id, "MODE", "resolved")
    wait_stage(hub, repo_id, {"RUNNING"}, timeout=300)
    script = (
        "import sys\n"
        "from gradio_client import Client\n"
        f"c = Client({repo_id!r}, verbose=False)\n"
        "print('VALUE=' + c.predict('MODE', api_name='/read'))\n"
    )
    env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_TOKEN": hub.alice, "HF_HUB_DISABLE_TELEMETRY": "1"}
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=180, check=False
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "VALUE=resolved" in out.stdout


def test_a_renamed_space_keeps_its_settings_and_old_urls_follow(spaces_hub: Any) -> None:
    hub = spaces_hub
    api = hub.api()
    old = push_space(hub, _name("before"), STATIC)
    api.add_space_secret(old, "API_KEY", SECRET)
    api.add_space_variable(old, "MODE", "fast")
    api.set_space_sleep_time(old, 777)
    new = f"alice/{_name('after')}"
    api.move_repo(old, new, repo_type="space")
    assert set(api.get_space_secrets(new)) == {"API_KEY"}
    assert api.get_space_variables(new)["MODE"].value == "fast"
    assert api.get_space_runtime(new).sleep_time == 777
    r = _raw(hub, "GET", f"/api/spaces/{old}/runtime", hub.alice)  # httpx does not follow by default
    assert r.status_code == 307 and r.headers["location"] == f"/api/spaces/{new}/runtime"
    assert api.get_space_runtime(old).sleep_time == 777  # huggingface_hub follows it
    # a deleted Space's settings go with it: a new Space of the same name starts empty
    api.delete_repo(new, repo_type="space")
    again = push_space(hub, new.split("/")[1], STATIC)
    assert api.get_space_secrets(again) == {} and api.get_space_variables(again) == {}
    assert api.get_space_runtime(again).sleep_time != 777
