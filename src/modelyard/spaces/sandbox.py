"""Run a Space's app: under bubblewrap (own user/pid/net/ipc/uts/cgroup namespaces, loopback-only network, only
the Space's files, its environment and /usr visible), or with no sandbox (own process group, limits and a
cleared environment only). Either way the app runs behind the shim (spaces/shim.py): the hub speaks HTTP to a
Unix socket (`AppProcess.socket`) and the app reaches the hub, and only the hub, at its HF_ENDPOINT.

Limits: a cgroup (v2, or v1 memory/pids/cpu) where one is writable; else rlimits (address space, open files,
file size) set by the shim. Which one holds is written to the run log.

Nothing secret goes on a command line (the host's `ps` shows those): the app's environment reaches the shim
through an inherited memfd, and bwrap itself runs with a minimal environment.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from modelyard import procs
from modelyard.errors import ConfigError
from modelyard.spaces import shim
from modelyard.spaces.appconfig import AppConfig
from modelyard.spaces.logs import LogBook

BWRAP = "/usr/bin/bwrap"
SHIM = Path(shim.__file__).resolve()
APP_PORT = 7860
UID = 1000
PIDS_MAX = 1024
NOFILE = 4096
_LINE_MAX = 16384
# inside the sandbox
_APP = "/app"
_VENV = "/opt/venv"
_SHIM = "/opt/modelyard/shim.py"
_HUB_SOCK = "/run/hub.sock"
_ETC_TRY = (
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/ld.so.cache",
    "/etc/localtime",
    "/etc/mime.types",
    "/etc/fonts",
)
_DROP_ENV = re.compile(r"^(LD_|PYTHONHOME$|PYTHONPATH$|PYTHONSTARTUP$|PYTHONINSPECT$|BASH_ENV$|ENV$)")


@dataclass(frozen=True)
class LaunchSpec:
    app: AppConfig  # sdk gradio|streamlit, app_file
    app_dir: Path  # the Space's files at one revision (read-only in the sandbox)
    env_dir: Path  # the venv from EnvBuilder (read-only)
    run_dir: Path  # writable host dir for the sockets (short path, under /tmp)
    prefix: str  # the public root path: "/spaces/ns/name" or ""
    env: dict[str, str]  # SPACE_ID, SPACE_AUTHOR_NAME, ..., the Space's variables and secrets
    hub_address: tuple[str, int] | None  # the hub's TCP address (host side); None: no hub access
    memory_mb: int
    cpu_cores: float


# --- limits: a cgroup where writable, else rlimits ------------------------------------------------------------
_counter = 0


def _own_cgroups() -> dict[str, str]:
    """controller (or "" for v2) -> this process's cgroup path."""
    out: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for c in controllers.split(",") if controllers else [""]:
                out[c] = path
    return out


