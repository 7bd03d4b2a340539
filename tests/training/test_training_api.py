"""The training routes' checks (server/api/training.py, training/plan.py): every bad recipe is refused before a
job exists, with an answer that says what is wrong. A hub with jobs off: the checks come first, so every refusal
is the same as on a hub running jobs (tests/training/test_training_e2e.py submits real ones)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.training._data import push_sentiment_dataset, push_tiny_bert, push_tiny_causal_lm

from conftest import Hub, start_server

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    with start_server(tmp_path_factory.mktemp("training-api"), jobs=False) as h:
        push_tiny_bert(h, "alice/tiny-bert")
        push_tiny_causal_lm(h, "alice/tiny-llama")
        push_sentiment_dataset(h, "alice/reviews", n=60)
        push_sentiment_dataset(h, "alice/two-rows", n=2)
        api = h.api()
        api.create_repo("alice/csv-reviews", repo_type="dataset")
        for split, n in (("train", 30), ("test", 10)):
            body = "review,stars\n" + "".join(f"row {i} is good,{i % 2}\n" for i in range(n))
            api.upload_file(
                path_or_fileobj=io.BytesIO(body.encode()),
                path_in_repo=f"{split}.csv",
                repo_id="alice/csv-reviews",
                repo_type="dataset",
            )
        api.create_repo("alice/jsonl-chat", repo_type="dataset")
        lines = [
            json.dumps(
                {"messages": [{"role": "user", "content": f"hi {i}"}, {"role": "assistant", "content": "yo"}]}
            )
            for i in range(20)
        ]
        api.upload_file(
            path_or_fileobj=io.BytesIO("\n".join(lines).encode()),
            path_in_repo="data/train.jsonl",
            repo_id="alice/jsonl-chat",
            repo_type="dataset",
        )
        h.api(h.bob).create_repo("bob/secret-bert", private=True)
        push_tiny_bert(h, "bob/secret-bert", token=h.bob)
        h.api(h.bob).create_repo("bob/taken")
        yield h


def recipe(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "task": "text-classification",
        "base_model": "alice/tiny-bert",
        "dataset": "alice/reviews",
        "output_repo": "alice/tuned",
        "hyperparameters": {"epochs": 1},
    }
    body.update(over)
    return body


def post(
    hub: Hub, body: Any, token: str | None = "", ns: str = "alice", validate: bool = True
) -> httpx.Response:
    url = f"{hub.url}/api/training/{ns}" + ("/validate" if validate else "")
    headers = {} if token is None else hub.auth(token or hub.alice)
    return httpx.post(url, json=body, headers=headers, timeout=60)


def test_tasks_lists_roles_and_defaults(hub: Hub) -> None:
    r = httpx.get(f"{hub.url}/api/training/tasks")
    assert r.status_code == 200
    data = r.json()
    tasks = {t["task"]: t for t in data["tasks"]}
    assert set(tasks) == {
        "text-classification",
        "token-classification",
        "sentence-similarity",
        "text-generation",
        "image-classification",
    }
    assert tasks["text-classification"]["columns"] == {
        "required": ["text", "label"],
        "optional": ["text_pair"],
    }
    assert tasks["text-generation"]["columns"]["required"] == ["messages"]
    assert data["hyperparameters"]["epochs"]["default"] == 3.0
    assert data["hyperparameters"]["batch_size"] == {"type": "int", "default": 16, "min": 1, "max": 4096}


def test_validate_answers_splits_columns_and_rows(hub: Hub) -> None:
    r = post(hub, recipe())
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["ok"] is True
    assert data["columns"] == ["text", "label"]
    assert data["splits"] == ["train"]
    assert data["num_rows"] == {"train": 60}
    assert data["recipe"]["hyperparameters"]["learning_rate"] == 5e-5  # defaults filled in
    assert data["recipe"]["columns"] == {"text": "text", "label": "label"}


def test_validate_csv_with_mapping_and_eval_split(hub: Hub) -> None:
    body = recipe(
        dataset="alice/csv-reviews", columns={"text": "review", "label": "stars"}, eval_split="test"
    )
    r = post(hub, body)
    assert r.status_code == 200, r.text
    assert r.json()["splits"] == ["train", "test"]
    assert r.json()["num_rows"] == {"train": 30, "test": 10}
    assert r.json()["columns"] == ["review", "stars"]


def test_validate_jsonl_chat_for_text_generation(hub: Hub) -> None:
    body = recipe(task="text-generation", base_model="alice/tiny-llama", dataset="alice/jsonl-chat")
    r = post(hub, body)
    assert r.status_code == 200, r.text
    assert r.json()["columns"] == ["messages"] and r.json()["num_rows"] == {"train": 20}


@pytest.mark.parametrize("validate", [True, False])
def test_missing_column_is_422_with_the_available_columns(hub: Hub, validate: bool) -> None:
    r = post(hub, recipe(columns={"text": "txt"}), validate=validate)
    assert r.status_code == 422, r.text
    assert r.headers["x-error-code"] == "BadPayload"
    assert (
        r.json()["error"] == "column 'txt' (text) not found in alice/reviews (train); available: text, label"
    )


def test_missing_column_of_the_eval_split(hub: Hub) -> None:
    body = recipe(
        dataset="alice/csv-reviews", columns={"text": "review", "label": "label"}, eval_split="test"
    )
    r = post(hub, body)
    assert r.status_code == 422
    assert "column 'label' (label) not found in alice/csv-reviews (train); available: review, stars" in r.text


@pytest.mark.parametrize("validate", [True, False])
def test_missing_split_is_422_naming_the_splits(hub: Hub, validate: bool) -> None:
    r = post(hub, recipe(eval_split="validation"), validate=validate)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "split 'validation' not found in alice/reviews; available: train"
    r = post(hub, recipe(train_split="nope", dataset="alice/csv-reviews"))
    assert r.status_code == 422 and "available: train, test" in r.json()["error"]


@pytest.mark.parametrize("validate", [True, False])
def test_unknown_base_model_is_404(hub: Hub, validate: bool) -> None:
    r = post(hub, recipe(base_model="alice/no-such-model"), validate=validate)
    assert r.status_code == 404, r.text
    assert r.headers["x-error-code"] == "RepoNotFound"
    assert "alice/no-such-model" in r.json()["error"]


def test_unknown_dataset_is_404(hub: Hub) -> None:
    r = post(hub, recipe(dataset="alice/no-such-data"), validate=False)
    assert r.status_code == 404 and "dataset alice/no-such-data" in r.json()["error"]


def test_private_base_model_of_another_user_is_404(hub: Hub) -> None:
    r = post(hub, recipe(base_model="bob/secret-bert"), validate=False)
    assert r.status_code == 404, r.text
    assert r.headers["x-error-code"] == "RepoNotFound"
    # bob, its owner, can use it in his own namespace
    body = recipe(base_model="bob/secret-bert", output_repo="bob/tuned")
    ok = post(hub, body, token=hub.bob, ns="bob")
    assert ok.status_code == 200, ok.text


def test_wrong_architecture_for_the_task(hub: Hub) -> None:
    r = post(hub, recipe(task="text-generation", dataset="alice/jsonl-chat"))  # a BERT is no causal LM
    assert r.status_code == 422 and "not a causal language model" in r.json()["error"]
    r = post(hub, recipe(task="image-classification", columns={"image": "text"}))
    assert r.status_code == 422 and "not an image model" in r.json()["error"]


def test_too_few_rows(hub: Hub) -> None:
    r = post(hub, recipe(dataset="alice/two-rows"))
    assert r.status_code == 422 and "has 2 row(s)" in r.json()["error"]


def test_shape_errors(hub: Hub) -> None:
    assert post(hub, recipe(task="summarize")).status_code == 400
    r = post(hub, recipe(hyperparameters={"epoch": 1}))
    assert r.status_code == 422 and "Unknown hyperparameter(s): epoch" in r.json()["error"]
    assert post(hub, recipe(hyperparameters={"batch_size": 0})).status_code == 400
    assert post(hub, recipe(columns={"sentence": "text"})).status_code == 422
    assert post(hub, [1, 2]).status_code == 400
    r = post(hub, recipe(output_repo="alice/two..dots"))
    assert r.status_code == 400 and r.headers["x-error-code"] == "InvalidRepoName"
    bad = httpx.post(
        f"{hub.url}/api/training/alice",
        content=b"{not json",
        headers={**hub.auth(), "content-type": "application/json"},
    )
    assert 400 <= bad.status_code < 500


# --- who may train where ----------------------------------------------------------------------------------
@pytest.mark.parametrize("validate", [True, False])
def test_anonymous_is_401(hub: Hub, validate: bool) -> None:
    assert post(hub, recipe(), token=None, validate=validate).status_code == 401


@pytest.mark.parametrize("validate", [True, False])
def test_read_token_is_403(hub: Hub, validate: bool) -> None:
    r = post(hub, recipe(), token=hub.alice_read, validate=validate)
    assert r.status_code == 403, r.text
    assert "read-only" in r.json()["error"]


@pytest.mark.parametrize("validate", [True, False])
def test_bob_in_alices_namespace_is_403(hub: Hub, validate: bool) -> None:
    body = recipe(base_model="alice/tiny-bert", output_repo="bob/tuned")
    r = post(hub, body, token=hub.bob, ns="alice", validate=validate)
    assert r.status_code == 403, r.text
    assert r.headers["x-error-code"] == "Forbidden"


def test_bob_in_an_org_he_is_not_in_is_403(hub: Hub) -> None:
    r = post(hub, recipe(output_repo="acme/tuned"), token=hub.bob, ns=hub.org, validate=False)
    assert r.status_code == 403


def test_output_repo_in_a_foreign_namespace_is_403(hub: Hub) -> None:
    r = post(hub, recipe(output_repo="bob/tuned"), validate=False)
    assert r.status_code == 403, r.text
    assert "bob/tuned" in r.json()["error"]
    r = post(hub, recipe(output_repo="bob/taken"), validate=False)  # an existing repo alice cannot push to
    assert r.status_code == 403 and "bob/taken" in r.json()["error"]


def test_unknown_namespace_is_404(hub: Hub) -> None:
    assert post(hub, recipe(), ns="nobody-here").status_code == 404


def test_org_member_trains_into_the_org(hub: Hub) -> None:
    r = post(hub, recipe(output_repo="acme/tuned"), ns=hub.org)
    assert r.status_code == 200, r.text


def test_fine_grained_token_needs_job_write(hub: Hub) -> None:
    acc = hub.services.accounts
    from modelyard.hub.access import Grants

    repo_only = Grants.parse({"global": ["repo.write", "repo.content.read"], "scoped": []})
    no_jobs = acc.create_token("alice", "no-jobs", "fineGrained", grants=repo_only)
    r = post(hub, recipe(), token=no_jobs)
    assert r.status_code == 403 and r.headers["x-error-code"] == "TokenScope"
    both = Grants.parse({"global": ["repo.write", "repo.content.read", "job.write"], "scoped": []})
    jobs_too = acc.create_token("alice", "jobs-too", "fineGrained", grants=both)
    assert post(hub, recipe(), token=jobs_too).status_code == 200


def test_submit_with_jobs_off_is_400_after_the_checks(hub: Hub) -> None:
    r = post(hub, recipe(), validate=False)
    assert r.status_code == 400 and "Jobs are disabled" in r.json()["error"]
