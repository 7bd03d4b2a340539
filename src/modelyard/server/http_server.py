"""What every HTTP server we run shares: its uvicorn configuration and the Date header.

uvicorn's own Date header is refreshed by a once-a-second timer and can lag a second or more behind the clock.
huggingface_hub's `fetch_space_logs` (no follow) stops reading at the first log line newer than Date + 1 s, so a
stale Date cut off the last lines of a build that had just failed. Our servers run with uvicorn's Date off
(`server_config`) and RequestIdMiddleware stamps `http_date()` on every response."""

from __future__ import annotations

import time
from email.utils import formatdate
from typing import Any

_cache: tuple[int, bytes] = (0, b"")


def http_date() -> bytes:
    """The Date header value for a response sent now."""
    global _cache
    second = int(time.time())
    if _cache[0] != second:
        _cache = (second, formatdate(second, usegmt=True).encode())
    return _cache[1]


def server_config(app: Any, **options: Any) -> Any:
    """The uvicorn.Config of every server we run (hub, Spaces origin, inference, test servers, benches)."""
    import uvicorn

    return uvicorn.Config(app, date_header=False, **options)
