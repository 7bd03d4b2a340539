"""EndpointManager bookkeeping without loading models: persistence, states, errors, metrics text."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from modelyard.inference import EndpointConfig, EndpointManager, LocalDirSource
from modelyard.inference.errors import EndpointExists, EndpointNotFound, EndpointPaused
from modelyard.inference.manager import PAUSED, UNLOADED


def test_state_file_keeps_endpoints_across_restarts(tmp_path: Path) -> None:
    state = tmp_path / "endpoints.json"

    async def first() -> None:
        manager = EndpointManager(LocalDirSource({}), state_file=state)
        await manager.create(EndpointConfig(name="a", repo_id="u/a", task="fill-mask"), load=False)
        await manager.create(EndpointConfig(name="b", repo_id="u/b", keep_alive_s=None), load=False)
        await manager.pause("b")
        with pytest.raises(EndpointExists):
            await manager.create(EndpointConfig(name="a", repo_id="u/other"), load=False)
        await manager.aclose()

    async def second() -> None:
        manager = EndpointManager(LocalDirSource({}), state_file=state)
        assert [e.name for e in manager.list_endpoints()] == ["a", "b"]
        assert manager.get("a").state == UNLOADED and manager.get("a").config.task == "fill-mask"
        assert manager.get("b").state == PAUSED and manager.get("b").config.keep_alive_s is None
        with pytest.raises(EndpointPaused):
            manager.acquire("b")
        await manager.delete("a")
        with pytest.raises(EndpointNotFound):
            manager.get("a")
        text = manager.metrics.render()
        assert 'modelyard_inference_loaded{endpoint="b"} 0' in text
        assert 'endpoint="a"' not in text
        await manager.aclose()

    asyncio.run(first())
    asyncio.run(second())
    assert "u/b" in state.read_text() and "u/a" not in state.read_text()
