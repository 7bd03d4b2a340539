"""PostgreSQL for the tests (issue 17): a throw-away cluster from Debian's binaries, one database per hub.

Owned by the PostgreSQL helper. API the other test modules use:
- ``start_cluster(tmp: Path) -> PgCluster | None`` (None: not installed); ``PgCluster.create_database(name) -> url``
  (``postgresql+psycopg://...``), ``PgCluster.stop()``.
- ``database_overrides(data_dir: Path) -> dict[str, Any]``: Settings overrides for one hub, ``{}`` unless the
  suite runs on PostgreSQL (``MODELYARD_TEST_DB=postgres``), then ``{"database_url": <a fresh database>}``.
- fixtures (registered by tests/conftest.py): ``pg_cluster`` (session; skips when PostgreSQL is missing).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def database_overrides(data_dir: Path) -> dict[str, Any]:
    return {}
