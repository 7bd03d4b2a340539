"""Read-only views of repo content for the web UI: text previews, dataset splits and rows, commit diffs.

Works on manifests (`FileEntry`) and `Content` (whole blobs or Xet chunks alike); no SQL. Dataset rows are read with pyarrow (CSV/TSV,
Parquet) or line by line (JSONL), one page at a time, never the whole file for CSV/JSONL pages near the start.
"""

from __future__ import annotations

import difflib
import io
import json
import re
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from modelyard.errors import HubError
from modelyard.hub.content import Content
from modelyard.hub.revisions import FileEntry

TEXT_PREVIEW = 512 * 1024
DIFF_MAX = 256 * 1024
COUNT_ROWS_UNDER = 32 * 1024 * 1024  # files this small are read to the end to show the row count
DATA_EXTS = (".csv", ".tsv", ".jsonl", ".ndjson", ".json", ".parquet")
_SPLIT_RE = re.compile(r"(?:^|[/_.-])(train|test|validation|valid|val|dev|eval)(?:[/_.-]|$)", re.I)
_SPLIT_ALIASES = {"valid": "validation", "val": "validation", "dev": "validation", "eval": "test"}


@dataclass(frozen=True)
class TextPreview:
    text: str | None  # None for binary content
    truncated: bool


@dataclass
class Split:
    name: str
    files: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RowsPage:
    path: str
    columns: list[str]
    rows: list[list[Any]]
    offset: int
    has_more: bool
    total: int | None  # None when unknown without reading the whole file


@dataclass(frozen=True)
class FileChange:
    path: str
    status: str  # "added" | "removed" | "modified"
    old_size: int | None
    new_size: int | None
    lfs: bool
    additions: int = 0
    deletions: int = 0
    diff: str | None = None
    old_sha256: str | None = None  # content hashes, shown for LFS/Xet files (whose bytes get no line diff)
    new_sha256: str | None = None

    @property
    def lines(self) -> list[DiffLine]:
        """The unified diff as numbered lines (old/new line numbers), for the web's `diff` macro."""
        return diff_lines(self.diff or "")


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "hunk" | "add" | "del" | "ctx"
    old: int | None  # line number in the old file (None for additions and hunk headers)
    new: int | None  # line number in the new file (None for deletions and hunk headers)
    text: str


_HUNK_RE = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@")


def diff_lines(text: str) -> list[DiffLine]:
    """Parse a unified diff (without its ---/+++ header lines) into numbered lines."""
    out: list[DiffLine] = []
    old = new = 0
    for ln in text.splitlines():
        if ln.startswith(("--- ", "+++ ")) and not out:
            continue
        m = _HUNK_RE.match(ln)
        if m:
            old, new = int(m.group(1)), int(m.group(2))
            out.append(DiffLine("hunk", None, None, ln))
        elif ln.startswith("+"):
            out.append(DiffLine("add", None, new, ln[1:]))
            new += 1
        elif ln.startswith("-"):
            out.append(DiffLine("del", old, None, ln[1:]))
            old += 1
        elif ln.startswith("\\"):  # "\ No newline at end of file"
            continue
        else:
            out.append(DiffLine("ctx", old, new, ln[1:]))
            old += 1
            new += 1
    return out


def is_binary(sample: bytes) -> bool:
    if b"\0" in sample[:8192]:
        return True
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as e:
        return e.start < len(sample) - 4
    return False


def preview(content: Content, entry: FileEntry, limit: int = TEXT_PREVIEW) -> TextPreview:
    with content.open(entry.sha256) as f:
        data = f.read(limit)
    if is_binary(data):
        return TextPreview(None, False)
    return TextPreview(data.decode("utf-8", errors="replace"), entry.size > limit)


PRETTY_JSON_MAX = 4 * 1024 * 1024  # minified JSON files up to this size are pretty-printed for the viewer


def pretty_json(content: Content, entry: FileEntry, sample: str) -> str | None:
    """A minified JSON file (its first line longer than 1000 characters, in `sample`: the start of the file)
    pretty-printed with 2-space indents; None when it is not minified JSON or too big to parse for a page."""
    first = sample.split("\n", 1)[0]
    if entry.size > PRETTY_JSON_MAX or len(first) < 1000 or not entry.path.lower().endswith(".json"):
        return None
    try:
        data = json.loads(read_text(content, entry, PRETTY_JSON_MAX))
    except ValueError:
        return None
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def read_text(content: Content, entry: FileEntry, limit: int = TEXT_PREVIEW) -> str:
    with content.open(entry.sha256) as f:
        return f.read(limit).decode("utf-8", errors="replace")


