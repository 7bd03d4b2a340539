"""Extractive question answering (start/end logits → best character span of the context)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForQuestionAnswering, AutoTokenizer

from modelyard.inference.runtimes.base import NoStream, module_memory


class QuestionAnsweringRuntime(NoStream):
    def __init__(self, model_dir: Path, task: str) -> None:
        self.task = task
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.model = AutoModelForQuestionAnswering.from_pretrained(model_dir).eval()
        self.limit = min(int(getattr(self.model.config, "max_position_embeddings", 512)), 512)

    def info(self) -> dict[str, Any]:
        return {"memory_bytes": module_memory(self.model), "max_input_length": self.limit}

    def run(self, op: str, items: list[Any], params: Mapping[str, Any]) -> list[Any]:
        max_len = min(int(params.get("max_seq_len") or 384), self.limit)
        stride = min(int(params.get("doc_stride") or 128), max_len // 2)
        enc = self.tokenizer(
            [it["question"] for it in items],
            [it["context"] for it in items],
            truncation="only_second",
            max_length=max_len,
            stride=stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
            padding=True,
            return_tensors="pt",
        )
        sample_of = enc.pop("overflow_to_sample_mapping").tolist()
        offsets = enc.pop("offset_mapping").tolist()
        with torch.inference_mode():
            out = self.model(**enc)
        max_answer = int(params.get("max_answer_len") or 15)
        top_k = int(params.get("top_k") or 1)
        candidates: list[list[dict[str, Any]]] = [[] for _ in items]
        for feature, sample in enumerate(sample_of):
            seq_ids = enc.sequence_ids(feature)
            context = torch.tensor([s == 1 for s in seq_ids])
            start = out.start_logits[feature].float().masked_fill(~context, -1e9).softmax(-1)
            end = out.end_logits[feature].float().masked_fill(~context, -1e9).softmax(-1)
            scores = torch.triu(start[:, None] * end[None, :])
            scores = torch.tril(scores, diagonal=max_answer - 1)
            flat = scores.flatten()
            best = torch.topk(flat, min(top_k, flat.numel()))
            text = items[sample]["context"]
            width = scores.shape[1]
            for score, index in zip(best.values.tolist(), best.indices.tolist(), strict=True):
                s_tok, e_tok = divmod(index, width)
                char_start, char_end = offsets[feature][s_tok][0], offsets[feature][e_tok][1]
                candidates[sample].append(
                    {
                        "answer": text[char_start:char_end],
                        "score": float(score),
                        "start": char_start,
                        "end": char_end,
                    }
                )
        results: list[Any] = []
        for found in candidates:
            found.sort(key=lambda c: c["score"], reverse=True)
            unique: list[dict[str, Any]] = []
            for cand in found:
                if all((c["start"], c["end"]) != (cand["start"], cand["end"]) for c in unique):
                    unique.append(cand)
            results.append(unique[0] if top_k == 1 else unique[:top_k])
        return results
