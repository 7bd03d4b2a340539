"""Jobs and fine-tuning in the web UI, over HTTP (httpx with a logged-in session): the jobs list and a job's page
(members of the namespace only: bob, anonymous and foreign namespaces get 404), the live streams (the session
cookie, members only), hostile labels, commands and recipes escaped, the Fine-tune form (model repos only, signed-in
users, the Fine-tune button), and the controls (Cancel, Run again: CSRF token and a write role required).

The jobs here are written through the hub's own JobStore (the runner is off on the session hub: these pages read
the store; tests/web/test_jobs_browser.py runs a real fine-tune)."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest
from tests.web._http import csrf_of, error_code, web_client

from modelyard.jobs.spec import new_job_id

XSS = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'


def _ns_id(hub: Any, name: str) -> int:
    acc = hub.services.accounts.find(name)
    assert acc is not None
    return int(acc.id)


def _job(
    hub: Any,
    ns: str = "alice",
    *,
    kind: str = "job",
    stage: str | None = None,
    labels: dict[str, str] | None = None,
    command: list[str] | None = None,
    recipe: dict[str, Any] | None = None,
    progress: list[dict[str, Any]] | None = None,
    result: dict[str, Any] | None = None,
    message: str | None = None,
) -> str:
    store = hub.services.jobs
    job_id = new_job_id()
    spec = {
        "dockerImage": "modelyard/train" if kind == "training" else "python:3.12",
        "command": command or ["python", "-c", "print('hi')"],
        "arguments": [],
        "environment": {"GREETING": "hello"},
        "secrets": {"API_KEY": ""},
        "flavor": "cpu-basic",
        "labels": labels or {},
        "volumes": [],
    }
    owner = hub.services.accounts.find("alice")
    store.create(
        job_id,
        _ns_id(hub, ns),
        owner.id,
        "write",
        None,
        spec,
        {"API_KEY": "sk-never-shown-1234"},
        kind,
        recipe,
    )
    if stage:
        store.set_stage(
            job_id, stage, message, exit_code=0 if stage == "COMPLETED" else None, started=True,
            finished=stage in ("COMPLETED", "ERROR", "CANCELED"),
        )  # fmt: skip
    for p in progress or []:
        store.set_progress(job_id, p)
    if result is not None:
        store.set_result(job_id, result)
    return job_id


@pytest.fixture(scope="module")
def alice(live_server: Any) -> tuple[httpx.Client, str]:
    return web_client(live_server.url, live_server.alice)


@pytest.fixture(scope="module")
def bob(live_server: Any) -> tuple[httpx.Client, str]:
    return web_client(live_server.url, live_server.bob)


@pytest.fixture(scope="module")
def alice_read(live_server: Any) -> tuple[httpx.Client, str]:
    return web_client(live_server.url, live_server.alice_read)


RECIPE = {
    "task": "text-classification",
    "base_model": "alice/tiny-bert",
    "dataset": "alice/sentiment",
    "output_repo": "alice/tiny-bert-finetuned",
    "columns": {"text": "text", "label": "label"},
    "hyperparameters": {"epochs": 1.0},
}


# ------------------------------------------------------------------------------------------------- pages
def test_list_page_members_newest_first_and_filter(live_server: Any, alice: Any, bob: Any) -> None:
    hub = live_server
    first = _job(hub, stage="COMPLETED", labels={"suite": "web-list"})
    second = _job(hub, stage="ERROR", message="exit code 1", labels={"suite": "web-list"})
    third = _job(hub, kind="training", recipe=RECIPE)
    c, _ = alice
    r = c.get("/jobs/alice")
    assert r.status_code == 200, r.text[:300]
    html = r.text
    assert html.index(third) < html.index(second) < html.index(first)  # newest first
    assert "text-classification · alice/tiny-bert" in html and "python:3.12" in html
    assert 'href="/jobs/alice"' in html  # the Jobs link of the navigation
    only_errors = c.get("/jobs/alice?stage=error").text
    assert second in only_errors and first not in only_errors and third not in only_errors
    training = c.get("/jobs/alice?kind=training").text
    assert third in training and first not in training
    # bob is no member of alice's namespace: 404, as for a namespace that does not exist
    b, _ = bob
    for path in ("/jobs/alice", f"/jobs/alice/{first}", "/jobs/nobody-here"):
        r = b.get(path)
        assert r.status_code == 404, (path, r.status_code)
        assert 'class="job-item"' not in r.text and "print(" not in r.text and "job-facts" not in r.text
    # anonymous: sent to log in (pages), 404 (streams)
    anon = httpx.Client(base_url=hub.url, follow_redirects=False)
    r = anon.get(f"/jobs/alice/{first}")
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    assert anon.get(f"/jobs/alice/{first}/logs/stream").status_code == 404
    assert anon.get(f"/jobs/alice/{first}/events/stream").status_code == 404


def test_org_jobs_for_members_only(live_server: Any, alice: Any, bob: Any) -> None:
    hub = live_server
    job = _job(hub, "acme", stage="RUNNING")
    a, _ = alice
    assert job in a.get("/jobs/acme").text
    page = a.get(f"/jobs/acme/{job}")
    assert page.status_code == 200 and 'data-stage="RUNNING"' in page.text
    b, _ = bob
    assert b.get("/jobs/acme").status_code == 404
    assert b.get(f"/jobs/acme/{job}").status_code == 404
    assert b.get(f"/jobs/acme/{job}/events/stream").status_code == 404
    # the job is not found under another namespace either (bob's own: it is not his)
    assert b.get(f"/jobs/bob/{job}").status_code == 404
    assert a.get(f"/jobs/alice/{job}").status_code == 404


def test_hostile_labels_command_and_message_are_escaped(live_server: Any, alice: Any) -> None:
    hub = live_server
    job = _job(
        hub,
        stage="ERROR",
        labels={"evil": XSS},
        command=["sh", "-c", f"echo '{XSS}'"],
        message=f"crashed: {XSS}",
    )
    c, _ = alice
    for path in (f"/jobs/alice/{job}", "/jobs/alice"):
        html = c.get(path).text
        assert "<script>window.__pwned" not in html and "<img src=x" not in html, path
        assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html, path
    html = c.get(f"/jobs/alice/{job}").text
    assert "sk-never-shown-1234" not in html  # secret values are never shown, their names are
    assert "API_KEY" in html


def test_training_job_page_chart_progress_and_result(live_server: Any, alice: Any) -> None:
    hub = live_server
    job = _job(
        hub,
        kind="training",
        stage="COMPLETED",
        recipe={**RECIPE, "output_repo": "alice/tiny-bert-finetuned", "dataset": "alice/reviews-<b>x</b>"},
        progress=[{"step": 40, "max_steps": 40, "epoch": 1.0, "loss": 0.12, "phase": "done",
                   "eval": {"accuracy": 0.95, "loss": 0.2}}],
        result={"repo": "alice/tiny-bert-finetuned", "revision": "a" * 40, "metrics": {"eval_accuracy": 0.95},
                "adapter": False, "endpoint": "tiny-bert-finetuned"},
    )  # fmt: skip
    c, _ = alice
    html = c.get(f"/jobs/alice/{job}").text
    assert 'id="loss-chart"' in html
    points = re.search(r'id="loss-line" class="train" points="([^"]*)"', html)
    assert points is not None and points.group(1)  # drawn server-side from the last progress event
    assert re.search(r'<progress id="job-bar" max="100" value="100.0"', html)
    assert 'id="result-link" href="/alice/tiny-bert-finetuned"' in html
    assert 'id="endpoint-link" href="/inference-endpoints/tiny-bert-finetuned"' in html
    assert "eval_accuracy" in html and "0.95" in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>x</b>" not in html
    # Run again: the Fine-tune form, filled with this recipe
    assert f'href="/alice/tiny-bert/fine-tune?from=alice%2F{job}"' in html
    # the events stream of an ended job: its status, then the end
    r = c.get(f"/jobs/alice/{job}/events/stream", timeout=20)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    assert 'event: status\ndata: {"stage": "COMPLETED"' in r.text and "event: end" in r.text
    r = c.get(f"/jobs/alice/{job}/logs/stream", timeout=20)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    assert "event: end" in r.text


def test_result_link_is_only_the_recipes_output_repo(live_server: Any, alice: Any) -> None:
    """A job writes its own result.json: a repo there other than the recipe's output repo (a protocol-relative
    URL, someone else's repo) is never linked."""
    c, _ = alice
    for hostile in ("/evil.example", "bob/other-model", "javascript:alert(1)/x"):
        job = _job(
            live_server,
            kind="training",
            stage="COMPLETED",
            recipe={**RECIPE, "output_repo": "alice/tiny-bert-finetuned"},
            result={"repo": hostile, "metrics": {}, "adapter": False},
        )
        html = c.get(f"/jobs/alice/{job}").text
        assert 'id="result-link"' not in html, hostile
        assert 'href="//evil.example"' not in html and 'href="/bob/other-model"' not in html


