"""Reading a `uv run` command (what `hf jobs uv run` / `HfApi.run_uv_job` send) without running uv in the job:
the hub builds the environment (spaces/build.py, wheels only, hostile requirement lines refused) and the job
runs `python <script> args` in it.

- `--with X` (repeatable, also `--with=X` and comma lists), `--python V` / `-p V`: honoured.
- flag options that change nothing here (`--no-project`, `--isolated`, `--quiet`, `--script`, ...): ignored, with
  a note for the log.
- options that would steer uv elsewhere (`--index-url`, `--with-requirements`, `--env-file`, ...) and unknown
  options: refused (BadRequest), before the job is queued.
- the script: a path (e.g. `/data/script.py` from the jobs-artifacts bucket volume), a URL (only this hub's own
  URLs: fetched host side by the manager; the sandbox has no internet), or a command name (`uv run python -c
  ...`), run as given in the environment.
- the script's PEP 723 inline metadata (`# /// script` ... `# ///`): `dependencies` and `requires-python`.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from typing import Any

from modelyard.errors import BadRequest

_FLAGS_IGNORED = frozenset(
    {
        "--no-project",
        "--isolated",
        "--quiet",
        "-q",
        "--verbose",
        "-v",
        "--script",
        "--frozen",
        "--locked",
        "--no-sync",
        "--exact",
        "--no-dev",
        "--compile-bytecode",
        "--no-cache",
        "-n",
        "--no-progress",
        "--native-tls",
        "--offline",
        "--active",
        "--no-config",
        "--managed-python",
        "--no-managed-python",
        "--no-python-downloads",
    }
)
_REFUSED = (
    "--index",
    "--index-url",
    "--default-index",
    "--extra-index-url",
    "--find-links",
    "-f",
    "-i",
    "--with-requirements",
    "--with-editable",
    "--env-file",
    "--directory",
    "--project",
    "--package",
    "--from",
    "--module",
    "-m",
    "--gui-script",
    "--config-file",
    "--cache-dir",
)
_PEP723 = re.compile(r"(?m)^# /// (?P<type>[a-zA-Z0-9-]+)$\s(?P<content>(^#(| .*)$\s)+)^# ///$")
MAX_SCRIPT_BYTES = 4 * 1024 * 1024


@dataclass
class UvCommand:
    target: str  # the script (path or URL) or a command name
    args: list[str]
    with_deps: list[str] = field(default_factory=list)
    python: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def is_url(self) -> bool:
        return self.target.startswith(("http://", "https://"))

    @property
    def is_script(self) -> bool:
        return self.is_url or self.target.endswith((".py", ".pyw")) or "/" in self.target


def is_uv_run(command: list[str]) -> bool:
    return (
        len(command) >= 2 and command[0] in ("uv", "/usr/local/bin/uv", "/usr/bin/uv") and command[1] == "run"
    )


def parse_uv_run(command: list[str]) -> UvCommand:
    """The `uv run ...` command read; BadRequest for what cannot run here."""
    rest = command[2:]
    with_deps: list[str] = []
    python: str | None = None
    notes: list[str] = []
    i = 0
    while i < len(rest):
        arg = rest[i]
        if arg == "--":
            i += 1
            break
        if not arg.startswith("-") or arg == "-":
            break
        name, eq, value = arg.partition("=")
        if name in ("--with", "-w", "--python", "-p"):
            if not eq:
                if i + 1 >= len(rest):
                    raise BadRequest(f"uv run: {name} needs a value")
                value = rest[i + 1]
                i += 1
            if name in ("--with", "-w"):
                with_deps += [d.strip() for d in value.split(",") if d.strip()]
            else:
                python = value.strip()
        elif arg in _FLAGS_IGNORED:
            notes.append(f"uv run {arg}: ignored (the hub builds the job's environment itself)")
        elif name in _REFUSED:
            raise BadRequest(
                f"uv run {name} is not supported here: the job's environment is built by the hub from packages "
                "by name (--with, the script's inline dependencies) on the hub's package index"
            )
        else:
            raise BadRequest(f"uv run option {name!r} is not supported here")
        i += 1
    if i >= len(rest):
        raise BadRequest("uv run: no script or command given")
    if python is not None and not re.fullmatch(r"(?:python|cpython)?-?3(\.\d{1,2}){0,2}", python):
        raise BadRequest(f"uv run --python {python!r}: give a version like 3.12")
    if python is not None:
        python = re.sub(r"^(?:c?python)-?", "", python)
    return UvCommand(rest[i], rest[i + 1 :], with_deps, python, notes)


def inline_metadata(script: str) -> dict[str, Any]:
    """The PEP 723 `script` block of a script ({} when none); BadRequest when it is malformed."""
    blocks = [m for m in _PEP723.finditer(script) if m.group("type") == "script"]
    if not blocks:
        return {}
    if len(blocks) > 1:
        raise BadRequest("the script has more than one '# /// script' block")
    content = "".join(
        line[2:] if line.startswith("# ") else line[1:]
        for line in blocks[0].group("content").splitlines(keepends=True)
    )
    try:
        data = tomllib.loads(content)
    except tomllib.TOMLDecodeError as e:
        raise BadRequest(f"the script's '# /// script' block is not valid TOML: {e}") from None
    deps = data.get("dependencies", [])
    if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
        raise BadRequest("the script's inline 'dependencies' must be a list of strings")
    rp = data.get("requires-python")
    if rp is not None and not isinstance(rp, str):
        raise BadRequest("the script's inline 'requires-python' must be a string")
    return data


def python_from_requires(requires: str | None) -> str | None:
    """A python version that the `requires-python` specifier names first (">=3.10" -> "3.10"), or None."""
    if not requires:
        return None
    m = re.search(r"3\.\d{1,2}", requires)
    return m.group(0) if m else None
