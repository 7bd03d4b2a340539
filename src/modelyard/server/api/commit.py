"""Preupload and the NDJSON commit endpoint."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from modelyard.errors import BadPayload, BadRequest, Forbidden, Unauthorized
from modelyard.hub.commits import CommitParser
from modelyard.hub.repos import can_write
from modelyard.server.api._common import (
    get_repo,
    json_response,
    principal,
    qbool,
    repo_url,
    services,
    sync_json_body,
)
from modelyard.server.routing import REPO, REV, TYPES, Router

MAX_LINE = 2 * 1024**3


def preupload(request: Request, type: str, ns: str, name: str, rev: str) -> Response:
    svc = services(request)
    repo = get_repo(request, type, ns, name)
    who = principal(request)
    if who is None:
        raise Unauthorized("You must be authenticated to upload files")
    if not can_write(repo, who) and not qbool(request.query_params.get("create_pr")):
        raise Forbidden(f"You don't have write access to {repo.type.value} {repo.id_str}")
    body = sync_json_body(request)
    files = body.get("files") if isinstance(body, dict) else None
    if not isinstance(files, list):
        raise BadRequest("Body needs 'files': a list of {path, sample, size}")
    git_ignore = body.get("gitIgnore") if isinstance(body.get("gitIgnore"), str) else None
    return json_response({"files": svc.files.preupload(repo, rev, files, git_ignore), "commitOid": None})


async def commit(request: Request, type: str, ns: str, name: str, rev: str) -> Response:
    svc = services(request)
    who = await run_in_threadpool(principal, request)
    repo = await run_in_threadpool(get_repo, request, type, ns, name)
    create_pr = qbool(request.query_params.get("create_pr"))
    if who is None:
        raise Unauthorized("You must be authenticated to commit")
    if not can_write(repo, who) and not create_pr and not rev.startswith("refs/pr/"):
        raise Forbidden(f"You don't have write access to {repo.type.value} {repo.id_str}")
    parser = CommitParser(svc.store)
    buf = bytearray()
    async for chunk in request.stream():
        buf += chunk
        if len(buf) > MAX_LINE:
            raise BadPayload("A commit payload line is too long")
        start = 0
        while (nl := buf.find(b"\n", start)) != -1:
            line = bytes(buf[start:nl])
            start = nl + 1
            if len(line) > 256 * 1024:
                await run_in_threadpool(parser.feed_line, line)
            else:
                parser.feed_line(line)
        del buf[:start]
    if buf.strip():
        await run_in_threadpool(parser.feed_line, bytes(buf))
    req = parser.finish()
    result = await run_in_threadpool(svc.files.commit, who, repo, rev, req, create_pr)
    url = repo_url(request, repo)
    pr_num = result.pr_num
    return json_response(
        {
            "success": True,
            "commitOid": result.commit.sha,
            "commitUrl": f"{url}/commit/{result.commit.sha}",
            "commitMessage": result.commit.title,
            "hookOutput": "",
            "pullRequestUrl": f"{url}/discussions/{pr_num}" if pr_num is not None else None,
        }
    )


def register(r: Router) -> None:
    r.add("POST", rf"/api/{TYPES}/{REPO}/preupload/{REV}", preupload)
    r.add("POST", rf"/api/{TYPES}/{REPO}/commit/{REV}", commit)
