"""Resuming a killed training job: only a checkpoint the Trainer finished writing counts (CI saw a job killed while
saving checkpoint-15 resume from it and fail on its missing trainer_state.json)."""

from __future__ import annotations

from pathlib import Path

from modelyard.training.recipes.common import last_complete_checkpoint


def test_a_partial_checkpoint_is_skipped(tmp_path: Path) -> None:
    for n, complete in ((5, True), (10, True), (15, False), (9, True)):
        d = tmp_path / f"checkpoint-{n}"
        d.mkdir()
        if complete:
            (d / "trainer_state.json").write_text("{}")
    (tmp_path / "checkpoint-x").mkdir()
    assert last_complete_checkpoint(tmp_path) == str(tmp_path / "checkpoint-10")


def test_no_checkpoint(tmp_path: Path) -> None:
    (tmp_path / "checkpoint-3").mkdir()  # killed while writing the first one
    assert last_complete_checkpoint(tmp_path) is None
