"""Continuous batching for causal LMs: sequences join and leave the running batch at every decoding step.

One :class:`ContinuousScheduler` lives in the worker's main thread. Each step it

1. admits waiting sequences, first come first served, while their reservation (prompt tokens + ``max_new_tokens``)
   fits the endpoint's token budget (``max_batch_tokens``) and the batch has fewer than ``max_seqs`` rows;
   each new sequence is prefilled alone (so its first token is exactly the one a lone run gives) and its KV cache
   is merged into the batch cache as a new row (left-padded to the batch length, padding masked out);
2. runs one batched decoding forward for all running rows (``position_ids`` per row, 2-D attention mask);
3. samples one token per row (greedy, or temperature / top-k / top-p with a per-sequence seeded generator),
   records logprobs, checks EOS, ``max_new_tokens`` and stop strings, streams the new text, and drops finished or
   cancelled rows from the cache (and the all-padding columns they leave at the left).

The batch cache is a ``transformers`` ``DynamicCache`` whose layers' ``keys`` / ``values`` (batch, heads, length,
dim) are edited in place on join and leave; a model whose cache is not made of plain ``DynamicLayer`` s (sliding
windows, recurrent state) runs one sequence at a time (still streamed, still budgeted).
"""

from __future__ import annotations

import inspect
import time
import types
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

from modelyard.inference.errors import InvalidInput

STATUS_OK = "ok"
STATUS_INVALID = "invalid_input"
STATUS_MODEL_ERROR = "model_error"


class Sink(Protocol):
    """Where the scheduler's events go (the worker: onto the pipe to the front)."""

    def token(self, rid: int, event: dict[str, Any]) -> None: ...

    def done(self, rid: int, stream: bool, status: str, payload: Any, items: int, seconds: float) -> None: ...

    def flush(self) -> None:
        """Send the token events buffered so far (after each prefill: a first token does not wait for the step)."""
        ...


class Host(Protocol):
    """What the scheduler needs from the runtime: prompts, token texts and the final answer's shape."""

    model: Any
    tokenizer: Any
    eos_ids: set[int]

    def prepare(self, op: str, item: Any, params: Mapping[str, Any]) -> tuple[str, list[int], int]:
        """(prompt text, prompt token ids, max_new_tokens); raises InvalidInput."""
        ...

    def finish(self, op: str, seq: Sequence) -> Any:
        """The answer for one finished sequence (the wire shape of ``op``)."""
        ...

    def run(self, op: str, items: list[Any], params: Mapping[str, Any]) -> list[Any]:
        """Plain ``generate`` for what continuous batching does not do (beam search)."""
        ...


@dataclass(eq=False)
class Sequence:
    job: Job
    prompt: str
    prompt_ids: list[int]
    max_new: int
    params: Mapping[str, Any]
    generator: torch.Generator | None = None
    generated: list[int] = field(default_factory=list)
    text_ids: list[int] = field(default_factory=list)
    text: str = ""  # decoded text of the non-special generated tokens (before any stop cut)
    emitted: int = 0  # characters of ``text`` already streamed
    tokens: list[dict[str, Any]] = field(default_factory=list)
    logprobs: list[dict[str, Any]] = field(default_factory=list)  # OpenAI entries (when asked)
    reason: str | None = None  # "eos_token" | "length" | "stop_sequence"
    length: int = 0  # tokens of this sequence in the cache
    next_token: int = 0  # sampled, not yet fed to the model

    @property
    def reserve(self) -> int:
        return len(self.prompt_ids) + self.max_new


@dataclass(eq=False)
class Job:
    rid: int
    op: str
    stream: bool
    params: Mapping[str, Any]
    seqs: list[Sequence] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    failed: bool = False


def _do_sample(params: Mapping[str, Any]) -> bool:
    temperature = params.get("temperature")
    do_sample = params.get("do_sample")
    if do_sample is None:
        do_sample = temperature is not None and temperature > 0
    if temperature is not None and temperature <= 0:
        do_sample = False
    return bool(do_sample)


