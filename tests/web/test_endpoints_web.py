"""Inference endpoints in the web UI: the Deploy form, the endpoint page (state, logs, charts, pause/resume/delete),
the widget per task (real tiny models: text-classification, sentence-similarity, token-classification, streamed
text-generation), and the attacks: anonymous and foreign deploys, foreign pauses, missing CSRF tokens, and the
widget's session auth on `/endpoints` (cookie + X-CSRF-Token, never the cookie alone)."""

from __future__ import annotations

import os
import pickle
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.web._browser import axe, login, no_sideways_scroll, shot
from tests.web._http import csrf_of, error_code, web_client

MGMT = "/endpoints/-/api/endpoints"
browser_only = pytest.mark.skipif(
    not os.path.exists("/usr/bin/chromium"), reason="/usr/bin/chromium missing: apt-get install chromium"
)


class _Evil:
    """Pickled, it names os.system (never unpickled here): the hub's scan refuses to deploy it."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, ("echo pwned",))


def _until(page: Any, js: str, timeout: float = 15) -> None:
    """Poll a JavaScript expression from here (wait_for_function evaluates strings, which the pages' CSP forbids)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(f"() => Boolean({js})"):
        assert time.monotonic() < deadline, f"still false after {timeout}s: {js}"
        time.sleep(0.1)


def _upload(hub: Any, folder: Path, task: str | None, private: bool = False) -> str:
    repo = f"alice/ep-{uuid.uuid4().hex[:8]}"
    api = hub.api()
    api.create_repo(repo, private=private)
    api.upload_folder(folder_path=folder, repo_id=repo)
    card = f"---\npipeline_tag: {task}\n---\n# tiny\n" if task else "# tiny\n"
    api.upload_file(path_or_fileobj=card.encode(), path_in_repo="README.md", repo_id=repo)
    return repo


def _deploy(hub: Any, repo: str, **config: Any) -> str:
    name = repo.split("/")[1]
    r = httpx.post(hub.url + MGMT, json={"repo_id": repo, "name": name, **config}, headers=hub.auth())
    assert r.status_code == 201, r.text
    return name


def _state(hub: Any, name: str) -> dict[str, Any]:
    r = httpx.get(f"{hub.url}{MGMT}/{name}", headers=hub.auth())
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


def _wait_ready(hub: Any, name: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while (data := _state(hub, name))["state"] != "ready":
        assert data["state"] != "failed", data
        assert time.monotonic() < deadline, data
        time.sleep(0.2)


def _delete(hub: Any, name: str) -> None:
    httpx.delete(f"{hub.url}{MGMT}/{name}", headers=hub.auth(), timeout=120)


@pytest.fixture(scope="module")
def tiny_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from tests.inference import tiny_models

    root = tmp_path_factory.mktemp("web-tiny")
    return {
        "sentence-similarity": tiny_models.build_bert(root / "sim", "sentence-similarity"),
        "token-classification": tiny_models.build_bert(root / "ner", "token-classification"),
        "text-generation": tiny_models.build_causal_lm(root / "gen"),
    }


@pytest.fixture
def classifier(live_server: Any, tiny_model_dir: Path) -> Iterator[str]:
    """A public tiny text-classification model of alice's; endpoints named after it are deleted afterwards."""
    repo = _upload(live_server, tiny_model_dir, "text-classification")
    yield repo
    _delete(live_server, repo.split("/")[1])


# ------------------------------------------------------------------------------------------- browser flows
@browser_only
def test_deploy_use_pause_resume_delete(page: Any, live_server: Any, classifier: str) -> None:
    hub = live_server
    name = classifier.split("/")[1]
    login(page, hub.url, hub.alice)
    page.goto(f"{hub.url}/{classifier}")
    page.click("a.deploy")
    page.wait_for_url(f"**/{classifier}/deploy")
    form = page.locator("#deploy-form")
    assert form.locator("input[name=name]").input_value() == name  # from the repo's name
    assert form.locator("select[name=task]").input_value() == "text-classification"  # its pipeline_tag
    form.locator("input[name=max_batch_size]").fill("8")
    form.locator("input[name=keep_alive_s]").fill("600")
    axe(page)
    shot(page, "endpoints-deploy")
    form.locator("button:has-text('Deploy')").click()
    page.wait_for_url(f"**/inference-endpoints/{name}")
    config = _state(hub, name)["config"]
    assert (config["max_batch_size"], config["keep_alive_s"], config["task"]) == (
        8,
        600,
        "text-classification",
    )

    page.wait_for_selector("#endpoint-state[data-state=ready]", timeout=60000)  # polled by endpoint.js
    widget = page.locator("#inference-widget")
    widget.wait_for(state="visible")
    for text in ("the cat is happy today", "a dog was sad again"):
        widget.locator("textarea").fill(text)
        widget.locator("button:has-text('Compute')").click()
        _until(page, "document.querySelectorAll('#inference-widget .widget-output .bar').length > 0")
        assert "POSITIVE" in widget.locator(".widget-output").inner_text()
    # the charts sample the metrics every 2 s: the requests show up as requests/s and latency
    _until(
        page,
        "Number(document.querySelector('#endpoint-charts [data-series=rps]').dataset.max) > 0",
        timeout=15,
    )
    _until(page, "Number(document.querySelector('#endpoint-charts [data-series=latency]').dataset.max) > 0")
    assert page.locator("#endpoint-charts svg polyline").count() >= 4
    logs = page.locator("#endpoint-logs").inner_text()
    assert "created for" in logs and "ready in" in logs
    axe(page)
    shot(page, "endpoints-page")

    page.click("#endpoint-actions button:has-text('Pause')")
    page.wait_for_selector("#endpoint-state[data-state=paused]")
    assert _state(hub, name)["state"] == "paused"
    _until(page, "document.querySelector('#endpoint-logs').innerText.includes('paused')")
    page.click("#endpoint-actions button:has-text('Resume')")
    page.wait_for_selector("#endpoint-state[data-state=ready]", timeout=60000)

    page.goto(f"{hub.url}/inference-endpoints")
    assert page.locator(f"#endpoints-table tr[data-endpoint='{name}']").count() == 1
    page.click(f"#endpoints-table a:has-text('{name}')")
    page.click("#endpoint-actions summary:has-text('Delete')")
    page.fill("#delete-form input[name=confirm]", name)
    page.click("#delete-form button:has-text('Delete')")
    page.wait_for_url(f"{hub.url}/inference-endpoints")
    assert page.locator(f"#endpoints-table tr[data-endpoint='{name}']").count() == 0
    assert httpx.get(f"{hub.url}{MGMT}/{name}", headers=hub.auth()).status_code == 404


@browser_only
def test_widget_sentence_similarity_on_a_private_repo(
    page: Any, live_server: Any, tiny_dirs: dict[str, Path]
) -> None:
    """The logged-in browser uses the widget of a private model it can read (cookie + X-CSRF-Token)."""
    hub = live_server
    repo = _upload(hub, tiny_dirs["sentence-similarity"], "sentence-similarity", private=True)
    name = _deploy(hub, repo)
    try:
        _wait_ready(hub, name)
        login(page, hub.url, hub.alice)
        page.goto(f"{hub.url}/{repo}")
        widget = page.locator("#inference-widget")
        widget.wait_for(state="visible")
        widget.locator("textarea[aria-label='Source sentence']").fill("the cat is happy")
        widget.locator("textarea[name=sentences]").fill("the cat is happy\nmy friend was sad again")
        widget.locator("button:has-text('Compute')").click()
        page.wait_for_selector("#inference-widget .widget-output .row.similarity")
        rows = widget.locator(".widget-output .row")
        assert rows.count() == 2
        first, second = (float(rows.nth(i).locator(".score").inner_text()) for i in range(2))
        assert first == pytest.approx(1.0, abs=1e-3) and second < first  # the same sentence scores 1
        page.evaluate("window.scrollTo(0, 0)")  # the sticky header stays on top of the full-page shot
        shot(page, "endpoints-widget-similarity")
    finally:
        _delete(hub, name)


@browser_only
def test_widget_token_classification_highlights_entities(
    page: Any, live_server: Any, tiny_dirs: dict[str, Path]
) -> None:
    hub = live_server
    repo = _upload(hub, tiny_dirs["token-classification"], None)  # task inferred from the config
    name = _deploy(hub, repo)
    try:
        _wait_ready(hub, name)
        page.goto(f"{hub.url}/inference-endpoints/{name}")  # public model: readable anonymously
        widget = page.locator("#inference-widget")
        widget.wait_for(state="visible")
        assert widget.get_attribute("data-task") == "token-classification"
        sentence = "my friend is happy in the end"
        widget.locator("textarea").fill(sentence)
        widget.locator("button:has-text('Compute')").click()
        page.wait_for_selector("#inference-widget .entities")
        assert page.locator("#endpoint-actions").count() == 0  # no buttons for an anonymous reader
        marks = widget.locator("mark.entity")
        assert marks.count() >= 1  # random tiny weights: some tokens get a label
        label = marks.first.get_attribute("data-entity")
        assert label and label != "O"
        # the highlighted text is the sentence itself, with the entities' labels added
        plain = page.evaluate(
            "() => { const p = document.querySelector('#inference-widget .entities').cloneNode(true);"
            " p.querySelectorAll('.entity-label').forEach(e => e.remove()); return p.textContent; }"
        )
        assert plain == sentence
    finally:
        _delete(hub, name)


@browser_only
def test_widget_text_generation_streams(page: Any, live_server: Any, tiny_dirs: dict[str, Path]) -> None:
    hub = live_server
    repo = _upload(hub, tiny_dirs["text-generation"], "text-generation")
    name = _deploy(hub, repo)
    seen: list[str] = []
    page.on(
        "request", lambda r: seen.append(r.post_data or "") if r.url.endswith(f"/endpoints/{name}") else None
    )
    try:
        _wait_ready(hub, name)
        login(page, hub.url, hub.alice)
        page.goto(f"{hub.url}/{repo}")
        widget = page.locator("#inference-widget")
        widget.wait_for(state="visible")
        widget.locator("textarea").fill("the cat")
        widget.locator("button:has-text('Compute')").click()
        page.wait_for_selector("#inference-widget .widget-output[data-done='1']", timeout=30000)
        out = widget.locator(".widget-output")
        assert int(out.get_attribute("data-tokens") or 0) > 1  # token events, one by one
        assert widget.locator(".completion").inner_text().strip()
        assert '"stream":true' in seen[0]
    finally:
        _delete(hub, name)


# a 1x1 PNG and a short WAV: the widget sends the file's bytes as they are
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c6360f80f00000101000518d84e0000000049454e44ae426082"
)
WAV = b"RIFF$\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x80>\x00\x00\x00}\x00\x00\x02\x00\x10\x00data\x00\x00\x00\x00"


@browser_only
def test_widget_file_and_image_tasks(page: Any, live_server: Any) -> None:
    """Image classification and ASR post the chosen file's bytes; an image answer (text-to-image) is drawn. The
    endpoint is stubbed with the documented shapes (docs/inference.md), like test_browser.py's widget test."""
    hub = live_server
    repo = f"alice/ep-stub-{uuid.uuid4().hex[:6]}"
    hub.api().create_repo(repo)
    sent: list[tuple[str, bytes]] = []
    task = {"value": ""}

    def listing(route: Any) -> None:
        ep = {"name": "stubbed", "repo_id": repo, "state": "ready", "task": task["value"]}
        route.fulfill(json={"endpoints": [ep]})

    def predict(route: Any) -> None:
        sent.append((route.request.headers.get("content-type", ""), route.request.post_data_buffer or b""))
        if task["value"] == "image-classification":
            route.fulfill(json=[{"label": "tabby cat", "score": 0.8}, {"label": "dog", "score": 0.2}])
        elif task["value"] == "automatic-speech-recognition":
            route.fulfill(json={"text": "hello from the audio"})
        else:
            route.fulfill(body=PNG, content_type="image/png")

    page.route("**/endpoints/-/api/endpoints", listing)
    page.route("**/endpoints/stubbed", predict)
    widget = page.locator("#inference-widget")
    out = widget.locator(".widget-output")

    task["value"] = "image-classification"
    page.goto(f"{hub.url}/{repo}")
    widget.wait_for(state="visible")
    assert widget.locator("textarea").count() == 0
    widget.locator("input[type=file]").set_input_files(
        {"name": "cat.png", "mimeType": "image/png", "buffer": PNG}
    )
    widget.locator("button:has-text('Compute')").click()
    page.wait_for_selector("#inference-widget .widget-output img.widget-image")
    assert "tabby cat" in out.inner_text() and out.locator(".bar").count() == 2
    assert sent[-1] == ("image/png", PNG)

    task["value"] = "automatic-speech-recognition"
    page.goto(f"{hub.url}/{repo}")
    widget.wait_for(state="visible")
    widget.locator("input[type=file]").set_input_files(
        {"name": "a.wav", "mimeType": "audio/wav", "buffer": WAV}
    )
    widget.locator("button:has-text('Compute')").click()
    page.wait_for_selector("#inference-widget .widget-output pre.generated")
    assert out.inner_text().strip() == "hello from the audio"
    assert sent[-1] == ("audio/wav", WAV)

    task["value"] = "text-to-image"
    page.goto(f"{hub.url}/{repo}")
    widget.wait_for(state="visible")
    widget.locator("textarea").fill("a red square")
    widget.locator("button:has-text('Compute')").click()
    page.wait_for_selector("#inference-widget .widget-output img.widget-image")
    assert page.evaluate(
        "document.querySelector('#inference-widget img.widget-image').src.startsWith('data:image/png')"
    )


@browser_only
def test_endpoint_pages_fit_a_phone(phone: Any, live_server: Any, classifier: str) -> None:
    hub = live_server
    name = _deploy(hub, classifier, load=False)
    login(phone, hub.url, hub.alice)
    for path in (f"/{classifier}/deploy", f"/inference-endpoints/{name}", "/inference-endpoints"):
        phone.goto(hub.url + path)
        no_sideways_scroll(phone)
    shot(phone, "endpoints-list-phone")
    axe(phone)


# ------------------------------------------------------------------------------------------- HTTP level
def test_deploy_form_errors_rerender(live_server: Any, classifier: str) -> None:
    hub = live_server
    name = classifier.split("/")[1]
    alice, token = web_client(hub.url, hub.alice)
    page = alice.get(f"/{classifier}/deploy")
    assert page.status_code == 200 and 'id="deploy-form"' in page.text
    url = f"/{classifier}/deploy"
    base = {"csrf_token": token, "name": name, "task": "", "revision": "main", "keep_alive_s": "300"}
    r = alice.post(url, data={**base, "load": "x"})
    assert r.status_code == 303 and r.headers["location"] == f"/inference-endpoints/{name}"
    for change, status, code in (
        ({}, 409, "EndpointExists"),  # the name is taken now
        ({"name": "Bad Name!"}, 422, "InvalidInput"),
        ({"name": "x" * 200}, 422, "InvalidInput"),
        ({"name": "other-1", "task": "no-such-task"}, 422, "UnsupportedTask"),
        ({"name": "other-2", "max_batch_size": "lots"}, 422, "InvalidInput"),
        ({"name": "other-3", "max_wait_ms": "99999"}, 422, "InvalidInput"),
        ({"name": "other-5", "keep_alive_s": "nan"}, 422, "InvalidInput"),
        ({"name": "other-6", "keep_alive_s": "-1"}, 422, "InvalidInput"),
        ({"name": "other-4", "revision": "no-such-branch"}, 404, "RevisionNotFound"),
    ):
        r = alice.post(url, data={**base, **change})
        assert r.status_code == status, (change, r.status_code, r.text[:300])
        assert 'role="alert"' in r.text and code in r.text, change
        assert 'id="deploy-form"' in r.text  # the form again, with what was typed
    # a model with a pickle file that imports os.system: 409 UnsafePickle, said on the form (nothing created)
    evil = f"alice/ep-evil-{uuid.uuid4().hex[:6]}"
    hub.api().create_repo(evil)
    hub.api().upload_file(path_or_fileobj=pickle.dumps(_Evil()), path_in_repo="model.pkl", repo_id=evil)
    r = alice.post(f"/{evil}/deploy", data={**base, "name": "other-evil"})
    assert r.status_code == 409 and "UnsafePickle" in r.text and 'role="alert"' in r.text, r.text[:300]
    names = {e["name"] for e in httpx.get(hub.url + MGMT, headers=hub.auth()).json()["endpoints"]}
    assert not names & {"other-evil", *(f"other-{i}" for i in range(1, 7))}


def test_deploy_and_manage_attacks(live_server: Any, classifier: str) -> None:
    hub = live_server
    api = hub.api()
    secret = f"alice/ep-secret-{uuid.uuid4().hex[:6]}"
    api.create_repo(secret, private=True)
    name = classifier.split("/")[1]
    anon = httpx.Client(base_url=hub.url, timeout=30)
    pre = csrf_of(anon.get("/login").text)
    bob, bob_token = web_client(hub.url, hub.bob)
    reader, reader_token = web_client(hub.url, hub.alice_read)
    alice, alice_token = web_client(hub.url, hub.alice)

    # the Deploy button only for who may deploy (endpoint_rule "manage")
    assert 'class="btn deploy"' in alice.get(f"/{classifier}").text
    assert 'class="btn deploy"' not in bob.get(f"/{classifier}").text
    assert 'class="btn deploy"' not in reader.get(f"/{classifier}").text
    # anonymous: the deploy page sends to the login, the POST is 401
    r = anon.get(f"/{classifier}/deploy")
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    r = anon.post(f"/{classifier}/deploy", data={"csrf_token": pre, "name": "anon-ep"})
    assert r.status_code == 401
    # bob cannot see alice's private model (404), nor deploy alice's public one (403: no write access)
    assert bob.get(f"/{secret}/deploy").status_code == 404
    r = bob.post(f"/{secret}/deploy", data={"csrf_token": bob_token, "name": "bob-steals"})
    assert r.status_code == 404
    r = bob.post(f"/{classifier}/deploy", data={"csrf_token": bob_token, "name": "bob-public"})
    assert r.status_code == 403
    # alice logged in with her read-only token: no write, no deploy
    r = reader.post(f"/{classifier}/deploy", data={"csrf_token": reader_token, "name": "read-only"})
    assert r.status_code == 403
    listed = {e["name"] for e in httpx.get(hub.url + MGMT, headers=hub.auth()).json()["endpoints"]}
    assert not listed & {"anon-ep", "bob-steals", "bob-public", "read-only"}

    _deploy(hub, classifier, load=False)
    page = f"/inference-endpoints/{name}"
    # bob may read the public endpoint's page but gets no buttons, and cannot pause or delete it
    r = bob.get(page)
    assert r.status_code == 200 and "/pause" not in r.text
    assert bob.post(f"{page}/pause", data={"csrf_token": bob_token}).status_code == 403
    r = bob.post(f"{page}/delete", data={"csrf_token": bob_token, "confirm": name})
    assert r.status_code == 403
    assert anon.post(f"{page}/pause", data={"csrf_token": pre}).status_code == 401
    # CSRF: no token, or bob's token in alice's session
    for path in (f"{page}/pause", f"{page}/resume", f"{page}/delete", f"/{classifier}/deploy"):
        for data in ({"confirm": name, "name": "csrf-x"}, {"csrf_token": bob_token, "confirm": name}):
            r = alice.post(path, data=data)
            assert r.status_code == 403 and error_code(r) == "CsrfTokenInvalid", (path, data)
    # a delete without the typed name is refused (and re-renders the page)
    r = alice.post(f"{page}/delete", data={"csrf_token": alice_token, "confirm": "nope"})
    assert r.status_code == 400 and 'role="alert"' in r.text
    assert _state(hub, name)["state"] in ("unloaded", "loading", "ready")
    # alice's own pause works
    r = alice.post(f"{page}/pause", data={"csrf_token": alice_token})
    assert r.status_code == 303 and _state(hub, name)["state"] == "paused"
    # unknown and hostile names: 404 pages, never a 500
    for bad in ("no-such-endpoint", "..%2F..%2Fetc", "%00", "A" * 300):
        assert alice.get(f"/inference-endpoints/{bad}").status_code in (400, 404), bad
        r = alice.post(f"/inference-endpoints/{bad}/pause", data={"csrf_token": alice_token})
        assert r.status_code in (400, 404, 405), (bad, r.status_code)  # 405: a path no route has
    # the list: alice sees her endpoint, bob does not; anonymous goes to the login
    assert f'data-endpoint="{name}"' in alice.get("/inference-endpoints").text
    assert f'data-endpoint="{name}"' not in bob.get("/inference-endpoints").text
    assert anon.get("/inference-endpoints").status_code == 303


def test_endpoints_accept_the_session_only_with_its_csrf_header(
    live_server: Any, tiny_model_dir: Path
) -> None:
    """/endpoints for the web UI's scripts: cookie + X-CSRF-Token is the logged-in user; the cookie alone, a wrong
    header, another user's session or a forged marker token are not."""
    hub = live_server
    repo = _upload(hub, tiny_model_dir, "text-classification", private=True)
    name = _deploy(hub, repo)
    try:
        _wait_ready(hub, name)
        alice, alice_token = web_client(hub.url, hub.alice)
        bob, bob_token = web_client(hub.url, hub.bob)
        body = {"inputs": "the cat is happy today"}
        ok = alice.post(f"/endpoints/{name}", json=body, headers={"X-CSRF-Token": alice_token})
        assert ok.status_code == 200, ok.text
        assert {x["label"] for x in ok.json()[0]} >= {"POSITIVE", "NEGATIVE"}
        for client, headers in (
            (alice, {}),  # the cookie alone (what a cross-site form could send)
            (alice, {"X-CSRF-Token": bob_token}),  # a token that is not this session's
            (alice, {"X-CSRF-Token": "x"}),
            (bob, {"X-CSRF-Token": bob_token}),  # bob's own session: cannot read alice's private model
            (httpx.Client(base_url=hub.url), {"X-CSRF-Token": alice_token}),  # no cookie
            (httpx.Client(base_url=hub.url), {"Authorization": "Bearer web-session.forged"}),
        ):
            r = client.post(f"/endpoints/{name}", json=body, headers=headers)
            assert r.status_code in (401, 404), (headers, r.status_code, r.text)
        # the management list: the private endpoint only with the header
        listed = alice.get(MGMT, headers={"X-CSRF-Token": alice_token}).json()["endpoints"]
        assert name in {e["name"] for e in listed}
        assert name not in {e["name"] for e in alice.get(MGMT).json()["endpoints"]}
        assert name not in {
            e["name"] for e in bob.get(MGMT, headers={"X-CSRF-Token": bob_token}).json()["endpoints"]
        }
        # a read of the endpoint's state and metrics (the endpoint page's polling) works the same way
        assert alice.get(f"{MGMT}/{name}", headers={"X-CSRF-Token": alice_token}).json()["logs"]
        assert (
            alice.get(f"/endpoints/{name}/metrics", headers={"X-CSRF-Token": alice_token}).status_code == 200
        )
        assert alice.get(f"/endpoints/{name}/metrics").status_code == 404
        # managing through the JSON API with the session is the user's right too, and refused without the header
        r = alice.post(f"{MGMT}/{name}/pause")
        assert r.status_code in (401, 404)
        r = bob.post(f"{MGMT}/{name}/pause", headers={"X-CSRF-Token": bob_token})
        assert r.status_code == 404 and _state(hub, name)["state"] == "ready"
    finally:
        _delete(hub, name)


def test_endpoint_logs_keep_the_last_lines() -> None:
    from modelyard.inference.config import EndpointConfig
    from modelyard.inference.manager import LOG_LINES, Endpoint

    endpoint = Endpoint(EndpointConfig(name="logs", repo_id="alice/x"))
    for i in range(LOG_LINES + 5):
        endpoint.event("info", f"line {i}")
    logs = endpoint.to_dict()["logs"]
    assert len(logs) == LOG_LINES and logs[-1]["message"] == f"line {LOG_LINES + 4}"
    assert logs[0]["message"] == "line 5" and logs[0]["level"] == "info"
