"""The model-page inference widget's views of the vision and audio tasks (headless Chromium, page.route stubs
answering in the documented shapes, docs/inference.md): image in (object-detection boxes, segmentation masks,
image-to-text, zero-shot image classification with candidate labels), audio in (audio-classification bars),
audio out (text-to-speech played from a blob: URL, which the pages' CSP must allow). The `page` fixture fails
the test on any JavaScript error or CSP violation."""

from __future__ import annotations

import base64
import io
import json
import os
import wave
from typing import Any

import pytest
from tests.web.conftest import WebRepos

pytestmark = [
    pytest.mark.skipif(
        not os.path.exists("/usr/bin/chromium"), reason="/usr/bin/chromium missing: apt-get install chromium"
    ),
]


def _png(width: int = 40, height: int = 30, mode: str = "RGB", half: bool = False) -> bytes:
    from PIL import Image

    image = Image.new(mode, (width, height), 0 if mode == "L" else (200, 120, 40))
    if half:
        image.paste(255, (0, 0, width // 2, height))
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def _wav() -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(b"\x00\x10" * 1600)
    return buf.getvalue()


def _open_widget(page: Any, web_repos: WebRepos, task: str, answer: Any) -> tuple[Any, list[Any]]:
    """The model page with a stubbed endpoint of ``task``; ``answer(route)`` answers POST /endpoints/ep."""
    calls: list[Any] = []

    def endpoints(route: Any) -> None:
        ep = {"name": "ep", "repo_id": web_repos.model, "state": "ready", "task": task}
        route.fulfill(json={"endpoints": [ep]})

    def predict(route: Any) -> None:
        calls.append((route.request.headers.get("content-type"), route.request.post_data_buffer))
        answer(route)

    page.route("**/endpoints/-/api/endpoints", endpoints)
    page.route("**/endpoints/ep", predict)
    page.goto(f"{web_repos.url}/{web_repos.model}")
    widget = page.locator("#inference-widget")
    widget.wait_for(state="visible")
    return widget, calls


def _send_file(widget: Any, name: str, mime: str, data: bytes) -> None:
    widget.locator("input[type=file]").set_input_files({"name": name, "mimeType": mime, "buffer": data})
    widget.locator("button:has-text('Compute')").click()


def test_object_detection_draws_boxes(page: Any, web_repos: WebRepos) -> None:
    found = [
        {"label": "cat", "score": 0.91, "box": {"xmin": 2, "ymin": 3, "xmax": 20, "ymax": 25}},
        {"label": "dog", "score": 0.55, "box": {"xmin": 22, "ymin": 1, "xmax": 39, "ymax": 29}},
    ]
    widget, calls = _open_widget(page, web_repos, "object-detection", lambda r: r.fulfill(json=found))
    _send_file(widget, "street.png", "image/png", _png())
    page.wait_for_selector("#inference-widget .widget-output[data-drawn='1'] canvas")
    output = widget.locator(".widget-output")
    assert output.get_attribute("data-boxes") == "2"
    assert "cat" in output.inner_text() and "0.910" in output.inner_text()
    assert calls == [("image/png", _png())]  # the raw image bytes
    # a red box edge is painted where the first box is: the canvas pixels changed there
    pixel = page.evaluate(
        "() => Array.from(document.querySelector('#inference-widget canvas').getContext('2d')"
        ".getImageData(2, 10, 1, 1).data)"
    )
    assert pixel[:3] != [200, 120, 40]


def test_image_segmentation_paints_masks(page: Any, web_repos: WebRepos) -> None:
    mask = base64.b64encode(_png(mode="L", half=True)).decode()
    segments = [{"label": "sky", "score": None, "mask": mask}, {"label": "road", "score": 0.8, "mask": mask}]
    widget, _ = _open_widget(page, web_repos, "image-segmentation", lambda r: r.fulfill(json=segments))
    _send_file(widget, "view.png", "image/png", _png())
    page.wait_for_selector("#inference-widget .widget-output[data-drawn='1'] canvas")
    output = widget.locator(".widget-output")
    assert output.get_attribute("data-segments") == "2"
    assert "sky" in output.inner_text() and "road" in output.inner_text()
    inside, outside = page.evaluate(
        "() => { const c = document.querySelector('#inference-widget canvas').getContext('2d');"
        " return [Array.from(c.getImageData(5, 5, 1, 1).data), Array.from(c.getImageData(35, 5, 1, 1).data)]; }"
    )
    assert outside[:3] == [200, 120, 40]  # the mask's black half leaves the image as it is
    assert inside[:3] != [200, 120, 40]  # its white half is tinted


def test_image_to_text_shows_the_caption(page: Any, web_repos: WebRepos) -> None:
    answer = [{"generated_text": "a cat sitting on a red sofa"}]
    widget, _ = _open_widget(page, web_repos, "image-to-text", lambda r: r.fulfill(json=answer))
    _send_file(widget, "cat.png", "image/png", _png())
    page.wait_for_selector("#inference-widget .widget-output pre.generated")
    assert widget.locator(".widget-output pre.generated").inner_text() == "a cat sitting on a red sofa"
    assert widget.locator(".widget-output img.widget-image").count() == 1


def test_zero_shot_image_classification_sends_the_labels(page: Any, web_repos: WebRepos) -> None:
    answer = [{"label": "dog", "score": 0.7}, {"label": "cat", "score": 0.3}]
    widget, calls = _open_widget(
        page, web_repos, "zero-shot-image-classification", lambda r: r.fulfill(json=answer)
    )
    widget.locator("input[name=candidate_labels]").fill("dog, cat")
    _send_file(widget, "pet.png", "image/png", _png())
    page.wait_for_selector("#inference-widget .widget-output .bar")
    assert "dog" in widget.locator(".widget-output").inner_text()
    ctype, body = calls[0]
    assert ctype == "application/json"
    sent = json.loads(body)
    assert sent["parameters"] == {"candidate_labels": ["dog", "cat"]}
    assert base64.b64decode(sent["inputs"]) == _png()


def test_audio_classification_shows_bars(page: Any, web_repos: WebRepos) -> None:
    answer = [{"label": "music", "score": 0.8}, {"label": "speech", "score": 0.2}]
    widget, calls = _open_widget(page, web_repos, "audio-classification", lambda r: r.fulfill(json=answer))
    _send_file(widget, "clip.wav", "audio/wav", _wav())
    page.wait_for_selector("#inference-widget .widget-output .bar")
    assert widget.locator(".widget-output .bar").count() == 2
    assert "music" in widget.locator(".widget-output").inner_text()
    assert calls == [("audio/wav", _wav())]


def test_text_to_speech_plays_the_audio(page: Any, web_repos: WebRepos) -> None:
    audio = _wav()
    widget, calls = _open_widget(
        page,
        web_repos,
        "text-to-speech",
        lambda r: r.fulfill(body=audio, headers={"Content-Type": "audio/wav"}),
    )
    widget.locator("textarea").fill("hello there")
    widget.locator("button:has-text('Compute')").click()
    player = widget.locator(".widget-output audio[controls]")
    player.wait_for(state="attached")
    assert player.get_attribute("src").startswith("blob:")
    assert widget.locator(".widget-output").get_attribute("data-audio-bytes") == str(len(audio))
    # the browser loads it (a CSP refusal of blob: media would fail the test through the page fixture)
    page.wait_for_function("() => document.querySelector('#inference-widget audio').readyState >= 1")
    duration = page.evaluate("() => document.querySelector('#inference-widget audio').duration")
    assert duration == pytest.approx(0.1, abs=0.02)
    assert json.loads(calls[0][1]) == {"inputs": "hello there"}


def test_document_question_answering_sends_image_and_question(page: Any, web_repos: WebRepos) -> None:
    answer = [{"answer": "42 EUR", "score": 0.64}]
    widget, calls = _open_widget(
        page, web_repos, "document-question-answering", lambda r: r.fulfill(json=answer)
    )
    widget.locator("input[name=question]").fill("What is the total?")
    _send_file(widget, "invoice.png", "image/png", _png())
    page.wait_for_selector("#inference-widget .widget-output .bar")
    assert "42 EUR" in widget.locator(".widget-output").inner_text()
    sent = json.loads(calls[0][1])
    assert sent == {"inputs": {"image": base64.b64encode(_png()).decode(), "question": "What is the total?"}}
