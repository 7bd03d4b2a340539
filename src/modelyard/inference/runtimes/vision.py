"""image-classification: image bytes in, ``[{label, score}]`` out."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from transformers import AutoImageProcessor, AutoModelForImageClassification

from modelyard.inference.runtimes.base import (
    NoStream,
    apply_function,
    default_function,
    label_map,
    module_memory,
    ranked_labels,
)
from modelyard.inference.runtimes.media import decode_image


class ImageClassificationRuntime(NoStream):
    def __init__(self, model_dir: Path, task: str) -> None:
        self.task = task
        self.processor = AutoImageProcessor.from_pretrained(model_dir)  # type: ignore[no-untyped-call]
        self.model = AutoModelForImageClassification.from_pretrained(model_dir).eval()
        self.labels = label_map(self.model.config)

    def info(self) -> dict[str, Any]:
        return {
            "memory_bytes": module_memory(self.model),
            "labels": [self.labels[i] for i in sorted(self.labels)],
        }

    def run(self, op: str, items: list[Any], params: Mapping[str, Any]) -> list[Any]:
        images = [decode_image(data) for data in items]
        enc = self.processor(images=images, return_tensors="pt")
        with torch.inference_mode():
            logits = self.model(**enc).logits.float()
        function = str(params.get("function_to_apply") or default_function(self.model.config))
        scores = apply_function(logits, function)
        top_k = int(params.get("top_k") or 5)
        return [ranked_labels(row, self.labels, top_k) for row in scores]
