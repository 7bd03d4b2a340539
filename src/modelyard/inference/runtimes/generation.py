"""Generation kwargs, stop sequences and token streaming shared by seq2seq and causal LMs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from transformers import LogitsProcessor
from transformers.generation.streamers import BaseStreamer

from modelyard.inference.runtimes.base import Emit


def generate_kwargs(params: Mapping[str, Any], default_new_tokens: int) -> dict[str, Any]:
    """Map wire parameters (TGI / OpenAI names) to ``model.generate`` kwargs (greedy unless asked)."""
    temperature = params.get("temperature")
    do_sample = params.get("do_sample")
    if do_sample is None:
        do_sample = temperature is not None and temperature > 0
    if temperature is not None and temperature <= 0:
        do_sample = False
    kwargs: dict[str, Any] = {"do_sample": bool(do_sample)}
    if "max_new_tokens" in params:
        kwargs["max_new_tokens"] = int(params["max_new_tokens"])
    elif "max_length" in params:
        kwargs["max_length"] = int(params["max_length"])
    else:
        kwargs["max_new_tokens"] = default_new_tokens
    if params.get("min_new_tokens"):
        kwargs["min_new_tokens"] = int(params["min_new_tokens"])
    if do_sample:
        if temperature:
            kwargs["temperature"] = float(temperature)
        if params.get("top_p") is not None and params["top_p"] > 0:
            kwargs["top_p"] = float(params["top_p"])
        if params.get("top_k"):
            kwargs["top_k"] = int(params["top_k"])
    if params.get("num_beams"):
        kwargs["num_beams"] = int(params["num_beams"])
    if params.get("repetition_penalty"):
        kwargs["repetition_penalty"] = float(params["repetition_penalty"])
    if "seed" in params:
        torch.manual_seed(int(params["seed"]))
    return kwargs


def cut_at_stop(text: str, stops: list[str] | None) -> tuple[str, bool]:
    """Truncate ``text`` before the first stop sequence; True if one was found."""
    best = -1
    for stop in stops or []:
        pos = text.find(stop) if stop else -1
        if pos >= 0 and (best < 0 or pos < best):
            best = pos
    return (text[:best], True) if best >= 0 else (text, False)


class LogprobRecorder(LogitsProcessor):
    """Keeps the log-softmax of the last processed scores (read by the streamer for ``logprob``)."""

    def __init__(self) -> None:
        self.last: torch.Tensor | None = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        self.last = torch.log_softmax(scores.float(), dim=-1)
        return scores


class TokenStreamer(BaseStreamer):
    """Decodes new tokens incrementally and emits TGI-style token events.

    Each event is ``{"id", "text", "logprob", "special"}``; ``text`` is the newly decoded suffix (held back
    while it ends in an incomplete UTF-8 sequence).
    """

    def __init__(self, tokenizer: Any, emit: Emit, recorder: LogprobRecorder, skip_prompt: bool) -> None:
        self.tokenizer = tokenizer
        self.emit = emit
        self.recorder = recorder
        self.skip_prompt = skip_prompt
        self.ids: list[int] = []
        self.printed = ""
        self.special = set(getattr(tokenizer, "all_special_ids", []) or [])
        self.count = 0

    def put(self, value: torch.Tensor) -> None:
        if self.skip_prompt:
            self.skip_prompt = False
            return
        for token_id in value.reshape(-1).tolist():
            logprob = 0.0
            if self.recorder.last is not None:
                logprob = float(self.recorder.last[0, token_id])
            self.count += 1
            special = token_id in self.special
            text = ""
            if not special:
                self.ids.append(int(token_id))
                decoded = self.tokenizer.decode(self.ids, skip_special_tokens=True)
                if not decoded.endswith("\ufffd"):
                    text = decoded[len(self.printed) :]
                    self.printed = decoded
            self.emit({"id": int(token_id), "text": text, "logprob": logprob, "special": special})

    def end(self) -> None:
        pass
