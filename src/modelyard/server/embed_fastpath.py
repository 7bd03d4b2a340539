"""A raw-ASGI fast path for the two embedding routes of the inference front (issue 15: the front's CPU per request).

``POST /{name}/v1/embeddings`` of an existing endpoint (its handler answers one that does not embed with the 422)
and ``POST /{name}`` of an endpoint serving an embedding task skip Starlette's middleware stack, router and send
wrappers: the request goes straight to the very same handler the router would
call (``InferenceFront.embeddings`` / ``InferenceFront.predict``: same body parsing, same permission checks, same
submission to the worker's batcher), its response is sent with the raw ASGI ``send``, and a :class:`HubError` is
answered by the one error edge (``error_response``), an unexpected exception by ``internal_error``, as the
exception handlers of server/errors.py would. So bodies, statuses and error headers are those of the routed path
(tests/inference/test_embed_fastpath.py compares both).

Anything else (another method or path, an unknown endpoint, a native call to a non-embedding endpoint or one whose
task is not known before its first load) is declined before anything is read and takes the routed path, which
answers it as before. Used twice: inside the inference app (``create_inference_app``; on the hub the outer
middlewares have already run) and, in the standalone server, in front of the outer app too (``outermost``): there
it first applies the request-edge checks of ``EdgeGuard`` (a request failing them is declined, so EdgeGuard answers
it) and runs the handler under ``RequestIdMiddleware`` (request id and Date on the response, as on every route).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from modelyard.errors import HubError
from modelyard.inference import tasks as T
from modelyard.inference.manager import EndpointManager
from modelyard.server.edge import head_size, path_error
from modelyard.server.errors import RequestIdMiddleware, error_response, internal_error

Handler = Callable[[Request], Awaitable[Response]]


def route_path(scope: Scope) -> str:
    """The path below the app's mount point, as Starlette's router sees it (its private ``get_route_path``)."""
    path: str = scope["path"]
    root = scope.get("root_path", "")
    if root and path.startswith(root) and (path == root or path[len(root)] == "/"):
        return path[len(root) :]
    return path


#: ``/{name}`` (the native route, also with a trailing slash) and ``/{name}/v1/embeddings``; a name has no ``/``,
#: as Starlette's ``{name}`` parameter.
_ROUTE = re.compile(r"/([^/]+)(/v1/embeddings|/)?")


class EmbedFastPath:
    """Decides whether a request is an embedding call it serves (:meth:`match`) and serves it (:meth:`handle`).

    ``prefix``: where the inference app is mounted, as seen by the app this sits in front of (``""`` inside the
    inference app, ``"/endpoints"`` in front of the standalone server's outer app). ``outermost``: in front of
    every middleware, with ``max_header_size`` the EdgeGuard limit."""

    def __init__(
        self,
        manager: EndpointManager,
        embeddings: Handler,
        predict: Handler,
        prefix: str = "",
        outermost: bool = False,
        max_header_size: int = 0,
    ) -> None:
        self.manager = manager
        self.embeddings = embeddings
        self.predict = predict
        self.prefix = prefix
        self.outermost = outermost
        self.max_header_size = max_header_size
        self._stamped = RequestIdMiddleware(self._serve)

    def match(self, scope: Scope) -> tuple[str, Handler] | None:
        """(endpoint name, handler) when this path serves the request; reads nothing, changes nothing."""
        if scope["method"] != "POST":
            return None
        path = route_path(scope)
        if self.prefix:
            if not path.startswith(self.prefix + "/"):
                return None
            path = path[len(self.prefix) :]
        found = _ROUTE.fullmatch(path)
        if found is None:
            return None
        if self.outermost and (head_size(scope) > self.max_header_size or path_error(scope) is not None):
            return None  # EdgeGuard answers it
        name, tail = found.group(1), found.group(2)
        try:
            endpoint = self.manager.get(name)
        except HubError:
            return None  # the routed path answers an unknown name
        if tail == "/v1/embeddings":
            return name, self.embeddings
        if endpoint.task in T.EMBEDDING_TASKS:
            return name, self.predict
        return None

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> bool:
        """Serve the request if it is ours (True); False, with nothing read or sent, otherwise."""
        matched = self.match(scope)
        if matched is None:
            return False
        scope["path_params"] = {"name": matched[0]}  # what the router would have put there
        scope["endpoint"] = matched[1]
        if self.outermost:
            await self._stamped(scope, receive, send)
        else:
            await self._serve(scope, receive, send)
        return True

    @staticmethod
    async def _serve(scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            response = await scope["endpoint"](request)
        except HubError as exc:
            response = error_response(request, exc)
        except Exception as exc:  # as the routed path: logged with the request id, 500 in the Hub's format
            response = internal_error(request, exc)
        await response(scope, receive, send)


class FastPathStarlette(Starlette):
    """A Starlette app that first offers each HTTP request to its ``fast_path`` (when set)."""

    fast_path: EmbedFastPath | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        fast = self.fast_path
        if fast is not None and scope["type"] == "http" and await fast.handle(scope, receive, send):
            return
        await super().__call__(scope, receive, send)
