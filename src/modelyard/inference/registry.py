"""The endpoint registry: endpoint definitions in the hub's database (table ``inference_endpoints``, migration 0020).

Every hub replica reads the same rows, so an endpoint created on one replica is listed and served by all of them
(each loads it on demand with its own backend). A row holds the configuration (``EndpointConfig`` as JSON) and
whether the endpoint is paused; the loaded state stays per replica. The name is the primary key: two replicas
creating the same name at once get one row and one ``EndpointExists``.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from modelyard.db import Database
from modelyard.db.schema import inference_endpoints as t
from modelyard.inference.config import EndpointConfig

log = logging.getLogger("modelyard.inference")


@dataclass(frozen=True)
class EndpointRow:
    config: EndpointConfig
    paused: bool
    created_at: float
    updated_at: float


def _row(r: object) -> EndpointRow | None:
    try:
        config = EndpointConfig.from_dict(json.loads(r.config))  # type: ignore[attr-defined]
    except Exception:  # a row written by a newer version, or damaged: skipped, never fatal
        log.warning("endpoint registry: unreadable row %r skipped", getattr(r, "name", "?"))
        return None
    return EndpointRow(config, bool(r.paused), float(r.created_at), float(r.updated_at))  # type: ignore[attr-defined]


class EndpointRegistry:
    def __init__(self, db: Database) -> None:
        self.db = db

    def all(self) -> list[EndpointRow]:
        with self.db.read() as conn:
            rows = conn.execute(select(t)).all()
        return [row for row in map(_row, rows) if row is not None]

    def get(self, name: str) -> EndpointRow | None:
        with self.db.read() as conn:
            r = conn.execute(select(t).where(t.c.name == name)).first()
        return None if r is None else _row(r)

    def insert(
        self, config: EndpointConfig, *, paused: bool = False, created_at: float | None = None
    ) -> bool:
        """Add a definition; False if the name is taken."""
        stamp = time.time()
        try:
            with self.db.transaction() as conn:
                conn.execute(
                    insert(t).values(
                        name=config.name,
                        config=json.dumps(config.to_dict()),
                        paused=paused,
                        created_at=created_at if created_at is not None else stamp,
                        updated_at=stamp,
                    )
                )
        except IntegrityError:
            return False
        return True

    def update(self, config: EndpointConfig, *, paused: bool) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                update(t)
                .where(t.c.name == config.name)
                .values(config=json.dumps(config.to_dict()), paused=paused, updated_at=time.time())
            )

    def delete(self, name: str) -> bool:
        with self.db.transaction() as conn:
            return bool(conn.execute(delete(t).where(t.c.name == name)).rowcount)

    def import_state_file(self, path: Path) -> int:
        """Import the JSON state file of an older hub (``{"endpoints": [{"config": ..., "paused": ...}]}``) once:
        definitions whose name is free are added, then the file is renamed ``<name>.imported``."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            log.warning("endpoint registry: %s not imported: %s", path, exc)
            return 0
        added = 0
        for item in data.get("endpoints", []) if isinstance(data, dict) else []:
            try:
                config = EndpointConfig.from_dict(item["config"])
            except Exception:
                log.warning("endpoint registry: an endpoint of %s is invalid: skipped", path)
                continue
            added += self.insert(config, paused=bool(item.get("paused")))
        path.replace(path.with_name(path.name + ".imported"))
        log.info("endpoint registry: imported %d endpoint(s) from %s", added, path)
        return added
