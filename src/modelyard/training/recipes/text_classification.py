"""text-classification: AutoModelForSequenceClassification + Trainer; labels (strings or ints) → id2label."""

from __future__ import annotations

from typing import Any

from modelyard.training.recipes.common import (
    Context,
    Outcome,
    class_labels,
    classification_metrics,
    hf_trainer,
    labelled_model,
    load_splits,
    load_tokenizer,
    train_and_save,
    transformers_outcome,
)

__all__ = ["load_tokenizer", "train"]


def train(ctx: Context) -> tuple[Outcome, str]:
    from transformers import AutoModelForSequenceClassification

    r = ctx.recipe
    train_ds, eval_ds, eval_name = load_splits(ctx)
    _names, index, id2label = class_labels(ctx, train_ds, eval_ds)
    tok = load_tokenizer(ctx)
    max_length = int(ctx.hp["max_length"])
    has_pair = "text_pair" in r.columns
    is_classlabel = hasattr(train_ds.features["label"], "names")

    def encode(batch: dict[str, list[Any]]) -> dict[str, Any]:
        pair = batch["text_pair"] if has_pair else None
        enc = tok(batch["text"], pair, truncation=True, max_length=max_length)
        enc["labels"] = [v if is_classlabel else index[v] for v in batch["label"]]
        return dict(enc)

    cols = train_ds.column_names
    train_ds = train_ds.map(encode, batched=True, remove_columns=cols)
    eval_ds = eval_ds.map(encode, batched=True, remove_columns=cols)
    model = labelled_model(ctx, AutoModelForSequenceClassification, id2label)
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tok.pad_token_id
    trainer = hf_trainer(ctx, model, train_ds, eval_ds, tok, compute_metrics=classification_metrics)
    metrics, out = train_and_save(ctx, trainer, tok)
    return transformers_outcome(ctx, trainer, out, "text-classification", metrics), eval_name
