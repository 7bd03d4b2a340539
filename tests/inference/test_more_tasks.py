"""The vision and audio tasks of issue 15 through the real ``huggingface_hub.InferenceClient(base_url=...)``:
object-detection, image-segmentation, image-to-text, zero-shot-image-classification, audio-classification,
text-to-speech, document-question-answering (OCR-free, Donut-style); each on a tiny random model built here, served by a real standalone endpoint server."""

from __future__ import annotations

import base64
import io
import struct
import wave
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from huggingface_hub import InferenceClient
from huggingface_hub.errors import HfHubHTTPError

from inference import tiny_models
from inference.conftest import EndpointServer, start_server

pytestmark = pytest.mark.timeout(300)

ENDPOINTS = {
    "detector": "object-detection",
    "segmenter": "image-segmentation",
    "captioner": "image-to-text",
    "clip": "zero-shot-image-classification",
    "audio-classifier": "audio-classification",
    "tts": "text-to-speech",
    "docqa": "document-question-answering",
}


@pytest.fixture(scope="module")
def more_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return tiny_models.build_more_tasks(tmp_path_factory.mktemp("more-tasks"))


@pytest.fixture(scope="module")
def more_server(more_dirs: dict[str, Path]) -> Iterator[EndpointServer]:
    args: list[str] = ["--threads", "1"]
    for name, task in ENDPOINTS.items():
        args += ["--local", f"tests/{name}={more_dirs[task]}"]
    srv = start_server(*args)
    try:
        for name in ENDPOINTS:  # no task given: each is inferred from the model's config.json
            srv.create(name, f"tests/{name}")
        yield srv
    finally:
        srv.stop()


def _client(server: EndpointServer, name: str) -> InferenceClient:
    server.wait_ready(name)
    return InferenceClient(base_url=server.endpoint_url(name), timeout=60)


def _png(seed: int, size: tuple[int, int] = (40, 48)) -> bytes:
    from PIL import Image

    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    width, height = size
    Image.fromarray((rng.random((height, width, 3)) * 255).astype("uint8")).save(buf, "PNG")
    return buf.getvalue()


