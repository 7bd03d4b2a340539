"""Fine-tuning in the browser (headless Chromium, desktop and phone): alice opens a tiny BERT's model page, clicks
Fine-tune, fills the form for a generated sentiment dataset whose columns are not named like the roles (the Check
button first shows the 422 naming the available columns inline, then the columns and splits), starts it, lands on
the job page and watches it reach COMPLETED: the stage badge, the loss chart drawn from the live progress events,
the evaluation metrics and the link to the pushed model. axe-core on the pages, no sideways scroll on a phone;
screenshots for docs/web/ (jobs-*.png: the form, the job page with its chart, the jobs list)."""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

import pytest
from tests.training.conftest import training_hub  # noqa: F401  (the hub running jobs)
from tests.web._browser import axe, login, no_sideways_scroll, shot

pytestmark = [
    pytest.mark.skipif(not os.path.exists("/usr/bin/chromium"), reason="/usr/bin/chromium missing"),
    pytest.mark.timeout(900),
]
RUN_WAIT_S = 600


def _until(page: Any, js: str, timeout: float = 30) -> None:
    """Poll a JavaScript expression from here (the pages' CSP forbids wait_for_function's string evaluation); a
    reload while polling (the job page reloads when the job ends) is retried."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if page.evaluate(f"() => Boolean({js})"):
                return
        except Exception:  # the page is navigating
            pass
        assert time.monotonic() < deadline, f"still false after {timeout}s: {js}"
        time.sleep(0.25)


@pytest.fixture(scope="module")
def bert_and_data(training_hub: Any) -> tuple[str, str]:  # noqa: F811
    from tests.training._data import push_sentiment_dataset, push_tiny_bert

    tag = uuid.uuid4().hex[:6]
    model = push_tiny_bert(training_hub, f"alice/web-bert-{tag}")
    data = push_sentiment_dataset(
        training_hub, f"alice/web-sentiment-{tag}", n=400, text_column="review", label_column="sentiment"
    )
    return model, data


def test_fine_tune_from_the_model_page_and_watch_it_finish(
    page: Any,
    phone: Any,
    training_hub: Any,  # noqa: F811
    bert_and_data: tuple[str, str],
) -> None:
    hub = training_hub
    model, data = bert_and_data
    out = f"alice/{model.split('/')[1]}-sentiment"
    login(page, hub.url, hub.alice)
    page.set_default_timeout(20_000)
    page.goto(f"{hub.url}/{model}")
    page.click("a.fine-tune")
    page.wait_for_url(f"**/{model}/fine-tune")
    form = page.locator("#fine-tune-form")
    assert form.locator("#ft-output").input_value() == f"{model}-finetuned"
    page.select_option("#ft-task", "text-classification")
    assert page.locator("#columns-text-classification").is_visible()
    assert not page.locator("#columns-text-generation").is_visible()  # only the chosen task's columns
    page.fill("#ft-dataset", data)
    # the columns are named review/sentiment, not text/label: Check says so, with the available columns
    page.click("#ft-check")
    _until(page, "document.querySelector('#ft-check-result.bad')")
    said = page.inner_text("#ft-check-result")
    assert "text" in said and "review" in said and "sentiment" in said, said
    cols = page.locator("#columns-text-classification")
    cols.locator("input[data-role=text]").fill("review")
    cols.locator("input[data-role=label]").fill("sentiment")
    page.click("#ft-check")
    _until(page, "document.querySelector('#ft-check-result.ok')")
    said = page.inner_text("#ft-check-result")
    assert "review" in said and "train" in said, said
    page.fill("#ft-output", out)
    page.fill("input[name=eval_fraction]", "0.2")
    page.fill("input[name='hp.epochs']", "6")
    page.fill("input[name='hp.learning_rate']", "0.003")
    page.fill("input[name='hp.batch_size']", "16")
    page.fill("input[name='hp.max_length']", "32")
    page.click("details.ep-advanced summary")
    page.fill("input[name='hp.logging_steps']", "5")
    axe(page)
    shot(page, "jobs-fine-tune-form")
    page.click("#ft-submit")
    page.wait_for_url(f"{hub.url}/jobs/alice/**")
    job_id = page.url.rstrip("/").rsplit("/", 1)[1]
    assert page.inner_text("h1").startswith("Training job")
    # live: the chart gets points while the job runs (the page reloads itself once the job ended)
    _until(page, "Number(document.querySelector('#loss-chart').dataset.points) > 0", RUN_WAIT_S)
    _until(page, "document.querySelector('#job-stage').dataset.stage === 'COMPLETED'", RUN_WAIT_S)
    _until(page, "document.querySelector('#result-link')", 30)
    assert page.get_attribute("#result-link", "href") == f"/{out}"
    assert page.get_attribute("#loss-line", "points")  # drawn
    assert "accuracy" in page.inner_text("#job-eval")
    assert not page.locator("#cancel-form").is_visible()  # an ended job has no Cancel
    assert hub.services.jobs.get(job_id).stage == "COMPLETED"
    axe(page)
    shot(page, "jobs-job-page")
    page.goto(f"{hub.url}/jobs/alice")
    assert job_id in page.inner_text("#jobs-list")
    shot(page, "jobs-list")
    # the result is a model repo of alice's, with its card
    assert "README.md" in hub.api().list_repo_files(out)

    # the same pages on a phone
    login(phone, hub.url, hub.alice)
    phone.set_default_timeout(20_000)
    for path, name in (
        (f"/{model}/fine-tune", "jobs-fine-tune-form-phone"),
        (f"/jobs/alice/{job_id}", "jobs-job-page-phone"),
        ("/jobs/alice", "jobs-list-phone"),
    ):
        phone.goto(hub.url + path)
        if "job-page" in name:
            _until(phone, "Number(document.querySelector('#loss-chart').dataset.points) > 0", 30)
        no_sideways_scroll(phone)
        shot(phone, name)


def test_cancel_a_running_fine_tune(page: Any, training_hub: Any, bert_and_data: tuple[str, str]) -> None:  # noqa: F811
    """A long fine-tune started through the API is cancelled from its page's Cancel button."""
    import httpx

    hub = training_hub
    model, data = bert_and_data
    recipe = {
        "task": "text-classification",
        "base_model": model,
        "dataset": data,
        "output_repo": f"alice/{model.split('/')[1]}-long",
        "columns": {"text": "review", "label": "sentiment"},
        "hyperparameters": {"epochs": 500, "logging_steps": 1, "max_length": 32},
    }
    r = httpx.post(f"{hub.url}/api/training/alice", json=recipe, headers=hub.auth(), timeout=60)
    assert r.status_code == 200, r.text
    job_id = r.json()["id"]
    login(page, hub.url, hub.alice)
    page.set_default_timeout(20_000)
    page.goto(f"{hub.url}/jobs/alice/{job_id}")
    _until(page, "document.querySelector('#job-stage').dataset.stage === 'RUNNING'", 120)
    page.click("#cancel-form button[type=submit]")
    _until(page, "document.querySelector('#job-stage').dataset.stage === 'CANCELED'", 60)
    assert hub.services.jobs.get(job_id).stage == "CANCELED"
