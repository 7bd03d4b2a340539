"""Space processes for real: bubblewrap (and the unsandboxed mode), the shim's ingress/egress forwarding, limits,
stopping a whole process tree, run logs. The probe app is a stdlib HTTP server that reports what it can reach."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelyard.errors import ConfigError
from modelyard.spaces import sandbox as sandbox_mod
from modelyard.spaces.appconfig import AppConfig
from modelyard.spaces.build import BuildSpec, EnvBuilder
from modelyard.spaces.logs import LogBook
from modelyard.spaces.sandbox import AppProcess, BwrapSandbox, LaunchSpec, NoSandbox, Sandbox, choose

HAVE_BWRAP = Path("/usr/bin/bwrap").exists()
needs_bwrap = pytest.mark.skipif(
    not HAVE_BWRAP, reason="bubblewrap is not installed (apt-get install bubblewrap)"
)

PROBE = r"""
import http.server, json, os, socket, subprocess, sys, time, urllib.request
from urllib.parse import urlsplit, parse_qs

def attempt(fn):
    try:
        return {"ok": fn()}
    except BaseException as e:
        return {"error": type(e).__name__, "errno": getattr(e, "errno", None)}

def connect(port):
    with socket.create_connection(("127.0.0.1", port), timeout=3):
        return "connected"

def write_app():
    with open("written.txt", "w") as f:
        f.write("x")
    return "written"

def info():
    env = os.environ
    return {
        "uid": os.getuid(),
        "cwd": os.getcwd(),
        "env": sorted(env),
        "my_secret": env.get("MY_SECRET"),
        "hf_endpoint": env.get("HF_ENDPOINT"),
        "root": os.path.exists("/root"),
        "data_secret": attempt(lambda: open(env["PROBE_SECRET"]).read()),
        "data_dir": attempt(lambda: os.listdir(env["PROBE_DATA"])),
        "other_space": attempt(lambda: open(env["PROBE_OTHER"]).read()),
        "host_port": attempt(lambda: connect(int(env["PROBE_PORT"]))),
        "hub": attempt(lambda: urllib.request.urlopen(env["HF_ENDPOINT"] + "/api/ping", timeout=5).read().decode()),
        "write_app": attempt(write_app),
        "write_tmp": attempt(lambda: open(os.path.join(env["HOME"], "t.txt"), "w").write("ok")),
    }

class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def send(self, body, ctype="application/json"):
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urlsplit(self.path)
        q = parse_qs(url.query)
        if url.path == "/info":
            self.send(json.dumps(info()))
        elif url.path == "/alloc":
            try:
                held = b"x" * (int(q["mb"][0]) * 1024 * 1024)
                self.send("allocated %d" % len(held), "text/plain")
            except MemoryError:
                self.send("MemoryError", "text/plain")
        elif url.path == "/fork":
            marker = q["marker"][0]
            code = "import time; time.sleep(1000)"
            a = subprocess.Popen([sys.executable, "-c", code, marker])
            b = subprocess.Popen([sys.executable, "-c", code, marker], start_new_session=True)
            self.send(json.dumps([a.pid, b.pid]))
        elif url.path == "/sse":
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            for i in range(3):
                self.wfile.write(b"data: %d %f\n\n" % (i, time.time()))
                self.wfile.flush()
                time.sleep(0.4)
            self.close_connection = True
        elif url.path == "/exit":
            self.send("bye", "text/plain")
            os._exit(int(q["code"][0]))
        else:
            self.send(json.dumps({"path": self.path}))

    def log_message(self, *args):
        pass

if os.environ.get("PROBE_IGNORE_TERM"):
    import signal
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
port = int(os.environ.get("GRADIO_SERVER_PORT", "7860"))
print("probe app ready on", port, flush=True)
print("to stderr too", file=sys.stderr, flush=True)
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
"""


@pytest.fixture(scope="module")
def plain_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bare venv on Debian's python (what EnvBuilder builds, minus the SDK): enough for the stdlib probe."""
    import uv

    path = tmp_path_factory.mktemp("env") / "venv"
    subprocess.run(
        [uv.find_uv_bin(), "venv", "-q", "--relocatable", "--python", "/usr/bin/python3", str(path)],
        check=True,
        env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
    )
    return path


