"""Repo editing in the browser: new model/dataset/space, upload files and folders, create and edit text files, the
model-card editor, delete files; every change a commit (or a pull request).

Every change goes through the hub's own services, with the web session's principal: `Repos.create` (the API's
create_repo), `Repos.update_settings` (gating), and `Files.commit` with a `CommitParser`-built request (the NDJSON
commit endpoint's parser, so paths, summaries and sizes are checked by the same code). `Files.commit` applies the
push rule (`Repos.check_push`): writers commit to the branch; users who may only discuss open a pull request.
The pages themselves ask `check_push(..., create_pr=True)` first, so a user who may not even propose a change
gets the hub's 401/403 (404 for a private repo) before anything is shown.
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import quote

import yaml
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from modelyard.errors import (
    BadRequest,
    Conflict,
    EntryNotFound,
    FileNotEditable,
    HubError,
    InvalidPath,
    InvalidYaml,
    TooLarge,
    Unauthorized,
)
from modelyard.hub.access import Perm, role_at_least
from modelyard.hub.accounts import Principal
from modelyard.hub.cards import LICENSES, parse_card, split_front_matter, validate
from modelyard.hub.commits import CommitParser
from modelyard.hub.files import CommitResult
from modelyard.hub.paths import validate_path
from modelyard.hub.repos import SPACE_SDKS, Repo, can_write
from modelyard.server.api.commit import commit_limits
from modelyard.server.web import views as v
from modelyard.server.web.kit import RouteKit, form_files
from modelyard.server.web.render import Pages, render_markdown, services, web_principal
from modelyard.server.web.repo_views import PREFIX, repo_context
from modelyard.types import RepoType

#: the license picker: common ids first (every value must be one of the Hub's ids, `cards.LICENSES`)
LICENSE_CHOICES = (
    "apache-2.0",
    "mit",
    "bsd-3-clause",
    "cc-by-4.0",
    "cc-by-sa-4.0",
    "cc-by-nc-4.0",
    "cc0-1.0",
    "gpl-3.0",
    "lgpl-3.0",
    "agpl-3.0",
    "mpl-2.0",
    "openrail",
    "llama3.1",
    "gemma",
    "unknown",
    "other",
)
GATED_CHOICES = ("off", "auto", "manual")
MAX_TEXT = 1024 * 1024  # the text editor's cap (bytes)
MAX_TEXT_BODY = 3 * MAX_TEXT  # a text-edit form: the file, the metadata and the fields, url-encoded
MAX_UPLOAD_BODY = 100 * 1024 * 1024  # the no-JavaScript upload form; the script uses the LFS API past this
MAX_UPLOAD_FILES = 100
#: the card editor's metadata form: name -> (label, is a list)
CARD_FIELDS: dict[str, tuple[str, bool]] = {
    "license": ("License", False),
    "language": ("Languages", True),
    "tags": ("Tags", True),
    "pipeline_tag": ("Task (pipeline_tag)", False),
    "library_name": ("Library", False),
    "datasets": ("Datasets", True),
    "base_model": ("Base model", False),
}
PIPELINE_TAGS = (
    "text-classification",
    "token-classification",
    "text-generation",
    "text2text-generation",
    "fill-mask",
    "question-answering",
    "summarization",
    "translation",
    "feature-extraction",
    "sentence-similarity",
    "zero-shot-classification",
    "automatic-speech-recognition",
    "image-classification",
    "object-detection",
    "text-to-image",
    "image-to-text",
)


# --- helpers ---------------------------------------------------------------------------------------------
def _who(request: Request) -> Principal | None:
    return web_principal(request)


def _repo(request: Request, prefix: str | None, ns: str, name: str) -> Repo:
    return services(request).repos.get(PREFIX[prefix], ns, name, _who(request))


def _repo_url(repo: Repo) -> str:
    return "/" + repo.type.url_prefix + repo.id_str


def _login(request: Request) -> RedirectResponse:
    return RedirectResponse("/login?next=" + quote(request.url.path, safe="/"), status_code=303)


def _may_propose(request: Request, repo: Repo, rev: str) -> tuple[Principal, bool]:
    """The hub's push rule, for a page: (who, pr_only). Writers commit to `rev`; users who may discuss open a pull
    request (pr_only); others get the hub's Unauthorized / Forbidden / RepoNotFound."""
    who = _who(request)
    who = services(request).repos.check_push(who, repo, rev, create_pr=True)
    return who, not can_write(repo, who)


