"""The Space supervisor: one state machine per Space (stages as the Hub reports them), fed by commits.

A commit to a Space's default branch (re)builds and restarts it; the first request to a sleeping or stopped
Space wakes it; idle Spaces sleep after their sleep time; past `spaces_max_running` the least recently used
sleeps; a crashed app restarts with back-off, and after too many crashes in a row stays in RUNTIME_ERROR.

Every state change of a Space happens in the event loop the manager was started in; blocking work (database
reads, materialising files) runs in threads, builds and apps are asyncio subprocesses. One task at a time brings
a Space up (`_Space.task`); a newer request (a commit, a restart) cancels the older one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import httpx

from modelyard.config import Settings
from modelyard.db import Database
from modelyard.errors import HubError, NotFound, SpaceNotRunning
from modelyard.hub import revisions
from modelyard.hub.cards import parse_card
from modelyard.hub.content import Content
from modelyard.hub.repos import Repos
from modelyard.hub.snapshots import materialize
from modelyard.hub.spaces import SpaceStore
from modelyard.spaces import appconfig
from modelyard.spaces.appconfig import AppConfig, ConfigProblem
from modelyard.spaces.build import BuildFailed, BuildSpec, EnvBuilder
from modelyard.spaces.logs import LogBook
from modelyard.spaces.runtime import FAILED, SERVING, TRANSITIONAL, WAKEABLE, SpaceRuntime, Stage
from modelyard.spaces.sandbox import AppProcess, LaunchSpec, Sandbox, choose
from modelyard.spaces.urls import SpaceUrls
from modelyard.types import RepoType

if TYPE_CHECKING:
    from modelyard.hub.events import HubEvent
    from modelyard.hub.repos import Repo

log = logging.getLogger("modelyard.spaces")

DEFAULT_BRANCH = "main"
MAX_CRASHES = 3  # crashes in a row (each within STABLE_SECONDS of its start) before RUNTIME_ERROR
STABLE_SECONDS = 60.0
REAP_INTERVAL = 2.0
MAX_README = 1024 * 1024
MAX_REQUIREMENTS = 256 * 1024


@dataclass(frozen=True)
class AppTarget:
    """Where the proxy sends a running Space's traffic."""

    kind: Literal["socket", "static"]
    path: Path  # socket: the app's Unix socket (HTTP/1.1 inside); static: the directory of the files
    prefix: str  # the public root path of the Space ("/spaces/ns/name", or "" on its own host)
    strip_prefix: bool  # True: forward the path without `prefix` (Gradio, static); False: keep it (Streamlit)
    index: str = "index.html"  # static: the app_file served at "/"


@dataclass
class _Space:
    repo_id: int
    ns: str
    name: str
    build_log: LogBook
    run_log: LogBook
    stage: Stage = Stage.STOPPED
    error: str | None = None
    sha: str | None = None  # the revision serving (or being brought up)
    config: AppConfig | None = None
    sdk: str | None = None
    proc: AppProcess | None = None
    target: AppTarget | None = None
    task: asyncio.Task[None] | None = None
    watcher: asyncio.Task[None] | None = None
    serving: asyncio.Event = field(default_factory=asyncio.Event)
    changed: asyncio.Event = field(default_factory=asyncio.Event)  # set at each stage change
    last_used: float = field(default_factory=time.monotonic)
    users: int = 0
    crashes: int = 0
    started_at: float = 0.0
    stopping: bool = False
    again: bool = False  # a bring-up was asked for while one ran: run it when that one ends
    again_fresh: bool = False
    again_forced: bool = False  # the queued request is a restart (runs even if the head did not move)
    tried: str | None = None  # the revision the last bring-up read

    def set(self, stage: Stage, error: str | None = None) -> None:
        self.stage = stage
        self.error = error
        if stage in SERVING:
            self.serving.set()
        else:
            self.serving.clear()
        self.changed.set()
        self.changed = asyncio.Event()


