"""token-classification: AutoModelForTokenClassification + Trainer; word-level tags aligned to the first
sub-token of each word (the others -100); entity-level precision/recall/F1 (BIO) and token accuracy."""

from __future__ import annotations

from typing import Any

from modelyard.training.recipes import metrics as m
from modelyard.training.recipes.common import (
    Context,
    Outcome,
    RecipeError,
    hf_trainer,
    labelled_model,
    load_splits,
    load_tokenizer,
    logits,
    say,
    train_and_save,
    transformers_outcome,
)


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
    from transformers import AutoModelForTokenClassification, DataCollatorForTokenClassification

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
    model = labelled_model(ctx, AutoModelForTokenClassification, dict(enumerate(names)))

    def compute_metrics(pred: Any) -> dict[str, float]:
        preds = logits(pred)
        pred_seqs, gold_seqs = [], []
        for p_row, y_row in zip(preds.argmax(-1).tolist(), pred.label_ids.tolist(), strict=True):
            keep = [(p, y) for p, y in zip(p_row, y_row, strict=True) if y != -100]
            pred_seqs.append([names[p] for p, _ in keep])
            gold_seqs.append([names[y] for _, y in keep])
        flat_p = [t for s in pred_seqs for t in s]
        flat_y = [t for s in gold_seqs for t in s]
        return {**m.entity_scores(pred_seqs, gold_seqs), "accuracy": m.accuracy(flat_p, flat_y)}

    trainer = hf_trainer(
        ctx,
        model,
        train_ds,
        eval_ds,
        tok,
        data_collator=DataCollatorForTokenClassification(tok),
        compute_metrics=compute_metrics,
    )
    metrics, out = train_and_save(ctx, trainer, tok)
    names_ = {"f1": "f1", "precision": "precision", "recall": "recall", "accuracy": "accuracy"}
    return transformers_outcome(
        ctx, trainer, out, "token-classification", metrics, metric_names=names_
    ), eval_name
