"""README.md front matter: parsing, validation and derived tags."""

from __future__ import annotations

import re
from typing import Any

import yaml

from modelyard.errors import InvalidYaml

_FRONT = re.compile(r"\A\ufeff?---[ \t]*\r?\n(?:(.*?)\r?\n)?---[ \t]*(?:\r?\n|\Z)", re.S)


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
    except yaml.YAMLError as e:
        raise InvalidYaml(f"Invalid YAML in README.md metadata: {e}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidYaml("README.md metadata must be a YAML mapping")
    out: dict[str, Any] = _jsonable(data)
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
    if "model-index" in card and not isinstance(card["model-index"], list):
        errors.append('"model-index" must be an array')
    for key in ("tags", "datasets", "language"):
        v = card.get(key)
        if v is not None and not isinstance(v, str | list):
            errors.append(f'"{key}" must be a string or an array of strings')
    for key in ("pipeline_tag", "library_name", "base_model"):
        v = card.get(key)
        if v is not None and not isinstance(v, str | list):
            errors.append(f'"{key}" must be a string')
    if "license" in card and not isinstance(card["license"], str | list):
        errors.append('"license" must be a string')
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
    return {k[:200] for k in keys if k}
