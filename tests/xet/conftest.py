"""Fixtures: a XetService on a fresh SQLite DB + fs blob store, served by a real uvicorn on 127.0.0.1:0
together with a stand-in for the two Hub token routes (see ``modelyard.server.xet_standalone``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from modelyard.server.xet_standalone import StandaloneCas, make_service

LiveCas = StandaloneCas

__all__ = ["LiveCas", "make_service"]


@pytest.fixture
def live_cas(tmp_path: Path) -> Iterator[StandaloneCas]:
    cas = StandaloneCas(make_service(tmp_path), tmp_path).start()
    try:
        yield cas
    finally:
        cas.stop()
