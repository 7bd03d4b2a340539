"""How the web UI's area modules declare their routes: `RouteKit.page` for GET pages, `RouteKit.form` for POST
forms. Every form POST goes through `form`, so every state-changing request is CSRF-checked in this one place
(security.check_csrf) before the view runs; views that also check it themselves are harmless.

An area module (account_views, edit_views, ...) exposes

    def routes(kit: RouteKit) -> list[BaseRoute]                                   # fixed paths, before /{user}
    def repo_routes(kit: RouteKit, base: str, prefix: str | None) -> list[BaseRoute]  # under a repo's base path

and is listed in `modelyard.server.web.AREAS`.
"""

from __future__ import annotations

import functools
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from modelyard.server.web import views as v
from modelyard.server.web.render import Pages
from modelyard.server.web.security import check_csrf

FILES_KEY = "modelyard.files"


class RouteKit:
    def __init__(self, pages: Pages) -> None:
        self.pages = pages

    def page(self, fn: v.View, **bound: object) -> v.Endpoint:
        """A GET page `fn(pages, request, **path_params, **bound)`, run in the threadpool, errors as HTML pages."""
        return v.guarded(self.pages, functools.partial(fn, self.pages, **bound))

    def form(
        self,
        fn: v.View,
        *,
        max_body: int = v.MAX_FORM_BODY,
        max_files: int = 0,
        with_pages: bool = True,
        **bound: object,
    ) -> v.Endpoint:
        """A POST form view `fn([pages,] request, **path_params, **bound)`: the fields (bodies up to `max_body`
        bytes; larger ones are not read and fail the CSRF check) are in `v.form_fields(request)`, uploaded files
        (up to `max_files`) in `form_files(request)`; the CSRF token is checked before `fn` runs."""
        call = functools.partial(fn, self.pages, **bound) if with_pages else functools.partial(fn, **bound)

        def checked(request: Request, **params: Any) -> Response:
            check_csrf(request, v.form_fields(request))
            return call(request, **params)

        functools.update_wrapper(checked, fn)
        return v.with_form(self.pages, checked, max_body=max_body, max_files=max_files)


def form_files(request: Request) -> list[tuple[str, UploadFile]]:
    """(field name, file) of a `RouteKit.form(..., max_files=N)` POST, in the form's order."""
    return request.scope.get(FILES_KEY) or []  # type: ignore[no-any-return]
