"""Stateless replicas (issue 17): two hub servers on one database share the task queue, the webhooks' queue, the
secret, sessions and the rate limits. Run on SQLite (one file shared by two servers) and on PostgreSQL (a throw-away
cluster; skipped where PostgreSQL is not installed).

Each hub here is a real server (uvicorn in a thread, the app's own lifespan and task worker); a startup hook adds a
recording handler for test task kinds to each server's worker. The blob store is one shared directory.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from conftest import Hub, _ThreadedServer
from modelyard.config import Settings
from modelyard.db import migrate
from modelyard.db.schema import tasks as tasks_table
from modelyard.db.schema import webhook_deliveries
from modelyard.hub.tasks import DONE, FAILED, RUNNING, Task, TaskQueue
from modelyard.server.app import create_app
from modelyard.server.http_server import server_config
from modelyard.server.services import Services

RECORD = "test.record"
FLAKY = "test.flaky"
TICK = "test.tick"


@dataclass
class Record:
    """What the test handlers saw, across both servers."""

    runs: list[tuple[str, Any]] = field(default_factory=list)  # (worker id, payload n)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, worker: str, n: Any) -> None:
        with self.lock:
            self.runs.append((worker, n))

    def of(self, n: Any) -> list[str]:
        with self.lock:
            return [w for w, m in self.runs if m == n]


@dataclass
class Replica:
    hub: Hub
    app: Any
    worker_id: str


def _hook(record: Record) -> Callable[[Any], Any]:
    async def hook(app: Any) -> None:
        app.state.loop = asyncio.get_running_loop()
        worker = app.state.task_worker
        wid = worker.id

        def recorded(payload: dict[str, Any]) -> None:
            time.sleep(float(payload.get("sleep", 0.02)))  # slow enough that both workers take a share
            record.add(wid, payload["n"])

        def flaky(payload: dict[str, Any]) -> None:
            record.add(wid, ("flaky", payload["n"]))
            raise RuntimeError(f"boom {payload['n']}")

        worker.register(RECORD, recorded)
        worker.register(FLAKY, flaky)
        worker.register(TICK, lambda payload: record.add(wid, "tick"))
        worker.every(TICK, 3600)
        worker.queue.retry_base_s = 0.05  # retries within the test's time
        worker.lease_s = 2.0  # leases renewed every 2/3 s: a long task keeps its claim

    return hook


@contextmanager
def _serve(data_dir: Path, record: Record, **overrides: Any) -> Iterator[Replica]:
    """A hub server like conftest.start_server (users alice, bob, org acme; fresh tokens when they exist), plus
    the test handlers on its task worker."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    overrides.setdefault("spaces_enabled", False)
    overrides.setdefault("jobs_enabled", False)
    overrides.setdefault("disk_reserve_mb", 16)
    overrides.setdefault("task_poll_interval", 0.05)
    overrides.setdefault("webhook_poll_interval", 0.05)
    overrides.setdefault("gc_interval_hours", 0)
    settings = Settings(data_dir=str(data_dir), port=0, log_level="warning", **overrides)
    services = Services.build(settings)
    migrate.upgrade(services.db)
    app = create_app(settings, services=services, auto_migrate=True)
    app.state.startup_hooks = [_hook(record)]
    config = server_config(app, log_level="warning", lifespan="on", timeout_keep_alive=30, access_log=False)
    server = _ThreadedServer(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the hub server did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    hub = Hub(url=f"http://127.0.0.1:{port}", settings=settings, services=app.state.services)
    acc = hub.services.accounts
    if acc.find("alice") is None:
        acc.create("alice", "Alice A.")
        acc.create("bob", "Bob B.")
        acc.create(hub.org, "Acme Inc.", kind="org")
        acc.add_member(hub.org, "alice")
    suffix = uuid.uuid4().hex[:8]
    hub.alice = acc.create_token("alice", f"w-{suffix}", "write")
    hub.alice_read = acc.create_token("alice", f"r-{suffix}", "read")
    hub.bob = acc.create_token("bob", f"b-{suffix}", "write")
    try:
        yield Replica(hub, app, app.state.task_worker.id)
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.db'}"
    cluster = request.getfixturevalue("pg_cluster")
    return str(cluster.create_database(f"tq_{uuid.uuid4().hex[:10]}"))


@pytest.fixture
def pair(tmp_path: Path, database_url: str) -> Iterator[tuple[Replica, Replica, Record]]:
    """Two hub servers, own data_dirs (each has its own <data_dir>/secret file), one database, one blob dir."""
    record = Record()
    blobs = tmp_path / "blobs"
    shared = {"database_url": database_url, "blob_url": f"file://{blobs}", "webhook_allow_private": True}
    with ExitStack() as stack:
        a = stack.enter_context(_serve(tmp_path / "a", record, **shared))
        b = stack.enter_context(_serve(tmp_path / "b", record, **shared))
        yield a, b, record


def _wait(cond: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _rows(queue: TaskQueue, kind: str) -> list[Any]:
    with queue.db.read() as conn:
        return list(conn.execute(sa.select(tasks_table).where(tasks_table.c.kind == kind)).all())


# --- the queue across two servers -----------------------------------------------------------------------
def test_each_task_runs_once_across_two_servers(pair: tuple[Replica, Replica, Record]) -> None:
    a, b, record = pair
    queue = TaskQueue(a.hub.services.db)  # enqueued from outside both servers: nobody is woken, both poll
    for n in range(50):
        queue.enqueue(RECORD, {"n": n})
    _wait(lambda: sum(isinstance(n, int) for _, n in record.runs) >= 50, what="50 tasks")
    time.sleep(0.5)  # a second run of any task would show up now
    runs = [(w, n) for w, n in record.runs if isinstance(n, int)]
    assert sorted(n for _, n in runs) == list(range(50))  # each exactly once
    workers = {w for w, _ in runs}
    assert workers == {a.worker_id, b.worker_id}, "both servers' workers took tasks"
    rows = _rows(queue, RECORD)
    assert len(rows) == 50 and all(r.state == DONE and r.attempts == 1 for r in rows)


def test_periodic_task_enqueued_by_both_runs_once(pair: tuple[Replica, Replica, Record]) -> None:
    a, _, record = pair
    queue = a.hub.services.tasks
    _wait(lambda: any(r.state == DONE for r in _rows(queue, TICK)), what="the periodic task")
    time.sleep(1.0)  # both workers have enqueued this period by now (they poll every 0.05 s)
    assert record.of("tick") and len(record.of("tick")) == 1
    rows = _rows(queue, TICK)
    assert len(rows) == 1 and rows[0].key == f"{TICK}:{int(time.time() // 3600)}"


def test_a_dead_workers_task_runs_again_after_its_lease(pair: tuple[Replica, Replica, Record]) -> None:
    a, b, record = pair
    queue = TaskQueue(a.hub.services.db)
    queue.enqueue(RECORD, {"n": "orphan"}, run_at=time.time() + 3600)  # not due: the live workers leave it
    # the "dead" worker's claim, written as `claim` writes it and in the same transaction that makes the task due
    # (made due first and claimed after, a live worker polling every 0.05 s could take it in between)
    lease_until = int(time.time() * 1000) + 1000
    with queue.db.transaction() as conn:
        row = conn.execute(sa.select(tasks_table).where(tasks_table.c.kind == RECORD)).one()
        conn.execute(
            sa.update(tasks_table)
            .where(tasks_table.c.id == row.id)
            .values(
                state=RUNNING,
                attempts=1,
                run_at_ms=lease_until,
                lease_until_ms=lease_until,
                leased_by="dead-replica",
            )
        )
    claimed = [
        Task(
            int(row.id),
            RECORD,
            {"n": "orphan"},
            row.key,
            1,
            int(row.max_attempts),
            "dead-replica",
            lease_until,
        )
    ]
    # killed before it finished: never done or renewed
    time.sleep(0.5)
    assert record.of("orphan") == [], "nobody takes a task while its lease runs"
    _wait(lambda: bool(record.of("orphan")), what="the orphaned task")
    _wait(lambda: _rows(queue, RECORD)[0].state == DONE, what="done")
    row = _rows(queue, RECORD)[0]
    assert row.attempts == 2 and row.leased_by in {a.worker_id, b.worker_id}
    assert len(record.of("orphan")) == 1
    assert not queue.done(claimed[0]), "the dead claim cannot mark it done"


def test_failures_retry_then_fail_with_the_error(pair: tuple[Replica, Replica, Record]) -> None:
    a, _, record = pair
    queue = TaskQueue(a.hub.services.db)
    task_id = queue.enqueue(FLAKY, {"n": 7}, max_attempts=3)
    assert task_id is not None

    def failed() -> bool:
        row = queue.get(task_id)
        return row is not None and row.state == FAILED

    _wait(failed, what="the failed task")
    row = queue.get(task_id)
    assert row is not None and row.attempts == 3 and row.last_error == "RuntimeError: boom 7"
    time.sleep(0.3)
    assert len(record.of(("flaky", 7))) == 3  # tried three times, then left failed


def test_hostile_rows_do_not_stop_the_workers(pair: tuple[Replica, Replica, Record]) -> None:
    """Rows no code of ours writes (the table is reachable only through the database): they end failed."""
    a, b, record = pair
    queue = TaskQueue(a.hub.services.db)
    bad = ["not json", "[1, 2]", '"a string"', "{" * 5000, json.dumps({"n": "x" * 70000}), "null"]
    with queue.db.transaction() as conn:
        for i, payload in enumerate(bad):
            conn.execute(
                tasks_table.insert().values(
                    kind=RECORD,
                    key=f"hostile-{i}",
                    payload=payload,
                    state="queued",
                    attempts=0,
                    max_attempts=1,
                    run_at_ms=0,
                    created_at=sa.func.now(),
                    updated_at=sa.func.now(),
                )
            )
        # a valid object whose fields are wrong: the handler raises, the task fails, the worker goes on
        conn.execute(
            tasks_table.insert().values(
                kind=RECORD,
                key="hostile-fields",
                payload='{"sleep": "forever"}',
                state="queued",
                attempts=0,
                max_attempts=1,
                run_at_ms=0,
                created_at=sa.func.now(),
                updated_at=sa.func.now(),
            )
        )
    queue.enqueue(RECORD, {"n": "after"})
    _wait(lambda: bool(record.of("after")), what="a good task after hostile ones")
    _wait(
        lambda: all(r.state == FAILED for r in _rows(queue, RECORD) if (r.key or "").startswith("hostile")),
        what="hostile rows failed",
    )
    errors = {r.key: r.last_error for r in _rows(queue, RECORD) if r.key}
    assert errors["hostile-0"] == "the payload is not a JSON object"
    assert "ValueError" in (errors["hostile-fields"] or "")
    for rep in (a, b):
        main = rep.app.state.task_worker._main
        assert main is not None and not main.done(), "the worker loop is still running"


def test_no_route_reaches_the_queue(pair: tuple[Replica, Replica, Record]) -> None:
    a, _, _ = pair
    queue = a.hub.services.tasks
    before = queue.counts()
    body = {"kind": RECORD, "payload": {"n": "injected"}}
    for path in ("/api/tasks", "/api/admin/tasks", "/api/queue", "/api/tasks/enqueue", "/api/admin/queue"):
        for method in ("GET", "POST", "PUT"):
            r = httpx.request(method, a.hub.url + path, json=body, headers=a.hub.auth(), timeout=10)
            assert r.status_code in (404, 405), (method, path, r.status_code)
    paths = httpx.get(a.hub.url + "/openapi.json", timeout=30).json()["paths"]
    assert not [p for p in paths if "queue" in p or p.startswith(("/api/tasks", "/api/admin/tasks"))]
    assert not [r for r in _rows(queue, RECORD) if "injected" in r.payload]
    assert queue.counts()["failed"] == before["failed"]


# --- what the replicas share ------------------------------------------------------------------------------
def test_secret_is_shared(pair: tuple[Replica, Replica, Record]) -> None:
    """Two data_dirs, two <data_dir>/secret files, no secret_key: one secret, from the database."""
    a, b, _ = pair
    sa_, sb = a.hub.services.settings.resolved_secret(), b.hub.services.settings.resolved_secret()
    assert sa_ == sb
    # a web session: the pre-session CSRF token of one server (HMAC of the secret) is accepted by the other
    c = httpx.Client(timeout=30, follow_redirects=False)
    page = c.get(a.hub.url + "/login").text
    pre = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    r = c.post(b.hub.url + "/login", data={"token": a.hub.alice, "next": "/", "csrf_token": pre})
    assert r.status_code == 303, r.text[:300]
    for url in (a.hub.url, b.hub.url):  # the session (a database row) is valid on both
        assert "alice" in c.get(url + "/settings/tokens").text
    # a signed LFS upload URL from one server is accepted by the other; a forged one is not
    api = a.hub.api()
    repo = api.create_repo(f"alice/shared-secret-{uuid.uuid4().hex[:6]}").repo_id
    data = b"shared secret " * 1000
    oid = hashlib.sha256(data).hexdigest()
    batch = httpx.post(
        f"{a.hub.url}/{repo}.git/info/lfs/objects/batch",
        json={"operation": "upload", "transfers": ["basic"], "objects": [{"oid": oid, "size": len(data)}]},
        headers={**a.hub.auth(), "Accept": "application/vnd.git-lfs+json"},
        timeout=30,
    ).json()
    href = batch["objects"][0]["actions"]["upload"]["href"]
    assert href.startswith(a.hub.url)
    forged = href.replace("sig=", "sig=0") if "sig=" in href else href + "x"
    assert httpx.put(forged.replace(a.hub.url, b.hub.url), content=data, timeout=30).status_code == 403
    r = httpx.put(href.replace(a.hub.url, b.hub.url), content=data, timeout=30)
    assert r.status_code == 200, r.text[:300]


def test_secret_file_of_an_install_is_imported(tmp_path: Path) -> None:
    """An install from before (a <data_dir>/secret file, a database without the shared secret) keeps its secret."""
    data = tmp_path / "old"
    data.mkdir()
    (data / "secret").write_text("an-old-install-secret\n")
    settings = Settings(data_dir=str(data))
    first = Services.build(settings)  # fresh database: not migrated yet, the file's secret
    try:
        migrate.upgrade(first.db)
        assert first.settings.resolved_secret() == "an-old-install-secret"
        assert first.share_secret()
    finally:
        first.close()
    other = tmp_path / "other"  # a second replica with its own (different) secret file
    other.mkdir()
    (other / "secret").write_text("another-secret\n")
    second = Services.build(Settings(data_dir=str(other), database_url=settings.resolved_database_url))
    try:
        assert second.settings.resolved_secret() == "an-old-install-secret"
    finally:
        second.close()


def test_webhooks_deliver_each_event_once(pair: tuple[Replica, Replica, Record]) -> None:
    a, b, _ = pair
    received: list[dict[str, Any]] = []
    lock = threading.Lock()

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            with lock:
                received.append(json.loads(body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        repo = f"alice/hooked-{uuid.uuid4().hex[:6]}"
        a.hub.api().create_repo(repo)
        r = httpx.post(
            a.hub.url + "/api/settings/webhooks",
            json={
                "url": f"http://127.0.0.1:{server.server_port}/hook",
                "watched": [{"type": "model", "name": repo}],
            },
            headers=a.hub.auth(),
            timeout=30,
        )
        assert r.status_code == 200, r.text
        commits = 12
        for i in range(commits):  # commits through both servers: both enqueue, both workers send
            hub = (a, b)[i % 2].hub
            hub.api().upload_file(path_or_fileobj=f"v{i}".encode(), path_in_repo="f.txt", repo_id=repo)
        _wait(lambda: len(received) >= commits, what="deliveries")
        time.sleep(1.5)  # a duplicate would arrive by now (both workers poll every 0.05 s)
        heads = [tuple(r["newSha"] for r in p.get("updatedRefs") or []) for p in received]
        assert len(received) == commits, f"{len(received)} deliveries for {commits} events"
        assert len(set(heads)) == commits
        # a burst: 60 deliveries due at the same instant, both workers claiming at once (16 per claim)
        db = a.hub.services.db
        with db.read() as conn:
            row = conn.execute(sa.select(webhook_deliveries).limit(1)).one()._asdict()
        due = int(time.time() * 1000) + 1500
        with db.transaction() as conn:
            for i in range(60):
                values = {k: v for k, v in row.items() if k != "id"}
                body = {**json.loads(row["payload"]), "burst": i}
                values.update(payload=json.dumps(body), state="pending", attempts=0, next_attempt_ms=due)
                conn.execute(webhook_deliveries.insert().values(**values))
        _wait(lambda: len(received) >= commits + 60, what="the burst")
        time.sleep(1.5)
        burst = sorted(p["burst"] for p in received if "burst" in p)
        assert burst == list(range(60)), f"{len(burst)} burst deliveries received for 60"
    finally:
        server.shutdown()
        server.server_close()


def test_rate_limits_are_split_between_live_replicas(tmp_path: Path) -> None:
    """60 requests a minute configured, two live replicas: each allows 30 (its share), so the pair allows 60."""
    record = Record()
    shared = {
        "database_url": f"sqlite:///{tmp_path / 'rl.db'}",
        "blob_url": f"file://{tmp_path / 'blobs'}",
        "rate_limit_per_minute": 60,
        "rate_limit_anonymous_per_minute": 0,
    }
    with _serve(tmp_path / "a", record, **shared) as a, _serve(tmp_path / "b", record, **shared) as b:
        _wait(
            lambda: (
                getattr(a.app.state, "live_replicas", 1) == 2
                and getattr(b.app.state, "live_replicas", 1) == 2
            ),
            timeout=25,
            what="both heartbeats",
        )
        limiter = a.app.state.rate_limiter
        assert limiter.tokens.capacity == 30
        token = a.hub.alice_read
        start = time.monotonic()
        with httpx.Client(timeout=10) as c:
            codes = [
                c.get(a.hub.url + "/api/whoami-v2", headers={"authorization": f"Bearer {token}"}).status_code
                for _ in range(45)
            ]
        refilled = int((time.monotonic() - start) * 0.5) + 1  # the share refills at 30/min
        ok = codes.count(200)
        assert 30 <= ok <= 30 + refilled and codes.count(429) == 45 - ok, codes
        assert ok < 45, "one replica alone does not allow the whole limit"
    # one replica left: its share is the whole limit again after its next heartbeats
    from modelyard.hub.replicas import Replicas

    assert Replicas(a.hub.services.db).live() == 0  # both left cleanly


def test_a_due_scheduled_job_fires_once_across_replicas(tmp_path: Path) -> None:
    """Two job-running servers on one database, each with its scheduler: a due run is submitted once."""
    import datetime as dt

    record = Record()
    shared = {
        "database_url": f"sqlite:///{tmp_path / 'jobs.db'}",
        "blob_url": f"file://{tmp_path / 'blobs'}",
        "jobs_enabled": True,
        "jobs_max_running": 2,
    }
    with _serve(tmp_path / "a", record, **shared) as a, _serve(tmp_path / "b", record, **shared) as b:
        api = a.hub.api()
        sj = api.create_scheduled_job(
            image="python:3.12",
            command=["python", "-c", "print(1)"],
            schedule="@yearly",
            labels={"sched": "once"},
        )
        store = a.hub.services.jobs
        from modelyard.jobs.schedule import Scheduler

        for _ in range(3):  # three due times in a row: each fires once, on either replica
            due = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
            store.update_scheduled(sj.id, next_run_at=due)
            # both replicas' schedulers at the same instant (besides their own ticks every second)
            ticks = [
                asyncio.run_coroutine_threadsafe(Scheduler(r.app.state.job_manager).tick(), r.app.state.loop)
                for r in (a, b)
            ]
            fired = [f.result(30) for f in ticks]
            assert sum(len(f) for f in fired) <= 1, fired
            time.sleep(1.5)
        runs = [j for j in b.hub.api().list_jobs(namespace="alice") if j.labels.get("sched") == "once"]
        assert len(runs) == 3, [j.id for j in runs]
        api.delete_scheduled_job(scheduled_job_id=sj.id)


def test_a_replica_built_before_the_migration_adopts_the_stored_secret(tmp_path: Path) -> None:
    """Replica A opened a fresh database (no secret table yet: its local secret), replica B migrated it and stored
    another secret first: A learns that its secret is not the shared one, and built again it uses B's."""
    from modelyard.hub.replicas import shared_secret

    url = f"sqlite:///{tmp_path / 'race.db'}"
    first = Services.build(Settings(data_dir=str(tmp_path / "a"), database_url=url))
    try:
        assert not first.secret_shared
        migrate.upgrade(first.db)
        assert shared_secret(first.db, proposed="replica-b-secret") == "replica-b-secret"
        assert not first.share_secret()
    finally:
        first.close()
    again = Services.build(Settings(data_dir=str(tmp_path / "a"), database_url=url))
    try:
        assert again.secret_shared and again.settings.resolved_secret() == "replica-b-secret"
        assert again.settings.derived_key(b"x") != first.settings.derived_key(b"x")
    finally:
        again.close()
