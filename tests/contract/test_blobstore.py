"""The BlobStore contract (src/modelyard/storage/__init__.py): one suite every backend runs.

A backend joins by adding itself to `BACKENDS` (a factory that returns a fresh, empty store): the local disk
(`fs`) and S3 (`s3`, a fresh bucket on the session's moto server, tests/_s3.py; issue 17). The required part
is what any backend can do: put a stream, open and open a range, exists, stat, delete, BlobNotFound for what is
absent. The optional capabilities (LocalPaths, Sweepable, Capacity) are checked only where a backend has them.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from _s3 import session_s3_server
from modelyard.errors import BadChecksum, BlobNotFound, InsufficientStorage, TooLarge
from modelyard.storage import (
    BlobStore,
    Capacity,
    LocalPaths,
    S3Options,
    Sweepable,
    check_space,
    disk_space,
    open_store,
    put_bytes,
)
from modelyard.storage.s3 import MIN_PART, S3BlobStore


def _fs(tmp: Path) -> BlobStore:
    return open_store(f"file://{tmp / 'blobs'}")


def _s3(tmp: Path) -> BlobStore:
    server = session_s3_server(tmp.parent / "moto")
    settings = server.settings(prefix="some/prefix")
    store = open_store(
        settings["blob_url"],
        s3=S3Options(
            server.endpoint_url, server.region, server.access_key_id, server.secret_access_key, "path"
        ),
    )
    assert isinstance(store, S3BlobStore)
    store.part_size = MIN_PART  # multipart uploads at 5 MiB (S3's minimum part), not 8
    return store


BACKENDS: dict[str, Callable[[Path], BlobStore]] = {"fs": _fs, "s3": _s3}


@pytest.fixture(params=sorted(BACKENDS))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobStore]:
    yield BACKENDS[request.param](tmp_path)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def temp_names(store: BlobStore) -> list[str]:
    return [name for name, _ in store.iter_temp()] if isinstance(store, Sweepable) else []


MISSING = sha(b"never stored")
DATA = os.urandom(3 * 1024 * 1024 + 17)  # a few pieces of any reasonable read size, and an odd tail


# --- put: a streaming writer ---------------------------------------------------------------------------
def test_put_stream_publishes_under_sha256(store: BlobStore) -> None:
    w = store.writer(expected_size=len(DATA))
    view = memoryview(DATA)
    for i in range(0, len(DATA), 100_000):  # many small writes, bytes and memoryviews
        w.write(view[i : i + 100_000] if i % 200_000 else bytes(view[i : i + 100_000]))
    assert w.size == len(DATA)
    assert not store.exists(sha(DATA))  # nothing visible before commit
    info = w.commit(sha(DATA), len(DATA))
    assert (info.sha256, info.size) == (sha(DATA), len(DATA))
    assert store.exists(info.sha256) and store.stat(info.sha256) == len(DATA)
    with store.open(info.sha256) as f:
        assert f.read() == DATA
    assert temp_names(store) == []


def test_commit_without_expectations_hashes_what_came(store: BlobStore) -> None:
    w = store.writer()
    w.write(b"hello ")
    w.write(b"world")
    info = w.commit()
    assert (info.sha256, info.size) == (sha(b"hello world"), 11)
    assert store.exists(sha(b"hello world"))


def test_empty_blob(store: BlobStore) -> None:
    info = put_bytes(store, b"")
    assert info.sha256 == sha(b"") and store.stat(info.sha256) == 0
    assert b"".join(store.open_range(info.sha256)) == b""


def test_hash_mismatch_aborts_and_stores_nothing(store: BlobStore) -> None:
    data = b"the bytes that came"
    w = store.writer()
    w.write(data)
    with pytest.raises(BadChecksum):
        w.commit(sha(b"the bytes that were declared"), len(data))
    assert not store.exists(sha(data)) and not store.exists(sha(b"the bytes that were declared"))
    assert temp_names(store) == []
    w.abort()  # after a failed commit: harmless


def test_size_mismatch_aborts_and_stores_nothing(store: BlobStore) -> None:
    data = b"twelve bytes"
    w = store.writer()
    w.write(data)
    with pytest.raises(BadChecksum):
        w.commit(sha(data), len(data) + 1)
    assert not store.exists(sha(data))
    assert temp_names(store) == []


def test_max_size_refuses_more_bytes(store: BlobStore) -> None:
    w = store.writer(max_size=10)
    w.write(b"0123456789")
    with pytest.raises(TooLarge):
        w.write(b"!")
    w.abort()
    assert not store.exists(sha(b"0123456789!")) and not store.exists(sha(b"0123456789"))
    assert temp_names(store) == []


def test_abort_publishes_nothing_and_is_idempotent(store: BlobStore) -> None:
    w = store.writer()
    w.write(b"half an upload")
    w.abort()
    w.abort()
    assert not store.exists(sha(b"half an upload"))
    assert temp_names(store) == []


def test_abort_after_commit_keeps_the_blob(store: BlobStore) -> None:
    w = store.writer()
    w.write(b"kept")
    w.commit()
    w.abort()
    assert store.exists(sha(b"kept"))


def test_same_bytes_twice_store_once(store: BlobStore) -> None:
    a = put_bytes(store, b"twice")
    b = put_bytes(store, b"twice", sha(b"twice"))
    assert a == b
    assert store.stat(a.sha256) == 5
    if isinstance(store, Sweepable):
        assert [k for k, _ in store.iter_blobs()].count(a.sha256) == 1
    assert temp_names(store) == []


def test_put_bytes_checks_the_declared_hash(store: BlobStore) -> None:
    with pytest.raises(BadChecksum):
        put_bytes(store, b"actual", sha(b"declared"))
    assert not store.exists(sha(b"actual"))
    assert temp_names(store) == []


# --- reads ---------------------------------------------------------------------------------------------
def test_open_is_seekable(store: BlobStore) -> None:
    key = put_bytes(store, DATA).sha256
    with store.open(key) as f:
        f.seek(1_000_000)
        assert f.read(10) == DATA[1_000_000:1_000_010]
        f.seek(-5, io.SEEK_END)
        assert f.read() == DATA[-5:]
        f.seek(0)
        assert f.read(3) == DATA[:3]


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (0, None),
        (0, 1),
        (2, 9),
        (1024 * 1024 - 1, 1024 * 1024 + 1),  # across a piece boundary
        (1_500_000, None),
        (len(DATA) - 5, len(DATA) + 100),  # end is clamped to the size
        (len(DATA), None),  # at the end: nothing
        (len(DATA) + 10, len(DATA) + 20),  # past the end: nothing
        (7, 7),  # empty range
        (9, 2),  # inverted: nothing
    ],
)
def test_open_range(store: BlobStore, start: int, end: int | None) -> None:
    key = put_bytes(store, DATA).sha256
    pieces = list(store.open_range(key, start, end))
    assert b"".join(pieces) == DATA[start:end]
    assert all(pieces), "no empty pieces"


def test_open_range_defaults_to_everything(store: BlobStore) -> None:
    key = put_bytes(store, b"all of it").sha256
    assert b"".join(store.open_range(key)) == b"all of it"


def test_open_range_may_stop_early(store: BlobStore) -> None:
    key = put_bytes(store, DATA).sha256
    it = store.open_range(key)
    first = next(it)
    assert DATA.startswith(first)
    getattr(it, "close", lambda: None)()  # an abandoned download releases its handle
    store.delete(key)
    assert not store.exists(key)


# --- absent, malformed, deleted ------------------------------------------------------------------------
def test_missing_blob_is_blob_not_found(store: BlobStore) -> None:
    assert not store.exists(MISSING)
    with pytest.raises(BlobNotFound):
        store.open(MISSING)
    with pytest.raises(BlobNotFound):
        store.open_range(MISSING)  # on the call itself, before any byte: a response has not started yet
    with pytest.raises(BlobNotFound):
        store.stat(MISSING)
    with pytest.raises(BlobNotFound):
        store.delete(MISSING)


@pytest.mark.parametrize(
    "key",
    ["", "abc", "../" + "0" * 61, MISSING.upper(), MISSING + "0", "/etc/passwd", "g" * 64, "0" * 63 + "/"],
)
def test_malformed_key_reads_as_absent(store: BlobStore, key: str) -> None:
    put_bytes(store, b"something")  # a non-empty store
    assert not store.exists(key)
    for op in (store.open, store.open_range, store.stat, store.delete):
        with pytest.raises(BlobNotFound):
            op(key)  # type: ignore[operator]


def test_delete(store: BlobStore) -> None:
    keep = put_bytes(store, b"stays").sha256
    gone = put_bytes(store, b"goes").sha256
    store.delete(gone)
    assert not store.exists(gone)
    with pytest.raises(BlobNotFound):
        store.open(gone)
    with pytest.raises(BlobNotFound):
        store.stat(gone)
    with pytest.raises(BlobNotFound):
        store.delete(gone)
    assert store.exists(keep) and store.stat(keep) == 5
    assert put_bytes(store, b"goes").sha256 == gone  # and it can come back
    assert b"".join(store.open_range(gone)) == b"goes"


# --- optional capabilities -----------------------------------------------------------------------------
def test_local_paths_capability(store: BlobStore) -> None:
    if not isinstance(store, LocalPaths):
        pytest.skip("this backend has no local files")
    key = put_bytes(store, b"on disk").sha256
    path = store.local_path(key)
    assert path is not None and Path(path).read_bytes() == b"on disk"
    assert store.local_path(MISSING) is None


def test_sweepable_capability(store: BlobStore) -> None:
    if not isinstance(store, Sweepable):
        pytest.skip("this backend cannot list its blobs")
    keys = {put_bytes(store, bytes([i]) * 10).sha256 for i in range(3)}
    assert keys <= {k for k, _ in store.iter_blobs()}
    w = store.writer()
    w.write(b"in flight")
    w.write(bytes(getattr(store, "part_size", 0)))  # an object store holds up to one part in memory: fill it
    names = temp_names(store)
    assert len(names) == 1  # an unfinished upload is visible to the sweep...
    store.delete_temp(names[0])  # ...which can remove it
    store.delete_temp(names[0])  # gone already is fine
    assert temp_names(store) == []
    w.abort()
    assert not store.exists(sha(b"in flight"))
    with pytest.raises(ValueError):
        store.delete_temp("../escape")


def test_capacity_capability(store: BlobStore) -> None:
    if not isinstance(store, Capacity):
        assert disk_space(store) is None
        check_space(store, 1 << 60)  # no limit the hub can see
        return
    space = disk_space(store)
    assert space is not None and 0 <= space.free <= space.total
    check_space(store, 0)
    before = dict(store.refused)
    with pytest.raises(InsufficientStorage):
        check_space(store, space.free + 1)
    with pytest.raises(InsufficientStorage):
        store.writer(expected_size=space.free + 1)
    assert store.refused.get("reserve", 0) == before.get("reserve", 0) + 2
    assert temp_names(store) == []


# --- big blobs: streamed in parts (an object store's multipart upload, then a server-side copy) ------------
BIG = os.urandom(2 * MIN_PART + 123_457)  # 3 parts of an S3 multipart upload


def test_big_blob_in_parts(store: BlobStore) -> None:
    w = store.writer(max_size=len(BIG))
    for i in range(0, len(BIG), 1 << 20):
        w.write(BIG[i : i + (1 << 20)])
    assert not store.exists(sha(BIG))
    info = w.commit(sha(BIG), len(BIG))
    assert (info.sha256, info.size) == (sha(BIG), len(BIG))
    assert store.stat(info.sha256) == len(BIG)
    assert (
        b"".join(store.open_range(info.sha256, MIN_PART - 3, MIN_PART + 3))
        == BIG[MIN_PART - 3 : MIN_PART + 3]
    )
    with store.open(info.sha256) as f:
        f.seek(len(BIG) - 10)
        assert f.read() == BIG[-10:]
        f.seek(0)
        assert f.read() == BIG
    assert temp_names(store) == []
    # the same big bytes again store once, and a mismatch in a big upload publishes nothing
    assert put_bytes(store, BIG) == info
    w = store.writer()
    w.write(BIG)
    w.write(b"!")
    with pytest.raises(BadChecksum):
        w.commit(sha(BIG))
    assert not store.exists(sha(BIG + b"!"))
    assert temp_names(store) == []
    if isinstance(store, Sweepable):
        assert [k for k, _ in store.iter_blobs()].count(info.sha256) == 1


def test_big_abort_leaves_no_upload(store: BlobStore) -> None:
    w = store.writer()
    w.write(BIG)
    w.abort()
    assert not store.exists(sha(BIG))
    assert temp_names(store) == []
    w = store.writer(max_size=len(BIG) - 1)
    with pytest.raises(TooLarge):
        w.write(BIG[: MIN_PART + 1])
        w.write(BIG[MIN_PART + 1 :])
    assert temp_names(store) == []
