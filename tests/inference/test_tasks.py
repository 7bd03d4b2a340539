"""Every task through the real ``huggingface_hub.InferenceClient(base_url=...)`` against a live endpoint server."""

from __future__ import annotations

import io
import math
import wave
from pathlib import Path

import numpy as np
import pytest
from huggingface_hub import InferenceClient

from inference.conftest import EndpointServer

pytestmark = pytest.mark.timeout(300)


def _client(server: EndpointServer, name: str) -> InferenceClient:
    server.wait_ready(name)
    return InferenceClient(base_url=server.endpoint_url(name), timeout=60)


def _reference_classifier(model_dir: Path, text: str) -> list[float]:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    with torch.inference_mode():
        logits = model(**tok(text, return_tensors="pt")).logits[0]
    return [float(x) for x in torch.softmax(logits, -1)]


def test_text_classification_matches_direct_torch(server: EndpointServer, tiny_dirs: dict[str, Path]) -> None:
    client = _client(server, "text-classification")
    out = client.text_classification("the quick brown fox jumps")
    assert {o.label for o in out} == {"NEGATIVE", "POSITIVE", "NEUTRAL"}
    assert [o.score for o in out] == sorted((o.score for o in out), reverse=True)
    expected = _reference_classifier(tiny_dirs["text-classification"], "the quick brown fox jumps")
    labels = {0: "NEGATIVE", 1: "POSITIVE", 2: "NEUTRAL"}
    for o in out:
        idx = next(i for i, name in labels.items() if name == o.label)
        assert o.score == pytest.approx(expected[idx], abs=1e-5)
    other = client.text_classification("sad terrible movie", top_k=2)
    assert len(other) == 2
    assert [o.score for o in other] != [o.score for o in out[:2]]


def test_text_classification_function_to_apply(server: EndpointServer) -> None:
    client = _client(server, "text-classification")
    out = client.text_classification("good book", function_to_apply="sigmoid")
    assert all(0 < o.score < 1 for o in out)
    assert not math.isclose(sum(o.score for o in out), 1.0, abs_tol=1e-3)


def test_token_classification(server: EndpointServer) -> None:
    client = _client(server, "token-classification")
    text = "alice lives in paris with bob"
    out = client.token_classification(text)
    assert out, "random weights still tag some tokens"
    for ent in out:
        assert ent.entity_group in {"PER", "LOC"}
        assert 0 <= ent.start < ent.end <= len(text)
        assert 0 < ent.score <= 1
    raw = client.token_classification(text, aggregation_strategy="none")
    assert all(e.entity in {"B-PER", "I-PER", "B-LOC", "I-LOC"} for e in raw)


def test_question_answering(server: EndpointServer) -> None:
    client = _client(server, "question-answering")
    context = "alice runs in paris and bob sleeps in london"
    out = client.question_answering(question="who runs", context=context)
    assert context[out.start : out.end] == out.answer
    assert 0 < out.score <= 1
    several = client.question_answering(question="who runs", context=context, top_k=3)
    assert isinstance(several, list) and len(several) == 3
    assert several[0].score >= several[1].score >= several[2].score


def test_fill_mask(server: EndpointServer) -> None:
    client = _client(server, "fill-mask")
    out = client.fill_mask("the cat [MASK] fast")
    assert len(out) == 5
    assert all(o.sequence.startswith("the cat") for o in out)
    assert [o.score for o in out] == sorted((o.score for o in out), reverse=True)
    targeted = client.fill_mask("the cat [MASK] fast", targets=["runs", "sleeps"], top_k=2)
    assert {o.token_str for o in targeted} == {"runs", "sleeps"}


def test_fill_mask_without_mask_is_422(server: EndpointServer) -> None:
    from huggingface_hub.errors import HfHubHTTPError

    client = _client(server, "fill-mask")
    with pytest.raises(HfHubHTTPError) as info:
        client.fill_mask("no mask here")
    assert info.value.response.status_code == 422


def test_zero_shot_classification(server: EndpointServer) -> None:
    client = _client(server, "zero-shot-classification")
    out = client.zero_shot_classification(
        "the dog runs in the city", candidate_labels=["animal", "city", "music"]
    )
    assert {o.label for o in out} == {"animal", "city", "music"}
    assert sum(o.score for o in out) == pytest.approx(1.0, abs=1e-4)
    multi = client.zero_shot_classification(
        "the dog runs", candidate_labels=["animal", "city"], multi_label=True, hypothesis_template="It is {}."
    )
    assert all(0 < o.score < 1 for o in multi)


