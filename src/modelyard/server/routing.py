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

Handler = Callable[..., Any]

REV = r"(?P<rev>refs/pr/\d+|refs/convert/[^/]+|[^/]+)"
REPO = r"(?P<ns>[^/]+)/(?P<name>[^/]+)"
TYPES = r"(?P<type>models|datasets|spaces)"


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


async def call(handler: Handler, request: Request, params: dict[str, str]) -> Response:
    if inspect.iscoroutinefunction(handler):
        result: Awaitable[Response] = handler(request, **params)
        return await result
    return await run_in_threadpool(handler, request, **params)  # type: ignore[no-any-return]
