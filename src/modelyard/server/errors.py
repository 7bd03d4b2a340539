"""The one error edge of every front (HF API, web pages, Xet CAS, inference endpoints).

* `error_response`: HubError -> status, X-Error-Code, X-Error-Message, X-Request-Id and a JSON body
  `{"error": message}` (an HTML page for the web UI).
* `EXCEPTION_HANDLERS`: give it to every Starlette app (`Starlette(exception_handlers=EXCEPTION_HANDLERS)`), so
  HubErrors, routing errors (404/405) and unexpected exceptions (500 "Internal server error") of mounted
  sub-apps get the same format.
* `RequestIdMiddleware`: wraps the whole server; reuses a sane incoming X-Request-Id or makes one, stamps it on
  every response on the way out and logs unexpected exceptions with it.
"""

from __future__ import annotations

import json
import logging
import math
import re
import uuid
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelyard.errors import HubError, RepoExists
from modelyard.server.http_server import http_date

log = logging.getLogger("modelyard.server")

INTERNAL_ERROR = "Internal server error; see the server log"
_SANE_ID = re.compile(r"[A-Za-z0-9._:;=/+@-]{1,128}")


_HEADER_UNSAFE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def header_safe(message: str) -> str:
    one_line = " ".join(message.split())
    safe = one_line.encode("latin-1", errors="replace").decode("latin-1")[:1000]
    return _HEADER_UNSAFE.sub("?", safe)  # NUL, other controls, DEL: servers refuse them (no response at all)


def request_id(request: Request) -> str:
    state = request.scope.get("state")
    rid = state.get("request_id") if isinstance(state, dict) else None
    if not rid:
        rid = getattr(request.state, "request_id", None) or new_request_id()
    return str(rid)


def new_request_id() -> str:
    return uuid.uuid4().hex


def sane_request_id(value: bytes | None) -> str | None:
    """An incoming X-Request-Id we may reuse (and reflect): 1-128 characters from a small safe set."""
    if not value:
        return None
    text = value.decode("latin-1")
    return text if _SANE_ID.fullmatch(text) else None


#: The Hub's own texts for the not-found errors clients show (huggingface_hub puts X-Error-Message in its exceptions).
#: They name nothing, so a private repo's or file's name is never echoed back. An error raised with ``exact=True``
#: already carries the Hub's own text for its case (e.g. deleting a missing file in a commit) and keeps it.
HUB_TEXTS = {
    "RepoNotFound": "Repository not found",
    "RevisionNotFound": "Revision not found",
    "EntryNotFound": "Entry not found",
}


def error_response(
    request: Request,
    exc: HubError,
    *,
    status: int | None = None,
    html: str | None = None,
    plain: bool = False,
    lfs: bool = False,
) -> Response:
    """The one HubError -> HTTP mapping. `html` (a rendered page, for the web UI) replaces the JSON body;
    `plain` answers the message as text/plain (git shows such a body to its user as ``remote: …``); `lfs` adds
    the message as ``message`` too (what git-lfs prints);
    `status` overrides the error's own (the web hides 401/403 on repos behind 404)."""
    code = status or exc.status
    message = exc.message if exc.extra.get("exact") else HUB_TEXTS.get(exc.code, exc.message)
    body: dict[str, Any] = {"error": message}
    if lfs:
        body["message"] = message
    headers = {
        "X-Error-Code": exc.code,
        "X-Error-Message": header_safe(message),
        "X-Request-Id": request_id(request),
    }
    if isinstance(exc, RepoExists):
        url = exc.extra.get("url")
        if url:
            body["url"] = url
    if "retry_after" in exc.extra:
        headers["Retry-After"] = str(max(1, math.ceil(float(exc.extra["retry_after"]))))
    for key in ("estimated_time", "error_type", "slug"):  # HF Inference API / TGI fields; a collection's 409
        if isinstance(exc.extra.get(key), str | int | float):
            body[key] = exc.extra[key]
    repo_commit = exc.extra.get("repo_commit")
    if repo_commit:
        headers["X-Repo-Commit"] = str(repo_commit)
    if code >= 500:
        log.error(
            "%s %s -> %s %s (request %s)",
            request.method,
            request.url.path,
            code,
            exc.message,
            headers["X-Request-Id"],
        )
    if request.method == "HEAD":
        return Response(status_code=code, headers=headers)
    if html is not None:
        return HTMLResponse(html, status_code=code, headers=headers)
    if plain:
        return Response(message + "\n", status_code=code, headers=headers, media_type="text/plain")
    return Response(json.dumps(body), status_code=code, headers=headers, media_type="application/json")


#: the challenge git and git-lfs answer by asking their credential helpers (or the user) for a user name and token
BASIC_CHALLENGE = 'Basic realm="ModelYard", charset="UTF-8"'


def ask_credentials(response: Response) -> Response:
    """Make a 401 ask a Basic-auth client (git: WWW-Authenticate, git-lfs: LFS-Authenticate) for credentials."""
    response.headers["WWW-Authenticate"] = BASIC_CHALLENGE
    response.headers["LFS-Authenticate"] = BASIC_CHALLENGE
    return response


class HttpError(HubError):
    """A routing-level error (unknown path, wrong method) in the Hub's format."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = {404: "NotFound", 405: "MethodNotAllowed", 413: "TooLarge"}.get(status, "Error")


def internal_error(request: Request, exc: BaseException) -> Response:
    """An unexpected exception: logged with its request id, answered 500 without details."""
    rid = request_id(request)
    log.error("Unhandled error on %s %s (request %s)", request.method, request.url.path, rid, exc_info=exc)
    return error_response(request, HubError(INTERNAL_ERROR))


async def _hub_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HubError)
    return error_response(request, exc)


async def _http_exception_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    if status < 400:
        return Response(status_code=status, headers=exc.headers)
    message = str(exc.detail) if exc.detail else HTTPStatus(status).phrase
    response = error_response(request, HttpError(status, message))
    for key, value in (exc.headers or {}).items():
        response.headers.setdefault(key, value)
    return response


async def _unexpected_handler(request: Request, exc: Exception) -> Response:
    # Starlette's ServerErrorMiddleware sends this, then re-raises: RequestIdMiddleware logs the traceback.
    return error_response(request, HubError(INTERNAL_ERROR))


EXCEPTION_HANDLERS: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
    HubError: _hub_error_handler,
    HTTPException: _http_exception_handler,
    Exception: _unexpected_handler,
}


class RequestIdMiddleware:
    """Outermost middleware: a request id for every request (a sane incoming X-Request-Id is reused), stamped on
    every response with the Date (unless the app set one, e.g. a proxied Space); unexpected exceptions are logged
    with it and answered 500 in the Hub's format."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = [v for k, v in scope.get("headers") or [] if k == b"x-request-id"]
        rid = sane_request_id(incoming[0] if incoming else None) or new_request_id()
        scope.setdefault("state", {})["request_id"] = rid
        stamp = (b"x-request-id", rid.encode("latin-1"))
        progress = {"started": False, "done": False}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                progress["started"] = True
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                if not any(k.lower() == b"date" for k, _ in headers):
                    headers.append((b"date", http_date()))
                message = {**message, "headers": [*headers, stamp]}
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                progress["done"] = True
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            request = Request(scope)
            if progress["started"]:
                log.error(
                    "Unhandled error on %s %s (request %s)",
                    request.method,
                    request.url.path,
                    rid,
                    exc_info=exc,
                )
                if not progress["done"]:
                    raise  # the server closes the connection of a half-sent response
                return
            await internal_error(request, exc)(scope, receive, send_with_id)
