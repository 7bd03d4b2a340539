"""A Space's stage and runtime as the Hub reports them (`huggingface_hub._space_api.SpaceRuntime`), and the
hardware this machine offers (`list_spaces_hardware`)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Stage(StrEnum):
    NO_APP_FILE = "NO_APP_FILE"  # the repo has no app file for its sdk (or no README sdk at all)
    CONFIG_ERROR = (
        "CONFIG_ERROR"  # the card's sdk/app settings are wrong, or sdk: docker without a container runtime
    )
    BUILDING = "BUILDING"  # the environment is being built (uv)
    BUILD_ERROR = "BUILD_ERROR"  # the build failed: the build log says why
    APP_STARTING = "APP_STARTING"  # the process started, waiting for its first HTTP answer
    RUNNING = "RUNNING"
    RUNNING_BUILDING = "RUNNING_BUILDING"  # a new revision builds while the old one keeps serving
    RUNNING_APP_STARTING = "RUNNING_APP_STARTING"  # a new revision starts while the old one keeps serving
    RUNTIME_ERROR = "RUNTIME_ERROR"  # crashed (too often) or never answered: the run log says why
    SLEEPING = "SLEEPING"  # idle past its sleep time (or least recently used past the cap): the next request wakes it
    PAUSED = "PAUSED"  # paused by its owner: only a restart brings it back
    STOPPED = "STOPPED"  # not started yet since the hub started (starts on the first request)
    DELETING = "DELETING"


# stages after which `wait_for_space` returns (it polls while the stage is one of these)
TRANSITIONAL = frozenset(
    {Stage.BUILDING, Stage.APP_STARTING, Stage.RUNNING_BUILDING, Stage.RUNNING_APP_STARTING}
)
# stages a request can wake the Space from
WAKEABLE = frozenset({Stage.SLEEPING, Stage.STOPPED})
# stages in which the app answers requests
SERVING = frozenset({Stage.RUNNING, Stage.RUNNING_BUILDING, Stage.RUNNING_APP_STARTING})
FAILED = frozenset({Stage.NO_APP_FILE, Stage.CONFIG_ERROR, Stage.BUILD_ERROR, Stage.RUNTIME_ERROR})

CPU_BASIC = "cpu-basic"


def hardware_info() -> list[dict[str, Any]]:
    """`GET /api/spaces/hardware` (and Jobs' hardware list): what this machine has. Only cpu-basic (a share of
    this machine, at no cost); GPU flavours are not offered without a GPU."""
    cpus = os.cpu_count() or 1
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        mem = 0
    return [
        {
            "name": CPU_BASIC,
            "prettyName": "CPU basic (this machine)",
            "cpu": f"{cpus} vCPU",
            "ram": f"{mem // 1024**3} GB",
            "unitCostMicroUSD": 0,
            "unitCostUSD": 0.0,
            "unitLabel": "hour",
            "accelerator": None,
        }
    ]


@dataclass
class SpaceRuntime:
    """What `get_space_runtime` answers. `to_json` gives the Hub's shape (camelCase keys)."""

    stage: Stage
    sdk: str | None = None
    sdk_version: str | None = None
    error_message: str | None = None
    hardware: str | None = CPU_BASIC  # current: None while not running
    requested_hardware: str = CPU_BASIC
    sleep_time: int | None = None  # seconds (gcTimeout); None = never sleeps
    dev_mode: bool = False
    domains: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        running = self.stage in SERVING
        return {
            "stage": self.stage.value,
            "hardware": {
                "current": self.hardware if running else None,
                "requested": self.requested_hardware,
                "currentPrettyName": "CPU basic" if running and self.hardware else None,
                "requestedPrettyName": "CPU basic",
            },
            "storage": None,
            "gcTimeout": self.sleep_time,
            "replicas": {"current": 1 if running else 0, "requested": 1},
            "devMode": self.dev_mode,
            "sdk": self.sdk,
            "sdkVersion": self.sdk_version,
            "errorMessage": self.error_message,
            "domains": [{"domain": d, "isCustom": False, "stage": "READY"} for d in self.domains],
        }