@dataclass
class Cgroup:
    dirs: list[Path] = field(default_factory=list)
    version: int = 0
    summary: str = ""

    @classmethod
    def create(cls, name: str, memory_mb: int, cpu_cores: float) -> Cgroup | None:
        global _counter
        _counter += 1
        leaf = f"modelyard-{re.sub(r'[^A-Za-z0-9_.-]', '-', name)[:60]}-{os.getpid()}-{_counter}"
        own = _own_cgroups()
        mem = memory_mb * 1024 * 1024
        quota = max(1000, int(cpu_cores * 100000))
        root = Path("/sys/fs/cgroup")
        if (root / "cgroup.controllers").exists():  # v2
            base = root / own.get("", "/").lstrip("/")
            with contextlib.suppress(OSError):
                (base / "cgroup.subtree_control").write_text("+memory +pids +cpu")
            d = base / leaf
            try:
                d.mkdir()
                (d / "memory.max").write_text(str(mem))
                (d / "pids.max").write_text(str(PIDS_MAX))
                with contextlib.suppress(OSError):
                    (d / "memory.swap.max").write_text("0")
                with contextlib.suppress(OSError):
                    (d / "cpu.max").write_text(f"{quota} 100000")
            except OSError:
                with contextlib.suppress(OSError):
                    d.rmdir()
                return None
            return cls([d], 2, f"cgroup v2 {d}")
        made: list[Path] = []
        try:
            for controller in ("memory", "pids", "cpu"):
                base = root / controller / own.get(controller, "/").lstrip("/")
                d = base / leaf
                d.mkdir()
                made.append(d)
                if controller == "memory":
                    (d / "memory.limit_in_bytes").write_text(str(mem))
                    with contextlib.suppress(OSError):
                        (d / "memory.memsw.limit_in_bytes").write_text(str(mem))
                elif controller == "pids":
                    (d / "pids.max").write_text(str(PIDS_MAX))
                else:
                    (d / "cpu.cfs_period_us").write_text("100000")
                    (d / "cpu.cfs_quota_us").write_text(str(quota))
        except OSError:
            for d in made:
                with contextlib.suppress(OSError):
                    d.rmdir()
            return None
        return cls(made, 1, f"cgroup v1 {made[0].parent}/{leaf} (memory, pids, cpu)")

    @staticmethod
    def sweep() -> int:
        """Remove the cgroups a hub that is gone left behind (killing what still runs in them); how many."""
        own = _own_cgroups()
        root = Path("/sys/fs/cgroup")
        if (root / "cgroup.controllers").exists():
            bases = [(root / own.get("", "/").lstrip("/"), 2)]
        else:
            bases = [(root / c / own.get(c, "/").lstrip("/"), 1) for c in ("memory", "pids", "cpu")]
        removed = 0
        for base, version in bases:
            with contextlib.suppress(OSError):
                for d in base.glob("modelyard-*-*-*"):
                    try:
                        pid = int(d.name.rsplit("-", 2)[-2])
                        os.kill(pid, 0)
                        continue  # its hub still runs
                    except ValueError:
                        continue
                    except ProcessLookupError:
                        pass
                    except PermissionError:
                        continue
                    stale = Cgroup([d], version)
                    stale.kill()
                    stale.remove()
                    removed += not d.exists()
        return removed

    def procs_files(self) -> list[str]:
        return [str(d / "cgroup.procs") for d in self.dirs]

    def pids(self) -> set[int]:
        found: set[int] = set()
        for d in self.dirs:
            with contextlib.suppress(OSError, ValueError):
                found.update(int(x) for x in (d / "cgroup.procs").read_text().split())
        return found

    def kill(self) -> None:
        if self.version == 2:
            with contextlib.suppress(OSError):
                (self.dirs[0] / "cgroup.kill").write_text("1")
        for _ in range(50):
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.02)

    def remove(self) -> None:
        for d in self.dirs:
            for _ in range(25):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)

    def oom_killed(self) -> bool:
        for d in self.dirs:
            for name, key in (("memory.events", "oom_kill"), ("memory.oom_control", "oom_kill")):
                with contextlib.suppress(OSError, ValueError):
                    for line in (d / name).read_text().splitlines():
                        k, _, v = line.partition(" ")
                        if k == key and int(v) > 0:
                            return True
        return False


