"""Repo pages: card, files and versions, file viewer, commit history and diffs, dataset viewer, likes."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode, urlparse

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from modelyard.errors import BadRequest, EntryNotFound, Forbidden, HubError
from modelyard.hub import viewer
from modelyard.hub.cards import split_front_matter
from modelyard.hub.likes import Likes
from modelyard.hub.repos import Repo, can_manage, can_write
from modelyard.hub.revisions import FileEntry
from modelyard.hub.safetensors import repo_parameters
from modelyard.server.web import gating_views
from modelyard.server.web.render import Pages, base_url, render_markdown, services, web_principal
from modelyard.server.web.security import check_csrf
from modelyard.server.web.snippets import snippets
from modelyard.types import RepoType

log = logging.getLogger("modelyard.web")
PREFIX = {"datasets": RepoType.DATASET, "spaces": RepoType.SPACE, None: RepoType.MODEL}
ROWS_PER_PAGE = 50
HISTORY_PAGE = 30


def _repo(request: Request, prefix: str | None, ns: str, name: str) -> Repo:
    return services(request).repos.get(PREFIX[prefix], ns, name, web_principal(request))


def repo_context(request: Request, repo: Repo, rev: str, tab: str) -> dict[str, Any]:
    """What every repo page's template needs for its header and tabs (`repo_header` in _macros.html): the repo,
    the revision and its files, the active tab, the repo's URL, the viewer's like and what the viewer may do."""
    svc = services(request)
    who = web_principal(request)
    sha = svc.files.resolve_rev(repo, rev)
    files = svc.files.manifest(repo, sha)
    url = "/" + repo.type.url_prefix + repo.id_str
    return {
        "repo": repo,
        "rev": rev,
        "sha": sha,
        "files": files,
        "tab": tab,
        "repo_url": url,
        "liked": Likes(svc.db).has_liked(who, repo),
        "can_write": can_write(repo, who),
        "can_manage": can_manage(repo, who),
        "community_count": sum(1 for d in svc.pulls.discussions(repo) if d.status == "open"),
    }


_ctx = repo_context


def _chips(repo: Repo) -> list[tuple[str, str, str]]:
    """(kind, label, filter link) for the metadata chips under the title."""
    card = repo.card_data or {}
    plural = repo.type.plural
    out: list[tuple[str, str, str]] = []

    def as_list(v: Any) -> list[str]:
        return [str(x) for x in v] if isinstance(v, list) else [str(v)] if v else []

    if repo.pipeline_tag:
        out.append(("task", repo.pipeline_tag, f"/{plural}?pipeline_tag={repo.pipeline_tag}"))
    for t in as_list(card.get("task_categories")):
        out.append(("task", t, f"/{plural}?tag=task_categories:{t}"))
    if repo.library_name:
        out.append(("library", repo.library_name, f"/{plural}?library={repo.library_name}"))
    for lang in as_list(card.get("language")):
        out.append(("language", lang, f"/{plural}?language={lang}"))
    for lic in as_list(card.get("license")):
        out.append(("license", lic, f"/{plural}?license={lic}"))
    for d in as_list(card.get("datasets")):
        out.append(("dataset", d, f"/datasets/{d}"))
    for b in as_list(card.get("base_model")):
        out.append(("base model", b, f"/{b}"))
    for t in as_list(card.get("tags")):
        out.append(("tag", t, f"/{plural}?tag={t}"))
    return out


def _card_html(request: Request, files: dict[str, FileEntry]) -> str | None:
    e = files.get("README.md")
    if e is None:
        return None
    try:
        text = viewer.read_text(services(request).content, e, 2 * 1024 * 1024)
    except (OSError, HubError):
        return None
    _, body = split_front_matter(text)
    return render_markdown(body)


def _pickle_issues(request: Request, files: dict[str, FileEntry]) -> list[dict[str, Any]]:
    """Files of this revision whose pickles were scanned unsafe or suspicious (hub/pickles.py), for the banner."""
    scans = services(request).pickles.for_files({p: e.sha256 for p, e in files.items()})
    return [
        {"path": p, "level": s.level, "imports": s.flagged_imports, "error": s.error}
        for p, s in sorted(scans.items())
        if s is not None and s.level is not None
    ]


def repo_page(pages: Pages, request: Request, ns: str, name: str, prefix: str | None = None) -> Response:
    repo = _repo(request, prefix, ns, name)
    ctx = _ctx(request, repo, "main", "card")
    svc = services(request)
    files: dict[str, FileEntry] = ctx["files"]
    preview = None
    # dataset rows are file bytes: not shown past a gate
    if repo.type is RepoType.DATASET and gating_views.has_download_access(request, repo):
        preview = _rows_ctx(request, repo, files, None, None, 0, 10)
    params = repo_parameters(svc.content, files) if repo.type is RepoType.MODEL else None
    widget = repo.card_data.get("widget") if repo.card_data else None
    example = ""
    if isinstance(widget, list) and widget and isinstance(widget[0], dict):
        example = str(widget[0].get("text") or "")
    return pages.render(
        request,
        "repo.html",
        **ctx,
        card_html=_card_html(request, files),
        chips=_chips(repo),
        snippets=snippets(repo, base_url(request)),
        params=params,
        preview=preview,
        widget_example=example,
        last_commit=svc.files.commits(repo, {ctx["sha"]}).get(ctx["sha"]),
        pickle_issues=_pickle_issues(request, files),
        gate=gating_views.gate_context(request, repo),  # gated: the access box (the card stays visible)
    )


def tree_page(
    pages: Pages, request: Request, ns: str, name: str, rev: str, path: str = "", prefix: str | None = None
) -> Response:
    repo = _repo(request, prefix, ns, name)
    ctx = _ctx(request, repo, rev, "files")
    svc = services(request)
    entries = svc.files.tree(repo, ctx["sha"], path, recursive=False)
    commits = svc.files.commits(repo, {e.last_commit_sha for e in entries if e.last_commit_sha})
    crumbs = _crumbs(path)
    refs = svc.files.refs(repo)
    return pages.render(
        request,
        "tree.html",
        **ctx,
        entries=entries,
        commits=commits,
        path=path.strip("/"),
        crumbs=crumbs,
        refs=refs,
    )


def _crumbs(path: str) -> list[tuple[str, str]]:
    parts = [p for p in path.strip("/").split("/") if p]
    return [(p, "/".join(parts[: i + 1])) for i, p in enumerate(parts)]


def blob_page(
    pages: Pages, request: Request, ns: str, name: str, rev: str, path: str, prefix: str | None = None
) -> Response:
    repo = _repo(request, prefix, ns, name)
    ctx = _ctx(request, repo, rev, "files")
    files: dict[str, FileEntry] = ctx["files"]
    entry = files.get(path)
    if entry is None:
        raise EntryNotFound(f"{path} does not exist at {rev}")
    services(request).repos.check_download(repo, web_principal(request), path)  # a preview is file bytes
    content = None
    rendered = None
    error = None
    try:
        content = viewer.preview(services(request).content, entry)
        if content.text is not None and path.lower().endswith(".md"):
            rendered = render_markdown(split_front_matter(content.text)[1])
    except (OSError, HubError):
        error = "The content of this file is not available for preview."
    raw = f"/{repo.type.url_prefix}{repo.id_str}/resolve/{rev}/{path}"
    return pages.render(
        request,
        "blob.html",
        **ctx,
        entry=entry,
        path=path,
        crumbs=_crumbs(path),
        content=content,
        rendered=rendered,
        error=error,
        raw_url=raw,
        is_data=path.lower().endswith(viewer.DATA_EXTS),
        pickle_issues=_pickle_issues(request, {path: entry}),
    )


def commits_page(
    pages: Pages, request: Request, ns: str, name: str, rev: str, prefix: str | None = None
) -> Response:
    repo = _repo(request, prefix, ns, name)
    ctx = _ctx(request, repo, rev, "commits")
    try:
        page = max(1, int(request.query_params.get("page") or 1))
    except ValueError:
        page = 1
    items, more, _ = services(request).files.history(repo, rev, (page - 1) * HISTORY_PAGE, HISTORY_PAGE)
    return pages.render(request, "commits.html", **ctx, commits=items, page=page, more=more)


def commit_page(
    pages: Pages, request: Request, ns: str, name: str, sha: str, prefix: str | None = None
) -> Response:
    repo = _repo(request, prefix, ns, name)
    svc = services(request)
    svc.repos.check_download(repo, web_principal(request))  # diffs show file bytes: a gated repo's gate
    full = svc.files.resolve_rev(repo, sha)
    commit = svc.files.commits(repo, {full})[full]
    new = svc.files.manifest(repo, full)
    old = svc.files.manifest(repo, commit.parent_sha) if commit.parent_sha else {}
    try:
        changes = viewer.diff(svc.content, old, new)
    except OSError:
        changes = []
    ctx = _ctx(request, repo, full, "commits")
    return pages.render(request, "commit.html", **ctx, commit=commit, changes=changes)


def _rows_ctx(
    request: Request,
    repo: Repo,
    files: dict[str, FileEntry],
    split: str | None,
    path: str | None,
    offset: int,
    length: int,
) -> dict[str, Any] | None:
    splits = viewer.splits(files, repo.card_data)
    if not splits:
        return None
    current = next((s for s in splits if s.name == split), splits[0])
    if path not in current.files:
        path = current.files[0]
    try:
        page = viewer.rows(services(request).content, files[path], offset, length)
        error = None
    except Exception as e:  # malformed data files are common; show the error, not a 500
        log.info("dataset viewer: cannot read %s: %s", path, e)
        page, error = None, f"Cannot read {path}: {e}"
    return {"splits": splits, "split": current, "path": path, "page": page, "error": error}


def dataset_viewer(pages: Pages, request: Request, ns: str, name: str) -> Response:
    repo = _repo(request, "datasets", ns, name)
    services(request).repos.check_download(repo, web_principal(request))  # rows are file bytes
    qp = request.query_params
    rev = qp.get("revision") or "main"
    ctx = _ctx(request, repo, rev, "viewer")
    try:
        offset = max(0, int(qp.get("offset") or 0))
    except ValueError:
        raise BadRequest("offset must be an integer") from None
    rows = _rows_ctx(request, repo, ctx["files"], qp.get("split"), qp.get("file"), offset, ROWS_PER_PAGE)

    def page_link(new_offset: int) -> str:
        assert rows is not None
        params = {"split": rows["split"].name, "file": rows["path"], "offset": str(new_offset)}
        return f"{ctx['repo_url']}/viewer?{urlencode(params)}"

    return pages.render(request, "viewer.html", **ctx, rows=rows, page_link=page_link, per_page=ROWS_PER_PAGE)


def like(request: Request, ns: str, name: str, prefix: str | None = None) -> Response:
    """Form POST from the like button (cookie auth): same-origin only, with this session's CSRF token."""
    origin = request.headers.get("origin") or request.headers.get("referer") or ""
    if origin and urlparse(origin).netloc != request.url.netloc:
        raise Forbidden("Cross-site request refused")
    check_csrf(request, request.scope.get("modelyard.form") or {})
    repo = _repo(request, prefix, ns, name)
    likes = Likes(services(request).db)
    who = web_principal(request)
    if who is None:
        return RedirectResponse(f"/login?next=/{repo.type.url_prefix}{repo.id_str}", status_code=303)
    likes.set(who, repo, not likes.has_liked(who, repo))
    return RedirectResponse(f"/{repo.type.url_prefix}{repo.id_str}", status_code=303)
