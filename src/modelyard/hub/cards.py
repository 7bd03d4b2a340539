"""README.md front matter: parsing, validation and derived tags."""

from __future__ import annotations

import re
from typing import Any

import yaml

from modelyard.errors import InvalidYaml

# Leading blank lines before the opening '---' are allowed, as on the Hub (huggingface_hub's REGEX_YAML_BLOCK).
_FRONT = re.compile(r"\A\ufeff?\s*?---[ \t]*\r?\n(?:(.*?)\r?\n)?---[ \t]*(?:\r?\n|\Z)", re.S)

#: The Hub's license identifiers (hub-docs repositories-licenses.md); anything else is refused by validate-yaml.
_LICENSE_IDS = """apache-2.0 mit openrail bigscience-openrail-m creativeml-openrail-m bigscience-bloom-rail-1.0
    bigcode-openrail-m afl-3.0 artistic-2.0 bsl-1.0 bsd bsd-2-clause bsd-3-clause bsd-3-clause-clear c-uda cc
    cc0-1.0 cc-by-2.0 cc-by-2.5 cc-by-3.0 cc-by-4.0 cc-by-sa-3.0 cc-by-sa-4.0 cc-by-nc-2.0 cc-by-nc-3.0
    cc-by-nc-4.0 cc-by-nd-4.0 cc-by-nc-nd-3.0 cc-by-nc-nd-4.0 cc-by-nc-sa-2.0 cc-by-nc-sa-3.0 cc-by-nc-sa-4.0
    cdla-sharing-1.0 cdla-permissive-1.0 cdla-permissive-2.0 wtfpl ecl-2.0 epl-1.0 epl-2.0 etalab-2.0 eupl-1.1
    eupl-1.2 agpl-3.0 gfdl gpl gpl-2.0 gpl-3.0 lgpl lgpl-2.1 lgpl-3.0 isc h-research intel-research lppl-1.3c
    ms-pl apple-ascl apple-amlr mpl-2.0 odc-by odbl openmdw-1.0 openrail++ osl-3.0 postgresql ofl-1.1 ncsa
    unlicense zlib pddl lgpl-lr deepfloyd-if-license fair-noncommercial-research-license llama2 llama3 llama3.1
    llama3.2 llama3.3 llama4 gemma unknown other"""
LICENSES = frozenset(_LICENSE_IDS.split())


def split_front_matter(text: str) -> tuple[str | None, str]:
    """(yaml_text or None, markdown body)."""
    m = _FRONT.match(text)
    if not m:
        return None, text
    return m.group(1) or "", text[m.end() :]


def parse_card(text: str) -> dict[str, Any] | None:
    """The YAML front matter as a dict; None when absent; InvalidYaml when malformed."""
    raw, _ = split_front_matter(text)
    if raw is None:
        return None
    try:
        data = yaml.safe_load(raw)
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise InvalidYaml("README.md metadata must be a YAML mapping")
        out: dict[str, Any] = _jsonable(data)
    except yaml.YAMLError as e:
        raise InvalidYaml(f"Invalid YAML in README.md metadata: {e}") from None
    except RecursionError:  # PyYAML composes recursively: deep nesting is refused, not a 500
        raise InvalidYaml("Invalid YAML in README.md metadata: nested too deeply") from None
    return out


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, str | int | float | bool) or v is None:
        return v
    return str(v)


def validate(card: dict[str, Any]) -> list[str]:
    """Errors in known fields (the subset of HF's checks that clients rely on)."""
    errors: list[str] = []
    if "model-index" in card:
        errors += _model_index_errors(card["model-index"])
    for key in ("tags", "datasets", "language"):
        v = card.get(key)
        if v is not None and not isinstance(v, str | list):
            errors.append(f'"{key}" must be a string or an array of strings')
    for key in ("pipeline_tag", "library_name", "base_model"):
        v = card.get(key)
        if v is not None and not isinstance(v, str | list):
            errors.append(f'"{key}" must be a string')
    if "license" in card:
        lic = card["license"]
        values = lic if isinstance(lic, list) else [lic]
        bad = [v for v in values if not isinstance(v, str) or v not in LICENSES]
        if bad or not values:
            errors.append(
                f'"license" must be one of the Hub\'s license identifiers (e.g. apache-2.0, mit, other), got {bad!r}'
            )
    return errors