# --- the running app -------------------------------------------------------------------------------------
class AppProcess:
    """A started app. `socket`: the host path of the ingress Unix socket (HTTP/1.1 and WebSockets)."""

    def __init__(
        self,
        proc: procs.Process,
        socket_path: Path,
        log: LogBook,
        control: int,
        cgroup: Cgroup | None,
        egress: asyncio.AbstractServer | None,
        cleanup_paths: list[Path],
    ) -> None:
        self._proc = proc
        self.socket = socket_path
        self.pid = proc.pid
        self._log = log
        self._control: int | None = control
        self._cgroup = cgroup
        self._egress = egress
        self._cleanup_paths = cleanup_paths
        self._done = asyncio.Event()
        self._pump = asyncio.ensure_future(self._read_output())
        self._exit = asyncio.ensure_future(self._wait_exit())
        self._finished = False

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode

    async def _read_output(self) -> None:
        stream = self._proc.stdout
        if stream is None:
            return
        pending = b""
        while True:
            chunk = await stream.read(65536)
            if not chunk:
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                self._log.write(line[:_LINE_MAX].decode("utf-8", "replace").rstrip("\r"))
            if len(pending) > _LINE_MAX:
                self._log.write(pending[:_LINE_MAX].decode("utf-8", "replace"))
                pending = b""
        if pending:
            self._log.write(pending[:_LINE_MAX].decode("utf-8", "replace"))

    async def _wait_exit(self) -> int:
        """The shim's exit status, as soon as it exits (`procs.Process.wait` watches the process, not the output
        pipe, which a process the app left behind in its own session may hold open)."""
        return await self._proc.wait()

    async def drain(self, timeout: float = 2.0) -> None:
        """Wait (a little) until the app's last output lines are in the log: after an exit, before saying why."""
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(self._pump), timeout)

    async def wait(self) -> int:
        code = await asyncio.shield(self._exit)
        await self._finish()
        return code

    async def stop(self, grace: float = 5.0) -> None:
        """SIGTERM to the app's process group (through the shim), SIGKILL to everything after `grace` seconds."""
        if self._proc.returncode is None:
            if self._control is not None:  # the shim's own schedule: SIGTERM now, SIGKILL after `grace`
                with contextlib.suppress(OSError):
                    os.write(self._control, f"stop {grace:.3f}\n".encode())
            self._close_control()
            try:
                await asyncio.wait_for(asyncio.shield(self._exit), grace + 1.0)
            except TimeoutError:
                await asyncio.to_thread(self._kill)
        await self.wait()

    def _close_control(self) -> None:
        if self._control is not None:
            with contextlib.suppress(OSError):
                os.close(self._control)
            self._control = None

    def _kill(self) -> None:
        """SIGKILL to everything: the process group, every descendant (the app runs in its own session; what
        it left behind was re-parented to the shim, a subreaper), the cgroup."""
        for _ in range(3):
            pids = shim.descendants(self._proc.pid)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._proc.pid, signal.SIGKILL)
            for pid in pids:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            if not pids:
                break
        if self._cgroup is not None:
            self._cgroup.kill()

    async def _finish(self) -> None:
        if self._finished:
            await self._done.wait()
            return
        self._finished = True
        try:
            self._close_control()
            # leftovers: a process that left the group (setsid) but not the cgroup / the PID namespace
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._proc.pid, signal.SIGKILL)
            if self._cgroup is not None:
                oom = self._cgroup.oom_killed()
                await asyncio.to_thread(self._cgroup.kill)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._pump), 2)
            if not self._pump.done():  # held open by a process that escaped: stop reading
                self._pump.cancel()
                self._proc.close()  # and close the pipe (once, by its transport)
            else:  # let asyncio close its transport (Process.wait returns once the pipe is closed)
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self._proc.wait(), 1)
            if self._cgroup is not None:
                await asyncio.to_thread(self._cgroup.remove)
                if oom:
                    self._log.write("The app was killed: it used more than its memory limit.")
            if self._egress is not None:
                self._egress.close()
            for p in self._cleanup_paths:
                with contextlib.suppress(OSError):
                    p.unlink()
        finally:
            self._done.set()


# --- sandboxes -----------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _app_command(app: AppConfig, python: str, port: int, prefix: str) -> list[str]:
    if app.sdk == "streamlit":
        cmd = [python, "-m", "streamlit", "run", app.app_file, "--server.port", str(port)]
        cmd += ["--server.address", "127.0.0.1", "--server.headless", "true"]
        if prefix.strip("/"):
            cmd += ["--server.baseUrlPath", prefix.strip("/")]
        cmd += ["--browser.gatherUsageStats", "false", "--server.enableXsrfProtection", "false"]
        cmd += ["--server.enableCORS", "false"]
        return cmd
    return [python, app.app_file]


def _clean_env(
    base: dict[str, str], given: dict[str, str], home: str, fixed: dict[str, str], hf_endpoint: str | None
) -> dict[str, str]:
    """`base`, then the given variables (less the loader's and interpreter's), then HOME/TMPDIR/USER/LOGNAME and
    `fixed`; HF_ENDPOINT is `hf_endpoint` (none when None)."""
    env = dict(base)
    env.update({k: v for k, v in given.items() if not _DROP_ENV.match(k)})
    env.update({"HOME": home, "TMPDIR": home, "USER": "user", "LOGNAME": "user", **fixed})
    if hf_endpoint:
        env["HF_ENDPOINT"] = hf_endpoint
    else:
        env.pop("HF_ENDPOINT", None)
    return env