class World:
    """A data dir with a secret, another Space's files, a host TCP listener and a fake hub."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.data = tmp / "data"
        (self.data / "db").mkdir(parents=True)
        self.secret = self.data / "db" / "hub-secret.txt"
        self.secret.write_text("the hub's secret")
        self.other = tmp / "other-space"
        self.other.mkdir()
        (self.other / "app.py").write_text("OTHER SPACE CODE")
        self.app_dir = tmp / "space"
        self.app_dir.mkdir()
        (self.app_dir / "app.py").write_text(PROBE)
        self.hub_paths: list[str] = []
        self.hub_peers: list[str] = []

    @asynccontextmanager
    async def running(
        self, sandbox: Sandbox, env_dir: Path, memory_mb: int = 512, extra_env: dict[str, str] | None = None
    ) -> AsyncIterator[tuple[AppProcess, LogBook, httpx.AsyncClient]]:
        other_listener = socket.socket()
        other_listener.bind(("127.0.0.1", 0))
        other_listener.listen(8)

        async def hub(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            request = await reader.readuntil(b"\r\n\r\n")
            self.hub_paths.append(request.split(b" ")[1].decode())
            self.hub_peers.append(writer.get_extra_info("peername")[0])
            body = b"hub-says-hi"
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body)
            )
            await writer.drain()
            writer.close()

        hub_server = await asyncio.start_server(hub, "127.0.0.1", 0)
        hub_port = hub_server.sockets[0].getsockname()[1]
        env = {
            "SPACE_ID": "alice/probe",
            "MY_SECRET": "s3cr3t-value-for-the-app",
            "LD_PRELOAD": "/nonexistent.so",
            "PROBE_SECRET": str(self.secret),
            "PROBE_DATA": str(self.data),
            "PROBE_OTHER": str(self.other / "app.py"),
            "PROBE_PORT": str(other_listener.getsockname()[1]),
            **(extra_env or {}),
        }
        spec = LaunchSpec(
            app=AppConfig("gradio", "app.py"),
            app_dir=self.app_dir,
            env_dir=env_dir,
            run_dir=Path(f"/tmp/my-test-{uuid.uuid4().hex[:8]}"),
            prefix="/spaces/alice/probe",
            env=env,
            hub_address=("127.0.0.1", hub_port),
            memory_mb=memory_mb,
            cpu_cores=1.0,
        )
        log = LogBook()
        process = await sandbox.start(spec, log)
        client = httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(uds=str(process.socket)), timeout=30)
        try:
            await wait_serving(client, process, log)
            yield process, log, client
        finally:
            await client.aclose()
            await process.stop(grace=2)
            hub_server.close()
            other_listener.close()
            subprocess.run(["rm", "-rf", str(spec.run_dir)], check=False)


async def wait_serving(
    client: httpx.AsyncClient, process: AppProcess, log: LogBook, path: str = "/"
) -> httpx.Response:
    deadline = time.monotonic() + 120
    while True:
        try:
            return await client.get(f"http://space{path}")
        except httpx.TransportError:
            if process.returncode is not None or time.monotonic() > deadline:
                lines = "\n".join(line.data for line in log.snapshot())
                pytest.fail(f"the app never served (returncode {process.returncode}):\n{lines}")
            await asyncio.sleep(0.1)


def logged(log: LogBook) -> str:
    return "\n".join(line.data for line in log.snapshot())


def processes_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def run(coro: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(coro())  # type: ignore[arg-type]


@pytest.fixture()
def world(tmp_path: Path) -> World:
    return World(tmp_path)


# --- bubblewrap ------------------------------------------------------------------------------------------
@needs_bwrap
def test_bwrap_app_serves_over_the_socket_and_logs(world: World, plain_env: Path) -> None:
    async def scenario() -> None:
        async with world.running(BwrapSandbox(), plain_env) as (process, log, client):
            r = await client.get("http://space/hello?x=1")
            assert r.status_code == 200 and r.json() == {"path": "/hello?x=1"}
            # Server-Sent Events come through as they are written, not when the response ends
            arrivals = []
            async with client.stream("GET", "http://space/sse") as stream:
                async for line in stream.aiter_lines():
                    if line.startswith("data:"):
                        arrivals.append(time.monotonic())
            assert len(arrivals) == 3
            assert arrivals[1] - arrivals[0] > 0.25 and arrivals[2] - arrivals[1] > 0.25
            assert process.returncode is None and process.pid > 0
            assert "probe app ready on 7860" in logged(log)
            assert "to stderr too" in logged(log)
            assert "Limits:" in logged(log)

    run(scenario)


@needs_bwrap
def test_bwrap_isolation(world: World, plain_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELYARD_HUB_ONLY_SECRET", "never-in-a-space")

    async def scenario() -> None:
        async with world.running(BwrapSandbox(), plain_env) as (process, _log, client):
            info = (await client.get("http://space/info")).json()
            assert info["uid"] == 1000
            assert info["cwd"] == "/app"
            assert info["root"] is False  # no /root
            assert info["data_secret"]["error"] == "FileNotFoundError"  # the data dir is not there at all
            assert info["data_dir"]["error"] == "FileNotFoundError"
            assert info["other_space"]["error"] == "FileNotFoundError"
            assert info["host_port"] == {"error": "ConnectionRefusedError", "errno": 111}  # no host ports
            assert info["hub"] == {"ok": "hub-says-hi"}  # ... but the hub, through HF_ENDPOINT
            assert "/api/ping" in world.hub_paths
            # ... from 127.0.0.2: never the address whose X-Forwarded-For the hub's server trusts
            assert world.hub_peers == ["127.0.0.2"]
            assert info["hf_endpoint"].startswith("http://127.0.0.1:")
            assert info["write_app"]["error"] == "OSError" and info["write_app"]["errno"] == 30  # EROFS
            assert info["write_tmp"] == {"ok": 2}
            assert not (world.app_dir / "written.txt").exists()
            assert info["my_secret"] == "s3cr3t-value-for-the-app"
            assert "MODELYARD_HUB_ONLY_SECRET" not in info["env"]
            assert "LD_PRELOAD" not in info["env"]
            # the secret never appears on a command line on the host
            assert processes_with("s3cr3t-value-for-the-app") == []
            assert process.socket.stat().st_mode & 0o077 == 0

    run(scenario)


@needs_bwrap
@pytest.mark.parametrize("cgroups", [True, False], ids=["cgroup", "rlimits"])
def test_bwrap_memory_limit(world: World, plain_env: Path, cgroups: bool) -> None:
    async def scenario() -> None:
        async with world.running(BwrapSandbox(cgroups=cgroups), plain_env, memory_mb=160) as (
            process,
            log,
            client,
        ):
            assert (await client.get("http://space/alloc?mb=16")).text == "allocated 16777216"
            try:
                r = await client.get("http://space/alloc?mb=400")
                answer = r.text
            except httpx.TransportError:
                answer = "killed"
            if "Limits: cgroup" in logged(log):  # the kernel's OOM killer ends the app
                assert answer == "killed"
                code = await asyncio.wait_for(process.wait(), 30)
                assert code == 128 + 9
                assert "more than its memory limit" in logged(log)
            else:  # no writable cgroup here (or cgroups=False): the address-space rlimit refuses the allocation
                assert not cgroups or "no writable cgroup" in logged(log)
                assert answer == "MemoryError"
                assert (await client.get("http://space/alloc?mb=16")).text == "allocated 16777216"

    run(scenario)


@pytest.mark.parametrize("stubborn", [False, True], ids=["polite", "ignores-sigterm"])
@pytest.mark.parametrize("kind", ["bwrap", "none", "none-without-cgroup"])
def test_stop_kills_the_whole_tree(world: World, plain_env: Path, kind: str, stubborn: bool) -> None:
    if kind == "bwrap" and not HAVE_BWRAP:
        pytest.skip("bubblewrap is not installed")
    marker = f"marker-{uuid.uuid4().hex}"
    # without a cgroup (and without a PID namespace), the shim finds the process that left the app's group as
    # its subreaper
    sandbox: Sandbox = BwrapSandbox() if kind == "bwrap" else NoSandbox(cgroups=kind == "none")

    async def scenario() -> None:
        extra = {"PROBE_IGNORE_TERM": "1"} if stubborn else {}
        async with world.running(sandbox, plain_env, extra_env=extra) as (process, _log, client):
            r = await client.get(f"http://space/fork?marker={marker}")
            assert len(r.json()) == 2
            deadline = time.monotonic() + 10
            while len(processes_with(marker)) < 2 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert len(processes_with(marker)) == 2  # one in the app's group, one that left it (setsid)
            started = time.monotonic()
            await process.stop(grace=1)
            took = time.monotonic() - started
            assert took < 4
            assert (took > 0.9) is stubborn  # a polite app exits at SIGTERM; a stubborn one waits for SIGKILL
            assert process.returncode is not None
            deadline = time.monotonic() + 5
            while processes_with(marker) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert processes_with(marker) == []

    run(scenario)


@needs_bwrap
def test_app_exit_code_is_reported(world: World, plain_env: Path) -> None:
    async def scenario() -> None:
        async with world.running(BwrapSandbox(), plain_env) as (process, _log, client):
            await client.get("http://space/exit?code=3")
            assert await asyncio.wait_for(process.wait(), 10) == 3
            assert process.returncode == 3
            assert not process.socket.exists()

    run(scenario)


# --- no sandbox ------------------------------------------------------------------------------------------
def test_none_sandbox_keeps_what_it_promises(
    world: World, plain_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELYARD_HUB_ONLY_SECRET", "never-in-a-space")
    sandbox = NoSandbox()
    description = "\n".join(sandbox.describe())
    assert "NOT isolated" in description and "data directory" in description

    async def scenario() -> None:
        async with world.running(sandbox, plain_env) as (process, log, client):
            info = (await client.get("http://space/info")).json()
            assert info["cwd"] == str(world.app_dir)
            assert "MODELYARD_HUB_ONLY_SECRET" not in info["env"]  # a cleared environment
            assert info["my_secret"] == "s3cr3t-value-for-the-app"
            assert info["hub"] == {"ok": "hub-says-hi"}  # HF_ENDPOINT is the hub's own address
            assert info["data_secret"] == {"ok": "the hub's secret"}  # what describe() says does NOT hold
            assert "probe app ready on" in logged(log)
            assert os.getpgid(process.pid) == process.pid  # its own process group
            assert processes_with("s3cr3t-value-for-the-app") == []

    run(scenario)


# --- choosing -------------------------------------------------------------------------------------------
def test_choose(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert choose("none").name == "none"
    with pytest.raises(ConfigError):
        choose("docker")
    if HAVE_BWRAP:
        chosen = choose("auto")
        assert chosen.name == "bwrap" and any("namespaces" in line for line in chosen.describe())
    monkeypatch.setattr(sandbox_mod, "BWRAP", str(tmp_path / "no-bwrap"))
    monkeypatch.setenv("PATH", str(tmp_path))
    for mode in ("auto", "bwrap"):
        with pytest.raises(ConfigError) as err:
            choose(mode)
        assert "bubblewrap" in err.value.message and "spaces_sandbox=none" in err.value.message
    broken = tmp_path / "bwrap"
    broken.write_text("#!/bin/sh\necho 'bwrap: No permissions to creating new namespace' >&2\nexit 1\n")
    broken.chmod(0o755)
    with pytest.raises(ConfigError) as err:
        choose("bwrap")
    assert "does not work here" in err.value.message and "No permissions" in err.value.message


# --- real SDKs ------------------------------------------------------------------------------------------
GRADIO_APP = """
import gradio as gr

