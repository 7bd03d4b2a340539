"""Diffusers endpoints on the live hub: a tiny Stable-Diffusion pipeline uploaded with ``HfApi.upload_folder`` (Xet),
deployed through ``POST /endpoints/-/api/endpoints`` and called with ``InferenceClient.text_to_image`` /
``image_to_image``, which turn the PNG body into a ``PIL.Image``."""

from __future__ import annotations

import base64
import io
import json
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from huggingface_hub import InferenceClient
from huggingface_hub.errors import HfHubHTTPError
from PIL import Image

from inference.tiny_models import build_tiny_sd

pytestmark = pytest.mark.timeout(300)

MGMT = "/endpoints/-/api/endpoints"
PROMPT = "an astronaut riding a horse on the moon"


def _png_b64(size: tuple[int, int] = (16, 16)) -> str:
    buf = io.BytesIO()
    Image.new("RGB", size, (10, 200, 90)).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


@dataclass
class Deployed:
    hub: Any
    repo: str
    model_dir: Path
    t2i: str  # endpoint names
    i2i: str

    def client(self, name: str, token: str | None = None) -> InferenceClient:
        tok = self.hub.alice if token is None else token
        return InferenceClient(base_url=f"{self.hub.url}/endpoints/{name}", token=tok or None, timeout=60)

    def post(self, name: str, token: str | None = None, **kw: Any) -> httpx.Response:
        tok = self.hub.alice if token is None else token
        headers = {"Authorization": f"Bearer {tok}"} if tok else {}
        return httpx.post(f"{self.hub.url}/endpoints/{name}", headers=headers, timeout=60, **kw)


def _wait_ready(hub: Any, name: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        r = httpx.get(f"{hub.url}{MGMT}/{name}", headers=hub.auth())
        assert r.status_code == 200, r.text
        state = r.json()
        if state["state"] == "ready":
            return
        assert state["state"] != "failed", state
        assert time.monotonic() < deadline, state
        time.sleep(0.2)


@pytest.fixture(scope="module")
def deployed(live_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    """One private repo holding the tiny pipeline (card: text-to-image) and two endpoints on it: the inferred task
    and an ``image-to-image`` override. ``max_wait_ms`` lets concurrent requests meet in one batch."""
    hub = live_server
    model_dir = build_tiny_sd(tmp_path_factory.mktemp("tiny-sd") / "sd")
    repo = f"alice/tiny-sd-{uuid.uuid4().hex[:6]}"
    api = hub.api()
    api.create_repo(repo, private=True)
    api.upload_folder(folder_path=model_dir, repo_id=repo)
    names = []
    for suffix, extra in (("t2i", {}), ("i2i", {"task": "image-to-image"})):
        name = f"{repo.split('/')[1]}-{suffix}"
        body = {"repo_id": repo, "name": name, "max_wait_ms": 150, **extra}
        r = httpx.post(hub.url + MGMT, json=body, headers=hub.auth(), timeout=60)
        assert r.status_code == 201, r.text
        names.append(name)
    try:
        for name in names:
            _wait_ready(hub, name)
        yield Deployed(hub, repo, model_dir, *names)
    finally:
        for name in names:
            httpx.delete(f"{hub.url}{MGMT}/{name}", headers=hub.auth(), timeout=60)


def _pixels(image: Any) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def _reference(model_dir: Path, prompt: str, seed: int, **kw: Any) -> np.ndarray:
    """The same generation straight through diffusers in this process."""
    import torch
    from diffusers import AutoPipelineForText2Image

    pipe = AutoPipelineForText2Image.from_pretrained(model_dir, dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    image = pipe(prompt, generator=torch.Generator().manual_seed(seed), **kw).images[0]
    return _pixels(image)


def test_text_to_image_returns_the_pipelines_image(deployed: Deployed) -> None:
    info = httpx.get(f"{deployed.hub.url}/endpoints/{deployed.t2i}/info", headers=deployed.hub.auth()).json()
    assert info["model_pipeline_tag"] == "text-to-image"  # from the card / model_index.json
    assert info["runtime"]["pipeline"] == "StableDiffusionPipeline"
    client = deployed.client(deployed.t2i)
    image = client.text_to_image(PROMPT, num_inference_steps=2, width=32, height=32, seed=1)
    assert isinstance(image, Image.Image)
    assert image.size == (32, 32) and image.format == "PNG"
    again = client.text_to_image(PROMPT, num_inference_steps=2, width=32, height=32, seed=1)
    assert np.array_equal(_pixels(image), _pixels(again)), "same seed, same image"
    other = client.text_to_image(PROMPT, num_inference_steps=2, width=32, height=32, seed=2)
    assert not np.array_equal(_pixels(image), _pixels(other))
    expected = _reference(deployed.model_dir, PROMPT, 1, num_inference_steps=2, width=32, height=32)
    assert np.abs(_pixels(image) - expected).max() <= 2, "the endpoint's image is diffusers' image"
    wide = client.text_to_image(
        PROMPT,
        negative_prompt="blurry",
        num_inference_steps=3,
        guidance_scale=5.0,
        width=48,
        height=24,
        seed=3,
    )
    assert wide.size == (48, 24)
    swapped = client.text_to_image(
        PROMPT, num_inference_steps=2, width=32, height=32, seed=1, scheduler="EulerDiscreteScheduler"
    )
    assert swapped.size == (32, 32)
    assert not np.array_equal(_pixels(swapped), _pixels(image))


def test_concurrent_requests_share_one_call_and_keep_their_seeds(deployed: Deployed) -> None:
    client = deployed.client(deployed.t2i)
    prompts = [(f"{PROMPT} {i}", 10 + i) for i in range(4)]

    def one(job: tuple[str, int]) -> np.ndarray:
        prompt, seed = job
        return _pixels(client.text_to_image(prompt, num_inference_steps=2, width=32, height=32, seed=seed))

    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(one, prompts))
    alone = [one(job) for job in prompts]
    for a, b in zip(together, alone, strict=True):
        assert np.abs(a - b).max() <= 2, "an image depends on its prompt and seed, not on its batch-mates"
    assert len({arr.tobytes() for arr in alone}) == 4
    metrics = httpx.get(
        f"{deployed.hub.url}/endpoints/{deployed.t2i}/metrics", headers=deployed.hub.auth()
    ).text
    values = {}
    for line in metrics.splitlines():
        if line.startswith("modelyard_inference_batch_size_") and not line.startswith("#"):
            key = line.split("{")[0]
            values[key] = float(line.rsplit(" ", 1)[1])
    assert values["modelyard_inference_batch_size_sum"] > values["modelyard_inference_batch_size_count"], (
        "some call ran several images at once"
    )


def test_image_to_image(deployed: Deployed) -> None:
    client = deployed.client(deployed.i2i)
    source = Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8))
    buf = io.BytesIO()
    source.save(buf, format="PNG")
    png = buf.getvalue()
    out = client.image_to_image(png, prompt=PROMPT, num_inference_steps=4, strength=0.5, seed=7)
    assert isinstance(out, Image.Image) and out.size == (32, 32)
    same = client.image_to_image(png, prompt=PROMPT, num_inference_steps=4, strength=0.5, seed=7)
    assert np.array_equal(_pixels(out), _pixels(same))
    resized = client.image_to_image(
        png, prompt=PROMPT, num_inference_steps=2, target_size={"width": 24, "height": 40}
    )
    assert resized.size == (24, 40)
    raw = client.image_to_image(png)  # no parameters: the client sends the raw image bytes
    assert raw.size == (32, 32)
    assert not np.array_equal(_pixels(raw), _pixels(source))