def _app_env(spec: LaunchSpec, port: int, home: str, venv: str, hf_endpoint: str | None) -> dict[str, str]:
    base = {
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "CPU_CORES": f"{spec.cpu_cores:g}",
        "MEMORY": f"{spec.memory_mb}Mi",
    }
    fixed = {
        "PATH": f"{venv}/bin:/usr/local/bin:/usr/bin:/bin",
        "VIRTUAL_ENV": venv,
        "MPLCONFIGDIR": f"{home}/.config/matplotlib",
    }
    if spec.app.sdk == "gradio":
        fixed.update(
            GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port), GRADIO_ROOT_PATH=spec.prefix
        )
    if spec.app.sdk == "streamlit":
        fixed.update(STREAMLIT_BROWSER_GATHER_USAGE_STATS="false", STREAMLIT_SERVER_HEADLESS="true")
    return _clean_env(base, spec.env, home, fixed, hf_endpoint)


def _direct_endpoint(hub_address: tuple[str, int] | None) -> str | None:
    """HF_ENDPOINT for an app or command that reaches the hub directly (no sandbox)."""
    return f"http://{_host(hub_address[0])}:{hub_address[1]}" if hub_address else None


def _env_fd(env: dict[str, str]) -> int:
    fd = os.memfd_create("space-env", 0)
    data = json.dumps(env).encode()
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _base_python(env_dir: Path) -> Path | None:
    """The prefix of the venv's base interpreter when it lies outside /usr (it must be bound too)."""
    with contextlib.suppress(OSError):
        for line in (env_dir / "pyvenv.cfg").read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "home":
                home = Path(value.strip())
                real = Path(os.path.realpath(home))
                if not str(real).startswith("/usr/"):
                    return real.parent
    return None


def _limit_args(memory_mb: int, cpu_cores: float, cgroup: Cgroup | None, log: LogBook) -> list[str]:
    """The shim's rlimit options; writes which limits hold to the log."""
    mem = memory_mb * 1024 * 1024
    limits = [f"--limit-nofile={NOFILE}", f"--limit-fsize={mem}"]
    if cgroup is None:
        limits.append(f"--limit-as={mem}")
        log.write(
            f"Limits: rlimits (address space {memory_mb} MiB, {NOFILE} open files, files up to "
            f"{memory_mb} MiB); no writable cgroup, so no CPU or process-count limit."
        )
    else:
        log.write(
            f"Limits: {cgroup.summary}: memory {memory_mb} MiB, {PIDS_MAX} processes, "
            f"{cpu_cores:g} CPU cores; {NOFILE} open files."
        )
    return limits


# runs the command after writing its own pid into each cgroup.procs file named before "--"
_CGROUP_ENTER = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"'


