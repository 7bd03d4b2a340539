"""``modelyard train TASK --model ns/base --dataset ns/data --output ns/new``: fine-tune without code.

Client side: the recipe goes to the hub (``POST {hub}/api/training/{namespace}``, the output repo's namespace
unless ``--namespace``), which checks it (model, dataset, split, columns, rights) before it queues a job. A
refusal is printed as the hub words it and exits 2. Then, unless ``--no-wait``, it follows the job's progress
(``GET /api/jobs/{ns}/{id}/events``, Server-Sent Events; polling the job when the stream is not there) as a
progress bar, and prints the final metrics and the URL of the pushed repo (exit 0; 1 when the job failed or was
canceled). Ctrl-C asks whether to cancel the job.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click

from modelyard.cli._client import default_hub, default_token

TERMINAL = {"COMPLETED", "CANCELED", "ERROR", "DELETED"}
BAR_WIDTH = 24


def _error_text(resp: Any) -> str:
    try:
        data = resp.json()
    except ValueError:
        return str(resp.text).strip() or f"HTTP {resp.status_code}"
    return str(data.get("error") or data) if isinstance(data, dict) else str(data)


def _columns(values: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for v in values:
        role, sep, name = v.partition("=")
        if not sep or not role.strip() or not name.strip():
            raise click.BadParameter(f"{v!r}: use ROLE=COLUMN, e.g. text=review", param_hint="--column")
        out[role.strip()] = name.strip()
    return out


def _number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            raise click.BadParameter(f"{text!r} is not a number", param_hint="--hp") from None


def _fmt_eta(seconds: float | None) -> str:
    if seconds is None:
        return ""
    s = int(max(0, seconds))
    return (
        f"eta {s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"eta {s // 60}:{s % 60:02d}"
    )


def progress_line(ev: dict[str, Any]) -> str | None:
    """One printed line for a progress event (None: nothing worth a line)."""
    phase = ev.get("phase")
    step, total = ev.get("step"), ev.get("max_steps")
    parts: list[str] = []
    if isinstance(step, int) and isinstance(total, int) and total > 0:
        done = min(BAR_WIDTH, int(BAR_WIDTH * step / total))
        parts.append(f"[{'#' * done}{'.' * (BAR_WIDTH - done)}] {step}/{total}")
    elif isinstance(step, int):
        parts.append(f"step {step}")
    if isinstance(ev.get("epoch"), int | float):
        parts.append(f"epoch {ev['epoch']:.2f}")
    if isinstance(ev.get("loss"), int | float):
        parts.append(f"loss {ev['loss']:.4f}")
    if isinstance(ev.get("learning_rate"), int | float):
        parts.append(f"lr {ev['learning_rate']:.2e}")
    evals = ev.get("eval")
    if isinstance(evals, dict) and evals:
        parts.append("eval " + " ".join(f"{k}={_short(v)}" for k, v in evals.items()))
    if isinstance(ev.get("eta_seconds"), int | float) and phase in (None, "train"):
        parts.append(_fmt_eta(ev["eta_seconds"]))
    if not parts:
        return f"[{phase}]" if isinstance(phase, str) else None
    prefix = f"[{phase}] " if isinstance(phase, str) and phase != "train" else ""
    return prefix + "  ".join(parts)


def _short(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


class _Follower:
    """Prints a job's progress until it ends; returns its last JobInfo."""

    def __init__(self, client: Any, hub: str, ns: str, job_id: str, echo: Any) -> None:
        self.client = client
        self.base = f"{hub}/api/jobs/{ns}/{job_id}"
        self.echo = echo
        self.last: str | None = None

    def show(self, ev: dict[str, Any]) -> None:
        line = progress_line(ev)
        if line and line != self.last:
            self.echo(line)
            self.last = line

    def info(self) -> dict[str, Any]:
        r = self.client.get(self.base, timeout=30)
        if r.status_code != 200:
            raise click.ClickException(f"cannot read the job: {r.status_code} {_error_text(r)}")
        data: dict[str, Any] = r.json()
        return data

    def stream(self) -> bool:
        """Follow the SSE stream; True when it saw the job end, False when there is no stream to follow."""
        import httpx

        try:
            with self.client.stream("GET", f"{self.base}/events", timeout=httpx.Timeout(30, read=None)) as r:
                if r.status_code != 200:
                    return False
                event = "message"
                ended = False
                for line in r.iter_lines():
                    if line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:"):
                        try:
                            data = json.loads(line[5:].strip())
                        except ValueError:
                            continue
                        if event == "progress" and isinstance(data, dict):
                            self.show(data)
                        elif event == "status" and isinstance(data, dict):
                            stage = data.get("stage")
                            if stage in TERMINAL:
                                ended = True  # the hub ends the stream once the progress is drained
                                continue
                            if stage and stage != "SCHEDULING":
                                self.echo(f"[{str(stage).lower()}] {data.get('message') or ''}".rstrip())
                    elif not line:
                        event = "message"
                return ended
        except httpx.HTTPError:
            return False

    def poll(self) -> dict[str, Any]:
        while True:
            info = self.info()
            progress = (info.get("status") or {}).get("progress")
            if isinstance(progress, dict):
                self.show(progress)
            if (info.get("status") or {}).get("stage") in TERMINAL:
                return info
            time.sleep(1.0)

    def run(self) -> dict[str, Any]:
        if not self.stream():
            return self.poll()
        return self.poll()  # the final JobInfo (with the result)


