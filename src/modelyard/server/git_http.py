"""git smart HTTP: `git clone`, `fetch`, `ls-remote` and `push` of models, datasets and Spaces.

Routes: ``/{repo}[.git]/info/refs?service=…``, ``/{repo}[.git]/git-upload-pack``, ``/{repo}[.git]/git-receive-pack``
(``datasets/`` and ``spaces/`` prefixes). The caller is checked here, once, before git runs: reading needs what a
download needs (the repo visible, the gate of a gated repo passed), pushing needs the push right (each ref is
checked again by the importer, git/receive.py). A token is the Basic password. An anonymous caller the repo is
hidden from gets 401 with a Basic challenge (git then asks for credentials), so private and missing repos look
the same; a signed-in caller gets 404. Errors are text/plain: git prints them to its user.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from modelyard.errors import Forbidden, GatedRepo, HubError, NotFound, RepoNotFound, Unauthorized
from modelyard.git import backend
from modelyard.git.hook import HookChannel, HookReply, HookRequest
from modelyard.git.mirror import Lease
from modelyard.hub.accounts import Principal
from modelyard.hub.repos import Repo
from modelyard.server.api._common import moved_to, needs_credentials, principal, services
from modelyard.server.errors import ask_credentials, error_response
from modelyard.server.routing import Router
from modelyard.types import RepoType

log = logging.getLogger(__name__)

UPLOAD, RECEIVE = "git-upload-pack", "git-receive-pack"
_REPO_GIT = r"/(?:(?P<prefix>datasets|spaces)/)?(?P<ns>[^/]+)/(?P<name>[^/]+?)(?:\.git)?"


class _Challenge(Unauthorized):
    """Anonymous, and the repo is hidden or needs a sign-in: ask git for credentials."""


def _git_error(request: Request, exc: HubError) -> Response:
    response = error_response(request, exc, plain=True)
    return ask_credentials(response) if response.status_code == 401 else response


class _Moved(Exception):
    """The repo was renamed or moved (`Repos.move`) and the caller may read it: answer a redirect."""

    def __init__(self, target: Repo) -> None:
        super().__init__(target.id_str)
        self.target = target


def _authorize(
    request: Request, rtype: RepoType, ns: str, name: str, service: str
) -> tuple[Repo, Principal | None]:
    """The repo and the caller, if the caller may run `service` on it (blocking: run in a thread)."""
    svc = services(request)
    who = principal(request)
    try:
        repo = svc.repos.get(rtype, ns, name, who)
        if service == UPLOAD:
            svc.repos.check_download(repo, who)
        else:
            # writers and open-PR authors; each ref is checked by the importer
            svc.pushes.check_entry(who, repo)
    except (RepoNotFound, GatedRepo, Unauthorized) as exc:
        if isinstance(exc, RepoNotFound):
            target = moved_to(request, rtype, ns, name, who)
            if target is not None:
                raise _Moved(target) from exc  # only to whoever may see where it went
        if needs_credentials(exc, who):
            raise _Challenge(
                "Authentication required: use your user name and a token as the password"
            ) from exc
        raise
    return repo, who


def _service_of(request: Request, service: str) -> str:
    if service == "info/refs":
        wanted = request.query_params.get("service", "")
        if wanted not in (UPLOAD, RECEIVE):
            raise Forbidden("Only the smart HTTP protocol is served: use git 1.6.6 or newer")
        return wanted
    return service


def _redirect(request: Request, ns: str, name: str, target: Repo) -> Response:
    """307 to the same git URL under the repo's new name: git follows it for info/refs and then uses the new
    base URL for the rest of the command (and warns its user about the redirect)."""
    path = request.url.path
    start = path.index(f"/{ns}/{name}")
    location = path[:start] + f"/{target.id_str}" + path[start + len(ns) + len(name) + 2 :]
    if request.url.query:
        location += "?" + request.url.query
    return Response(
        f"The repository moved to {target.id_str}\n", status_code=307, headers={"Location": location}
    )


async def git_service(
    request: Request, ns: str, name: str, service: str, prefix: str | None = None
) -> Response:
    rtype = {None: RepoType.MODEL, "datasets": RepoType.DATASET, "spaces": RepoType.SPACE}[prefix]
    try:
        which = _service_of(request, service)
        if request.method != ("GET" if service == "info/refs" else "POST"):
            raise NotFound("Not Found")
        repo, who = await run_in_threadpool(_authorize, request, rtype, ns, name, which)
        if which == RECEIVE and service != "info/refs":
            return await _receive(request, repo, who)
        path = await run_in_threadpool(services(request).mirrors.sync, repo)
        cgi = await backend.run(_cgi_request(request, path, service, who), request.stream())
    except _Moved as moved:
        return _redirect(request, ns, name, moved.target)
    except HubError as exc:
        return _git_error(request, exc)
    except Exception:
        # a mirror that could not be synced (a bug, a full disk) or git that could not start: git shows the text
        log.exception("git %s of %s/%s failed", service, ns, name)
        return _git_error(request, HubError("The repository could not be served over git; try again later"))
    return GitResponse(cgi)


def _cgi_request(request: Request, path: Path, service: str, who: Principal | None) -> backend.CgiRequest:
    client = request.client
    return backend.CgiRequest(
        git_dir=path,
        service=service,
        method=request.method,
        query=request.url.query,
        content_type=request.headers.get("content-type", ""),
        content_encoding=request.headers.get("content-encoding", ""),
        git_protocol=request.headers.get("git-protocol", ""),
        remote_user=who.account.name if who else "",
        remote_addr=client.host if client else "",
    )


class GitResponse(Response):
    """git's answer, streamed as it comes. Unlike Starlette's StreamingResponse, it listens for the client's
    disconnect only once the request body has been read to its end: git answers while a push's pack is still
    arriving, and a listener started earlier would swallow the body's messages. A disconnect stops the stream
    (the body iterator's cleanup kills git)."""

    def __init__(self, cgi: backend.CgiResponse, body: AsyncIterator[bytes] | None = None) -> None:
        headers = {k: v for k, v in cgi.headers if k.lower() not in {"content-length", "transfer-encoding"}}
        if cgi.status >= 400 and not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = (
                "text/plain; charset=utf-8"  # http-backend's own errors (415, 403) are text
            )
        super().__init__(None, status_code=cgi.status, headers=headers)
        self.raw_headers = [
            (k, v) for k, v in self.raw_headers if k != b"content-length"
        ]  # streamed: chunked
        self.cgi = cgi
        self.chunks = body if body is not None else cgi.body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        gone = asyncio.Event()

        async def watch() -> None:
            await self.cgi.request_read.wait()
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()

        watcher = asyncio.create_task(watch())
        chunks = self.chunks
        try:
            async for chunk in chunks:
                if gone.is_set():
                    break
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            else:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                await aclose()  # git killed if it is still running


async def _receive(request: Request, repo: Repo, who: Principal | None) -> Response:
    """A push: the mirror locked and synced, receive-pack run with our hook, the hook's request answered by the
    importer, the lock released when git is done."""
    svc = services(request)
    assert who is not None
    lease: Lease = await run_in_threadpool(svc.mirrors.lease, repo)
    channel = HookChannel()

    def handle(hook: HookRequest) -> HookReply:
        return svc.pushes.handle(who, repo, hook, lease.path)

    # served from the start: the hook may ask before git's answer begins
    hook_task = asyncio.create_task(channel.serve(handle))
    try:
        req = _cgi_request(request, lease.path, RECEIVE, who)
        req.extra_env.update(channel.env)
        req.pass_fds = (channel.child_fd,)
        cgi = await backend.run(req, request.stream())
    except BaseException:
        channel.close()
        with contextlib.suppress(Exception):
            await hook_task
        lease.release()
        raise
    channel.child_started()

    async def body() -> AsyncIterator[bytes]:
        try:
            async for chunk in cgi.body:
                yield chunk
        finally:
            try:
                await hook_task
            except Exception:
                log.exception("git push to %s: the import failed", repo.id_str)
            finally:
                svc.mirrors.forget(repo)
                await run_in_threadpool(lease.release)

    return GitResponse(cgi, body())


async def info_refs(request: Request, ns: str, name: str, prefix: str | None = None) -> Response:
    return await git_service(request, ns, name, "info/refs", prefix)


def register(r: Router) -> None:
    r.add("GET", _REPO_GIT + r"/info/refs", info_refs)
    r.add("POST", _REPO_GIT + r"/(?P<service>git-upload-pack|git-receive-pack)", git_service)
