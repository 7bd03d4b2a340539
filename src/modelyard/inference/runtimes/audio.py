"""automatic-speech-recognition with CTC models (wav2vec2-style): audio bytes in, ``{"text"}`` out."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from transformers import AutoFeatureExtractor, AutoModelForCTC, AutoTokenizer

from modelyard.inference.runtimes.base import NoStream, module_memory
from modelyard.inference.runtimes.media import decode_audio


class CTCSpeechRuntime(NoStream):
    def __init__(self, model_dir: Path, task: str) -> None:
        self.task = task
        self.features = AutoFeatureExtractor.from_pretrained(model_dir)  # type: ignore[no-untyped-call]
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.model = AutoModelForCTC.from_pretrained(model_dir).eval()
        self.rate = int(getattr(self.features, "sampling_rate", 16000))

    def info(self) -> dict[str, Any]:
        return {"memory_bytes": module_memory(self.model), "sampling_rate": self.rate}

    def run(self, op: str, items: list[Any], params: Mapping[str, Any]) -> list[Any]:
        waves = [decode_audio(data, self.rate) for data in items]
        enc = self.features(
            waves, sampling_rate=self.rate, padding=True, return_tensors="pt", return_attention_mask=True
        )
        with torch.inference_mode():
            logits = self.model(**enc).logits
        ids = torch.argmax(logits, dim=-1)
        texts = self.tokenizer.batch_decode(ids)
        return [{"text": text} for text in texts]
