"""Jobs fixtures: one hub with the job runner on (sandboxed with bubblewrap where installed). Job environments are
built with uv into the hub's data dir; uv's package cache (~/.cache/uv) is shared across the session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conftest import Hub, start_server


@pytest.fixture(scope="session")
def jobs_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """A hub running jobs, at most 2 at once."""
    with start_server(
        tmp_path_factory.mktemp("jobs-hub"), jobs=True, jobs_max_running=2, jobs_memory_mb=4096
    ) as hub:
        yield hub
