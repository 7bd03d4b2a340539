"""document-question-answering with OCR-free Donut-style models (a ``VisionEncoderDecoderModel`` prompted with
``<s_docvqa><s_question>{question}</s_question><s_answer>``, as the transformers pipeline does for Donut):
``{"image": bytes, "question": str}`` in, ``[{answer, score}]`` out (``score``: the answer tokens' mean
probability; Donut has no OCR words, so no ``start``/``end``). LayoutLM-style models need an OCR engine and are
refused at load."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from transformers import AutoImageProcessor, AutoTokenizer, VisionEncoderDecoderModel

from modelyard.inference.errors import InvalidInput, UnsupportedTask
from modelyard.inference.runtimes.base import NoStream, module_memory, read_json
from modelyard.inference.runtimes.vision_tasks import load_image

DEFAULT_MAX_ANSWER_TOKENS = 32
_TAG = re.compile(r"<[^<>]*>")


class DocumentQuestionAnsweringRuntime(NoStream):
    def __init__(self, model_dir: Path, task: str) -> None:
        self.task = task
        if read_json(model_dir / "config.json").get("model_type") != "vision-encoder-decoder":
            raise UnsupportedTask(
                "document-question-answering needs an OCR-free Donut-style model (vision-encoder-decoder); "
                "LayoutLM-style models need an OCR engine, which endpoints do not run"
            )
        self.processor = AutoImageProcessor.from_pretrained(model_dir)  # type: ignore[no-untyped-call]
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.model = VisionEncoderDecoderModel.from_pretrained(model_dir).eval()  # type: ignore[no-untyped-call]
        self.max_positions = int(getattr(self.model.config.decoder, "max_position_embeddings", 512))
        self.stop = [s for s in (self.tokenizer.eos_token, self.tokenizer.pad_token) if s]

    def info(self) -> dict[str, Any]:
        return {"memory_bytes": module_memory(self.model)}

    def run(self, op: str, items: list[Any], params: Mapping[str, Any]) -> list[Any]:
        return [self._answer(item, params) for item in items]  # prompts differ in length: one at a time

    def _answer(self, item: Mapping[str, Any], params: Mapping[str, Any]) -> list[dict[str, Any]]:
        image = load_image(item["image"])
        pixels = self.processor(images=[image], return_tensors="pt")["pixel_values"]
        prompt = f"<s_docvqa><s_question>{item['question']}</s_question><s_answer>"
        ids = self.tokenizer(prompt, add_special_tokens=False, return_tensors="pt").input_ids
        room = self.max_positions - ids.shape[1] - 2
        if room < 1:
            raise InvalidInput("The question is too long for this model")
        wanted = int(params.get("max_answer_len") or DEFAULT_MAX_ANSWER_TOKENS)
        with torch.inference_mode():
            out = self.model.generate(
                pixel_values=pixels,
                decoder_input_ids=ids,
                max_new_tokens=min(wanted, room),
                do_sample=False,
                num_beams=1,
                output_scores=True,
                return_dict_in_generate=True,
            )
            steps = self.model.compute_transition_scores(out.sequences, out.scores, normalize_logits=True)[0]
        new_ids = out.sequences[0, ids.shape[1] :].tolist()
        used = 0  # the answer ends at </s_answer>, end of sequence or padding
        for token in new_ids:
            if self.tokenizer.decode([token], skip_special_tokens=False) in ("</s_answer>", *self.stop):
                break
            used += 1
        logprobs = steps[: max(used, 1)].float()
        score = float(torch.exp(logprobs.mean())) if logprobs.numel() else 0.0
        answer = str(self.tokenizer.decode(new_ids[:used], skip_special_tokens=True)) if used else ""
        return [{"answer": _TAG.sub("", answer).strip(), "score": score}]
