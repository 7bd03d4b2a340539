"""A small router on the *raw* request path: revisions and sub-paths arrive percent-encoded (refs%2Fpr%2F1)."""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from modelyard.db import CacheMiss, cache_only

Handler = Callable[..., Any]

REV = r"(?P<rev>refs/pr/\d+|refs/convert/[^/]+|[^/]+)"
REPO = r"(?P<ns>[^/]+)/(?P<name>[^/]+)"
TYPES = r"(?P<type>models|datasets|spaces)"

# A repo id without a namespace ("gpt2"): the Hub answers RepoNotFound on its repo routes, so the clients raise
# RepositoryNotFoundError (not a generic 404 or 405). Checked only when no route matched.
_REPO_ACTIONS = (
    "revision|tree|treesize|paths-info|refs|commits|commit|compare|branch|tag|super-squash|lfs-files|discussions"
    "|like|likers|settings|auth-check|xet-read-token|xet-write-token|preupload|resolve|parquet|scan|access-requests"
    "|user-access-request"
)
NO_NAMESPACE = re.compile(
    rf"^/api/{TYPES}/[^/]+(?:/(?:{_REPO_ACTIONS})(?:/.*)?)?/?$"
    r"|^/(?:(?:datasets|spaces)/)?[^/]+/(?:resolve|raw)/[^/]+/.+$"
)


@dataclass(frozen=True)
class Route:
    methods: frozenset[str]
    regex: re.Pattern[str]
    handler: Handler


class Router:
    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, methods: str, pattern: str, handler: Handler) -> None:
        ms = frozenset(m.strip().upper() for m in methods.split(","))
        if "GET" in ms:
            ms = ms | {"HEAD"}
        self.routes.append(Route(ms, re.compile("^" + pattern + "$"), handler))

    def match(self, method: str, raw_path: str) -> tuple[Route | None, dict[str, str], bool]:
        """(route, params, path_matched_other_method)."""
        other = False
        for r in self.routes:
            m = r.regex.match(raw_path)
            if m is None:
                continue
            if method not in r.methods:
                other = True
                continue
            params = {k: unquote(v) for k, v in m.groupdict().items() if v is not None}
            return r, params, other
        return None, {}, other


def inline_when_cached(handler: Handler) -> Handler:
    """Marks a sync read handler that may run on the event loop when every row it reads is cached (db/cache.py):
    it must have no side effect before its last database read and do no other blocking I/O."""
    handler.modelyard_inline = True  # type: ignore[attr-defined]
    return handler


def try_cached(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[bool, Any]:
    """(True, fn(...)) when fn found every row it needed in the caches, else (False, None): run it in a thread."""
    with cache_only():
        try:
            return True, fn(*args, **kwargs)
        except CacheMiss:
            return False, None


async def call(handler: Handler, request: Request, params: dict[str, str]) -> Response:
    if inspect.iscoroutinefunction(handler):
        result: Awaitable[Response] = handler(request, **params)
        return await result
    if getattr(handler, "modelyard_inline", False) and request.method in ("GET", "HEAD"):
        done, response = try_cached(handler, request, **params)  # no thread hop: model_info and the like
        if done:
            return response  # type: ignore[no-any-return]
    return await run_in_threadpool(handler, request, **params)  # type: ignore[no-any-return]
