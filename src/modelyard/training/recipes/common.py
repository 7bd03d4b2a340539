"""Shared parts of the recipes: the job context, progress events, data loading, training arguments, resume, push."""

from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelyard.training.spec import RecipeSpec

PROGRESS_PREFIX = "MODELYARD_PROGRESS "  # the job runner reads these stdout lines (jobs/manager.py)


class RecipeError(Exception):
    """An expected failure (a missing column, an unreadable dataset): one line on stderr, exit 1."""


def emit(**event: Any) -> None:
    """One progress event: a `MODELYARD_PROGRESS {json}` stdout line (None values dropped)."""
    clean = {k: v for k, v in event.items() if v is not None}
    sys.stdout.write(PROGRESS_PREFIX + json.dumps(clean, default=_json_default) + "\n")
    sys.stdout.flush()


def say(message: str) -> None:
    """A human log line (the job's log)."""
    sys.stdout.write(message + "\n")
    sys.stdout.flush()


def _json_default(value: Any) -> Any:
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


@dataclass
class Context:
    recipe: RecipeSpec
    job_dir: Path
    resume: bool = False
    token: str | None = None
    started: float = field(default_factory=time.monotonic)

    @property
    def hp(self) -> dict[str, Any]:
        return self.recipe.hyperparameters

    @property
    def checkpoints(self) -> Path:
        return self.job_dir / "checkpoints"

    @property
    def output_dir(self) -> Path:
        return self.job_dir / "output"


@dataclass
class Outcome:
    """What a recipe trained: the folder to push and what the card needs."""

    folder: Path
    library_name: str
    pipeline_tag: str
    metrics: dict[str, float]  # final evaluation, without the `eval_` prefix
    log_history: list[dict[str, Any]]
    adapter: bool = False
    tags: list[str] = field(default_factory=list)
    metric_names: dict[str, str] = field(default_factory=dict)  # metric key → model-index metric type


# --- data ---------------------------------------------------------------------------------------------
def load_splits(ctx: Context) -> tuple[Any, Any, str]:
    """(train, eval, eval split name) with the recipe's columns renamed to their roles (and only those)."""
    import datasets

    r = ctx.recipe
    emit(phase="load")
    say(f"Loading dataset {r.dataset}" + (f" ({r.dataset_config})" if r.dataset_config else ""))
    try:
        loaded = datasets.load_dataset(r.dataset, r.dataset_config, token=ctx.token)
    except datasets.exceptions.DatasetNotFoundError as exc:
        raise RecipeError(f"dataset {r.dataset} not found or not readable") from exc
    except ValueError as exc:
        raise RecipeError(f"cannot load dataset {r.dataset}: {exc}") from exc
    if not isinstance(loaded, datasets.DatasetDict):
        raise RecipeError(f"dataset {r.dataset} has no splits")
    available = list(loaded)
    for split in (r.train_split, r.eval_split):
        if split is not None and split not in loaded:
            raise RecipeError(f"dataset {r.dataset} has no split '{split}'; splits: {', '.join(available)}")
    train = _select(loaded[r.train_split], r.columns, r.train_split)
    if r.eval_split is not None:
        return train, _select(loaded[r.eval_split], r.columns, r.eval_split), r.eval_split
    if len(train) < 2:
        raise RecipeError(
            f"split '{r.train_split}' has {len(train)} row(s): too few to carve a validation split"
        )
    parts = train.train_test_split(test_size=r.eval_fraction, seed=r.seed, shuffle=True)
    say(
        f"Validation: {len(parts['test'])} rows carved out of '{r.train_split}' (eval_fraction {r.eval_fraction})"
    )
    return parts["train"], parts["test"], f"{r.train_split} (held out {r.eval_fraction:g})"


def _select(ds: Any, columns: dict[str, str], split: str) -> Any:
    missing = [f"'{col}' ({role})" for role, col in columns.items() if col not in ds.column_names]
    if missing:
        raise RecipeError(
            f"column {', '.join(missing)} not in split '{split}'; columns: {', '.join(ds.column_names)}"
        )
    ds = ds.select_columns(list(dict.fromkeys(columns.values())))
    renames = {col: role for role, col in columns.items() if col != role}
    if len(set(columns.values())) != len(columns):
        raise RecipeError("two column roles name the same column")
    return ds.rename_columns(renames) if renames else ds


