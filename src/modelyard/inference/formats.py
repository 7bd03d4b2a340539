"""Shape per-item outputs into the wire formats clients parse (HF Inference API, TGI, OpenAI)."""

from __future__ import annotations

import base64
import time
import uuid
from typing import Any

import numpy as np
import orjson

from modelyard.inference import tasks as T
from modelyard.inference.requests import OP_EMBED, OP_SIMILARITY, InferenceRequest

#: Tasks whose answer to a single input is still a list of one element (``[[...]]`` / ``[{...}]``).
LIST_WRAPPED = frozenset(
    {
        T.TEXT_CLASSIFICATION,
        T.SUMMARIZATION,
        T.TRANSLATION,
        T.TEXT2TEXT_GENERATION,
        T.TEXT_GENERATION,
        T.IMAGE_TO_TEXT,
    }
)


def vectors_json(rows: list[Any]) -> bytes:
    """``[[f, ...], ...]`` for float vectors, written by orjson straight from the float32 arrays (about 8x faster
    than formatting the floats in Python; each number is the shortest text that reads back as the same float32).
    A value that is not finite is written as ``null``, as JSON has no NaN or infinity."""
    arrays = [np.ascontiguousarray(row, dtype=np.float32) for row in rows]
    return orjson.dumps(arrays, option=orjson.OPT_SERIALIZE_NUMPY)


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def task_response(task: str, request: InferenceRequest, outputs: list[Any]) -> Any:
    """The JSON body for ``POST /``: e.g. text-classification ``[[{label, score}]]``."""
    if request.op == OP_EMBED:
        return [_plain(v) for v in outputs]  # always 2-D, as TEI's /embed
    if request.op == OP_SIMILARITY:
        return outputs[0]
    if not request.single:
        return [_plain(v) for v in outputs]
    if task in LIST_WRAPPED:
        return [outputs[0]]
    return outputs[0]


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_body(outputs: list[Any]) -> bytes:
    """text-to-image / image-to-image: the PNG file the worker encoded (one image per request), sent as the body
    with ``Content-Type: image/png``; ``InferenceClient`` opens it with PIL."""
    data = outputs[0]
    if not isinstance(data, bytes) or not data.startswith(PNG_SIGNATURE):
        raise TypeError("the diffusion runtime did not return PNG bytes")
    return data


def wav_bytes(samples: Any, sampling_rate: int) -> bytes:
    """Mono float samples in [-1, 1] as a 16-bit PCM WAV file (``audio/wav``; every browser plays it)."""
    import io
    import wave

    pcm = (np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0) * 32767.0).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(int(sampling_rate))
        wav.writeframes(pcm.tobytes())
    return buf.getvalue()


def openai_embeddings_json(outputs: list[Any], encoding_format: str, model: str, tokens: int) -> bytes:
    """The OpenAI `/v1/embeddings` body (`{"object": "list", "data": [{"object": "embedding", "index",
    "embedding"}], "model", "usage"}`), written by orjson in one pass: float vectors straight from the
    float32 arrays (each number the shortest text that reads back as the same float32, as :func:`vectors_json`;
    no ``tolist``, no Python float formatting), base64 from the little-endian bytes."""
    data = []
    for i, vector in enumerate(outputs):
        array = np.ascontiguousarray(vector, dtype="<f4")
        embedding: Any = (
            base64.b64encode(array.tobytes()).decode("ascii") if encoding_format == "base64" else array
        )
        data.append({"object": "embedding", "index": i, "embedding": embedding})
    body = {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
    return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)


def new_completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"


def chat_completion(result: dict[str, Any], model: str) -> dict[str, Any]:
    prompt, completion = int(result.get("prompt_tokens", 0)), int(result.get("completion_tokens", 0))
    return {
        "id": new_completion_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "modelyard",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": result["text"]},
                "logprobs": {"content": result["logprobs"]} if result.get("logprobs") is not None else None,
                "finish_reason": result.get("finish_reason", "stop"),
            }
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }


def chat_chunk(
    cid: str,
    model: str,
    delta: dict[str, Any],
    finish_reason: str | None = None,
    usage: Any = None,
    logprobs: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    chunk: dict[str, Any] = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "modelyard",
        "choices": [
            {
                "index": 0,
                "delta": delta,
                "logprobs": {"content": logprobs} if logprobs is not None else None,
                "finish_reason": finish_reason,
            }
        ],
    }
    if usage is not None:
        chunk["usage"] = usage
    return chunk


def tgi_stream_token(index: int, event: dict[str, Any]) -> dict[str, Any]:
    return {
        "index": index,
        "token": {
            "id": event["id"],
            "text": event["text"],
            "logprob": event.get("logprob", 0.0),
            "special": event.get("special", False),
        },
        "generated_text": None,
        "details": None,
    }


def tgi_stream_final(index: int, event: dict[str, Any] | None, result: dict[str, Any]) -> dict[str, Any]:
    """The last TGI stream event carries ``generated_text`` and ``details``."""
    token = event or {"id": 0, "text": "", "logprob": 0.0, "special": True}
    out = tgi_stream_token(index, token)
    out["generated_text"] = result.get("generated_text", "")
    details = result.get("details") or {}
    out["details"] = {
        "finish_reason": details.get("finish_reason", "length"),
        "generated_tokens": details.get("generated_tokens", index),
        "seed": details.get("seed"),
    }
    return out
