"""spaces/sandbox.py `start_command` (how a job runs) and jobs/uvrun.py (how a `uv run` command is read), without
a hub: real processes under bubblewrap (skipped where it does not work) and without a sandbox."""

from __future__ import annotations

import asyncio
import contextlib
import os
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from modelyard.errors import BadRequest, ConfigError
from modelyard.jobs.uvrun import inline_metadata, is_uv_run, parse_uv_run, python_from_requires
from modelyard.spaces.logs import LogBook
from modelyard.spaces.sandbox import BwrapSandbox, CommandSpec, NoSandbox, Sandbox, choose, start_command

PY = "/usr/bin/python3"


def _bwrap() -> Sandbox:
    try:
        sandbox = choose("bwrap")
    except ConfigError as e:
        pytest.skip(f"bubblewrap does not work here: {e.message}")
    assert isinstance(sandbox, BwrapSandbox)
    return sandbox


def _run(sandbox: Sandbox, spec: CommandSpec, timeout: float = 60) -> tuple[int, list[str]]:
    async def go() -> tuple[int, list[str]]:
        log = LogBook()
        proc = await start_command(sandbox, spec, log)
        code = await asyncio.wait_for(proc.wait(), timeout)
        await proc.drain()
        return code, [ln.data for ln in log.snapshot()]

    return asyncio.run(go())


def _spec(tmp_path: Path, code: str, **kw: object) -> CommandSpec:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    run = Path(os.environ.get("TMPDIR", "/tmp")) / f"myt-{os.getpid()}-{time.monotonic_ns()}"
    args: dict[str, object] = dict(
        name="test",
        argv=[PY, "-c", textwrap.dedent(code)],
        env={"PATH": "/usr/bin:/bin", "SECRET_X": "very-secret-value"},
        work_dir=work,
        run_dir=run,
        shim_python=PY,
        memory_mb=1024,
    )
    args.update(kw)
    return CommandSpec(**args)  # type: ignore[arg-type]


def test_parse_uv_run() -> None:
    assert is_uv_run(["uv", "run", "x.py"]) and not is_uv_run(["python", "x.py"])
    cmd = parse_uv_run(
        [
            "uv",
            "run",
            "--with",
            "six",
            "--with=tomli,attrs",
            "-p",
            "3.12",
            "--no-project",
            "/data/s.py",
            "--flag",
        ]
    )
    assert cmd.target == "/data/s.py" and cmd.args == ["--flag"] and cmd.is_script and not cmd.is_url
    assert cmd.with_deps == ["six", "tomli", "attrs"] and cmd.python == "3.12"
    assert any("--no-project" in n for n in cmd.notes)
    cmd = parse_uv_run(["uv", "run", "python", "-c", "print(1)"])
    assert cmd.target == "python" and not cmd.is_script and cmd.args == ["-c", "print(1)"]
    assert parse_uv_run(["uv", "run", "https://hub.example/x.py"]).is_url
    for bad in (
        ["uv", "run", "--index-url", "http://evil/simple", "x.py"],
        ["uv", "run", "--with-requirements", "r.txt", "x.py"],
        ["uv", "run", "--unknown", "x.py"],
        ["uv", "run", "--with", "six"],
        ["uv", "run", "--python", "3.12; rm -rf /", "x.py"],
    ):
        with pytest.raises(BadRequest):
            parse_uv_run(bad)


def test_inline_metadata() -> None:
    script = '# /// script\n# requires-python = ">=3.10"\n# dependencies = [\n#   "six",\n#   "tomli>=2",\n# ]\n# ///\n'
    meta = inline_metadata(script + "print(1)\n")
    assert meta["dependencies"] == ["six", "tomli>=2"]
    assert python_from_requires(meta["requires-python"]) == "3.10"
    assert inline_metadata("print(1)\n") == {}
    with pytest.raises(BadRequest):
        inline_metadata("# /// script\n# dependencies = 'six'\n# ///\n")
    with pytest.raises(BadRequest):
        inline_metadata("# /// script\n# dependencies = [\n# ///\n")