# --- datasets -------------------------------------------------------------------------------------------
def data_files(files: dict[str, FileEntry]) -> list[str]:
    return sorted(
        p for p in files if p.lower().endswith(DATA_EXTS) and not p.rsplit("/", 1)[-1].startswith(".")
    )


def splits(files: dict[str, FileEntry], card: dict[str, Any] | None = None) -> list[Split]:
    """Splits from the card's `configs[0].data_files` when given, else from file names (train/test/...)."""
    paths = data_files(files)
    configured = _configured_splits(card, set(paths))
    if configured:
        return configured
    by_name: dict[str, Split] = {}
    for p in paths:
        m = _SPLIT_RE.search(p.rsplit("/", 1)[-1]) or _SPLIT_RE.search(p)
        name = m.group(1).lower() if m else "train"
        name = _SPLIT_ALIASES.get(name, name)
        by_name.setdefault(name, Split(name)).files.append(p)
    order = {"train": 0, "validation": 1, "test": 2}
    return sorted(by_name.values(), key=lambda s: (order.get(s.name, 9), s.name))


def _configured_splits(card: dict[str, Any] | None, paths: set[str]) -> list[Split]:
    configs = (card or {}).get("configs")
    if not isinstance(configs, list) or not configs or not isinstance(configs[0], dict):
        return []
    df = configs[0].get("data_files")
    items: list[tuple[str, Any]] = []
    if isinstance(df, str | list) and not (isinstance(df, list) and df and isinstance(df[0], dict)):
        items = [("train", df)]
    elif isinstance(df, list):
        items = [(str(d.get("split", "train")), d.get("path")) for d in df if isinstance(d, dict)]
    elif isinstance(df, dict):
        items = [(str(k), v) for k, v in df.items()]
    out: list[Split] = []
    import fnmatch

    for name, pats in items:
        pats_l = [pats] if isinstance(pats, str) else [p for p in (pats or []) if isinstance(p, str)]
        matched = sorted({p for p in paths for pat in pats_l if p == pat or fnmatch.fnmatch(p, pat)})
        if matched:
            out.append(Split(name, matched))
    return out


def rows(content: Content, entry: FileEntry, offset: int = 0, length: int = 100) -> RowsPage:
    """Rows [offset, offset+length) of a CSV/TSV/JSONL/JSON/Parquet file."""
    lower = entry.path.lower()
    if lower.endswith(".parquet"):
        return _parquet_rows(content, entry, offset, length)
    if lower.endswith((".csv", ".tsv")):
        return _csv_rows(content, entry, offset, length, "\t" if lower.endswith(".tsv") else ",")
    return _json_rows(content, entry, offset, length)


def _pa_file(content: Content, entry: FileEntry) -> Any:
    import pyarrow as pa

    local = content.local_path(entry.sha256)
    return pa.memory_map(local) if local else pa.PythonFile(content.open(entry.sha256), mode="r")


def _parquet_rows(content: Content, entry: FileEntry, offset: int, length: int) -> RowsPage:
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(_pa_file(content, entry))
    total = pf.metadata.num_rows
    cols = pf.schema_arrow.names
    out: list[list[Any]] = []
    start = 0
    for i in range(pf.num_row_groups):
        n = pf.metadata.row_group(i).num_rows
        if start + n > offset and len(out) < length:
            tbl = pf.read_row_group(i)
            lo = max(0, offset - start)
            part = tbl.slice(lo, length - len(out))
            out += _table_rows(part)
        start += n
        if len(out) >= length:
            break
    return RowsPage(entry.path, cols, out, offset, offset + len(out) < total, total)


def _table_rows(tbl: Any) -> list[list[Any]]:
    cols = [c.to_pylist() for c in tbl.columns]
    return [list(r) for r in zip(*cols, strict=True)] if cols else []


def _csv_rows(content: Content, entry: FileEntry, offset: int, length: int, delimiter: str) -> RowsPage:
    import pyarrow.csv as pcsv

    reader = pcsv.open_csv(_pa_file(content, entry), parse_options=pcsv.ParseOptions(delimiter=delimiter))
    cols = reader.schema.names
    out: list[list[Any]] = []
    seen = 0
    exhausted = True
    for batch in reader:
        n = batch.num_rows
        if seen + n > offset and len(out) < length:
            lo = max(0, offset - seen)
            out += _table_rows(batch.slice(lo, length - len(out)))
        seen += n
        if len(out) >= length and seen > offset + len(out) and entry.size > COUNT_ROWS_UNDER:
            exhausted = False
            break
    return RowsPage(
        entry.path, cols, out, offset, offset + len(out) < seen or not exhausted, seen if exhausted else None
    )


