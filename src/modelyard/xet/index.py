"""SQL index of the CAS: xorbs, shards, file reconstructions and the global dedupe table.

This module is the only one that issues SQL against the ``xet_*`` tables (see ``db/schema.py``).
Hashes are stored in their Xet string form. Transactions are short and never span blob I/O.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Column, Connection, func, insert, select
from sqlalchemy.exc import IntegrityError

from modelyard.db import Database
from modelyard.db.schema import xet_dedup_chunks, xet_files, xet_shard_xorbs, xet_shards, xet_xorbs
from modelyard.xet.errors import XetFormatError
from modelyard.xet.hashes import hex_to_hash
from modelyard.xet.shard import FileTerm
from modelyard.xet.xorb import XorbMeta

_TERM = struct.Struct("<32sIII")  # xorb hash, chunk start, chunk end, unpacked bytes

#: How many xorbs one global-dedupe answer may describe (each costs ~48 bytes per chunk).
MAX_DEDUP_XORBS = 32


@dataclass(frozen=True)
class XorbRecord:
    meta: XorbMeta
    blob_sha256: str
    stored_size: int


@dataclass(frozen=True)
class FileRecord:
    file_hash: str
    size: int
    sha256: str
    terms: tuple[FileTerm, ...]


@dataclass(frozen=True)
class CasStats:
    xorbs: int
    files: int
    stored_bytes: int  # serialized (compressed) xorb bytes held in the blob store
    unpacked_bytes: int  # raw chunk bytes those xorbs hold (after cross-file dedupe)


def pack_terms(terms: Iterable[FileTerm]) -> bytes:
    return b"".join(_TERM.pack(t.xorb_hash, t.chunk_start, t.chunk_end, t.unpacked_bytes) for t in terms)


def unpack_terms(packed: bytes) -> tuple[FileTerm, ...]:
    if len(packed) % _TERM.size:
        raise XetFormatError("corrupt packed terms")
    return tuple(FileTerm(h, n, s, e) for h, s, e, n in _TERM.iter_unpack(packed))


def _now() -> datetime:
    return datetime.now(UTC)


class XetIndex:
    def __init__(self, db: Database) -> None:
        self.db = db

    # ---- xorbs ---------------------------------------------------------------------------------------
    def get_xorb(self, xorb_hex: str) -> XorbRecord | None:
        with self.db.read() as c:
            row = c.execute(
                select(xet_xorbs.c.blob_sha256, xet_xorbs.c.stored_size, xet_xorbs.c.chunk_meta).where(
                    xet_xorbs.c.xorb_hash == xorb_hex
                )
            ).first()
        if row is None:
            return None
        return XorbRecord(
            XorbMeta.unpack(hex_to_hash(xorb_hex), row.chunk_meta), row.blob_sha256, row.stored_size
        )

    def has_xorb(self, xorb_hex: str) -> bool:
        with self.db.read() as c:
            return (
                c.execute(select(xet_xorbs.c.xorb_hash).where(xet_xorbs.c.xorb_hash == xorb_hex)).first()
                is not None
            )

    def insert_xorb(self, meta: XorbMeta, blob_sha256: str) -> bool:
        """Record a xorb whose bytes are already durable in the blob store. False if it was known."""
        try:
            with self.db.transaction() as c:
                if c.execute(select(xet_xorbs.c.xorb_hash).where(xet_xorbs.c.xorb_hash == meta.hex)).first():
                    return False
                c.execute(
                    insert(xet_xorbs).values(
                        xorb_hash=meta.hex,
                        blob_sha256=blob_sha256,
                        num_chunks=meta.num_chunks,
                        unpacked_size=meta.unpacked_size,
                        stored_size=meta.stored_size,
                        chunk_meta=meta.pack(),
                        created_at=_now(),
                    )
                )
            return True
        except IntegrityError:  # concurrent insert of the same xorb (PostgreSQL)
            return False

    # ---- files ---------------------------------------------------------------------------------------
    def get_file(self, file_hex: str) -> FileRecord | None:
        with self.db.read() as c:
            row = c.execute(
                select(xet_files.c.size, xet_files.c.sha256, xet_files.c.terms).where(
                    xet_files.c.file_hash == file_hex
                )
            ).first()
        if row is None:
            return None
        return FileRecord(file_hex, row.size, row.sha256, unpack_terms(row.terms))

    def has_file(self, file_hex: str) -> bool:
        with self.db.read() as c:
            return (
                c.execute(select(xet_files.c.file_hash).where(xet_files.c.file_hash == file_hex)).first()
                is not None
            )

    def file_by_sha256(self, sha256: str) -> str | None:
        with self.db.read() as c:
            row = c.execute(
                select(xet_files.c.file_hash).where(xet_files.c.sha256 == sha256.lower()).limit(1)
            ).first()
        return None if row is None else str(row.file_hash)

    # ---- shards --------------------------------------------------------------------------------------
    def register_shard(
        self,
        shard_sha256: str,
        size: int,
        files: list[FileRecord],
        xorb_hexes: list[str],
        dedup_chunks: dict[str, str],
    ) -> bool:
        """Insert everything a verified shard declares. Returns False when the shard was already known."""
        now = _now()
        with self.db.transaction() as c:
            if c.execute(
                select(xet_shards.c.shard_sha256).where(xet_shards.c.shard_sha256 == shard_sha256)
            ).first():
                return False
            c.execute(
                insert(xet_shards).values(
                    shard_sha256=shard_sha256,
                    size=size,
                    num_files=len(files),
                    num_xorbs=len(xorb_hexes),
                    created_at=now,
                )
            )
            if xorb_hexes:
                c.execute(
                    insert(xet_shard_xorbs),
                    [{"shard_sha256": shard_sha256, "xorb_hash": x} for x in dict.fromkeys(xorb_hexes)],
                )
            known_files = self._existing(c, xet_files.c.file_hash, [f.file_hash for f in files])
            new_files = {f.file_hash: f for f in files if f.file_hash not in known_files}
            if new_files:
                c.execute(
                    insert(xet_files),
                    [
                        {
                            "file_hash": f.file_hash,
                            "size": f.size,
                            "sha256": f.sha256,
                            "num_terms": len(f.terms),
                            "terms": pack_terms(f.terms),
                            "shard_sha256": shard_sha256,
                            "created_at": now,
                        }
                        for f in new_files.values()
                    ],
                )
            known_chunks = self._existing(c, xet_dedup_chunks.c.chunk_hash, list(dedup_chunks))
            rows = [
                {"chunk_hash": k, "xorb_hash": v} for k, v in dedup_chunks.items() if k not in known_chunks
            ]
            if rows:
                c.execute(insert(xet_dedup_chunks), rows)
        return True

    @staticmethod
    def _existing(c: Connection, column: Column[str], keys: list[str]) -> set[str]:
        found: set[str] = set()
        for i in range(0, len(keys), 500):
            part = keys[i : i + 500]
            found.update(r[0] for r in c.execute(select(column).where(column.in_(part))))
        return found

    # ---- global dedupe -------------------------------------------------------------------------------
    def dedup_xorbs(self, chunk_hex: str) -> list[XorbRecord]:
        """The xorb holding an indexed chunk, then the xorbs registered by the same shard(s)."""
        with self.db.read() as c:
            row = c.execute(
                select(xet_dedup_chunks.c.xorb_hash).where(xet_dedup_chunks.c.chunk_hash == chunk_hex)
            ).first()
            if row is None:
                return []
            first = str(row.xorb_hash)
            shards = select(xet_shard_xorbs.c.shard_sha256).where(xet_shard_xorbs.c.xorb_hash == first)
            siblings = [
                str(r[0])
                for r in c.execute(
                    select(xet_shard_xorbs.c.xorb_hash)
                    .where(xet_shard_xorbs.c.shard_sha256.in_(shards), xet_shard_xorbs.c.xorb_hash != first)
                    .distinct()
                    .limit(MAX_DEDUP_XORBS - 1)
                )
            ]
        out = []
        for x in [first, *siblings]:
            rec = self.get_xorb(x)
            if rec is not None:
                out.append(rec)
        return out

    def referenced_blobs(self) -> set[str]:
        """Blob-store keys the CAS needs: serialized xorbs and shards (for garbage collection)."""
        with self.db.read() as c:
            keys = {r[0] for r in c.execute(select(xet_xorbs.c.blob_sha256))}
            keys |= {r[0] for r in c.execute(select(xet_shards.c.shard_sha256))}
        return keys

    def stats(self) -> CasStats:
        with self.db.read() as c:
            nx, stored, unpacked = c.execute(
                select(
                    func.count(), func.coalesce(func.sum(xet_xorbs.c.stored_size), 0),
                    func.coalesce(func.sum(xet_xorbs.c.unpacked_size), 0),
                )
            ).one()  # fmt: skip
            nf = c.execute(select(func.count()).select_from(xet_files)).scalar_one()
        return CasStats(int(nx), int(nf), int(stored), int(unpacked))


__all__ = ["CasStats", "FileRecord", "XetIndex", "XorbRecord"]
