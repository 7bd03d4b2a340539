"""Sequence classifiers: text-classification and NLI-based zero-shot-classification."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from modelyard.inference.errors import InvalidInput
from modelyard.inference.runtimes.base import (
    NoStream,
    apply_function,
    default_function,
    label_map,
    module_memory,
    ranked_labels,
)
from modelyard.inference.runtimes.graph import GraphForward
from modelyard.inference.runtimes.precision import PROBE_TEXTS


class _SequenceClassifier(GraphForward, NoStream):
    def __init__(self, model_dir: Path, task: str) -> None:
        self.task = task
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
        self.labels = label_map(self.model.config)
        self.max_length = min(int(getattr(self.model.config, "max_position_embeddings", 512)), 512)
        self.init_forward("logits")

    def _tokenize(self, texts: list[str], pairs: list[str] | None = None) -> Any:
        return self.tokenizer(
            texts, pairs, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        )

    def info(self) -> dict[str, Any]:
        return {
            "memory_bytes": module_memory(self.model),
            "labels": [self.labels[i] for i in sorted(self.labels)],
            "max_input_length": self.max_length,
            "graph": self.graph,
        }

    def logits(self, texts: list[str], pairs: list[str] | None = None) -> torch.Tensor:
        with torch.inference_mode():
            out: torch.Tensor = self.forward(self._tokenize(texts, pairs)).float()
        return out


class TextClassificationRuntime(_SequenceClassifier):
    precision_metric = "prob"  # the accuracy check of a bfloat16 / int8 endpoint (runtimes/precision.py)

    def precision_probe(self) -> torch.Tensor:
        return apply_function(self.logits(PROBE_TEXTS), default_function(self.model.config))

    def run(self, op: str, items: list[Any], params: Mapping[str, Any]) -> list[Any]:
        function = str(params.get("function_to_apply") or default_function(self.model.config))
        scores = apply_function(self.logits(list(items)), function)
        top_k = params.get("top_k")
        return [ranked_labels(row, self.labels, top_k) for row in scores]


class ZeroShotRuntime(_SequenceClassifier):
    def __init__(self, model_dir: Path, task: str) -> None:
        super().__init__(model_dir, task)
        by_name = {v.lower(): k for k, v in self.labels.items()}
        self.entail = next((i for name, i in by_name.items() if name.startswith("entail")), None)
        self.contra = next((i for name, i in by_name.items() if name.startswith("contra")), None)
        if self.entail is None:
            self.entail = max(self.labels) if self.labels else 0

    def run(self, op: str, items: list[Any], params: Mapping[str, Any]) -> list[Any]:
        labels: list[str] = list(params["candidate_labels"])
        template = str(params.get("hypothesis_template") or "This example is {}.")
        if "{}" not in template:
            raise InvalidInput("'hypothesis_template' must contain '{}'")
        multi = bool(params.get("multi_label", False))
        premises = [text for text in items for _ in labels]
        hypotheses = [template.format(label) for _ in items for label in labels]
        chunks = [
            self.logits(premises[i : i + 64], hypotheses[i : i + 64]) for i in range(0, len(premises), 64)
        ]
        logits = torch.cat(chunks).view(len(items), len(labels), -1)
        results = []
        for row in logits:
            if multi:
                contra = self.contra if self.contra is not None else 0
                pair = row[:, [contra, self.entail]]
                scores = torch.softmax(pair, dim=-1)[:, 1]
            else:
                scores = torch.softmax(row[:, self.entail], dim=-1)
            order = torch.argsort(scores, descending=True).tolist()
            results.append([{"label": labels[i], "score": float(scores[i])} for i in order])
        return results