def label_names(train: Any, eval_: Any, column: str) -> list[Any]:
    """The label values: a ClassLabel's names, else the sorted distinct values of both splits."""
    import datasets

    feature = train.features[column]
    if isinstance(feature, datasets.ClassLabel):
        return list(feature.names)
    values = set(train.unique(column)) | set(eval_.unique(column))
    if None in values:
        raise RecipeError(f"column '{column}' has empty labels")
    return sorted(values, key=lambda v: (str(type(v)), v))


def class_labels(ctx: Context, train: Any, eval_: Any) -> tuple[list[Any], dict[Any, int], dict[int, str]]:
    """(names, value → id, id → label) of the `label` column; at least 2 labels, logged."""
    names = label_names(train, eval_, "label")
    if len(names) < 2:
        raise RecipeError(
            f"column '{ctx.recipe.columns['label']}' has {len(names)} distinct label(s): need at least 2"
        )
    index = {v: i for i, v in enumerate(names)}
    id2label = {i: str(v) for i, v in enumerate(names)}
    say(f"{len(names)} labels: {', '.join(id2label.values())}")
    return names, index, id2label


def load_tokenizer(ctx: Context) -> Any:
    """The base model's tokenizer, its eos token as the pad token when it has none."""
    from transformers import AutoTokenizer

    r = ctx.recipe
    tok = AutoTokenizer.from_pretrained(r.base_model, revision=r.base_revision, token=ctx.token)
    if tok.pad_token is None:
        if tok.eos_token is None:
            raise RecipeError(f"the tokenizer of {r.base_model} has neither a pad nor an eos token")
        tok.pad_token = tok.eos_token
    return tok


# --- training -----------------------------------------------------------------------------------------
def training_kwargs(ctx: Context, *, metric: str = "loss", greater_is_better: bool = False) -> dict[str, Any]:
    """TrainingArguments keywords from the recipe (any Trainer flavour's arguments class takes them)."""
    hp = ctx.hp
    eval_steps = int(hp["eval_steps"])
    strategy = "steps" if eval_steps > 0 else "epoch"
    kw: dict[str, Any] = {
        "output_dir": str(ctx.checkpoints),
        "num_train_epochs": float(hp["epochs"]),
        "max_steps": int(hp["max_steps"]),
        "learning_rate": float(hp["learning_rate"]),
        "per_device_train_batch_size": int(hp["batch_size"]),
        "per_device_eval_batch_size": int(hp["batch_size"]),
        "gradient_accumulation_steps": int(hp["gradient_accumulation_steps"]),
        "warmup_steps": float(hp["warmup_ratio"]),  # a float < 1: a ratio of the total steps
        "weight_decay": float(hp["weight_decay"]),
        "logging_strategy": "steps",
        "logging_steps": int(hp["logging_steps"]),
        "logging_first_step": True,
        "eval_strategy": strategy,
        "save_strategy": strategy,
        "save_total_limit": 2,
        "seed": ctx.recipe.seed,
        "data_seed": ctx.recipe.seed,
        "report_to": "none",
        "disable_tqdm": True,
        "dataloader_num_workers": 0,
    }
    if eval_steps > 0:
        kw["eval_steps"] = eval_steps
        kw["save_steps"] = eval_steps
    if ctx.recipe.early_stopping_patience is not None:
        kw["load_best_model_at_end"] = True
        kw["metric_for_best_model"] = metric
        kw["greater_is_better"] = greater_is_better
    return kw


def callbacks(ctx: Context) -> list[Any]:
    from transformers import EarlyStoppingCallback

    out: list[Any] = [progress_callback(ctx)]
    if ctx.recipe.early_stopping_patience is not None:
        out.append(EarlyStoppingCallback(early_stopping_patience=ctx.recipe.early_stopping_patience))
    return out


