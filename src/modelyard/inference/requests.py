"""Parse and validate request bodies into :class:`InferenceRequest` (no torch; runs in the HTTP process).

Bad input is rejected here with :class:`InvalidInput` (HTTP 422) before it reaches a model queue.
Shapes follow ``docs/inference.md`` / the HF Inference API as ``huggingface_hub.InferenceClient`` sends it.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from modelyard import jsonlimits
from modelyard.errors import BadPayload
from modelyard.inference import tasks as T
from modelyard.inference.errors import InvalidInput

MAX_CLIENT_BATCH = 64
MAX_SPEECH_CHARS = 2000

OP_EMBED = "embed"
OP_SIMILARITY = "similarity"
OP_GENERATE = "generate"
OP_CHAT = "chat"


@dataclass(frozen=True, slots=True)
class InferenceRequest:
    """One client request: ``items`` are run (batched with other requests) and answered in order."""

    op: str
    items: tuple[Any, ...]
    params: Mapping[str, Any] = field(default_factory=dict)
    single: bool = True
    stream: bool = False


Validator = Callable[[str, Any], Any]


def _int(lo: int | None = None, hi: int | None = None) -> Validator:
    def check(name: str, v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int):
            if isinstance(v, float) and v.is_integer():
                v = int(v)
            else:
                raise InvalidInput(f"Parameter {name!r} must be an integer")
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise InvalidInput(f"Parameter {name!r} must be in [{lo}, {hi}]")
        return int(v)

    return check


def _float(lo: float | None = None, hi: float | None = None) -> Validator:
    def check(name: str, v: Any) -> float:
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise InvalidInput(f"Parameter {name!r} must be a number")
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise InvalidInput(f"Parameter {name!r} must be in [{lo}, {hi}]")
        return float(v)

    return check


def _bool(name: str, v: Any) -> bool:
    if not isinstance(v, bool):
        raise InvalidInput(f"Parameter {name!r} must be a boolean")
    return v


def _str(name: str, v: Any) -> str:
    if not isinstance(v, str):
        raise InvalidInput(f"Parameter {name!r} must be a string")
    return v


def _str_list(name: str, v: Any) -> list[str]:
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
        raise InvalidInput(f"Parameter {name!r} must be a list of strings")
    return list(v)


def _choice(*options: str) -> Validator:
    def check(name: str, v: Any) -> str:
        if v not in options:
            raise InvalidInput(f"Parameter {name!r} must be one of {', '.join(options)}")
        return str(v)

    return check


_GENERATION: dict[str, Validator] = {
    "max_new_tokens": _int(1, 4096),
    "max_length": _int(1, 8192),
    "min_new_tokens": _int(0, 4096),
    "temperature": _float(0.0, 100.0),
    "top_p": _float(0.0, 1.0),
    "top_k": _int(0, 100000),
    "do_sample": _bool,
    "num_beams": _int(1, 16),
    "repetition_penalty": _float(0.0, 100.0),
    "seed": _int(0, 2**63 - 1),
    "stop": _str_list,
    "stop_sequences": _str_list,
    "return_full_text": _bool,
    "details": _bool,
    "truncate": _int(1, 1_000_000),
    "logprobs": _bool,  # OpenAI: the chosen token's logprob (+ top_logprobs alternatives) per output token
    "top_logprobs": _int(0, 20),
}
_SCORES: dict[str, Validator] = {
    "top_k": _int(1, 100000),
    "function_to_apply": _choice("sigmoid", "softmax", "none"),
}

PARAMS: dict[str, dict[str, Validator]] = {
    T.TEXT_CLASSIFICATION: _SCORES,
    T.TOKEN_CLASSIFICATION: {
        "aggregation_strategy": _choice("none", "simple", "first", "average", "max"),
        "ignore_labels": _str_list,
        "stride": _int(0, 100000),
    },
    T.QUESTION_ANSWERING: {
        "top_k": _int(1, 100),
        "doc_stride": _int(0, 100000),
        "max_answer_len": _int(1, 100000),
        "max_seq_len": _int(8, 100000),
        "max_question_len": _int(1, 100000),
        "handle_impossible_answer": _bool,
        "align_to_words": _bool,
    },
    T.FILL_MASK: {"top_k": _int(1, 1000), "targets": _str_list},
    T.ZERO_SHOT_CLASSIFICATION: {
        "candidate_labels": _str_list,
        "multi_label": _bool,
        "hypothesis_template": _str,
    },
    T.FEATURE_EXTRACTION: {
        "normalize": _bool,
        "truncate": _bool,
        "truncation_direction": _choice("left", "right", "Left", "Right"),
        "prompt_name": _str,
        "dimensions": _int(1, 1_000_000),
    },
    T.SUMMARIZATION: {
        **_GENERATION,
        "clean_up_tokenization_spaces": _bool,
        "truncation": _str,
        "src_lang": _str,
        "tgt_lang": _str,
    },
    T.TEXT_GENERATION: _GENERATION,
    T.AUTOMATIC_SPEECH_RECOGNITION: {"return_timestamps": _bool},
    T.IMAGE_CLASSIFICATION: _SCORES,
    T.AUDIO_CLASSIFICATION: _SCORES,
    T.OBJECT_DETECTION: {"threshold": _float(0.0, 1.0)},
    T.IMAGE_SEGMENTATION: {
        "threshold": _float(0.0, 1.0),
        "mask_threshold": _float(0.0, 1.0),
        "overlap_mask_area_threshold": _float(0.0, 1.0),
        "subtask": _choice("semantic", "instance", "panoptic"),
    },
    T.IMAGE_TO_TEXT: {
        "max_new_tokens": _int(1, 512),
        "do_sample": _bool,
        "temperature": _float(0.0, 100.0),
        "top_k": _int(0, 100000),
        "top_p": _float(0.0, 1.0),
        "num_beams": _int(1, 8),
        "repetition_penalty": _float(0.0, 100.0),
        "seed": _int(0, 2**63 - 1),
    },
    T.ZERO_SHOT_IMAGE_CLASSIFICATION: {"candidate_labels": _str_list, "hypothesis_template": _str},
    T.TEXT_TO_SPEECH: {"seed": _int(0, 2**63 - 1)},  # generation parameters the client may send are ignored
    T.DOCUMENT_QUESTION_ANSWERING: {"max_answer_len": _int(1, 512)},  # top_k, lang, word_boxes: ignored
}
PARAMS[T.TRANSLATION] = PARAMS[T.SUMMARIZATION]
PARAMS[T.TEXT2TEXT_GENERATION] = PARAMS[T.SUMMARIZATION]
PARAMS[T.SENTENCE_SIMILARITY] = PARAMS[T.FEATURE_EXTRACTION]


def validate_params(task: str, raw: Any) -> dict[str, Any]:
    """Validate known parameters (``None`` values dropped, unknown names ignored)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InvalidInput("'parameters' must be an object")
    schema = PARAMS.get(task, {})
    out: dict[str, Any] = {}
    for name, value in raw.items():
        if name == "generate_parameters" and isinstance(value, dict):
            out.update(validate_params(T.TEXT_GENERATION, value))
            continue
        check = schema.get(name)
        if check is None or value is None:
            continue
        out[name] = check(name, value)
    if "stop_sequences" in out:
        out.setdefault("stop", out.pop("stop_sequences"))
    return out


