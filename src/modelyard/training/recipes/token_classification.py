"""token-classification: AutoModelForTokenClassification + Trainer; word-level tags aligned to the first
sub-token of each word (the others -100); entity-level precision/recall/F1 (BIO) and token accuracy."""

from __future__ import annotations

from typing import Any

from modelyard.training.recipes import metrics as m
from modelyard.training.recipes.common import (
    Context,
    Outcome,
    RecipeError,
    callbacks,
    load_splits,
    run_trainer,
    say,
    training_kwargs,
)
from modelyard.training.recipes.text_classification import load_tokenizer


def _tag_names(train_ds: Any, eval_ds: Any) -> tuple[list[str], bool]:
    """(tag names, the column holds ids of a ClassLabel)."""
    feature = train_ds.features["tags"]
    inner = getattr(feature, "feature", None)
    if inner is not None and hasattr(inner, "names"):
        return list(inner.names), True
    seen: set[Any] = set()
    for ds in (train_ds, eval_ds):
        for row in ds["tags"]:
            if not isinstance(row, list):
                raise RecipeError("column 'tags' must hold a list of tags per row")
            seen.update(row)
    if not seen:
        raise RecipeError("column 'tags' is empty")
    names = sorted(seen, key=lambda v: (v != "O", str(v)))
    return [str(v) for v in names], False


def train(ctx: Context) -> tuple[Outcome, str]:
    from transformers import (
        AutoModelForTokenClassification,
        DataCollatorForTokenClassification,
        Trainer,
        TrainingArguments,
    )

    r = ctx.recipe
    train_ds, eval_ds, eval_name = load_splits(ctx)
    names, are_ids = _tag_names(train_ds, eval_ds)
    index = {v: i for i, v in enumerate(names)}
    say(f"{len(names)} tags: {', '.join(names)}")
    tok = load_tokenizer(ctx)
    if not getattr(tok, "is_fast", False):
        raise RecipeError(f"token-classification needs a fast tokenizer; {r.base_model} has a slow one")
    max_length = int(ctx.hp["max_length"])

    def encode(batch: dict[str, list[Any]]) -> dict[str, Any]:
        words = [[str(w) for w in ws] for ws in batch["tokens"]]
        enc = tok(words, is_split_into_words=True, truncation=True, max_length=max_length)
        all_labels = []
        for i, tags in enumerate(batch["tags"]):
            if len(tags) != len(batch["tokens"][i]):
                raise RecipeError("a row's tokens and tags differ in length")
            previous = None
            labels = []
            for word in enc.word_ids(i):
                labels.append(
                    -100
                    if word is None or word == previous
                    else (tags[word] if are_ids else index[str(tags[word])])
                )
                previous = word
            all_labels.append(labels)
        enc["labels"] = all_labels
        return dict(enc)

    cols = train_ds.column_names
    train_ds = train_ds.map(encode, batched=True, remove_columns=cols)
    eval_ds = eval_ds.map(encode, batched=True, remove_columns=cols)
    id2label = dict(enumerate(names))
    model = AutoModelForTokenClassification.from_pretrained(
        r.base_model,
        revision=r.base_revision,
        token=ctx.token,
        num_labels=len(names),
        id2label=id2label,
        label2id={v: k for k, v in id2label.items()},
        ignore_mismatched_sizes=True,
    )

    def compute_metrics(pred: Any) -> dict[str, float]:
        preds = pred.predictions[0] if isinstance(pred.predictions, tuple) else pred.predictions
        pred_seqs, gold_seqs = [], []
        for p_row, y_row in zip(preds.argmax(-1).tolist(), pred.label_ids.tolist(), strict=True):
            keep = [(p, y) for p, y in zip(p_row, y_row, strict=True) if y != -100]
            pred_seqs.append([names[p] for p, _ in keep])
            gold_seqs.append([names[y] for _, y in keep])
        flat_p = [t for s in pred_seqs for t in s]
        flat_y = [t for s in gold_seqs for t in s]
        return {**m.entity_scores(pred_seqs, gold_seqs), "accuracy": m.accuracy(flat_p, flat_y)}

    trainer = Trainer(
        model=model,
        args=TrainingArguments(**training_kwargs(ctx)),
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        processing_class=tok,
        data_collator=DataCollatorForTokenClassification(tok),
        compute_metrics=compute_metrics,
        callbacks=callbacks(ctx),
    )
    metrics = run_trainer(ctx, trainer)
    out = ctx.output_dir
    trainer.save_model(str(out))
    tok.save_pretrained(str(out))
    return (
        Outcome(
            folder=out,
            library_name="transformers",
            pipeline_tag="token-classification",
            metrics=metrics,
            log_history=trainer.state.log_history,
            metric_names={"f1": "f1", "precision": "precision", "recall": "recall", "accuracy": "accuracy"},
        ),
        eval_name,
    )
