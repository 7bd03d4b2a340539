"""text-generation: supervised fine-tuning of a causal LM with LoRA (trl SFTTrainer + peft) on chat-formatted
`messages` with the tokenizer's chat template; pushes the adapter, or the merged model with merge_adapter."""

from __future__ import annotations

import math
from typing import Any

from modelyard.training.recipes.common import (
    Context,
    Outcome,
    RecipeError,
    load_splits,
    load_tokenizer,
    make_trainer,
    run_trainer,
    say,
    training_kwargs,
)

_ROLES = {"system", "user", "assistant", "tool"}


def _check_messages(ds: Any) -> None:
    for row in ds.select(range(min(len(ds), 50)))["messages"]:
        if not isinstance(row, list) or not row:
            raise RecipeError("column 'messages' must hold a list of {role, content} messages per row")
        for message in row:
            if not isinstance(message, dict) or message.get("role") not in _ROLES or "content" not in message:
                raise RecipeError(
                    "each message must be an object with a 'role' (user/assistant/system) and 'content'"
                )


def train(ctx: Context) -> tuple[Outcome, str]:
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM
    from trl import SFTConfig, SFTTrainer  # type: ignore[attr-defined]

    r = ctx.recipe
    hp = ctx.hp
    train_ds, eval_ds, eval_name = load_splits(ctx)
    _check_messages(train_ds)
    tok = load_tokenizer(ctx)
    if not getattr(tok, "chat_template", None):
        raise RecipeError(f"the tokenizer of {r.base_model} has no chat template")
    model = AutoModelForCausalLM.from_pretrained(r.base_model, revision=r.base_revision, token=ctx.token)
    lora = LoraConfig(
        r=int(hp["lora_r"]),
        lora_alpha=int(hp["lora_alpha"]),
        lora_dropout=float(hp["lora_dropout"]),
        target_modules="all-linear",
        task_type="CAUSAL_LM",
    )
    say(f"LoRA r={lora.r} alpha={lora.lora_alpha} dropout={lora.lora_dropout} on all linear layers")
    import torch

    bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    args = SFTConfig(**training_kwargs(ctx), max_length=int(hp["max_length"]), packing=False, bf16=bf16)
    trainer = make_trainer(
        ctx, SFTTrainer, args, model, train_ds, eval_ds, processing_class=tok, peft_config=lora
    )
    metrics = run_trainer(ctx, trainer)
    if "loss" in metrics and metrics["loss"] < 50:
        metrics["perplexity"] = math.exp(metrics["loss"])
    metrics = {k: v for k, v in metrics.items() if k in ("loss", "perplexity", "mean_token_accuracy")}
    out = ctx.output_dir
    adapter = not r.merge_adapter
    tuned: Any = trainer.model
    if adapter:
        tuned.save_pretrained(str(out))
    else:
        say("Merging the adapter into the base model")
        tuned.merge_and_unload().save_pretrained(str(out))
    tok.save_pretrained(str(out))
    tags = ["trl", "sft", "lora"] + (["peft"] if adapter else [])
    return (
        Outcome(
            folder=out,
            library_name="peft" if adapter else "transformers",
            pipeline_tag="text-generation",
            metrics=metrics,
            log_history=trainer.state.log_history,
            adapter=adapter,
            tags=tags,
            metric_names={"loss": "loss", "perplexity": "perplexity", "mean_token_accuracy": "accuracy"},
        ),
        eval_name,
    )
