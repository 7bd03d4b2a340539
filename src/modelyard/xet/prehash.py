"""The sha256 of a file being uploaded, begun before its shard arrives: hashed in the background, in spare CPU.

A shard names a file's bytes only at the end of an upload, and the hub must then compute the file's sha256 from the
stored xorbs before anything publishes it (``XetService._compute_sha256``): for a large file that pass (~0.9 CPU s
per GB here) was the whole tail of the upload, with the client waiting. A client sends a new file's xorbs roughly
in file order, so a session (the CAS token the xorbs were announced with: a grant request or a direct upload) gets
a *chain*: one thread hashes the decompressed chunks of whole stored xorbs in the order the session announced
them and keeps the sha256 state after each. When the shard comes, a file whose first terms are exactly the chain's
first xorbs, each whole, starts from that state; the rest (or a file that does not match: several files uploaded
at once, xorbs shared with other files) is hashed then as before.

Safety: a chain only reads xorbs that are stored, i.e. verified, and the state it hands out is the sha256 of those
xorbs' full contents in that order, used only where the file's terms are exactly those: the result is the sha256 of
the file whatever the client did. A wrong guess costs only CPU, and the thread runs at idle priority
(``SCHED_IDLE``): it uses cores nothing else wants, so a guess that does not match costs no upload time.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from modelyard.xet.reconstruct import SCAN_SLICE, iter_chunk_data
from modelyard.xet.shard import FileTerm
from modelyard.xet.xorb import XorbMeta

log = logging.getLogger("modelyard.xet")

#: Sessions with a chain at once (least recently used dropped first), xorbs per chain (4096 = 256 GiB), and how
#: long an untouched chain is kept. A chain holds one sha256 state (~0.2 KB) per hashed xorb.
MAX_SESSIONS = 8
MAX_CHAIN_XORBS = 4096
IDLE_TTL_S = 900.0
#: Xorbs known to be stored, remembered for the chains (a bounded set: a chain waits for its next xorb).
_READY_MAX = 4 * MAX_CHAIN_XORBS


@dataclass
class _Chain:
    order: list[bytes] = field(default_factory=list)  # xorbs in the order the session announced them
    seen: set[bytes] = field(default_factory=set)
    states: list[Any] = field(default_factory=list)  # states[k]: sha256 of the first k + 1 xorbs, whole
    nchunks: list[int] = field(default_factory=list)
    stopped: bool = False
    touched: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class Prefix:
    """What a session's chain had hashed when its shard arrived (a snapshot: the chain is stopped)."""

    order: Sequence[bytes]
    states: Sequence[Any]
    nchunks: Sequence[int]

    def start(self, terms: Sequence[FileTerm]) -> tuple[int, Any]:
        """``(k, state)``: the file's first ``k`` terms are the chain's first ``k`` xorbs, each whole, and ``state``
        is a fresh sha256 object holding those bytes (``k == 0``: a new sha256)."""
        k = 0
        for i, t in enumerate(terms[: len(self.states)]):
            if t.xorb_hash != self.order[i] or t.chunk_start != 0 or t.chunk_end != self.nchunks[i]:
                break
            k = i + 1
        return k, (self.states[k - 1].copy() if k else hashlib.sha256())


def _idle_priority() -> None:
    """This thread runs only when a core is otherwise idle (Linux ``SCHED_IDLE``; else the lowest nice)."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))  # type: ignore[attr-defined,unused-ignore]
        return
    except (AttributeError, OSError):
        pass
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


class PrefixHasher:
    """Chains of sha256 states over stored xorbs, one per upload session, advanced by one idle-priority thread."""

    def __init__(
        self, meta: Callable[[bytes], XorbMeta], open_xorb: Callable[[bytes], BinaryIO], idle: bool = True
    ) -> None:
        self._idle = idle  # False: normal priority (tests that wait for the chain on a busy machine)
        self._meta = meta
        self._open = open_xorb
        self._chains: OrderedDict[Hashable, _Chain] = OrderedDict()
        self._ready: OrderedDict[bytes, None] = OrderedDict()
        self._cv = threading.Condition()
        self._thread: threading.Thread | None = None

    def announce(self, session: Hashable, xorb_hash: bytes, stored: bool = False) -> None:
        """The session is about to upload ``xorb_hash`` (``stored``: it is already stored, nothing will come)."""
        with self._cv:
            c = self._chains.get(session)
            if c is None:
                c = self._chains[session] = _Chain()
                while len(self._chains) > MAX_SESSIONS:
                    self._chains.popitem(last=False)[1].stopped = True
            else:
                self._chains.move_to_end(session)
            c.touched = time.monotonic()
            if c.stopped or xorb_hash in c.seen or len(c.order) >= MAX_CHAIN_XORBS:
                return
            c.order.append(xorb_hash)
            c.seen.add(xorb_hash)
            if stored:
                self._mark_ready(xorb_hash)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="modelyard-xet-prehash", daemon=True)
                self._thread.start()
            self._cv.notify_all()

    def stored(self, xorb_hash: bytes) -> None:
        """A xorb was verified and stored: a chain waiting for it can go on."""
        with self._cv:
            self._mark_ready(xorb_hash)
            self._cv.notify_all()

    def take(self, session: Hashable) -> Prefix | None:
        """Stop the session's chain and return what it has hashed (never waits for the hashing thread)."""
        with self._cv:
            c = self._chains.pop(session, None)
            if c is None:
                return None
            c.stopped = True
            return Prefix(tuple(c.order), tuple(c.states), tuple(c.nchunks))

    def _mark_ready(self, xorb_hash: bytes) -> None:
        self._ready[xorb_hash] = None
        self._ready.move_to_end(xorb_hash)
        while len(self._ready) > _READY_MAX:
            self._ready.popitem(last=False)

    def _next(self) -> tuple[_Chain, bytes] | None:
        now = time.monotonic()
        for key, c in list(self._chains.items()):
            if now - c.touched > IDLE_TTL_S:
                c.stopped = True
                del self._chains[key]
                continue
            k = len(c.states)
            if k < len(c.order) and c.order[k] in self._ready:
                return c, c.order[k]
        return None

    def _run(self) -> None:
        if self._idle:
            _idle_priority()
        buf = bytearray(SCAN_SLICE)
        while True:
            with self._cv:
                job = self._next()
                while job is None:
                    self._cv.wait(timeout=60.0)
                    job = self._next()
            chain, xorb_hash = job
            h = chain.states[-1].copy() if chain.states else hashlib.sha256()
            done = False
            try:
                meta = self._meta(xorb_hash)
                with self._open(xorb_hash) as f:
                    for piece in iter_chunk_data(meta, f, 0, meta.num_chunks, buf):
                        if chain.stopped:
                            break
                        h.update(piece)
                    else:
                        done = True
            except Exception:
                log.exception("background sha256 of a stored xorb failed (the shard check hashes it itself)")
                chain.stopped = True
            with self._cv:
                if done and not chain.stopped:
                    chain.states.append(h)
                    chain.nchunks.append(meta.num_chunks)