def test_bwrap_command_isolation(tmp_path: Path) -> None:
    sandbox = _bwrap()
    ro = tmp_path / "ro"
    rw = tmp_path / "rw"
    hidden = tmp_path / "hidden"
    for d in (ro, rw, hidden):
        d.mkdir()
    (ro / "f.txt").write_text("ro-data")
    (hidden / "h.txt").write_text("hidden")
    code = f"""
        import os
        print("cwd", os.getcwd(), os.environ["SECRET_X"], os.environ.get("HOME"), os.getuid())
        print("ro", open("/in/f.txt").read())
        try:
            open("/in/g.txt", "w")
            print("ro writable")
        except OSError:
            print("ro refused")
        open("/out/new.txt", "w").write("from job")
        open("/job/w.txt", "w").write("job dir")
        print("hidden", os.path.exists({str(hidden)!r}))
        print("leak", os.environ.get("MODELYARD_LEAK"))
    """
    os.environ["MODELYARD_LEAK"] = "hub-env"
    try:
        spec = _spec(tmp_path, code, binds=((str(ro), "/in", False), (str(rw), "/out", True)))
        code_, lines = _run(sandbox, spec)
    finally:
        del os.environ["MODELYARD_LEAK"]
    assert code_ == 0, lines
    assert "cwd /job very-secret-value /tmp 1000" in lines
    assert "ro ro-data" in lines and "ro refused" in lines
    assert "hidden False" in lines and "leak None" in lines
    assert (rw / "new.txt").read_text() == "from job"
    assert (tmp_path / "work" / "w.txt").read_text() == "job dir"


def test_secrets_never_on_a_command_line(tmp_path: Path) -> None:
    sandbox = _bwrap()

    async def go() -> list[str]:
        log = LogBook()
        proc = await start_command(sandbox, _spec(tmp_path, "import time; time.sleep(3)"), log)
        await asyncio.sleep(1.5)
        lines: list[str] = []
        for p in [*psutil.Process(proc.pid).children(recursive=True), psutil.Process(proc.pid)]:
            with contextlib.suppress(psutil.Error):
                lines.append(" ".join(p.cmdline()))
        await proc.wait()
        return lines

    cmdlines = asyncio.run(go())
    assert cmdlines and not any("very-secret-value" in c for c in cmdlines)


def test_stop_kills_the_whole_tree(tmp_path: Path) -> None:
    sandbox = _bwrap()
    code = """
        import os, subprocess, time
        subprocess.Popen(["/usr/bin/python3", "-c", "import os,time; os.setsid(); time.sleep(300)"])
        print("spawned", flush=True)
        time.sleep(300)
    """

    async def go() -> tuple[set[int], float]:
        log = LogBook()
        proc = await start_command(sandbox, _spec(tmp_path, code), log)
        for _ in range(100):
            if any(ln.data == "spawned" for ln in log.snapshot()):
                break
            await asyncio.sleep(0.1)
        tree = {p.pid for p in psutil.Process(proc.pid).children(recursive=True)}
        started = time.monotonic()
        await proc.stop(grace=1.0)
        return tree, time.monotonic() - started

    tree, took = asyncio.run(go())
    assert len(tree) >= 3 and took < 15
    time.sleep(0.5)
    assert not [pid for pid in tree if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]


def test_no_sandbox_runs_in_the_work_dir_with_a_clean_env(tmp_path: Path) -> None:
    code = """
        import os
        print("cwd", os.getcwd() == os.environ["EXPECT"], os.environ.get("MODELYARD_LEAK"), os.environ["SECRET_X"])
    """
    os.environ["MODELYARD_LEAK"] = "hub-env"
    try:
        spec = _spec(tmp_path, code)
        spec = CommandSpec(**{**spec.__dict__, "env": {**spec.env, "EXPECT": str(tmp_path / "work")}})
        code_, lines = _run(NoSandbox(cgroups=False), spec)
    finally:
        del os.environ["MODELYARD_LEAK"]
    assert code_ == 0, lines
    assert "cwd True None very-secret-value" in lines
