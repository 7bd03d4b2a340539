"""Torch runtimes, one per task family, loaded inside the worker process only (they import torch)."""

from __future__ import annotations

import importlib
from pathlib import Path

from modelyard.inference import tasks as T
from modelyard.inference.runtimes.base import Runtime

_REGISTRY: dict[str, str] = {
    T.TEXT_CLASSIFICATION: "classify:TextClassificationRuntime",
    T.ZERO_SHOT_CLASSIFICATION: "classify:ZeroShotRuntime",
    T.TOKEN_CLASSIFICATION: "tokens:TokenClassificationRuntime",
    T.FILL_MASK: "tokens:FillMaskRuntime",
    T.QUESTION_ANSWERING: "qa:QuestionAnsweringRuntime",
    T.FEATURE_EXTRACTION: "embeddings:EmbeddingRuntime",
    T.SENTENCE_SIMILARITY: "embeddings:EmbeddingRuntime",
    T.SUMMARIZATION: "seq2seq:Seq2SeqRuntime",
    T.TRANSLATION: "seq2seq:Seq2SeqRuntime",
    T.TEXT2TEXT_GENERATION: "seq2seq:Seq2SeqRuntime",
    T.TEXT_GENERATION: "causal:CausalLMRuntime",
    T.AUTOMATIC_SPEECH_RECOGNITION: "audio:CTCSpeechRuntime",
    T.IMAGE_CLASSIFICATION: "vision:ImageClassificationRuntime",
    T.OBJECT_DETECTION: "vision_tasks:ObjectDetectionRuntime",
    T.IMAGE_SEGMENTATION: "vision_tasks:ImageSegmentationRuntime",
    T.IMAGE_TO_TEXT: "vision_tasks:ImageToTextRuntime",
    T.ZERO_SHOT_IMAGE_CLASSIFICATION: "vision_tasks:ZeroShotImageRuntime",
    T.AUDIO_CLASSIFICATION: "audio_tasks:AudioClassificationRuntime",
    T.TEXT_TO_SPEECH: "audio_tasks:TextToSpeechRuntime",
    T.DOCUMENT_QUESTION_ANSWERING: "document:DocumentQuestionAnsweringRuntime",
    T.TEXT_TO_IMAGE: "diffusion:DiffusionRuntime",
    T.IMAGE_TO_IMAGE: "diffusion:DiffusionRuntime",
}


def load_runtime(task: str, model_dir: Path) -> Runtime:
    """Import only the module the task needs, then load the model from ``model_dir``."""
    module_name, cls_name = _REGISTRY[task].split(":")
    module = importlib.import_module(f"modelyard.inference.runtimes.{module_name}")
    runtime: Runtime = getattr(module, cls_name)(model_dir, task)
    return runtime


__all__ = ["Runtime", "load_runtime"]
