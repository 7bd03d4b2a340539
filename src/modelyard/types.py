"""Frozen, validated value types. Imports nothing from modelyard."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,95}$")  # the Hub's rule: "_" may lead
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_SHA1_RE = re.compile(r"^[0-9a-f]{40}$")


class RepoType(StrEnum):
    MODEL = "model"
    DATASET = "dataset"
    SPACE = "space"

    @property
    def plural(self) -> str:
        return self.value + "s"

    @property
    def url_prefix(self) -> str:
        """Prefix of web/resolve URLs: '' for models, 'datasets/' for datasets, 'spaces/' for spaces."""
        return "" if self is RepoType.MODEL else self.plural + "/"

    @classmethod
    def parse(cls, value: str | None) -> RepoType:
        if value is None or value == "":
            return cls.MODEL
        v = value.lower().rstrip("s") if value.lower() in {"models", "datasets", "spaces"} else value.lower()
        try:
            return cls(v)
        except ValueError:
            raise ValueError(f"Invalid repo type {value!r}: expected model, dataset or space") from None


def valid_name(name: str) -> bool:
    """A namespace or repo name: 1-96 of [A-Za-z0-9._-], no '--' or '..', not starting or ending with '.' or '-', not
    ending in '.git' (huggingface_hub's validate_repo_id: leading and trailing underscores are fine)."""
    return (
        bool(_NAME_RE.match(name))
        and "--" not in name
        and ".." not in name
        and not name.endswith(".git")
        and not name.endswith(".")
        and not name.endswith("-")
    )


@dataclass(frozen=True)
class RepoId:
    namespace: str
    name: str

    def __post_init__(self) -> None:
        for part in (self.namespace, self.name):
            if not valid_name(part):
                raise ValueError(
                    f"Invalid repo id part {part!r}: use 1-96 of letters, digits, '.', '_' and '-', "
                    "no '--' or '..', not ending in '.git'"
                )

    @classmethod
    def parse(cls, value: str) -> RepoId:
        parts = value.split("/")
        if len(parts) != 2:
            raise ValueError(f"Invalid repo id {value!r}: expected 'namespace/name'")
        return cls(parts[0], parts[1])

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


def is_sha256(value: str) -> bool:
    return bool(_SHA256_RE.match(value))


def is_sha1(value: str) -> bool:
    return bool(_SHA1_RE.match(value))
