"""Shared helpers for API routes: caller identity, repo lookup, base URL, JSON responses."""

from __future__ import annotations

import hmac
import json
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from modelyard import jsonlimits
from modelyard.errors import BadRequest, HubError, RepoNotFound
from modelyard.hub.accounts import Principal
from modelyard.hub.repos import Repo, can_read
from modelyard.server.context import LOGIN_COOKIE, cookie_principal, current_session
from modelyard.server.context import base_url as base_url
from modelyard.server.context import services as services
from modelyard.types import RepoType

TYPE_FROM_PLURAL = {"models": RepoType.MODEL, "datasets": RepoType.DATASET, "spaces": RepoType.SPACE}


def bearer(request: Request) -> str | None:
    h = request.headers.get("authorization")
    if not h:
        return None
    scheme, _, value = h.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":  # git clients: user:token
        import base64
        import binascii

        try:
            _, _, pw = base64.b64decode(value).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return pw or None
    return None


CSRF_HEADER = "x-csrf-token"


def principal(request: Request) -> Principal | None:
    """The caller: its Bearer (or git Basic) token; else, for the web UI's own scripts, the browser's web session,
    but only with the session's CSRF secret in `X-CSRF-Token` (a header no cross-site form can send, and no
    cross-origin script may set without a CORS preflight we never grant). A wrong header counts as anonymous."""
    cached = request.scope.get("modelyard.principal", ...)
    if cached is not ...:
        return cached  # type: ignore[no-any-return]
    token = bearer(request)
    if token is None and request.headers.get(CSRF_HEADER) and request.cookies.get(LOGIN_COOKIE):
        who = _session_principal(request)
    else:
        who = services(request).accounts.authenticate(token)
    request.scope["modelyard.principal"] = who
    return who


def _session_principal(request: Request) -> Principal | None:
    session = current_session(request)
    sent = request.headers.get(CSRF_HEADER, "")
    if session is None or not hmac.compare_digest(sent.encode(), session.csrf_secret.encode()):
        return None
    return session.principal


def download_principal(request: Request) -> Principal | None:
    """Like `principal`, but a browser without a Bearer header may use its web session cookie (file downloads only,
    so links on the pages of private repos work); an unknown, expired or revoked session downloads anonymously."""
    if request.headers.get("authorization") or not request.cookies.get(LOGIN_COOKIE):
        return principal(request)
    who = cookie_principal(request)
    request.scope["modelyard.principal"] = who
    return who


def next_link(request: Request, **cursor: int) -> dict[str, str]:
    """A `Link: <absolute URL>; rel="next"` header: the same path (raw, still percent-encoded) and query, with
    the cursor parameters replaced. The client follows it verbatim, so it carries every filter."""
    params = [
        (k, v)
        for k, v in request.query_params.multi_items()
        if k not in cursor and k not in {"p", "offset", "cursor"}
    ]
    params += [(k, str(v)) for k, v in cursor.items()]
    raw = request.scope.get("raw_path", b"").decode("latin-1").split("?", 1)[0] or request.url.path
    return {"Link": f'<{base_url(request)}{raw}?{urlencode(params)}>; rel="next"'}


def repo_url(request: Request, repo: Repo) -> str:
    return f"{base_url(request)}/{repo.type.url_prefix}{repo.id_str}"


def repo_type(params_type: str | None) -> RepoType:
    return TYPE_FROM_PLURAL.get(params_type or "models", RepoType.MODEL)


def parse_repo_type(value: object) -> RepoType:
    """A repo type from a request body ('model', 'datasets', ...); BadRequest when invalid."""
    if value is not None and not isinstance(value, str):
        raise BadRequest(f"Invalid repo type {value!r}: expected model, dataset or space")
    try:
        return RepoType.parse(value)
    except ValueError as e:
        raise BadRequest(str(e)) from None


def get_repo(request: Request, type: str | None, ns: str, name: str) -> Repo:
    return services(request).repos.get(repo_type(type), ns, name, principal(request))


def moved_to(request: Request, rtype: RepoType, ns: str, name: str, who: Principal | None) -> Repo | None:
    """Where a renamed or moved repo went, if the caller may read it there (else None: no hint of where it went).
    Blocking (a database read)."""
    target = services(request).repos.redirect_target(rtype, ns, name)
    return target if target is not None and can_read(target, who) else None


def needs_credentials(exc: HubError, who: Principal | None) -> bool:
    """An anonymous caller refused a repo it may not see, or an action that needs an account: clients that speak
    Basic auth (git, git-lfs) get 401 with `server.errors.ask_credentials`, so they ask for a user and token."""
    return who is None and (exc.status == 401 or isinstance(exc, RepoNotFound))


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(data), status_code=status, media_type="application/json", headers=headers)


def parse_json(raw: bytes, max_bytes: int, max_depth: int) -> Any:
    """A JSON request body ({} when empty) through the one limited decoder (413 too big, 400 too deep, 422 bad)."""
    if not raw:
        return {}
    return jsonlimits.loads(raw, max_bytes=max_bytes, max_depth=max_depth)


def sync_json_body(request: Request) -> Any:
    """The JSON body of a sync handler (the dispatcher read it into the scope before the threadpool call)."""
    st = services(request).settings
    return parse_json(request.scope.get("modelyard.body", b""), st.max_json_body, st.max_json_depth)


def qbool(value: str | None, default: bool = False) -> bool:
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}
