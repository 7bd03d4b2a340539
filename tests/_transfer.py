"""How the official client moves file bytes: "xet" (the default client, hf_xet) or "lfs" (HF_HUB_DISABLE_XET=1).

huggingface_hub reads ``HF_HUB_DISABLE_XET`` into ``constants.HF_HUB_DISABLE_XET`` at import time, but every
decision (``is_xet_available()`` on upload, the Xet download path, the shared blob store) reads that constant
at call time, so flipping it switches the mode in-process. The environment variable is set as well, so
subprocesses (the ``hf`` CLI, helper scripts) follow the same mode.

Xet is the session default (what users get); tests that upload through the client take the ``transfer``
fixture (tests/conftest.py) to run once per mode, and check with `assert_arrived` which path the server saw.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

TRANSFERS = ("xet", "lfs")


def apply_transfer(mode: str) -> None:
    """Switch the client (this process and its future subprocesses) to `mode`."""
    from huggingface_hub import constants

    if mode not in TRANSFERS:
        raise ValueError(f"unknown transfer mode {mode!r}")
    lfs = mode == "lfs"
    constants.HF_HUB_DISABLE_XET = lfs
    if lfs:
        os.environ["HF_HUB_DISABLE_XET"] = "1"
    else:
        os.environ.pop("HF_HUB_DISABLE_XET", None)


def current_transfer() -> str:
    from huggingface_hub import constants

    return "lfs" if constants.HF_HUB_DISABLE_XET else "xet"


@contextmanager
def transfer_mode(mode: str) -> Iterator[str]:
    """Run a block with the client in `mode`; the previous mode comes back afterwards."""
    before = current_transfer()
    apply_transfer(mode)
    try:
        yield mode
    finally:
        apply_transfer(before)


def assert_arrived(hub: Any, sha256: str, mode: str) -> None:
    """The server saw `sha256` arrive through `mode`: Xet stores chunks only (no whole blob), LFS a whole blob."""
    svc = hub.services
    if mode == "xet":
        assert svc.content.xet_hash(sha256), f"{sha256} did not arrive through Xet"
        assert not svc.store.exists(sha256), f"{sha256} has a whole blob: it arrived through LFS"
    else:
        assert svc.store.exists(sha256), f"{sha256} has no whole blob: it did not arrive through LFS"
        assert svc.content.xet_hash(sha256) is None, f"{sha256} arrived through Xet"