def _checkbox(fields: dict[str, str], name: str) -> bool:
    return fields.get(name, "").strip().lower() in {"1", "on", "true", "yes"}


def _line(key: str, value: dict[str, Any]) -> bytes:
    return json.dumps({"key": key, "value": value}).encode()


def _parser(request: Request, summary: str, description: str, parent: str | None) -> CommitParser:
    """A commit request built by the NDJSON endpoint's parser (same path, summary and size checks)."""
    parser = CommitParser(services(request).store, commit_limits(services(request).settings))
    header: dict[str, Any] = {"summary": summary, "description": description}
    if parent:
        header["parentCommit"] = parent
    parser.feed_line(_line("header", header))
    return parser


def _commit(request: Request, who: Principal, repo: Repo, rev: str, parser: CommitParser, pr: bool) -> str:
    """Commit (or open a pull request); the new pull request's page, or "" for a commit to `rev`."""
    result: CommitResult = services(request).files.commit(who, repo, rev, parser.finish(), pr)
    if result.pr_num is not None:
        return f"{_repo_url(repo)}/discussions/{result.pr_num}"
    return ""


def _add_text(parser: CommitParser, path: str, text: str) -> None:
    parser.feed_line(_line("file", {"path": path, "content": text, "encoding": "utf-8"}))


def _common_ctx(request: Request, repo: Repo, rev: str, pr_only: bool) -> dict[str, Any]:
    ctx = repo_context(request, repo, rev, "files")
    ctx["pr_only"] = pr_only
    return ctx


# --- new repository --------------------------------------------------------------------------------------
def _owners(request: Request, who: Principal) -> list[tuple[str, bool]]:
    """(namespace, private by default) where `who` may create repos: the rule of `Repos.create` (a write-capable
    token, at least the contributor role, the token's repo.write on the namespace); the POST enforces it."""
    accounts = services(request).accounts
    out: list[tuple[str, bool]] = []
    for name, kind in [(who.account.name, "user")] + [(o.name, "org") for o in who.orgs]:
        if (
            who.can_write
            and role_at_least(who.role_in(name), "contributor")
            and who.allows(Perm.REPO_WRITE, kind, name)
        ):
            out.append((name, accounts.default_private(name) if kind == "org" else False))
    return out


def new_repo_form(
    pages: Pages,
    request: Request,
    rtype: RepoType = RepoType.MODEL,
    error: str | None = None,
    status: int = 200,
    values: dict[str, str] | None = None,
) -> Response:
    who = _who(request)
    if who is None:
        return _login(request)
    owners = _owners(request, who)
    vals = dict(values or {})
    if values is None:
        vals["owner"] = owners[0][0] if owners else ""
        vals["private"] = "on" if owners and owners[0][1] else ""
    return pages.render(
        request,
        "edit/new_repo.html",
        status,
        rtype=rtype,
        owners=owners,
        licenses=LICENSE_CHOICES,
        gated_choices=GATED_CHOICES,
        sdks=sorted(SPACE_SDKS),
        error=error,
        values=vals,
        action="/new" + {"model": "", "dataset": "-dataset", "space": "-space"}[rtype.value],
    )


