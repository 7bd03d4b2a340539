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
    who = principal(request)
    if kind == "write":
        create_pr = qbool(request.query_params.get("create_pr"))
        svc.repos.check_push(who, repo, None if create_pr else rev, create_pr)
    else:  # a read token opens the repo's file bytes: the gate of a gated repo
        svc.repos.check_download(repo, who)
    scope: Scope = "write" if kind == "write" else "read"
    # bound to the caller too: the CAS re-checks a gated repo's access at each reconstruction
    user_id = who.account.id if who is not None else None
    return xet_token_response(svc.xet, repo.key, scope, cas_url(request), repo_id=repo.id, user_id=user_id)


def telemetry(request: Request) -> Response:
    return json_response({})


def register(r: Router) -> None:
    r.add("GET", rf"/api/{TYPES}/{REPO}/xet-(?P<kind>read|write)-token/{REV}", token)
    r.add("POST", r"/v1/telemetry", telemetry)
