"""Preupload and the NDJSON commit endpoint."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from modelyard.config import Settings
from modelyard.errors import BadRequest
from modelyard.hub.commits import CommitLimits, CommitParser
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


def commit_limits(settings: Settings) -> CommitLimits:
    return CommitLimits(
        max_line=settings.max_ndjson_line,
        max_depth=settings.max_json_depth,
        max_operations=settings.max_commit_operations,
        max_summary=settings.max_commit_summary,
        max_description=settings.max_commit_description,
    )


def preupload(request: Request, type: str, ns: str, name: str, rev: str) -> Response:
    svc = services(request)
    repo = get_repo(request, type, ns, name)
    svc.repos.check_push(principal(request), repo, rev, qbool(request.query_params.get("create_pr")))
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
    # the push rule, before any byte of the body is read (Files.commit applies it again)
    who = await run_in_threadpool(svc.repos.check_push, who, repo, rev, create_pr)
    parser = CommitParser(svc.store, commit_limits(svc.settings))
    buf = bytearray()
    async for chunk in request.stream():
        buf += chunk
        start = 0
        while (nl := buf.find(b"\n", start)) != -1:
            line = bytes(buf[start:nl])
            start = nl + 1
            if len(line) > 256 * 1024:
                await run_in_threadpool(parser.feed_line, line)
            else:
                parser.feed_line(line)
        del buf[:start]
        parser.limits.check_line(len(buf), parser.line_no + 1)  # an unfinished line is not buffered past it
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