def decode_json(body: bytes) -> Any:
    """Through the one limited JSON decoder (modelyard.jsonlimits): too deep is a 400, never a RecursionError."""
    if not body:
        raise InvalidInput("Empty request body")
    try:
        return jsonlimits.loads(body, max_bytes=len(body))  # the size is capped where the body is read
    except BadPayload as exc:
        raise InvalidInput(exc.message) from None


def _texts(inputs: Any, what: str = "inputs") -> tuple[tuple[str, ...], bool]:
    if isinstance(inputs, str):
        return (inputs,), True
    if isinstance(inputs, list) and inputs and all(isinstance(s, str) for s in inputs):
        if len(inputs) > MAX_CLIENT_BATCH:
            raise InvalidInput(f"At most {MAX_CLIENT_BATCH} inputs per request")
        return tuple(inputs), False
    raise InvalidInput(f"'{what}' must be a string or a non-empty list of strings")


def _qa_item(x: Any) -> dict[str, str]:
    if (
        isinstance(x, dict)
        and isinstance(x.get("question"), str)
        and isinstance(x.get("context"), str)
        and x["question"].strip()
        and x["context"].strip()
    ):
        return {"question": x["question"], "context": x["context"]}
    raise InvalidInput("'inputs' must be {'question': str, 'context': str} (non-empty)")


