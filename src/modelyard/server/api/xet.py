"""Xet token endpoints (the CAS itself is mounted at /xet-cas) and hf_xet's telemetry sink."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from modelyard.server.api._common import base_url, get_repo, json_response, principal, qbool, services
from modelyard.server.routing import REPO, REV, TYPES, Router
from modelyard.server.xet_routes import xet_token_response
from modelyard.xet.auth import Scope

CAS_PREFIX = "/xet-cas"


def cas_url(request: Request) -> str:
    return base_url(request) + CAS_PREFIX


def token(request: Request, type: str, ns: str, name: str, kind: str, rev: str) -> Response:
    svc = services(request)
    repo = get_repo(request, type, ns, name)
    if kind == "write":
        create_pr = qbool(request.query_params.get("create_pr"))
        svc.repos.check_push(principal(request), repo, None if create_pr else rev, create_pr)
    scope: Scope = "write" if kind == "write" else "read"
    return xet_token_response(svc.xet, repo.key, scope, cas_url(request), repo_id=repo.id)


def telemetry(request: Request) -> Response:
    return json_response({})


def register(r: Router) -> None:
    r.add("GET", rf"/api/{TYPES}/{REPO}/xet-(?P<kind>read|write)-token/{REV}", token)
    r.add("POST", r"/v1/telemetry", telemetry)
