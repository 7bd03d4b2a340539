"""The fine-tuning recipes that run inside a training job (`python -m modelyard.training.run`): one module per
task, each a `train(ctx) -> Outcome` built on transformers Trainer / sentence-transformers / trl + peft.
common.py holds what they share: data loading and column checks, TrainingArguments from the recipe's
hyperparameters, the progress callback, checkpoints/resume, the push with its model card."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any

#: task → module under modelyard.training.recipes
MODULES = {
    "text-classification": "text_classification",
    "token-classification": "token_classification",
    "sentence-similarity": "sentence_similarity",
    "text-generation": "text_generation",
    "image-classification": "image_classification",
}


def recipe_for(task: str) -> Callable[[Any], Any]:
    module = import_module(f"modelyard.training.recipes.{MODULES[task]}")
    train: Callable[[Any], Any] = module.train
    return train