class Sandbox:
    name = "base"
    cgroups = True  # False: never use a cgroup (rlimits only), for tests and hosts where cgroups misbehave

    def describe(self) -> list[str]:
        raise NotImplementedError

    async def start(self, spec: LaunchSpec, log: LogBook) -> AppProcess:
        raise NotImplementedError

    # shared by Spaces and commands: the host side of a launch
    async def _spawn(
        self,
        log: LogBook,
        *,
        name: str,
        run_dir: Path,
        memory_mb: int,
        cpu_cores: float,
        prefix_cmd: list[str],
        python: str,
        shim_path: str,
        env: dict[str, str],
        argv: list[str],
        cwd: str | None,
        app_port: int | None = None,
        egress_to: tuple[str, int] | None = None,
    ) -> AppProcess:
        """Start the shim (behind `prefix_cmd`, in a cgroup where one is writable) running `argv` with `env`.
        `app_port`: an app that listens there, served on the ingress socket run_dir/app.sock (none: no
        ingress). `egress_to`: the hub's address, reached from inside through the egress socket
        run_dir/hub.sock (bound at _HUB_SOCK)."""
        run_dir.mkdir(parents=True, exist_ok=True)
        egress_server: asyncio.AbstractServer | None = None
        egress_sock = run_dir / "hub.sock"
        if egress_to is not None:
            with contextlib.suppress(FileNotFoundError):
                egress_sock.unlink()
            egress_server = await _egress_server(egress_sock, *egress_to)
        sock_path = run_dir / "app.sock" if app_port is not None else run_dir / "no-ingress"
        listener: socket.socket | None = None
        cgroup: Cgroup | None = None
        fds: list[int] = []  # ours to close once started
        control_w = -1
        try:
            shim_cmd = [python, "-I", "-S", shim_path]
            inherit: list[int] = []
            if app_port is not None:
                with contextlib.suppress(FileNotFoundError):
                    sock_path.unlink()
                listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                listener.bind(str(sock_path))
                os.chmod(sock_path, 0o600)
                listener.listen(128)
                inherit.append(listener.fileno())
                shim_cmd += [f"--ingress-fd={listener.fileno()}", f"--app-port={app_port}"]
            control_r, control_w = os.pipe()
            fds.append(control_r)
            env_fd = _env_fd(env)
            fds.append(env_fd)
            if self.cgroups:
                cgroup = Cgroup.create(name, memory_mb, cpu_cores)
            shim_cmd += [f"--control-fd={control_r}", f"--env-fd={env_fd}"]
            shim_cmd += _limit_args(memory_mb, cpu_cores, cgroup, log)
            if egress_to is not None:
                shim_cmd += [f"--egress-port={egress_to[1]}", f"--egress-socket={_HUB_SOCK}"]
            cmd = [*prefix_cmd, *shim_cmd, "--", *argv]
            if cgroup is not None:
                cmd = ["/bin/sh", "-c", _CGROUP_ENTER, "sh", *cgroup.procs_files(), "--", *cmd]
            for fd in (*inherit, *fds):
                os.set_inheritable(fd, True)
            proc = await procs.spawn(
                cmd,
                cwd=cwd,
                env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
                stdin=procs.DEVNULL,
                stdout=procs.PIPE,
                stderr=procs.STDOUT,
                pass_fds=(*inherit, *fds),
                start_new_session=True,
            )
        except BaseException:
            if cgroup is not None:
                cgroup.remove()
            with contextlib.suppress(OSError):
                os.close(control_w)
            if egress_server is not None:
                egress_server.close()
            raise
        finally:
            if listener is not None:
                listener.close()
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
        cleanup = [sock_path] if app_port is not None else []
        if egress_to is not None:
            cleanup.append(egress_sock)
        return AppProcess(proc, sock_path, log, control_w, cgroup, egress_server, cleanup)

    async def _start_app(
        self,
        spec: LaunchSpec,
        log: LogBook,
        prefix_cmd: list[str],
        shim_path: str,
        app_env: dict[str, str],
        app_port: int,
        cwd: str | None,
        egress_to: tuple[str, int] | None,
    ) -> AppProcess:
        """A Space's app behind the shim, with the venv's python (`app_env`'s VIRTUAL_ENV) for both."""
        python = f"{app_env['VIRTUAL_ENV']}/bin/python"
        return await self._spawn(
            log,
            name=spec.env.get("SPACE_ID") or spec.app_dir.name or "space",
            run_dir=spec.run_dir,
            memory_mb=spec.memory_mb,
            cpu_cores=spec.cpu_cores,
            prefix_cmd=prefix_cmd,
            python=python,
            shim_path=shim_path,
            env=app_env,
            argv=_app_command(spec.app, python, app_port, spec.prefix),
            cwd=cwd,
            app_port=app_port,
            egress_to=egress_to,
        )


def _etc(run_dir: Path, hostname: str, gecos: str) -> Path:
    """The /etc files a bwrap sandbox gets (passwd, group, hosts, nsswitch.conf), written under run_dir/etc."""
    etc = run_dir / "etc"
    etc.mkdir(parents=True, exist_ok=True)
    (etc / "passwd").write_text(
        f"user:x:{UID}:{UID}:{gecos}:/tmp:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n"
    )
    (etc / "group").write_text(f"user:x:{UID}:\nnogroup:x:65534:\n")
    (etc / "hosts").write_text(f"127.0.0.1 localhost {hostname}\n::1 localhost ip6-localhost\n")
    (etc / "nsswitch.conf").write_text("passwd: files\ngroup: files\nhosts: files dns\n")
    return etc


