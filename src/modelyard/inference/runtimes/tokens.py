"""Token-level tasks: token-classification (NER) and fill-mask."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoModelForMaskedLM,
    AutoModelForTokenClassification,
    AutoTokenizer,
    pipeline,
)

from modelyard.inference.errors import InvalidInput
from modelyard.inference.runtimes.base import NoStream, module_memory


def _plain(value: Any) -> Any:
    """numpy scalars → Python numbers (the pipeline returns numpy floats)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    return value


class TokenClassificationRuntime(NoStream):
    def __init__(self, model_dir: Path, task: str) -> None:
        self.task = task
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.model = AutoModelForTokenClassification.from_pretrained(model_dir).eval()
        self.pipe = pipeline("token-classification", model=self.model, tokenizer=tokenizer, device="cpu")

    def info(self) -> dict[str, Any]:
        labels = self.model.config.id2label
        return {"memory_bytes": module_memory(self.model), "labels": [labels[i] for i in sorted(labels)]}

    def run(self, op: str, items: list[Any], params: Mapping[str, Any]) -> list[Any]:
        kwargs: dict[str, Any] = {"aggregation_strategy": params.get("aggregation_strategy", "simple")}
        if params.get("ignore_labels") is not None:
            kwargs["ignore_labels"] = list(params["ignore_labels"])
        if params.get("stride") and kwargs["aggregation_strategy"] != "none":
            kwargs["stride"] = int(params["stride"])
        try:
            out = self.pipe(list(items), batch_size=len(items), **kwargs)
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None
        return [_plain(entities) for entities in out]


class FillMaskRuntime(NoStream):
    def __init__(self, model_dir: Path, task: str) -> None:
        self.task = task
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.model = AutoModelForMaskedLM.from_pretrained(model_dir).eval()
        self.mask_token = self.tokenizer.mask_token
        self.mask_id = self.tokenizer.mask_token_id

    def info(self) -> dict[str, Any]:
        return {"memory_bytes": module_memory(self.model), "mask_token": self.mask_token}

    def _target_ids(self, targets: list[str]) -> list[int]:
        ids: list[int] = []
        for target in targets:
            tokens = self.tokenizer.tokenize(target)
            if not tokens:
                raise InvalidInput(f"Target {target!r} maps to no token")
            token_id: Any = self.tokenizer.convert_tokens_to_ids(tokens[0])
            ids.append(int(token_id))
        return ids

    def run(self, op: str, items: list[Any], params: Mapping[str, Any]) -> list[Any]:
        for text in items:
            count = text.count(self.mask_token)
            if count != 1:
                raise InvalidInput(f"Input must contain exactly one {self.mask_token} token (found {count})")
        enc = self.tokenizer(list(items), padding=True, truncation=True, return_tensors="pt")
        with torch.inference_mode():
            logits = self.model(**enc).logits
        positions = (enc["input_ids"] == self.mask_id).nonzero()
        targets = self._target_ids(list(params["targets"])) if params.get("targets") else None
        top_k = int(params.get("top_k") or 5)
        results = []
        for row, col in positions.tolist():
            probs = torch.softmax(logits[row, col].float(), dim=-1)
            if targets is not None:
                candidates = torch.tensor(targets)
                values, order = torch.sort(probs[candidates], descending=True)
                ids = candidates[order][:top_k]
                values = values[:top_k]
            else:
                values, ids = torch.topk(probs, min(top_k, probs.numel()))
            input_ids = enc["input_ids"][row]
            keep = enc["attention_mask"][row].bool()
            preds = []
            for score, token_id in zip(values.tolist(), ids.tolist(), strict=True):
                filled = input_ids.clone()
                filled[col] = token_id
                sequence = self.tokenizer.decode(filled[keep], skip_special_tokens=True)
                preds.append(
                    {
                        "sequence": sequence,
                        "score": float(score),
                        "token": int(token_id),
                        "token_str": str(self.tokenizer.decode([token_id])).strip(),
                    }
                )
            results.append(preds)
        return results
