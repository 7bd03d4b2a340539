"""Per-endpoint weight precision (``EndpointConfig.dtype``) with an accuracy check at load.

``bfloat16`` casts the weights (inputs stay as they are; runtimes return float32); ``int8`` is dynamic
quantization of the ``nn.Linear`` layers (int8 weights, activations quantized per batch). Before converting,
the runtime's :meth:`precision_probe` runs fixed inputs through the float32 model; after, the same inputs run
through the converted one and the two are compared (``precision_metric``: ``"cosine"``, the smallest cosine
between the embeddings, or ``"prob"``, one minus the largest absolute difference of the class probabilities).
Below the threshold the load fails with :class:`PrecisionCheckFailed`, so the endpoint never serves a model
that answers differently from its float32 weights.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch

from modelyard.inference.errors import InvalidInput

DTYPES = ("float32", "bfloat16", "int8")
DEFAULT_THRESHOLDS = {"cosine": 0.99, "prob": 0.98}

PROBE_TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "A model endpoint serves predictions over HTTP.",
    "hello",
    "Weights in bfloat16 keep the float32 exponent range with fewer mantissa bits, so results move slightly.",
    "1 2 3 4 5 6 7 8 9 10",
    "Où est la gare ? ¿Dónde está la estación?",
]


class PrecisionCheckFailed(InvalidInput):
    """The converted model disagrees with the float32 one beyond the threshold."""

    code = "PrecisionCheckFailed"


def convert(model: torch.nn.Module, dtype: str) -> torch.nn.Module:
    """The model in ``dtype``: ``bfloat16`` in place, ``int8`` a dynamically quantized copy."""
    if dtype == "bfloat16":
        return model.to(torch.bfloat16)
    if dtype == "int8":
        # torch 2.13 keeps dynamic quantization only under torch.ao.quantization (deprecated in favour of torchao,
        # which this project does not depend on); its deprecation warnings are silenced here, and only here
        from torch.ao.quantization import quantize_dynamic

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantized: torch.nn.Module = quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)  # type: ignore[no-untyped-call]
        return quantized
    return model


def agreement(metric: str, reference: torch.Tensor, converted: torch.Tensor) -> float:
    reference, converted = reference.float(), converted.float()
    if metric == "cosine":
        return float(torch.nn.functional.cosine_similarity(reference, converted, dim=-1).min())
    return 1.0 - float((reference - converted).abs().max())


def apply_precision(runtime: Any, dtype: str, threshold: float | None = None) -> dict[str, Any]:
    """Convert ``runtime.model`` to ``dtype`` and check it; the facts for ``/info`` (raises when the check fails)."""
    if dtype not in DTYPES:
        raise InvalidInput(f"dtype must be one of {', '.join(DTYPES)}")
    if dtype == "float32":
        return {"dtype": "float32"}
    probe = getattr(runtime, "precision_probe", None)
    metric = getattr(runtime, "precision_metric", None)
    if probe is None or metric is None or not hasattr(runtime, "model"):
        raise InvalidInput(f"dtype {dtype!r} is not supported for {runtime.task}; use float32")
    limit = DEFAULT_THRESHOLDS[metric] if threshold is None else threshold
    with torch.inference_mode():
        reference = probe()
    runtime.model = convert(runtime.model, dtype)
    if hasattr(runtime, "init_forward"):  # GraphForward: the eager forward must call the converted model
        runtime.init_forward(runtime.output)
    with torch.inference_mode():
        figure = agreement(metric, reference, probe())
    check = {
        "metric": "min_cosine" if metric == "cosine" else "1-max_prob_diff",
        "value": figure,
        "threshold": limit,
    }
    if not figure >= limit:  # NaN fails too
        raise PrecisionCheckFailed(
            f"dtype {dtype!r} failed the accuracy check at load: {check['metric']} {figure:.4f} against float32 "
            f"on {len(PROBE_TEXTS)} probe inputs is below {limit}; serve it as float32 (or bfloat16), or lower "
            "dtype_threshold"
        )
    # module_memory counts parameters, and int8 Linear weights are packed outside them: count the state dict
    return {"dtype": dtype, "dtype_check": check, "memory_bytes": state_bytes(runtime.model.state_dict())}


def state_bytes(value: Any) -> int:
    """Bytes of the tensors in a state dict (quantized Linear layers keep theirs in tuples)."""
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, dict):
        return sum(state_bytes(v) for v in value.values())
    if isinstance(value, tuple | list):
        return sum(state_bytes(v) for v in value)
    return 0
