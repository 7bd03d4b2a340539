"""A Space's Python environment: a venv built with uv from the card's SDK pin and the Space's requirements.txt,
cached under `root/<key>` (the key hashes the normalised inputs and the interpreter), immutable once published.

Only wheels are installed (`--no-build`): building a source distribution would run the package's own code on
the hub's machine, outside the sandbox. Requirement lines that would steer uv elsewhere (options, URLs, paths,
VCS references) are refused before uv runs."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from modelyard import procs
from modelyard.spaces.logs import LogBook

SDK_PACKAGES = {"gradio": "gradio", "streamlit": "streamlit"}
_KEY_VERSION = "1"  # bump when the build recipe changes (flags, layout)
_TRASH_AGE = 600.0  # seconds an env replaced by a factory rebuild is kept (a running app may still use it)
# a PEP 508 requirement by name: name[extras] (version specifiers) (; markers) -- no URL, no path
_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?(?:\s*\[[A-Za-z0-9._,\s-]*\])?")
_VERSION = re.compile(r"^[0-9]+(\.[0-9A-Za-z]+){0,3}$")


@dataclass(frozen=True)
class BuildSpec:
    sdk: str  # gradio | streamlit  (static needs no env); "": no SDK, just the requirements (jobs)
    sdk_version: str | None  # pin the SDK: gradio==X / streamlit==X; None: the latest the index has
    python_version: (
        str | None
    )  # the card's python_version ("3.11"): a system interpreter of that version, else the fallback
    requirements: str  # requirements.txt text ("" = none)


class BuildFailed(Exception):
    """The environment could not be built; `message` is the short reason (the build log has uv's output)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def requirement_lines(text: str) -> list[str]:
    """The requirements as uv will get them: comments and blank lines dropped, continuations joined.
    Raises BuildFailed for a line that is an option, a URL, a path or a VCS/direct reference."""
    out: list[str] = []
    joined = re.sub(r"\\\r?\n", " ", text)
    for number, raw in enumerate(joined.splitlines(), 1):
        line = re.sub(r"(^|\s)#.*$", "", raw).strip()
        if not line:
            continue
        problem = _line_problem(line)
        if problem:
            raise BuildFailed(f"requirements.txt line {number} ({line[:80]!r}) is refused: {problem}")
        out.append(re.sub(r"\s+", " ", line))
    return out


def _line_problem(line: str) -> str | None:
    if line.startswith("-"):
        return (
            "pip options (-r, -c, -e, --index-url, --extra-index-url, --find-links, ...) are not allowed; "
            "list packages by name (the hub's package index is used)"
        )
    lower = line.lower()
    if "://" in lower or lower.startswith(("file:", "git+", "hg+", "svn+", "bzr+")) or "+http" in lower:
        return "URLs and VCS references are not allowed; list packages by name"
    if line.startswith((".", "/", "~", "\\")) or line.endswith((".whl", ".tar.gz", ".zip")):
        return "local paths and archives are not allowed; list packages by name"
    m = _NAME.match(line)
    if m is None:
        return "not a package requirement (name, optional [extras], version specifiers, ; markers)"
    rest = line[m.end() :].split(";", 1)[0]
    if "@" in rest:
        return "direct references (name @ url) are not allowed; list packages by name"
    if rest.strip() and not re.fullmatch(
        r"\s*\(?\s*(?:[<>=!~]=?=?\s*[A-Za-z0-9.*+!_-]+\s*,?\s*)+\)?\s*", rest
    ):
        return "not a package requirement (name, optional [extras], version specifiers, ; markers)"
    return None


def _python_of(version: str | None, fallback: str) -> tuple[str, str | None]:
    """(interpreter path, a note when the card's python_version could not be honoured)."""
    if version:
        minor = ".".join(version.split(".")[:2])
        candidate = f"/usr/bin/python{minor}"
        if os.access(candidate, os.X_OK):
            return candidate, None
    if fallback:
        chosen = fallback
    elif os.access("/usr/bin/python3", os.X_OK):
        chosen = "/usr/bin/python3"
    else:
        chosen = sys.executable
    note = f"python_version {version} is not installed here: using {chosen}" if version else None
    return chosen, note


def _uv() -> str:
    try:
        import uv

        return str(uv.find_uv_bin())
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv")
        if found is None:
            raise BuildFailed("uv is not installed (pip install uv)") from None
        return found


class EnvBuilder:
    def __init__(self, root: Path, timeout: float, python: str = "") -> None:
        self.root = root
        self.timeout = timeout
        self.python = python
        self._lock = threading.Lock()
        self._running: dict[str, asyncio.Future[Path]] = {}
        self.root.mkdir(parents=True, exist_ok=True)
        self._sweep(0.0)

    # --- keys and the cache -----------------------------------------------------------------------------
    def interpreter(self, spec: BuildSpec) -> tuple[str, str | None]:
        return _python_of(spec.python_version, self.python)

    def key(self, spec: BuildSpec) -> str:
        try:
            reqs = sorted({re.sub(r"\s+", "", line).lower() for line in requirement_lines(spec.requirements)})
        except BuildFailed:
            reqs = ["!invalid", spec.requirements]
        python, _ = self.interpreter(spec)
        try:
            real = os.path.realpath(python)
            st = os.stat(real)
            stamp = f"{real}:{st.st_size}:{int(st.st_mtime)}"
        except OSError:
            stamp = python
        parts = [_KEY_VERSION, spec.sdk, spec.sdk_version or "", python, stamp, *reqs]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]

    def cached(self, spec: BuildSpec) -> Path | None:
        path = self.root / self.key(spec)
        return path if (path / "bin" / "python").exists() else None

    # --- building -------------------------------------------------------------------------------------
    async def build(self, spec: BuildSpec, log: LogBook, fresh: bool = False) -> Path:
        key = self.key(spec)
        with self._lock:
            running = self._running.get(key)
            if running is None:
                if not fresh and (found := self.cached(spec)) is not None:
                    log.write(f"Using the cached environment {key} (requirements unchanged).")
                    return found
                mine = running = asyncio.get_running_loop().create_future()
                self._running[key] = running
            else:
                mine = None
        if mine is None:
            # the same inputs are being built right now (a factory rebuild included): share that build
            log.write("Waiting for a build of the same environment already in progress...")
            return await asyncio.shield(running)
        try:
            path = await self._build(spec, key, log, fresh)
        except BaseException as e:
            mine.set_exception(e if isinstance(e, BuildFailed) else BuildFailed(f"build interrupted: {e!r}"))
            mine.exception()  # retrieved: no "never retrieved" warning when nobody else waited
            raise
        else:
            mine.set_result(path)
            return path
        finally:
            with self._lock:
                self._running.pop(key, None)

    async def _build(self, spec: BuildSpec, key: str, log: LogBook, fresh: bool) -> Path:
        if spec.sdk and spec.sdk not in SDK_PACKAGES:
            raise BuildFailed(f"sdk {spec.sdk!r} needs no Python environment")
        if spec.sdk_version is not None and not _VERSION.match(spec.sdk_version):
            raise BuildFailed(f"invalid sdk_version {spec.sdk_version!r}")
        try:
            reqs = requirement_lines(spec.requirements)
        except BuildFailed as e:
            log.write(f"ERROR: {e.message}")
            raise
        python, note = self.interpreter(spec)
        if note:
            log.write(f"Note: {note}")
        sdk = (
            (SDK_PACKAGES[spec.sdk] + (f"=={spec.sdk_version}" if spec.sdk_version else ""))
            if spec.sdk
            else ""
        )
        self._sweep(_TRASH_AGE)
        started = time.monotonic()
        tmp = Path(tempfile.mkdtemp(prefix=f".build-{key}-", dir=self.root))
        try:
            (tmp / "requirements.txt").write_text("".join(line + "\n" for line in reqs), encoding="utf-8")
            venv = tmp / "env"
            uv = _uv()
            env = dict(os.environ)
            env.update(UV_PYTHON_DOWNLOADS="never", NO_COLOR="1", UV_NO_PROGRESS="1")
            for name in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "PYTHONPATH", "PYTHONHOME"):
                env.pop(name, None)
            log.write(
                f"Building the environment: {sdk or 'python'}"
                + (f" + {len(reqs)} requirement(s)" if reqs else "")
            )
            deadline = started + self.timeout
            await self._run(
                [uv, "venv", "--relocatable", "--no-project", "--python", python, str(venv)],
                tmp,
                env,
                log,
                deadline,
            )
            install = [
                uv,
                "pip",
                "install",
                "--python",
                str(venv / "bin" / "python"),
                "--no-build",
                "--compile-bytecode",
            ]
            install += ([sdk] if sdk else []) + (["-r", str(tmp / "requirements.txt")] if reqs else [])
            if sdk or reqs:
                await self._run(install, tmp, env, log, deadline)
            target = self.root / key
            if target.exists():
                trash = self.root / f".trash-{key}-{os.getpid()}-{time.time_ns()}"
                os.rename(target, trash)
            os.rename(venv, target)
            log.write(f"Environment ready in {time.monotonic() - started:.1f}s.")
            return target
        finally:
            await asyncio.to_thread(shutil.rmtree, tmp, True)

    async def _run(
        self, cmd: list[str], cwd: Path, env: dict[str, str], log: LogBook, deadline: float
    ) -> None:
        proc = await procs.spawn(
            cmd,
            cwd=cwd,
            env=env,
            stdin=procs.DEVNULL,
            stdout=procs.PIPE,
            stderr=procs.STDOUT,
            start_new_session=True,
        )
        assert proc.stdout is not None
        tail: list[str] = []

        async def pump() -> None:
            assert proc.stdout is not None
            async for raw in proc.stdout:
                line = raw.decode("utf-8", "replace").rstrip()
                log.write(line)
                if line.strip():
                    tail.append(line.strip())
                    del tail[:-20]
            await proc.wait()

        try:
            await asyncio.wait_for(pump(), max(0.1, deadline - time.monotonic()))
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
            timeout = int(self.timeout)
            log.write(f"ERROR: the build took longer than {timeout}s (spaces_build_timeout).")
            raise BuildFailed(f"the build took longer than {timeout}s") from None
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
            raise
        if proc.returncode != 0:
            first = next((i for i, t in enumerate(tail) if t.lower().startswith(("error", "\u00d7"))), None)
            lines = tail[first : first + 3] if first is not None else tail[-2:]
            reason = " ".join(lines) or f"uv exited with {proc.returncode}"
            raise BuildFailed(f"uv failed: {reason[:400]}")

    def _sweep(self, age: float) -> None:
        """Remove leftovers: interrupted builds and envs replaced by factory rebuilds older than `age`."""
        now = time.time()
        for entry in self.root.glob(".*-*"):
            if not entry.name.startswith((".build-", ".trash-")):
                continue
            with contextlib.suppress(OSError):
                if now - entry.stat().st_mtime >= age and (age == 0 or entry.name.startswith(".trash-")):
                    shutil.rmtree(entry, ignore_errors=True)
