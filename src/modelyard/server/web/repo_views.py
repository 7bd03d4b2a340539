"""Repo pages: card, files and versions, file viewer, commit history and diffs, dataset viewer, likes."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode, urlparse

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from modelyard.errors import BadRequest, EntryNotFound, Forbidden, HubError
from modelyard.hub import viewer
from modelyard.hub.cards import model_relation, split_front_matter
from modelyard.hub.likes import Likes
from modelyard.hub.repos import Repo, can_discuss, can_manage, can_write
from modelyard.hub.revisions import FileEntry
from modelyard.hub.safetensors import repo_parameters
from modelyard.hub.search import Query
from modelyard.server.endpoints import can_deploy
from modelyard.server.web import card_meta, gating_views
from modelyard.server.web.render import (
    PREVIEW_CAP,
    PREVIEW_LINES,
    Pages,
    bar_chart,
    base_url,
    code_table,
    render_markdown,
    services,
    web_principal,
)
from modelyard.server.web.security import check_csrf
from modelyard.server.web.snippets import snippets
from modelyard.types import RepoType

log = logging.getLogger("modelyard.web")
PREFIX = {"datasets": RepoType.DATASET, "spaces": RepoType.SPACE, None: RepoType.MODEL}
ROWS_PER_PAGE = 50
HISTORY_PAGE = 30
CHART_DAYS = 30  # the downloads chart
TREE_LIMIT = 200  # models built on this one, looked at for the model tree
TREE_SHOWN = 5  # shown per relation (then a link to all of them)
SPACES_SHOWN = 10


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
        # edit links (edit_views): writers commit, users who may discuss open a pull request
        "can_propose": who is not None and who.can_write and (can_write(repo, who) or can_discuss(repo, who)),
        "community_count": sum(1 for d in svc.pulls.discussions(repo) if d.status == "open"),
        # the Deploy button (endpoint_views): server/endpoints.endpoint_rule, use="manage"
        "can_deploy": repo.type is RepoType.MODEL and can_deploy(svc, who, repo.namespace, repo.name),
    }


_ctx = repo_context


def _linker(request: Request, refs: dict[RepoType, set[str]]) -> card_meta.Linker:
    """Which of the repos a card names are on this hub (and visible to the viewer): one query per type."""
    svc = services(request)
    who = web_principal(request)
    local = {t: svc.search.existing(t, ids, who) if ids else {} for t, ids in refs.items()}
    return card_meta.Linker(local, svc.settings.upstream_url)


def _merge_refs(*refs: dict[RepoType, set[str]]) -> dict[RepoType, set[str]]:
    out: dict[RepoType, set[str]] = {}
    for r in refs:
        for t, ids in r.items():
            out.setdefault(t, set()).update(ids)
    return out


def _read_card(request: Request, files: dict[str, FileEntry]) -> str | None:
    e = files.get("README.md")
    if e is None:
        return None
    try:
        text = viewer.read_text(services(request).content, e, 2 * 1024 * 1024)
    except (OSError, HubError):
        return None
    return split_front_matter(text)[1]


def render_card(
    request: Request,
    body: str,
    repo_url: str,
    rev: str,
    files: dict[str, FileEntry],
    folder: str = "",
    refs: dict[RepoType, set[str]] | None = None,
) -> tuple[str, card_meta.Linker]:
    """Markdown to sanitised HTML, its links checked (card_meta.CardLinks): links to repos that are not on this hub
    point upstream or become text; relative links resolve to the repo's files. Also the Linker it used (with
    `refs`, the repos named by the card's metadata, looked up in the same queries)."""
    html = render_markdown(body)
    links = _linker(request, _merge_refs(card_meta.card_repo_ids(html), refs or {}))
    names = card_meta.card_account_names(html)
    svc = services(request)
    # user pages a card links to (bounded: a card naming thousands only gets the first 50 looked up)
    known = {n.lower() for n in sorted(names)[:50] if svc.accounts.find(n) is not None}
    rewriter = card_meta.CardLinks(links, repo_url, rev, files, folder, known)
    return card_meta.demote_headings(rewriter.rewrite(html)), links


