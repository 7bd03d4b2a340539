"""Git LFS batch API: signed upload URLs, streamed PUT with one-pass sha256, multipart parts, verify."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import hmac
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from modelyard.errors import BadChecksum, BadPayload, BadRequest, Forbidden, InsufficientStorage, TooLarge
from modelyard.hub.accounts import Principal
from modelyard.hub.files import Files
from modelyard.hub.repos import Repo
from modelyard.storage import BlobWriter, Sweepable, TempObjects, check_space, count_refused
from modelyard.storage.ingest import pipe_to_writer, trim_heap
from modelyard.types import is_sha256

URL_TTL = 24 * 3600
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


def upload_ref(body: dict[str, Any]) -> tuple[str | None, bool]:
    """``(rev, create_pr)`` of an LFS upload batch: no ``ref`` means an upload for a new pull request."""
    if "ref" not in body or body["ref"] is None:
        return None, True
    ref = body["ref"]
    name = ref.get("name") if isinstance(ref, dict) else None
    if not isinstance(name, str) or not name:
        raise BadPayload("LFS batch 'ref' must be an object with a 'name'")
    return name, False


async def discard(chunks: AsyncIterator[bytes], limit: int) -> None:
    """Read and drop the rest of a refused upload body (at most `limit` bytes), so that the client, still sending,
    reads the error answer instead of a reset connection."""
    n = 0
    async for chunk in chunks:
        n += len(chunk)
        if n > limit:
            return


@dataclass(frozen=True)
class UploadTicket:
    repo_id: int
    oid: str
    size: int
    exp: int


class Lfs:
    def __init__(
        self, files: Files, secret: str, multipart_threshold: int, chunk_size: int, max_size: int
    ) -> None:
        self.files = files
        self.store = files.store
        self._secret = secret.encode()
        self.multipart_threshold = multipart_threshold
        self.chunk_size = chunk_size
        self.max_size = max_size
        self.tmp = Path(getattr(self.store, "tmp_dir", "/tmp"))

    # --- signing ------------------------------------------------------------------------------------
    def _sig(self, *parts: object) -> str:
        msg = "\n".join(str(p) for p in parts).encode()
        return hmac.new(self._secret, msg, hashlib.sha256).hexdigest()

    def ticket_query(self, repo_id: int, oid: str, size: int) -> str:
        exp = int(time.time()) + URL_TTL
        return f"repo={repo_id}&size={size}&exp={exp}&sig={self._sig('up', repo_id, oid, size, exp)}"

    def check_ticket(self, oid: str, q: dict[str, str]) -> UploadTicket:
        try:
            repo_id, size, exp = int(q["repo"]), int(q["size"]), int(q["exp"])
            sig = q["sig"]
        except (KeyError, ValueError):
            raise Forbidden("Invalid or missing upload signature") from None
        if not hmac.compare_digest(sig, self._sig("up", repo_id, oid, size, exp)) or exp < time.time():
            raise Forbidden("Invalid or expired upload signature")
        return UploadTicket(repo_id, oid, size, exp)

    # --- batch --------------------------------------------------------------------------------------
    def batch(
        self,
        who: Principal | None,
        repo: Repo,
        body: dict[str, Any],
        base_url: str,
        auth_header: str | None,
    ) -> dict[str, Any]:
        """Answer an LFS batch request for `repo`, which the caller may already read (else it is a 404).

        Uploads need the push right (`Repos.check_push`): a body without ``ref`` is an upload for a new pull
        request (huggingface_hub sends no ref with ``create_pr``), ``refs/pr/N`` one for an existing PR.
        "Already present" (no actions) is answered only for objects this repo holds.

        Objects of at least `multipart_threshold` bytes get the Hub's multipart ``header`` (``chunk_size`` and
        one URL per part) unless the client lists ``transfers`` without ``"multipart"`` (git-lfs sends
        ``["basic", ...]``: it would send those as HTTP headers and PUT the whole object): then a plain basic
        upload, a PUT of the whole object to the signed URL.
        """
        op = body.get("operation")
        objects = body.get("objects")
        if op not in {"upload", "download"} or not isinstance(objects, list):
            raise BadPayload("LFS batch needs 'operation' (upload|download) and 'objects'")
        transfers = body.get("transfers")
        multipart = not isinstance(transfers, list) or "multipart" in transfers
        if op == "upload":
            rev, create_pr = upload_ref(body)
            self.files.repos.check_push(who, repo, rev, create_pr)
        out: list[dict[str, Any]] = []
        for obj in objects:
            oid = str(obj.get("oid", "")).lower() if isinstance(obj, dict) else ""
            size = obj.get("size") if isinstance(obj, dict) else None
            if not is_sha256(oid) or not isinstance(size, int) or size < 0:
                out.append(
                    {"oid": oid, "size": size or 0, "error": {"code": 422, "message": "Invalid oid or size"}}
                )
                continue
            if op == "download":
                known = self.files.lfs_known(repo, oid)
                if known is None or not self.files.content_available(oid):
                    out.append(
                        {"oid": oid, "size": size, "error": {"code": 404, "message": "Object does not exist"}}
                    )
                else:
                    action: dict[str, Any] = {
                        "href": f"{base_url}/lfs-objects/{repo.type.value}/{quote(repo.id_str)}/{oid}"
                    }
                    if auth_header:
                        action["header"] = {"Authorization": auth_header}
                    out.append(
                        {"oid": oid, "size": known, "authenticated": True, "actions": {"download": action}}
                    )
                continue
            if size > self.max_size:
                out.append(
                    {
                        "oid": oid,
                        "size": size,
                        "error": {"code": 413, "message": f"Object larger than {self.max_size} bytes"},
                    }
                )
                continue
            known = self.files.lfs_known(repo, oid)
            if known is not None and known == size and self.files.content_available(oid):
                out.append({"oid": oid, "size": size})  # this repo holds it: no actions
                continue
            q = self.ticket_query(repo.id, oid, size)
            href = f"{base_url}/lfs-upload/{oid}?{q}"
            upload: dict[str, Any] = {"href": href}
            if multipart and size >= self.multipart_threshold and size > 0:
                nparts = -(-size // self.chunk_size)
                header: dict[str, str] = {"chunk_size": str(self.chunk_size)}
                for i in range(1, nparts + 1):
                    header[str(i)] = f"{base_url}/lfs-upload/{oid}/part/{i}?{q}"
                upload["header"] = header
            verify = {"href": f"{base_url}/lfs-verify/{repo.type.value}/{quote(repo.id_str)}"}
            if auth_header:
                verify["header"] = {"Authorization": auth_header}  # type: ignore[assignment]
            out.append(
                {
                    "oid": oid,
                    "size": size,
                    "authenticated": True,
                    "actions": {"upload": upload, "verify": verify},
                }
            )
        return {"transfer": "basic", "objects": out, "hash_algo": "sha256"}

    # --- receiving bytes ----------------------------------------------------------------------------
    async def receive(self, ticket: UploadTicket, chunks: AsyncIterator[bytes]) -> None:
        """Stream a basic PUT to a temp file, hashing in the same pass; publish only if sha256 and size match.

        No room (free space under the reserve, or the disk fills up): 507, nothing of the upload kept."""
        try:
            writer = self.store.writer(max_size=ticket.size, expected_size=ticket.size)
        except InsufficientStorage:
            await discard(chunks, ticket.size)
            raise
        try:
            await pipe_to_writer(chunks, writer)
        except TooLarge:
            raise BadChecksum(f"Received more than the declared {ticket.size} bytes") from None
        except InsufficientStorage:
            writer.abort()
            await discard(chunks, ticket.size)
            raise
        except BaseException:
            writer.abort()
            raise
        # the final flush and fsync wait for the disk: not on the event loop
        try:
            await asyncio.to_thread(writer.commit, expected_sha256=ticket.oid, expected_size=ticket.size)
        finally:
            trim_heap()  # the upload's batches go back to the system, not into the process's high-water mark
        self.files.record_lfs(ticket.repo_id, ticket.oid, ticket.size)

    def _no_room(self, detail: str) -> InsufficientStorage:
        count_refused(self.store, "full")
        return InsufficientStorage(
            f"Insufficient storage on the server: {detail}; the upload was discarded. Try again later."
        )

    def _mp_path(self, ticket: UploadTicket) -> Path:
        return self.tmp / f"mp-{ticket.repo_id}-{ticket.oid}-{ticket.size}"

    async def receive_part(self, ticket: UploadTicket, part: int, chunks: AsyncIterator[bytes]) -> str:
        nparts = -(-ticket.size // self.chunk_size)
        if part < 1 or part > nparts:
            raise BadRequest(f"Invalid part number {part}")
        offset = (part - 1) * self.chunk_size
        expected = min(self.chunk_size, ticket.size - offset)
        if isinstance(self.store, TempObjects):  # issue 17: parts in the object store, seen by every replica
            return await self._receive_shared_part(self.store, ticket, part, expected, chunks)
        path = self._mp_path(ticket)
        try:
            check_space(self.store, expected)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        except InsufficientStorage:
            await discard(chunks, expected)
            raise
        except OSError as e:
            if e.errno not in _NO_SPACE:
                raise
            await discard(chunks, expected)
            raise self._no_room(f"no room for part {part}") from None
        sink = _PartFile(fd, offset, expected, part)
        try:
            await pipe_to_writer(chunks, sink)  # writes and hashes off the event loop
        except OSError as e:
            if e.errno not in _NO_SPACE:
                raise
            # the object's parts go: the client gives up the whole upload on a 507
            path.unlink(missing_ok=True)
            await discard(chunks, expected)
            raise self._no_room(f"the disk filled up in part {part}") from None
        finally:
            os.close(fd)
        if sink.n != expected:
            raise BadChecksum(f"Part {part}: expected {expected} bytes, received {sink.n}")
        return f'"{sink.md5.hexdigest()}"'

    # --- issue 17: multipart parts as temp objects of the store (S3), so that a part PUT to one replica and the
    # completion on another work. The completion reads the parts back through the hub (a second read and write
    # of the object: the sha256 of the whole must be computed; a server-side concatenation is future work).
    def _part_name(self, ticket: UploadTicket, part: int) -> str:
        return f"mp-{ticket.repo_id}-{ticket.oid}-{ticket.size}-{part:05d}"

    async def _receive_shared_part(
        self, store: TempObjects, ticket: UploadTicket, part: int, expected: int, chunks: AsyncIterator[bytes]
    ) -> str:
        writer = store.temp_writer(self._part_name(ticket, part), max_size=expected)
        sink = _Md5Sink(writer)
        try:
            await pipe_to_writer(chunks, sink)
        except TooLarge:
            writer.abort()
            raise BadChecksum(f"Part {part} is larger than {expected} bytes") from None
        except BaseException:
            writer.abort()
            raise
        if writer.size != expected:
            writer.abort()
            raise BadChecksum(f"Part {part}: expected {expected} bytes, received {writer.size}")
        try:
            await asyncio.to_thread(writer.commit)
        finally:
            trim_heap()
        return f'"{sink.md5.hexdigest()}"'

    def _complete_shared(self, store: TempObjects, ticket: UploadTicket, nparts: int) -> None:
        names = [self._part_name(ticket, i) for i in range(1, nparts + 1)]
        for i, name in enumerate(names, start=1):
            want = min(self.chunk_size, ticket.size - (i - 1) * self.chunk_size)
            if store.temp_size(name) != want:
                raise BadRequest(f"Part {i} of this object was not uploaded")
        try:
            store.concat_temp(names, expected_sha256=ticket.oid, expected_size=ticket.size)
        finally:
            if isinstance(store, Sweepable):
                for name in names:
                    store.delete_temp(name)
        self.files.record_lfs(ticket.repo_id, ticket.oid, ticket.size)

    def complete_multipart(self, ticket: UploadTicket, body: dict[str, Any]) -> None:
        parts = body.get("parts")
        nparts = -(-ticket.size // self.chunk_size)
        if not isinstance(parts, list) or len(parts) != nparts:
            raise BadPayload(f"Multipart completion needs {nparts} parts")
        if isinstance(self.store, TempObjects):  # issue 17
            self._complete_shared(self.store, ticket, nparts)
            return
        path = self._mp_path(ticket)
        if not path.exists():
            raise BadRequest("No parts were uploaded for this object")
        try:
            writer = self.store.writer(max_size=ticket.size, expected_size=ticket.size)
        except InsufficientStorage:
            path.unlink(missing_ok=True)
            raise
        try:
            with open(path, "rb") as f:
                while chunk := f.read(8 * 1024 * 1024):
                    writer.write(chunk)
            writer.commit(expected_sha256=ticket.oid, expected_size=ticket.size)
        except TooLarge:
            raise BadChecksum("Assembled object is larger than declared") from None
        finally:
            writer.abort()
            path.unlink(missing_ok=True)
        self.files.record_lfs(ticket.repo_id, ticket.oid, ticket.size)


class _Md5Sink:
    """Feeds a part's bytes to its writer and to the MD5 the client expects as the part's ETag (issue 17)."""

    def __init__(self, writer: BlobWriter) -> None:
        self.writer = writer
        self.md5 = hashlib.md5(usedforsecurity=False)

    def write(self, data: bytes) -> None:
        self.writer.write(data)
        self.md5.update(data)


class _PartFile:
    """Writes a multipart part at its offset in the object's file, with the MD5 the client expects as its ETag."""

    def __init__(self, fd: int, offset: int, expected: int, part: int) -> None:
        self.fd, self.offset, self.expected, self.part = fd, offset, expected, part
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.n = 0

    def write(self, data: bytes) -> None:
        if self.n + len(data) > self.expected:
            raise BadChecksum(f"Part {self.part} is larger than {self.expected} bytes")
        os.pwrite(self.fd, data, self.offset + self.n)
        self.md5.update(data)
        self.n += len(data)
