"""The training job's entry point: `python -m modelyard.training.run`.

Env: MODELYARD_RECIPE (RecipeSpec JSON), HF_ENDPOINT + HF_TOKEN (the hub), MODELYARD_JOB_DIR (/job: checkpoints,
result.json; survives a restart), MODELYARD_RESUME=1 (resume from the last checkpoint). Loads the base model and
the dataset from the hub, trains with the task's recipe (recipes/), prints `MODELYARD_PROGRESS {json}` progress
events, pushes the result with its model card to `output_repo` and writes `{job_dir}/result.json`
({"repo", "revision", "metrics", "adapter"}). Exit 0; on failure one line `error: ...` on stderr and exit 1.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from modelyard.errors import HubError
from modelyard.training.recipes.common import Context, RecipeError, say
from modelyard.training.spec import RecipeSpec, recipe_from_json


def _fail(message: str) -> int:
    sys.stdout.flush()
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()
    return 1


def _setup_env(job_dir: Path) -> None:
    """Caches in the job dir unless given; quiet libraries; before any HF library is imported."""
    os.environ.setdefault("HF_HOME", str(job_dir / ".cache" / "huggingface"))
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    os.environ.setdefault("WANDB_DISABLED", "true")


def run(recipe: RecipeSpec, job_dir: Path, resume: bool = False, token: str | None = None) -> dict[str, Any]:
    from modelyard.training.recipes import recipe_for
    from modelyard.training.recipes.common import limit_threads, push

    ctx = Context(recipe=recipe, job_dir=job_dir, resume=resume, token=token)
    say(f"Recipe {recipe.task}: {recipe.base_model} on {recipe.dataset} → {recipe.output_repo}")
    limit_threads()
    import datasets
    import transformers

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    transformers.logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    transformers.set_seed(recipe.seed)
    outcome, eval_split = recipe_for(recipe.task)(ctx)
    return push(ctx, outcome, eval_split)


def main() -> int:
    raw = os.environ.get("MODELYARD_RECIPE")
    if not raw:
        return _fail("MODELYARD_RECIPE is not set")
    try:
        recipe = recipe_from_json(json.loads(raw))
    except json.JSONDecodeError as exc:
        return _fail(f"MODELYARD_RECIPE is not JSON: {exc}")
    except HubError as exc:
        return _fail(f"invalid recipe: {exc}")
    job_dir = Path(os.environ.get("MODELYARD_JOB_DIR") or "/job")
    try:
        job_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return _fail(f"job dir {job_dir}: {exc}")
    _setup_env(job_dir)
    resume = os.environ.get("MODELYARD_RESUME") == "1"
    token = os.environ.get("HF_TOKEN") or None
    try:
        run(recipe, job_dir, resume=resume, token=token)
    except RecipeError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return _fail("interrupted")
    except Exception as exc:
        from modelyard.training.recipes.common import _one_line

        name = type(exc).__name__
        if name in ("RepositoryNotFoundError", "GatedRepoError", "RevisionNotFoundError", "OSError"):
            return _fail(f"cannot load {recipe.base_model}: {_one_line(exc)}")  # expected: no traceback
        traceback.print_exc()
        return _fail(f"{name}: {_one_line(exc)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