def greet(name):
    return "Hello " + name + "!"

demo = gr.Interface(greet, "text", "text")
demo.launch()
"""

STREAMLIT_APP = """
import streamlit as st
st.title("Hello from Streamlit")
"""


@needs_bwrap
@pytest.mark.parametrize("sdk", ["gradio", "streamlit"])
def test_real_sdk_app_behind_the_prefix(tmp_path_factory: pytest.TempPathFactory, sdk: str) -> None:
    versions = {"gradio": "6.31.0", "streamlit": "1.67.0"}
    root = tmp_path_factory.getbasetemp() / "sdk-envs"
    env_dir = asyncio.run(
        EnvBuilder(root, timeout=600).build(BuildSpec(sdk, versions[sdk], "3.11", ""), LogBook())
    )
    app_dir = tmp_path_factory.mktemp(f"{sdk}-app")
    (app_dir / "app.py").write_text(GRADIO_APP if sdk == "gradio" else STREAMLIT_APP)
    spec = LaunchSpec(
        app=AppConfig(sdk, "app.py"),
        app_dir=app_dir,
        env_dir=env_dir,
        run_dir=Path(f"/tmp/my-test-{uuid.uuid4().hex[:8]}"),
        prefix="/spaces/alice/demo",
        env={"SPACE_ID": "alice/demo", "SYSTEM": "spaces"},
        hub_address=None,
        memory_mb=2048,
        cpu_cores=1.0,
    )

    async def scenario() -> None:
        log = LogBook()
        process = await BwrapSandbox().start(spec, log)
        client = httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(uds=str(process.socket)), timeout=60)
        try:
            if (
                sdk == "gradio"
            ):  # the proxy strips the prefix; Gradio builds URLs from X-Forwarded-* + root path
                await wait_serving(client, process, log, "/config")
                r = await client.get(
                    "http://space/config",
                    headers={"X-Forwarded-Host": "spaces.example:8081", "X-Forwarded-Proto": "http"},
                )
                config: dict[str, Any] = r.json()
                assert r.status_code == 200 and config["version"] == "6.31.0"
                assert config["root"] == "http://spaces.example:8081/spaces/alice/demo"
            else:  # the proxy keeps the prefix for Streamlit
                r = await wait_serving(client, process, log, "/spaces/alice/demo/_stcore/health")
                assert (r.status_code, r.text) == (200, "ok"), logged(log)
        finally:
            await client.aclose()
            await process.stop(grace=2)
            subprocess.run(["rm", "-rf", str(spec.run_dir)], check=False)

    run(scenario)


def test_shim_refuses_no_command() -> None:
    from modelyard.spaces import shim

    with pytest.raises(SystemExit):
        shim.parse(["--ingress-fd", "3", "--app-port", "1"])
    args = shim.parse(["--ingress-fd", "3", "--app-port", "1", "--", "python", "app.py"])
    assert args.command == ["python", "app.py"]
    assert json.loads(json.dumps(vars(args)))["app_port"] == 1


def test_stale_cgroups_of_a_gone_hub_are_swept() -> None:
    probe = sandbox_mod.Cgroup.create("sweep-probe", 64, 1.0)
    if probe is None:
        pytest.skip("no writable cgroup here")
    probe.remove()
    # a cgroup named for a hub process that no longer exists, with a process still in it
    gone_pid = 4_000_000 - 7  # above pid_max: never a live process
    stale = [d.parent / f"modelyard-alice-stale-{gone_pid}-1" for d in probe.dirs]
    for d in stale:
        d.mkdir()
    sleeper = subprocess.Popen(["sleep", "60"])
    (stale[0] / "cgroup.procs").write_text(str(sleeper.pid))
    assert sandbox_mod.Cgroup.sweep() >= len(stale)
    assert sleeper.wait(timeout=5) == -9
    assert not any(d.exists() for d in stale)
