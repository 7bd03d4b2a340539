"""Causal language models: text-generation (TGI shapes) and chat (OpenAI), batched or streamed."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LogitsProcessorList

from modelyard.inference.errors import InvalidInput
from modelyard.inference.requests import OP_CHAT, OP_GENERATE
from modelyard.inference.runtimes.base import Emit, module_memory
from modelyard.inference.runtimes.continuous import ContinuousScheduler, Sequence, Sink
from modelyard.inference.runtimes.generation import (
    LogprobRecorder,
    TokenStreamer,
    cut_at_stop,
    generate_kwargs,
)
from modelyard.inference.runtimes.precision import PROBE_TEXTS

DEFAULT_NEW_TOKENS = {OP_GENERATE: 20, OP_CHAT: 128}


class CausalLMRuntime:
    """Text generation and chat. ``continuous = True``: the worker hands every request to :meth:`scheduler`
    (continuous batching, :mod:`.continuous`); :meth:`run` / :meth:`stream` are plain ``generate`` (beam search,
    and callers that drive the runtime directly)."""

    continuous = True
    precision_metric = "prob"  # the accuracy check of a bfloat16 / int8 endpoint (runtimes/precision.py)

    def __init__(self, model_dir: Path, task: str) -> None:
        self.task = task
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token or self.tokenizer.unk_token
        self.model = AutoModelForCausalLM.from_pretrained(model_dir).eval()  # type: ignore[no-untyped-call]
        self.eos_ids = self._eos_ids()

    def _eos_ids(self) -> set[int]:
        eos = self.model.generation_config.eos_token_id
        if eos is None:
            eos = self.tokenizer.eos_token_id
        if eos is None:
            return set()
        return {int(e) for e in eos} if isinstance(eos, list) else {int(eos)}

    def precision_probe(self) -> torch.Tensor:
        """Next-token probabilities after each probe text: what sampling and greedy decoding read."""
        enc = self.tokenizer(PROBE_TEXTS, padding=True, return_tensors="pt")
        with torch.inference_mode():
            logits = self.model(**enc).logits[:, -1, :].float()
        return torch.softmax(logits, dim=-1)

    def info(self) -> dict[str, Any]:
        return {
            "memory_bytes": module_memory(self.model),
            "chat_template": bool(getattr(self.tokenizer, "chat_template", None)),
            "max_input_length": int(getattr(self.model.config, "max_position_embeddings", 2048)),
            "continuous_batching": True,
        }

    # ------------------------------------------------------------------------------ continuous batching
    def scheduler(self, sink: Sink, max_batch_tokens: int, max_seqs: int) -> ContinuousScheduler:
        return ContinuousScheduler(self, sink, max_batch_tokens, max_seqs)

    def prepare(self, op: str, item: Any, params: Mapping[str, Any]) -> tuple[str, list[int], int]:
        """(prompt text, prompt token ids, max new tokens) of one item."""
        if op not in (OP_GENERATE, OP_CHAT):
            raise ValueError(f"unknown op {op}")
        prompt = self._prompt(op, item)
        ids = [int(t) for t in self.tokenizer(prompt, add_special_tokens=op != OP_CHAT)["input_ids"]]
        if not ids:
            raise InvalidInput("Empty prompt")
        if "max_new_tokens" in params:
            max_new = int(params["max_new_tokens"])
        elif "max_length" in params:
            max_new = int(params["max_length"]) - len(ids)
            if max_new < 1:
                raise InvalidInput(
                    f"max_length {params['max_length']} leaves no room after {len(ids)} prompt tokens"
                )
        else:
            max_new = DEFAULT_NEW_TOKENS[op]
        return prompt, ids, max_new

    def finish(self, op: str, seq: Sequence) -> dict[str, Any]:
        """The answer of one finished sequence (a streamed text-generation answer always has ``details``)."""
        params = {**seq.params, "details": True} if seq.job.stream else seq.params
        reason = seq.reason or "length"
        result = self._result(op, seq.prompt, seq.text, reason, len(seq.prompt_ids), seq.tokens, params)
        if op == OP_CHAT and seq.params.get("logprobs"):
            result["logprobs"] = seq.logprobs
        return result

    # ------------------------------------------------------------------------------------------ prompts
    def _prompt(self, op: str, item: Any) -> str:
        if op == OP_CHAT:
            if not getattr(self.tokenizer, "chat_template", None):
                raise InvalidInput("This model has no chat template; use POST / (text-generation) instead")
            text = self.tokenizer.apply_chat_template(item, add_generation_prompt=True, tokenize=False)
            return str(text)
        return str(item)

    def _encode(self, prompts: list[str], op: str) -> dict[str, torch.Tensor]:
        add_special = op != OP_CHAT
        enc = self.tokenizer(prompts, padding=True, add_special_tokens=add_special, return_tensors="pt")
        if enc["input_ids"].shape[1] == 0:
            raise InvalidInput("Empty prompt")
        return dict(enc)

    # -------------------------------------------------------------------------------------- batched run
    def run(self, op: str, items: list[Any], params: Mapping[str, Any]) -> list[Any]:
        if op not in (OP_GENERATE, OP_CHAT):
            raise ValueError(f"unknown op {op}")
        prompts = [self._prompt(op, item) for item in items]
        enc = self._encode(prompts, op)
        kwargs = generate_kwargs(params, DEFAULT_NEW_TOKENS[op])
        with torch.inference_mode():
            out = self.model.generate(
                **enc,
                **kwargs,
                pad_token_id=self.tokenizer.pad_token_id,
                output_scores=True,
                return_dict_in_generate=True,
            )
        prompt_len = enc["input_ids"].shape[1]
        new_tokens = out.sequences[:, prompt_len:]
        logprobs = self.model.compute_transition_scores(out.sequences, out.scores, normalize_logits=True)
        limit = kwargs.get("max_new_tokens")
        results = []
        for row, prompt in enumerate(prompts):
            ids = new_tokens[row].tolist()
            ended = next((i for i, t in enumerate(ids) if t in self.eos_ids), None)
            kept = ids if ended is None else ids[:ended]
            text = str(self.tokenizer.decode(kept, skip_special_tokens=True))
            text, stopped = cut_at_stop(text, params.get("stop"))
            if stopped:
                reason = "stop_sequence"
            elif ended is not None or (limit is not None and len(ids) < limit):
                reason = "eos_token"
            else:
                reason = "length"
            n_prompt = int(enc["attention_mask"][row].sum())
            tokens = [
                {
                    "id": int(t),
                    "text": self.tokenizer.decode([t]),
                    "logprob": float(logprobs[row, i]),
                    "special": t in self.eos_ids,
                }
                for i, t in enumerate(ids[: len(kept) + (0 if ended is None else 1)])
            ]
            results.append(self._result(op, prompt, text, reason, n_prompt, tokens, params))
        return results

    def _result(
        self,
        op: str,
        prompt: str,
        text: str,
        reason: str,
        n_prompt: int,
        tokens: list[dict[str, Any]],
        params: Mapping[str, Any],
    ) -> dict[str, Any]:
        if op == OP_CHAT:
            return {
                "text": text,
                "finish_reason": "length" if reason == "length" else "stop",
                "prompt_tokens": n_prompt,
                "completion_tokens": len(tokens),
            }
        full = prompt + text if params.get("return_full_text", False) else text
        result: dict[str, Any] = {"generated_text": full}
        if params.get("details"):
            result["details"] = {
                "finish_reason": reason,
                "generated_tokens": len(tokens),
                "seed": params.get("seed"),
                "prefill": [],
                "tokens": tokens,
            }
        return result

    # ---------------------------------------------------------------------------------------- streaming
    def stream(self, op: str, item: Any, params: Mapping[str, Any], emit: Emit) -> Any:
        prompt = self._prompt(op, item)
        enc = self._encode([prompt], op)
        kwargs = generate_kwargs(params, DEFAULT_NEW_TOKENS[op])
        recorder = LogprobRecorder()
        streamer = TokenStreamer(self.tokenizer, emit, recorder, skip_prompt=True)
        stops = list(params.get("stop") or [])
        if stops:
            kwargs["stop_strings"] = stops
            kwargs["tokenizer"] = self.tokenizer
        with torch.inference_mode():
            out = self.model.generate(
                **enc,
                **kwargs,
                pad_token_id=self.tokenizer.pad_token_id,
                streamer=streamer,
                logits_processor=LogitsProcessorList([recorder]),
            )
        ids = out[0, enc["input_ids"].shape[1] :].tolist()
        ended = any(t in self.eos_ids for t in ids)
        kept = [t for t in ids if t not in self.eos_ids]
        text, stopped = cut_at_stop(str(self.tokenizer.decode(kept, skip_special_tokens=True)), stops)
        reason = "stop_sequence" if stopped else "eos_token" if ended else "length"
        tokens = [{"id": t} for t in ids]
        n_prompt = int(enc["input_ids"].shape[1])
        return self._result(op, prompt, text, reason, n_prompt, tokens, {**params, "details": True})
