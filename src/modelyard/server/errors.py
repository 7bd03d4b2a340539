"""The single HubError -> HTTP mapping: status, X-Error-Code, X-Error-Message, X-Request-Id, JSON body."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from modelyard.errors import HubError, Overloaded, RepoExists, Unavailable

log = logging.getLogger("modelyard.server")


def header_safe(message: str) -> str:
    one_line = " ".join(message.split())
    return one_line.encode("latin-1", errors="replace").decode("latin-1")[:1000]


def request_id(request: Request) -> str:
    rid = (
        request.scope.get("state", {}).get("request_id")
        if isinstance(request.scope.get("state"), dict)
        else None
    )
    if not rid:
        rid = getattr(request.state, "request_id", None) or str(uuid.uuid4())
    return str(rid)


def error_response(request: Request, exc: HubError) -> Response:
    body: dict[str, Any] = {"error": exc.message}
    headers = {
        "X-Error-Code": exc.code,
        "X-Error-Message": header_safe(exc.message),
        "X-Request-Id": request_id(request),
    }
    if isinstance(exc, RepoExists):
        url = exc.extra.get("url")
        if url:
            body["url"] = url
    if isinstance(exc, Overloaded) and "retry_after" in exc.extra:
        headers["Retry-After"] = str(exc.extra["retry_after"])
    if isinstance(exc, Unavailable) and "estimated_time" in exc.extra:
        body["estimated_time"] = exc.extra["estimated_time"]
    repo_commit = exc.extra.get("repo_commit")
    if repo_commit:
        headers["X-Repo-Commit"] = str(repo_commit)
    if exc.status >= 500:
        log.error("%s %s -> %s %s", request.method, request.url.path, exc.status, exc.message)
    if request.method == "HEAD":
        return Response(status_code=exc.status, headers=headers)
    return Response(json.dumps(body), status_code=exc.status, headers=headers, media_type="application/json")
