"""Image-in tasks beyond classification: object-detection, image-segmentation, image-to-text and
zero-shot-image-classification. Image bytes in (see :func:`load_image`), HF Inference API shapes out.

Detection, segmentation and zero-shot classification run the ``transformers`` pipeline of the task on the batch;
image-to-text (no pipeline in transformers 5) runs ``generate`` on an image-to-text model (VisionEncoderDecoder,
BLIP, ...) directly.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from transformers import AutoImageProcessor, AutoTokenizer, pipeline

from modelyard.inference.errors import InvalidInput
from modelyard.inference.runtimes.base import NoStream, label_map, module_memory
from modelyard.inference.runtimes.media import decode_image

#: Images with more pixels are refused (422) before they are decoded (PIL's own bomb check starts at ~179 M).
MAX_IMAGE_PIXELS = 40_000_000
DEFAULT_MAX_NEW_TOKENS = 30


def load_image(data: bytes) -> Any:
    """An RGB PIL image; InvalidInput when undecodable or larger than :data:`MAX_IMAGE_PIXELS`."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as probe:  # reads the header only
            width, height = probe.size
    except Exception as exc:  # UnidentifiedImageError, DecompressionBombError, truncated headers...
        raise InvalidInput(f"Could not decode the image bytes: {exc}") from None
    if width * height > MAX_IMAGE_PIXELS:
        raise InvalidInput(
            f"The image is too large ({width}x{height} pixels; at most {MAX_IMAGE_PIXELS // 1_000_000} megapixels)"
        )
    return decode_image(data)


def png_base64(mask: Any) -> str:
    buf = io.BytesIO()
    mask.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


class _PipelineRuntime(NoStream):
    """A transformers pipeline of ``pipeline_task`` over decoded images."""

    pipeline_task = ""

    def __init__(self, model_dir: Path, task: str) -> None:
        self.task = task
        self.pipe: Any = pipeline(self.pipeline_task, model=str(model_dir), device="cpu")  # type: ignore[call-overload]
        self.pipe.model.eval()
        self.labels = label_map(self.pipe.model.config)

    def info(self) -> dict[str, Any]:
        out: dict[str, Any] = {"memory_bytes": module_memory(self.pipe.model)}
        if self.labels:
            out["labels"] = [self.labels[i] for i in sorted(self.labels)]
        return out

    def _call(self, images: list[Any], **kwargs: Any) -> list[Any]:
        with torch.inference_mode():
            out = self.pipe(images, **kwargs)
        return list(out)  # a list in, one result per image out


class ObjectDetectionRuntime(_PipelineRuntime):
    pipeline_task = "object-detection"

    def run(self, op: str, items: list[Any], params: Mapping[str, Any]) -> list[Any]:
        images = [load_image(data) for data in items]
        threshold = float(params.get("threshold", 0.5))
        results = self._call(images, threshold=threshold)
        answers = []
        for image, found in zip(images, results, strict=True):
            width, height = image.size
            answers.append(
                [
                    {
                        "label": str(obj["label"]),
                        "score": float(obj["score"]),
                        "box": _clamp_box(obj["box"], width, height),
                    }
                    for obj in sorted(found, key=lambda o: -float(o["score"]))
                ]
            )
        return answers


def _clamp_box(box: Mapping[str, Any], width: int, height: int) -> dict[str, int]:
    def clamp(v: Any, hi: int) -> int:
        return max(0, min(hi, round(float(v))))

    return {
        "xmin": clamp(box["xmin"], width),
        "ymin": clamp(box["ymin"], height),
        "xmax": clamp(box["xmax"], width),
        "ymax": clamp(box["ymax"], height),
    }


class ImageSegmentationRuntime(_PipelineRuntime):
    pipeline_task = "image-segmentation"

    def run(self, op: str, items: list[Any], params: Mapping[str, Any]) -> list[Any]:
        images = [load_image(data) for data in items]
        kwargs = {
            k: params[k]
            for k in ("threshold", "mask_threshold", "overlap_mask_area_threshold")
            if k in params
        }
        if "subtask" in params:
            kwargs["subtask"] = params["subtask"]
        results = self._call(images, **kwargs)
        return [
            [
                {
                    "label": str(seg["label"]),
                    "score": None if seg.get("score") is None else float(seg["score"]),
                    "mask": png_base64(seg["mask"]),
                }
                for seg in found
            ]
            for found in results
        ]


class ZeroShotImageRuntime(_PipelineRuntime):
    pipeline_task = "zero-shot-image-classification"

    def run(self, op: str, items: list[Any], params: Mapping[str, Any]) -> list[Any]:
        images = [load_image(data) for data in items]
        kwargs: dict[str, Any] = {"candidate_labels": list(params["candidate_labels"])}
        if params.get("hypothesis_template"):
            kwargs["hypothesis_template"] = params["hypothesis_template"]
        results = self._call(images, **kwargs)
        return [[{"label": str(r["label"]), "score": float(r["score"])} for r in found] for found in results]


class ImageToTextRuntime(NoStream):
    """Captioning / OCR models: ``AutoModelForImageTextToText`` (VisionEncoderDecoder, BLIP, Pix2Struct...)."""

    def __init__(self, model_dir: Path, task: str) -> None:
        from transformers import AutoModelForImageTextToText

        self.task = task
        self.processor = AutoImageProcessor.from_pretrained(model_dir)  # type: ignore[no-untyped-call]
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.model = AutoModelForImageTextToText.from_pretrained(model_dir).eval()  # type: ignore[no-untyped-call]

    def info(self) -> dict[str, Any]:
        return {"memory_bytes": module_memory(self.model)}

    def run(self, op: str, items: list[Any], params: Mapping[str, Any]) -> list[Any]:
        images = [load_image(data) for data in items]
        pixels = self.processor(images=images, return_tensors="pt")["pixel_values"]
        kwargs: dict[str, Any] = {"max_new_tokens": int(params.get("max_new_tokens", DEFAULT_MAX_NEW_TOKENS))}
        for name in ("do_sample", "temperature", "top_k", "top_p", "num_beams", "repetition_penalty"):
            if name in params:
                kwargs[name] = params[name]
        if "seed" in params:
            torch.manual_seed(int(params["seed"]))
        with torch.inference_mode():
            ids = self.model.generate(pixel_values=pixels, **kwargs)
        texts = self.tokenizer.batch_decode(ids, skip_special_tokens=True)
        return [{"generated_text": text.strip()} for text in texts]
