"""Graph mode: a traced forward is used only when it gives the eager answers (small torch modules, no model files)."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from modelyard.inference.runtimes.graph import trace_forward


def _tokenize(texts: list[str]) -> Mapping[str, torch.Tensor]:
    """One token per character, right-padded with 0; a mask of real tokens."""
    width = max(len(t) for t in texts)
    ids = torch.zeros((len(texts), width), dtype=torch.long)
    mask = torch.zeros((len(texts), width), dtype=torch.long)
    for row, text in enumerate(texts):
        ids[row, : len(text)] = torch.tensor([ord(c) % 97 for c in text])
        mask[row, : len(text)] = 1
    return {"input_ids": ids, "attention_mask": mask}


class Encoder(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embed = torch.nn.Embedding(97, 8)
        self.proj = torch.nn.Linear(8, 8)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> dict[str, torch.Tensor]:
        hidden = torch.nn.functional.gelu(self.proj(self.embed(input_ids)))
        return {"last_hidden_state": hidden * attention_mask.unsqueeze(-1)}


class ShapeBranching(Encoder):
    """Takes a Python branch on the batch size: a trace bakes in whichever branch the example took."""

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> dict[str, torch.Tensor]:
        out = super().forward(input_ids, attention_mask)
        if input_ids.shape[0] > 2:
            out["last_hidden_state"] = out["last_hidden_state"] * 2
        return out


class Untraceable(Encoder):
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> dict[str, torch.Tensor]:
        raise RuntimeError("data-dependent control flow")


def test_a_faithful_trace_is_used_and_matches_eager() -> None:
    model = Encoder()
    forward, mode = trace_forward(model, _tokenize, "last_hidden_state")
    assert mode == "torchscript" and forward is not None
    enc = _tokenize(["abc", "a", "abcdefghij"])
    with torch.inference_mode():
        assert torch.equal(forward(enc), model(**enc)["last_hidden_state"])


def test_a_trace_that_baked_in_a_shape_branch_is_refused() -> None:
    forward, reason = trace_forward(ShapeBranching(), _tokenize, "last_hidden_state")
    assert forward is None
    assert "differs from eager" in reason


def test_a_model_the_tracer_cannot_run_stays_eager() -> None:
    forward, reason = trace_forward(Untraceable(), _tokenize, "last_hidden_state")
    assert forward is None
    assert reason.startswith("trace failed: RuntimeError")
