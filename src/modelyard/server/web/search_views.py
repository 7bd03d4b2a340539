"""One search over the hub: /search?q=... shows the top models, datasets and spaces whose id contains the words,
and the users and organisations whose name or full name contains them, each with a "see all" link into the
listings (/models?search=q, ...). Only what the viewer may read is listed (hub.search applies `can_read`'s rule
in SQL); accounts are public, their private repos are not."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from modelyard.hub.accounts import Account
from modelyard.hub.search import Query
from modelyard.server.web.render import Pages, services, web_principal
from modelyard.server.web.views import TYPES

TOP_HITS = 6
MAX_QUERY = 200


def search_page(pages: Pages, request: Request) -> Response:
    q = (request.query_params.get("q") or "").strip()[:MAX_QUERY]
    svc = services(request)
    who = web_principal(request)
    sections = []
    people: list[Account] = []
    more_people = False
    if q:
        words = q.split()
        for plural, rtype in TYPES.items():
            hits, more = svc.search.list(Query(rtype, search=words, sort="downloads", limit=TOP_HITS), who)
            sections.append((plural, hits, more, f"/{plural}?{urlencode({'search': q})}"))
        people, more_people = svc.search.accounts(q, limit=TOP_HITS * 2)
    found = any(s[1] for s in sections) or bool(people)
    return pages.render(
        request,
        "search.html",
        q=q,
        search_query=q,
        sections=sections,
        people=people,
        more_people=more_people,
        found=found,
    )
