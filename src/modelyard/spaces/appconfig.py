"""What a Space runs, from its README card (`sdk`, `sdk_version`, `app_file`, `python_version`, `app_port`,
`models`) and its file list: an `AppConfig`, or the stage (NO_APP_FILE / CONFIG_ERROR) and the reason."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from modelyard.spaces.runtime import Stage

SDKS = ("gradio", "streamlit", "static", "docker")
DEFAULT_APP_FILE = {"gradio": "app.py", "streamlit": "app.py", "static": "index.html"}
_VERSION = re.compile(r"^[0-9]+(\.[0-9A-Za-z]+){0,3}$")
_PYTHON = re.compile(r"^3\.[0-9]{1,2}(\.[0-9]{1,2})?$")


@dataclass(frozen=True)
class AppConfig:
    sdk: str  # gradio | streamlit | static
    app_file: str
    sdk_version: str | None = None
    python_version: str | None = None
    app_port: int | None = None  # docker only (kept for the runtime answer)
    requirements: str = ""  # requirements.txt, as committed ("" = none)
    models: tuple[str, ...] = field(default_factory=tuple)  # the card's `models:` ("Spaces using this model")


@dataclass(frozen=True)
class ConfigProblem:
    stage: Stage  # NO_APP_FILE or CONFIG_ERROR
    message: str
    sdk: str | None = None


def parse(
    card: Mapping[str, Any] | None, files: Collection[str], requirements: str = ""
) -> AppConfig | ConfigProblem:
    """`card` is the README front matter (None: no README or no metadata); `files` the repo's paths."""
    if not card or not card.get("sdk"):
        return ConfigProblem(
            Stage.NO_APP_FILE, "The README.md has no `sdk:` in its metadata (gradio, streamlit, static)."
        )
    sdk = card.get("sdk")
    if not isinstance(sdk, str) or sdk not in SDKS:
        return ConfigProblem(
            Stage.CONFIG_ERROR, f"Unknown sdk {sdk!r}: one of gradio, streamlit, static, docker."
        )
    if sdk == "docker":
        return ConfigProblem(
            Stage.CONFIG_ERROR,
            "sdk: docker needs a container runtime, and this ModelYard has none: use sdk gradio, streamlit or static.",
            sdk,
        )
    app_file = card.get("app_file") or DEFAULT_APP_FILE[sdk]
    if not isinstance(app_file, str) or app_file.startswith("/") or ".." in app_file.split("/"):
        return ConfigProblem(
            Stage.CONFIG_ERROR, f"Invalid app_file {app_file!r}: a path inside the repo.", sdk
        )
    version = card.get("sdk_version")
    if version is not None:
        version = str(version)
        if not _VERSION.match(version):
            return ConfigProblem(Stage.CONFIG_ERROR, f"Invalid sdk_version {version!r}.", sdk)
    python = card.get("python_version")
    if python is not None:
        python = str(python)
        if not _PYTHON.match(python):
            return ConfigProblem(Stage.CONFIG_ERROR, f"Invalid python_version {python!r}: like 3.11.", sdk)
    port = card.get("app_port")
    if port is not None and (not isinstance(port, int) or not 0 < port < 65536):
        return ConfigProblem(Stage.CONFIG_ERROR, f"Invalid app_port {port!r}.", sdk)
    if app_file not in files:
        return ConfigProblem(
            Stage.NO_APP_FILE, f"No app file: {app_file} is not in the repo (sdk: {sdk}).", sdk
        )
    models = card.get("models") or []
    if isinstance(models, str):
        models = [models]
    return AppConfig(
        sdk=sdk,
        app_file=app_file,
        sdk_version=version,
        python_version=python,
        app_port=port,
        requirements=requirements if sdk != "static" else "",
        models=tuple(m for m in models if isinstance(m, str)),
    )
