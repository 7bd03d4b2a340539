"""XetService: the CAS domain service the hub and the CAS HTTP app share.

Blob first, rows second: xorb and shard bytes are made durable in the blob store before any index row
refers to them. All verification (chunk hashes, xorb hashes, range proofs, file hashes, sha256) happens
before anything is written.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from modelyard.db import Database
from modelyard.storage import BlobStore, put_bytes
from modelyard.storage.ingest import trim_heap
from modelyard.xet.auth import Claims, Scope, Signer
from modelyard.xet.errors import XetFormatError, XetNotFound
from modelyard.xet.hashes import (
    file_hash,
    hash_to_hex,
    hex_to_hash,
    is_global_dedup_eligible,
    range_verification_hash,
)
from modelyard.xet.index import CasStats, FileRecord, XetIndex, XorbRecord
from modelyard.xet.prehash import Prefix, PrefixHasher
from modelyard.xet.reconstruct import (
    SCAN_SLICE,
    Plan,
    iter_chunk_data,
    iter_file_bytes,
    plan_reconstruction,
    plan_to_v1_json,
    plan_to_v2_json,
)
from modelyard.xet.shard import CHUNK_FLAG_GLOBAL_DEDUP, Shard, ShardFile, build_dedup_shard, parse_shard
from modelyard.xet.xorb import MAX_XORB_UPLOAD, XorbMeta, XorbStream, parse_xorb

_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
log = logging.getLogger("modelyard.xet")


#: Xorb metadata kept in memory (~160 KB each for 64 MiB of ~64 KiB chunks): a shard or a download walks xorbs in
#: order, so a few dozen cover it; more would grow the server with the size of the last file handled.
_META_CACHE_XORBS = 48

#: How long a keyed global-dedupe answer may be used by the client (footer ``shard_key_expiry``).
DEDUP_KEY_TTL_S = 24 * 3600


class ContentBinding(Protocol):
    """Which repo holds which file, by the file's content sha256 (the hub implements it with its own tables).

    ``holds`` is the only permission to read a file's reconstruction; ``record`` is called when a shard sent with
    a write token of the repo registers files (the shard's range proofs show the uploader had the chunks).
    """

    def holds(self, claims: Claims, sha256: str) -> bool: ...

    def record(self, claims: Claims, files: Sequence[tuple[str, int]]) -> None: ...


class MemoryBinding:
    """In-process binding keyed by the token's repo key: for the standalone CAS and tests, not for the hub."""

    def __init__(self) -> None:
        self._held: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    def holds(self, claims: Claims, sha256: str) -> bool:
        with self._lock:
            return sha256 in self._held.get(claims.repo_key, set())

    def record(self, claims: Claims, files: Sequence[tuple[str, int]]) -> None:
        with self._lock:
            self._held.setdefault(claims.repo_key, set()).update(sha for sha, _ in files)


@dataclass(frozen=True)
class XetFile:
    """A readable Xet-stored file: ``iter_bytes(start, end)`` streams any byte range (end exclusive)."""

    service: XetService
    xet_hash: str
    size: int
    sha256: str

    def iter_bytes(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        end = self.size if end is None else min(end, self.size)
        if start >= end:
            return iter(())
        return self.service._iter_range(self.xet_hash, start, end)

    def read(self, start: int = 0, end: int | None = None) -> bytes:
        return b"".join(self.iter_bytes(start, end))


class XorbIngest:
    """One streamed xorb upload: ``write`` the body as it arrives (parsed, verified and written to a temp blob
    chunk by chunk), then ``commit`` (or ``abort``). Memory stays at one batch whatever the xorb's size; a xorb
    that is already stored is received and dropped."""

    def __init__(self, svc: XetService, xorb_hex: str, limit: int) -> None:
        self._svc = svc
        self._hash = hex_to_hash(xorb_hex)
        self._known = svc.index.has_xorb(xorb_hex)
        self._writer = None if self._known else svc.store.writer(max_size=limit, expected_size=limit)
        self._stream = XorbStream(self._hash, self._writer.write if self._writer else None, limit)
        self._open = True

    @property
    def received(self) -> int:
        return self._stream.received

    def write(self, data: bytes) -> None:
        if self._known:
            self._stream.received += len(data)
            return
        try:
            self._stream.feed(data)
        except BaseException:
            self.abort()
            raise

    def commit(self) -> bool:
        """Verify the whole xorb and publish it; False when it was already stored."""
        try:
            if self._writer is None:
                self._svc.prehash.stored(self._hash)
                return False
            try:
                meta = self._stream.finish()
            except BaseException:
                self._writer.abort()
                raise
            info = self._writer.commit(expected_size=meta.stored_size)
            inserted = self._svc.index.insert_xorb(meta, info.sha256)
            self._svc.prehash.stored(self._hash)
            return inserted
        finally:
            self._close()

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.abort()
        self._close()

    def _close(self) -> None:
        """Give the buffers' heap back (with several xorbs in flight it would otherwise keep its high-water mark)."""
        if self._open:
            self._open = False
            trim_heap()


class XetService:
    """Xet CAS: tokens, xorb/shard ingestion with verification, dedupe, reconstruction and byte streaming.

    ``repo_key`` is opaque to this service (the hub decides, e.g. ``"model/ns/name"``); tokens carry it so that
    a future access check can use it.
    """

    def __init__(
        self,
        db: Database,
        store: BlobStore,
        secret: str | bytes,
        *,
        token_ttl_s: int = 3600,
        url_ttl_s: int = 3600,
        public_cas_url: str | None = None,
        binding: ContentBinding | None = None,
    ) -> None:
        self.db = db
        self.binding: ContentBinding = binding if binding is not None else MemoryBinding()
        self.store = store
        self.index = XetIndex(db)
        self.signer = Signer(secret)
        self.token_ttl_s = token_ttl_s
        self.url_ttl_s = url_ttl_s
        self.public_cas_url = public_cas_url.rstrip("/") if public_cas_url else None
        self._meta_cache: OrderedDict[bytes, XorbRecord] = OrderedDict()
        self._meta_lock = threading.Lock()
        self.prehash = PrefixHasher(self._meta, self._open_xorb)

    # ---- tokens ------------------------------------------------------------------------------------
    def issue_token(
        self, repo_key: str, scope: Scope, repo_id: int | None = None, user_id: int | None = None
    ) -> tuple[str, int]:
        """A CAS access token for one repo (``repo_id`` is its stable id), issued to ``user_id`` (the binding checks
        a gated repo's access with it at each read), and its expiry (unix seconds)."""
        return self.signer.issue(repo_key, scope, self.token_ttl_s, repo_id, user_id)

    def verify_token(self, token: str, need: Scope) -> Claims:
        return self.signer.verify(token, need)

    # ---- hub-facing lookups -----------------------------------------------------------------------------
    def lookup_by_sha256(self, sha256: str) -> str | None:
        """Xet file hash of a file uploaded through Xet whose content has this sha256 (verified on upload)."""
        return self.index.file_by_sha256(sha256)

    def size_by_sha256(self, sha256: str) -> int | None:
        """Size of the Xet-stored file with this sha256 (availability only, never a permission)."""
        xet_hash = self.index.file_by_sha256(sha256)
        return None if xet_hash is None else self.file_size(xet_hash)

    def file_size(self, xet_hash: str) -> int | None:
        rec = self.index.get_file(xet_hash.lower())
        return None if rec is None else rec.size

    def sha256_of(self, xet_hash: str) -> str | None:
        rec = self.index.get_file(xet_hash.lower())
        return None if rec is None else rec.sha256

    def open_file(self, xet_hash: str) -> XetFile:
        rec = self.index.get_file(xet_hash.lower())
        if rec is None:
            raise XetNotFound(f"Xet file {xet_hash} not found")
        return XetFile(self, rec.file_hash, rec.size, rec.sha256)

    def stats(self) -> CasStats:
        return self.index.stats()

    # ---- xorbs ---------------------------------------------------------------------------------------
    def has_xorb(self, xorb_hex: str) -> bool:
        return self.index.has_xorb(xorb_hex)

    def announce_xorb(self, claims: Claims, xorb_hex: str, stored: bool = False) -> None:
        """An upload session (its token) is about to send this xorb (``stored``: it is stored already): the file's
        sha256 can be begun in the background, in the order xorbs are announced (:mod:`modelyard.xet.prehash`)."""
        self.prehash.announce(claims, hex_to_hash(xorb_hex), stored)

    def xorb_ingest(self, xorb_hex: str, limit: int = MAX_XORB_UPLOAD) -> XorbIngest:
        """Start a streamed xorb upload of at most ``limit`` bytes (see :class:`XorbIngest`)."""
        return XorbIngest(self, xorb_hex, limit)

    def put_xorb(self, xorb_hex: str, data: bytes) -> bool:
        """Verify and store a serialized xorb. Returns False when it was already stored."""
        expected = hex_to_hash(xorb_hex)
        if self.index.has_xorb(xorb_hex):
            return False
        parsed = parse_xorb(data, expected)
        w = self.store.writer()
        w.write(parsed.chunk_section)
        info = w.commit(expected_size=parsed.meta.stored_size)
        return self.index.insert_xorb(parsed.meta, info.sha256)

    def xorb_record(self, xorb_hash: bytes) -> XorbRecord:
        with self._meta_lock:
            rec = self._meta_cache.get(xorb_hash)
            if rec is not None:
                self._meta_cache.move_to_end(xorb_hash)
                return rec
        found = self.index.get_xorb(hash_to_hex(xorb_hash))
        if found is None:
            raise XetNotFound(f"xorb {hash_to_hex(xorb_hash)} not found")
        with self._meta_lock:
            self._meta_cache[xorb_hash] = found
            while len(self._meta_cache) > _META_CACHE_XORBS:
                self._meta_cache.popitem(last=False)
        return found

    def _meta(self, xorb_hash: bytes) -> XorbMeta:
        return self.xorb_record(xorb_hash).meta

    def _open_xorb(self, xorb_hash: bytes) -> BinaryIO:
        return self.store.open(self.xorb_record(xorb_hash).blob_sha256)

    def open_xorb_bytes(self, xorb_hex: str) -> tuple[BinaryIO, int]:
        """The stored (footer-less) serialized xorb and its length, for the signed fetch endpoint."""
        rec = self.xorb_record(hex_to_hash(xorb_hex))
        return self.store.open(rec.blob_sha256), rec.stored_size

    # ---- shards --------------------------------------------------------------------------------------
    def readable_file(self, claims: Claims, file_hex: str) -> FileRecord:
        """The file if the token's repo holds it; XetNotFound otherwise (unknown and foreign look the same)."""
        rec = self.index.get_file(file_hex.lower())
        if rec is None or not self.binding.holds(claims, rec.sha256):
            raise XetNotFound(f"Xet file {file_hex} not found")
        return rec

    def put_shard(self, data: bytes, claims: Claims | None = None) -> bool:
        """Verify a shard against stored xorbs, compute each new file's sha256, then register it.

        With ``claims`` (the write token it came with), its files become held by that token's repo, also when the
        identical shard or file was registered before: every term passed range verification, which needs the
        raw chunk hashes, i.e. the data. Returns False when the identical shard was registered before.
        """
        shard = parse_shard(data)
        prefix = self.prehash.take(claims) if claims is not None else None
        xorb_hexes = self._check_xorb_blocks(shard)
        dedup: dict[str, str] = {}
        for block in shard.xorbs:
            for c in block.chunks:
                if c.flags & CHUNK_FLAG_GLOBAL_DEDUP or is_global_dedup_eligible(c.hash):
                    dedup[hash_to_hex(c.hash)] = hash_to_hex(block.xorb_hash)
        files: list[FileRecord] = []
        for f in shard.files:
            rec = self._check_file(f, prefix)
            files.append(rec)
            if f.terms:
                first = f.terms[0]
                dedup.setdefault(
                    hash_to_hex(self._meta(first.xorb_hash).chunk_hashes[first.chunk_start]),
                    hash_to_hex(first.xorb_hash),
                )
        info = put_bytes(self.store, data)
        new = self.index.register_shard(info.sha256, info.size, files, xorb_hexes, dedup)
        if claims is not None and files:
            self.binding.record(claims, [(f.sha256, f.size) for f in files])
        del shard, files, dedup
        trim_heap()  # a large file's shard parses into many small objects: give their heap back
        return new

    def _check_xorb_blocks(self, shard: Shard) -> list[str]:
        out = []
        for block in shard.xorbs:
            x = hash_to_hex(block.xorb_hash)
            try:
                meta = self._meta(block.xorb_hash)
            except XetNotFound:
                raise XetFormatError(f"shard lists xorb {x}, which was not uploaded") from None
            if [c.hash for c in block.chunks] != list(meta.chunk_hashes) or [
                c.unpacked_len for c in block.chunks
            ] != [meta.chunk_len(i) for i in range(meta.num_chunks)]:
                raise XetFormatError(f"shard's chunk list for xorb {x} does not match the stored xorb")
            out.append(x)
        return out

    def _check_file(self, f: ShardFile, prefix: Prefix | None = None) -> FileRecord:
        fhex = hash_to_hex(f.file_hash)
        if f.terms and f.verification is None:
            raise XetFormatError(f"file {fhex} has no verification entries")
        leaves: list[tuple[bytes, int]] = []
        for i, t in enumerate(f.terms):
            try:
                meta = self._meta(t.xorb_hash)
            except XetNotFound:
                raise XetFormatError(
                    f"file {fhex} references unknown xorb {hash_to_hex(t.xorb_hash)}"
                ) from None
            if not 0 <= t.chunk_start < t.chunk_end <= meta.num_chunks:
                raise XetFormatError(f"file {fhex} term {i} has an invalid chunk range")
            if t.unpacked_bytes != meta.range_unpacked_len(t.chunk_start, t.chunk_end):
                raise XetFormatError(f"file {fhex} term {i} declares the wrong size")
            hashes = meta.chunk_hashes[t.chunk_start : t.chunk_end]
            assert f.verification is not None
            if range_verification_hash(hashes) != f.verification[i]:
                raise XetFormatError(f"file {fhex} term {i} fails range verification")
            leaves.extend((h, meta.chunk_len(t.chunk_start + j)) for j, h in enumerate(hashes))
        if file_hash(leaves) != f.file_hash:
            raise XetFormatError(f"file hash {fhex} does not match its chunks")
        existing = self.index.get_file(fhex)
        if existing is not None:
            return existing
        size = f.size
        sha = self._compute_sha256(f, prefix) if f.terms else _EMPTY_SHA256
        # The metadata extension stores the sha256 as a MerkleHash: its string form is the usual sha256 hex.
        if f.sha256 is not None and hash_to_hex(f.sha256) != sha:
            declared = hash_to_hex(f.sha256)
            raise XetFormatError(f"file {fhex}: declared sha256 {declared} but content hashes to {sha}")
        return FileRecord(fhex, size, sha, tuple(f.terms))

    def _compute_sha256(self, f: ShardFile, prefix: Prefix | None = None) -> str:
        """The sha256 of the file the terms reassemble, from the stored (verified) xorbs: chunk-aligned slices read
        into one buffer, uncompressed chunks hashed in place. ``prefix``: what the background hasher of the upload's
        session did, used for the leading terms that are exactly its xorbs, whole."""
        k, h = prefix.start(f.terms) if prefix is not None else (0, hashlib.sha256())
        log.debug(
            "sha256 of %s: %d of %d terms hashed in the background", hash_to_hex(f.file_hash), k, len(f.terms)
        )
        buf = bytearray(SCAN_SLICE)
        open_hash: bytes | None = None
        fh: BinaryIO | None = None
        try:
            for t in f.terms[k:]:
                if t.xorb_hash != open_hash:
                    if fh is not None:
                        fh.close()
                    fh, open_hash = self._open_xorb(t.xorb_hash), t.xorb_hash
                assert fh is not None
                for piece in iter_chunk_data(self._meta(t.xorb_hash), fh, t.chunk_start, t.chunk_end, buf):
                    h.update(piece)
        finally:
            if fh is not None:
                fh.close()
        return h.hexdigest()

    # ---- downloads -----------------------------------------------------------------------------------
    def plan(self, file_hex: str, start: int = 0, end: int | None = None) -> Plan:
        rec = self.index.get_file(file_hex)
        if rec is None:
            raise XetNotFound(f"Xet file {file_hex} not found")
        return plan_reconstruction(rec, self._meta, start, end)

    def reconstruction(
        self, file_hex: str, cas_base: str, start: int = 0, end: int | None = None
    ) -> dict[str, object]:
        """``QueryReconstructionResponse`` JSON for ``[start, end)``; fetch URLs are signed, under ``cas_base``."""
        plan = self.plan(file_hex, start, end)
        return plan_to_v1_json(plan, lambda h, a, b: self.xorb_url(cas_base, hash_to_hex(h), a, b))

    def reconstruction_v2(
        self, file_hex: str, cas_base: str, start: int = 0, end: int | None = None
    ) -> dict[str, object]:
        """``QueryReconstructionResponseV2`` JSON for ``[start, end)``: one signed URL per fetched byte range."""
        plan = self.plan(file_hex, start, end)
        return plan_to_v2_json(plan, lambda h, a, b: self.xorb_url(cas_base, hash_to_hex(h), a, b))

    def grant_xorb_upload(self, cas_base: str, xorb_hex: str, length: int) -> dict[str, object]:
        """A ``XorbUploadGrant`` ({id, method, url, headers}): the client PUTs the serialized xorb to ``url`` (no CAS
        token: the signed grant id is the credential), then commits it with ``POST /v1/xorb-commits/…/grant/{id}``."""
        grant = self.signer.sign_grant(xorb_hex, length, int(time.time()) + self.url_ttl_s)
        base = self.public_cas_url or cas_base.rstrip("/")
        return {
            "id": grant,
            "method": "PUT",
            "url": f"{base}/v1/xorb-uploads/default/{xorb_hex}?grant={grant}",
            "headers": {"content-type": "application/octet-stream"},
        }

    def check_grant(self, xorb_hex: str, grant: str) -> int | None:
        """The length a valid upload grant allows for this xorb, else None."""
        return self.signer.check_grant(xorb_hex, grant)

    def xorb_url(self, cas_base: str, xorb_hex: str, start: int, end: int) -> str:
        """Signed fetch URL for bytes ``[start, end]`` (inclusive) of a stored xorb, and nothing else of it: a
        xorb can hold chunks of other files (dedupe across repos), which the URL must not open."""
        exp = int(time.time()) + self.url_ttl_s
        base = self.public_cas_url or cas_base.rstrip("/")
        sig = self.signer.sign_url(xorb_hex, start, end, exp)
        return f"{base}/v1/xorb-data/default/{xorb_hex}?r={start}-{end}&exp={exp}&sig={sig}"

    def check_xorb_url(self, xorb_hex: str, rng: str, exp: str, sig: str) -> tuple[int, int] | None:
        """The inclusive byte window a fetch URL was signed for, or None when invalid or expired."""
        return self.signer.check_url(xorb_hex, rng, exp, sig)

    def dedup_shard(self, chunk_hex: str) -> bytes | None:
        """A keyed global-dedupe answer for an indexed chunk (a file's first chunk or an eligible one), else None.

        No file info, and every chunk hash is ``blake3.keyed_hash(key, raw)`` under a fresh random key sent in
        the footer with an expiry: the client can match only chunks it can hash itself, i.e. data it has, and
        two answers cannot be correlated. Raw chunk hashes never leave the server, so the range verification of
        uploaded shards (``_check_file``) stays a proof of possession.
        """
        recs = self.index.dedup_xorbs(chunk_hex.lower())
        if not recs:
            return None
        return build_dedup_shard(
            [(r.meta, r.stored_size) for r in recs], key=os.urandom(32), valid_for_s=DEDUP_KEY_TTL_S
        )

    def _iter_range(self, file_hex: str, start: int, end: int) -> Iterator[bytes]:
        plan = self.plan(file_hex, start, end)
        return iter_file_bytes(plan, self._meta, self._open_xorb, end - start)