def _similarity_item(x: Any) -> dict[str, Any]:
    if not isinstance(x, dict):
        raise InvalidInput("'inputs' must be {'source_sentence': str, 'sentences': [str, ...]}")
    src = x.get("source_sentence")
    sents = x.get("sentences")
    if not isinstance(src, str) or not isinstance(sents, list) or not sents:
        raise InvalidInput("'inputs' must be {'source_sentence': str, 'sentences': [str, ...]}")
    if not all(isinstance(s, str) for s in sents) or len(sents) > 4 * MAX_CLIENT_BATCH:
        raise InvalidInput("'sentences' must be a list of strings (at most 256)")
    return {"source_sentence": src, "sentences": list(sents)}


def _sniff_binary(data: bytes) -> bytes:
    if not data:
        raise InvalidInput("Empty request body: send audio/image bytes")
    return data


def _document_item(x: Any) -> dict[str, Any]:
    shape = "'inputs' must be {'image': '<base64 image bytes>', 'question': str} (non-empty)"
    if not isinstance(x, dict) or not all(isinstance(x.get(k), str) for k in ("image", "question")):
        raise InvalidInput(shape)
    if not x["question"].strip() or len(x["question"]) > 1000:
        raise InvalidInput("'question' must be a non-empty string of at most 1000 characters")
    try:
        image = base64.b64decode(x["image"], validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("'image' must be base64-encoded image bytes") from None
    return {"image": _sniff_binary(image), "question": x["question"]}


def _check_binary_params(task: str, params: dict[str, Any]) -> dict[str, Any]:
    if task == T.ZERO_SHOT_IMAGE_CLASSIFICATION:
        labels = [s.strip() for s in params.get("candidate_labels") or [] if s.strip()]
        if len(labels) == 1 and "," in labels[0]:
            labels = [s.strip() for s in labels[0].split(",") if s.strip()]
        if len(labels) < 2 or len(labels) > MAX_CLIENT_BATCH:
            raise InvalidInput(
                "Parameter 'candidate_labels' is required: 2 to 64 labels (send JSON with base64 'inputs')"
            )
        params["candidate_labels"] = labels
        template = params.get("hypothesis_template")
        if template is not None and "{}" not in template:
            raise InvalidInput("Parameter 'hypothesis_template' must contain '{}'")
    return params


def parse_task_request(task: str, body: bytes, content_type: str | None = None) -> InferenceRequest:
    """Parse ``POST /`` for ``task`` (raises :class:`InvalidInput`)."""
    ctype = (content_type or "").split(";")[0].strip().lower()
    if task in T.DIFFUSION_TASKS:
        return parse_diffusion_request(task, body, ctype)
    if task in T.BINARY_TASKS:
        looks_json = ctype == "application/json" or (not ctype and body[:1] == b"{")
        if not looks_json:
            return InferenceRequest(
                op=task, items=(_sniff_binary(body),), params=_check_binary_params(task, {})
            )
        payload = decode_json(body)
        if not isinstance(payload, dict) or not isinstance(payload.get("inputs"), str):
            raise InvalidInput("JSON body must be {'inputs': '<base64 bytes>', 'parameters': {...}}")
        try:
            data = base64.b64decode(payload["inputs"], validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput("'inputs' must be base64-encoded bytes") from None
        params = validate_params(task, payload.get("parameters"))
        return InferenceRequest(
            op=task, items=(_sniff_binary(data),), params=_check_binary_params(task, params)
        )

    payload = decode_json(body)
    if not isinstance(payload, dict) or "inputs" not in payload:
        raise InvalidInput("JSON body must be an object with an 'inputs' field")
    inputs = payload["inputs"]
    raw_params = payload.get("parameters")
    if raw_params is not None and not isinstance(raw_params, dict):
        raise InvalidInput("'parameters' must be an object")

    if task in T.EMBEDDING_TASKS:
        if isinstance(inputs, dict):
            item = _similarity_item(inputs)
            return InferenceRequest(op=OP_SIMILARITY, items=(item,), params={})
        root = {k: v for k, v in payload.items() if k not in ("inputs", "parameters")}
        params = validate_params(T.FEATURE_EXTRACTION, {**root, **(raw_params or {})})
        texts, single = _texts(inputs)
        return InferenceRequest(op=OP_EMBED, items=texts, params=params, single=single)

    params = validate_params(task, raw_params)
    if task == T.QUESTION_ANSWERING:
        if isinstance(inputs, list) and inputs:
            if len(inputs) > MAX_CLIENT_BATCH:
                raise InvalidInput(f"At most {MAX_CLIENT_BATCH} inputs per request")
            return InferenceRequest(
                op=task, items=tuple(_qa_item(x) for x in inputs), params=params, single=False
            )
        return InferenceRequest(op=task, items=(_qa_item(inputs),), params=params)

    if task == T.DOCUMENT_QUESTION_ANSWERING:
        return InferenceRequest(op=task, items=(_document_item(inputs),), params=params)
    if task == T.TEXT_TO_SPEECH:
        if not isinstance(inputs, str) or not inputs.strip():
            raise InvalidInput("'inputs' must be a non-empty string (one text per request)")
        if len(inputs) > MAX_SPEECH_CHARS:
            raise InvalidInput(f"The text is too long (at most {MAX_SPEECH_CHARS} characters)")
        return InferenceRequest(op=task, items=(inputs,), params=params)
    texts, single = _texts(inputs)
    if task == T.ZERO_SHOT_CLASSIFICATION:
        labels = params.get("candidate_labels")
        if isinstance(labels, list) and len(labels) == 1 and "," in labels[0]:
            labels = [s.strip() for s in labels[0].split(",") if s.strip()]
        if not labels:
            raise InvalidInput("Parameter 'candidate_labels' is required (a non-empty list of strings)")
        params["candidate_labels"] = labels
    if task == T.TEXT_GENERATION:
        stream = payload.get("stream", False)
        if not isinstance(stream, bool):
            raise InvalidInput("'stream' must be a boolean")
        if stream and not single:
            raise InvalidInput("Streaming takes a single string input")
        return InferenceRequest(op=OP_GENERATE, items=texts, params=params, single=single, stream=stream)
    return InferenceRequest(op=task, items=texts, params=params, single=single)


# ---------------------------------------------------------------------------------------------- diffusers
MAX_IMAGE_SIDE = 1024
MAX_DIFFUSION_STEPS = 100
MAX_PROMPT_CHARS = 10_000


def _image_side(name: str, v: Any) -> int:
    side: int = _int(8, MAX_IMAGE_SIDE)(name, v)
    if side % 8:
        raise InvalidInput(f"Parameter {name!r} must be a multiple of 8")
    return side


def _target_size(name: str, v: Any) -> dict[str, int]:
    if not isinstance(v, dict) or set(v) - {"width", "height"} or not v:
        raise InvalidInput(f"Parameter {name!r} must be {{'width': int, 'height': int}}")
    return {k: _image_side(f"{name}.{k}", x) for k, x in v.items() if x is not None}


def _prompt(name: str, v: Any) -> str:
    text = _str(name, v)
    if len(text) > MAX_PROMPT_CHARS:
        raise InvalidInput(f"Parameter {name!r} is too long (at most {MAX_PROMPT_CHARS} characters)")
    return text


#: Shared by the images of one pipeline call (requests batch together when these are equal).
_DIFFUSION_SHARED: dict[str, Validator] = {
    "num_inference_steps": _int(1, MAX_DIFFUSION_STEPS),
    "guidance_scale": _float(0.0, 100.0),
    "width": _image_side,
    "height": _image_side,
    "strength": _float(0.0, 1.0),
    "scheduler": _str,
    "target_size": _target_size,
}
#: Per image (prompt, negative prompt and seed differ freely inside one batched call).
_DIFFUSION_ITEM: dict[str, Validator] = {
    "prompt": _prompt,
    "negative_prompt": _prompt,
    "seed": _int(0, 2**63 - 1),
}


def parse_diffusion_request(task: str, body: bytes, ctype: str) -> InferenceRequest:
    """text-to-image: ``{"inputs": prompt, "parameters": {negative_prompt, num_inference_steps, guidance_scale,
    width, height, seed, scheduler}}``. image-to-image: the image as the raw body, or ``{"inputs": base64,
    "parameters": {prompt, negative_prompt, strength, target_size, ...}}``. The answer is a PNG."""
    image: bytes | None = None
    raw: Any = None
    if task == T.IMAGE_TO_IMAGE and not (ctype == "application/json" or (not ctype and body[:1] == b"{")):
        image = _sniff_binary(body)
    else:
        payload = decode_json(body)
        if not isinstance(payload, dict) or "inputs" not in payload:
            raise InvalidInput("JSON body must be an object with an 'inputs' field")
        raw = payload.get("parameters")
        if raw is not None and not isinstance(raw, dict):
            raise InvalidInput("'parameters' must be an object")
        inputs = payload["inputs"]
        if task == T.IMAGE_TO_IMAGE:
            if not isinstance(inputs, str):
                raise InvalidInput("'inputs' must be the base64-encoded input image")
            try:
                image = _sniff_binary(base64.b64decode(inputs, validate=True))
            except (binascii.Error, ValueError):
                raise InvalidInput("'inputs' must be base64-encoded bytes") from None
        else:
            if not isinstance(inputs, str) or not inputs.strip():
                raise InvalidInput("'inputs' must be a non-empty prompt string (one image per request)")
            raw = {**(raw or {}), "prompt": inputs}
    params: dict[str, Any] = {}
    item: dict[str, Any] = {"prompt": "", "negative_prompt": None, "seed": None}
    for name, value in (raw or {}).items():
        if value is None:
            continue
        if name in _DIFFUSION_SHARED:
            params[name] = _DIFFUSION_SHARED[name](name, value)
        elif name in _DIFFUSION_ITEM:
            item[name] = _DIFFUSION_ITEM[name](name, value)
    if task == T.TEXT_TO_IMAGE:
        size = params.pop("target_size", {})
        params.setdefault("width", size.get("width"))
        params.setdefault("height", size.get("height"))
        params.pop("strength", None)
        params = {k: v for k, v in params.items() if v is not None}
    else:  # the output has the input's size: width/height (or target_size) resize the input image
        size = {k: params.pop(k) for k in ("width", "height") if k in params}
        if size and "target_size" not in params:
            params["target_size"] = size
        item["image"] = image
    return InferenceRequest(op=task, items=(item,), params=params)


# ----------------------------------------------------------------------------------------------- OpenAI


def parse_embeddings_request(body: bytes) -> tuple[InferenceRequest, str, str]:
    """``POST /v1/embeddings`` → (request, encoding_format, model)."""
    payload = decode_json(body)
    if not isinstance(payload, dict):
        raise InvalidInput("Body must be a JSON object")
    texts, _ = _texts(payload.get("input"), "input")
    fmt = payload.get("encoding_format") or "float"
    if fmt not in ("float", "base64"):
        raise InvalidInput("'encoding_format' must be 'float' or 'base64'")
    params: dict[str, Any] = {"normalize": True}
    if payload.get("dimensions") is not None:
        params["dimensions"] = _int(1, 1_000_000)("dimensions", payload["dimensions"])
    model = payload.get("model")
    return (
        InferenceRequest(op=OP_EMBED, items=texts, params=params, single=False),
        str(fmt),
        model if isinstance(model, str) else "",
    )


def _message_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if content is None:
        return ""
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
                parts.append(part["text"])
            else:
                raise InvalidInput("Only text content parts are supported")
        return "".join(parts)
    raise InvalidInput("Message 'content' must be a string or a list of text parts")


def parse_chat_request(body: bytes) -> tuple[InferenceRequest, str, bool]:
    """``POST /v1/chat/completions`` → (request, model, include_usage_in_stream)."""
    payload = decode_json(body)
    if not isinstance(payload, dict):
        raise InvalidInput("Body must be a JSON object")
    messages = payload.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidInput("'messages' must be a non-empty list")
    clean: list[dict[str, str]] = []
    for m in messages:
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise InvalidInput("Each message must be an object with a 'role'")
        clean.append({"role": m["role"], "content": _message_text(m.get("content"))})
    n = payload.get("n", 1)
    if n not in (1, None):
        raise InvalidInput("Only n=1 is supported")
    raw: dict[str, Any] = {
        "max_new_tokens": payload.get("max_completion_tokens") or payload.get("max_tokens"),
        "temperature": payload.get("temperature"),
        "top_p": payload.get("top_p"),
        "seed": payload.get("seed"),
        "stop": payload.get("stop"),
        "logprobs": payload.get("logprobs"),
        "top_logprobs": payload.get("top_logprobs"),
    }
    params = validate_params(T.TEXT_GENERATION, raw)
    if params.get("top_logprobs") and not params.get("logprobs"):
        raise InvalidInput("'top_logprobs' needs 'logprobs': true")
    stream = payload.get("stream", False)
    if not isinstance(stream, bool):
        raise InvalidInput("'stream' must be a boolean")
    opts = payload.get("stream_options")
    include_usage = bool(isinstance(opts, dict) and opts.get("include_usage"))
    model = payload.get("model")
    req = InferenceRequest(op=OP_CHAT, items=(clean,), params=params, single=True, stream=stream)
    return req, model if isinstance(model, str) else "", include_usage
