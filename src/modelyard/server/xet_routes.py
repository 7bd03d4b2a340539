"""Helpers for the two Hub routes that hand out CAS tokens, and the Xet headers of ``resolve`` responses.

Wire contract (hub-protocol.md §5.6 / §6.5):

* ``GET /api/{type}s/{repo}/xet-write-token/{rev}`` (``rev`` may be the literal ``None`` with ``?create_pr=1``) and
  ``GET /api/{type}s/{repo}/xet-read-token/{rev}``: 200 with the JSON body
  ``{"accessToken", "exp", "casUrl"}`` (read by hf_xet's token refresher) **and** the headers
  ``X-Xet-Cas-Url``, ``X-Xet-Access-Token``, ``X-Xet-Token-Expiration`` (read by huggingface_hub).
* ``HEAD /…/resolve/{rev}/{path}`` of a Xet-stored file: ``X-Xet-Hash`` plus a ``Link: <refresh>; rel="xet-auth"``
  (``X-Xet-Refresh-Route`` is accepted too) and ``X-Linked-Size``.

The hub does authentication and permission checks itself, then calls these.
"""

from __future__ import annotations

from starlette.responses import JSONResponse

from modelyard.xet.auth import Scope
from modelyard.xet.service import XetService


def xet_token_payload(cas_url: str, token: str, exp: int) -> tuple[dict[str, object], dict[str, str]]:
    """``(json_body, headers)`` of a token-endpoint answer."""
    body: dict[str, object] = {"accessToken": token, "exp": exp, "casUrl": cas_url}
    headers = {"X-Xet-Cas-Url": cas_url, "X-Xet-Access-Token": token, "X-Xet-Token-Expiration": str(exp)}
    return body, headers


def xet_token_response(
    service: XetService,
    repo_key: str,
    scope: Scope,
    cas_url: str,
    repo_id: int | None = None,
    user_id: int | None = None,
) -> JSONResponse:
    """Issue a token for an already-authorised caller and build the 200 response (``repo_id`` binds it, ``user_id``
    is the caller: a gated repo's reconstructions check that user's access at each read)."""
    token, exp = service.issue_token(repo_key, scope, repo_id, user_id)
    body, headers = xet_token_payload(cas_url, token, exp)
    return JSONResponse(body, headers=headers)


def xet_refresh_route(base_url: str, repo_type: str, repo_id: str, revision: str) -> str:
    """Absolute read-token URL for ``Link: …; rel="xet-auth"`` (``revision`` already percent-encoded)."""
    return f"{base_url.rstrip('/')}/api/{repo_type}s/{repo_id}/xet-read-token/{revision}"


def xet_resolve_headers(xet_hash: str, refresh_route: str) -> dict[str, str]:
    """Headers that make a Xet-enabled client download a resolved file through the CAS.

    Merge ``Link`` with any other Link value the response already carries (comma-separated).
    """
    return {
        "X-Xet-Hash": xet_hash,
        "X-Xet-Refresh-Route": refresh_route,
        "Link": f'<{refresh_route}>; rel="xet-auth"',
    }