def _model_index_errors(mi: Any) -> list[str]:
    """The Hub's shape of ``model-index``: [{name, results: [{task: {type}, dataset: {type, name}, metrics: [{type,
    value}]}]}] (hub-docs modelcard.md)."""
    if not isinstance(mi, list):
        return ['"model-index" must be an array']
    errors: list[str] = []
    for i, model in enumerate(mi):
        at = f'"model-index[{i}]"'
        if not isinstance(model, dict):
            errors.append(f"{at} must be an object")
            continue
        if not isinstance(model.get("name"), str):
            errors.append(f"{at}.name is required and must be a string")
        results = model.get("results")
        if not isinstance(results, list):
            errors.append(f"{at}.results is required and must be an array")
            continue
        for j, res in enumerate(results):
            rat = f"{at}.results[{j}]"
            if not isinstance(res, dict):
                errors.append(f"{rat} must be an object")
                continue
            task = res.get("task")
            if not isinstance(task, dict) or not isinstance(task.get("type"), str):
                errors.append(f"{rat}.task.type is required and must be a string")
            ds = res.get("dataset")
            if ds is not None and (
                not isinstance(ds, dict)
                or not isinstance(ds.get("type"), str)
                or not isinstance(ds.get("name"), str)
            ):
                errors.append(f"{rat}.dataset needs a string 'type' and 'name'")
            metrics = res.get("metrics")
            if not isinstance(metrics, list) or not metrics:
                errors.append(f"{rat}.metrics is required and must be a non-empty array")
                continue
            for k, m in enumerate(metrics):
                if not isinstance(m, dict) or not isinstance(m.get("type"), str) or "value" not in m:
                    errors.append(f"{rat}.metrics[{k}] needs a string 'type' and a 'value'")
    return errors


def _as_list(v: Any) -> list[str]:
    if v is None:
        return []
    if isinstance(v, list):
        return [str(x) for x in v if x is not None]
    return [str(v)]


def derive_tags(card: dict[str, Any]) -> tuple[list[str], str | None, str | None]:
    """(tags, pipeline_tag, library_name) as HF derives them for search filters."""
    tags: list[str] = []
    library = card.get("library_name") if isinstance(card.get("library_name"), str) else None
    pipeline_tag = card.get("pipeline_tag") if isinstance(card.get("pipeline_tag"), str) else None
    if library:
        tags.append(library)
    if pipeline_tag:
        tags.append(pipeline_tag)
    tags += _as_list(card.get("tags"))
    tags += [f"dataset:{d}" for d in _as_list(card.get("datasets"))]
    tags += _as_list(card.get("language"))
    tags += [f"license:{x}" for x in _as_list(card.get("license"))]
    tags += [f"base_model:{x}" for x in _as_list(card.get("base_model"))]
    seen: set[str] = set()
    out = [t for t in tags if not (t in seen or seen.add(t))]  # type: ignore[func-returns-value]
    return out, pipeline_tag, library


def index_keys(
    tags: list[str], card: dict[str, Any] | None, pipeline_tag: str | None, library: str | None
) -> set[str]:
    """Keys stored in the repo_tags index: every tag, plus `language:`, `license:`, `library:`, `pipeline_tag:`
    aliases so that both `filter=en` and `filter=language:en` (or `language=en`) match."""
    card = card or {}
    keys = set(tags)
    for lang in _as_list(card.get("language")):
        keys |= {lang, f"language:{lang}"}
    for lic in _as_list(card.get("license")):
        keys.add(f"license:{lic}")
    for t in _as_list(card.get("task_categories")):
        keys |= {t, f"task_categories:{t}"}
    if library:
        keys |= {library, f"library:{library}"}
    if pipeline_tag:
        keys |= {pipeline_tag, f"pipeline_tag:{pipeline_tag}"}
    relation = model_relation(card, library)  # the model tree: children found by `base_model:<relation>:<id>`
    keys |= {f"base_model:{relation}:{b}" for b in _as_list(card.get("base_model"))}
    keys |= {f"model:{m}" for m in _as_list(card.get("models"))}  # spaces using a model (the card's `models`)
    return {k[:200] for k in keys if k}


RELATIONS = ("finetune", "adapter", "quantized", "merge")


def model_relation(card: dict[str, Any] | None, library: str | None = None) -> str:
    """How a model relates to its `base_model`: the card's `base_model_relation`, else as the Hub infers it
    (several bases: merge; a PEFT library or tag: adapter; GGUF or a quantization tag: quantized; else finetune)."""
    card = card or {}
    given = card.get("base_model_relation")
    if isinstance(given, str) and given.lower() in RELATIONS:
        return given.lower()
    tags = {t.lower() for t in _as_list(card.get("tags"))}
    lib = str(library or card.get("library_name") or "").lower()
    if len(_as_list(card.get("base_model"))) > 1:
        return "merge"
    if lib == "peft" or "peft" in tags or "lora" in tags:
        return "adapter"
    if lib == "gguf" or tags & {"gguf", "gptq", "awq", "4-bit", "8-bit", "bitsandbytes", "exl2"}:
        return "quantized"
    return "finetune"