def test_image_to_image_takes_an_image_file(deployed: Deployed, tmp_path: Path) -> None:
    """A PIL image saved as a JPEG file (this client's hf-inference helper refuses PIL objects themselves)."""
    path = tmp_path / "red.jpg"
    Image.new("RGB", (40, 32), (200, 30, 30)).save(path)
    out = deployed.client(deployed.i2i).image_to_image(
        path, prompt=PROMPT, num_inference_steps=2, strength=0.6
    )
    assert out.size == (40, 32)


@pytest.mark.parametrize(
    ("which", "body", "needle"),
    [
        ("t2i", {"inputs": PROMPT, "parameters": {"num_inference_steps": 10_000}}, "num_inference_steps"),
        ("t2i", {"inputs": PROMPT, "parameters": {"width": -1}}, "width"),
        ("t2i", {"inputs": PROMPT, "parameters": {"width": 4096, "height": 4096}}, "width"),
        ("t2i", {"inputs": PROMPT, "parameters": {"height": 33}}, "multiple of 8"),
        ("t2i", {"inputs": PROMPT, "parameters": {"guidance_scale": "high"}}, "guidance_scale"),
        ("t2i", {"inputs": PROMPT, "parameters": {"seed": -5}}, "seed"),
        ("t2i", {"inputs": PROMPT, "parameters": {"scheduler": "NoSuchScheduler"}}, "scheduler"),
        ("t2i", {"inputs": ""}, "prompt"),
        ("t2i", {"inputs": [PROMPT, PROMPT]}, "prompt"),
        ("t2i", {"parameters": {}}, "inputs"),
        ("i2i", {"inputs": base64.b64encode(b"not an image at all").decode()}, "decode"),
        ("i2i", {"inputs": "%%% not base64"}, "base64"),
        ("i2i", {"inputs": _png_b64(), "parameters": {"strength": 2}}, "strength"),
        ("i2i", {"inputs": _png_b64(), "parameters": {"target_size": {"width": 2048}}}, "target_size.width"),
        (
            "i2i",
            {"inputs": _png_b64(), "parameters": {"num_inference_steps": 1, "strength": 0.1}},
            "strength",
        ),
        ("i2i", {"inputs": _png_b64((5000, 4000))}, "too large"),
    ],
)
def test_bad_parameters_are_422(deployed: Deployed, which: str, body: dict[str, Any], needle: str) -> None:
    name = deployed.t2i if which == "t2i" else deployed.i2i
    r = deployed.post(name, json=body)
    assert r.status_code == 422, r.text
    assert needle in r.json()["error"]