def _sample(logits: torch.Tensor, params: Mapping[str, Any], generator: torch.Generator | None) -> int:
    """One token from a (vocab,) row: temperature, top-k, top-p, then a draw with the sequence's generator."""
    scores = logits.float()
    temperature = params.get("temperature")
    if temperature:
        scores = scores / float(temperature)
    top_k = params.get("top_k")
    if top_k and top_k < scores.shape[-1]:
        kth = torch.topk(scores, int(top_k)).values[-1]
        scores = scores.masked_fill(scores < kth, float("-inf"))
    top_p = params.get("top_p")
    if top_p is not None and 0 < top_p < 1:
        sorted_scores, order = torch.sort(scores, descending=True)
        cumulative = torch.softmax(sorted_scores, dim=-1).cumsum(-1)
        drop = cumulative - torch.softmax(sorted_scores, dim=-1) > float(top_p)  # keep at least the best one
        scores = scores.masked_fill(torch.zeros_like(drop).scatter(0, order, drop), float("-inf"))
    probs = torch.softmax(scores, dim=-1)
    return int(torch.multinomial(probs, 1, generator=generator).item())


GROW = 64  # spare cache positions allocated at a time (the batch cache grows in place, not by torch.cat)


def _grow_update(
    layer: Any, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
) -> tuple[torch.Tensor, torch.Tensor]:
    """``DynamicLayer.update`` for the batch cache: write the new positions into a buffer with spare room and
    return views of it, instead of copying the whole cache with ``torch.cat`` at every step. A join or a leave
    replaces ``keys`` / ``values`` with fresh tensors; the next update then allocates a new buffer."""
    keys, values = layer.keys, layer.values
    length, n = keys.shape[-2], key_states.shape[-2]
    buf_k, buf_v = layer.grow_buffers
    if buf_k is None or keys.data_ptr() != buf_k.data_ptr() or length + n > buf_k.shape[2]:
        rows, heads, _, dim = keys.shape
        buf_k = keys.new_empty(rows, heads, length + n + GROW, dim)
        buf_v = values.new_empty(rows, heads, length + n + GROW, values.shape[-1])
        buf_k[:, :, :length] = keys
        buf_v[:, :, :length] = values
        layer.grow_buffers = (buf_k, buf_v)
    buf_k[:, :, length : length + n] = key_states
    buf_v[:, :, length : length + n] = value_states
    layer.keys, layer.values = buf_k[:, :, : length + n], buf_v[:, :, : length + n]
    return layer.keys, layer.values


def _hold_back(text: str, stops: list[str]) -> int:
    """How many trailing characters of ``text`` could be the start of a stop string (not streamed yet)."""
    hold = 0
    for stop in stops:
        for k in range(min(len(stop) - 1, len(text)), hold, -1):
            if text.endswith(stop[:k]):
                hold = k
                break
    return hold


