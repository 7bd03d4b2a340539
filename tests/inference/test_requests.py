"""Request parsing, task inference and endpoint config validation (pure Python, no model)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from modelyard.inference import tasks as T
from modelyard.inference.config import EndpointConfig, default_name
from modelyard.inference.errors import InvalidInput, UnsupportedTask
from modelyard.inference.requests import (
    OP_EMBED,
    OP_SIMILARITY,
    parse_chat_request,
    parse_embeddings_request,
    parse_task_request,
)


def _body(obj: object) -> bytes:
    return json.dumps(obj).encode()


def test_text_tasks_single_and_list() -> None:
    req = parse_task_request(T.TEXT_CLASSIFICATION, _body({"inputs": "hi", "parameters": {"top_k": 2}}))
    assert req.items == ("hi",) and req.single and req.params == {"top_k": 2}
    req = parse_task_request(
        T.TEXT_CLASSIFICATION, _body({"inputs": ["a", "b"], "parameters": {"top_k": None}})
    )
    assert req.items == ("a", "b") and not req.single and req.params == {}


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{",
        _body([1]),
        _body({"inputs": 3}),
        _body({"inputs": []}),
        _body({"inputs": "x", "parameters": []}),
        _body({"inputs": "x", "parameters": {"top_k": 0}}),
        _body({"inputs": "x", "parameters": {"function_to_apply": "relu"}}),
        _body({"inputs": ["x"] * 65}),
    ],
)
def test_malformed_bodies_are_invalid_input(body: bytes) -> None:
    with pytest.raises(InvalidInput):
        parse_task_request(T.TEXT_CLASSIFICATION, body)


def test_embedding_endpoints_accept_both_shapes_with_root_params() -> None:
    req = parse_task_request(T.SENTENCE_SIMILARITY, _body({"inputs": "a", "normalize": False}))
    assert req.op == OP_EMBED and req.params == {"normalize": False}
    req = parse_task_request(
        T.FEATURE_EXTRACTION, _body({"inputs": {"source_sentence": "a", "sentences": ["b", "c"]}})
    )
    assert req.op == OP_SIMILARITY
    with pytest.raises(InvalidInput):
        parse_task_request(T.FEATURE_EXTRACTION, _body({"inputs": {"source_sentence": "a"}}))


def test_zero_shot_needs_labels_and_splits_a_comma_string() -> None:
    with pytest.raises(InvalidInput):
        parse_task_request(T.ZERO_SHOT_CLASSIFICATION, _body({"inputs": "x"}))
    req = parse_task_request(
        T.ZERO_SHOT_CLASSIFICATION, _body({"inputs": "x", "parameters": {"candidate_labels": ["a, b"]}})
    )
    assert req.params["candidate_labels"] == ["a", "b"]


def test_binary_tasks_raw_or_base64_json() -> None:
    raw = parse_task_request(T.IMAGE_CLASSIFICATION, b"\x89PNG....", None)
    assert raw.items == (b"\x89PNG....",)
    js = parse_task_request(
        T.IMAGE_CLASSIFICATION,
        _body({"inputs": base64.b64encode(b"abc").decode(), "parameters": {"top_k": 1}}),
        "application/json",
    )
    assert js.items == (b"abc",) and js.params == {"top_k": 1}
    with pytest.raises(InvalidInput):
        parse_task_request(T.AUTOMATIC_SPEECH_RECOGNITION, b"", None)
    with pytest.raises(InvalidInput):
        parse_task_request(T.AUTOMATIC_SPEECH_RECOGNITION, _body({"inputs": "%%%"}), "application/json")


def test_generation_params_and_stream() -> None:
    body = {
        "inputs": "x",
        "parameters": {"max_new_tokens": 5, "stop": ["\n"], "details": True, "watermark": True},
        "stream": True,
    }
    req = parse_task_request(T.TEXT_GENERATION, _body(body))
    assert req.stream and req.params == {"max_new_tokens": 5, "stop": ["\n"], "details": True}
    req = parse_task_request(
        T.SUMMARIZATION, _body({"inputs": "x", "parameters": {"generate_parameters": {"num_beams": 2}}})
    )
    assert req.params == {"num_beams": 2}


def test_openai_bodies() -> None:
    req, fmt, model = parse_embeddings_request(
        _body({"input": ["a"], "model": "m", "encoding_format": "base64"})
    )
    assert req.items == ("a",) and fmt == "base64" and model == "m"
    with pytest.raises(InvalidInput):
        parse_embeddings_request(_body({"input": [[1, 2]]}))
    chat, _, usage = parse_chat_request(
        _body(
            {
                "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
                "max_tokens": 3,
                "stream": True,
                "stream_options": {"include_usage": True},
            }
        )
    )
    assert chat.items == ([{"role": "user", "content": "hi"}],) and chat.params["max_new_tokens"] == 3
    assert chat.stream and usage
    with pytest.raises(InvalidInput):
        parse_chat_request(_body({"messages": []}))


def test_task_inference(tmp_path: Path) -> None:
    def model(arch: str, readme: str | None = None, **config: object) -> Path:
        d = tmp_path / f"m{len(list(tmp_path.iterdir()))}"
        d.mkdir()
        (d / "config.json").write_text(json.dumps({"architectures": [arch], **config}))
        if readme is not None:
            (d / "README.md").write_text(readme)
        return d

    assert T.infer_task(model("BertForSequenceClassification")) == T.TEXT_CLASSIFICATION
    nli = model("BertForSequenceClassification", label2id={"entailment": 0, "contradiction": 1})
    assert T.infer_task(nli) == T.ZERO_SHOT_CLASSIFICATION
    assert T.infer_task(model("GPT2LMHeadModel")) == T.TEXT_GENERATION
    assert T.infer_task(model("T5ForConditionalGeneration")) == T.TEXT2TEXT_GENERATION
    summ = model("BartForConditionalGeneration", task_specific_params={"summarization": {}})
    assert T.infer_task(summ) == T.SUMMARIZATION
    assert T.infer_task(model("Wav2Vec2ForCTC")) == T.AUTOMATIC_SPEECH_RECOGNITION
    tagged = model("BertModel", "---\npipeline_tag: sentence-similarity\n---\n")
    assert T.infer_task(tagged) == T.SENTENCE_SIMILARITY
    with pytest.raises(UnsupportedTask):
        T.infer_task(tmp_path)
    assert T.normalize_task("text2text") == T.TEXT2TEXT_GENERATION
    assert T.normalize_task("translation_en_to_fr") == T.TRANSLATION


def test_endpoint_config() -> None:
    cfg = EndpointConfig.from_dict({"repo_id": "alice/My_Model", "task": "ner", "keep_alive_s": -1})
    assert cfg.name == "my_model" and cfg.task == T.TOKEN_CLASSIFICATION and cfg.keep_alive_s is None
    assert EndpointConfig.from_dict(cfg.to_dict()) == cfg
    assert default_name("x/Hello World!") == "hello-world"
    assert cfg.graph is True and EndpointConfig.from_dict({"repo_id": "a/b", "graph": False}).graph is False
    for bad in (
        {"repo_id": "../x"},
        {"repo_id": "a/b", "max_queue": 0},
        {"repo_id": "a/b", "max_batch_size": True},
        {"repo_id": "a/b", "graph": "yes"},
        {"repo_id": "a/b", "graph": 1},
    ):
        with pytest.raises(InvalidInput):
            EndpointConfig.from_dict(bad)