def progress_callback(ctx: Context) -> Any:
    from transformers import TrainerCallback

    class Progress(TrainerCallback):  # type: ignore[misc]
        def __init__(self) -> None:
            self.t0 = time.monotonic()
            self.step0 = 0

        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.t0 = time.monotonic()
            self.step0 = state.global_step
            say(f"Training: {state.max_steps} steps, {args.num_train_epochs:g} epoch(s)")
            emit(phase="train", step=state.global_step, max_steps=state.max_steps, epoch=state.epoch or 0.0)

        def _eta(self, state: Any) -> float | None:
            done = int(state.global_step) - self.step0
            if done <= 0 or not state.max_steps:
                return None
            remaining = max(0, int(state.max_steps) - int(state.global_step))
            return round(float(time.monotonic() - self.t0) / done * remaining, 1)

        def on_log(
            self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kw: Any
        ) -> None:
            logs = logs or {}
            base = {
                "step": state.global_step,
                "max_steps": state.max_steps,
                "epoch": round(float(state.epoch or 0.0), 4),
                "eta_seconds": self._eta(state),
            }
            evals = {
                k[5:]: _num(v) for k, v in logs.items() if k.startswith("eval_") and _is_metric(k[5:], v)
            }
            if evals:
                emit(phase="eval", eval=evals, **base)
                say(f"eval step {state.global_step}: " + ", ".join(f"{k} {v:.4g}" for k, v in evals.items()))
            elif "loss" in logs:
                loss, lr = _num(logs["loss"]), _num(logs.get("learning_rate"))
                emit(phase="train", loss=loss, learning_rate=lr, **base)
                say(
                    f"step {state.global_step}/{state.max_steps} epoch {base['epoch']:.2f} loss {loss:.4f}"
                    + (f" lr {lr:.3g}" if lr is not None else "")
                )

    return Progress()


def _is_metric(name: str, value: Any) -> bool:
    return isinstance(value, int | float) and not name.endswith(("runtime", "per_second")) and name != "epoch"


def _num(value: Any) -> Any:
    if value is None:
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) or math.isinf(f) else f


def last_complete_checkpoint(folder: Path) -> str | None:
    """The newest `checkpoint-N` the Trainer finished writing (its trainer_state.json is written last): a job
    killed while saving leaves a partial one behind, which must not be resumed from."""
    done = [
        (int(d.name.split("-", 1)[1]), d)
        for d in folder.glob("checkpoint-*")
        if d.is_dir() and d.name.split("-", 1)[1].isdigit() and (d / "trainer_state.json").is_file()
    ]
    return str(max(done)[1]) if done else None


def run_trainer(ctx: Context, trainer: Any) -> dict[str, float]:
    """Train (from the last checkpoint when resuming), evaluate; the final metrics without `eval_`."""
    checkpoint = None
    if ctx.resume and ctx.checkpoints.is_dir():
        checkpoint = last_complete_checkpoint(ctx.checkpoints)
        if checkpoint:
            say(f"Resuming from {Path(checkpoint).name}")
        else:
            say("No checkpoint to resume from: starting over")
    trainer.train(resume_from_checkpoint=checkpoint)
    emit(phase="eval", step=trainer.state.global_step, max_steps=trainer.state.max_steps)
    final = trainer.evaluate()
    metrics = {k[5:]: float(v) for k, v in final.items() if k.startswith("eval_") and _is_metric(k[5:], v)}
    say("Final evaluation: " + ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()))
    return metrics


def labelled_model(ctx: Context, auto_class: Any, id2label: dict[int, Any]) -> Any:
    """The base model with a fresh head for the labels `id2label` (from an AutoModelFor...Classification)."""
    r = ctx.recipe
    return auto_class.from_pretrained(
        r.base_model,
        revision=r.base_revision,
        token=ctx.token,
        num_labels=len(id2label),
        id2label=id2label,
        label2id={v: k for k, v in id2label.items()},
        ignore_mismatched_sizes=True,
    )


def logits(pred: Any) -> Any:
    """The predictions of an EvalPrediction (the first element when the model returned a tuple)."""
    return pred.predictions[0] if isinstance(pred.predictions, tuple) else pred.predictions


def classification_metrics(pred: Any) -> dict[str, float]:
    """accuracy and F1 of one label per example."""
    from modelyard.training.recipes import metrics as m

    p, y = logits(pred).argmax(-1).tolist(), pred.label_ids.tolist()
    return {"accuracy": m.accuracy(p, y), "f1": m.f1(p, y)}