def _json_rows(content: Content, entry: FileEntry, offset: int, length: int) -> RowsPage:
    records: list[Any] = []
    has_more = False
    total: int | None = None
    with content.open(entry.sha256) as raw:
        head = raw.read(1)
        raw_rest = raw.read() if head == b"[" and entry.size <= 64 * 1024 * 1024 else None
        if raw_rest is not None:  # a JSON array of objects
            data = json.loads(head + raw_rest)
            records = data[offset : offset + length] if isinstance(data, list) else [data]
            total = len(data) if isinstance(data, list) else 1
            has_more = total > offset + len(records)
        else:
            text = io.TextIOWrapper(
                io.BufferedReader(_Prefixed(head, raw)), encoding="utf-8", errors="replace"
            )
            i = 0
            for line in text:
                if not line.strip():
                    continue
                if i >= offset + length:
                    has_more = True
                    if entry.size > COUNT_ROWS_UNDER:
                        break
                    i += 1
                    continue
                if i >= offset:
                    records.append(json.loads(line))
                i += 1
            if not has_more or entry.size <= COUNT_ROWS_UNDER:
                total = i
    cols: list[str] = []
    for r in records:
        for k in r if isinstance(r, dict) else ["value"]:
            if k not in cols:
                cols.append(k)
    table = [[r.get(c) for c in cols] if isinstance(r, dict) else [r] for r in records]
    return RowsPage(entry.path, cols, table, offset, has_more, total)


class _Prefixed(io.RawIOBase):
    """A raw stream that yields `head` then the rest of `f`."""

    def __init__(self, head: bytes, f: BinaryIO) -> None:
        self.head, self.f = head, f

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        if self.head:
            n = min(len(b), len(self.head))
            b[:n] = self.head[:n]
            self.head = self.head[n:]
            return n
        data = self.f.read(len(b))
        b[: len(data)] = data
        return len(data)


# --- diffs ----------------------------------------------------------------------------------------------
def diff(content: Content, old: dict[str, FileEntry], new: dict[str, FileEntry]) -> list[FileChange]:
    """Files added, removed or modified between two manifests, with a unified diff for small text files."""
    out: list[FileChange] = []
    for path in sorted(set(old) | set(new)):
        a, b = old.get(path), new.get(path)
        if a is not None and b is not None and a.oid == b.oid:
            continue
        status = "added" if a is None else "removed" if b is None else "modified"
        lfs = bool((a and a.lfs) or (b and b.lfs))
        old_sha, new_sha = (a.sha256 if a else None), (b.sha256 if b else None)
        change = FileChange(
            path,
            status,
            a.size if a else None,
            b.size if b else None,
            lfs,
            old_sha256=old_sha,
            new_sha256=new_sha,
        )
        text = _text_diff(content, a, b, path)  # LFS and Xet files too, when small and text
        if text is not None:
            adds = sum(1 for ln in text.splitlines() if ln.startswith("+") and not ln.startswith("+++"))
            dels = sum(1 for ln in text.splitlines() if ln.startswith("-") and not ln.startswith("---"))
            change = FileChange(
                path, status, change.old_size, change.new_size, lfs, adds, dels, text, old_sha, new_sha
            )
        out.append(change)
    return out


def _text_diff(content: Content, a: FileEntry | None, b: FileEntry | None, path: str) -> str | None:
    texts: list[list[str]] = []
    for e in (a, b):
        if e is None:
            texts.append([])
            continue
        if e.size > DIFF_MAX:
            return None
        try:
            data = content.read(e.sha256, 0, DIFF_MAX)
        except (
            OSError,
            HubError,
        ):  # bytes missing from storage: no line diff for this file, the rest still shows
            return None
        if is_binary(data):
            return None
        texts.append(data.decode("utf-8", errors="replace").splitlines(keepends=True))
    lines = difflib.unified_diff(texts[0], texts[1], f"a/{path}", f"b/{path}", n=3)
    return "".join(ln if ln.endswith("\n") else ln + "\n" for ln in lines)
