"""Training fixtures: a hub running jobs (recipes run as jobs in the hub's own environment)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conftest import Hub, start_server


@pytest.fixture(scope="session")
def training_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    with start_server(
        tmp_path_factory.mktemp("training-hub"), jobs=True, jobs_max_running=2, jobs_memory_mb=6144
    ) as hub:
        yield hub
