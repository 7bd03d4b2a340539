"""S3-compatible object store backend (AWS S3, MinIO, Ceph RGW, Cloudflare R2...) through boto3.

URL ``s3://bucket/prefix``. Keys: ``<prefix>/blobs/ab/cd/<sha256>`` (content-addressed, the fan-out of fs.py) and
``<prefix>/tmp/<name>`` (uploads in flight, LFS multipart parts).

A writer hashes while streaming and holds at most one part in memory: a blob smaller than one part is PUT straight
to its final key at commit (its sha256 is known by then); a bigger one goes as a multipart upload to a temp key,
then a server-side copy to its final key (``copy_object`` up to 5 GiB, ``upload_part_copy`` above) and the temp
object is deleted. Nothing is published on a size or sha256 mismatch. Replicas share the bucket: there is no local
state, so any replica can read what another wrote.

Capabilities: `Sweepable` (gc: blobs, temp objects and multipart uploads), `TempObjects` (LFS multipart parts
shared by all replicas), `Presigning` (302 downloads). No `LocalPaths`, no `Capacity` (no space limit the hub
can see).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any, BinaryIO, TypeVar, cast
from urllib.parse import quote

from modelyard.errors import BadChecksum, BlobNotFound, ConfigError, TooLarge, Unavailable
from modelyard.storage import S3Options, SeekableReader
from modelyard.storage.hashing import BlobInfo, check_declared

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_TEMP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
_MISSING = frozenset({"404", "NoSuchKey", "NotFound", "NoSuchUpload"})
_T = TypeVar("_T")

#: Part size of multipart uploads (S3's minimum is 5 MiB, all parts but the last); grows for very large blobs so
#: that one upload stays under S3's 10,000 parts.
PART_SIZE = 8 * 1024 * 1024
MIN_PART = 5 * 1024 * 1024
MAX_PARTS = 10_000
#: Largest object `copy_object` copies; above it the copy goes in `upload_part_copy` ranges of this size.
COPY_LIMIT = 5 * 1024**3
COPY_PART = 1024**3
#: Largest piece `open_range` yields, and the buffer of `open`: a slow client's download holds about this much
#: (the response streams from the object store at the client's pace).
READ_CHUNK = 64 * 1024


def parse_url(url: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` -> (bucket, prefix without slashes at either end)."""
    if not url.startswith("s3://"):
        raise ConfigError(f"Not an S3 URL: {url!r}")
    rest = url[len("s3://") :]
    bucket, _, prefix = rest.partition("/")
    if not re.fullmatch(r"[a-z0-9][a-z0-9.\-_]{1,254}", bucket):
        raise ConfigError(f"Invalid S3 bucket name in blob_url {url!r}")
    prefix = prefix.strip("/")
    if any(seg in ("", ".", "..") for seg in prefix.split("/")) and prefix:
        raise ConfigError(f"Invalid S3 key prefix in blob_url {url!r}")
    return bucket, prefix


def _code(e: BaseException) -> str:
    resp = getattr(e, "response", None)
    if isinstance(resp, dict):
        err = resp.get("Error") or {}
        code = str(err.get("Code", ""))
        if code:
            return code
        status = (resp.get("ResponseMetadata") or {}).get("HTTPStatusCode")
        return str(status or "")
    return ""


def _is_missing(e: BaseException) -> bool:
    return _code(e) in _MISSING