@click.command("train")
@click.argument(
    "task",
    type=click.Choice(
        [
            "text-classification",
            "token-classification",
            "sentence-similarity",
            "text-generation",
            "image-classification",
        ]
    ),
)
@click.option("--model", "base_model", required=True, help="Base model repo on the hub (ns/name).")
@click.option("--dataset", required=True, help="Dataset repo on the hub (ns/name).")
@click.option(
    "--output", "output_repo", required=True, help="Repo to push the fine-tuned model to (ns/name)."
)
@click.option("--namespace", default=None, help="Namespace that runs the job (default: the output repo's).")
@click.option("--column", "columns", multiple=True, metavar="ROLE=COLUMN", help="Column mapping, repeatable.")
@click.option("--train-split", default="train", show_default=True)
@click.option(
    "--eval-split", default=None, help="Evaluation split (default: carve --eval-fraction out of train)."
)
@click.option("--eval-fraction", type=float, default=0.1, show_default=True)
@click.option("--dataset-config", default=None, help="Dataset config name (the card's configs).")
@click.option("--revision", "base_revision", default="main", show_default=True, help="Base model revision.")
@click.option("--epochs", type=float, default=None)
@click.option("--lr", "learning_rate", type=float, default=None, help="Learning rate.")
@click.option("--batch-size", type=int, default=None)
@click.option("--max-steps", type=int, default=None)
@click.option("--max-length", type=int, default=None)
@click.option("--hp", "extra_hp", multiple=True, metavar="NAME=VALUE", help="Any other hyperparameter.")
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--early-stopping", "patience", type=int, default=None, help="Evaluations without improvement.")
@click.option("--private", is_flag=True, help="Make the output repo private.")
@click.option("--merge-adapter", is_flag=True, help="LoRA (text-generation): push the merged model.")
@click.option("--deploy", is_flag=True, help="Create an inference endpoint when the job completes.")
@click.option("--validate-only", is_flag=True, help="Check the recipe against the hub; start nothing.")
@click.option("--wait/--no-wait", default=True, help="Follow the job until it ends (default).")
@click.option(
    "--hub", default=default_hub, show_default="$MODELYARD_HUB, $HF_ENDPOINT or http://127.0.0.1:8080"
)
@click.option(
    "--token", default=default_token, help="Write token with job.write ($MODELYARD_TOKEN, $HF_TOKEN)."
)
def train(
    task: str,
    base_model: str,
    dataset: str,
    output_repo: str,
    namespace: str | None,
    columns: tuple[str, ...],
    train_split: str,
    eval_split: str | None,
    eval_fraction: float,
    dataset_config: str | None,
    base_revision: str,
    epochs: float | None,
    learning_rate: float | None,
    batch_size: int | None,
    max_steps: int | None,
    max_length: int | None,
    extra_hp: tuple[str, ...],
    seed: int,
    patience: int | None,
    private: bool,
    merge_adapter: bool,
    deploy: bool,
    validate_only: bool,
    wait: bool,
    hub: str,
    token: str | None,
) -> None:
    """Fine-tune a hub model on a hub dataset, as a job on the hub."""
    import httpx

    hp: dict[str, Any] = {}
    for name, value in (
        ("epochs", epochs),
        ("learning_rate", learning_rate),
        ("batch_size", batch_size),
        ("max_steps", max_steps),
        ("max_length", max_length),
    ):
        if value is not None:
            hp[name] = value
    for item in extra_hp:
        name, sep, value_text = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r}: use NAME=VALUE", param_hint="--hp")
        hp[name.strip()] = _number(value_text.strip())
    body: dict[str, Any] = {
        "task": task,
        "base_model": base_model,
        "dataset": dataset,
        "output_repo": output_repo,
        "columns": _columns(columns),
        "train_split": train_split,
        "eval_split": eval_split,
        "eval_fraction": eval_fraction,
        "dataset_config": dataset_config,
        "base_revision": base_revision,
        "hyperparameters": hp,
        "early_stopping_patience": patience,
        "seed": seed,
        "private": private,
        "merge_adapter": merge_adapter,
        "deploy": deploy,
    }
    ns = namespace or output_repo.split("/", 1)[0]
    hub = hub.rstrip("/")
    headers = {"authorization": f"Bearer {token}"} if token else {}
    client = httpx.Client(headers=headers, timeout=60)
    url = f"{hub}/api/training/{ns}" + ("/validate" if validate_only else "")
    try:
        r = client.post(url, json=body)
    except httpx.HTTPError as e:
        click.echo(f"Error: cannot reach the hub at {hub}: {e}", err=True)
        sys.exit(2)
    if r.status_code != 200:
        click.echo(f"Error ({r.status_code}): {_error_text(r)}", err=True)
        sys.exit(2)
    data = r.json()
    if validate_only:
        rows = ", ".join(
            f"{k}: {v if v is not None else '?'} rows" for k, v in (data.get("num_rows") or {}).items()
        )
        click.echo(
            f"OK: splits {', '.join(data.get('splits') or [])}; columns {', '.join(data.get('columns') or [])}"
        )
        if rows:
            click.echo(f"    {rows}")
        return
    job_id = data["id"]
    click.echo(f"Job {job_id} queued: {hub}/jobs/{ns}/{job_id}")
    if not wait:
        return
    follower = _Follower(client, hub, ns, job_id, click.echo)
    while True:
        try:
            info = follower.run()
            break
        except KeyboardInterrupt:
            try:
                cancel = click.confirm("\nCancel the job?", default=True)
            except (KeyboardInterrupt, click.Abort):
                cancel = True
            if cancel:
                c = client.post(f"{hub}/api/jobs/{ns}/{job_id}/cancel")
                click.echo(
                    "Canceled." if c.status_code == 200 else f"Cancel failed: {_error_text(c)}", err=True
                )
                sys.exit(130)
            if not click.confirm("Keep following it?", default=True):
                click.echo(f"The job goes on: {hub}/jobs/{ns}/{job_id}")
                return
    if body["deploy"] and (info.get("status") or {}).get("stage") == "COMPLETED":
        deadline = time.monotonic() + 30  # the endpoint is created by a hook right after the job ends
        while (
            not {"endpoint", "endpoint_error"} & set(info.get("result") or {}) and time.monotonic() < deadline
        ):
            time.sleep(0.5)
            info = follower.info()
    _report(info, hub)


def _report(info: dict[str, Any], hub: str) -> None:
    status = info.get("status") or {}
    stage = status.get("stage")
    result = info.get("result") or {}
    metrics = result.get("metrics") or {}
    if metrics:
        click.echo("Metrics:")
        for k, v in sorted(metrics.items()):
            click.echo(f"  {k}: {_short(v)}")
    if stage != "COMPLETED":
        click.echo(f"Job {info.get('id')} ended: {stage} {status.get('message') or ''}".rstrip(), err=True)
        sys.exit(1)
    repo = result.get("repo") or (info.get("recipe") or {}).get("output_repo")
    if repo:
        click.echo(f"Model: {hub}/{repo}")
    if result.get("endpoint"):
        click.echo(f"Endpoint: {hub}/endpoints/{result['endpoint']}")
    elif result.get("endpoint_error"):
        click.echo(f"Endpoint not created: {result['endpoint_error']}", err=True)