def test_read_token_session_sees_but_cannot_act(live_server: Any, alice_read: Any) -> None:
    hub = live_server
    job = _job(hub, stage="RUNNING")
    c, token = alice_read
    html = c.get(f"/jobs/alice/{job}").text
    assert 'id="cancel-form"' not in html
    r = c.post(f"/jobs/alice/{job}/cancel", data={"csrf_token": token})
    assert r.status_code == 403, r.text[:300]


def test_controls_need_csrf_and_membership(live_server: Any, alice: Any, bob: Any) -> None:
    hub = live_server
    job = _job(hub, stage="COMPLETED")
    c, token = alice
    page = c.get(f"/jobs/alice/{job}").text
    assert 'action="/jobs/alice/' + job + '/cancel"' in page and csrf_of(page) == token
    for action in ("cancel", "run-again"):
        r = c.post(f"/jobs/alice/{job}/{action}", data={})
        assert r.status_code == 403 and error_code(r) == "CsrfTokenInvalid", (action, r.status_code)
        r = c.post(f"/jobs/alice/{job}/{action}", data={"csrf_token": "forged"})
        assert r.status_code == 403 and error_code(r) == "CsrfTokenInvalid", action
        b, btoken = bob
        r = b.post(f"/jobs/alice/{job}/{action}", data={"csrf_token": btoken})
        assert r.status_code == 404, (action, r.status_code)
    # alice cancels an ended job: nothing changes, back to its page
    r = c.post(f"/jobs/alice/{job}/cancel", data={"csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == f"/jobs/alice/{job}"
    assert hub.services.jobs.get(job).stage == "COMPLETED"
    # a training job runs again from its form, never from here
    tjob = _job(hub, kind="training", recipe=RECIPE, stage="COMPLETED")
    r = c.post(f"/jobs/alice/{tjob}/run-again", data={"csrf_token": token})
    assert r.status_code == 400


# ---------------------------------------------------------------------------------------------- fine-tune
def test_fine_tune_form_only_for_model_repos(live_server: Any, alice: Any, bob: Any) -> None:
    hub = live_server
    api = hub.api()
    tag = uuid.uuid4().hex[:6]
    model, dataset, private = f"alice/ft-model-{tag}", f"alice/ft-data-{tag}", f"alice/ft-private-{tag}"
    api.create_repo(model)
    api.upload_file(
        path_or_fileobj=b"---\npipeline_tag: token-classification\n---\n# m\n", path_in_repo="README.md",
        repo_id=model,
    )  # fmt: skip
    api.create_repo(dataset, repo_type="dataset")
    api.create_repo(private, private=True)
    c, _ = alice
    # the model page's Fine-tune button (signed-in users)
    page = c.get(f"/{model}").text
    assert f'class="btn fine-tune" href="/{model}/fine-tune"' in page
    anon = httpx.Client(base_url=hub.url, follow_redirects=False)
    assert "fine-tune" not in anon.get(f"/{model}").text
    r = anon.get(f"/{model}/fine-tune")
    assert r.status_code == 303 and "/login?next=" in r.headers["location"]
    # the form: tasks, column roles and hyperparameter defaults from training/spec.py, rendered server-side
    r = c.get(f"/{model}/fine-tune")
    assert r.status_code == 200, r.text[:300]
    html = r.text
    assert 'id="fine-tune-form"' in html
    assert '<option value="token-classification" selected>' in html  # from the model's pipeline_tag
    for task in ("text-classification", "token-classification", "sentence-similarity", "text-generation",
                 "image-classification"):  # fmt: skip
        assert f'value="{task}"' in html
    assert f'value="alice/ft-model-{tag}-finetuned"' in html  # the default output repo
    assert 'name="hp.learning_rate" value="5e-05"' in html and 'name="hp.lora_r" value="8"' in html
    assert f'<option value="{dataset}">' in html  # alice's datasets are suggested
    assert '<option value="acme"' in html  # her orgs as namespaces
    # not for datasets or spaces; a private model is 404 to others
    assert c.get(f"/datasets/{dataset}/fine-tune").status_code == 404
    assert c.get(f"/{private}/fine-tune").status_code == 200
    b, _ = bob
    assert b.get(f"/{private}/fine-tune").status_code == 404
    assert (
        b.get(f"/{model}/fine-tune").status_code == 200
    )  # bob may train alice's public model in his namespace
    assert 'value="bob/ft-model-' in b.get(f"/{model}/fine-tune").text


def test_fine_tune_run_again_fills_the_form(live_server: Any, alice: Any, bob: Any) -> None:
    hub = live_server
    api = hub.api()
    model = f"alice/ft-again-{uuid.uuid4().hex[:6]}"
    api.create_repo(model)
    recipe = {**RECIPE, "base_model": model, "dataset": "alice/some-data", "columns": {"text": "review",
              "label": "stars"}, "hyperparameters": {"epochs": 7.0}, "seed": 1234}  # fmt: skip
    job = _job(hub, kind="training", recipe=recipe, stage="ERROR")
    c, _ = alice
    html = c.get(f"/{model}/fine-tune?from=alice/{job}").text
    assert 'value="alice/some-data"' in html and 'value="review"' in html and 'value="1234"' in html
    assert 'name="hp.epochs" value="7.0"' in html
    # another user cannot read alice's recipe through ?from=
    b, _ = bob
    html = b.get(f"/{model}/fine-tune?from=alice/{job}").text
    assert "alice/some-data" not in html and 'value="review"' not in html


def test_fine_tune_post_without_javascript(live_server: Any, alice: Any, bob: Any) -> None:
    """The form posts to the page itself without JavaScript: CSRF-checked, the API's checks (a wrong column is a
    422 naming the available ones, shown in the form, the values kept), and here (no job runner) a clear refusal."""
    from tests.training._data import push_sentiment_dataset, push_tiny_bert

    hub = live_server
    tag = uuid.uuid4().hex[:6]
    model = push_tiny_bert(hub, f"alice/ft-post-bert-{tag}")
    data = push_sentiment_dataset(
        hub, f"alice/ft-post-data-{tag}", n=60, text_column="review", label_column="stars"
    )
    c, token = alice
    fields = {
        "task": "text-classification",
        "dataset": data,
        "namespace": "alice",
        "output_repo": f"alice/ft-post-out-{tag}",
        "train_split": "train",
        "eval_fraction": "0.2",
        "col.text-classification.text": "review",
        "col.text-classification.label": "label",  # wrong: the column is "stars"
        "hp.epochs": "2",
        "seed": "7",
    }
    r = c.post(f"/{model}/fine-tune", data=fields)
    assert r.status_code == 403 and error_code(r) == "CsrfTokenInvalid"
    r = c.post(f"/{model}/fine-tune", data={**fields, "csrf_token": token})
    assert r.status_code == 422, r.text[:300]
    error = re.search(r'id="ft-error">([^<]*)<', r.text)
    assert error is not None and "label" in error.group(1) and "stars" in error.group(1), r.text[:2000]
    assert f'value="{data}"' in r.text and 'value="review"' in r.text and 'value="7"' in r.text  # kept
    r = c.post(f"/{model}/fine-tune", data={**fields, "hp.epochs": "lots", "csrf_token": token})
    assert r.status_code == 400 and "Epochs must be a number" in r.text
    # right columns: this hub runs no jobs, and says so in the form
    ok = {**fields, "col.text-classification.label": "stars", "csrf_token": token}
    r = c.post(f"/{model}/fine-tune", data=ok)
    assert r.status_code == 400 and "Jobs are not enabled" in r.text
    # bob may not start jobs in alice's namespace
    b, btoken = bob
    r = b.post(f"/{model}/fine-tune", data={**ok, "csrf_token": btoken})
    error = re.search(r'id="ft-error">([^<]*)<', r.text)
    assert r.status_code == 403 and error is not None and "cannot run jobs" in error.group(1), r.text[:2000]
