"""audio-classification (audio bytes in, ``[{label, score}]`` out) and text-to-speech (text in, samples out;
the front writes them as a WAV file, see ``formats.wav_bytes``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import AutoFeatureExtractor, AutoModelForAudioClassification, pipeline

from modelyard.inference.errors import InvalidInput
from modelyard.inference.runtimes.base import (
    NoStream,
    apply_function,
    default_function,
    label_map,
    module_memory,
    ranked_labels,
)
from modelyard.inference.runtimes.media import decode_audio

#: Longer clips are refused (422): a classifier looks at seconds, and the body limit alone allows hours of FLAC.
MAX_AUDIO_SECONDS = 600.0


class AudioClassificationRuntime(NoStream):
    def __init__(self, model_dir: Path, task: str) -> None:
        self.task = task
        self.features = AutoFeatureExtractor.from_pretrained(model_dir)  # type: ignore[no-untyped-call]
        self.model = AutoModelForAudioClassification.from_pretrained(model_dir).eval()
        self.labels = label_map(self.model.config)
        self.rate = int(getattr(self.features, "sampling_rate", 16000))

    def info(self) -> dict[str, Any]:
        return {
            "memory_bytes": module_memory(self.model),
            "labels": [self.labels[i] for i in sorted(self.labels)],
            "sampling_rate": self.rate,
        }

    def run(self, op: str, items: list[Any], params: Mapping[str, Any]) -> list[Any]:
        waves = [decode_audio(data, self.rate) for data in items]
        for wave in waves:
            if wave.size > MAX_AUDIO_SECONDS * self.rate:
                raise InvalidInput(f"The audio is too long (at most {MAX_AUDIO_SECONDS:.0f} s)")
        kwargs: dict[str, Any] = {"sampling_rate": self.rate, "return_tensors": "pt", "padding": True}
        if getattr(self.features, "return_attention_mask", False):
            kwargs["return_attention_mask"] = True
        enc = self.features(waves, **kwargs)
        with torch.inference_mode():
            logits = self.model(**enc).logits.float()
        function = str(params.get("function_to_apply") or default_function(self.model.config))
        scores = apply_function(logits, function)
        top_k = int(params.get("top_k") or 5)
        return [ranked_labels(row, self.labels, top_k) for row in scores]


class TextToSpeechRuntime(NoStream):
    """The transformers ``text-to-audio`` pipeline (VITS/MMS-TTS, Bark, MusicGen...): ``{"audio": float32
    samples, "sampling_rate"}`` per text."""

    def __init__(self, model_dir: Path, task: str) -> None:
        self.task = task
        pipe: Any = pipeline("text-to-audio", model=str(model_dir), device="cpu")
        pipe.model.eval()
        self.pipe = pipe

    def info(self) -> dict[str, Any]:
        return {"memory_bytes": module_memory(self.pipe.model), "sampling_rate": self.pipe.sampling_rate}

    def run(self, op: str, items: list[Any], params: Mapping[str, Any]) -> list[Any]:
        out = []
        for text in items:
            if "seed" in params:
                torch.manual_seed(int(params["seed"]))
            with torch.inference_mode():
                result = self.pipe(text)
            samples = np.asarray(result["audio"], dtype=np.float32)
            if samples.ndim > 1:  # (channels, samples) or (1, samples)
                samples = samples.reshape(-1, samples.shape[-1]).mean(axis=0)
            out.append({"audio": samples, "sampling_rate": int(result["sampling_rate"])})
        return out
