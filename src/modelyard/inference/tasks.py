"""Task names, aliases, and inferring the task of a model directory (card ``pipeline_tag``, then config)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from modelyard.inference.errors import UnsupportedTask

TEXT_CLASSIFICATION = "text-classification"
TOKEN_CLASSIFICATION = "token-classification"
QUESTION_ANSWERING = "question-answering"
FILL_MASK = "fill-mask"
ZERO_SHOT_CLASSIFICATION = "zero-shot-classification"
FEATURE_EXTRACTION = "feature-extraction"
SENTENCE_SIMILARITY = "sentence-similarity"
SUMMARIZATION = "summarization"
TRANSLATION = "translation"
TEXT2TEXT_GENERATION = "text2text-generation"
TEXT_GENERATION = "text-generation"
AUTOMATIC_SPEECH_RECOGNITION = "automatic-speech-recognition"
IMAGE_CLASSIFICATION = "image-classification"
OBJECT_DETECTION = "object-detection"
IMAGE_SEGMENTATION = "image-segmentation"
IMAGE_TO_TEXT = "image-to-text"
ZERO_SHOT_IMAGE_CLASSIFICATION = "zero-shot-image-classification"
AUDIO_CLASSIFICATION = "audio-classification"
TEXT_TO_SPEECH = "text-to-speech"
DOCUMENT_QUESTION_ANSWERING = "document-question-answering"
TEXT_TO_IMAGE = "text-to-image"
IMAGE_TO_IMAGE = "image-to-image"

TASKS: tuple[str, ...] = (
    TEXT_CLASSIFICATION,
    TOKEN_CLASSIFICATION,
    QUESTION_ANSWERING,
    FILL_MASK,
    ZERO_SHOT_CLASSIFICATION,
    FEATURE_EXTRACTION,
    SENTENCE_SIMILARITY,
    SUMMARIZATION,
    TRANSLATION,
    TEXT2TEXT_GENERATION,
    TEXT_GENERATION,
    AUTOMATIC_SPEECH_RECOGNITION,
    IMAGE_CLASSIFICATION,
    OBJECT_DETECTION,
    IMAGE_SEGMENTATION,
    IMAGE_TO_TEXT,
    ZERO_SHOT_IMAGE_CLASSIFICATION,
    AUDIO_CLASSIFICATION,
    TEXT_TO_SPEECH,
    DOCUMENT_QUESTION_ANSWERING,
    TEXT_TO_IMAGE,
    IMAGE_TO_IMAGE,
)

ALIASES: dict[str, str] = {
    "text2text": TEXT2TEXT_GENERATION,
    "sentiment-analysis": TEXT_CLASSIFICATION,
    "ner": TOKEN_CLASSIFICATION,
    "conversational": TEXT_GENERATION,
    "embeddings": FEATURE_EXTRACTION,
    "asr": AUTOMATIC_SPEECH_RECOGNITION,
    "text-to-audio": TEXT_TO_SPEECH,
    "image-captioning": IMAGE_TO_TEXT,
    "document-qa": DOCUMENT_QUESTION_ANSWERING,
}

#: Tasks whose request body is raw bytes (or JSON with base64 ``inputs``).
BINARY_TASKS = frozenset(
    {
        AUTOMATIC_SPEECH_RECOGNITION,
        IMAGE_CLASSIFICATION,
        OBJECT_DETECTION,
        IMAGE_SEGMENTATION,
        IMAGE_TO_TEXT,
        ZERO_SHOT_IMAGE_CLASSIFICATION,
        AUDIO_CLASSIFICATION,
    }
)
#: Tasks whose answer is a binary body (audio bytes), not JSON.
AUDIO_OUTPUT_TASKS = frozenset({TEXT_TO_SPEECH})
#: diffusers pipelines (``model_index.json``): a PNG image out (``image/png``), image-to-image takes one in.
DIFFUSION_TASKS = frozenset({TEXT_TO_IMAGE, IMAGE_TO_IMAGE})
#: Tasks served by a sentence-embedding model (either request shape is accepted by both).
EMBEDDING_TASKS = frozenset({FEATURE_EXTRACTION, SENTENCE_SIMILARITY})
SEQ2SEQ_TASKS = frozenset({SUMMARIZATION, TRANSLATION, TEXT2TEXT_GENERATION})


def normalize_task(task: str) -> str:
    """Canonical task name, or :class:`UnsupportedTask`."""
    name = task.strip().lower()
    name = ALIASES.get(name, name)
    if name.startswith("translation_"):  # transformers' "translation_en_to_fr"
        name = TRANSLATION
    if name not in TASKS:
        raise UnsupportedTask(f"Unsupported task {task!r}; supported: {', '.join(TASKS)}")
    return name


def read_card_metadata(model_dir: Path) -> dict[str, Any]:
    """The YAML front matter of ``README.md`` (empty when absent or invalid)."""
    readme = model_dir / "README.md"
    if not readme.is_file():
        return {}
    text = readme.read_text(encoding="utf-8", errors="replace")
    if not text.startswith("---"):
        return {}
    end = text.find("\n---", 3)
    if end < 0:
        return {}
    try:
        data = yaml.safe_load(text[3:end])
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


def read_config(model_dir: Path) -> dict[str, Any]:
    path = model_dir / "config.json"
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


_ARCH_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("ForSequenceClassification", TEXT_CLASSIFICATION),
    ("ForTokenClassification", TOKEN_CLASSIFICATION),
    ("ForQuestionAnswering", QUESTION_ANSWERING),
    ("ForMaskedLM", FILL_MASK),
    ("ForCTC", AUTOMATIC_SPEECH_RECOGNITION),
    ("ForImageClassification", IMAGE_CLASSIFICATION),
    ("ForAudioClassification", AUDIO_CLASSIFICATION),
    ("ForObjectDetection", OBJECT_DETECTION),
    ("ForSemanticSegmentation", IMAGE_SEGMENTATION),
    ("ForUniversalSegmentation", IMAGE_SEGMENTATION),
    ("ForInstanceSegmentation", IMAGE_SEGMENTATION),
    ("ForTextToSpeech", TEXT_TO_SPEECH),
    ("ForTextToWaveform", TEXT_TO_SPEECH),
    ("ForCausalLM", TEXT_GENERATION),
    ("LMHeadModel", TEXT_GENERATION),
    ("ForConditionalGeneration", TEXT2TEXT_GENERATION),
    ("Model", FEATURE_EXTRACTION),
)


#: Whole architecture names checked before the suffixes (a ``*Model`` that is more than an encoder).
_ARCH_EXACT: dict[str, str] = {
    "VisionEncoderDecoderModel": IMAGE_TO_TEXT,
    "BlipForConditionalGeneration": IMAGE_TO_TEXT,
    "Pix2StructForConditionalGeneration": IMAGE_TO_TEXT,
    "CLIPModel": ZERO_SHOT_IMAGE_CLASSIFICATION,
    "SiglipModel": ZERO_SHOT_IMAGE_CLASSIFICATION,
    "Siglip2Model": ZERO_SHOT_IMAGE_CLASSIFICATION,
    "AltCLIPModel": ZERO_SHOT_IMAGE_CLASSIFICATION,
    "ChineseCLIPModel": ZERO_SHOT_IMAGE_CLASSIFICATION,
    "VitsModel": TEXT_TO_SPEECH,
}
#: ``model_type`` of speech encoders, whose ``*ForSequenceClassification`` classifies audio, not text.
_AUDIO_MODEL_TYPES = frozenset(
    {
        "wav2vec2",
        "wav2vec2-bert",
        "wav2vec2-conformer",
        "hubert",
        "wavlm",
        "unispeech",
        "unispeech-sat",
        "data2vec-audio",
        "sew",
        "sew-d",
        "whisper",
    }
)


def _is_nli(config: dict[str, Any]) -> bool:
    labels = config.get("label2id") or {}
    return isinstance(labels, dict) and any(str(k).lower().startswith("entail") for k in labels)


def infer_task(model_dir: Path) -> str:
    """Infer the task: the card's ``pipeline_tag`` wins, then sentence-transformers files, then the config."""
    meta = read_card_metadata(model_dir)
    tag = meta.get("pipeline_tag")
    if isinstance(tag, str) and tag:
        return normalize_task(tag)
    if (model_dir / "modules.json").is_file():
        return FEATURE_EXTRACTION
    if (model_dir / "model_index.json").is_file():
        return _diffusers_task(model_dir)
    config = read_config(model_dir)
    for arch in config.get("architectures") or []:
        if str(arch) in _ARCH_EXACT:
            return _ARCH_EXACT[str(arch)]
        if str(arch).endswith("ForSequenceClassification") and config.get("model_type") in _AUDIO_MODEL_TYPES:
            return AUDIO_CLASSIFICATION
        for suffix, task in _ARCH_SUFFIXES:
            if str(arch).endswith(suffix):
                if task == TEXT_CLASSIFICATION and _is_nli(config):
                    return ZERO_SHOT_CLASSIFICATION
                if task == TEXT2TEXT_GENERATION:
                    return _seq2seq_task(config)
                return task
    raise UnsupportedTask(
        f"Cannot infer the task of the model in {model_dir.name!r}: set pipeline_tag in its card or pass a task"
    )


def _seq2seq_task(config: dict[str, Any]) -> str:
    specific = config.get("task_specific_params") or {}
    if isinstance(specific, dict) and len(specific) == 1:
        (only,) = specific
        if only == "summarization":
            return SUMMARIZATION
        if str(only).startswith("translation"):
            return TRANSLATION
    return TEXT2TEXT_GENERATION


def _diffusers_task(model_dir: Path) -> str:
    """A diffusers pipeline: image-to-image for an ``*Img2Img*`` pipeline class, else text-to-image."""
    try:
        index = json.loads((model_dir / "model_index.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        index = {}
    name = str(index.get("_class_name") or "") if isinstance(index, dict) else ""
    if "Img2Img" in name or "ImageToImage" in name:
        return IMAGE_TO_IMAGE
    return TEXT_TO_IMAGE