class SpaceManager:
    """Used by the proxy (server/spaces_proxy.py), the API (server/api/spaces.py) and the web pages."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        content: Content,
        store: SpaceStore,
        sandbox: Sandbox | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.content = content
        self.store = store
        self.urls = SpaceUrls(settings.spaces_url)
        self.hub_address: tuple[str, int] | None = None
        data = Path(settings.data_dir).resolve()
        self.root = data / "spaces"
        self.apps_dir = self.root / "apps"
        self.logs_dir = self.root / "logs"
        self.builder = EnvBuilder(self.root / "envs", settings.spaces_build_timeout, settings.spaces_python)
        self._sandbox = sandbox
        self._sandbox_error: str | None = None
        self.run_root = Path(
            tempfile.mkdtemp(prefix="mysp-")
        )  # short: Unix socket paths are limited to 107 bytes
        self.spaces: dict[int, _Space] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self._reaper: asyncio.Task[None] | None = None
        self._closing = False

    # --- queries -------------------------------------------------------------------------------------
    def runtime(self, repo: Repo) -> SpaceRuntime:
        """The Space's runtime as `get_space_runtime` answers (never blocks; never starts anything)."""
        sp = self.spaces.get(repo.id)
        conf = self.store.get(repo.id)
        if sp is None:
            stage = Stage.PAUSED if conf.paused else Stage.STOPPED
            if repo.sdk == "docker":
                stage = Stage.CONFIG_ERROR
            rt = SpaceRuntime(stage, sdk=repo.sdk, sleep_time=self._sleep_time(conf.sleep_time))
        else:
            config = sp.config
            rt = SpaceRuntime(
                sp.stage,
                sdk=config.sdk if config else sp.sdk or repo.sdk,
                sdk_version=config.sdk_version if config else None,
                error_message=sp.error,
                sleep_time=self._sleep_time(conf.sleep_time),
            )
        rt.requested_hardware = conf.hardware
        if self.urls.wildcard:
            rt.domains = [self.urls.host(repo.namespace, repo.name).split("://", 1)[-1]]
        return rt

    def logs(self, repo: Repo, kind: Literal["build", "run"]) -> LogBook:
        sp = self._space(repo)
        return sp.build_log if kind == "build" else sp.run_log

    def running_count(self) -> int:
        return sum(1 for sp in self.spaces.values() if sp.proc is not None)

    # --- control -------------------------------------------------------------------------------------
    async def restart(self, repo: Repo, factory: bool = False) -> SpaceRuntime:
        """Rebuild if needed (factory: rebuild the environment from scratch) and start again; unpauses."""
        await asyncio.to_thread(self.store.set_paused, repo.id, False)
        sp = self._space(repo)
        sp.crashes = 0
        self._bring_up(sp, fresh=factory)
        return self.runtime(repo)

    async def pause(self, repo: Repo) -> SpaceRuntime:
        """Stop the app; it stays PAUSED (requests do not wake it) until a restart."""
        await asyncio.to_thread(self.store.set_paused, repo.id, True)
        sp = self._space(repo)
        self._cancel(sp)
        await self._stop_proc(sp, "Paused by its owner.")
        sp.set(Stage.PAUSED)
        return self.runtime(repo)

    async def settings_changed(self, repo: Repo) -> SpaceRuntime:
        """Secrets and variables reach a running app by a restart (as on the Hub); sleep time applies at once."""
        sp = self.spaces.get(repo.id)
        if sp is not None and sp.stage in SERVING | TRANSITIONAL:
            self._bring_up(sp)
        return self.runtime(repo)

    # --- the proxy -----------------------------------------------------------------------------------
    async def acquire(self, repo: Repo, wait: float) -> AppTarget:
        """Wake the Space if it sleeps (or was never started), wait up to `wait` seconds for it to serve, and
        say where to send the request; marks it used now. Raises SpaceNotRunning (with ``stage``) when it is
        paused or failed, or still not serving after `wait` (wait=0: never waits, just wakes)."""
        sp = self._space(repo)
        sp.last_used = time.monotonic()
        if sp.stage in SERVING and sp.target is not None:
            return sp.target
        if sp.stage in WAKEABLE:
            if await asyncio.to_thread(lambda: self.store.get(repo.id).paused):
                sp.set(Stage.PAUSED)
            else:
                self._bring_up(sp)
        deadline = time.monotonic() + wait
        while not (sp.stage in SERVING and sp.target is not None):
            if sp.stage is Stage.PAUSED or sp.stage in FAILED:
                raise SpaceNotRunning(self._not_running_message(sp), stage=sp.stage.value)
            left = deadline - time.monotonic()
            if left <= 0:
                raise SpaceNotRunning(self._not_running_message(sp), stage=sp.stage.value)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(sp.changed.wait(), min(left, 1.0))
        sp.last_used = time.monotonic()
        return sp.target

    @contextlib.contextmanager
    def in_use(self, repo: Repo) -> Iterator[None]:
        """Held for the life of a long request (a streaming response, a WebSocket): the Space does not sleep."""
        sp = self._space(repo)
        sp.users += 1
        try:
            yield
        finally:
            sp.users -= 1
            sp.last_used = time.monotonic()

    # --- events and life -----------------------------------------------------------------------------
    def emit(self, event: HubEvent) -> None:
        """EventSink (any thread): a commit to a Space's default branch rebuilds and restarts it; a delete or a
        move stops it (a moved Space starts again under its new name on the next request)."""
        repo = event.repo
        if repo.type is not RepoType.SPACE or self.loop is None or self._closing:
            return
        if event.scope == "repo.content":
            if not any(r.ref == f"refs/heads/{DEFAULT_BRANCH}" and r.new_sha for r in event.refs):
                return
            self.loop.call_soon_threadsafe(self._on_commit, repo)
        elif event.scope == "repo" and event.action == "create":
            self.loop.call_soon_threadsafe(self._on_commit, repo)
        elif event.scope == "repo" and event.action in {"delete", "move"}:
            self.loop.call_soon_threadsafe(self._forget, repo.id)

    def _on_commit(self, repo: Repo) -> None:
        if self._closing:
            return
        sp = self._space(repo)
        if sp.stage is Stage.PAUSED:
            return  # a paused Space stays paused; the next restart runs the new revision
        sp.crashes = 0
        self._bring_up(sp, forced=False)

    def _forget(self, repo_id: int) -> None:
        sp = self.spaces.pop(repo_id, None)
        if sp is None:
            return
        self._cancel(sp)
        sp.set(Stage.DELETING)
        if sp.proc is not None:
            asyncio.get_running_loop().create_task(self._stop_proc(sp, "The Space was deleted or moved."))

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.root.mkdir(parents=True, exist_ok=True)
        if self._sandbox is None:
            try:
                self._sandbox = choose(self.settings.spaces_sandbox)
            except HubError as e:  # no bwrap: Spaces cannot run; the hub serves everything else
                self._sandbox_error = e.message
                log.warning("Spaces cannot run: %s", e.message)
        self._reaper = asyncio.create_task(self._reap_forever())

    async def aclose(self) -> None:
        """Stops every app (process groups killed), on hub shutdown."""
        self._closing = True
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        for sp in list(self.spaces.values()):
            self._cancel(sp)
        await asyncio.gather(
            *(self._stop_proc(sp, "The hub is shutting down.") for sp in self.spaces.values())
        )
        shutil.rmtree(self.run_root, ignore_errors=True)

    # --- internals -----------------------------------------------------------------------------------
    def _space(self, repo: Repo) -> _Space:
        sp = self.spaces.get(repo.id)
        if sp is None:
            logs = self.logs_dir / str(repo.id)
            sp = _Space(
                repo.id,
                repo.namespace,
                repo.name,
                LogBook(logs / "build.log"),
                LogBook(logs / "run.log"),
                sdk=repo.sdk,
            )
            if self.store.get(repo.id).paused:
                sp.stage = Stage.PAUSED
            self.spaces[repo.id] = sp
        sp.ns, sp.name = repo.namespace, repo.name
        return sp

    def _sleep_time(self, configured: int | None) -> int | None:
        seconds = self.settings.spaces_sleep_time if configured is None else configured
        return None if seconds < 0 else seconds

    def _not_running_message(self, sp: _Space) -> str:
        if sp.stage is Stage.PAUSED:
            return f"Space {sp.ns}/{sp.name} is paused by its owner."
        if sp.error:
            return f"Space {sp.ns}/{sp.name} is {sp.stage.value}: {sp.error}"
        return f"Space {sp.ns}/{sp.name} is not running yet ({sp.stage.value})."

    def _cancel(self, sp: _Space) -> None:
        if sp.task is not None and not sp.task.done():
            sp.task.cancel()
        sp.task = None
        sp.again = sp.again_fresh = sp.again_forced = False

    def _bring_up(self, sp: _Space, fresh: bool = False, forced: bool = True) -> None:
        """Bring the Space up at its head revision. One bring-up at a time: while one runs, another request (a
        commit, a restart) is queued and runs once it ends, so a build or a start is never cut in the middle.
        A queued commit (`forced=False`) is dropped when the bring-up that ran already read that head."""
        if sp.task is not None and not sp.task.done():
            sp.again, sp.again_fresh = True, sp.again_fresh or fresh
            sp.again_forced = sp.again_forced or forced
            return
        sp.task = asyncio.get_running_loop().create_task(self._bring_up_task(sp, fresh))

    async def _bring_up_task(self, sp: _Space, fresh: bool) -> None:
        try:
            await self._bring_up_inner(sp, fresh)
            if sp.again and not self._closing:
                fresh, forced = sp.again_fresh, sp.again_forced
                sp.again = sp.again_fresh = sp.again_forced = False
                if not forced and not fresh and sp.tried is not None:
                    head = await asyncio.to_thread(self._head, sp)
                    if head == sp.tried:
                        return  # the commit that queued this was already built (it landed before the read)
                sp.task = asyncio.get_running_loop().create_task(self._bring_up_task(sp, fresh))
        except asyncio.CancelledError:
            raise
        except Exception as e:  # never leave a Space stuck in a transitional stage
            log.exception("space %s/%s failed to start", sp.ns, sp.name)
            sp.build_log.write(f"Internal error: {e}")
            if sp.stage not in SERVING:
                sp.set(Stage.RUNTIME_ERROR, f"Internal error: {e}")

    async def _bring_up_inner(self, sp: _Space, fresh: bool) -> None:
        was_serving = sp.stage in SERVING and sp.proc is not None
        sp.set(Stage.RUNNING_BUILDING if was_serving else Stage.BUILDING)
        if self._sandbox_error is not None:
            sp.build_log.reset(f"===== Cannot run Spaces on this hub =====\n{self._sandbox_error}")
            sp.build_log.close()
            await self._stop_proc(sp, "")
            sp.set(Stage.CONFIG_ERROR, self._sandbox_error)
            return
        found = await asyncio.to_thread(self._read_space, sp)
        if found is None:
            return self._forget(sp.repo_id)
        sha, parsed = found
        sp.tried = sha
        if isinstance(parsed, ConfigProblem):
            sp.build_log.reset(f"===== {parsed.stage.value} =====\n{parsed.message}")
            sp.build_log.close()
            sp.sdk = parsed.sdk
            await self._stop_proc(sp, "")
            sp.config = None
            sp.set(parsed.stage, parsed.message)
            return
        config = parsed
        sp.build_log.reset(
            f"===== Build queued at {time.strftime('%Y-%m-%d %H:%M:%S')} (revision {sha[:12]}) ====="
        )
        app_dir = await asyncio.to_thread(
            materialize,
            self.db,
            self.content,
            RepoType.SPACE,
            f"{sp.ns}/{sp.name}",
            sha,
            self.apps_dir,
            False,
        )
        prefix = self.urls.prefix(sp.ns, sp.name)
        if config.sdk == "static":
            sp.build_log.write("Static Space: nothing to build.")
            sp.build_log.close()
            await self._stop_proc(sp, "")
            sp.config, sp.sha, sp.sdk = config, sha, config.sdk
            sp.target = AppTarget("static", app_dir, prefix, True, config.app_file)
            sp.run_log.reset(f"===== Serving {config.app_file} (revision {sha[:12]}) =====")
            sp.set(Stage.RUNNING)
            return
        spec = BuildSpec(config.sdk, config.sdk_version, config.python_version, config.requirements)
        try:
            env_dir = await self.builder.build(spec, sp.build_log, fresh=fresh)
        except BuildFailed as e:
            sp.build_log.write(f"Build failed: {e}")
            sp.build_log.close()
            await self._stop_proc(sp, "")
            sp.config, sp.sdk = config, config.sdk
            sp.set(Stage.BUILD_ERROR, str(e))
            return
        sp.build_log.write("Build done.")
        sp.build_log.close()
        await self._start_app(sp, config, sha, app_dir, env_dir, replacing=was_serving)

    def _head(self, sp: _Space) -> str | None:
        """The head of the Space's default branch (None: no commit, or the Space is gone)."""
        with self.db.read() as conn:
            repo = Repos.find_in(conn, RepoType.SPACE, sp.ns, sp.name)
            if repo is None or repo.id != sp.repo_id:
                return None
            try:
                return revisions.resolve(conn, repo.id, DEFAULT_BRANCH)
            except NotFound:
                return ""

    def _read_space(self, sp: _Space) -> tuple[str, AppConfig | ConfigProblem] | None:
        """(head sha, parsed config) of the Space's default branch; None if the Space is gone."""
        with self.db.read() as conn:
            repo = Repos.find_in(conn, RepoType.SPACE, sp.ns, sp.name)
            if repo is None or repo.id != sp.repo_id:
                return None
            try:
                sha = revisions.resolve(conn, repo.id, DEFAULT_BRANCH)
            except NotFound:
                return "", ConfigProblem(Stage.NO_APP_FILE, "The Space has no commit yet.", repo.sdk)
            files = revisions.manifest(conn, repo.id, sha)
        card: dict[str, object] | None = None
        readme = files.get("README.md")
        problem: str | None = None
        if readme is not None and readme.size <= MAX_README:
            try:
                card = parse_card(self.content.read(readme.sha256).decode("utf-8", "replace"))
            except HubError as e:
                problem = f"README.md: {e.message}"
        if problem:
            return sha, ConfigProblem(Stage.CONFIG_ERROR, problem, repo.sdk)
        requirements = ""
        req = files.get("requirements.txt")
        if req is not None:
            if req.size > MAX_REQUIREMENTS:
                return sha, ConfigProblem(Stage.CONFIG_ERROR, "requirements.txt is too large.", repo.sdk)
            requirements = self.content.read(req.sha256).decode("utf-8", "replace")
        return sha, appconfig.parse(card, files.keys(), requirements)

    def _app_env(self, sp: _Space, config: AppConfig) -> tuple[dict[str, str], list[str]]:
        conf = self.store
        secrets = conf.secret_values(sp.repo_id)
        variables = {k: v.value for k, v in conf.variables(sp.repo_id).items()}
        host = self.urls.host(sp.ns, sp.name)
        env = {
            **variables,
            **secrets,
            "SPACE_ID": f"{sp.ns}/{sp.name}",
            "SPACE_AUTHOR_NAME": sp.ns,
            "SPACE_REPO_NAME": sp.name,
            "SPACE_TITLE": sp.name,
            "SPACE_HOST": host.split("://", 1)[-1],
        }
        return env, list(secrets.values())

    async def _start_app(
        self, sp: _Space, config: AppConfig, sha: str, app_dir: Path, env_dir: Path, replacing: bool
    ) -> None:
        assert self._sandbox is not None
        if not replacing:
            await self._make_room(sp)
        sp.set(Stage.RUNNING_APP_STARTING if replacing else Stage.APP_STARTING)
        env, secret_values = await asyncio.to_thread(self._app_env, sp, config)
        sp.run_log.redact(secret_values)
        run_dir = self.run_root / f"{sp.repo_id}-{time.monotonic_ns() % 10**9}"
        run_dir.mkdir(parents=True)
        prefix = self.urls.prefix(sp.ns, sp.name)
        spec = LaunchSpec(
            app=config,
            app_dir=app_dir,
            env_dir=env_dir,
            run_dir=run_dir,
            prefix=prefix,
            env=env,
            hub_address=self.hub_address,
            memory_mb=self.settings.spaces_memory_mb,
            cpu_cores=self.settings.spaces_cpu_cores,
        )
        sp.run_log.reset(f"===== Application Startup at {time.strftime('%Y-%m-%d %H:%M:%S')} =====")
        for line in self._sandbox.describe():
            sp.run_log.write(f"[sandbox] {line}")
        proc = await self._sandbox.start(spec, sp.run_log)
        strip = config.sdk != "streamlit"
        target = AppTarget("socket", proc.socket, prefix, strip)
        health = "/" if strip else f"{prefix}/_stcore/health"
        ok = await self._wait_ready(proc, health, self.settings.spaces_start_timeout)
        if not ok:
            code = proc.returncode
            await proc.stop()
            await proc.drain()  # the app's last lines (its traceback) before the reason
            shutil.rmtree(run_dir, ignore_errors=True)
            why = (
                f"The app exited with code {code} before answering."
                if code is not None
                else f"The app did not answer within {self.settings.spaces_start_timeout} s."
            )
            sp.run_log.write(why)
            if replacing:  # the old revision keeps serving; the new one failed
                sp.set(Stage.RUNNING, f"The new revision failed to start: {why}")
            else:
                sp.set(Stage.RUNTIME_ERROR, why)
            return
        old = sp.proc
        sp.proc, sp.target, sp.config, sp.sha, sp.sdk = proc, target, config, sha, config.sdk
        sp.started_at = time.monotonic()
        sp.last_used = time.monotonic()
        sp.stopping = False
        sp.set(Stage.RUNNING)
        sp.watcher = asyncio.get_running_loop().create_task(self._watch(sp, proc, run_dir))
        if old is not None:
            await old.stop()

    async def _wait_ready(self, proc: AppProcess, path: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        transport = httpx.AsyncHTTPTransport(uds=str(proc.socket))
        async with httpx.AsyncClient(transport=transport, timeout=5.0) as client:
            while time.monotonic() < deadline:
                if proc.returncode is not None:
                    return False
                try:
                    r = await client.get(f"http://space{path}")
                    if r.status_code < 500:
                        return True
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        return False

    async def _watch(self, sp: _Space, proc: AppProcess, run_dir: Path) -> None:
        code = await proc.wait()
        await proc.drain()
        shutil.rmtree(run_dir, ignore_errors=True)
        if sp.proc is not proc:
            return  # replaced or stopped on purpose
        sp.proc, sp.target = None, None
        if sp.stopping or self._closing:
            return
        sp.run_log.write(f"The app exited with code {code}.")
        if time.monotonic() - sp.started_at > STABLE_SECONDS:
            sp.crashes = 0
        sp.crashes += 1
        if sp.crashes > MAX_CRASHES:
            sp.set(
                Stage.RUNTIME_ERROR, f"The app exited with code {code} ({MAX_CRASHES + 1} times in a row)."
            )
            return
        delay = 2.0 ** (sp.crashes - 1)
        sp.run_log.write(f"Restarting in {delay:.0f} s (crash {sp.crashes} of {MAX_CRASHES}).")
        sp.set(Stage.APP_STARTING)

        async def again() -> None:
            await asyncio.sleep(delay)
            await self._bring_up_inner(sp, False)

        self._cancel(sp)
        sp.task = asyncio.get_running_loop().create_task(again())

    async def _stop_proc(self, sp: _Space, why: str) -> None:
        proc = sp.proc
        sp.proc = None
        if sp.target is not None and sp.target.kind == "socket":
            sp.target = None
        if proc is None:
            return
        sp.stopping = True
        if why:
            sp.run_log.write(why)
        await proc.stop()
        sp.run_log.close()

    async def _sleep(self, sp: _Space, why: str) -> None:
        self._cancel(sp)
        await self._stop_proc(sp, why)
        sp.target = None
        sp.set(Stage.SLEEPING)

    async def _make_room(self, starting: _Space) -> None:
        """Past spaces_max_running, the least recently used running Space (not in use) sleeps."""
        running = [sp for sp in self.spaces.values() if sp.proc is not None and sp is not starting]
        while len(running) >= max(1, self.settings.spaces_max_running):
            idle = sorted((sp for sp in running if sp.users == 0), key=lambda sp: sp.last_used)
            victim = idle[0] if idle else min(running, key=lambda sp: sp.last_used)
            await self._sleep(
                victim, f"Sleeping: {self.settings.spaces_max_running} Spaces run at most on this hub."
            )
            running.remove(victim)

    async def _reap_forever(self) -> None:
        while True:
            await asyncio.sleep(REAP_INTERVAL)
            try:
                await self._reap()
            except Exception:
                log.exception("space reaper")

    async def _reap(self) -> None:
        now = time.monotonic()
        for sp in list(self.spaces.values()):
            if sp.stage not in SERVING or sp.users > 0 or sp.proc is None:
                continue  # a static Space has no process: nothing to put to sleep
            conf = await asyncio.to_thread(self.store.get, sp.repo_id)
            seconds = self._sleep_time(conf.sleep_time)
            if seconds is not None and now - sp.last_used > seconds:
                await self._sleep(sp, f"Sleeping after {seconds} s without a request.")
