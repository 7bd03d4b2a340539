"""A fine-tuning recipe as the API, the CLI (`modelyard train`) and the web form send it, and as the job reads it
(env MODELYARD_RECIPE, JSON). `parse_recipe` checks its shape only; plan.py checks it against the hub (the base
model exists and is readable, the dataset has the split and the columns) before a job is queued.

Body (JSON):
    {"task": "text-classification", "base_model": "ns/name", "dataset": "ns/name",
     "output_repo": "ns/name", "columns": {"text": "review", "label": "stars"},
     "train_split": "train", "eval_split": null, "eval_fraction": 0.1, "dataset_config": null,
     "hyperparameters": {"epochs": 3, "learning_rate": 5e-5, ...}, "early_stopping_patience": null,
     "seed": 42, "private": false, "merge_adapter": false, "deploy": false}
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from modelyard.errors import BadPayload, BadRequest

#: task → (required column roles, optional column roles); a role's default column name is the role itself
TASKS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "text-classification": (("text", "label"), ("text_pair",)),
    "token-classification": (("tokens", "tags"), ()),
    # sentence-transformers: (anchor, positive[, negative]) pairs/triplets, or (sentence1, sentence2, score)
    "sentence-similarity": (("anchor", "positive"), ("negative", "score")),
    # causal LM SFT with LoRA: chat-formatted `messages` ([{role, content}, ...])
    "text-generation": (("messages",), ()),
    "image-classification": (("image", "label"), ()),
}

#: hyperparameter → (type, default, min, max); None bounds: unbounded
HYPERPARAMETERS: dict[str, tuple[type, Any, float | None, float | None]] = {
    "epochs": (float, 3.0, 0.01, 1000),
    "learning_rate": (float, 5e-5, 1e-8, 1.0),
    "batch_size": (int, 16, 1, 4096),
    "gradient_accumulation_steps": (int, 1, 1, 1024),
    "max_length": (int, 128, 8, 32768),
    "warmup_ratio": (float, 0.0, 0.0, 0.5),
    "weight_decay": (float, 0.0, 0.0, 1.0),
    "max_steps": (int, -1, -1, 10_000_000),
    "logging_steps": (int, 10, 1, 100_000),
    "eval_steps": (int, 0, 0, 1_000_000),  # 0: evaluate once per epoch
    "lora_r": (int, 8, 1, 1024),
    "lora_alpha": (int, 16, 1, 4096),
    "lora_dropout": (float, 0.05, 0.0, 0.9),
}

_REPO = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}$")


@dataclass(frozen=True)
class RecipeSpec:
    task: str
    base_model: str
    dataset: str
    output_repo: str
    columns: dict[str, str]  # role → column name, every required role present (defaults filled)
    train_split: str = "train"
    eval_split: str | None = None  # None: carve eval_fraction out of the train split
    eval_fraction: float = 0.1
    dataset_config: str | None = None
    hyperparameters: dict[str, Any] = field(default_factory=dict)  # every key of HYPERPARAMETERS
    early_stopping_patience: int | None = None  # evaluations without improvement before stopping
    seed: int = 42
    private: bool = False
    merge_adapter: bool = False  # text-generation (LoRA): push the merged model instead of the adapter
    deploy: bool = False  # create an inference endpoint for the result when the job completes
    base_revision: str = "main"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _repo_id(value: object, what: str) -> str:
    if not isinstance(value, str) or not _REPO.match(value):
        raise BadRequest(f"'{what}' must be a repo id 'namespace/name'")
    return value


def parse_recipe(body: object) -> RecipeSpec:
    """Shape checks and defaults; BadRequest naming the field at fault (BadPayload 422 for unknown keys)."""
    if not isinstance(body, dict):
        raise BadRequest("A recipe must be a JSON object")
    known = set(RecipeSpec.__dataclass_fields__)
    unknown = sorted(set(body) - known)
    if unknown:
        raise BadPayload(f"Unknown recipe field(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    task = body.get("task")
    if not isinstance(task, str) or task not in TASKS:
        raise BadRequest(f"'task' must be one of {', '.join(TASKS)}")
    required, optional = TASKS[task]
    cols_in = body.get("columns") or {}
    if not isinstance(cols_in, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v for k, v in cols_in.items()
    ):
        raise BadRequest("'columns' must map column roles to column names")
    bad_roles = sorted(set(cols_in) - set(required) - set(optional))
    if bad_roles:
        raise BadPayload(
            f"Unknown column role(s) for {task}: {', '.join(bad_roles)}; roles: {', '.join(required + optional)}"
        )
    columns = {role: cols_in.get(role, role) for role in required}
    columns.update({role: cols_in[role] for role in optional if role in cols_in})
    hp_in = body.get("hyperparameters") or {}
    if not isinstance(hp_in, dict):
        raise BadRequest("'hyperparameters' must be an object")
    unknown_hp = sorted(set(hp_in) - set(HYPERPARAMETERS))
    if unknown_hp:
        raise BadPayload(
            f"Unknown hyperparameter(s): {', '.join(unknown_hp)}; known: {', '.join(sorted(HYPERPARAMETERS))}"
        )
    hp: dict[str, Any] = {}
    for name, (kind, default, lo, hi) in HYPERPARAMETERS.items():
        value = hp_in.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise BadRequest(f"hyperparameter '{name}' must be a number")
        if kind is int and value != int(value):
            raise BadRequest(f"hyperparameter '{name}' must be a whole number")
        value = kind(value)
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise BadRequest(f"hyperparameter '{name}' must be between {lo:g} and {hi:g}")
        hp[name] = value
    fraction = body.get("eval_fraction", 0.1)
    if isinstance(fraction, bool) or not isinstance(fraction, int | float) or not 0 < fraction < 0.9:
        raise BadRequest("'eval_fraction' must be between 0 and 0.9")
    patience = body.get("early_stopping_patience")
    if patience is not None and (isinstance(patience, bool) or not isinstance(patience, int) or patience < 1):
        raise BadRequest("'early_stopping_patience' must be a positive whole number or null")
    seed = body.get("seed", 42)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise BadRequest("'seed' must be a whole number")
    splits = {}
    for key in ("train_split", "eval_split", "dataset_config", "base_revision"):
        value = body.get(key)
        if value is not None and (not isinstance(value, str) or not value or len(value) > 200):
            raise BadRequest(f"'{key}' must be a non-empty string")
        splits[key] = value
    for key in ("private", "merge_adapter", "deploy"):
        if key in body and not isinstance(body[key], bool):
            raise BadRequest(f"'{key}' must be true or false")
    return RecipeSpec(
        task=task,
        base_model=_repo_id(body.get("base_model"), "base_model"),
        dataset=_repo_id(body.get("dataset"), "dataset"),
        output_repo=_repo_id(body.get("output_repo"), "output_repo"),
        columns=columns,
        train_split=splits["train_split"] or "train",
        eval_split=splits["eval_split"],
        eval_fraction=float(fraction),
        dataset_config=splits["dataset_config"],
        hyperparameters=hp,
        early_stopping_patience=patience,
        seed=seed,
        private=bool(body.get("private", False)),
        merge_adapter=bool(body.get("merge_adapter", False)),
        deploy=bool(body.get("deploy", False)),
        base_revision=splits["base_revision"] or "main",
    )


def recipe_from_json(data: dict[str, Any]) -> RecipeSpec:
    return parse_recipe(data)