def _huge_png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` (no real pixel data): refused before decoding."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))


def _wav(freq: float, rate: int = 16000, seconds: float = 0.5) -> bytes:
    samples = (np.sin(np.arange(int(rate * seconds)) * 2 * np.pi * freq / rate) * 12000).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
    return buf.getvalue()


def test_tasks_are_inferred_from_the_configs(more_dirs: dict[str, Path]) -> None:
    from modelyard.inference.tasks import infer_task

    for task, path in more_dirs.items():
        assert infer_task(path) == task


def test_object_detection(more_server: EndpointServer) -> None:
    client = _client(more_server, "detector")
    found = client.object_detection(_png(0), threshold=0.0)  # parameters → JSON + base64 body
    assert found, "threshold 0 keeps every detection token"
    assert [o.score for o in found] == sorted((o.score for o in found), reverse=True)
    for obj in found:
        assert obj.label in {"cat", "dog", "bird"}
        assert 0.0 <= obj.score <= 1.0
        box = obj.box
        assert all(isinstance(v, int) for v in (box.xmin, box.ymin, box.xmax, box.ymax))
        assert 0 <= box.xmin <= box.xmax <= 40 and 0 <= box.ymin <= box.ymax <= 48
    assert client.object_detection(_png(0)) == [o for o in found if o.score >= 0.5]  # raw bytes, default 0.5
    other = client.object_detection(_png(1), threshold=0.0)
    assert [o.score for o in other] != [o.score for o in found]


def test_image_segmentation(more_server: EndpointServer) -> None:
    client = _client(more_server, "segmenter")
    segments = client.image_segmentation(_png(0))
    assert segments and {s.label for s in segments} <= {"sky", "road", "tree"}
    for seg in segments:
        mask = seg.mask  # the client decodes the base64 PNG into a PIL image
        assert mask.size == (40, 48)  # type: ignore[attr-defined]
        assert mask.mode in ("L", "1")  # type: ignore[attr-defined]
    union = np.zeros((48, 40), dtype=bool)
    for seg in segments:
        union |= np.asarray(seg.mask) > 0
    assert union.all(), "semantic segments cover the image"
    raw = httpx.post(more_server.endpoint_url("segmenter"), content=_png(0), timeout=60).json()
    assert all(set(s) == {"label", "score", "mask"} for s in raw)
    assert base64.b64decode(raw[0]["mask"])[:4] == b"\x89PNG"


def test_image_to_text(more_server: EndpointServer) -> None:
    client = _client(more_server, "captioner")
    out = client.image_to_text(_png(0))
    assert isinstance(out.generated_text, str) and out.generated_text
    assert client.image_to_text(_png(0)).generated_text == out.generated_text  # greedy: deterministic
    raw = httpx.post(more_server.endpoint_url("captioner"), content=_png(1), timeout=60).json()
    assert isinstance(raw, list) and list(raw[0]) == ["generated_text"]


def test_zero_shot_image_classification(more_server: EndpointServer) -> None:
    client = _client(more_server, "clip")
    labels = ["cat", "dog", "red bird"]
    out = client.zero_shot_image_classification(_png(0), candidate_labels=labels)
    assert sorted(o.label for o in out) == sorted(labels)
    assert sum(o.score for o in out) == pytest.approx(1.0, abs=1e-4)
    assert [o.score for o in out] == sorted((o.score for o in out), reverse=True)
    assert len({round(o.score, 6) for o in out}) > 1, "the labels' texts change the scores"
    templated = client.zero_shot_image_classification(
        _png(0), candidate_labels=labels, hypothesis_template="a picture of a {}"
    )
    assert [o.score for o in templated] != [o.score for o in out]
    url = more_server.endpoint_url("clip")
    assert httpx.post(url, content=_png(0), timeout=60).status_code == 422  # no candidate labels
    body = {"inputs": base64.b64encode(_png(0)).decode(), "parameters": {"candidate_labels": ["only-one"]}}
    assert httpx.post(url, json=body, timeout=60).status_code == 422


def test_audio_classification(more_server: EndpointServer) -> None:
    client = _client(more_server, "audio-classifier")
    out = client.audio_classification(_wav(440))
    assert {o.label for o in out} == {"speech", "music", "noise"}
    assert sum(o.score for o in out) == pytest.approx(1.0, abs=1e-4)
    top = client.audio_classification(_wav(440, rate=8000), top_k=1)  # resampled; JSON + base64 body
    assert len(top) == 1
    assert [o.score for o in client.audio_classification(_wav(1700))] != [o.score for o in out]


def test_text_to_speech_returns_a_wav_file(more_server: EndpointServer) -> None:
    client = _client(more_server, "tts")
    audio = client.text_to_speech("hello from the model hub")
    assert isinstance(audio, bytes) and audio[:4] == b"RIFF"
    with wave.open(io.BytesIO(audio)) as wav:
        assert wav.getframerate() == 16000 and wav.getnchannels() == 1 and wav.getsampwidth() == 2
        assert wav.getnframes() > 100
    longer = client.text_to_speech("hello from the model hub, and a much longer sentence after it")
    assert len(longer) > len(audio)
    resp = httpx.post(more_server.endpoint_url("tts"), json={"inputs": "hi there"}, timeout=60)
    assert resp.status_code == 200 and resp.headers["content-type"] == "audio/wav"


def test_document_question_answering(more_server: EndpointServer) -> None:
    client = _client(more_server, "docqa")
    answers = client.document_question_answering(_png(0), "what is the total?")
    assert len(answers) == 1
    assert isinstance(answers[0].answer, str) and 0.0 < answers[0].score <= 1.0
    again = client.document_question_answering(_png(0), "what is the total?", max_answer_len=4)
    assert again[0].answer == answers[0].answer[: len(again[0].answer)]
    other = client.document_question_answering(_png(0), "who signed it?")
    assert (other[0].answer, other[0].score) != (answers[0].answer, answers[0].score)
    url = more_server.endpoint_url("docqa")
    image = base64.b64encode(_png(0)).decode()
    for inputs in (
        {"image": image},  # no question
        {"image": image, "question": "  "},
        {"image": "not base64!", "question": "what?"},
        {"image": base64.b64encode(b"not an image").decode(), "question": "what?"},
        {"image": base64.b64encode(_huge_png_header(8000, 6000)).decode(), "question": "what?"},
        "what?",
    ):
        resp = httpx.post(url, json={"inputs": inputs}, timeout=60)
        assert resp.status_code == 422, (inputs, resp.text)


@pytest.mark.parametrize("name", ["detector", "segmenter", "captioner", "clip"])
def test_images_that_are_not_images_or_too_large_are_422(more_server: EndpointServer, name: str) -> None:
    more_server.wait_ready(name)
    url = more_server.endpoint_url(name)
    params = {"candidate_labels": ["cat", "dog"]} if name == "clip" else {}

    def post(data: bytes) -> httpx.Response:
        body = {"inputs": base64.b64encode(data).decode(), "parameters": params}
        return httpx.post(url, json=body, timeout=60)

    resp = post(b"GIF89a but not really an image")
    assert resp.status_code == 422, resp.text
    assert resp.headers["x-error-code"] == "InvalidInput"
    resp = post(_huge_png_header(8000, 6000))  # 48 megapixels: refused from the header, never decoded
    assert resp.status_code == 422 and "too large" in resp.json()["error"]
    assert post(_png(3)).status_code == 200  # the endpoint is fine afterwards


def test_bad_audio_and_text_are_422(more_server: EndpointServer) -> None:
    classifier = _client(more_server, "audio-classifier")
    with pytest.raises(HfHubHTTPError) as info:
        classifier.audio_classification(b"this is not audio at all")
    assert info.value.response.status_code == 422
    buf = io.BytesIO()  # 610 s of 8-bit 8 kHz silence: 4.9 MB, past the 600 s limit
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(1)
        out.setframerate(8000)
        out.writeframes(b"\x80" * 8000 * 610)
    with pytest.raises(HfHubHTTPError) as info:
        classifier.audio_classification(buf.getvalue())
    assert info.value.response.status_code == 422 and "too long" in info.value.response.text
    tts = _client(more_server, "tts")
    for text in ["", "   ", "word " * 500]:
        with pytest.raises(HfHubHTTPError) as info:
            tts.text_to_speech(text)
        assert info.value.response.status_code == 422
    url = more_server.endpoint_url("tts")
    assert httpx.post(url, json={"inputs": ["a", "b"]}, timeout=60).status_code == 422
