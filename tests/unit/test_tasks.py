"""The task queue (hub/tasks.py), the worker (server/task_worker.py), replicas and the shared secret
(hub/replicas.py) and the rate-limit share (server/ratelimit.py), on SQLite and PostgreSQL (skipped without it).

Two `Database` handles on one database stand for two replicas: each has its own connections (and, on SQLite, its
own in-process write lock), so they contend as two processes do."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from modelyard.db import Database, migrate
from modelyard.db.schema import tasks as tasks_table
from modelyard.errors import BadRequest
from modelyard.hub.replicas import Replicas, shared_secret
from modelyard.hub.tasks import DONE, FAILED, QUEUED, RUNNING, TaskQueue
from modelyard.server.ratelimit import TokenBuckets
from modelyard.server.task_worker import TaskFailed, TaskWorker


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'q.db'}"
    return str(request.getfixturevalue("pg_cluster").create_database(f"u_{uuid.uuid4().hex[:10]}"))


@pytest.fixture
def dbs(url: str) -> Iterator[tuple[Database, Database]]:
    one, two = Database(url), Database(url)
    migrate.upgrade(one)
    try:
        yield one, two
    finally:
        one.dispose()
        two.dispose()


def test_enqueue_claim_done(dbs: tuple[Database, Database]) -> None:
    q = TaskQueue(dbs[0])
    tid = q.enqueue("k", {"a": 1})
    assert tid is not None
    assert q.claim(5, 60, "w", ["other"]) == []  # kinds this worker cannot run stay queued
    (t,) = q.claim(5, 60, "w", ["k"])
    assert (t.id, t.kind, t.payload, t.attempt) == (tid, "k", {"a": 1}, 1)
    assert q.claim(5, 60, "w2") == [], "a leased task is not claimed again"
    row = q.get(tid)
    assert row is not None and row.state == RUNNING and row.leased_by == "w"
    assert q.done(t)
    row = q.get(tid)
    assert row is not None and row.state == DONE
    assert not q.done(t), "done twice: the claim is gone"


def test_key_makes_enqueue_idempotent(dbs: tuple[Database, Database]) -> None:
    one, two = TaskQueue(dbs[0]), TaskQueue(dbs[1])
    assert one.enqueue("k", {}, key="same") is not None
    assert two.enqueue("k", {"other": 1}, key="same") is None
    t = 1_000_000.0
    assert one.enqueue_periodic("p", 3600, at=t) is not None
    assert two.enqueue_periodic("p", 3600, at=t + 10) is None  # the same period, from another replica
    assert two.enqueue_periodic("p", 3600, at=t + 3600) is not None  # the next period
    assert one.claim_once("schedule:x:1") and not two.claim_once("schedule:x:1")
    assert one.counts()[QUEUED] == 3


def test_bad_enqueue_arguments_are_refused(dbs: tuple[Database, Database]) -> None:
    q = TaskQueue(dbs[0])
    for kind, payload, key in [
        ("", {}, None),
        ("k" * 65, {}, None),
        ("k", {"x": "y" * 70000}, None),
        ("k", {}, ""),
    ]:
        with pytest.raises(BadRequest):
            q.enqueue(kind, payload, key=key)
    with pytest.raises(TypeError):
        q.enqueue("k", {"x": object()})  # not JSON


def test_concurrent_claims_take_each_task_once(dbs: tuple[Database, Database]) -> None:
    """Two replicas (two handles), four claimers each, 200 tasks: every task claimed exactly once."""
    q0 = TaskQueue(dbs[0])
    with dbs[0].transaction() as conn:
        for n in range(200):
            q0.enqueue("k", {"n": n}, conn=conn)
    seen: list[int] = []
    lock = threading.Lock()

    def claimer(db: Database, name: str) -> None:
        q = TaskQueue(db)
        while True:
            got = q.claim(3, 60, name)
            if not got:
                return
            with lock:
                seen.extend(t.payload["n"] for t in got)
            for t in got:
                assert q.done(t)

    threads = [threading.Thread(target=claimer, args=(dbs[i % 2], f"w{i}")) for i in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert sorted(seen) == list(range(200))
    assert q0.counts()[DONE] == 200


def test_expired_lease_is_claimed_again_and_the_old_claim_is_void(dbs: tuple[Database, Database]) -> None:
    one, two = TaskQueue(dbs[0]), TaskQueue(dbs[1])
    one.enqueue("k", {"n": 1}, max_attempts=2)
    (dead,) = one.claim(1, 0.2, "dead")
    assert two.claim(1, 60, "alive") == []
    time.sleep(0.3)
    (again,) = two.claim(1, 60, "alive")
    assert again.attempt == 2 and again.id == dead.id
    assert not one.done(dead) and one.fail(dead, "late") is None and not one.renew(dead, 60)
    assert two.renew(again, 60) and two.done(again)


def test_a_task_whose_worker_always_dies_ends_failed(dbs: tuple[Database, Database]) -> None:
    q = TaskQueue(dbs[0])
    tid = q.enqueue("k", {}, max_attempts=2)
    assert tid is not None
    for _ in range(2):
        assert len(q.claim(1, 0.05, "dies")) == 1
        time.sleep(0.1)
    assert q.claim(1, 60, "w") == []
    row = q.get(tid)
    assert (
        row is not None and row.state == FAILED and "the worker running it stopped" in (row.last_error or "")
    )


def test_fail_retries_with_backoff_then_fails(dbs: tuple[Database, Database]) -> None:
    q = TaskQueue(dbs[0], retry_base_s=0.2)
    tid = q.enqueue("k", {}, max_attempts=3)
    assert tid is not None
    (t,) = q.claim(1, 60, "w")
    assert q.fail(t, "first") == QUEUED
    assert q.claim(1, 60, "w") == [], "not before the back-off"
    time.sleep(0.25)
    (t,) = q.claim(1, 60, "w")
    assert q.fail(t, "second") == QUEUED
    time.sleep(0.25)
    assert q.claim(1, 60, "w") == [], "the back-off doubles (0.4 s)"
    time.sleep(0.25)
    (t,) = q.claim(1, 60, "w")
    assert t.attempt == 3
    assert q.fail(t, "third " + "x" * 5000) == FAILED
    row = q.get(tid)
    assert row is not None and row.state == FAILED and row.last_error is not None
    assert row.last_error.startswith("third") and len(row.last_error) == 1000
    tid2 = q.enqueue("k", {})
    (t2,) = q.claim(1, 60, "w")
    assert q.fail(t2, "no retry", retry=False) == FAILED and tid2 == t2.id


def test_hostile_payloads_fail_on_claim(dbs: tuple[Database, Database]) -> None:
    q = TaskQueue(dbs[0])
    with dbs[0].transaction() as conn:
        for payload in ["{", "[]", "1", '"s"', "null", "{" * 10000, '{"a": ' + "[" * 3000 + "]" * 3000 + "}"]:
            conn.execute(
                tasks_table.insert().values(
                    kind="k",
                    payload=payload,
                    state="queued",
                    attempts=0,
                    max_attempts=5,
                    run_at_ms=0,
                    created_at=sa.func.now(),
                    updated_at=sa.func.now(),
                )
            )
    good = q.enqueue("k", {"ok": True})
    claimed = q.claim(50, 60, "w")
    assert [t.id for t in claimed] == [good]
    counts = q.counts()
    assert counts[FAILED] == 7 and counts[RUNNING] == 1, counts  # too deep to parse safely: failed too


def test_prune_removes_old_finished_tasks(dbs: tuple[Database, Database]) -> None:
    q = TaskQueue(dbs[0])
    q.enqueue("k", {})
    (t,) = q.claim(1, 60, "w")
    q.done(t)
    q.enqueue("k", {})
    assert q.prune(older_than_s=3600) == 0
    time.sleep(0.05)
    assert q.prune(older_than_s=0) == 1
    assert q.counts() == {QUEUED: 1, RUNNING: 0, DONE: 0, FAILED: 0}


# --- the worker ---------------------------------------------------------------------------------------
def test_worker_runs_retries_and_survives_bad_handlers(dbs: tuple[Database, Database]) -> None:
    q = TaskQueue(dbs[0], retry_base_s=0.05)
    ran: list[Any] = []

    def ok(payload: dict[str, Any]) -> None:
        ran.append(payload["n"])

    async def also_ok(payload: dict[str, Any]) -> None:
        ran.append(("async", payload["n"]))

    def boom(payload: dict[str, Any]) -> None:
        ran.append("boom")
        raise RuntimeError("always")

    def permanent(payload: dict[str, Any]) -> None:
        ran.append("permanent")
        raise TaskFailed("no point retrying")

    async def main() -> None:
        worker = TaskWorker(q, Replicas(dbs[0]), poll_interval=0.05, lease_s=5)
        worker.register("ok", ok)
        worker.register("async", also_ok)
        worker.register("boom", boom)
        worker.register("permanent", permanent)
        live: list[int] = []
        worker.on_replicas.append(live.append)
        await worker.start()
        try:
            q.enqueue("boom", {}, max_attempts=2)
            q.enqueue("permanent", {})
            q.enqueue(
                "ok", {"wrong": 1}, max_attempts=1
            )  # KeyError in the handler: failed, the worker goes on
            for n in range(5):
                q.enqueue("ok", {"n": n})
            q.enqueue("async", {"n": 9})
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                c = await asyncio.to_thread(q.counts)
                if c[DONE] == 6 and c[FAILED] == 3:
                    break
                await asyncio.sleep(0.05)
            assert live and live[0] == 1
        finally:
            await worker.aclose()
        assert Replicas(dbs[0]).live() == 0, "a clean shutdown leaves the replicas table"

    asyncio.run(main())
    assert sorted(x for x in ran if isinstance(x, int)) == [0, 1, 2, 3, 4]
    assert ran.count("boom") == 2 and ran.count("permanent") == 1 and ("async", 9) in ran
    assert q.counts()[DONE] == 6 and q.counts()[FAILED] == 3


def test_worker_renews_the_lease_of_a_long_task(dbs: tuple[Database, Database]) -> None:
    q = TaskQueue(dbs[0])
    other = TaskQueue(dbs[1])
    stolen: list[Any] = []

    def slow(payload: dict[str, Any]) -> None:
        for _ in range(15):  # 1.5 s with a 1 s lease: renewed on the way
            stolen.extend(other.claim(1, 60, "thief"))
            time.sleep(0.1)

    async def main() -> None:
        worker = TaskWorker(q, None, poll_interval=0.05, lease_s=1.0)
        worker.register("slow", slow)
        await worker.start()
        try:
            q.enqueue("slow", {})
            deadline = time.monotonic() + 20
            while (await asyncio.to_thread(q.counts))[DONE] != 1 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        finally:
            await worker.aclose()

    asyncio.run(main())
    assert stolen == [], "nobody else claims a task whose lease is renewed"
    assert q.counts()[DONE] == 1


# --- replicas, secret, rate-limit share -----------------------------------------------------------------
def test_replicas_heartbeat_and_live_count(dbs: tuple[Database, Database]) -> None:
    r1, r2 = Replicas(dbs[0], live_window_s=0.5), Replicas(dbs[1], live_window_s=0.5)
    assert r1.beat("a", "10.0.0.1:8080") == 1
    assert r2.beat("b") == 2
    time.sleep(0.6)
    assert r1.beat("a") == 1, "b was not seen within the window"
    r1.leave("a")
    assert r1.live() == 0


def test_shared_secret_is_stored_once(dbs: tuple[Database, Database], tmp_path: Path) -> None:
    legacy = tmp_path / "secret"
    legacy.write_text("from-the-file\n")
    first = shared_secret(dbs[0], legacy)
    assert first == "from-the-file"
    assert shared_secret(dbs[1], None, proposed="mine") == "from-the-file"
    assert shared_secret(dbs[1], tmp_path / "missing") == "from-the-file"


def test_shared_secret_generated_and_absent_table(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'fresh.db'}")
    try:
        assert shared_secret(db, tmp_path / "none") is None  # not migrated: the caller keeps its own
        migrate.upgrade(db)
        s = shared_secret(db, tmp_path / "none")
        assert s is not None and len(s) == 64 and shared_secret(db) == s
    finally:
        db.dispose()


def test_token_buckets_share() -> None:
    b = TokenBuckets(60)
    b.set_share(3)
    assert b.capacity == 20 and abs(b.rate - 20 / 60) < 1e-9
    allowed = sum(b.take("k") == 0.0 for _ in range(30))
    assert allowed == 20
    b.set_share(1000)
    assert b.capacity == 1.0  # never below one request a minute
    b.set_share(0)
    assert b.capacity == 60