class BwrapSandbox(Sandbox):
    name = "bwrap"

    def __init__(self, bwrap: str = BWRAP, disable_userns: bool = True, cgroups: bool = True) -> None:
        self.bwrap = bwrap
        self.disable_userns = disable_userns
        self.cgroups = cgroups

    def describe(self) -> list[str]:
        return [
            "Sandbox: bubblewrap: own user, PID, network, IPC, UTS and cgroup namespaces; the app runs as uid "
            f"{UID} with no capabilities"
            + (" and cannot create user namespaces." if self.disable_userns else "."),
            "Network: loopback only; the hub is reachable at HF_ENDPOINT (through the egress socket), nothing "
            "else: no other host port, no internet.",
            "Files: /app (the Space's files, read-only, the working directory), the Python environment and /usr "
            "(read-only), a private /tmp (HOME); the hub's data directory, /root, /home and other Spaces are not "
            "mounted.",
            "Environment: only the Space's variables and secrets and the SPACE_* variables; no hub settings or "
            "tokens.",
            "Stop: SIGTERM to the app's process group, then SIGKILL to the whole PID namespace.",
        ]

    def _args(
        self,
        run_dir: Path,
        hostname: str,
        gecos: str,
        memory_mb: int,
        mounts: list[str],
        chdir: str,
        egress: bool,
    ) -> list[str]:
        """bwrap's command line: namespaces, /usr and the lib/bin links, /etc (written under run_dir), /proc,
        /dev, a /tmp of memory_mb; then `mounts`, the egress socket (`egress`) and the working directory."""
        etc = _etc(run_dir, hostname, gecos)
        a = [self.bwrap, "--unshare-all", "--unshare-user", "--die-with-parent", "--new-session"]
        a += ["--uid", str(UID), "--gid", str(UID), "--hostname", hostname, "--cap-drop", "ALL"]
        if self.disable_userns:
            a += ["--disable-userns"]
        a += ["--ro-bind", "/usr", "/usr"]
        for link in ("lib", "lib64", "bin", "sbin"):
            target = Path("/") / link
            if target.is_symlink():
                a += ["--symlink", os.readlink(target), f"/{link}"]
            elif target.is_dir():
                a += ["--ro-bind", str(target), f"/{link}"]
        for path in _ETC_TRY:
            a += ["--ro-bind-try", path, path]
        for name in ("passwd", "group", "hosts", "nsswitch.conf"):
            a += ["--ro-bind", str(etc / name), f"/etc/{name}"]
        a += ["--proc", "/proc", "--dev", "/dev"]
        a += ["--size", str(memory_mb * 1024 * 1024), "--tmpfs", "/tmp"]
        a += mounts
        if egress:
            a += ["--ro-bind", str(run_dir / "hub.sock"), _HUB_SOCK]
        a += ["--chdir", chdir, "--"]
        return a

    async def start(self, spec: LaunchSpec, log: LogBook) -> AppProcess:
        app_port = APP_PORT
        hf = None
        if spec.hub_address is not None:
            if spec.hub_address[1] == app_port:
                app_port = APP_PORT + 1
            hf = f"http://127.0.0.1:{spec.hub_address[1]}"
        app_env = _app_env(spec, app_port, "/tmp", _VENV, hf)
        mounts: list[str] = []
        base = _base_python(spec.env_dir)
        if base is not None:
            mounts += ["--ro-bind", str(base), str(base)]
        mounts += ["--ro-bind", str(spec.env_dir), _VENV]
        mounts += ["--ro-bind", str(SHIM), _SHIM]
        mounts += ["--ro-bind", str(spec.app_dir), _APP]
        args = self._args(
            spec.run_dir, "space", "Space", spec.memory_mb, mounts, _APP, spec.hub_address is not None
        )
        return await self._start_app(spec, log, args, _SHIM, app_env, app_port, None, spec.hub_address)


class NoSandbox(Sandbox):
    name = "none"

    def __init__(self, cgroups: bool = True) -> None:
        self.cgroups = cgroups

    def describe(self) -> list[str]:
        return [
            f"Sandbox: NONE (spaces_sandbox=none): the app runs as the hub's own user (uid {os.getuid()}).",
            "NOT isolated: every file that user can read or write (the hub's data directory, its database, "
            "other Spaces' files) the app can read or write too.",
            "NOT isolated: the network: the app can connect to any host and port the hub can.",
            "Holds: own process group and session (stopped as a group), a cleared environment (only the Space's "
            "variables and secrets, no hub settings or tokens), working directory = the Space's files, limits.",
        ]

    async def start(self, spec: LaunchSpec, log: LogBook) -> AppProcess:
        home = spec.run_dir / "home"
        home.mkdir(parents=True, exist_ok=True)
        port = _free_port()
        app_env = _app_env(spec, port, str(home), str(spec.env_dir), _direct_endpoint(spec.hub_address))
        return await self._start_app(spec, log, [], str(SHIM), app_env, port, str(spec.app_dir), None)


