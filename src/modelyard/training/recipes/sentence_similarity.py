"""sentence-similarity: sentence-transformers SentenceTransformerTrainer. (anchor, positive[, negative]) →
MultipleNegativesRankingLoss + a TripletEvaluator (pairs: the next row's positive as the negative);
(anchor, positive, score) → CoSENTLoss + an EmbeddingSimilarityEvaluator."""

from __future__ import annotations

from typing import Any

from modelyard.training.recipes.common import (
    Context,
    Outcome,
    RecipeError,
    load_splits,
    make_trainer,
    run_trainer,
    say,
    training_kwargs,
)


def train(ctx: Context) -> tuple[Outcome, str]:
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.evaluation import EmbeddingSimilarityEvaluator, TripletEvaluator
    from sentence_transformers.sentence_transformer import losses
    from sentence_transformers.training_args import BatchSamplers

    r = ctx.recipe
    train_ds, eval_ds, eval_name = load_splits(ctx)
    scored = "score" in r.columns
    if scored and "negative" in r.columns:
        raise RecipeError("sentence-similarity takes either a 'negative' or a 'score' column, not both")
    order = ["anchor", "positive"] + (
        ["score"] if scored else (["negative"] if "negative" in r.columns else [])
    )
    train_ds, eval_ds = train_ds.select_columns(order), eval_ds.select_columns(order)
    if len(eval_ds) < 2:
        raise RecipeError("the validation split needs at least 2 rows")
    model = SentenceTransformer(r.base_model, revision=r.base_revision, token=ctx.token, device=None)
    model.max_seq_length = int(ctx.hp["max_length"])
    if scored:
        try:
            train_ds = train_ds.cast_column("score", _float())
            eval_ds = eval_ds.cast_column("score", _float())
        except Exception as exc:
            raise RecipeError(f"column '{r.columns['score']}' must hold numbers") from exc
        loss: Any = losses.CoSENTLoss(model)
        evaluator: Any = EmbeddingSimilarityEvaluator(
            eval_ds["anchor"], eval_ds["positive"], eval_ds["score"], name="eval"
        )
        say("Loss: CoSENTLoss (sentence1, sentence2, score)")
        names = {"spearman_cosine": "spearman_cosine", "pearson_cosine": "pearson_cosine"}
    else:
        loss = losses.MultipleNegativesRankingLoss(model)
        if "negative" in order:
            negatives = eval_ds["negative"]
        else:
            positives = list(eval_ds["positive"])
            negatives = positives[1:] + positives[:1]
        evaluator = TripletEvaluator(eval_ds["anchor"], eval_ds["positive"], negatives, name="eval")
        say("Loss: MultipleNegativesRankingLoss (" + ", ".join(order) + ")")
        names = {"cosine_accuracy": "cosine_accuracy"}
    kw = training_kwargs(ctx)
    if ctx.recipe.early_stopping_patience is not None:
        kw["metric_for_best_model"] = "eval_loss"
    args = SentenceTransformerTrainingArguments(
        **kw, batch_sampler=BatchSamplers.NO_DUPLICATES if not scored else BatchSamplers.BATCH_SAMPLER
    )
    trainer = make_trainer(
        ctx, SentenceTransformerTrainer, args, model, train_ds, eval_ds, loss=loss, evaluator=evaluator
    )
    raw = run_trainer(ctx, trainer)
    # sentence-transformers names evaluator metrics eval_{evaluator name}_{metric}: drop the evaluator name
    metrics = {(k[5:] if k.startswith("eval_") else k): v for k, v in raw.items()}
    out = ctx.output_dir
    model.save_pretrained(str(out))
    return (
        Outcome(
            folder=out,
            library_name="sentence-transformers",
            pipeline_tag="sentence-similarity",
            metrics=metrics,
            log_history=trainer.state.log_history,
            tags=["sentence-transformers", "feature-extraction"],
            metric_names=names,
        ),
        eval_name,
    )


def _float() -> Any:
    import datasets

    return datasets.Value("float32")
