"""The Runtime protocol (what the worker process drives) and shared torch helpers."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import torch

Emit = Callable[[dict[str, Any]], None]


class Runtime(Protocol):
    """A loaded model for one task. Runs in the worker process only."""

    task: str

    def info(self) -> dict[str, Any]:
        """Facts for ``/info`` and the front (``memory_bytes``, ``chat_template``, ``dimensions``...)."""
        ...

    def run(self, op: str, items: list[Any], params: Mapping[str, Any]) -> list[Any]:
        """One output per item, in order. Items of one call share ``params`` and form one batch."""
        ...

    def stream(self, op: str, item: Any, params: Mapping[str, Any], emit: Emit) -> Any:
        """Run one generative request, calling ``emit`` per token; return the final output."""
        ...


def module_memory(module: torch.nn.Module) -> int:
    tensors = [*module.parameters(), *module.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors)


def label_map(config: Any) -> dict[int, str]:
    raw = getattr(config, "id2label", None) or {}
    return {int(k): str(v) for k, v in raw.items()}


def apply_function(logits: torch.Tensor, function: str) -> torch.Tensor:
    if function == "sigmoid":
        return torch.sigmoid(logits)
    if function == "softmax":
        return torch.softmax(logits, dim=-1)
    return logits


def default_function(config: Any) -> str:
    if getattr(config, "problem_type", None) == "multi_label_classification" or config.num_labels == 1:
        return "sigmoid"
    return "softmax"


def ranked_labels(scores: torch.Tensor, labels: Mapping[int, str], top_k: int | None) -> list[dict[str, Any]]:
    values, idx = torch.sort(scores, descending=True)
    n = len(values) if top_k is None else min(top_k, len(values))
    return [
        {"label": labels.get(int(i), f"LABEL_{int(i)}"), "score": float(v)}
        for v, i in zip(values[:n].tolist(), idx[:n].tolist(), strict=True)
    ]


class NoStream:
    """Mixin for runtimes that do not stream."""

    task: str

    def stream(self, op: str, item: Any, params: Mapping[str, Any], emit: Emit) -> Any:
        raise NotImplementedError(f"{self.task} does not stream")


def read_json(path: Path) -> dict[str, Any]:
    import json

    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}
