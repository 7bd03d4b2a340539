"""Space environments built with uv (real uv, real package index/cache): pinned SDK, cache by inputs, shared
concurrent builds, factory rebuilds, uv's errors in the build log, hostile requirement lines refused."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

import pytest

from modelyard.spaces.build import BuildFailed, BuildSpec, EnvBuilder, requirement_lines
from modelyard.spaces.logs import LogBook

GRADIO = "6.31.0"


def text(log: LogBook) -> str:
    return "\n".join(line.data for line in log.snapshot())


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("envs")


@pytest.fixture(scope="module")
def gradio_env(root: Path) -> Path:
    builder = EnvBuilder(root, timeout=600)
    log = LogBook()
    path = asyncio.run(builder.build(BuildSpec("gradio", GRADIO, "3.11", ""), log))
    assert "Environment ready" in text(log)
    return path


def test_gradio_env_builds_with_the_pinned_sdk(gradio_env: Path) -> None:
    out = subprocess.run(
        [
            str(gradio_env / "bin" / "python"),
            "-c",
            "import gradio, sys; print(gradio.__version__, sys.version_info[:2])",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[0] == GRADIO
    assert "(3, 11)" in out.stdout
    assert (gradio_env / "pyvenv.cfg").read_text().count("relocatable = true") == 1


def test_same_spec_is_cached(root: Path, gradio_env: Path) -> None:
    builder = EnvBuilder(root, timeout=600)
    spec = BuildSpec("gradio", GRADIO, "3.11", "")
    assert builder.cached(spec) == gradio_env
    log = LogBook()
    started = time.monotonic()
    again = asyncio.run(builder.build(spec, log))
    assert time.monotonic() - started < 1.0
    assert again == gradio_env
    assert "cached environment" in text(log)
    assert "Building" not in text(log)


def test_key_follows_the_inputs(root: Path) -> None:
    builder = EnvBuilder(root, timeout=600)
    base = BuildSpec("gradio", GRADIO, "3.11", "numpy\npandas>=2\n")
    # comments, blank lines, spacing and order do not change the environment
    same = BuildSpec("gradio", GRADIO, "3.11", "# deps\npandas >=2   # data\n\n  numpy\n")
    assert builder.key(base) == builder.key(same)
    for other in (
        BuildSpec("gradio", GRADIO, "3.11", "numpy\npandas>=2\nscipy\n"),
        BuildSpec("gradio", "6.30.0", "3.11", "numpy\npandas>=2\n"),
        BuildSpec("streamlit", GRADIO, "3.11", "numpy\npandas>=2\n"),
        BuildSpec("gradio", None, "3.11", "numpy\npandas>=2\n"),
    ):
        assert builder.key(other) != builder.key(base), other


def test_changed_requirements_build_a_new_env(root: Path, gradio_env: Path) -> None:
    builder = EnvBuilder(root, timeout=600)
    spec = BuildSpec("gradio", GRADIO, "3.11", "numpy\n")  # already a gradio dependency: no download
    assert builder.cached(spec) is None
    log = LogBook()
    path = asyncio.run(builder.build(spec, log))
    assert path != gradio_env and path.name == builder.key(spec)
    assert "Building the environment: gradio==6.31.0 + 1 requirement(s)" in text(log)
    assert builder.cached(spec) == path
    assert gradio_env.is_dir()  # the other env is untouched


def test_bad_requirement_fails_with_uvs_message(root: Path) -> None:
    builder = EnvBuilder(root, timeout=600)
    spec = BuildSpec("gradio", GRADIO, "3.11", "this-package-does-not-exist-xyz==1\n")
    log = LogBook()
    with pytest.raises(BuildFailed) as err:
        asyncio.run(builder.build(spec, log))
    assert "No solution found" in err.value.message
    assert "this-package-does-not-exist-xyz" in text(log)
    assert "not found in the package registry" in text(log)
    assert builder.cached(spec) is None
    assert not list(root.glob(".build-*"))  # the half-built env was removed


@pytest.mark.parametrize(
    "line",
    [
        "--index-url http://evil.example/simple",
        "--extra-index-url=http://evil.example/simple",
        "-i http://evil.example/simple",
        "-e /",
        "-r /etc/passwd",
        "-c constraints.txt",
        "--find-links /tmp",
        "git+https://github.com/evil/pkg.git",
        "file:///etc",
        "https://evil.example/pkg-1.0-py3-none-any.whl",
        "evil @ https://evil.example/evil.tar.gz",
        "evil @ file:///etc/passwd",
        "/etc/passwd",
        "./local-package",
        "../up",
        "pkg-1.0.tar.gz",
    ],
)
def test_hostile_requirement_lines_are_refused(root: Path, line: str) -> None:
    builder = EnvBuilder(root, timeout=600)
    spec = BuildSpec("gradio", GRADIO, "3.11", f"numpy\n{line}\n")
    log = LogBook()
    started = time.monotonic()
    with pytest.raises(BuildFailed) as err:
        asyncio.run(builder.build(spec, log))
    assert "is refused" in err.value.message
    assert "line 2" in err.value.message
    assert "ERROR: requirements.txt line 2" in text(log)
    assert "Creating virtual environment" not in text(log)  # uv never ran
    assert time.monotonic() - started < 2


def test_ordinary_requirement_lines_pass() -> None:
    lines = requirement_lines(
        "numpy>=1.24\ntorch==2.13.0 ; python_version >= '3.10'\ngradio[oauth]\npandas ~= 2.0  # comment\n"
        "transformers>=4,<6\nsentencepiece\\\n  ==0.2.0\n"
    )
    assert lines == [
        "numpy>=1.24",
        "torch==2.13.0 ; python_version >= '3.10'",
        "gradio[oauth]",
        "pandas ~= 2.0",
        "transformers>=4,<6",
        "sentencepiece ==0.2.0",
    ]


def test_concurrent_builds_of_one_key_share_one_build(root: Path) -> None:
    builder = EnvBuilder(root, timeout=600)
    spec = BuildSpec("gradio", GRADIO, "3.11", "numpy\npandas\n")  # both are gradio dependencies
    logs = [LogBook(), LogBook()]

    async def both() -> list[Path]:
        return list(await asyncio.gather(builder.build(spec, logs[0]), builder.build(spec, logs[1])))

    paths = asyncio.run(both())
    assert paths[0] == paths[1]
    built = [log for log in logs if "Building the environment" in text(log)]
    waited = [log for log in logs if "already in progress" in text(log)]
    assert len(built) == 1 and len(waited) == 1


def test_factory_rebuild_replaces_the_env(root: Path, gradio_env: Path) -> None:
    builder = EnvBuilder(root, timeout=600)
    spec = BuildSpec("gradio", GRADIO, "3.11", "")
    before = (gradio_env / "pyvenv.cfg").stat().st_ino
    log = LogBook()
    path = asyncio.run(builder.build(spec, log, fresh=True))
    assert path == gradio_env
    assert "Building the environment" in text(log)
    assert (path / "pyvenv.cfg").stat().st_ino != before  # a new tree, published under the same key
    assert list(root.glob(".trash-*"))  # the old one is kept a while (a running app may still use it)


def test_timeout_fails_the_build_and_keeps_the_cached_env(root: Path, gradio_env: Path) -> None:
    builder = EnvBuilder(root, timeout=0.5)
    spec = BuildSpec("gradio", GRADIO, "3.11", "")
    log = LogBook()
    with pytest.raises(BuildFailed) as err:
        asyncio.run(builder.build(spec, log, fresh=True))
    assert "longer than" in err.value.message
    assert "spaces_build_timeout" in text(log)
    assert builder.cached(spec) == gradio_env  # still the published env


def test_missing_python_version_falls_back(root: Path) -> None:
    builder = EnvBuilder(root, timeout=600)
    python, note = builder.interpreter(BuildSpec("gradio", GRADIO, "3.99", ""))
    assert note is not None and "3.99" in note
    assert Path(python).exists()
    assert builder.interpreter(BuildSpec("gradio", GRADIO, "3.11", ""))[0] == "/usr/bin/python3.11"
    fixed = EnvBuilder(root, timeout=600, python="/usr/bin/python3")
    assert fixed.interpreter(BuildSpec("gradio", GRADIO, None, ""))[0] == "/usr/bin/python3"
