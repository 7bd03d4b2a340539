"""Encoder-decoder models: summarization, translation, text2text-generation."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

from modelyard.inference import tasks as T
from modelyard.inference.errors import InvalidInput
from modelyard.inference.runtimes.base import NoStream, module_memory
from modelyard.inference.runtimes.generation import cut_at_stop, generate_kwargs

OUTPUT_KEY = {
    T.SUMMARIZATION: "summary_text",
    T.TRANSLATION: "translation_text",
    T.TEXT2TEXT_GENERATION: "generated_text",
}


class Seq2SeqRuntime(NoStream):
    def __init__(self, model_dir: Path, task: str) -> None:
        self.task = task
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.model = AutoModelForSeq2SeqLM.from_pretrained(model_dir).eval()
        specific = getattr(self.model.config, "task_specific_params", None) or {}
        entry = specific.get(task) or {}
        if task == T.TRANSLATION and not entry:
            entry = next((v for k, v in specific.items() if k.startswith("translation")), {})
        self.prefix = str(entry.get("prefix") or "")
        self.max_length = min(int(getattr(self.tokenizer, "model_max_length", 512) or 512), 1024)

    def info(self) -> dict[str, Any]:
        return {"memory_bytes": module_memory(self.model), "max_input_length": self.max_length}

    def run(self, op: str, items: list[Any], params: Mapping[str, Any]) -> list[Any]:
        kwargs = generate_kwargs(params, 32)
        if params.get("src_lang") and hasattr(self.tokenizer, "src_lang"):
            self.tokenizer.src_lang = params["src_lang"]
        if params.get("tgt_lang"):
            token_id = self.tokenizer.convert_tokens_to_ids(params["tgt_lang"])
            if token_id is None or token_id == self.tokenizer.unk_token_id:
                raise InvalidInput(f"Unknown target language {params['tgt_lang']!r} for this model")
            kwargs["forced_bos_token_id"] = token_id
        texts = [self.prefix + text for text in items]
        enc = self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        )
        with torch.inference_mode():
            out = self.model.generate(**enc, **kwargs)
        clean = params.get("clean_up_tokenization_spaces")
        decoded = self.tokenizer.batch_decode(
            out,
            skip_special_tokens=True,
            clean_up_tokenization_spaces=bool(clean) if clean is not None else None,
        )
        key = OUTPUT_KEY[self.task]
        return [{key: cut_at_stop(text, params.get("stop"))[0]} for text in decoded]
