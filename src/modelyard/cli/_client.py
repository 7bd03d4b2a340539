"""What the client commands (`modelyard deploy`, `modelyard train`) share: the defaults of --hub and --token."""

from __future__ import annotations

import os

DEFAULT_HUB = "http://127.0.0.1:8080"


def default_hub() -> str:
    """--hub: $MODELYARD_HUB, else $HF_ENDPOINT, else the local hub."""
    return os.environ.get("MODELYARD_HUB") or os.environ.get("HF_ENDPOINT") or DEFAULT_HUB


def default_token() -> str | None:
    """--token: $MODELYARD_TOKEN, else $HF_TOKEN."""
    return os.environ.get("MODELYARD_TOKEN") or os.environ.get("HF_TOKEN")
