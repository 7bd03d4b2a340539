"""PostgreSQL for the tests (issue 17): a throw-away cluster from Debian's binaries, one database per hub.

Owned by the PostgreSQL helper. API the other test modules use:
- ``start_cluster(tmp: Path) -> PgCluster | None`` (None: not installed); ``PgCluster.url`` (the maintenance
  database ``postgres``), ``PgCluster.create_database(name) -> url`` (``postgresql+psycopg://...``),
  ``PgCluster.stop()``.
- ``database_overrides(data_dir: Path) -> dict[str, Any]``: Settings overrides for one hub, ``{}`` unless the
  suite runs on PostgreSQL (``MODELYARD_TEST_DB=postgres``), then ``{"database_url": <a fresh database>}`` in
  one cluster started on first use and stopped when the interpreter exits.
- fixtures (registered by tests/conftest.py): ``pg_cluster`` (session; the same cluster; skips when PostgreSQL
  is missing) and ``postgres_url`` (session; a database ``modelyard`` in it, for tests/db).

The cluster: ``initdb`` (as the ``postgres`` user when the tests run as root: initdb refuses root), trust auth
on 127.0.0.1 and a socket in its own directory, fsync and synchronous_commit off, a free port.
"""

from __future__ import annotations

import atexit
import itertools
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ENV = "MODELYARD_TEST_DB"  # "postgres": every hub the tests start uses a fresh PostgreSQL database


def pg_bin() -> Path | None:
    """The newest installed PostgreSQL's bin directory (Debian layout), or None."""
    root = Path("/usr/lib/postgresql")
    if not root.is_dir():
        return None
    versions = sorted(
        (p for p in root.iterdir() if p.name.isdigit() and (p / "bin" / "initdb").exists()),
        key=lambda p: int(p.name),
    )
    return versions[-1] / "bin" if versions else None


def _as_postgres(cmd: list[str]) -> list[str]:
    if os.geteuid() == 0:  # initdb refuses to run as root
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


def _usable_by_postgres(path: Path) -> bool:
    if os.geteuid() != 0:
        return True
    r = subprocess.run(_as_postgres(["test", "-x", str(path)]), capture_output=True)
    return r.returncode == 0


@dataclass
class PgCluster:
    """A running throw-away cluster: superuser ``postgres``, no password, on 127.0.0.1:port."""

    bin: Path
    root: Path  # holds data/, the socket and the log; removed by stop()
    port: int
    _stopped: bool = False

    @property
    def url(self) -> str:
        return self.database_url("postgres")

    def database_url(self, name: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def create_database(self, name: str) -> str:
        """CREATE DATABASE `name` (letters, digits, _) and return its SQLAlchemy URL."""
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
            raise ValueError(f"not a plain database name: {name!r}")
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"'.encode())
        return self.database_url(name)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        subprocess.run(
            _as_postgres(
                [str(self.bin / "pg_ctl"), "-D", str(self.root / "data"), "-m", "immediate", "stop"]
            ),
            capture_output=True,
        )
        shutil.rmtree(self.root, ignore_errors=True)


def start_cluster(tmp: Path) -> PgCluster | None:
    """initdb + start a cluster in a new directory under `tmp` (under the system temp dir when the ``postgres``
    user cannot reach `tmp`, e.g. pytest's 0700 tmp dirs when running as root). None if not installed."""
    pg = pg_bin()
    if pg is None:
        return None
    tmp.mkdir(parents=True, exist_ok=True)
    base = tmp if _usable_by_postgres(tmp) else Path(tempfile.gettempdir())
    root = Path(tempfile.mkdtemp(prefix="modelyard-pg-", dir=base))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = root / "data"
    try:
        subprocess.run(
            _as_postgres(
                [str(pg / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8"]
            ),
            check=True,
            capture_output=True,
        )
        # every hub a test starts keeps a small pool open until the session ends: room for many connections
        opts = (
            f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off -c max_connections=600 -c shared_buffers=32MB"
        )
        subprocess.run(
            _as_postgres(
                [str(pg / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(root / "log"), "-w", "start"]
            ),
            check=True,
            capture_output=True,
        )
    except subprocess.CalledProcessError as e:
        log = (root / "log").read_text(errors="replace") if (root / "log").exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"PostgreSQL did not start: {e.stderr!r} {log}") from e
    return PgCluster(bin=pg, root=root, port=port)


# --- one cluster for the whole test session -------------------------------------------------------------------
_lock = threading.Lock()
_session: PgCluster | None = None
_names = itertools.count(1)


def session_cluster() -> PgCluster | None:
    """The session's cluster, started on first use (stopped when the interpreter exits); None if not installed."""
    global _session
    with _lock:
        if _session is None:
            if pg_bin() is None:
                return None
            _session = start_cluster(Path(tempfile.gettempdir()))
            if _session is not None:
                atexit.register(_session.stop)
        return _session


def new_database(prefix: str = "hub") -> str:
    """A fresh, empty database in the session cluster; its URL."""
    cluster = session_cluster()
    if cluster is None:
        raise RuntimeError(f"{ENV}=postgres but PostgreSQL is not installed (apt-get install postgresql)")
    return cluster.create_database(f"{prefix}_{os.getpid()}_{next(_names)}")


def on_postgres() -> bool:
    """Whether this test run puts the hubs on PostgreSQL (``MODELYARD_TEST_DB=postgres``)."""
    return os.environ.get(ENV, "").lower() in ("postgres", "postgresql")


def database_overrides(data_dir: Path) -> dict[str, Any]:
    if not on_postgres():
        return {}
    return {"database_url": new_database()}


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    cluster = session_cluster()
    if cluster is None:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    yield cluster  # stopped at interpreter exit: hubs of other session fixtures may still use it


@pytest.fixture(scope="session")
def postgres_url(pg_cluster: PgCluster) -> str:
    """A database ``modelyard`` of the session cluster (tests/db)."""
    return pg_cluster.create_database("modelyard")
