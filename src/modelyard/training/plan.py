"""From a recipe body to a job: every check that can fail is made here, before anything is queued.

`check` looks the recipe up against the hub as the caller sees it: the caller may run jobs in the namespace
(`require_job_rights`: the namespace's write role and the token's `job.write`) and create or push to the output
repo; the base model is readable (gates apply) and its config.json fits the task where that can be told; the
dataset is readable, has the split(s) and every mapped column, and enough rows. Splits and columns are read
host-side with hub/viewer.py over Content: Parquet footers (schema and row counts) and the first rows of CSV/JSONL
files, never a whole file into memory.

`plan` adds the JobSpec the runner starts: the hub's own environment (image `modelyard/train`), the command
`python -m modelyard.training.run`, the recipe as JSON in MODELYARD_RECIPE.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from modelyard.errors import (
    BadPayload,
    Forbidden,
    HubError,
    InvalidRepoName,
    NotFound,
    RepoNotFound,
    Unauthorized,
)
from modelyard.hub import viewer
from modelyard.hub.access import Perm, role_at_least
from modelyard.hub.accounts import Account, Principal
from modelyard.hub.repos import Repo, can_read, can_write
from modelyard.hub.revisions import FileEntry
from modelyard.jobs.spec import TRAIN_IMAGE, JobSpec
from modelyard.training.spec import TASKS, RecipeSpec, parse_recipe
from modelyard.types import RepoType, valid_name

log = logging.getLogger("modelyard.training")

RUN_COMMAND = ["python", "-m", "modelyard.training.run"]
RECIPE_ENV = "MODELYARD_RECIPE"
LABEL_TASK = "modelyard-training"
LABEL_OUTPUT = "output"
MIN_TRAIN_ROWS = 2
CONFIG_MAX = 4 * 1024 * 1024  # a config.json larger than this is not read
_SAMPLE_ROWS = 5

#: text-only model types: an image-classification recipe on them cannot work
_TEXT_MODEL_TYPES = frozenset(
    {"bert", "roberta", "distilbert", "albert", "electra", "deberta", "deberta-v2", "xlm-roberta", "mpnet",
     "gpt2", "llama", "mistral", "qwen2", "qwen3", "phi", "phi3", "gemma", "gemma2", "opt", "gpt_neox", "t5"}
)  # fmt: skip
#: model types that have an image processor (an image-classification base)
_VISION_HINTS = ("vit", "deit", "beit", "convnext", "resnet", "swin", "dinov2", "mobilevit", "efficientnet")


@dataclass(frozen=True)
class Checked:
    """What validation found (the `/validate` answer)."""

    recipe: RecipeSpec
    namespace: Account
    columns: list[str]  # the train split's columns
    splits: list[str]
    num_rows: dict[str, int | None] = field(default_factory=dict)  # None: not counted (large file)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": True,
            "columns": self.columns,
            "splits": self.splits,
            "num_rows": self.num_rows,
            "recipe": self.recipe.to_json(),
        }


def require_job_rights(accounts: Any, who: Principal | None, namespace: str) -> Account:
    """The namespace's account if `who` may run jobs there: the write role in the namespace (one's own, or an
    org where one is write/admin) and a token with `job.write` on it. Unauthorized without a token; Forbidden
    otherwise; NotFound for an unknown namespace (as the Jobs API answers a submit there)."""
    if who is None:
        raise Unauthorized("You must be authenticated to run jobs")
    owner: Account | None = accounts.find(namespace)
    if owner is None or owner.kind not in ("user", "org"):
        raise NotFound(f"Namespace {namespace[:80]!r} not found")
    if not role_at_least(who.role_in(namespace), "write"):
        raise Forbidden(f"You cannot run jobs in the namespace {namespace!r}")
    if not who.can_write:
        raise Forbidden(f"This token ({who.role} token {who.token_name!r}) is read-only: it cannot run jobs")
    who.require(Perm.JOB_WRITE, owner.kind, owner.name)
    return owner


def _split_id(repo_id: str) -> tuple[str, str]:
    ns, _, name = repo_id.partition("/")
    return ns, name


def _check_output(svc: Any, who: Principal, repo_id: str) -> None:
    """The caller may push to `repo_id`: an existing repo it can write, or a new one in a namespace where it may
    create repos (contributor or above, a write token allowing `repo.write` there)."""
    ns, name = _split_id(repo_id)
    if not valid_name(ns) or not valid_name(name):
        raise InvalidRepoName(
            f"Invalid output repo name {repo_id}: use 1-96 of letters, digits, '.', '_' and '-', "
            "no '--' or '..', not ending in '.git'"
        )
    with svc.db.read() as conn:
        existing: Repo | None = svc.repos.find(conn, RepoType.MODEL, ns, name)
    if existing is not None and can_read(existing, who):
        if not can_write(existing, who):
            raise Forbidden(f"You cannot push to the output repo {repo_id}")
        return
    owner: Account | None = svc.accounts.find(ns)
    if existing is not None or owner is None:
        raise Forbidden(f"You cannot create the output repo {repo_id}")
    if not who.can_write or not role_at_least(who.role_in(ns), "contributor"):
        raise Forbidden(
            f"You cannot create the output repo {repo_id}: no write access to the namespace {ns!r}"
        )
    who.require(Perm.REPO_WRITE, owner.kind, owner.name)


def _readable(svc: Any, who: Principal, kind: RepoType, repo_id: str, what: str) -> Repo:
    """The repo if `who` may download it (gates apply); RepoNotFound naming it (private repos are unknown)."""
    ns, name = _split_id(repo_id)
    try:
        repo: Repo = svc.repos.get_for_download(kind, ns, name, who)
    except RepoNotFound:
        raise RepoNotFound(
            f"The {what} {repo_id} was not found (or you cannot read it)", exact=True
        ) from None
    return repo


def _manifest(svc: Any, repo: Repo, rev: str) -> dict[str, FileEntry]:
    sha = svc.files.resolve_rev(repo, rev)
    files: dict[str, FileEntry] = svc.files.manifest(repo, sha)
    return files


def _read_json(svc: Any, entry: FileEntry) -> Any:
    if entry.size > CONFIG_MAX:
        return None
    with svc.content.open(entry.sha256) as f:
        raw = f.read(CONFIG_MAX + 1)
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None


def _check_base_model(svc: Any, who: Principal, recipe: RecipeSpec) -> None:
    repo = _readable(svc, who, RepoType.MODEL, recipe.base_model, "base model")
    files = _manifest(svc, repo, recipe.base_revision)
    entry = files.get("config.json")
    if entry is None:
        raise BadPayload(
            f"The base model {recipe.base_model} has no config.json: it is not a transformers model"
        )
    config = _read_json(svc, entry)
    if not isinstance(config, dict):
        raise BadPayload(f"The config.json of {recipe.base_model} is not a JSON object")
    archs = [a for a in config.get("architectures") or [] if isinstance(a, str)]
    model_type = str(config.get("model_type") or "").lower()
    what = f"{recipe.base_model} ({', '.join(archs) or model_type or 'unknown architecture'})"
    causal = any(a.endswith(("ForCausalLM", "LMHeadModel", "ForConditionalGeneration")) for a in archs)
    if recipe.task == "text-generation" and archs and not causal:
        raise BadPayload(f"The base model {what} is not a causal language model: text-generation needs one")
    vision = (
        any(h in model_type for h in _VISION_HINTS) or "image_size" in config or "vision_config" in config
    )
    if (
        recipe.task == "image-classification"
        and model_type
        and (model_type in _TEXT_MODEL_TYPES or not vision)
    ):
        raise BadPayload(f"The base model {what} is not an image model: image-classification needs one")
    image_only = any(h in model_type for h in _VISION_HINTS) and "text_config" not in config
    if recipe.task in ("text-classification", "token-classification", "sentence-similarity") and image_only:
        raise BadPayload(f"The base model {what} is an image model: {recipe.task} needs a text model")


def _card_for_config(repo: Repo, recipe: RecipeSpec) -> dict[str, Any] | None:
    card = repo.card_data if isinstance(repo.card_data, dict) else None
    if recipe.dataset_config is None:
        return card
    configs = (card or {}).get("configs")
    names = [c.get("config_name") for c in configs or [] if isinstance(c, dict)]
    for c in configs or []:
        if isinstance(c, dict) and c.get("config_name") == recipe.dataset_config:
            return {**(card or {}), "configs": [c]}
    raise BadPayload(
        f"The dataset {recipe.dataset} has no config {recipe.dataset_config!r}; "
        f"configs: {', '.join(str(n) for n in names if n) or 'none (leave dataset_config empty)'}"
    )


def _split_shape(svc: Any, files: dict[str, FileEntry], split: viewer.Split) -> tuple[list[str], int | None]:
    """The columns of a split (its first file) and its row count (None when a file is too big to count)."""
    columns: list[str] = []
    total: int | None = 0
    for i, path in enumerate(split.files):
        entry = files[path]
        length = 0 if path.lower().endswith(".parquet") else _SAMPLE_ROWS
        try:
            page = viewer.rows(svc.content, entry, 0, length)
        except (HubError, OSError, ValueError) as e:
            raise BadPayload(f"Cannot read {path}: {e}") from None
        except Exception as e:  # pyarrow's errors (malformed CSV/Parquet) are no subclasses of ours
            raise BadPayload(f"Cannot read {path}: {e}") from None
        if i == 0:
            columns = list(page.columns)
        if total is not None:
            total = None if page.total is None else total + page.total
    return columns, total


def check(svc: Any, who: Principal | None, namespace: str, body: object) -> Checked:
    """Every check of a recipe against the hub (see module docstring); raises the error the submit answers."""
    recipe = parse_recipe(body)
    owner = require_job_rights(svc.accounts, who, namespace)
    assert who is not None
    _check_output(svc, who, recipe.output_repo)
    _check_base_model(svc, who, recipe)
    dataset = _readable(svc, who, RepoType.DATASET, recipe.dataset, "dataset")
    files = _manifest(svc, dataset, "main")
    splits = viewer.splits(files, _card_for_config(dataset, recipe))
    if not splits:
        raise BadPayload(
            f"The dataset {recipe.dataset} has no data files (CSV, TSV, JSON Lines, JSON or Parquet)"
        )
    by_name = {s.name: s for s in splits}
    names = list(by_name)
    wanted = [recipe.train_split] + ([recipe.eval_split] if recipe.eval_split else [])
    for split in wanted:
        if split not in by_name:
            raise BadPayload(f"split {split!r} not found in {recipe.dataset}; available: {', '.join(names)}")
    num_rows: dict[str, int | None] = {}
    columns: list[str] = []
    for split in wanted:
        cols, total = _split_shape(svc, files, by_name[split])
        num_rows[split] = total
        if split == recipe.train_split:
            columns = cols
        missing = [(role, c) for role, c in recipe.columns.items() if c not in cols]
        if missing:
            role, col = missing[0]
            raise BadPayload(
                f"column {col!r} ({role}) not found in {recipe.dataset} ({split}); "
                f"available: {', '.join(cols) or 'none'}"
            )
    train_rows = num_rows[recipe.train_split]
    if train_rows is not None:
        need = MIN_TRAIN_ROWS
        if recipe.eval_split is None:
            need = max(MIN_TRAIN_ROWS + 1, int(MIN_TRAIN_ROWS / max(1e-9, 1 - recipe.eval_fraction)) + 1)
        if train_rows < need:
            raise BadPayload(
                f"The split {recipe.train_split!r} of {recipe.dataset} has {train_rows} row(s): at least {need} "
                "are needed to train" + ("" if recipe.eval_split else " and carve out an evaluation set")
            )
    if recipe.eval_split is not None and num_rows.get(recipe.eval_split) == 0:
        raise BadPayload(f"The split {recipe.eval_split!r} of {recipe.dataset} is empty")
    if recipe.task not in TASKS:  # parse_recipe refused it already; kept for the type checker's sake
        raise BadPayload(f"Unknown task {recipe.task}")
    return Checked(recipe, owner, columns, names, num_rows)


def job_spec(recipe: RecipeSpec, timeout: int | None) -> JobSpec:
    return JobSpec(
        image=TRAIN_IMAGE,
        command=list(RUN_COMMAND),
        environment={RECIPE_ENV: json.dumps(recipe.to_json())},
        timeout=timeout,
        labels={LABEL_TASK: recipe.task, LABEL_OUTPUT: recipe.output_repo},
    )


def plan(svc: Any, who: Principal | None, namespace: str, body: object) -> tuple[RecipeSpec, JobSpec]:
    """The checked recipe and the JobSpec that runs it (see module docstring)."""
    checked = check(svc, who, namespace, body)
    timeout = getattr(svc.settings, "jobs_timeout", None) or None
    return checked.recipe, job_spec(checked.recipe, int(timeout) if timeout else None)
