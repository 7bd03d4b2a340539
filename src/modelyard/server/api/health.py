"""GET /health (JSON) and GET /metrics (Prometheus text): is the hub up, can it read its database, how much
room is left for uploads. Aggregates only: no repo, user or endpoint names (those live, filtered by what the
caller may see, under /endpoints/-/metrics).
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response

from modelyard.server import raw_body
from modelyard.server.api._common import json_response, services
from modelyard.server.routing import Router
from modelyard.server.services import Services
from modelyard.storage import DiskSpace, disk_space, refused_counts

log = logging.getLogger("modelyard.server")
_NO_STORE = {"Cache-Control": "no-store"}


def _database_ok(svc: Services) -> bool:
    try:
        with svc.db.read() as conn:
            conn.exec_driver_sql("SELECT 1").fetchone()
        return True
    except Exception:  # any failure to read means "not healthy": say so, log why
        log.exception("health check: the database cannot be read")
        return False


def _space(svc: Services) -> DiskSpace | bool | None:
    """The store's free space; True for a store with no space limit the hub can see (no `Capacity`); None if
    the store cannot be asked."""
    try:
        space = disk_space(svc.store)
    except OSError:
        log.exception("health check: cannot stat the blob store")
        return None
    return True if space is None else space


def health(request: Request) -> Response:
    """200 while the hub can serve reads ("degraded" when uploads are refused for space), 503 if it cannot."""
    svc = services(request)
    db_ok = _database_ok(svc)
    space = _space(svc)
    room = space is True or (isinstance(space, DiskSpace) and space.free >= space.reserve)
    status = "ok" if db_ok and room else "degraded" if db_ok else "error"
    body: dict[str, object] = {"status": status, "database": {"ok": db_ok}}
    if isinstance(space, DiskSpace):
        body["disk"] = {
            "free_bytes": space.free,
            "total_bytes": space.total,
            "reserve_bytes": space.reserve,
            "uploads_accepted": room,
        }
    return json_response(body, 200 if db_ok else 503, headers=_NO_STORE)


def _metric(lines: list[str], name: str, kind: str, help_: str, samples: list[tuple[str, float]]) -> None:
    lines += [f"# HELP {name} {help_}", f"# TYPE {name} {kind}"]
    lines += [
        f"{name}{labels} {int(value) if float(value).is_integer() else value}" for labels, value in samples
    ]


def metrics(request: Request) -> Response:
    svc = services(request)
    lines: list[str] = []
    _metric(lines, "modelyard_up", "gauge", "1 while the hub answers.", [("", 1)])
    _metric(
        lines, "modelyard_database_up", "gauge", "1 if the database can be read.", [("", _database_ok(svc))]
    )
    space = _space(svc)
    if isinstance(space, DiskSpace):
        for name, value, help_ in (
            ("free", space.free, "Bytes free for uploads on the blob store's filesystem."),
            ("total", space.total, "Size of the blob store's filesystem, in bytes."),
            ("reserve", space.reserve, "Free bytes kept in reserve: uploads that would use them get 507."),
        ):
            _metric(lines, f"modelyard_disk_{name}_bytes", "gauge", help_, [("", value)])
    refused = refused_counts(svc.store)
    _metric(
        lines,
        "modelyard_uploads_refused_total",
        "counter",
        "Uploads answered 507: free space under the reserve, or the disk filled up during the upload.",
        [('{reason="reserve"}', refused.get("reserve", 0)), ('{reason="disk_full"}', refused.get("full", 0))],
    )
    _metric(
        lines,
        "modelyard_upload_bodies_total",
        "counter",
        "Large upload bodies (LFS PUT and parts) by how they were read: straight from the socket in a reader "
        "thread, or through ASGI messages when every reader thread was busy.",
        [(f'{{path="{path}"}}', n) for path, n in raw_body.counts.items()],
    )
    return Response(
        "\n".join(lines) + "\n", media_type="text/plain; version=0.0.4; charset=utf-8", headers=_NO_STORE
    )


def register(r: Router) -> None:
    r.add("GET", r"/health", health)
    r.add("GET", r"/metrics", metrics)