def new_repo_submit(pages: Pages, request: Request, rtype: RepoType = RepoType.MODEL) -> Response:
    """Create through `Repos.create` (the API's create_repo), gate through `Repos.update_settings` (the settings
    API's), then an "Initial commit" with a README whose metadata names the license."""
    who = _who(request)
    if who is None:
        raise Unauthorized("You must be logged in to create a repository")
    f = v.form_fields(request)
    name, owner = f.get("name", "").strip(), f.get("owner", "").strip() or who.account.name
    lic, gated, sdk = f.get("license", "").strip(), f.get("gated", "off").strip(), f.get("sdk", "").strip()
    values = {k: f.get(k, "") for k in ("owner", "name", "license", "private", "gated", "sdk")}

    def again(message: str, status: int) -> Response:
        return new_repo_form(pages, request, rtype, message, status, values)

    if lic and lic not in LICENSES:
        return again(f"Unknown license {lic!r}: pick one of the list", 400)
    if gated not in GATED_CHOICES:
        return again(f"Invalid gating {gated!r}: off, auto or manual", 400)
    svc = services(request)
    try:
        repo = svc.repos.create(
            who,
            rtype,
            name,
            owner,
            _checkbox(f, "private"),
            (sdk or None) if rtype is RepoType.SPACE else None,
        )
    except HubError as e:
        if e.status >= 500:
            raise
        return again(e.message, e.status)
    if gated != "off":
        repo = svc.repos.update_settings(who, repo, None, gated)
    if lic:
        _initial_readme(request, who, repo, lic)
    return RedirectResponse(_repo_url(repo), status_code=303)


def _initial_readme(request: Request, who: Principal, repo: Repo, lic: str) -> None:
    svc = services(request)
    files = svc.files.manifest(repo, svc.files.resolve_rev(repo, "main"))
    text = f"# {repo.name}\n"
    if "README.md" in files:  # a Space's README (its sdk metadata): add the license to it
        text = svc.content.read(files["README.md"].sha256).decode("utf-8", errors="replace")
    meta, body = _split(text)
    meta["license"] = lic
    parser = _parser(request, "Initial commit", "", None)
    _add_text(parser, "README.md", _join(meta, body))
    _commit(request, who, repo, "main", parser, False)


# --- text files: new, edit, the model-card editor ------------------------------------------------------
def _split(text: str) -> tuple[dict[str, Any], str]:
    """(metadata, markdown body) of a card; InvalidYaml when its front matter is malformed."""
    meta = parse_card(text) or {}
    _, body = split_front_matter(text)
    return meta, body


def _join(meta: dict[str, Any], body: str) -> str:
    if not meta:
        return body
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, default_flow_style=False)
    return f"---\n{front}---\n{body.lstrip(chr(10))}"


def _read_text(request: Request, repo: Repo, rev: str, path: str) -> tuple[str, str]:
    """(text, commit sha) of a text file the editor may edit; FileNotEditable for LFS/Xet, binary, big files."""
    svc = services(request)
    sha = svc.files.resolve_rev(repo, rev)
    entry = svc.files.manifest(repo, sha).get(path)
    if entry is None and path == "README.md":  # no card yet: the card editor starts empty
        return "", sha
    if entry is None:
        raise EntryNotFound(f"{path} does not exist at {rev}")
    svc.repos.check_download(repo, _who(request), path)  # the editor shows the file's bytes
    if entry.lfs:
        raise FileNotEditable(f"{path} is stored with LFS/Xet: upload a new version instead of editing it")
    if entry.size > MAX_TEXT:
        raise FileNotEditable(f"{path} is larger than {MAX_TEXT // 1024} kB: the web editor cannot edit it")
    data = svc.content.read(entry.sha256)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise FileNotEditable(f"{path} is not UTF-8 text: upload a new version instead") from None
    if "\0" in text:
        raise FileNotEditable(f"{path} is a binary file: upload a new version instead")
    return text, sha