def _host(host: str) -> str:
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


# Spaces reach the hub from this loopback address, not 127.0.0.1: uvicorn trusts X-Forwarded-For/-Proto from
# 127.0.0.1 by default (FORWARDED_ALLOW_IPS), and a Space must not choose the client address the hub's rate
# limits and audit log see. It also tells Space traffic apart in the hub's logs.
EGRESS_SOURCE = "127.0.0.2"


async def _egress_server(path: Path, host: str, port: int) -> asyncio.AbstractServer:
    target = _host(host).strip("[]")
    local: tuple[str, int] | None = (EGRESS_SOURCE, 0) if target.startswith("127.") else None

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal local
        try:
            try:
                upstream = await asyncio.open_connection(target, port, limit=shim.CHUNK, local_addr=local)
            except OSError:
                if local is None:
                    raise
                local = None  # this host's loopback takes no second address: plain 127.0.0.1
                upstream = await asyncio.open_connection(target, port, limit=shim.CHUNK)
        except OSError:
            writer.transport.abort()
            return
        await shim.splice((reader, writer), upstream)

    server = await asyncio.start_unix_server(handle, path=str(path), limit=shim.CHUNK)
    os.chmod(path, 0o600)
    return server


def _probe(bwrap: str, disable_userns: bool) -> str | None:
    """None when bwrap works here with the flags a Space gets; else why not."""
    args = [bwrap, "--unshare-all", "--unshare-user", "--die-with-parent", "--new-session"]
    args += ["--uid", str(UID), "--gid", str(UID), "--cap-drop", "ALL"]
    if disable_userns:
        args.append("--disable-userns")
    args += ["--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib"]
    if Path("/lib64").exists():
        args += ["--symlink", "usr/lib64", "/lib64"]
    args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--", "/usr/bin/true"]
    try:
        r = subprocess.run(args, capture_output=True, timeout=20, env={"PATH": "/usr/bin:/bin"})
    except (OSError, subprocess.TimeoutExpired) as e:
        return str(e)
    if r.returncode != 0:
        return (r.stderr.decode("utf-8", "replace").strip() or f"exit status {r.returncode}")[:300]
    return None


def choose(mode: str) -> Sandbox:
    """The sandbox for `spaces_sandbox` (auto | bwrap | none)."""
    Cgroup.sweep()
    if mode == "none":
        return NoSandbox()
    if mode not in ("auto", "bwrap"):
        raise ConfigError(f"spaces_sandbox must be auto, bwrap or none, not {mode!r}.")
    bwrap = BWRAP if os.access(BWRAP, os.X_OK) else shutil.which("bwrap")
    if not bwrap:
        raise ConfigError(
            "Spaces need bubblewrap to isolate their apps, and bwrap is not installed (Debian/Ubuntu: apt-get "
            "install bubblewrap). Set spaces_sandbox=none to run apps without isolation (see docs/spaces.md), or "
            "spaces_enabled=false."
        )
    problem = _probe(bwrap, True)
    if problem is None:
        return BwrapSandbox(bwrap, True)
    if _probe(bwrap, False) is None:
        return BwrapSandbox(bwrap, False)
    raise ConfigError(
        f"bubblewrap ({bwrap}) does not work here: {problem}. Unprivileged user namespaces may be disabled "
        "(sysctl kernel.unprivileged_userns_clone=1, or on Ubuntu kernel.apparmor_restrict_unprivileged_userns=0). "
        "Set spaces_sandbox=none to run apps without isolation (see docs/spaces.md), or spaces_enabled=false."
    )


# --- commands (jobs): no ingress, a writable /job, extra binds ---------------------------------------------
JOB_DIR = "/job"