def _model_tree(request: Request, repo: Repo, links: card_meta.Linker) -> dict[str, Any] | None:
    """The model tree: the base models (parents) and the local models built on this one, by relation."""
    card = repo.card_data or {}
    parents = [links.repo(RepoType.MODEL, b) for b in card_meta.as_list(card.get("base_model"))]
    relation = model_relation(card, repo.library_name)
    q = Query(RepoType.MODEL, filters=[f"base_model:{repo.id_str}"], sort="downloads", limit=TREE_LIMIT)
    children, more = services(request).search.list(q, web_principal(request))
    groups: dict[str, list[Repo]] = {}
    for child in children:
        if child.id != repo.id:
            groups.setdefault(model_relation(child.card_data, child.library_name), []).append(child)
    kids = [
        {
            "relation": rel,
            "title": title,
            "count": len(groups[rel]),
            "more": more,
            "repos": groups[rel][:TREE_SHOWN],
            "link": "/models?" + urlencode({"tag": f"base_model:{rel}:{repo.id_str}"}),
        }
        for rel, title in card_meta.RELATION_TITLES.items()
        if groups.get(rel)
    ]
    if not parents and not kids:
        return None
    return {"parents": parents, "relation": relation, "children": kids}


def _spaces_using(request: Request, repo: Repo) -> tuple[list[Repo], bool]:
    """Spaces whose card lists this model (`models:`, indexed as `model:<id>` by hub/cards.index_keys)."""
    q = Query(RepoType.SPACE, filters=[f"model:{repo.id_str}"], sort="likes", limit=SPACES_SHOWN)
    return services(request).search.list(q, web_principal(request))


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
    card = repo.card_data or {}
    preview = None
    # dataset rows are file bytes: not shown past a gate
    if repo.type is RepoType.DATASET and gating_views.has_download_access(request, repo):
        preview = _rows_ctx(request, repo, files, None, None, 0, 10)
    is_model = repo.type is RepoType.MODEL
    params = repo_parameters(svc.content, files) if is_model else None
    widget = card.get("widget")
    example = ""
    if isinstance(widget, list) and widget and isinstance(widget[0], dict):
        example = str(widget[0].get("text") or "")
    refs = card_meta.referenced(card, repo.tags)
    body = _read_card(request, files)
    if body is not None:
        card_html, links = render_card(request, body, ctx["repo_url"], "main", files, refs=refs)
    else:
        card_html, links = None, _linker(request, refs)
    return pages.render(
        request,
        "repo.html",
        **ctx,
        card_html=card_html,
        meta_rows=card_meta.metadata_rows(
            repo.type, card, repo.tags, repo.pipeline_tag, repo.library_name, links
        ),
        evals=card_meta.eval_results(card),
        eval_links={
            r.dataset_type: links.repo(RepoType.DATASET, r.dataset_type, r.dataset)
            for r in card_meta.eval_results(card)
            if r.dataset_type
        },
        train_datasets=card_meta.training_datasets(card, links) if is_model else [],
        tree=_model_tree(request, repo, links) if is_model else None,
        spaces_using=_spaces_using(request, repo) if is_model else ([], False),
        space_models=[links.repo(RepoType.MODEL, m) for m in card_meta.as_list(card.get("models"))]
        if repo.type is RepoType.SPACE
        else [],
        chart=bar_chart(svc.repos.downloads_by_day(repo, CHART_DAYS)),
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
    is_md = path.lower().endswith((".md", ".markdown"))
    view = "raw" if request.query_params.get("view") == "raw" or not is_md else "rendered"
    content = None
    rendered = None
    code = None
    error = None
    shown = 0
    pretty_size = None
    try:
        content = viewer.preview(services(request).content, entry, PREVIEW_CAP)
        if content.text is not None:
            text = content.text
            pretty = viewer.pretty_json(services(request).content, entry, text) if view == "raw" else None
            if pretty is not None:  # a minified JSON file: shown indented (the Download button has it as is)
                text, pretty_size = pretty[:PREVIEW_CAP], len(pretty.encode())
                content = viewer.TextPreview(text, len(pretty) > PREVIEW_CAP)
            if content.truncated and "\n" in text:
                text = text[: text.rindex("\n") + 1]  # whole lines only
            if text.count("\n") > PREVIEW_LINES:
                text = "\n".join(text.split("\n", PREVIEW_LINES)[:PREVIEW_LINES]) + "\n"
                content = viewer.TextPreview(text, True)
            shown = len(text.encode())
            if view == "rendered":
                folder = path.rpartition("/")[0]
                body = split_front_matter(text)[1]
                rendered = render_card(request, body, ctx["repo_url"], rev, files, folder)[0]
            else:
                code = code_table(text, path)
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
        code=code,
        view=view,
        is_md=is_md,
        shown=shown,
        pretty_size=pretty_size,
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
    except (OSError, HubError):
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
