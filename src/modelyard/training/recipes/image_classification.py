"""image-classification: AutoModelForImageClassification + its image processor + Trainer."""

from __future__ import annotations

from typing import Any

from modelyard.training.recipes.common import (
    Context,
    Outcome,
    RecipeError,
    class_labels,
    classification_metrics,
    hf_trainer,
    labelled_model,
    load_splits,
    train_and_save,
    transformers_outcome,
)


def train(ctx: Context) -> tuple[Outcome, str]:
    import datasets
    import torch
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    r = ctx.recipe
    train_ds, eval_ds, eval_name = load_splits(ctx)
    if not isinstance(train_ds.features["image"], datasets.Image):
        try:
            train_ds = train_ds.cast_column("image", datasets.Image())
            eval_ds = eval_ds.cast_column("image", datasets.Image())
        except Exception as exc:
            raise RecipeError(f"column '{r.columns['image']}' does not hold images") from exc
    is_classlabel = isinstance(train_ds.features["label"], datasets.ClassLabel)
    _names, index, id2label = class_labels(ctx, train_ds, eval_ds)
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

    model = labelled_model(ctx, AutoModelForImageClassification, id2label)
    trainer = hf_trainer(
        ctx,
        model,
        train_ds,
        eval_ds,
        processor,
        training_args={"remove_unused_columns": False},
        data_collator=collate,
        compute_metrics=classification_metrics,
    )
    metrics, out = train_and_save(ctx, trainer, processor)
    return transformers_outcome(ctx, trainer, out, "image-classification", metrics), eval_name