def test_bad_bodies_are_422_through_the_client(deployed: Deployed) -> None:
    with pytest.raises(HfHubHTTPError) as exc:
        deployed.client(deployed.i2i).image_to_image(b"GIF89a but not really an image")
    assert exc.value.response.status_code == 422
    with pytest.raises(HfHubHTTPError) as exc:
        deployed.client(deployed.t2i).text_to_image(PROMPT, num_inference_steps=101)
    assert exc.value.response.status_code == 422
    r = deployed.post(deployed.t2i, content=b"\x89PNG not json")
    assert r.status_code == 422, r.text
    # the endpoint still serves after the refusals
    ok = deployed.client(deployed.t2i).text_to_image(
        PROMPT, num_inference_steps=1, width=16, height=16, seed=0
    )
    assert ok.size == (16, 16)


def test_private_repo_endpoint_refused_to_others(deployed: Deployed) -> None:
    for token in (deployed.hub.bob, ""):
        with pytest.raises(HfHubHTTPError) as exc:
            deployed.client(deployed.t2i, token=token).text_to_image(PROMPT, num_inference_steps=1)
        assert exc.value.response.status_code == 404, token
        r = deployed.post(deployed.i2i, token=token, content=b"\x89PNG")
        assert r.status_code == 404
        assert r.json()["error"] == f"Endpoint {deployed.i2i!r} not found"
    read = deployed.client(deployed.t2i, token=deployed.hub.alice_read)
    assert read.text_to_image(PROMPT, num_inference_steps=1, width=16, height=16).size == (16, 16)


# ------------------------------------------------------------------------------------------ no server needed
def test_requests_differing_in_prompt_or_seed_batch_together() -> None:
    from modelyard.inference.batching import params_key
    from modelyard.inference.requests import parse_task_request

    def parse(body: dict[str, Any]) -> Any:
        return parse_task_request("text-to-image", json.dumps(body).encode(), "application/json")

    shared = {"num_inference_steps": 2, "width": 32, "height": 32}
    a = parse({"inputs": "a cat", "parameters": {**shared, "seed": 1}})
    b = parse({"inputs": "a dog", "parameters": {**shared, "seed": 2, "negative_prompt": "blurry"}})
    c = parse({"inputs": "a dog", "parameters": {**shared, "guidance_scale": 3.0}})
    assert params_key(a) == params_key(b) != params_key(c)
    assert a.items == ({"prompt": "a cat", "negative_prompt": None, "seed": 1},)
    sized = parse({"inputs": "x", "parameters": {"target_size": {"width": 64, "height": 48}}})
    assert sized.params == {"width": 64, "height": 48}
    image = parse_task_request("image-to-image", b"\x89PNG...", "image/png")
    assert image.items[0]["image"] == b"\x89PNG..." and image.params == {}
    resize = parse_task_request(
        "image-to-image", json.dumps({"inputs": _png_b64(), "parameters": {"width": 24}}).encode(), None
    )
    assert resize.params == {"target_size": {"width": 24}}


def test_task_inference_for_diffusers_repos(tmp_path: Path) -> None:
    from modelyard.inference.tasks import infer_task

    def repo(name: str, class_name: str, card: str = "") -> Path:
        path = tmp_path / name
        path.mkdir()
        (path / "model_index.json").write_text(json.dumps({"_class_name": class_name}))
        if card:
            (path / "README.md").write_text(f"---\npipeline_tag: {card}\n---\n")
        return path

    assert infer_task(repo("sd", "StableDiffusionPipeline")) == "text-to-image"
    assert infer_task(repo("flux", "FluxPipeline")) == "text-to-image"
    assert infer_task(repo("img2img", "StableDiffusionImg2ImgPipeline")) == "image-to-image"
    assert infer_task(repo("tagged", "StableDiffusionPipeline", "image-to-image")) == "image-to-image"
