"""Parsing of the NDJSON commit payload into operations; file contents are stored (blob first) as they arrive."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

from modelyard import jsonlimits
from modelyard.errors import BadPayload, TooLarge
from modelyard.hub.gitobjects import blob_sha1
from modelyard.hub.paths import validate_path
from modelyard.storage import BlobStore, put_bytes
from modelyard.types import is_sha256


@dataclass(frozen=True)
class AddFile:
    path: str
    sha256: str
    size: int
    oid: str


@dataclass(frozen=True)
class AddLfs:
    path: str
    sha256: str
    size: int | None


@dataclass(frozen=True)
class Delete:
    path: str
    folder: bool


Operation = AddFile | AddLfs | Delete


@dataclass
class CommitRequest:
    summary: str = ""
    description: str = ""
    parent_commit: str | None = None
    operations: list[Operation] = field(default_factory=list)
    readme_text: str | None = None  # content of an added README.md, for card parsing
    seen_header: bool = False


@dataclass(frozen=True)
class CommitLimits:
    """Size limits of one NDJSON commit payload (the max_* settings); TooLarge (413) past each."""

    max_line: int = 32 * 1024**2
    max_depth: int = jsonlimits.DEFAULT_MAX_DEPTH
    max_operations: int = 100_000
    max_summary: int = 4096
    max_description: int = 256 * 1024

    def check_line(self, size: int, line_no: int) -> None:
        if size > self.max_line:
            raise TooLarge(f"Commit payload line {line_no} is longer than {self.max_line} bytes")


class CommitParser:
    """Feed NDJSON lines one at a time; regular file contents go to the blob store immediately.

    The header line comes first and once: a second header, or one after operations, is refused."""

    def __init__(self, store: BlobStore, limits: CommitLimits | None = None) -> None:
        self.store = store
        self.limits = limits or CommitLimits()
        self.req = CommitRequest()
        self._line_no = 0

    @property
    def line_no(self) -> int:
        return self._line_no

    def feed_line(self, raw: bytes) -> None:
        self._line_no += 1
        self.limits.check_line(len(raw), self._line_no)
        if not raw.strip():
            return
        obj = jsonlimits.loads(
            raw,
            max_bytes=self.limits.max_line,
            max_depth=self.limits.max_depth,
            what=f"Malformed NDJSON commit payload: line {self._line_no}",
        )
        if not isinstance(obj, dict) or "key" not in obj or not isinstance(obj.get("value"), dict):
            raise BadPayload(
                f'Malformed commit payload: line {self._line_no} needs {{"key": ..., "value": {{...}}}}'
            )
        key, value = obj["key"], obj["value"]
        handler = getattr(self, f"_on_{key}", None) if isinstance(key, str) else None
        if handler is None:
            raise BadPayload(f"Malformed commit payload: unknown key {key!r} on line {self._line_no}")
        if key != "header" and len(self.req.operations) >= self.limits.max_operations:
            raise TooLarge(f"Commit has more than {self.limits.max_operations} operations")
        handler(value)

    def _path(self, value: dict[str, Any]) -> str:
        path = value.get("path")
        if not isinstance(path, str):
            raise BadPayload(f"Malformed commit payload: line {self._line_no} has no 'path'")
        return validate_path(path)

    def _on_header(self, v: dict[str, Any]) -> None:
        if self.req.seen_header:
            raise BadPayload(f"Malformed commit payload: a second header on line {self._line_no}")
        if self.req.operations:
            raise BadPayload("Malformed commit payload: the header must be the first line")
        summary = v.get("summary")
        if not isinstance(summary, str) or not summary.strip():
            raise BadPayload("Malformed commit payload: the header needs a non-empty 'summary'")
        description = v.get("description") or ""
        if not isinstance(description, str):
            raise BadPayload("Malformed commit payload: the header's 'description' must be a string")
        if len(summary.encode()) > self.limits.max_summary:
            raise TooLarge(f"Commit summary is longer than {self.limits.max_summary} bytes")
        if len(description.encode()) > self.limits.max_description:
            raise TooLarge(f"Commit description is longer than {self.limits.max_description} bytes")
        self.req.summary = summary.strip().splitlines()[0]
        self.req.description = description
        parent = v.get("parentCommit")
        self.req.parent_commit = str(parent) if parent else None
        self.req.seen_header = True

    def _on_file(self, v: dict[str, Any]) -> None:
        path = self._path(v)
        content = v.get("content")
        encoding = v.get("encoding", "base64")
        if not isinstance(content, str):
            raise BadPayload(f"Malformed commit payload: file {path!r} has no 'content'")
        if encoding == "base64":
            try:
                data = base64.b64decode(content, validate=True)
            except (binascii.Error, ValueError):
                raise BadPayload(
                    f"Malformed commit payload: content of {path!r} is not valid base64"
                ) from None
        elif encoding in {"utf-8", "utf8"}:
            data = content.encode()
        else:
            raise BadPayload(f"Malformed commit payload: unknown encoding {encoding!r} for {path!r}")
        info = put_bytes(self.store, data)
        if path == "README.md":
            self.req.readme_text = data.decode("utf-8", errors="replace")
        self.req.operations.append(AddFile(path, info.sha256, info.size, blob_sha1(data)))

    def _on_lfsFile(self, v: dict[str, Any]) -> None:
        path = self._path(v)
        oid = v.get("oid")
        algo = v.get("algo", "sha256")
        if algo != "sha256" or not isinstance(oid, str) or not is_sha256(oid.lower()):
            raise BadPayload(f"Malformed commit payload: lfsFile {path!r} needs a sha256 'oid'")
        size = v.get("size")
        if size is not None and (not isinstance(size, int) or size < 0):
            raise BadPayload(f"Malformed commit payload: lfsFile {path!r} has an invalid 'size'")
        self.req.operations.append(AddLfs(path, oid.lower(), size))

    def _on_deletedFile(self, v: dict[str, Any]) -> None:
        self.req.operations.append(Delete(self._path(v), folder=False))

    def _on_deletedFolder(self, v: dict[str, Any]) -> None:
        raw = v.get("path")
        if isinstance(raw, str):
            v = {**v, "path": raw.rstrip("/")}
        self.req.operations.append(Delete(self._path(v), folder=True))

    def finish(self) -> CommitRequest:
        if not self.req.seen_header:
            raise BadPayload("Malformed commit payload: missing header line")
        return self.req
