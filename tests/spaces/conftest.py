"""Spaces fixtures: one hub with Spaces on (a second listener: the Spaces origin), and helpers to push a Space
and wait for a stage. The Space environments are built with uv into the hub's data dir; uv's own package cache
(~/.cache/uv) is shared, so only the first build of a session downloads anything."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.spaces._spaces import (  # noqa: F401  (helpers, also importable from here)
    GRADIO_VERSION,
    STREAMLIT_VERSION,
    card,
    push_space,
    space_url,
    wait_stage,
)

from conftest import Hub, start_server


@pytest.fixture(scope="session")
def spaces_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """A hub running Spaces (sandboxed with bubblewrap where installed), Spaces origin at hub.extra["spaces_url"]."""
    with start_server(
        tmp_path_factory.mktemp("spaces-hub"),
        spaces=True,
        spaces_max_running=3,
        spaces_memory_mb=3072,
        spaces_start_timeout=120,
    ) as hub:
        yield hub
