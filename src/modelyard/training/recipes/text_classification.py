"""text-classification: AutoModelForSequenceClassification + Trainer; labels (strings or ints) → id2label."""

from __future__ import annotations

from typing import Any

from modelyard.training.recipes import metrics as m
from modelyard.training.recipes.common import (
    Context,
    Outcome,
    RecipeError,
    callbacks,
    label_names,
    load_splits,
    run_trainer,
    say,
    training_kwargs,
)


def load_tokenizer(ctx: Context) -> Any:
    from transformers import AutoTokenizer

    r = ctx.recipe
    tok = AutoTokenizer.from_pretrained(r.base_model, revision=r.base_revision, token=ctx.token)
    if tok.pad_token is None:
        if tok.eos_token is None:
            raise RecipeError(f"the tokenizer of {r.base_model} has neither a pad nor an eos token")
        tok.pad_token = tok.eos_token
    return tok


def train(ctx: Context) -> tuple[Outcome, str]:
    from transformers import AutoModelForSequenceClassification, Trainer, TrainingArguments

    r = ctx.recipe
    train_ds, eval_ds, eval_name = load_splits(ctx)
    names = label_names(train_ds, eval_ds, "label")
    if len(names) < 2:
        raise RecipeError(
            f"column '{r.columns['label']}' has {len(names)} distinct label(s): need at least 2"
        )
    index = {v: i for i, v in enumerate(names)}
    id2label = {i: str(v) for i, v in enumerate(names)}
    say(f"{len(names)} labels: {', '.join(id2label.values())}")
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
    model = AutoModelForSequenceClassification.from_pretrained(
        r.base_model,
        revision=r.base_revision,
        token=ctx.token,
        num_labels=len(names),
        id2label=id2label,
        label2id={v: k for k, v in id2label.items()},
        ignore_mismatched_sizes=True,
    )
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tok.pad_token_id

    def compute_metrics(pred: Any) -> dict[str, float]:
        preds = pred.predictions[0] if isinstance(pred.predictions, tuple) else pred.predictions
        p = preds.argmax(-1).tolist()
        y = pred.label_ids.tolist()
        return {"accuracy": m.accuracy(p, y), "f1": m.f1(p, y)}

    trainer = Trainer(
        model=model,
        args=TrainingArguments(**training_kwargs(ctx)),
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        processing_class=tok,
        compute_metrics=compute_metrics,
        callbacks=callbacks(ctx),
    )
    metrics = run_trainer(ctx, trainer)
    out = ctx.output_dir
    trainer.save_model(str(out))
    tok.save_pretrained(str(out))
    outcome = Outcome(
        folder=out,
        library_name="transformers",
        pipeline_tag="text-classification",
        metrics=metrics,
        log_history=trainer.state.log_history,
    )
    return outcome, eval_name