def content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII fallback name and the RFC 5987 UTF-8 name."""
    base = filename.rsplit("/", 1)[-1] or "download"
    ascii_name = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in base)
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(base, safe='')}"


class S3BlobWriter:
    """One upload: hashes while streaming, one part in memory at most (see module docstring)."""

    def __init__(
        self,
        store: S3BlobStore,
        max_size: int | None,
        expected_size: int | None = None,
        temp_name: str | None = None,
    ) -> None:
        self._store = store
        self._max = max_size
        self._temp_name = temp_name  # a named temp object (TempObjects), not a blob
        self._tmp_key = store._temp_key(temp_name or f"up-{int(time.time())}-{uuid.uuid4().hex}")
        self._h = hashlib.sha256()
        self._buf = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._part_size = store.part_size
        if expected_size:  # keep a known size under S3's part count
            self._part_size = max(store.part_size, -(-expected_size // (MAX_PARTS - 10)))
        self.size = 0
        self._done = False

    def write(self, data: bytes | memoryview) -> None:
        if self._done:
            raise ValueError("write to a finished upload")
        n = len(data)
        if self._max is not None and self.size + n > self._max:
            self.abort()
            raise TooLarge(f"Upload exceeds the limit of {self._max} bytes")
        self.size += n
        self._h.update(data)
        self._buf += data
        while len(self._buf) >= self._part_size:
            self._send_part(self._part_size)

    def _send_part(self, n: int) -> None:
        s = self._store
        if self._upload_id is None:
            resp = s._call(s.client.create_multipart_upload, Bucket=s.bucket, Key=self._tmp_key)
            self._upload_id = str(resp["UploadId"])
        number = len(self._parts) + 1
        if n >= len(self._buf):
            body, self._buf = bytes(self._buf), bytearray()
        else:  # one copy of the part (a bytearray slice would make two)
            body = bytes(memoryview(self._buf)[:n])
            del self._buf[:n]
        try:
            resp = s._call(
                s.client.upload_part,
                Bucket=s.bucket,
                Key=self._tmp_key,
                UploadId=self._upload_id,
                PartNumber=number,
                Body=body,
            )
        except BaseException:
            self.abort()
            raise
        self._parts.append({"PartNumber": number, "ETag": resp["ETag"]})
        if number % 1000 == 0 and not self._temp_name:  # unknown total: larger parts as the upload grows
            self._part_size *= 2

    def commit(self, expected_sha256: str | None = None, expected_size: int | None = None) -> BlobInfo:
        if self._done:
            raise ValueError("commit of a finished upload")
        s = self._store
        digest = self._h.hexdigest()
        try:
            check_declared(digest, self.size, expected_sha256, expected_size)
            if self._temp_name is not None:
                self._publish_temp()
                return BlobInfo(digest, self.size)
            final = s._key(digest)
            if self._upload_id is None:  # one part or less: straight to the final key. Stored already: the
                # same bytes again (one request, like a HEAD), which also refreshes LastModified for a gc sweep
                s._call(s.client.put_object, Bucket=s.bucket, Key=final, Body=bytes(self._buf))
                self._buf = bytearray()
                self._done = True
                return BlobInfo(digest, self.size)
            self._complete()
            try:
                if s._head(final) is not None:
                    s._refresh(final)
                else:
                    s._copy(self._tmp_key, final, self.size)
            finally:
                with contextlib.suppress(Exception):
                    s._call(s.client.delete_object, Bucket=s.bucket, Key=self._tmp_key)
            self._done = True
            return BlobInfo(digest, self.size)
        except BaseException:
            self.abort()
            raise

    def _complete(self) -> None:
        s = self._store
        if self._buf or not self._parts:
            self._send_part(len(self._buf))
        s._call(
            s.client.complete_multipart_upload,
            Bucket=s.bucket,
            Key=self._tmp_key,
            UploadId=self._upload_id,
            MultipartUpload={"Parts": self._parts},
        )
        self._upload_id = None

    def _publish_temp(self) -> None:
        s = self._store
        if self._upload_id is None:
            s._call(s.client.put_object, Bucket=s.bucket, Key=self._tmp_key, Body=bytes(self._buf))
            self._buf = bytearray()
        else:
            self._complete()
        self._done = True

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        self._buf = bytearray()
        s = self._store
        if self._upload_id is not None:
            upload_id, self._upload_id = self._upload_id, None
            with contextlib.suppress(Exception):  # gone already (a sweep), or the store is down: gc retries
                s.client.abort_multipart_upload(Bucket=s.bucket, Key=self._tmp_key, UploadId=upload_id)


class S3Reader(SeekableReader):
    """A seekable raw stream over one object: sequential reads continue one ranged GET (``bytes=pos-``); a seek
    elsewhere starts a new one at the new offset."""

    def __init__(self, store: S3BlobStore, key: str, size: int) -> None:
        super().__init__(size)
        self._store = store
        self._key = key
        self._body: Any = None
        self._body_pos = 0

    def readinto(self, b: Any) -> int:
        view = memoryview(b).cast("B")
        want = min(len(view), self.size - self.pos)
        if want <= 0:
            return 0
        if self._body is None or self._body_pos != self.pos:
            self._drop()
            s = self._store
            try:
                resp = s._call(
                    s.client.get_object, Bucket=s.bucket, Key=self._key, Range=f"bytes={self.pos}-"
                )
            except BlobNotFound:
                raise OSError(f"object {self._key} vanished while being read") from None
            self._body, self._body_pos = resp["Body"], self.pos
        data = self._body.read(want)
        if not data:
            raise OSError(f"object {self._key} ended early at byte {self.pos}")
        n = len(data)
        view[:n] = data
        self.pos += n
        self._body_pos += n
        return n

    def _drop(self) -> None:
        body, self._body = self._body, None
        if body is not None:
            with contextlib.suppress(Exception):
                body.close()

    def close(self) -> None:
        self._drop()
        super().close()


class S3BlobStore:
    """Blobs in an S3 bucket under a key prefix (see module docstring)."""

    #: Bytes a writer holds before it sends a part (at least 5 MiB: S3's minimum part size).
    part_size = PART_SIZE
    #: Largest object copied by one `copy_object`, and the range of each `upload_part_copy` above it.
    copy_limit = COPY_LIMIT
    copy_part = COPY_PART

    def __init__(self, url: str, options: S3Options | None = None, client: Any = None) -> None:
        self.url = url
        self.bucket, self.prefix = parse_url(url)
        self.options = options or S3Options()
        self.client = client if client is not None else make_client(self.options)
        self._presigner: Any = None
        base = f"{self.prefix}/" if self.prefix else ""
        self._blob_root = f"{base}blobs/"
        self._tmp_root = f"{base}tmp/"

    # --- keys ---------------------------------------------------------------------------------------
    def _key(self, sha256: str) -> str:
        if not isinstance(sha256, str) or not _HEX64.match(sha256):
            raise BlobNotFound(f"Invalid blob key {sha256!r}")
        return f"{self._blob_root}{sha256[:2]}/{sha256[2:4]}/{sha256}"

    def _temp_key(self, name: str) -> str:
        if not isinstance(name, str) or not _TEMP_NAME.match(name) or ".." in name:
            raise ValueError(f"Invalid temp object name {name!r}")
        return self._tmp_root + name

    def _call(self, fn: Callable[..., _T], **kwargs: Any) -> _T:
        """Call boto3: a missing key is BlobNotFound, an unreachable store Unavailable (503)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(**kwargs)
        except ClientError as e:
            if _is_missing(e):
                raise BlobNotFound(f"Object {kwargs.get('Key', '')!r} not found") from None
            if _code(e) in ("NoSuchBucket", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
                raise Unavailable(f"The object store refused the request: {_code(e)}") from e
            raise
        except BotoCoreError as e:
            raise Unavailable(f"The object store is unreachable: {e}") from e

    def _pages(self, operation: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """The pages of a listing, with the errors of `_call`."""
        it = iter(self.client.get_paginator(operation).paginate(Bucket=self.bucket, **kwargs))
        while True:
            page = self._call(lambda: next(it, None))
            if page is None:
                return
            yield page

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            return cast(dict[str, Any], self._call(self.client.head_object, Bucket=self.bucket, Key=key))
        except BlobNotFound:
            return None

    def _refresh(self, key: str) -> None:
        """A fresh LastModified for a blob that an upload found already stored: a gc sweep running now must not
        take what this commit names (a copy onto itself with new metadata)."""
        head = self._head(key)
        if head is None:
            return
        size = int(head.get("ContentLength", 0))
        self._copy(key, key, size, metadata={"refreshed": str(int(time.time()))})

    def _copy(self, src: str, dst: str, size: int, metadata: dict[str, str] | None = None) -> None:
        """Server-side copy: `copy_object` up to 5 GiB, a multipart `upload_part_copy` above."""
        source = {"Bucket": self.bucket, "Key": src}
        if size <= self.copy_limit:
            kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": dst, "CopySource": source}
            if metadata is not None:
                kwargs.update(Metadata=metadata, MetadataDirective="REPLACE")
            self._call(self.client.copy_object, **kwargs)
            return
        extra: dict[str, Any] = {"Metadata": metadata} if metadata is not None else {}
        resp = self._call(self.client.create_multipart_upload, Bucket=self.bucket, Key=dst, **extra)
        upload_id = resp["UploadId"]
        parts: list[dict[str, Any]] = []
        try:
            for number, start in enumerate(range(0, size, self.copy_part), start=1):
                end = min(size, start + self.copy_part) - 1
                r = self._call(
                    self.client.upload_part_copy,
                    Bucket=self.bucket,
                    Key=dst,
                    UploadId=upload_id,
                    PartNumber=number,
                    CopySource=source,
                    CopySourceRange=f"bytes={start}-{end}",
                )
                parts.append({"PartNumber": number, "ETag": r["CopyPartResult"]["ETag"]})
            self._call(
                self.client.complete_multipart_upload,
                Bucket=self.bucket,
                Key=dst,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
        except BaseException:
            with contextlib.suppress(Exception):
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=dst, UploadId=upload_id)
            raise

    # --- BlobStore ----------------------------------------------------------------------------------
    def writer(self, max_size: int | None = None, expected_size: int | None = None) -> S3BlobWriter:
        return S3BlobWriter(self, max_size, expected_size)

    def open(self, sha256: str) -> BinaryIO:
        key = self._key(sha256)
        head = self._head(key)
        if head is None:
            raise BlobNotFound(f"Blob {sha256} not found")
        raw = S3Reader(self, key, int(head.get("ContentLength", 0)))
        return cast(BinaryIO, io.BufferedReader(raw, READ_CHUNK))

    def open_range(self, sha256: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        key = self._key(sha256)
        start = max(0, start)
        if end is not None and end <= start:
            if self._head(key) is None:
                raise BlobNotFound(f"Blob {sha256} not found")
            return iter(())
        rng = f"bytes={start}-" if end is None else f"bytes={start}-{end - 1}"
        try:
            resp = self._call(self.client.get_object, Bucket=self.bucket, Key=key, Range=rng)
        except BlobNotFound:
            raise BlobNotFound(f"Blob {sha256} not found") from None
        except Exception as e:
            if _code(e) != "InvalidRange":  # at or past the end (or an empty blob): nothing to read
                raise
            if self._head(key) is None:
                raise BlobNotFound(f"Blob {sha256} not found") from None
            return iter(())
        return _iter_body(resp["Body"])

    def exists(self, sha256: str) -> bool:
        try:
            return self._head(self._key(sha256)) is not None
        except BlobNotFound:
            return False

    def stat(self, sha256: str) -> int:
        head = self._head(self._key(sha256))
        if head is None:
            raise BlobNotFound(f"Blob {sha256} not found")
        return int(head.get("ContentLength", 0))

    def delete(self, sha256: str) -> None:
        key = self._key(sha256)
        if self._head(key) is None:
            raise BlobNotFound(f"Blob {sha256} not found")
        self._call(self.client.delete_object, Bucket=self.bucket, Key=key)

    # --- Sweepable ----------------------------------------------------------------------------------
    def iter_blobs(self) -> Iterator[tuple[str, float]]:
        """(sha256, LastModified) of every published blob."""
        for page in self._pages("list_objects_v2", Prefix=self._blob_root):
            for obj in page.get("Contents", []):
                rest = str(obj["Key"])[len(self._blob_root) :]
                parts = rest.split("/")
                if (
                    len(parts) == 3
                    and _HEX64.match(parts[2])
                    and parts[2][:2] == parts[0]
                    and parts[2][2:4] == parts[1]
                ):
                    yield parts[2], obj["LastModified"].timestamp()

    def iter_temp(self) -> Iterator[tuple[str, float]]:
        """Temp objects (LFS parts) and unfinished multipart uploads under ``<prefix>/tmp/``: (name, mtime)."""
        seen: dict[str, float] = {}
        for page in self._pages("list_objects_v2", Prefix=self._tmp_root):
            for obj in page.get("Contents", []):
                name = str(obj["Key"])[len(self._tmp_root) :]
                seen[name] = max(seen.get(name, 0.0), obj["LastModified"].timestamp())
        for name, initiated in self._uploads():
            seen[name] = max(seen.get(name, 0.0), initiated)
        yield from seen.items()

    def _uploads(self, key: str | None = None) -> Iterator[tuple[str, float]]:
        for page in self._pages("list_multipart_uploads", Prefix=key or self._tmp_root):
            for up in page.get("Uploads", []):
                if key is None or up["Key"] == key:
                    name = str(up["Key"])[len(self._tmp_root) :]
                    yield name, _started(name, up["Initiated"].timestamp())

    def delete_temp(self, name: str) -> None:
        """Remove a temp object and abort the multipart uploads to its key; gone already is fine."""
        key = self._temp_key(name)
        with contextlib.suppress(BlobNotFound):
            self._call(self.client.delete_object, Bucket=self.bucket, Key=key)
        for page in self._pages("list_multipart_uploads", Prefix=key):
            for up in page.get("Uploads", []):
                if up["Key"] == key:
                    with contextlib.suppress(BlobNotFound):
                        self._call(
                            self.client.abort_multipart_upload,
                            Bucket=self.bucket,
                            Key=key,
                            UploadId=up["UploadId"],
                        )

    # --- TempObjects: named temporary objects every replica sees (LFS multipart parts) -----------------
    def temp_writer(self, name: str, max_size: int | None = None) -> S3BlobWriter:
        """A writer whose commit stores the bytes under temp `name` (not a blob; `delete_temp` removes it)."""
        self._temp_key(name)
        return S3BlobWriter(self, max_size, None, temp_name=name)

    def open_temp(self, name: str) -> BinaryIO:
        key = self._temp_key(name)
        head = self._head(key)
        if head is None:
            raise BlobNotFound(f"Temporary object {name} not found")
        return cast(
            BinaryIO, io.BufferedReader(S3Reader(self, key, int(head.get("ContentLength", 0))), READ_CHUNK)
        )

    def concat_temp(
        self, names: list[str], expected_sha256: str | None = None, expected_size: int | None = None
    ) -> BlobInfo:
        """The temp objects `names` as one blob. The parts are read once through the hub to compute the sha256;
        when S3 can join them (every part but the last at least 5 MiB, none over 5 GiB) the blob is assembled
        server-side (`upload_part_copy`), otherwise the read also writes it through a writer."""
        keys = [self._temp_key(n) for n in names]
        sizes: list[int] = []
        for name, key in zip(names, keys, strict=True):
            head = self._head(key)
            if head is None:
                raise BlobNotFound(f"Temporary object {name} not found")
            sizes.append(int(head.get("ContentLength", 0)))
        total = sum(sizes)
        if expected_size is not None and total != expected_size:
            raise BadChecksum(f"Size mismatch: declared {expected_size} bytes, received {total}")
        joinable = (
            len(keys) > 1
            and all(n >= MIN_PART for n in sizes[:-1])
            and all(n <= COPY_LIMIT for n in sizes)
            and len(keys) <= MAX_PARTS
        )
        if not joinable:
            w = self.writer(max_size=total, expected_size=total)
            try:
                for key, size in zip(keys, sizes, strict=True):
                    with io.BufferedReader(S3Reader(self, key, size), READ_CHUNK) as f:
                        while chunk := f.read(8 * 1024 * 1024):
                            w.write(chunk)
                return w.commit(expected_sha256, expected_size)
            finally:
                w.abort()
        h = hashlib.sha256()
        for key, size in zip(keys, sizes, strict=True):
            with io.BufferedReader(S3Reader(self, key, size), READ_CHUNK) as f:
                while chunk := f.read(8 * 1024 * 1024):
                    h.update(chunk)
        digest = h.hexdigest()
        if expected_sha256 is not None and digest != expected_sha256.lower():
            raise BadChecksum(
                f"sha256 mismatch: declared {expected_sha256}, received content hashes to {digest}"
            )
        final = self._key(digest)
        if self._head(final) is not None:
            self._refresh(final)
            return BlobInfo(digest, total)
        resp = self._call(self.client.create_multipart_upload, Bucket=self.bucket, Key=final)
        upload_id = resp["UploadId"]
        parts: list[dict[str, Any]] = []
        try:
            for number, key in enumerate(keys, start=1):
                r = self._call(
                    self.client.upload_part_copy,
                    Bucket=self.bucket,
                    Key=final,
                    UploadId=upload_id,
                    PartNumber=number,
                    CopySource={"Bucket": self.bucket, "Key": key},
                )
                parts.append({"PartNumber": number, "ETag": r["CopyPartResult"]["ETag"]})
            self._call(
                self.client.complete_multipart_upload,
                Bucket=self.bucket,
                Key=final,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
        except BaseException:
            with contextlib.suppress(Exception):
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=final, UploadId=upload_id)
            raise
        return BlobInfo(digest, total)

    def temp_size(self, name: str) -> int | None:
        head = self._head(self._temp_key(name))
        return None if head is None else int(head.get("ContentLength", 0))

    # --- Presigning ---------------------------------------------------------------------------------
    def presigned_get(
        self, sha256: str, ttl: int, filename: str | None = None, content_type: str | None = None
    ) -> str:
        """A GET URL of this one blob, valid `ttl` seconds (Content-Disposition from `filename`)."""
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": self._key(sha256)}
        if filename:
            params["ResponseContentDisposition"] = content_disposition(filename)
        if content_type:
            params["ResponseContentType"] = content_type
        if self._presigner is None:  # signing is local: a client for the public endpoint makes no request
            public = self.options.public_endpoint_url
            self._presigner = (
                make_client(replace(self.options, endpoint_url=public)) if public else self.client
            )
        return str(
            self._presigner.generate_presigned_url(
                "get_object", Params=params, ExpiresIn=max(1, min(int(ttl), 604800))
            )
        )


_UP_NAME = re.compile(r"^up-(\d{9,12})-[0-9a-f]{32}$")


def _started(name: str, initiated: float) -> float:
    """When an upload started: the time in its own name (``up-<unix time>-<uuid>``, written by this module),
    else the store's Initiated date (which some S3 implementations report wrongly, moto among them)."""
    m = _UP_NAME.match(name)
    return float(m.group(1)) if m else initiated


def _iter_body(body: Any) -> Iterator[bytes]:
    try:
        for piece in body.iter_chunks(READ_CHUNK):
            if piece:
                yield piece
    finally:
        with contextlib.suppress(Exception):
            body.close()


def make_client(options: S3Options) -> Any:
    """A boto3 S3 client: SigV4, checksums only where required (MinIO, Ceph, R2 reject the new defaults), retries."""
    import boto3
    from botocore.config import Config

    style = options.addressing_style or "auto"
    if style not in ("auto", "path", "virtual"):
        raise ConfigError(f"s3_addressing_style must be auto, path or virtual, not {style!r}")
    config = Config(
        s3={"addressing_style": style},
        signature_version="s3v4",
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        retries={"max_attempts": 5, "mode": "standard"},
        max_pool_connections=32,
        connect_timeout=10,
        read_timeout=120,
    )
    kwargs: dict[str, Any] = {"config": config}
    if options.endpoint_url:
        kwargs["endpoint_url"] = options.endpoint_url
    if options.region:
        kwargs["region_name"] = options.region
    if options.access_key_id:
        kwargs["aws_access_key_id"] = options.access_key_id
    if options.secret_access_key:
        kwargs["aws_secret_access_key"] = str(options.secret_access_key)
    session = boto3.session.Session()
    if "region_name" not in kwargs and session.region_name is None:
        kwargs["region_name"] = "us-east-1"
    return session.client("s3", **kwargs)
