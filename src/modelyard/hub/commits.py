"""Parsing of the NDJSON commit payload into operations; file contents are stored (blob first) as they arrive."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

from modelyard.errors import BadPayload
from modelyard.hub.gitobjects import blob_sha1
from modelyard.hub.paths import validate_path
from modelyard.storage import BlobStore
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


class CommitParser:
    """Feed NDJSON lines one at a time; regular file contents go to the blob store immediately."""

    def __init__(self, store: BlobStore) -> None:
        self.store = store
        self.req = CommitRequest()
        self._line_no = 0

    def feed_line(self, raw: bytes) -> None:
        self._line_no += 1
        if not raw.strip():
            return
        try:
            obj = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise BadPayload(
                f"Malformed NDJSON commit payload: line {self._line_no} is not valid JSON ({e.msg if hasattr(e, 'msg') else e})"
            ) from None
        if not isinstance(obj, dict) or "key" not in obj or not isinstance(obj.get("value"), dict):
            raise BadPayload(
                f'Malformed commit payload: line {self._line_no} needs {{"key": ..., "value": {{...}}}}'
            )
        key, value = obj["key"], obj["value"]
        handler = getattr(self, f"_on_{key}", None)
        if handler is None:
            raise BadPayload(f"Malformed commit payload: unknown key {key!r} on line {self._line_no}")
        handler(value)

    def _path(self, value: dict[str, Any]) -> str:
        path = value.get("path")
        if not isinstance(path, str):
            raise BadPayload(f"Malformed commit payload: line {self._line_no} has no 'path'")
        return validate_path(path)

    def _on_header(self, v: dict[str, Any]) -> None:
        summary = v.get("summary")
        if not isinstance(summary, str) or not summary.strip():
            raise BadPayload("Malformed commit payload: the header needs a non-empty 'summary'")
        self.req.summary = summary.strip().splitlines()[0]
        self.req.description = str(v.get("description") or "")
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
        info = self.store.put_bytes(data)
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