@dataclass(frozen=True)
class CommandSpec:
    """A command to run sandboxed (a job). Paths in `argv`, `binds` targets and `shim_python` are as seen inside
    the sandbox (with NoSandbox the manager passes host paths)."""

    name: str  # for the cgroup's name
    argv: list[str]
    env: dict[str, str]  # the command's environment (PATH included); HOME/TMPDIR/HF_ENDPOINT are set here
    work_dir: Path  # host dir, writable: /job inside (the working directory)
    run_dir: Path  # host dir for the egress socket and /etc files (short path)
    shim_python: str  # an interpreter (inside path) that runs the shim: the env's python
    binds: tuple[tuple[str, str, bool], ...] = ()  # (host path, inside path, writable)
    hub_address: tuple[str, int] | None = None
    memory_mb: int = 8192
    cpu_cores: float = 0.0


def _command_env(spec: CommandSpec, home: str, hf_endpoint: str | None) -> dict[str, str]:
    base = {"LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}
    env = _clean_env(base, spec.env, home, {}, hf_endpoint)
    env.setdefault("PATH", "/usr/bin:/bin")
    return env


async def start_command(sandbox: Sandbox, spec: CommandSpec, log: LogBook) -> AppProcess:
    """Run `spec.argv` in the sandbox (a job): the returned process's output goes to `log` line by line."""
    if isinstance(sandbox, BwrapSandbox):
        mounts: list[str] = []
        for host_path, inside, writable in spec.binds:
            mounts += ["--bind" if writable else "--ro-bind", host_path, inside]
        mounts += ["--ro-bind", str(SHIM), _SHIM]
        mounts += ["--bind", str(spec.work_dir), JOB_DIR]
        prefix_cmd = sandbox._args(
            spec.run_dir, "job", "User", spec.memory_mb, mounts, JOB_DIR, spec.hub_address is not None
        )
        hf = f"http://127.0.0.1:{spec.hub_address[1]}" if spec.hub_address else None
        env = _command_env(spec, "/tmp", hf)
        shim_path, cwd, egress_to = _SHIM, None, spec.hub_address
    elif isinstance(sandbox, NoSandbox):
        home = spec.run_dir / "home"
        home.mkdir(parents=True, exist_ok=True)
        env = _command_env(spec, str(home), _direct_endpoint(spec.hub_address))
        prefix_cmd, shim_path, cwd, egress_to = [], str(SHIM), str(spec.work_dir), None
    else:
        raise ConfigError(f"the {sandbox.name} sandbox cannot run commands")
    return await sandbox._spawn(
        log,
        name=spec.name,
        run_dir=spec.run_dir,
        memory_mb=spec.memory_mb,
        cpu_cores=spec.cpu_cores if spec.cpu_cores > 0 else float(os.cpu_count() or 1),
        prefix_cmd=prefix_cmd,
        python=spec.shim_python,
        shim_path=shim_path,
        env=env,
        argv=spec.argv,
        cwd=cwd,
        egress_to=egress_to,
    )


def describe_command(sandbox: Sandbox) -> list[str]:
    """What isolates a command (a job) in this sandbox, for its log."""
    if isinstance(sandbox, BwrapSandbox):
        return [
            "Sandbox: bubblewrap: own user, PID, network, IPC, UTS and cgroup namespaces; the job runs as uid "
            f"{UID} with no capabilities"
            + (" and cannot create user namespaces." if sandbox.disable_userns else "."),
            "Network: loopback only; the hub is reachable at HF_ENDPOINT (through the egress socket), nothing "
            "else: no other host port, no internet.",
            f"Files: {JOB_DIR} (the job's own writable directory, the working directory), its volumes, the Python "
            "environment and /usr (read-only), a private /tmp (HOME); the hub's data directory and other jobs' "
            "directories are not mounted.",
            "Environment: the job's variables and secrets, JOB_ID, HF_ENDPOINT and the job's own HF_TOKEN "
            "(revoked when the job ends); no hub settings.",
            "Stop: SIGTERM to the job's process group, then SIGKILL to the whole PID namespace.",
        ]
    return [
        f"Sandbox: NONE (jobs_sandbox=none): the job runs as the hub's own user (uid {os.getuid()}).",
        "NOT isolated: every file that user can read or write (the hub's data directory, its database, other "
        "jobs' files) the job can read or write too; and the network: any host and port the hub can reach.",
        "Holds: own process group and session (stopped as a group), a cleared environment (the job's variables "
        "and secrets, JOB_ID, HF_ENDPOINT, its own HF_TOKEN), limits.",
    ]
