"""Discussions and pull requests (minimal: create, list, details, comment, status, title)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from modelyard.server.api._common import json_response, services
from modelyard.server.routing import Router


def register(r: Router) -> None:  # filled in by the discussions module
    _ = (Request, Response, json_response, services, Any)