def make_trainer(
    ctx: Context, trainer_class: Any, args: Any, model: Any, train: Any, eval_: Any, **kw: Any
) -> Any:
    """A Trainer of any flavour (transformers, sentence-transformers, trl) with the recipe's callbacks."""
    return trainer_class(
        model=model, args=args, train_dataset=train, eval_dataset=eval_, callbacks=callbacks(ctx), **kw
    )


def hf_trainer(ctx: Context, model: Any, train: Any, eval_: Any, processor: Any, **kw: Any) -> Any:
    """A transformers Trainer with the recipe's arguments and callbacks (`args` keywords in `training_args`)."""
    from transformers import Trainer, TrainingArguments

    args = TrainingArguments(**training_kwargs(ctx), **kw.pop("training_args", {}))
    return make_trainer(ctx, Trainer, args, model, train, eval_, processing_class=processor, **kw)


def train_and_save(ctx: Context, trainer: Any, processor: Any) -> tuple[dict[str, float], Path]:
    """run_trainer, then the model and its tokenizer/processor saved to the output folder: (metrics, folder)."""
    metrics = run_trainer(ctx, trainer)
    out = ctx.output_dir
    trainer.save_model(str(out))
    processor.save_pretrained(str(out))
    return metrics, out


def transformers_outcome(
    ctx: Context, trainer: Any, folder: Path, pipeline_tag: str, metrics: dict[str, float], **kw: Any
) -> Outcome:
    """The Outcome of a transformers Trainer run."""
    return Outcome(
        folder=folder,
        library_name=kw.pop("library_name", "transformers"),
        pipeline_tag=pipeline_tag,
        metrics=metrics,
        log_history=trainer.state.log_history,
        **kw,
    )


def limit_threads() -> None:
    """torch threads from MODELYARD_TORCH_THREADS / OMP_NUM_THREADS (the job's CPU share)."""
    value = os.environ.get("MODELYARD_TORCH_THREADS") or os.environ.get("OMP_NUM_THREADS")
    if value and value.isdigit() and int(value) > 0:
        import torch

        torch.set_num_threads(int(value))


# --- push ---------------------------------------------------------------------------------------------
def base_card(ctx: Context) -> tuple[str | None, Any]:
    """(license, language) of the base model's card, when it has them."""
    from huggingface_hub import HfApi

    try:
        info = HfApi(token=ctx.token).model_info(ctx.recipe.base_model, revision=ctx.recipe.base_revision)
    except Exception:
        return None, None
    card = info.card_data
    if card is None:
        return None, None
    return card.get("license"), card.get("language")


def push(ctx: Context, outcome: Outcome, eval_split: str) -> dict[str, Any]:
    """Write the card, create the output repo and upload the folder; write /job/result.json; the result."""
    from huggingface_hub import HfApi

    from modelyard.training.card import render_card

    r = ctx.recipe
    emit(phase="push")
    license_, language = base_card(ctx)
    card = render_card(
        r,
        library_name=outcome.library_name,
        pipeline_tag=outcome.pipeline_tag,
        metrics=outcome.metrics,
        eval_split=eval_split,
        log_history=outcome.log_history,
        base_license=license_,
        base_language=language,
        adapter=outcome.adapter,
        tags=outcome.tags,
        metric_names=outcome.metric_names,
    )
    (outcome.folder / "README.md").write_text(card, encoding="utf-8")
    for leftover in ("training_args.bin",):
        (outcome.folder / leftover).unlink(missing_ok=True)
    api = HfApi(token=ctx.token)
    say(f"Pushing to {r.output_repo}")
    try:
        api.create_repo(r.output_repo, private=r.private, exist_ok=True)
        commit = api.upload_folder(
            repo_id=r.output_repo,
            folder_path=str(outcome.folder),
            commit_message=f"Fine-tune {r.base_model} on {r.dataset} ({r.task})",
        )
    except Exception as exc:
        raise RecipeError(f"cannot push to {r.output_repo}: {_one_line(exc)}") from exc
    result = {
        "repo": r.output_repo,
        "revision": commit.oid,
        "metrics": outcome.metrics,
        "adapter": outcome.adapter,
    }
    (ctx.job_dir / "result.json").write_text(json.dumps(result), encoding="utf-8")
    say(f"Pushed {r.output_repo}@{commit.oid[:12]}")
    emit(phase="done", eval=outcome.metrics)
    return result


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
