"""Webhook deliveries claimed by several senders at once (two replicas, four senders each): each delivery goes to
one sender (hub/webhooks.py `claim_due`: FOR UPDATE SKIP LOCKED on PostgreSQL, BEGIN IMMEDIATE on SQLite)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelyard.db import Database, migrate
from modelyard.db.schema import webhook_deliveries
from modelyard.hub._time import now
from modelyard.hub.accounts import Accounts
from modelyard.hub.webhooks import Webhooks


@pytest.fixture(params=["sqlite", "postgres"])
def dbs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Database, Database]]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'w.db'}"
    else:
        url = str(request.getfixturevalue("pg_cluster").create_database(f"w_{uuid.uuid4().hex[:10]}"))
    one, two = Database(url), Database(url)
    migrate.upgrade(one)
    try:
        yield one, two
    finally:
        one.dispose()
        two.dispose()


def test_concurrent_senders_claim_each_delivery_once(dbs: tuple[Database, Database]) -> None:
    accounts = Accounts(dbs[0])
    alice = accounts.create("alice", "Alice")
    who = accounts.principal_for(alice, "test", "write")
    hooks = [Webhooks(db, Accounts(db), "http://hub.test", 5, 10.0, True) for db in dbs]
    hook = hooks[0].create(who, "http://127.0.0.1:9/hook", [{"type": "user", "name": "alice"}], None, None)
    n = 300
    with dbs[0].transaction() as conn:
        for i in range(n):
            conn.execute(
                webhook_deliveries.insert().values(
                    webhook_id=hook.id,
                    repo_id=None,
                    repo_namespace="alice",
                    repo_private=False,
                    scope="repo",
                    action="update",
                    payload=f'{{"n": {i}}}',
                    state="pending",
                    attempts=0,
                    next_attempt_ms=0,
                    created_at=now(),
                )
            )
    claimed: list[int] = []
    lock = threading.Lock()

    def sender(w: Webhooks) -> None:
        while True:
            jobs = w.claim_due(4, 60_000)
            if not jobs:
                return
            with lock:
                claimed.extend(j.id for j in jobs)

    threads = [threading.Thread(target=sender, args=(hooks[i % 2],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(claimed) == n and len(set(claimed)) == n, f"{len(claimed) - len(set(claimed))} claimed twice"
    assert hooks[1].claim_due(16, 60_000) == []  # all leased
