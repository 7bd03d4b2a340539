"""image-classification: AutoModelForImageClassification + its image processor + Trainer."""

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


def train(ctx: Context) -> tuple[Outcome, str]:
    import datasets
    import torch
    from transformers import AutoImageProcessor, AutoModelForImageClassification, Trainer, TrainingArguments

    r = ctx.recipe
    train_ds, eval_ds, eval_name = load_splits(ctx)
    if not isinstance(train_ds.features["image"], datasets.Image):
        try:
            train_ds = train_ds.cast_column("image", datasets.Image())
            eval_ds = eval_ds.cast_column("image", datasets.Image())
        except Exception as exc:
            raise RecipeError(f"column '{r.columns['image']}' does not hold images") from exc
    names = label_names(train_ds, eval_ds, "label")
    if len(names) < 2:
        raise RecipeError(
            f"column '{r.columns['label']}' has {len(names)} distinct label(s): need at least 2"
        )
    is_classlabel = isinstance(train_ds.features["label"], datasets.ClassLabel)
    index = {v: i for i, v in enumerate(names)}
    id2label = {i: str(v) for i, v in enumerate(names)}
    say(f"{len(names)} labels: {', '.join(id2label.values())}")
    processor = AutoImageProcessor.from_pretrained(  # type: ignore[no-untyped-call]
        r.base_model, revision=r.base_revision, token=ctx.token
    )

    def transform(batch: dict[str, list[Any]]) -> dict[str, Any]:
        images = [img.convert("RGB") for img in batch["image"]]
        pixel_values = processor(images=images, return_tensors="pt")["pixel_values"]
        labels = [v if is_classlabel else index[v] for v in batch["label"]]
        return {"pixel_values": pixel_values, "labels": labels}

    train_ds = train_ds.with_transform(transform)
    eval_ds = eval_ds.with_transform(transform)

    def collate(rows: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "pixel_values": torch.stack([row["pixel_values"] for row in rows]),
            "labels": torch.tensor([row["labels"] for row in rows]),
        }

    model = AutoModelForImageClassification.from_pretrained(
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
        p, y = preds.argmax(-1).tolist(), pred.label_ids.tolist()
        return {"accuracy": m.accuracy(p, y), "f1": m.f1(p, y)}

    trainer = Trainer(
        model=model,
        args=TrainingArguments(**training_kwargs(ctx), remove_unused_columns=False),
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        processing_class=processor,
        data_collator=collate,
        compute_metrics=compute_metrics,
        callbacks=callbacks(ctx),
    )
    metrics = run_trainer(ctx, trainer)
    out = ctx.output_dir
    trainer.save_model(str(out))
    processor.save_pretrained(str(out))
    return (
        Outcome(
            folder=out,
            library_name="transformers",
            pipeline_tag="image-classification",
            metrics=metrics,
            log_history=trainer.state.log_history,
        ),
        eval_name,
    )
