"""The model card of a fine-tuned model: YAML metadata the Hub reads (base_model, datasets, library_name,
pipeline_tag, tags, license, model-index with the evaluation results) and the Hub's card template sections
(description, intended uses & limitations, bias, risks and limitations, training procedure with the
hyperparameters, training results, framework versions)."""

from __future__ import annotations

from importlib import metadata
from typing import Any

from modelyard.training.spec import RecipeSpec

TASK_NAMES = {
    "text-classification": "Text Classification",
    "token-classification": "Token Classification",
    "sentence-similarity": "Sentence Similarity",
    "text-generation": "Text Generation",
    "image-classification": "Image Classification",
}
FRAMEWORKS = (
    "transformers",
    "torch",
    "datasets",
    "tokenizers",
    "accelerate",
    "peft",
    "trl",
    "sentence-transformers",
)
_HIDDEN = {"runtime", "samples_per_second", "steps_per_second", "epoch", "step"}


def framework_versions(names: tuple[str, ...] = FRAMEWORKS) -> dict[str, str]:
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def results_table(log_history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per evaluation: the last training loss before it, the epoch, the step and the eval metrics."""
    rows: list[dict[str, Any]] = []
    train_loss: float | None = None
    for entry in log_history:
        if "loss" in entry and not any(k.startswith("eval_") for k in entry):
            train_loss = float(entry["loss"])
        if "eval_loss" in entry or any(k.startswith("eval_") and k[5:] not in _HIDDEN for k in entry):
            row: dict[str, Any] = {
                "Training Loss": train_loss,
                "Epoch": entry.get("epoch"),
                "Step": entry.get("step"),
            }
            for key, value in entry.items():
                name = key[5:] if key.startswith("eval_") else None
                if name and name not in _HIDDEN and isinstance(value, int | float):
                    row["Validation Loss" if name == "loss" else name] = value
            rows.append(row)
    return rows


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def render_card(
    recipe: RecipeSpec,
    *,
    library_name: str,
    pipeline_tag: str,
    metrics: dict[str, float],
    eval_split: str,
    log_history: list[dict[str, Any]],
    base_license: str | None = None,
    base_language: Any = None,
    adapter: bool = False,
    tags: list[str] | None = None,
    metric_names: dict[str, str] | None = None,
) -> str:
    """README.md text (front matter + markdown)."""
    from huggingface_hub import EvalResult, ModelCardData

    name = recipe.output_repo.split("/")[-1]
    task_name = TASK_NAMES.get(recipe.task, recipe.task)
    shown = {k: v for k, v in metrics.items() if k not in _HIDDEN}
    types = metric_names or {}
    eval_results = [
        EvalResult(
            task_type=recipe.task,
            task_name=task_name,
            dataset_type=recipe.dataset,
            dataset_name=recipe.dataset,
            dataset_config=recipe.dataset_config,
            dataset_split=recipe.eval_split or recipe.train_split,
            metric_type=types.get(key, key),
            metric_name=key,
            metric_value=round(float(value), 6),
        )
        for key, value in shown.items()
    ]
    all_tags = ["modelyard", "fine-tuned", recipe.task, *(tags or [])]
    data = ModelCardData(
        base_model=recipe.base_model,
        datasets=[recipe.dataset],
        library_name=library_name,
        pipeline_tag=pipeline_tag,
        tags=list(dict.fromkeys(all_tags)),
        license=base_license,
        language=base_language,
        model_name=name,
        eval_results=eval_results or None,
    )
    hp = dict(recipe.hyperparameters)
    if recipe.task != "text-generation":
        for key in ("lora_r", "lora_alpha", "lora_dropout"):
            hp.pop(key, None)
    hp["seed"] = recipe.seed
    if recipe.early_stopping_patience is not None:
        hp["early_stopping_patience"] = recipe.early_stopping_patience
    columns = ", ".join(f"`{role}` ← `{col}`" for role, col in recipe.columns.items())
    kind = "a LoRA adapter for" if adapter else "a fine-tuned version of"
    lines = [
        "---",
        data.to_yaml().strip(),
        "---",
        "",
        f"# {name}",
        "",
        f"This model is {kind} [{recipe.base_model}](/{recipe.base_model}) on the "
        f"[{recipe.dataset}](/datasets/{recipe.dataset}) dataset ({task_name.lower()}), trained with a "
        "ModelYard no-code fine-tuning recipe.",
    ]
    if shown:
        lines += ["", f"It achieves the following results on the evaluation set ({eval_split}):", ""]
        lines += [f"- {k}: {_fmt(v)}" for k, v in shown.items()]
    lines += [
        "",
        "## Model description",
        "",
        "More information needed",
        "",
        "## Intended uses & limitations",
        "",
        "More information needed",
        "",
        "## Bias, risks, and limitations",
        "",
        "This model inherits the biases of its base model and of its training data. More information needed",
        "",
        "## Training and evaluation data",
        "",
        f"- Dataset: `{recipe.dataset}`"
        + (f" (config `{recipe.dataset_config}`)" if recipe.dataset_config else ""),
        f"- Training split: `{recipe.train_split}`",
        f"- Evaluation split: {eval_split}",
        f"- Columns: {columns}",
        "",
        "## Training procedure",
        "",
    ]
    if adapter or recipe.task == "text-generation":
        how = "merged into the base model" if not adapter else "pushed as a PEFT adapter"
        lines += [f"Supervised fine-tuning (trl SFTTrainer) with LoRA, {how}.", ""]
    lines += [
        "### Training hyperparameters",
        "",
        "The following hyperparameters were used during training:",
        "",
    ]
    lines += [f"- {k}: {v}" for k, v in hp.items()]
    rows = results_table(log_history)
    if rows:
        headers = list(dict.fromkeys(k for row in rows for k in row))
        lines += ["", "### Training results", "", "| " + " | ".join(headers) + " |"]
        lines += ["|" + "|".join(":---:" for _ in headers) + "|"]
        lines += ["| " + " | ".join(_fmt(row.get(h)) for h in headers) + " |" for row in rows]
    lines += ["", "### Framework versions", ""]
    lines += [f"- {k} {v}" for k, v in framework_versions().items()]
    return "\n".join(lines) + "\n"
