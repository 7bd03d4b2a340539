"""Messages between the HTTP front and a model worker process (pickled over a pipe pair).

front → worker: ``("init", WorkerSpec)`` first, then ``("reqs", [(rid, InferenceRequest), ...])`` (the requests
of one event-loop turn), ``("req", rid, InferenceRequest)`` (a streamed one), ``("cancel", rid)``, ``("stop",)``.
worker → front: ``("ready", info)`` or ``("load_error", message)``; then ``("results", [(rid, status, payload)],
stats)`` per batch, ``("tok", rid, event)`` per streamed token and ``("end", rid, status, payload)`` when a
streamed request finishes. ``status`` is ``"ok"``, ``"invalid_input"`` or ``"model_error"``.
"""

from __future__ import annotations

from dataclasses import dataclass

from modelyard.inference.source import ModelSource

STATUS_OK = "ok"
STATUS_INVALID = "invalid_input"
STATUS_MODEL_ERROR = "model_error"


@dataclass(frozen=True)
class WorkerSpec:
    source: ModelSource
    repo_id: str
    revision: str = "main"
    task: str | None = None
    max_batch_size: int = 32
    max_batch_tokens: int = 16384  # continuous batching: prompt + max new tokens of the running sequences
    max_wait_ms: float = 0.0
    threads: int | None = None
    lanes: int | None = None  # batches run at once (EndpointConfig.lanes)
    autocast: str | None = None  # "bfloat16": run the model under torch.autocast (CPU bf16)
    dtype: str = "float32"  # weight precision, checked against float32 at load (runtimes/precision.py)
    dtype_threshold: float | None = None
    # run the forward as a frozen TorchScript trace where the runtime can and the trace checks out
    graph: bool = True
    allow_unsafe_pickle: bool = False  # skip the worker's pickle check (hub/pickles.check_snapshot_dir)