def _card_values(meta: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key in CARD_FIELDS:
        val = meta.get(key)
        if isinstance(val, list):
            out[key] = ", ".join(str(x) for x in val)
        elif val is not None:
            out[key] = str(val)
        else:
            out[key] = ""
    return out


def _other_yaml(meta: dict[str, Any]) -> str:
    rest = {k: val for k, val in meta.items() if k not in CARD_FIELDS}
    if not rest:
        return ""
    return yaml.safe_dump(rest, sort_keys=False, allow_unicode=True, default_flow_style=False)


def card_from_form(fields: dict[str, str]) -> str:
    """The README text from the card editor's form: the metadata fields, merged over the YAML of `metadata_yaml`
    (the other keys) and over the front matter of `content` if it has one (a whole file pasted in); then the
    markdown body of `content`. An empty field removes its key. InvalidYaml on malformed YAML."""
    content = fields.get("content", "").replace("\r\n", "\n")
    meta, body = _split(content)
    extra_text = fields.get("metadata_yaml", "")
    if extra_text.strip():
        try:
            extra = yaml.safe_load(extra_text)
        except yaml.YAMLError as e:
            raise InvalidYaml(f"Invalid YAML in the other metadata: {e}") from None
        except RecursionError:
            raise InvalidYaml("Invalid YAML in the other metadata: nested too deeply") from None
        if not isinstance(extra, dict):
            raise InvalidYaml("The other metadata must be a YAML mapping (key: value lines)")
        meta.update({str(k): val for k, val in extra.items()})
    ordered: dict[str, Any] = {}
    for key, (_, is_list) in CARD_FIELDS.items():
        raw = fields.get(key, "").strip()
        if key not in fields:
            if key in meta:
                ordered[key] = meta[key]
            continue
        if not raw:
            continue
        ordered[key] = [x.strip() for x in raw.split(",") if x.strip()] if is_list else raw
    for key, val in meta.items():
        if key not in CARD_FIELDS:
            ordered[key] = val
    return _join(ordered, body)


def check_card(text: str) -> list[str]:
    """The messages of POST /api/validate-yaml for this README (parse errors, then the field checks)."""
    try:
        card = parse_card(text)
    except InvalidYaml as e:
        return [e.message]
    return validate(card) if card else []


def _edit_ctx(
    request: Request, repo: Repo, rev: str, path: str, pr_only: bool, text: str, sha: str
) -> dict[str, Any]:
    ctx = _common_ctx(request, repo, rev, pr_only)
    is_card = path == "README.md"
    ctx.update(path=path, parent=sha, is_card=is_card, max_text=MAX_TEXT)
    if is_card:
        try:
            meta, body = _split(text)
            ctx.update(card=_card_values(meta), other_yaml=_other_yaml(meta), content=body)
        except InvalidYaml as e:  # a broken card: edit it whole, with the message shown
            ctx.update(card=None, other_yaml="", content=text, card_errors=[e.message])
        ctx.update(
            card_fields=CARD_FIELDS,
            licenses=sorted(LICENSES),
            pipeline_tags=PIPELINE_TAGS,
            preview_html=render_markdown(ctx["content"] if ctx.get("card") is not None else text),
        )
    else:
        ctx["content"] = text
    return ctx


def edit_page(
    pages: Pages, request: Request, ns: str, name: str, rev: str, path: str, prefix: str | None = None
) -> Response:
    repo = _repo(request, prefix, ns, name)
    if _who(request) is None:
        return _login(request)
    path = validate_path(path)
    _, pr_only = _may_propose(request, repo, rev)
    text, sha = _read_text(request, repo, rev, path)
    ctx = _edit_ctx(request, repo, rev, path, pr_only, text, sha)
    return pages.render(request, "edit/edit.html", **ctx, summary=f"Update {path}", description="")


def edit_submit(
    pages: Pages, request: Request, ns: str, name: str, rev: str, path: str, prefix: str | None = None
) -> Response:
    repo = _repo(request, prefix, ns, name)
    path = validate_path(path)
    who, pr_only = _may_propose(request, repo, rev)
    f = v.form_fields(request)
    _, sha = _read_text(request, repo, rev, path)  # still an editable text file
    is_card = path == "README.md" and "metadata_yaml" in f
    summary = f.get("summary", "").strip() or f"Update {path}"
    try:
        text = card_from_form(f) if is_card else f.get("content", "").replace("\r\n", "\n")
        errors = check_card(text) if path == "README.md" else []
    except InvalidYaml as e:
        text, errors = f.get("content", ""), [e.message]
    if len(text.encode()) > MAX_TEXT:
        raise TooLarge(f"The file is larger than {MAX_TEXT // 1024} kB: the web editor cannot save it")
    if errors:  # invalid metadata: the form again (422), nothing committed
        ctx = _edit_ctx(request, repo, rev, path, pr_only, text, f.get("parent") or sha)
        if is_card:
            ctx.update(
                card={k: f.get(k, "") for k in CARD_FIELDS},
                other_yaml=f.get("metadata_yaml", ""),
                content=f.get("content", ""),
            )
        ctx["card_errors"] = errors
        return pages.render(
            request,
            "edit/edit.html",
            422,
            **ctx,
            summary=summary,
            description=f.get("description", ""),
            code="InvalidYaml",
            message=errors[0],
        )
    parser = _parser(request, summary, f.get("description", ""), f.get("parent") or None)
    _add_text(parser, path, text)
    pr = pr_only or _checkbox(f, "create_pr")
    goto = _commit(request, who, repo, rev, parser, pr)
    return RedirectResponse(goto or f"{_repo_url(repo)}/blob/{quote(rev)}/{quote(path)}", status_code=303)


def new_file_page(
    pages: Pages, request: Request, ns: str, name: str, rev: str, prefix: str | None = None
) -> Response:
    repo = _repo(request, prefix, ns, name)
    if _who(request) is None:
        return _login(request)
    _, pr_only = _may_propose(request, repo, rev)
    folder = request.query_params.get("path", "").strip("/")
    ctx = _common_ctx(request, repo, rev, pr_only)
    return pages.render(
        request,
        "edit/new_file.html",
        **ctx,
        values={"path": folder + "/" if folder else "", "content": "", "summary": "", "description": ""},
        error=None,
        max_text=MAX_TEXT,
    )


def new_file_submit(
    pages: Pages, request: Request, ns: str, name: str, rev: str, prefix: str | None = None
) -> Response:
    repo = _repo(request, prefix, ns, name)
    who, pr_only = _may_propose(request, repo, rev)
    f = v.form_fields(request)
    values = {k: f.get(k, "") for k in ("path", "content", "summary", "description")}
    try:
        path = validate_path(f.get("path", "").strip())
        text = f.get("content", "").replace("\r\n", "\n")
        if len(text.encode()) > MAX_TEXT:
            raise TooLarge(f"The file is larger than {MAX_TEXT // 1024} kB: upload it instead")
        files = services(request).files.manifest(repo, services(request).files.resolve_rev(repo, rev))
        if path in files:
            raise Conflict(f"{path} already exists: edit it instead")
        if path == "README.md" and (errors := check_card(text)):
            raise InvalidYaml(errors[0])
        parser = _parser(request, values["summary"].strip() or f"Create {path}", values["description"], None)
        _add_text(parser, path, text)
        goto = _commit(request, who, repo, rev, parser, pr_only or _checkbox(f, "create_pr"))
    except HubError as e:
        if e.status >= 500 or e.status in (401, 403, 404):
            raise
        ctx = _common_ctx(request, repo, rev, pr_only)
        return pages.render(
            request,
            "edit/new_file.html",
            e.status,
            **ctx,
            values=values,
            error=e.message,
            max_text=MAX_TEXT,
            code=e.code,
            message=e.message,
        )
    return RedirectResponse(goto or f"{_repo_url(repo)}/blob/{quote(rev)}/{quote(path)}", status_code=303)


# --- delete ----------------------------------------------------------------------------------------------
def _delete_target(request: Request, repo: Repo, rev: str, path: str) -> tuple[bool, str]:
    """(is a folder, commit sha); EntryNotFound when nothing is at `path`."""
    svc = services(request)
    sha = svc.files.resolve_rev(repo, rev)
    files = svc.files.manifest(repo, sha)
    if path in files:
        return False, sha
    if any(p.startswith(path + "/") for p in files):
        return True, sha
    raise EntryNotFound(f"{path} does not exist at {rev}")


def delete_page(
    pages: Pages, request: Request, ns: str, name: str, rev: str, path: str, prefix: str | None = None
) -> Response:
    repo = _repo(request, prefix, ns, name)
    if _who(request) is None:
        return _login(request)
    path = validate_path(path)
    _, pr_only = _may_propose(request, repo, rev)
    folder, sha = _delete_target(request, repo, rev, path)
    ctx = _common_ctx(request, repo, rev, pr_only)
    return pages.render(request, "edit/delete.html", **ctx, path=path, folder=folder, parent=sha)


def delete_submit(
    pages: Pages, request: Request, ns: str, name: str, rev: str, path: str, prefix: str | None = None
) -> Response:
    repo = _repo(request, prefix, ns, name)
    path = validate_path(path)
    who, pr_only = _may_propose(request, repo, rev)
    folder, _ = _delete_target(request, repo, rev, path)
    f = v.form_fields(request)
    parser = _parser(
        request, f.get("summary", "").strip() or f"Delete {path}", f.get("description", ""), f.get("parent")
    )
    parser.feed_line(_line("deletedFolder" if folder else "deletedFile", {"path": path}))
    goto = _commit(request, who, repo, rev, parser, pr_only or _checkbox(f, "create_pr"))
    parent_dir = path.rpartition("/")[0]
    tree = f"{_repo_url(repo)}/tree/{quote(rev)}" + (f"/{quote(parent_dir)}" if parent_dir else "")
    return RedirectResponse(goto or tree, status_code=303)


# --- upload ----------------------------------------------------------------------------------------------
def upload_page(
    pages: Pages, request: Request, ns: str, name: str, rev: str, prefix: str | None = None
) -> Response:
    repo = _repo(request, prefix, ns, name)
    if _who(request) is None:
        return _login(request)
    _, pr_only = _may_propose(request, repo, rev)
    ctx = _common_ctx(request, repo, rev, pr_only)
    return pages.render(
        request,
        "edit/upload.html",
        **ctx,
        folder=request.query_params.get("path", "").strip("/"),
        error=None,
        max_body=MAX_UPLOAD_BODY,
        max_files=MAX_UPLOAD_FILES,
        api_base=f"/api/{repo.type.plural}/{repo.id_str}",
        lfs_batch=f"{_repo_url(repo)}.git/info/lfs/objects/batch",
    )


def upload_submit(
    pages: Pages, request: Request, ns: str, name: str, rev: str, prefix: str | None = None
) -> Response:
    """The no-JavaScript upload: each file is committed the way the NDJSON endpoint would take it; `preupload`
    decides (the repo's .gitattributes, size, binary sample), small text files inline, the others through the blob
    store as LFS objects bound to this repo (what an LFS PUT does), all in one commit."""
    repo = _repo(request, prefix, ns, name)
    f = v.form_fields(request)
    svc = services(request)
    who, pr_only = _may_propose(request, repo, rev)
    pr = pr_only or _checkbox(f, "create_pr")
    folder = f.get("folder", "").strip().strip("/")
    uploads = [(name_, up) for name_, up in form_files(request) if up.filename]
    if not uploads:
        raise BadRequest("Choose at least one file to upload")
    items: list[tuple[str, Any]] = []
    for _, up in uploads:
        rel = (up.filename or "").replace("\\", "/")
        items.append((validate_path(f"{folder}/{rel}" if folder else rel), up))
    if len({p for p, _ in items}) != len(items):
        raise InvalidPath("Two of the files have the same path")
    asked = []
    for path, up in items:
        up.file.seek(0)
        sample = up.file.read(512)
        up.file.seek(0, 2)
        size = up.file.tell()
        up.file.seek(0)
        asked.append({"path": path, "size": size, "sample": base64.b64encode(sample).decode()})
    modes = svc.files.preupload(repo, rev, asked, None)
    parser = _parser(request, f.get("summary", "").strip() or "Upload files", f.get("description", ""), None)
    for (path, up), mode, info in zip(items, modes, asked, strict=True):
        if mode["shouldIgnore"]:
            continue
        if mode["uploadMode"] == "regular":
            data = up.file.read()
            content = base64.b64encode(data).decode()
            parser.feed_line(_line("file", {"path": path, "content": content, "encoding": "base64"}))
            continue
        writer = svc.store.writer(max_size=info["size"], expected_size=info["size"])
        try:
            while chunk := up.file.read(8 * 1024 * 1024):
                writer.write(chunk)
            blob = writer.commit(expected_size=info["size"])
        except BaseException:
            writer.abort()
            raise
        svc.files.record_lfs(repo.id, blob.sha256, blob.size)  # the bytes were just uploaded to this repo
        parser.feed_line(
            _line("lfsFile", {"path": path, "algo": "sha256", "oid": blob.sha256, "size": blob.size})
        )
    goto = _commit(request, who, repo, rev, parser, pr)
    return RedirectResponse(goto or f"{_repo_url(repo)}/tree/{quote(rev)}", status_code=303)


# --- the card editor's live preview ----------------------------------------------------------------------
def card_preview(request: Request, ns: str, name: str, prefix: str | None = None) -> Response:
    """POST (the editor's form, with its CSRF token): the rendered markdown (sanitised) and the validate-yaml
    messages of the README the form would commit. JSON {html, errors}."""
    _repo(request, prefix, ns, name)
    if _who(request) is None:
        raise Unauthorized("You must be logged in to preview a card")
    f = v.form_fields(request)
    try:
        text = card_from_form(f) if "metadata_yaml" in f else f.get("content", "")
        errors = check_card(text)
        _, body = split_front_matter(text)
    except InvalidYaml as e:
        body, errors = split_front_matter(f.get("content", ""))[1], [e.message]
    return JSONResponse({"html": render_markdown(body), "errors": errors})


def _too_large(pages: Pages, request: Request, limit: int = 0, **_: str) -> Response:
    raise TooLarge(
        f"The request is larger than {limit // (1024 * 1024)} MB: upload big files with JavaScript on"
    )


def _sized(kit: RouteKit, endpoint: v.Endpoint, limit: int) -> v.Endpoint:
    """A form endpoint that answers 413 TooLarge (not the CSRF refusal of an unread body) past `limit` bytes."""
    too_big = kit.page(_too_large, limit=limit)

    async def sized(request: Request) -> Response:
        size = request.headers.get("content-length", "")
        if size.isdigit() and int(size) > limit:
            return await too_big(request)
        return await endpoint(request)

    return sized


# --- routes ----------------------------------------------------------------------------------------------
def routes(kit: RouteKit) -> list[BaseRoute]:
    """Fixed paths (matched before /{user} and the repo pages)."""
    out: list[BaseRoute] = []
    for path, rtype in (
        ("/new", RepoType.MODEL),
        ("/new-dataset", RepoType.DATASET),
        ("/new-space", RepoType.SPACE),
    ):
        out.append(Route(path, kit.page(new_repo_form, rtype=rtype), methods=["GET"]))
        out.append(Route(path, kit.form(new_repo_submit, rtype=rtype), methods=["POST"]))
    return out


def repo_routes(kit: RouteKit, base: str, prefix: str | None) -> list[BaseRoute]:
    """Paths under a repo's base path (`/{ns}/{name}`, `/datasets/{ns}/{name}`, `/spaces/{ns}/{name}`)."""
    g = kit.page
    text_form = kit.form
    upload = kit.form(upload_submit, max_body=MAX_UPLOAD_BODY, max_files=MAX_UPLOAD_FILES, prefix=prefix)
    return [
        Route(base + "/upload/{rev}", g(upload_page, prefix=prefix), methods=["GET"]),
        Route(base + "/upload/{rev}", _sized(kit, upload, MAX_UPLOAD_BODY), methods=["POST"]),
        Route(base + "/new/{rev}", g(new_file_page, prefix=prefix), methods=["GET"]),
        Route(
            base + "/new/{rev}",
            _sized(kit, text_form(new_file_submit, max_body=MAX_TEXT_BODY, prefix=prefix), MAX_TEXT_BODY),
            methods=["POST"],
        ),
        Route(base + "/edit/{rev}/{path:path}", g(edit_page, prefix=prefix), methods=["GET"]),
        Route(
            base + "/edit/{rev}/{path:path}",
            _sized(kit, text_form(edit_submit, max_body=MAX_TEXT_BODY, prefix=prefix), MAX_TEXT_BODY),
            methods=["POST"],
        ),
        Route(base + "/delete/{rev}/{path:path}", g(delete_page, prefix=prefix), methods=["GET"]),
        Route(base + "/delete/{rev}/{path:path}", kit.form(delete_submit, prefix=prefix), methods=["POST"]),
        Route(
            base + "/card-preview",
            _sized(
                kit,
                kit.form(card_preview, max_body=MAX_TEXT_BODY, with_pages=False, prefix=prefix),
                MAX_TEXT_BODY,
            ),
            methods=["POST"],
        ),
    ]