def test_feature_extraction_and_similarity(server: EndpointServer) -> None:
    client = _client(server, "embeddings")
    one = client.feature_extraction("a cat runs")
    assert one.shape == (1, 32)
    assert np.linalg.norm(one[0]) == pytest.approx(1.0, abs=1e-4)
    two = client.feature_extraction(["a cat runs", "the city sleeps"])  # type: ignore[arg-type]
    assert two.shape == (2, 32)
    np.testing.assert_allclose(two[0], one[0], atol=1e-5)
    sims = client.sentence_similarity("a cat runs", other_sentences=["a cat runs", "the city sleeps"])
    assert sims[0] == pytest.approx(1.0, abs=1e-4)
    assert sims[1] < sims[0]
    assert sims[1] == pytest.approx(float(one[0] @ two[1]), abs=1e-4)


def test_summarization_translation_text2text(server: EndpointServer) -> None:
    summary = _client(server, "summarization").summarization("the cat runs fast over the lazy dog in paris")
    assert isinstance(summary.summary_text, str) and summary.summary_text
    translation = _client(server, "translation").translation("the cat runs")
    assert isinstance(translation.translation_text, str) and translation.translation_text
    short = _client(server, "translation").translation(
        "the cat runs", generate_parameters={"max_new_tokens": 2}
    )
    assert len(short.translation_text) < len(translation.translation_text)
    text2text = _client(server, "text2text")  # text2text-generation answers [{generated_text}] like TGI
    generated = text2text.text_generation("the dog sleeps", max_new_tokens=6)
    assert isinstance(generated, str) and generated
    assert generated != text2text.text_generation("paris is a city", max_new_tokens=6)


def test_text_generation(server: EndpointServer) -> None:
    client = _client(server, "text-generation")
    text = client.text_generation("the cat", max_new_tokens=8)
    assert isinstance(text, str) and text
    assert client.text_generation("the cat", max_new_tokens=8) == text  # greedy by default
    full = client.text_generation("the cat", max_new_tokens=8, return_full_text=True)
    assert full == "the cat" + text
    details = client.text_generation("the cat", max_new_tokens=5, details=True)
    assert details.generated_text
    assert details.details is not None and details.details.generated_tokens == 5
    assert details.details.finish_reason == "length"
    sampled = {client.text_generation("the cat", max_new_tokens=8, temperature=1.5, seed=s) for s in range(4)}
    assert len(sampled) > 1


def test_text_generation_stream(server: EndpointServer) -> None:
    client = _client(server, "text-generation")
    expected = client.text_generation("a dog", max_new_tokens=10)
    pieces = list(client.text_generation("a dog", max_new_tokens=10, stream=True))
    assert "".join(pieces) == expected
    events = list(client.text_generation("a dog", max_new_tokens=10, stream=True, details=True))
    assert len(events) == 10
    assert events[-1].generated_text == expected
    assert events[-1].details is not None and events[-1].details.finish_reason == "length"
    assert all(e.token.logprob <= 0 for e in events)


def _wav_bytes(freq: float, rate: int = 8000, seconds: float = 1.0) -> bytes:
    samples = (np.sin(np.arange(int(rate * seconds)) * 2 * np.pi * freq / rate) * 12000).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(samples.tobytes())
    return buf.getvalue()


def test_automatic_speech_recognition(server: EndpointServer, tmp_path: Path) -> None:
    client = _client(server, "asr")
    out = client.automatic_speech_recognition(_wav_bytes(440))  # raw bytes, no content-type: sniffed
    assert isinstance(out.text, str) and out.text
    path = tmp_path / "clip.wav"
    path.write_bytes(_wav_bytes(440))
    assert client.automatic_speech_recognition(path).text == out.text
    other = client.automatic_speech_recognition(_wav_bytes(1700, rate=16000))
    assert other.text != out.text


def test_asr_rejects_garbage_with_422(server: EndpointServer) -> None:
    from huggingface_hub.errors import HfHubHTTPError

    client = _client(server, "asr")
    with pytest.raises(HfHubHTTPError) as info:
        client.automatic_speech_recognition(b"this is not audio at all")
    assert info.value.response.status_code == 422


def _png(seed: int) -> bytes:
    from PIL import Image

    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray((rng.random((48, 40, 3)) * 255).astype("uint8")).save(buf, "PNG")
    return buf.getvalue()


def test_image_classification(server: EndpointServer, tmp_path: Path) -> None:
    client = _client(server, "image-classification")
    out = client.image_classification(_png(0))
    assert {o.label for o in out} == {"cat", "dog", "bird"}
    assert sum(o.score for o in out) == pytest.approx(1.0, abs=1e-4)
    top = client.image_classification(_png(1), top_k=1)  # parameters → JSON + base64 body
    assert len(top) == 1
    path = tmp_path / "picture.png"  # sent with content-type image/png
    path.write_bytes(_png(0))
    again = client.image_classification(path)
    assert [o.score for o in again] == pytest.approx([o.score for o in out], abs=1e-5)
    assert [o.score for o in client.image_classification(_png(2))] != [o.score for o in out]
