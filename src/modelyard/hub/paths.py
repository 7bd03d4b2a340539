"""Validation of paths inside a repo, and .gitattributes LFS pattern matching."""

from __future__ import annotations

import re
from functools import lru_cache

from modelyard.errors import InvalidPath

DEFAULT_LFS_PATTERNS = [
    "*.7z",
    "*.arrow",
    "*.bin",
    "*.bz2",
    "*.ckpt",
    "*.ftz",
    "*.gz",
    "*.h5",
    "*.joblib",
    "*.lfs.*",
    "*.mlmodel",
    "*.model",
    "*.msgpack",
    "*.npy",
    "*.npz",
    "*.onnx",
    "*.ot",
    "*.parquet",
    "*.pb",
    "*.pickle",
    "*.pkl",
    "*.pt",
    "*.pth",
    "*.rar",
    "*.safetensors",
    "saved_model/**/*",
    "*.tar.*",
    "*.tar",
    "*.tflite",
    "*.tgz",
    "*.wasm",
    "*.xz",
    "*.zip",
    "*.zst",
    "*tfevents*",
]
DATASET_EXTRA_PATTERNS = [
    "*.mds",
    "*.lz4",
    "*.mp3",
    "*.ogg",
    "*.wav",
    "*.jpg",
    "*.jpeg",
    "*.png",
    "*.webp",
    "*.mp4",
    "*.webm",
]


def default_gitattributes(repo_type: str) -> bytes:
    patterns = list(DEFAULT_LFS_PATTERNS)
    if repo_type == "dataset":
        patterns += DATASET_EXTRA_PATTERNS
    return "".join(f"{p} filter=lfs diff=lfs merge=lfs -text\n" for p in patterns).encode()


def validate_path(path: str) -> str:
    """Return a normalised repo path or raise InvalidPath (traversal, absolute, .git/, empty segments).

    A backslash is a literal character of a file name, as on the Hub (``a\\b.txt`` is one file at the root): only
    ``/`` separates. Code that maps a repo path to a local file must use `local_target` (snapshots)."""
    if not isinstance(path, str) or not path:
        raise InvalidPath("Invalid path: empty")
    if "\0" in path or any(ord(c) < 32 for c in path):
        raise InvalidPath(f"Invalid path {path!r}: control characters are not allowed")
    if path.startswith("/"):
        raise InvalidPath(f"Invalid path {path!r}: absolute paths are not allowed")
    p = path[2:] if path.startswith("./") else path
    parts = p.split("/")
    for part in parts:
        if part in {"", ".", ".."}:
            raise InvalidPath(f"Invalid path {path!r}: empty, '.' or '..' segments are not allowed")
        if part == ".git":
            raise InvalidPath(f"Invalid path {path!r}: '.git' is reserved")
    if len(p.encode()) > 1024:
        raise InvalidPath(f"Invalid path {path!r}: longer than 1024 bytes")
    return p


def local_target(root: str, path: str) -> str:
    """The local file for repo `path` under directory `root`: only ``/`` separates, and no segment may climb out.

    Repo paths come validated (`validate_path`), but a backslash is a literal character of a name, and a separator
    on some systems (``os.altsep``): refuse any segment that is empty, ``.``/``..`` or holds a local separator."""
    import os

    seps = {s for s in (os.sep, os.altsep) if s and s != "/"}
    parts = path.split("/")
    for part in parts:
        if part in {"", ".", ".."} or any(s in part for s in seps) or "\0" in part:
            raise InvalidPath(f"Invalid path {path!r}: cannot be written to a local directory")
    target = os.path.join(root, *parts)
    base = os.path.abspath(root)
    if os.path.commonpath([base, os.path.abspath(target)]) != base:
        raise InvalidPath(f"Invalid path {path!r}: outside the directory")
    return target


@lru_cache(maxsize=4096)
def _pattern_regex(pattern: str) -> re.Pattern[str]:
    anchored = "/" in pattern.rstrip("/")
    pat = pattern.lstrip("/")
    i, out = 0, []
    while i < len(pat):
        c = pat[i]
        if pat.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pat.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        else:
            out.append(re.escape(c))
        i += 1
    body = "".join(out)
    return re.compile(("^" if anchored else "^(?:.*/)?") + body + "$")


def lfs_patterns(gitattributes: str) -> list[str]:
    pats: list[str] = []
    for line in gitattributes.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        if len(fields) >= 2 and "filter=lfs" in fields[1:]:
            pats.append(fields[0])
        elif (len(fields) >= 2 and "-filter" in fields[1:]) or "!filter" in fields[1:]:
            pats = [p for p in pats if p != fields[0]]
    return pats


def matches_lfs(path: str, patterns: list[str]) -> bool:
    return any(_pattern_regex(p).match(path) for p in patterns)


def gitignore_rules(text: str) -> list[tuple[str, bool, bool]]:
    """``(pattern, negated, directory_only)`` of each rule of a .gitignore (blank lines and comments dropped)."""
    rules: list[tuple[str, bool, bool]] = []
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line or line.startswith("#"):
            continue
        neg = line.startswith("!")
        if neg or line.startswith("\\"):
            line = line[1:]
        dir_only = line.endswith("/")
        line = line.rstrip("/")
        if line:
            rules.append((line, neg, dir_only))
    return rules


def gitignored(path: str, rules: list[tuple[str, bool, bool]]) -> bool:
    """Whether git would ignore `path` under these rules: the last matching rule wins, and a rule that matches a
    parent directory ignores everything below it (git cannot re-include a file of an ignored directory)."""
    parts = path.split("/")
    for i in range(1, len(parts) + 1):
        sub, is_dir = "/".join(parts[:i]), i < len(parts)
        ignored = False
        for pattern, neg, dir_only in rules:
            if dir_only and not is_dir:
                continue
            if _pattern_regex(pattern).match(sub):
                ignored = not neg
        if ignored:
            return True
    return False