class ContinuousScheduler:
    def __init__(self, host: Host, sink: Sink, max_batch_tokens: int, max_seqs: int) -> None:
        self.host = host
        self.sink = sink
        self.max_batch_tokens = max_batch_tokens
        self.max_seqs = max(1, max_seqs)
        self.waiting: deque[Sequence] = deque()
        self.running: list[Sequence] = []
        self.jobs: dict[int, Job] = {}
        self.cache: Any = None
        self.mask: torch.Tensor | None = None  # (rows, cache length) 1 = real token, 0 = left padding
        self.reserved = 0
        self.special = set(getattr(host.tokenizer, "all_special_ids", []) or []) | set(host.eos_ids)
        self.steps = 0
        self.max_rows_seen = 0
        forward = inspect.signature(host.model.forward).parameters
        self.cache_arg = (
            "cache" if "cache" in forward else "past_key_values"
        )  # transformers >= 5.2x: ``cache``
        self.keep_last = {"logits_to_keep": 1} if "logits_to_keep" in forward else {}
        self.batchable: bool | None = None  # the model's cache is plain DynamicLayers (rows can be merged)

    # ---------------------------------------------------------------------------------------- admission
    def idle(self) -> bool:
        return not self.running and not self.waiting

    def rids(self) -> set[int]:
        return set(self.jobs)

    def submit(
        self, rid: int, op: str, items: tuple[Any, ...], params: Mapping[str, Any], stream: bool
    ) -> None:
        job = Job(rid, op, stream, params)
        try:
            if params.get("num_beams", 1) > 1:
                if stream:
                    raise InvalidInput("Beam search (num_beams > 1) cannot be streamed")
                outputs = self.host.run(op, list(items), params)  # beam search: plain generate, inline
                self.sink.done(rid, False, STATUS_OK, outputs, len(items), time.monotonic() - job.started)
                return
            for item in items:
                prompt, ids, max_new = self.host.prepare(op, item, params)
                seq = Sequence(job, prompt, ids, max_new, params)
                if seq.reserve > self.max_batch_tokens:
                    raise InvalidInput(
                        f"This request needs {seq.reserve} tokens ({len(ids)} prompt + {max_new} max new tokens) "
                        f"but the endpoint's token budget (max_batch_tokens) is {self.max_batch_tokens}; "
                        "shorten the prompt or lower max_tokens / max_new_tokens"
                    )
                if _do_sample(params) and params.get("seed") is not None:
                    seq.generator = torch.Generator().manual_seed(int(params["seed"]))
                job.seqs.append(seq)
        except InvalidInput as exc:
            self.sink.done(rid, stream, STATUS_INVALID, exc.message, len(items), 0.0)
            return
        except Exception as exc:
            self.sink.done(rid, stream, STATUS_MODEL_ERROR, f"{type(exc).__name__}: {exc}", len(items), 0.0)
            return
        self.jobs[rid] = job
        self.waiting.extend(job.seqs)

    def cancel(self, rid: int) -> bool:
        """Drop a request (client gone): its rows leave the batch now and its tokens return to the budget."""
        job = self.jobs.pop(rid, None)
        if job is None:
            return False
        self.waiting = deque(s for s in self.waiting if s.job is not job)
        self._remove([s for s in self.running if s.job is job])
        self.sink.done(rid, job.stream, STATUS_MODEL_ERROR, "cancelled", len(job.seqs), 0.0)
        return True

    def _admit(self) -> list[Sequence]:
        admitted: list[Sequence] = []
        while self.waiting:
            seq = self.waiting[0]
            rows = len(self.running) + len(admitted)
            limit = self.max_seqs if self.batchable else 1  # unknown until the first prefill: one
            if rows >= limit or (rows and self.reserved + seq.reserve > self.max_batch_tokens):
                break
            self.waiting.popleft()
            self.reserved += seq.reserve
            admitted.append(seq)
        return admitted

    # -------------------------------------------------------------------------------------------- steps
    def step(self) -> None:
        """Admit what fits, prefill it, then one decoding step for every running row."""
        for seq in self._admit():
            if seq.job.failed:
                self.reserved -= seq.reserve
                continue
            try:
                self._prefill(seq)
            except Exception as exc:
                self.reserved -= seq.reserve
                self._fail(seq.job, exc)
            self.sink.flush()
        if not self.running:
            return
        try:
            self._decode()
        except Exception as exc:
            for job in {id(s.job): s.job for s in self.running}.values():
                self._fail(job, exc)

    def _forward(self, cache: Any, **kwargs: Any) -> torch.Tensor:
        kwargs[self.cache_arg] = cache
        with torch.inference_mode():
            out = self.host.model(**kwargs, **self.keep_last, use_cache=True, return_dict=True)
        self._new_cache = getattr(out, self.cache_arg, None) or cache
        logits: torch.Tensor = out.logits[:, -1, :].float()  # a bfloat16/int8 endpoint samples in float32 too
        return logits

    def _prefill(self, seq: Sequence) -> None:
        ids = torch.tensor([seq.prompt_ids], dtype=torch.long)
        logits = self._forward(DynamicCache(config=self.host.model.config), input_ids=ids)
        seq.length = len(seq.prompt_ids)
        if self.batchable is None:
            layers = getattr(self._new_cache, "layers", None) or [None]
            self.batchable = all(type(layer) is DynamicLayer for layer in layers)
        self._join(seq, self._new_cache)
        self._after_logits([seq], logits)

    def _decode(self) -> None:
        assert self.mask is not None
        rows = self.running
        ids = torch.tensor([[s.next_token] for s in rows], dtype=torch.long)
        positions = torch.tensor([[s.length] for s in rows], dtype=torch.long)
        mask = torch.cat([self.mask, torch.ones(len(rows), 1, dtype=self.mask.dtype)], dim=1)
        logits = self._forward(self.cache, input_ids=ids, position_ids=positions, attention_mask=mask)
        self.cache, self.mask = self._new_cache, mask
        for s in rows:
            s.length += 1
        self.steps += 1
        self._after_logits(list(rows), logits)

    # ------------------------------------------------------------------------------------ cache rows
    def _join(self, seq: Sequence, cache: Any) -> None:
        """Append ``seq`` (its own one-row cache) to the batch as the last row."""
        length = len(seq.prompt_ids)
        row_mask = torch.ones(1, length, dtype=torch.long)
        if self.cache is None or not self.running:
            self.cache, self.mask = cache, row_mask
            for layer in cache.layers if self.batchable else ():  # grows in place (see _grow_update)
                layer.grow_buffers = (None, None)
                layer.update = types.MethodType(_grow_update, layer)
        else:
            assert self.mask is not None
            total = max(self.mask.shape[1], length)
            pad_batch, pad_row = total - self.mask.shape[1], total - length
            for mine, theirs in zip(self.cache.layers, cache.layers, strict=True):
                mine.keys = torch.cat(
                    [F.pad(mine.keys, (0, 0, pad_batch, 0)), F.pad(theirs.keys, (0, 0, pad_row, 0))]
                )
                mine.values = torch.cat(
                    [F.pad(mine.values, (0, 0, pad_batch, 0)), F.pad(theirs.values, (0, 0, pad_row, 0))]
                )
            self.mask = torch.cat([F.pad(self.mask, (pad_batch, 0)), F.pad(row_mask, (pad_row, 0))])
        self.running.append(seq)
        self.max_rows_seen = max(self.max_rows_seen, len(self.running))

    def _remove(self, leaving: list[Sequence]) -> None:
        if not leaving:
            return
        gone = {id(s) for s in leaving}
        keep = [i for i, s in enumerate(self.running) if id(s) not in gone]
        for s in leaving:
            self.reserved -= s.reserve
        self.running = [self.running[i] for i in keep]
        if not self.running:
            self.cache, self.mask = None, None
            return
        assert self.mask is not None
        index = torch.tensor(keep, dtype=torch.long)
        mask = self.mask.index_select(0, index)
        first = int(mask.any(dim=0).long().argmax())  # columns left of this are padding in every row
        self.mask = mask[:, first:]
        for layer in self.cache.layers:
            layer.keys = layer.keys.index_select(0, index)[:, :, first:]
            layer.values = layer.values.index_select(0, index)[:, :, first:]

    # ------------------------------------------------------------------------------------------ tokens
    def _after_logits(self, rows: list[Sequence], logits: torch.Tensor) -> None:
        logprobs = torch.log_softmax(logits.float(), dim=-1)
        greedy = logits.argmax(dim=-1).tolist()
        finished: list[Sequence] = []
        for i, seq in enumerate(rows):
            params = seq.params
            row = logits[i]
            adjusted = False
            if params.get("repetition_penalty") and params["repetition_penalty"] != 1.0:
                row = row.clone()
                adjusted = True
                seen = torch.tensor(sorted(set(seq.prompt_ids + seq.generated)), dtype=torch.long)
                scores = row[seen]
                penalty = float(params["repetition_penalty"])
                row[seen] = torch.where(scores < 0, scores * penalty, scores / penalty)
            if len(seq.generated) < int(params.get("min_new_tokens") or 0) and self.host.eos_ids:
                row = row.clone() if not adjusted else row
                adjusted = True
                row[list(self.host.eos_ids)] = float("-inf")
            if _do_sample(params):
                token = _sample(row, params, seq.generator)
            else:
                token = int(row.argmax()) if adjusted else int(greedy[i])
            if self._accept(seq, token, logprobs[i]):
                finished.append(seq)
        self._remove(finished)
        for seq in finished:
            job = seq.job
            if all(s.reason is not None for s in job.seqs) and self.jobs.pop(job.rid, None) is not None:
                self._complete(job)

    def _accept(self, seq: Sequence, token: int, logprobs: torch.Tensor) -> bool:
        """Record ``token`` for ``seq``; stream its text; True when the sequence is finished."""
        params = seq.params
        seq.generated.append(token)
        seq.next_token = token
        logprob = float(logprobs[token])
        special = token in self.special
        eos = token in self.host.eos_ids
        stops = [s for s in (params.get("stop") or []) if s]
        if not special:
            seq.text_ids.append(token)
            seq.text = str(self.host.tokenizer.decode(seq.text_ids, skip_special_tokens=True))
        cut = -1
        for stop in stops:
            pos = seq.text.find(stop, max(0, seq.emitted - len(stop)))
            if pos >= 0 and (cut < 0 or pos < cut):
                cut = pos
        if cut >= 0:
            seq.reason = "stop_sequence"
            seq.text = seq.text[:cut]
        elif eos:
            seq.reason = "eos_token"
        elif len(seq.generated) >= seq.max_new:
            seq.reason = "length"
        token_text = "" if special else str(self.host.tokenizer.decode([token]))
        seq.tokens.append({"id": token, "text": token_text, "logprob": logprob, "special": special})
        entry = None
        if params.get("logprobs") and not special:
            entry = self._logprob_entry(token_text, logprob, logprobs, int(params.get("top_logprobs") or 0))
            seq.logprobs.append(entry)
        if seq.job.stream:
            if seq.reason is not None:
                safe = len(seq.text)
            elif seq.text.endswith("\ufffd"):
                safe = seq.emitted
            else:
                safe = len(seq.text) - _hold_back(seq.text, stops)
            new_text = seq.text[seq.emitted : max(safe, seq.emitted)]
            seq.emitted = max(safe, seq.emitted)
            event: dict[str, Any] = {"id": token, "text": new_text, "logprob": logprob, "special": special}
            if entry is not None:
                event["logprobs"] = [entry]
            self.sink.token(seq.job.rid, event)
        return seq.reason is not None

    def _logprob_entry(self, text: str, logprob: float, logprobs: torch.Tensor, top: int) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "token": text,
            "logprob": logprob,
            "bytes": list(text.encode()),
            "top_logprobs": [],
        }
        if top > 0:
            values, ids = torch.topk(logprobs, min(top, logprobs.shape[-1]))
            for value, tid in zip(values.tolist(), ids.tolist(), strict=True):
                piece = str(self.host.tokenizer.decode([tid]))
                entry["top_logprobs"].append(
                    {"token": piece, "logprob": value, "bytes": list(piece.encode())}
                )
        return entry

    # ----------------------------------------------------------------------------------------- answers
    def _complete(self, job: Job) -> None:
        try:
            outputs = [self.host.finish(job.op, seq) for seq in job.seqs]
        except Exception as exc:
            self.sink.done(job.rid, job.stream, STATUS_MODEL_ERROR, f"{type(exc).__name__}: {exc}", 1, 0.0)
            return
        payload = outputs[0] if job.stream else outputs
        self.sink.done(job.rid, job.stream, STATUS_OK, payload, len(job.seqs), time.monotonic() - job.started)

    def _fail(self, job: Job, exc: BaseException) -> None:
        job.failed = True
        self._remove([s for s in self.running if s.job is job])
        self.waiting = deque(s for s in self.waiting if s.job is not job)
        if self.jobs.pop(job.rid, None) is not None:
            message = f"{type(exc).__name__}: {exc}"
            self.sink.done(job.rid, job.stream, STATUS_MODEL_ERROR, message, len(job.seqs), 0.0)
