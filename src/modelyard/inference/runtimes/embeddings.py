"""Sentence embeddings (feature-extraction, sentence-similarity) with sentence-transformers pooling."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import AutoModel, AutoTokenizer

from modelyard.inference.requests import OP_EMBED, OP_SIMILARITY
from modelyard.inference.runtimes.base import NoStream, module_memory, read_json
from modelyard.inference.runtimes.graph import GraphForward
from modelyard.inference.runtimes.precision import PROBE_TEXTS


class EmbeddingRuntime(GraphForward, NoStream):
    precision_metric = "cosine"  # the accuracy check of a bfloat16 / int8 endpoint (runtimes/precision.py)
    # batches may run in several worker threads at once (inference/worker.py lanes): the model call is stateless;
    # the tokenizer is not (its truncation side and padding settings), so tokenizing holds a lock
    lanes_safe = True

    def __init__(self, model_dir: Path, task: str) -> None:
        self.task = task
        self._tokenizer_lock = threading.Lock()
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.model = AutoModel.from_pretrained(model_dir).eval()
        modules = read_json_list(model_dir / "modules.json")
        pooling_dir = next(
            (m.get("path", "") for m in modules if str(m.get("type", "")).endswith("Pooling")), "1_Pooling"
        )
        pooling = read_json(model_dir / pooling_dir / "config.json")
        self.pooling = "cls" if pooling.get("pooling_mode_cls_token") else "mean"
        if pooling.get("pooling_mode_max_tokens"):
            self.pooling = "max"
        st_config = read_json(model_dir / "sentence_bert_config.json")
        limit = getattr(self.model.config, "max_position_embeddings", 512)
        self.max_length = int(st_config.get("max_seq_length") or min(limit, 512))
        self.dimensions = int(self.model.config.hidden_size)
        self.init_forward("last_hidden_state")

    def _tokenize(self, texts: list[str]) -> Any:
        return self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        )

    def info(self) -> dict[str, Any]:
        return {
            "memory_bytes": module_memory(self.model),
            "dimensions": self.dimensions,
            "max_input_length": self.max_length,
            "pooling": self.pooling,
            "graph": self.graph,
        }

    def embed(self, texts: list[str], normalize: bool = True, truncate_left: bool = False) -> torch.Tensor:
        with self._tokenizer_lock:
            self.tokenizer.truncation_side = "left" if truncate_left else "right"
            enc = self._tokenize(texts)
        with torch.inference_mode():
            hidden = self.forward(enc).float()
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            if self.pooling == "cls":
                pooled = hidden[:, 0]
            elif self.pooling == "max":
                pooled = hidden.masked_fill(mask == 0, -1e9).max(dim=1).values
            else:
                pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            if normalize:
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
        result: torch.Tensor = pooled
        return result

    def precision_probe(self) -> torch.Tensor:
        return self.embed(PROBE_TEXTS, normalize=False)

    def run(self, op: str, items: list[Any], params: Mapping[str, Any]) -> list[Any]:
        if op == OP_SIMILARITY:
            return [self._similarity(item) for item in items]
        if op != OP_EMBED:
            raise ValueError(f"unknown op {op}")
        vectors = self.embed(
            list(items),
            normalize=bool(params.get("normalize", True)),
            truncate_left=str(params.get("truncation_direction", "right")).lower() == "left",
        )
        dims = params.get("dimensions")
        array = vectors.numpy().astype(np.float32, copy=False)
        if dims:
            array = array[:, : int(dims)]
        return list(array)

    def _similarity(self, item: Mapping[str, Any]) -> list[float]:
        vectors = self.embed([item["source_sentence"], *item["sentences"]], normalize=True)
        return [float(x) for x in (vectors[1:] @ vectors[0]).tolist()]


def read_json_list(path: Path) -> list[dict[str, Any]]:
    import json

    if not path.is_file():
        return []
    data = json.loads(path.read_text(encoding="utf-8"))
    return [m for m in data if isinstance(m, dict)] if isinstance(data, list) else []
