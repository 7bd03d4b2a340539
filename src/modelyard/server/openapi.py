"""The OpenAPI 3.1 description of the hub's HF-compatible API, served at ``GET /openapi.json``.

It describes every route of the raw-path `Router` (server/app.py `build_router`); the sub-apps (``/xet-cas``,
``/endpoints``, ``/static``) and the web UI are not part of it. tests/unit/test_openapi.py checks that every
router route is described here and that every operation here reaches a router route, so the two cannot drift;
tests/security/test_openapi_fuzz.py fuzzes a live hub with schemathesis from this document.

Conventions the document encodes:
- ``{rev}`` and ``{path}`` are percent-encoded in the URL (``refs%2Fpr%2F1``); the router matches the raw path.
- Every error answers the same shape: JSON ``{"error": message}`` and the headers ``X-Error-Code``,
  ``X-Error-Message``, ``X-Request-Id`` (no body for HEAD).
- Repo-scoped routes answer 307 (relative ``Location``) for the old name of a moved repo the caller may read.
"""

from __future__ import annotations

import copy
import functools
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from modelyard.server.api._common import base_url
from modelyard.server.routing import Router

OPENAPI_PATH = "/openapi.json"
JSON = "application/json"
Schema = dict[str, Any]
Operation = dict[str, Any]


# --- small schema helpers ------------------------------------------------------------------------------------
def _ref(kind: str, name: str) -> Schema:
    return {"$ref": f"#/components/{kind}/{name}"}


def _s(name: str) -> Schema:
    return _ref("schemas", name)


def _obj(props: dict[str, Schema], required: tuple[str, ...] = ()) -> Schema:
    out: Schema = {"type": "object", "properties": props}
    if required:
        out["required"] = list(required)
    return out


STR: Schema = {"type": "string"}
BOOL: Schema = {"type": "boolean"}
INT: Schema = {"type": "integer"}
NULLABLE_STR: Schema = {"type": ["string", "null"]}
FLAG: Schema = {"type": "boolean", "description": "1/true/yes/on for true; anything else is false"}


def _path_param(name: str, schema: Schema, description: str) -> Schema:
    return {"name": name, "in": "path", "required": True, "schema": schema, "description": description}


def _query(name: str, schema: Schema, description: str = "") -> Schema:
    p: Schema = {"name": name, "in": "query", "required": False, "schema": schema}
    if description:
        p["description"] = description
    return p


SEGMENT: Schema = {"type": "string", "minLength": 1}
P_TYPE = _path_param("type", {"type": "string", "enum": ["models", "datasets", "spaces"]}, "Repo type")
P_NS = _path_param("namespace", SEGMENT, "User or organisation name")
P_NAME = _path_param("name", SEGMENT, "Repo name")
P_REV = _path_param(
    "rev", SEGMENT, "Branch, tag, refs/pr/N or (short) commit sha, percent-encoded (refs%2Fpr%2F1)"
)
P_PATH = _path_param("path", SEGMENT, "A file or folder path in the repo, percent-encoded")
P_PREFIX = _path_param(
    "prefix", {"type": "string", "enum": ["datasets", "spaces"]}, "Repo type prefix (models have none)"
)
P_RTYPE = _path_param("rtype", {"type": "string", "enum": ["model", "dataset", "space"]}, "Repo type")
P_OID = _path_param("oid", {"type": "string", "pattern": "^[0-9a-f]{64}$"}, "sha256 of the LFS object")
P_NUM = _path_param("num", {"type": "string", "pattern": "^[0-9]{1,9}$"}, "Discussion number")
REPO_PARAMS = [P_TYPE, P_NS, P_NAME]

COMMON_ERRORS = ("400", "401", "403", "404", "413", "422", "429")


def _json_body(schema: Schema, required: bool = True, description: str = "") -> Schema:
    out: Schema = {"required": required, "content": {JSON: {"schema": schema}}}
    if description:
        out["description"] = description
    return out


def _ok(schema: Schema | None, media: str = JSON, headers: dict[str, Schema] | None = None) -> Schema:
    out: Schema = {"description": "Success"}
    if schema is not None:
        out["content"] = {media: {"schema": schema}}
    if headers:
        out["headers"] = headers
    return out


def op(
    summary: str,
    tag: str,
    params: list[Schema],
    ok: Schema,
    body: Schema | None = None,
    errors: tuple[str, ...] = (),
    repo_scoped: bool = True,
    ok_status: str = "200",
    auth: str = "optional",
    head: bool = False,
) -> Operation:
    """One operation. `auth`: 'optional' (anonymous allowed where the repo is public) or 'required'."""
    responses: dict[str, Schema] = {ok_status: ok}
    for code in (*COMMON_ERRORS, *errors):
        responses[code] = _ref("responses", "ErrorHead" if head else "Error")
    if repo_scoped:
        responses["307"] = _ref("responses", "Moved")
    out: Operation = {"summary": summary, "tags": [tag], "parameters": params, "responses": responses}
    if body is not None:
        out["requestBody"] = body
    out["security"] = [{"bearer": []}] if auth == "required" else [{"bearer": []}, {}]
    return out


# --- component schemas ---------------------------------------------------------------------------------------
def _components() -> dict[str, Any]:
    error_headers = {
        "X-Error-Code": {
            "required": True,
            "schema": STR,
            "description": "Stable error code (e.g. RepoNotFound)",
        },
        "X-Error-Message": {
            "required": True,
            "schema": STR,
            "description": "The message, on one latin-1 line",
        },
        "X-Request-Id": {"required": True, "schema": STR, "description": "Echoed or generated request id"},
    }
    repo_ref = _obj({"name": STR, "type": STR}, ("name", "type"))
    event = _obj(
        {
            "id": STR,
            "type": STR,
            "createdAt": STR,
            "author": {"type": ["object", "null"]},
            "data": {"type": "object"},
        },
        ("id", "type", "createdAt"),
    )
    discussion = _obj(
        {
            "num": INT,
            "title": STR,
            "status": STR,
            "isPullRequest": BOOL,
            "createdAt": STR,
            "author": {"type": "object"},
            "repo": repo_ref,
            "pinned": BOOL,
            "numComments": INT,
            "topReactions": {"type": "array"},
        },
        ("num", "title", "status", "isPullRequest", "createdAt", "repo"),
    )
    ref_item = _obj({"name": STR, "ref": STR, "targetCommit": STR}, ("name", "ref", "targetCommit"))
    lfs_info = _obj({"oid": STR, "size": INT, "pointerSize": INT}, ("oid", "size"))
    return {
        "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "description": "A ModelYard token"}
        },
        "responses": {
            "Error": {
                "description": "An error in the Hub's format (no body for HEAD)",
                "headers": error_headers,
                "content": {JSON: {"schema": _s("Error")}},
            },
            "NotFoundOrPage": {
                "description": "Not found: JSON from the API, or the web UI's HTML page for a URL no API route matches",
                "headers": error_headers,
                "content": {JSON: {"schema": _s("Error")}, "text/html": {"schema": STR}},
            },
            "ErrorHead": {
                "description": "An error to a HEAD request: the headers only",
                "headers": error_headers,
            },
            "Moved": {
                "description": "The repo was renamed: the same request at the new name",
                "headers": {"Location": {"required": True, "schema": STR}},
            },
        },
        "schemas": {
            "Error": _obj({"error": STR, "url": STR}, ("error",)),
            "Empty": {"type": "object"},
            "RepoInfo": {
                **_obj(
                    {
                        "_id": STR,
                        "id": STR,
                        "author": STR,
                        "sha": NULLABLE_STR,
                        "lastModified": NULLABLE_STR,
                        "createdAt": NULLABLE_STR,
                        "private": BOOL,
                        "gated": {"type": ["string", "boolean"]},
                        "disabled": BOOL,
                        "downloads": INT,
                        "likes": INT,
                        "tags": {"type": "array", "items": STR},
                        "cardData": {"type": ["object", "null"]},
                        "usedStorage": INT,
                        "siblings": {
                            "type": "array",
                            "items": _obj({"rfilename": STR}, ("rfilename",)),
                        },
                        "securityRepoStatus": _obj(  # with securityStatus=true (hub/pickles.py)
                            {
                                "scansDone": BOOL,
                                "filesWithIssues": {"type": "array", "items": {"type": "object"}},
                            },
                            ("scansDone", "filesWithIssues"),
                        ),
                    },
                    ("_id", "id"),
                ),
                "description": "Repo metadata; `expand` keeps only the listed keys (plus id, _id)",
            },
            "TreeEntry": _obj(
                {
                    "type": {"type": "string", "enum": ["file", "directory"]},
                    "oid": STR,
                    "path": STR,
                    "size": INT,
                    "lfs": lfs_info,
                    "xetHash": STR,
                    "lastCommit": {"type": ["object", "null"]},
                    "securityFileStatus": _obj(  # with expand (hub/pickles.py)
                        {
                            "status": STR,
                            "avScan": {"type": "object"},
                            "pickleImportScan": {"type": ["object", "null"]},
                        },
                        ("status", "avScan", "pickleImportScan"),
                    ),
                },
                ("type", "oid", "path", "size"),
            ),
            "CommitItem": _obj(
                {
                    "id": STR,
                    "authors": {"type": "array"},
                    "date": NULLABLE_STR,
                    "title": STR,
                    "message": STR,
                    "formatted": _obj({"title": STR, "message": STR}),
                },
                ("id", "title", "message"),
            ),
            "Refs": _obj(
                {
                    "branches": {"type": "array", "items": ref_item},
                    "tags": {"type": "array", "items": ref_item},
                    "converts": {"type": "array", "items": ref_item},
                    "pullRequests": {"type": "array", "items": ref_item},
                },
                ("branches", "tags", "converts"),
            ),
            "Whoami": _obj(
                {
                    "type": STR,
                    "id": STR,
                    "name": STR,
                    "fullname": NULLABLE_STR,
                    "orgs": {"type": "array", "items": {"type": "object"}},
                    "auth": {"type": "object"},
                },
                ("type", "name", "auth"),
            ),
            "CreatedRepo": _obj({"url": STR, "name": STR, "id": STR}, ("url", "name")),
            "Discussion": discussion,
            "DiscussionDetails": {
                "allOf": [discussion, _obj({"events": {"type": "array", "items": event}}, ("events",))]
            },
            "DiscussionList": _obj(
                {
                    "discussions": {"type": "array", "items": discussion},
                    "count": INT,
                    "start": INT,
                    "numClosedDiscussions": INT,
                },
                ("discussions", "count", "start"),
            ),
            "Event": event,
            "XetToken": _obj(
                {"accessToken": STR, "exp": INT, "casUrl": STR}, ("accessToken", "exp", "casUrl")
            ),
            "CommitResult": _obj(
                {
                    "success": BOOL,
                    "commitOid": STR,
                    "commitUrl": STR,
                    "commitMessage": STR,
                    "hookOutput": STR,
                    "pullRequestUrl": NULLABLE_STR,
                },
                ("success", "commitOid", "commitUrl"),
            ),
            "CommitLine": {
                "description": "One NDJSON line of a commit: a header first, then one line per operation",
                **_obj(
                    {
                        "key": {
                            "type": "string",
                            "enum": ["header", "file", "lfsFile", "deletedFile", "deletedFolder"],
                        },
                        "value": _obj(
                            {
                                "summary": STR,
                                "description": STR,
                                "parentCommit": STR,
                                "path": STR,
                                "content": STR,
                                "encoding": {"type": "string", "enum": ["base64", "utf-8"]},
                                "algo": {"type": "string", "enum": ["sha256"]},
                                "oid": STR,
                                "size": {"type": "integer", "minimum": 0},
                            }
                        ),
                    },
                    ("key", "value"),
                ),
            },
        },
    }


# --- operations ----------------------------------------------------------------------------------------------
def _operations() -> dict[str, dict[str, Operation]]:
    paths: dict[str, dict[str, Operation]] = {}

    def add(method: str, path: str, operation: Operation) -> None:
        if not path.startswith("/api/"):  # a URL that matches no route here falls through to the web UI
            head = method == "HEAD"
            operation["responses"]["404"] = _ref("responses", "ErrorHead" if head else "NotFoundOrPage")
            operation["responses"]["405"] = _ref("responses", "ErrorHead" if head else "Error")
        paths.setdefault(path, {})[method.lower()] = operation

    repo = "/api/{type}/{namespace}/{name}"
    visibility = {"type": "string", "enum": ["public", "private", "protected"]}
    repo_type_body = {
        "type": ["string", "null"],
        "enum": ["model", "dataset", "space", "models", "datasets", "spaces", None],
    }

    # identity, repos
    add(
        "GET",
        "/api/whoami-v2",
        op(
            "The caller's account, orgs and token",
            "identity",
            [],
            _ok(_s("Whoami")),
            repo_scoped=False,
            auth="required",
        ),
    )
    add(
        "POST",
        "/api/repos/create",
        op(
            "Create a repo",
            "repos",
            [],
            _ok(_s("CreatedRepo")),
            _json_body(
                _obj(
                    {
                        "name": STR,
                        "organization": NULLABLE_STR,
                        "type": repo_type_body,
                        "visibility": visibility,
                        "private": {"type": ["boolean", "null"]},
                        "sdk": NULLABLE_STR,
                    },
                    ("name",),
                )
            ),
            errors=("409", "507"),
            repo_scoped=False,
            auth="required",
        ),
    )
    add(
        "DELETE",
        "/api/repos/delete",
        op(
            "Delete a repo",
            "repos",
            [],
            _ok(_s("Empty")),
            _json_body(_obj({"name": STR, "organization": NULLABLE_STR, "type": repo_type_body}, ("name",))),
            repo_scoped=False,
            auth="required",
        ),
    )
    add(
        "POST",
        "/api/repos/move",
        op(
            "Rename or transfer a repo",
            "repos",
            [],
            _ok(_obj({"url": STR}, ("url",))),
            _json_body(
                _obj({"fromRepo": STR, "toRepo": STR, "type": repo_type_body}, ("fromRepo", "toRepo"))
            ),
            errors=("409",),
            repo_scoped=False,
            auth="required",
        ),
    )
    yaml_result = _obj({"errors": {"type": "array"}, "warnings": {"type": "array"}}, ("errors",))
    validate = op(
        "Validate a model card's YAML front matter",
        "repos",
        [],
        _ok(yaml_result),
        _json_body(_obj({"content": STR, "repoType": STR}, ("content",))),
        repo_scoped=False,
    )
    validate["responses"]["400"] = {
        "description": "Invalid metadata ({errors: [{message}]}, as the HF clients read it) or an unreadable body",
        "headers": {"X-Request-Id": {"required": True, "schema": STR}},
        "content": {JSON: {"schema": {"anyOf": [yaml_result, _s("Error")]}}},
    }
    add("POST", "/api/validate-yaml", validate)
    list_query = [
        _query("search", STR),
        _query("author", STR),
        _query("filter", {"type": "array", "items": STR}),
        _query("tags", {"type": "array", "items": STR}),
        _query("pipeline_tag", STR),
        _query("library", STR),
        _query("language", STR),
        _query("license", STR),
        _query("sort", STR),
        _query("direction", STR, "'1' for ascending"),
        _query("limit", INT, "1..1000 (clamped)"),
        _query("offset", INT),
        _query("p", INT, "page offset (alias of offset)"),
        _query("full", FLAG),
        _query("cardData", FLAG),
        _query("expand", {"type": "array", "items": STR}),
    ]
    add(
        "GET",
        "/api/{type}",
        op(
            "List or search repos (Link: rel=next pagination)",
            "repos",
            [P_TYPE, *list_query],
            _ok({"type": "array", "items": _s("RepoInfo")}, headers={"Link": {"schema": STR}}),
            repo_scoped=False,
        ),
    )
    add(
        "PUT",
        repo + "/settings",
        op(
            "Change visibility or gating",
            "repos",
            REPO_PARAMS,
            _ok(_obj({"private": BOOL, "gated": {"type": ["string", "boolean"]}}, ("private", "gated"))),
            _json_body(
                _obj(
                    {
                        "visibility": visibility,
                        "private": {"type": ["boolean", "null"]},
                        "gated": {"type": ["string", "boolean", "null"]},
                    }
                )
            ),
            auth="required",
        ),
    )
    auth_ok = _ok(_obj({"accessRequest": {"type": "null"}}))
    add("GET", repo + "/auth-check", op("200 if the caller may read the repo", "repos", REPO_PARAMS, auth_ok))
    add(
        "GET",
        repo + "/auth-check/write",
        op("200 if the caller may write the repo", "repos", REPO_PARAMS, auth_ok),
    )
    info_query = [
        _query("expand", {"type": "array", "items": STR}),
        _query("blobs", FLAG),
        _query("securityStatus", FLAG, "adds securityRepoStatus (pickle scans)"),
    ]
    add("GET", repo, op("Repo info at main", "repos", [*REPO_PARAMS, *info_query], _ok(_s("RepoInfo"))))
    add(
        "GET",
        repo + "/revision/{rev}",
        op("Repo info at a revision", "repos", [*REPO_PARAMS, P_REV, *info_query], _ok(_s("RepoInfo"))),
    )

    # tree, refs, history
    tree_query = [
        _query("recursive", FLAG),
        _query("expand", FLAG, "adds lastCommit and securityFileStatus (pages of 50)"),
        _query("limit", {"type": "integer", "minimum": 1}),
        _query("cursor", {"type": "integer", "minimum": 0}),
    ]
    tree_ok = _ok(
        {"type": "array", "items": _s("TreeEntry")},
        headers={"X-Repo-Commit": {"schema": STR, "required": True}, "Link": {"schema": STR}},
    )
    add(
        "GET",
        repo + "/tree/{rev}",
        op("List the root folder", "files", [*REPO_PARAMS, P_REV, *tree_query], tree_ok),
    )
    add(
        "GET",
        repo + "/tree/{rev}/{path}",
        op("List a folder", "files", [*REPO_PARAMS, P_REV, P_PATH, *tree_query], tree_ok),
    )
    paths_schema = _obj(
        {
            "paths": {"type": "array", "items": STR, "maxItems": 1000},
            "expand": {"type": ["boolean", "string"]},
        },
        ("paths",),
    )
    add(
        "POST",
        repo + "/paths-info/{rev}",
        op(
            "Info for a list of paths (form or JSON body)",
            "files",
            [*REPO_PARAMS, P_REV],
            _ok({"type": "array", "items": _s("TreeEntry")}, headers={"X-Repo-Commit": {"schema": STR}}),
            {
                "required": True,
                "content": {
                    "application/x-www-form-urlencoded": {"schema": paths_schema},
                    JSON: {"schema": paths_schema},
                },
            },
        ),
    )
    add(
        "GET",
        repo + "/refs",
        op(
            "Branches, tags, converts (and PRs)",
            "refs",
            [*REPO_PARAMS, _query("include_prs", FLAG)],
            _ok(_s("Refs")),
        ),
    )
    add(
        "GET",
        repo + "/commits/{rev}",
        op(
            "Commit history, newest first",
            "refs",
            [
                *REPO_PARAMS,
                P_REV,
                _query("limit", INT, "1..1000 (clamped)"),
                _query("p", {"type": "integer", "minimum": 0}),
                _query("expand", {"type": "array", "items": STR}, "'formatted'"),
            ],
            _ok({"type": "array", "items": _s("CommitItem")}, headers={"Link": {"schema": STR}}),
        ),
    )
    p_branch = _path_param("branch", SEGMENT, "Branch name, percent-encoded")
    add(
        "POST",
        repo + "/branch/{branch}",
        op(
            "Create a branch",
            "refs",
            [*REPO_PARAMS, p_branch],
            _ok(_s("Empty")),
            _json_body(_obj({"startingPoint": NULLABLE_STR}), required=False),
            errors=("409",),
            auth="required",
        ),
    )
    add(
        "DELETE",
        repo + "/branch/{branch}",
        op("Delete a branch", "refs", [*REPO_PARAMS, p_branch], _ok(_s("Empty")), auth="required"),
    )
    add(
        "POST",
        repo + "/tag/{rev}",
        op(
            "Tag a revision",
            "refs",
            [*REPO_PARAMS, P_REV],
            _ok(_s("Empty")),
            _json_body(_obj({"tag": STR, "message": NULLABLE_STR}, ("tag",))),
            errors=("409",),
            auth="required",
        ),
    )
    add(
        "DELETE",
        repo + "/tag/{rev}",
        op(
            "Delete a tag ({rev} is the tag name)",
            "refs",
            [*REPO_PARAMS, P_REV],
            _ok(_s("Empty")),
            auth="required",
        ),
    )
    add(
        "POST",
        repo + "/super-squash/{rev}",
        op(
            "Squash a branch's history into one commit",
            "refs",
            [*REPO_PARAMS, P_REV],
            _ok(_obj({"commitId": STR}, ("commitId",))),
            _json_body(_obj({"message": NULLABLE_STR}), required=False),
            errors=("409",),
            auth="required",
        ),
    )
    add(
        "GET",
        repo + "/lfs-files",
        op(
            "LFS objects of the repo with a filename from its history (write access)",
            "files",
            REPO_PARAMS,
            _ok({"type": "array", "items": {"type": "object"}}),
            auth="required",
        ),
    )

    # uploads
    create_pr = _query("create_pr", FLAG, "open a pull request instead of committing to {rev}")
    add(
        "POST",
        repo + "/preupload/{rev}",
        op(
            "Upload mode (regular or lfs) for files about to be committed",
            "upload",
            [*REPO_PARAMS, P_REV, create_pr],
            _ok(_obj({"files": {"type": "array"}, "commitOid": {"type": "null"}}, ("files",))),
            _json_body(
                _obj(
                    {
                        "files": {
                            "type": "array",
                            "items": _obj(
                                {"path": STR, "sample": STR, "size": {"type": "integer", "minimum": 0}},
                                ("path",),
                            ),
                        },
                        "gitIgnore": STR,
                    },
                    ("files",),
                )
            ),
            auth="required",
        ),
    )
    add(
        "POST",
        repo + "/commit/{rev}",
        op(
            "Commit: an NDJSON body, a header line then one line per file operation",
            "upload",
            [*REPO_PARAMS, P_REV, create_pr],
            _ok(_s("CommitResult")),
            {
                "required": True,
                "content": {"application/x-ndjson": {"schema": {"type": "array", "items": _s("CommitLine")}}},
            },
            errors=("409", "412", "507"),
            auth="required",
        ),
    )
    for kind in ("read", "write"):
        add(
            "GET",
            repo + f"/xet-{kind}-token/{{rev}}",
            op(
                f"A Xet CAS {kind} token (body and X-Xet-* headers)",
                "xet",
                [*REPO_PARAMS, P_REV, *([create_pr] if kind == "write" else [])],
                _ok(_s("XetToken"), headers={"X-Xet-Cas-Url": {"schema": STR, "required": True}}),
                auth="required" if kind == "write" else "optional",
            ),
        )
    add(
        "POST",
        "/v1/telemetry",
        op(
            "hf_xet's telemetry sink (ignored)",
            "xet",
            [],
            _ok(_s("Empty")),
            {"required": False, "content": {"*/*": {"schema": {}}}},
            repo_scoped=False,
        ),
    )

    # LFS
    lfs_body = _obj(
        {
            "operation": {"type": "string", "enum": ["upload", "download"]},
            "transfers": {"type": "array", "items": STR},
            "ref": _obj({"name": STR}),
            "objects": {
                "type": "array",
                "items": _obj({"oid": STR, "size": {"type": "integer", "minimum": 0}}, ("oid", "size")),
            },
            "hash_algo": STR,
        },
        ("operation", "objects"),
    )
    for prefix in ("", "/{prefix}"):
        add(
            "POST",
            prefix + "/{namespace}/{name}.git/info/lfs/objects/batch",
            op(
                "Git LFS batch API",
                "lfs",
                [*([P_PREFIX] if prefix else []), P_NS, P_NAME],
                _ok({"type": "object"}, media="application/vnd.git-lfs+json"),
                {
                    "required": True,
                    "content": {
                        "application/vnd.git-lfs+json": {"schema": lfs_body},
                        JSON: {"schema": lfs_body},
                    },
                },
                errors=("507",),
            ),
        )
    signed = [
        _query("sig", STR, "signature of the upload ticket"),
        _query("exp", STR, "expiry of the upload ticket"),
    ]
    add(
        "PUT",
        "/lfs-upload/{oid}",
        op(
            "Upload an LFS object's bytes (signed URL from the batch API)",
            "lfs",
            [P_OID, *signed],
            _ok(None),
            {
                "required": True,
                "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
            },
            errors=("507",),
            repo_scoped=False,
        ),
    )
    add(
        "POST",
        "/lfs-upload/{oid}",
        op(
            "Complete a multipart LFS upload (signed URL)",
            "lfs",
            [P_OID, *signed],
            _ok(_obj({"oid": STR}, ("oid",))),
            _json_body(
                _obj(
                    {"oid": STR, "parts": {"type": "array", "items": _obj({"partNumber": INT, "etag": STR})}}
                )
            ),
            errors=("507",),
            repo_scoped=False,
        ),
    )
    add(
        "PUT",
        "/lfs-upload/{oid}/part/{part}",
        op(
            "Upload one part of a multipart LFS upload (signed URL)",
            "lfs",
            [
                P_OID,
                _path_param("part", {"type": "string", "pattern": "^[0-9]{1,9}$"}, "Part number"),
                *signed,
            ],
            _ok(None, headers={"ETag": {"schema": STR, "required": True}}),
            {
                "required": True,
                "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
            },
            errors=("507",),
            repo_scoped=False,
        ),
    )
    add(
        "POST",
        "/lfs-verify/{rtype}/{namespace}/{name}",
        op(
            "Verify an uploaded LFS object",
            "lfs",
            [P_RTYPE, P_NS, P_NAME],
            _ok(_obj({"oid": STR, "size": INT}, ("oid", "size"))),
            _json_body(_obj({"oid": STR, "size": INT}, ("oid",))),
        ),
    )
    add(
        "GET",
        "/lfs-objects/{rtype}/{namespace}/{name}/{oid}",
        op(
            "Download an LFS object of a repo by sha256",
            "lfs",
            [P_RTYPE, P_NS, P_NAME, P_OID],
            _ok({"type": "string", "format": "binary"}, media="application/octet-stream"),
        ),
    )

    # git-lfs locking API (server/api/lfs.py): ModelYard keeps no locks
    lfs_media = "application/vnd.git-lfs+json"
    lock_list = {"type": "array", "items": {"type": "object"}}
    for prefix in ("", "/{prefix}"):
        lock_params = [*([P_PREFIX] if prefix else []), P_NS, P_NAME]
        add(
            "GET",
            prefix + "/{namespace}/{name}.git/info/lfs/locks",
            op(
                "Git LFS locks (git lfs locks): always none",
                "lfs",
                lock_params,
                _ok(_obj({"locks": lock_list}, ("locks",)), media=lfs_media),
            ),
        )
        verify_body = _obj({"ref": _obj({"name": STR}), "cursor": STR, "limit": INT})
        add(
            "POST",
            prefix + "/{namespace}/{name}.git/info/lfs/locks/verify",
            op(
                "Git LFS lock verification of a push: always none; the push right",
                "lfs",
                lock_params,
                _ok(_obj({"ours": lock_list, "theirs": lock_list}, ("ours", "theirs")), media=lfs_media),
                {
                    "required": False,
                    "content": {lfs_media: {"schema": verify_body}, JSON: {"schema": verify_body}},
                },
            ),
        )
    # downloads
    file_headers: dict[str, Schema] = {
        "X-Repo-Commit": {"schema": STR, "required": True},
        "ETag": {"schema": STR, "required": True},
        "Content-Length": {"schema": STR, "required": True},
        "X-Linked-Size": {"schema": STR},
        "X-Xet-Hash": {"schema": STR},
    }
    range_header = {
        "name": "Range",
        "in": "header",
        "required": False,
        "schema": STR,
        "description": "One 'bytes=a-b' range (206); other forms are ignored",
    }
    kinds = {
        "resolve": "Download a file (LFS and Xet files: their content)",
        "raw": "A file's git blob (LFS and Xet files: their pointer text)",
    }
    for kind, summary in kinds.items():
        for prefix in ("", "/{prefix}"):
            params = [*([P_PREFIX] if prefix else []), P_NS, P_NAME, P_REV, P_PATH, range_header]
            for method in ("GET", "HEAD"):
                blob = {"type": "string", "format": "binary"} if method == "GET" else None
                o = op(
                    f"{summary} ({method})",
                    "files",
                    params,
                    _ok(blob, media="*/*", headers=file_headers),
                    errors=("416",),
                    head=method == "HEAD",
                )
                o["responses"]["206"] = _ok(
                    blob,
                    media="*/*",
                    headers={**file_headers, "Content-Range": {"schema": STR, "required": True}},
                )
                o["responses"]["302"] = {
                    "description": "content_url is set: a short-lived signed URL on the content origin",
                    "headers": {
                        "Location": {"required": True, "schema": STR},
                        "X-Repo-Commit": {"schema": STR},
                    },
                }
                add(method, prefix + f"/{{namespace}}/{{name}}/{kind}/{{rev}}/{{path}}", o)

    # discussions, likes
    add(
        "GET",
        repo + "/discussions",
        op(
            "List discussions and pull requests",
            "discussions",
            [
                *REPO_PARAMS,
                _query("type", {"type": "string", "enum": ["all", "discussion", "pull_request"]}),
                _query("status", {"type": "string", "enum": ["all", "open", "closed"]}),
                _query("author", STR),
                _query("p", {"type": "integer", "minimum": 0}),
            ],
            _ok(_s("DiscussionList")),
        ),
    )
    add(
        "POST",
        repo + "/discussions",
        op(
            "Open a discussion or pull request",
            "discussions",
            REPO_PARAMS,
            _ok(_obj({"num": INT, "pullRequest": BOOL}, ("num", "pullRequest"))),
            _json_body(_obj({"title": STR, "description": STR, "pullRequest": BOOL}, ("title",))),
            auth="required",
        ),
    )
    add(
        "GET",
        repo + "/discussions/{num}",
        op(
            "A discussion with its events", "discussions", [*REPO_PARAMS, P_NUM], _ok(_s("DiscussionDetails"))
        ),
    )
    actions: dict[str, tuple[Schema, Schema, tuple[str, ...]]] = {
        "comment": (
            _obj({"comment": STR}, ("comment",)),
            _obj({"newMessage": _s("Event")}, ("newMessage",)),
            (),
        ),
        "title": (_obj({"title": STR}, ("title",)), _obj({"newTitle": _s("Event")}, ("newTitle",)), ()),
        "status": (
            _obj(
                {"status": {"type": "string", "enum": ["open", "closed"]}, "comment": NULLABLE_STR},
                ("status",),
            ),
            _obj({"newStatus": _s("Event")}, ("newStatus",)),
            (),
        ),
        "merge": (_obj({"comment": NULLABLE_STR}), _s("Empty"), ("409", "412")),
    }
    for action, (req, resp, errs) in actions.items():
        add(
            "POST",
            repo + f"/discussions/{{num}}/{action}",
            op(
                f"Discussion: {action}",
                "discussions",
                [*REPO_PARAMS, P_NUM],
                _ok(resp),
                _json_body(req, required=False),
                errors=errs,
                auth="required",
            ),
        )
    like_ok = _ok(_obj({"likes": INT, "liked": BOOL}, ("likes", "liked")))
    add("POST", repo + "/like", op("Like a repo", "social", REPO_PARAMS, like_ok, auth="required"))
    add("DELETE", repo + "/like", op("Unlike a repo", "social", REPO_PARAMS, like_ok, auth="required"))
    add(
        "GET",
        repo + "/likers",
        op(
            "Users who liked a repo (Link: rel=next pagination)",
            "social",
            [*REPO_PARAMS, _query("offset", INT), _query("limit", INT, "1..1000 (clamped)")],
            _ok({"type": "array", "items": _obj({"user": STR, "fullname": STR}, ("user",))}),
        ),
    )
    add(
        "GET",
        "/api/users/{user}/likes",
        op(
            "Repos a user liked (those the caller may see)",
            "social",
            [_path_param("user", SEGMENT, "User name")],
            _ok(
                {
                    "type": "array",
                    "items": _obj({"createdAt": NULLABLE_STR, "repo": {"type": "object"}}, ("repo",)),
                }
            ),
            repo_scoped=False,
        ),
    )
    _collection_operations(add)
    _repo_admin_operations(add, repo)
    _bucket_operations(add)
    _webhook_operations(add)
    _token_operations(add)
    _audit_operations(add)
    _gating_operations(add, repo)
    _org_operations(add)
    _inference_endpoint_operations(add)
    _space_operations(add)
    _training_operations(add)  # issue 14: no-code fine-tuning (server/api/training.py)
    _job_operations(add)  # issue 14: the Hub's Jobs API (server/api/jobs.py)
    add(
        "GET",
        "/health",
        op(
            "Health: status (ok, degraded: uploads refused for space, error), database, free space",
            "meta",
            [],
            _ok(
                _obj({"status": STR, "database": {"type": "object"}, "disk": {"type": "object"}}, ("status",))
            ),
            repo_scoped=False,
        ),
    )
    add(
        "GET",
        "/metrics",
        op(
            "Prometheus metrics, aggregates only (free space, refused uploads)",
            "meta",
            [],
            _ok({"type": "string"}, media="text/plain"),
            repo_scoped=False,
        ),
    )
    add(
        "GET",
        OPENAPI_PATH,
        op("This document", "meta", [], _ok({"type": "object"}), repo_scoped=False),
    )
    return paths


def _repo_admin_operations(add: Any, repo: str) -> None:
    """server/api/repo_admin.py: duplicate, server-side object copy, storage listing, comment edit/hide."""
    storage = {
        "type": "array",
        "items": _obj(
            {
                "id": STR,
                "type": STR,
                "updatedAt": STR,
                "visibility": STR,
                "storage": INT,
                "storagePercent": {"type": "number"},
            },
            ("id", "type", "updatedAt", "visibility", "storage"),
        ),
    }
    add(
        "GET",
        "/api/settings/repositories",
        op(
            "The caller's repos with their storage",
            "repos",
            [],
            _ok(storage),
            auth="required",
            repo_scoped=False,
        ),
    )
    add(
        "GET",
        "/api/organizations/{org}/settings/repositories",
        op(
            "An organisation's repos with their storage (members only)",
            "repos",
            [_path_param("org", SEGMENT, "Organisation name")],
            _ok(storage),
            auth="required",
            repo_scoped=False,
        ),
    )
    vis = {"type": "string", "enum": ["public", "private", "protected"]}
    add(
        "POST",
        repo + "/duplicate",
        op(
            "Duplicate a repo (whole history and LFS objects) to 'repository'",
            "repos",
            REPO_PARAMS,
            _ok(_obj({"url": STR, "filesCopyPending": BOOL}, ("url",))),
            _json_body(_obj({"repository": STR, "visibility": vis, "private": BOOL}, ("repository",))),
            errors=("409",),
            auth="required",
        ),
    )
    failed = _obj({"failed": {"type": "array", "items": _obj({"sha256": STR, "error": STR})}}, ("failed",))
    add(
        "POST",
        repo + "/lfs-files/duplicate",
        op(
            "Server-side copy of LFS/Xet objects of this repo to 'target' (read here, push there)",
            "upload",
            REPO_PARAMS,
            _ok(failed),
            _json_body(
                _obj(
                    {
                        "target": _obj({"type": STR, "name": STR}, ("name",)),
                        "files": {
                            "type": "array",
                            "items": _obj({"sha256": STR, "xetHash": STR, "filename": STR}),
                        },
                    },
                    ("target", "files"),
                )
            ),
            auth="required",
        ),
    )
    p_comment = _path_param("comment", SEGMENT, "The comment's event id")
    for action, body in (("edit", _json_body(_obj({"content": STR}, ("content",)))), ("hide", None)):
        add(
            "POST",
            repo + f"/discussions/{{num}}/comment/{{comment}}/{action}",
            op(
                "Edit a comment (its author)"
                if action == "edit"
                else "Hide a comment, erasing it (maintainers)",
                "discussions",
                [*REPO_PARAMS, P_NUM, p_comment],
                _ok(_obj({"updatedComment": _s("Event")}, ("updatedComment",))),
                body,
                auth="required",
            ),
        )


def _collection_operations(add: Any) -> None:
    """Collections (server/api/collections.py): shapes of huggingface_hub's Collection and CollectionItem."""
    slug_params = [
        _path_param("namespace", SEGMENT, "Owner of the collection"),
        _path_param("slug", SEGMENT, "The rest of the slug: '<title-slug>-<24 hex id>'"),
    ]
    base = "/api/collections/{namespace}/{slug}"
    item_p = _path_param("item", SEGMENT, "The item's `_id` (item_object_id)")
    item = _obj(
        {"_id": STR, "id": STR, "type": STR, "position": INT, "note": {"type": "object"}},
        ("_id", "id", "type", "position"),
    )
    coll = _obj(
        {
            "slug": STR,
            "title": STR,
            "description": STR,
            "owner": {"type": "object"},
            "items": {"type": "array", "items": item},
            "lastUpdated": STR,
            "position": INT,
            "private": BOOL,
            "theme": STR,
            "upvotes": INT,
        },
        ("slug", "title", "owner", "items", "lastUpdated", "private", "theme", "upvotes"),
    )
    kw: dict[str, Any] = {"repo_scoped": False}
    add(
        "GET",
        "/api/collections",
        op(
            "Collections the caller may see (Link: rel=next pagination; up to 4 visible items each)",
            "collections",
            [
                _query("owner", STR, "repeatable"),
                _query(
                    "item",
                    STR,
                    "repeatable: models/ns/name, datasets/…, spaces/…, papers/ID, collections/SLUG",
                ),
                _query("sort", {"type": "string", "enum": ["lastModified", "trending", "upvotes"]}),
                _query("limit", INT, "page size, 1..100 (clamped)"),
                _query("offset", INT),
            ],
            _ok({"type": "array", "items": coll}),
            **kw,
        ),
    )
    create_body = _obj(
        {"title": STR, "namespace": NULLABLE_STR, "private": BOOL, "description": NULLABLE_STR},
        ("title",),
    )
    add(
        "POST",
        "/api/collections",
        op(
            "Create a collection (409 carries `slug`)",
            "collections",
            [],
            _ok(coll),
            _json_body(create_body),
            errors=("409",),
            auth="required",
            **kw,
        ),
    )
    add("GET", base, op("A collection and its visible items", "collections", slug_params, _ok(coll), **kw))
    patch_body = _obj({"title": STR, "description": STR, "private": BOOL, "theme": STR, "position": INT})
    add(
        "PATCH",
        base,
        op(
            "Update a collection",
            "collections",
            slug_params,
            _ok(_obj({"data": coll}, ("data",))),
            _json_body(patch_body),
            errors=("409",),
            auth="required",
            **kw,
        ),
    )
    add(
        "DELETE",
        base,
        op("Delete a collection", "collections", slug_params, _ok(_s("Empty")), auth="required", **kw),
    )
    add(
        "POST",
        base + "/resource-group",
        op(
            "Resource group (only null: not supported)",
            "collections",
            slug_params,
            _ok(_s("Empty")),
            _json_body(_obj({"resourceGroupId": NULLABLE_STR})),
            auth="required",
            **kw,
        ),
    )
    add_body = _obj({"item": _obj({"id": STR, "type": STR}, ("id", "type")), "note": NULLABLE_STR}, ("item",))
    add(
        "POST",
        base + "/items",
        op(
            "Add an item (409 when already there)",
            "collections",
            slug_params,
            _ok(coll),
            _json_body(add_body),
            errors=("409",),
            auth="required",
            **kw,
        ),
    )
    add(
        "PATCH",
        base + "/items/{item}",
        op(
            "Update an item's note or position",
            "collections",
            [*slug_params, item_p],
            _ok(_s("Empty")),
            _json_body(_obj({"note": STR, "position": INT})),
            auth="required",
            **kw,
        ),
    )
    add(
        "DELETE",
        base + "/items/{item}",
        op("Remove an item", "collections", [*slug_params, item_p], _ok(_s("Empty")), auth="required", **kw),
    )


def _bucket_operations(add: Any) -> None:
    """Buckets (server/api/buckets.py): shapes of huggingface_hub's BucketInfo, BucketFile, BucketFolder."""
    ns = _path_param("namespace", SEGMENT, "Owner of the bucket ('me': the caller)")
    params = [ns, _path_param("name", SEGMENT, "Bucket name")]
    base = "/api/buckets/{namespace}/{name}"
    info = _obj(
        {"id": STR, "private": BOOL, "createdAt": STR, "updatedAt": STR, "size": INT, "totalFiles": INT},
        ("id", "private", "createdAt", "size", "totalFiles"),
    )
    file = _obj(
        {"type": STR, "path": STR, "size": INT, "xetHash": STR, "mtime": STR, "uploadedAt": NULLABLE_STR},
        ("type", "path"),
    )
    failed = _obj({"failed": {"type": "array", "items": _obj({"path": STR, "error": STR})}}, ("failed",))
    vis = _obj(
        {"visibility": {"type": "string", "enum": ["public", "private"]}, "private": BOOL, "region": STR}
    )
    kw: dict[str, Any] = {"repo_scoped": False}
    add(
        "GET",
        "/api/buckets/{namespace}",
        op(
            "Buckets of a namespace the caller may see (Link: rel=next)",
            "buckets",
            [ns],
            _ok({"type": "array", "items": info}),
            **kw,
        ),
    )
    add("GET", base, op("Bucket info", "buckets", params, _ok(info), **kw))
    add(
        "POST",
        base,
        op(
            "Create a bucket (409 carries its url)",
            "buckets",
            params,
            _ok(_obj({"url": STR}, ("url",))),
            _json_body(vis, required=False),
            errors=("409",),
            auth="required",
            **kw,
        ),
    )
    add(
        "DELETE",
        base,
        op("Delete a bucket and its file list", "buckets", params, _ok(_s("Empty")), auth="required", **kw),
    )
    add(
        "PUT",
        base + "/settings",
        op(
            "Change visibility",
            "buckets",
            params,
            _ok(_obj({"private": BOOL})),
            _json_body(_obj({"private": BOOL}, ("private",))),
            auth="required",
            **kw,
        ),
    )
    tree = op(
        "List files (lexical prefix; ?recursive=true; Link: rel=next)",
        "buckets",
        params,
        _ok({"type": "array", "items": file}),
        **kw,
    )
    tree["parameters"] = [*params, _query("recursive", BOOL), _query("cursor", INT)]
    add("GET", base + "/tree", tree)
    add(
        "GET",
        base + "/tree/{path}",
        {
            **tree,
            "parameters": [*tree["parameters"], _path_param("path", SEGMENT, "Prefix, percent-encoded")],
        },
    )
    add(
        "POST",
        base + "/paths-info",
        op(
            "Info of the files among up to 1000 paths",
            "buckets",
            params,
            _ok({"type": "array", "items": file}),
            _json_body(_obj({"paths": {"type": "array", "items": STR}}, ("paths",))),
            **kw,
        ),
    )
    add(
        "POST",
        base + "/batch",
        op(
            "addFile / copyFile / deleteFile, one JSON object per line (not transactional)",
            "buckets",
            params,
            _ok(failed),
            {"required": True, "content": {"application/x-ndjson": {"schema": STR}}},
            auth="required",
            **kw,
        ),
    )
    for kind in ("read", "write"):
        token = _ok(_obj({"accessToken": STR, "exp": INT, "casUrl": STR}, ("accessToken", "exp", "casUrl")))
        add(
            "GET",
            base + f"/xet-{kind}-token",
            op(f"Xet CAS {kind} token bound to this bucket", "buckets", params, token, **kw),
        )
    add(
        "GET",
        "/buckets/{namespace}/{name}/resolve/{path}",
        op(
            "Download a bucket file (Range; X-Xet-Hash, xet-auth Link)",
            "buckets",
            [*params, P_PATH],
            _ok({"type": "string", "format": "binary"}, media="application/octet-stream"),
            errors=("416",),
            **kw,
        ),
    )


def _webhook_operations(add: Any) -> None:
    """server/api/webhooks.py: the caller's own webhooks (others' answer 404) and their delivery log."""
    base = "/api/settings/webhooks"
    p_id = _path_param("webhook_id", {"type": "string", "minLength": 1}, "The webhook's id")
    watched = {"type": "array", "items": _obj({"type": STR, "name": STR}, ("type", "name"))}
    domains = {"type": "array", "items": {"type": "string", "enum": ["repo", "discussion"]}}
    hook = _obj(
        {
            "id": STR,
            "url": STR,
            "job": {"type": "null"},
            "watched": watched,
            "domains": domains,
            "secret": NULLABLE_STR,
            "disabled": BOOL,
        },
        ("id", "watched", "domains", "disabled"),
    )
    wrapped = _obj({"webhook": hook}, ("webhook",))
    body_props = {"url": STR, "watched": watched, "domains": domains, "secret": NULLABLE_STR}
    attempt = _obj(
        {"at": STR, "statusCode": {"type": ["integer", "null"]}, "error": NULLABLE_STR, "durationMs": INT}
    )
    delivery = _obj(
        {
            "id": INT,
            "event": _obj({"action": STR, "scope": STR}),
            "status": {"type": "string", "enum": ["pending", "delivered", "failed", "skipped", "dropped"]},
            "createdAt": STR,
            "nextAttemptAt": NULLABLE_STR,
            "attempts": {"type": "array", "items": attempt},
        }
    )
    kw: dict[str, Any] = {"repo_scoped": False, "auth": "required"}
    add(
        "GET",
        base,
        op(
            "The caller's webhooks (a bare array)",
            "webhooks",
            [],
            _ok({"type": "array", "items": hook}),
            **kw,
        ),
    )
    add(
        "POST",
        base,
        op(
            "Create a webhook (url, watched, domains, secret; jobSourceId is refused)",
            "webhooks",
            [],
            _ok(wrapped),
            _json_body(_obj(body_props, ("url", "watched"))),
            **kw,
        ),
    )
    add(
        "GET",
        base + "/{webhook_id}",
        op("One of the caller's webhooks", "webhooks", [p_id], _ok(wrapped), **kw),
    )
    add(
        "POST",
        base + "/{webhook_id}",
        op(
            "Update a webhook (an empty `watched` keeps the list)",
            "webhooks",
            [p_id],
            _ok(wrapped),
            _json_body(_obj(body_props)),
            **kw,
        ),
    )
    add(
        "DELETE",
        base + "/{webhook_id}",
        op("Delete a webhook", "webhooks", [p_id], _ok({"type": "object"}), **kw),
    )
    p_switch = _path_param("switch", {"type": "string", "enum": ["enable", "disable"]}, "enable or disable")
    add(
        "POST",
        base + "/{webhook_id}/{switch}",
        op("Enable or disable a webhook", "webhooks", [p_id, p_switch], _ok(wrapped), **kw),
    )
    add(
        "GET",
        base + "/{webhook_id}/deliveries",
        op(
            "The delivery log, newest first: each event's status and HTTP attempts (ModelYard's own)",
            "webhooks",
            [p_id, _query("limit", INT, "most deliveries returned, 1..1100")],
            _ok({"type": "array", "items": delivery}),
            **kw,
        ),
    )


def _space_operations(add: Any) -> None:
    """server/api/spaces.py: the Hub's Spaces API (runtime, control, secrets, variables, hardware, logs). The
    runtime and logs need read access; the rest write access (the secrets list too)."""
    base = "/api/spaces/{namespace}/{name}"
    params = [P_NS, _path_param("name", SEGMENT, "Space name")]
    runtime = _obj(
        {
            "stage": STR,
            "hardware": _obj({"current": NULLABLE_STR, "requested": NULLABLE_STR}),
            "gcTimeout": {"type": ["integer", "null"]},
            "devMode": BOOL,
            "sdk": NULLABLE_STR,
            "sdkVersion": NULLABLE_STR,
            "errorMessage": NULLABLE_STR,
            "replicas": {"type": "object"},
            "domains": {"type": "array"},
        },
        ("stage",),
    )
    ok_runtime = _ok(runtime)
    add(
        "GET",
        base + "/runtime",
        op("A Space's runtime (stage, hardware, sleep time)", "spaces", params, ok_runtime),
    )
    add(
        "POST",
        base + "/restart",
        op(
            "Restart a Space (factory: rebuild its environment); unpauses",
            "spaces",
            [*params, _query("factory", FLAG)],
            ok_runtime,
            auth="required",
        ),
    )
    add(
        "POST",
        base + "/pause",
        op("Pause a Space until a restart", "spaces", params, ok_runtime, auth="required"),
    )
    add(
        "POST",
        base + "/sleeptime",
        op(
            "Idle seconds before the Space sleeps (-1: never)",
            "spaces",
            params,
            ok_runtime,
            _json_body(_obj({"seconds": INT}, ("seconds",))),
            auth="required",
        ),
    )
    add(
        "POST",
        base + "/hardware",
        op(
            "Request hardware: cpu-basic only (others: 400 HardwareNotAvailable)",
            "spaces",
            params,
            ok_runtime,
            _json_body(_obj({"flavor": STR, "sleepTimeSeconds": INT}, ("flavor",))),
            auth="required",
        ),
    )
    add(
        "POST",
        base + "/dev-mode",
        op(
            "Dev mode: not supported (400)",
            "spaces",
            params,
            ok_runtime,
            _json_body(_obj({"enabled": BOOL}), required=False),
            auth="required",
        ),
    )
    entry = _obj({"key": STR, "value": STR, "description": NULLABLE_STR}, ("key", "value"))
    key_only = _json_body(_obj({"key": STR}, ("key",)))
    secrets_map = {
        "type": "object",
        "additionalProperties": _obj({"description": NULLABLE_STR, "updatedAt": STR}),
        "description": "KEY -> description and date; never a value",
    }
    variables_map = {
        "type": "object",
        "additionalProperties": _obj(
            {"value": STR, "description": NULLABLE_STR, "updatedAt": STR}, ("value",)
        ),
    }
    for kind, shape in (("secrets", secrets_map), ("variables", variables_map)):
        ok = _ok(shape)
        add("GET", base + f"/{kind}", op(f"The Space's {kind}", "spaces", params, ok, auth="required"))
        add(
            "POST",
            base + f"/{kind}",
            op(
                f"Add or replace one of the Space's {kind}",
                "spaces",
                params,
                ok,
                _json_body(entry),
                auth="required",
            ),
        )
        add(
            "DELETE",
            base + f"/{kind}",
            op(
                f"Delete one of the Space's {kind} (JSON body)",
                "spaces",
                params,
                ok,
                key_only,
                auth="required",
            ),
        )
    p_kind = _path_param("kind", {"type": "string", "enum": ["build", "run"]}, "Which log")
    add(
        "GET",
        base + "/logs/{kind}",
        op(
            "Build or run log as server-sent events: data: {data, timestamp}; : keep-alive every 15 s",
            "spaces",
            [*params, p_kind],
            _ok({"type": "string"}, media="text/event-stream"),
        ),
    )
    hardware = _obj(
        {
            "name": STR,
            "prettyName": STR,
            "cpu": STR,
            "ram": STR,
            "unitCostMicroUSD": INT,
            "unitCostUSD": {"type": "number"},
            "unitLabel": STR,
            "accelerator": {"type": ["object", "null"]},
        },
        ("name", "prettyName", "cpu", "ram", "unitCostMicroUSD", "unitCostUSD", "unitLabel"),
    )
    add(
        "GET",
        "/api/spaces/hardware",
        op(
            "Hardware Spaces may request (cpu-basic: this machine)",
            "spaces",
            [],
            _ok({"type": "array", "items": hardware}),
            repo_scoped=False,
        ),
    )
    add(
        "GET",
        "/api/spaces/zero-gpu/quota",
        op("ZeroGPU quota: not available here (404)", "spaces", [], _ok(_s("Empty")), repo_scoped=False),
    )


def _inference_endpoint_operations(add: Any) -> None:
    """server/api/inference_endpoints.py: the Hub's Inference Endpoints API (huggingface_hub sends it to
    `constants.INFERENCE_ENDPOINTS_ENDPOINT`, set to `{hub}/v2`). Others' endpoints answer 404."""
    base = "/v2/endpoint/{namespace}"
    p_ns = _path_param("namespace", SEGMENT, "The owner namespace: the caller or one of its organisations")
    p_name = _path_param("name", SEGMENT, "The endpoint's name (unique on the hub)")
    p_action = _path_param(
        "action", {"type": "string", "enum": ["pause", "resume", "scale-to-zero"]}, "What to do"
    )
    nullable_int: Schema = {"type": ["integer", "null"]}
    scaling = _obj({"minReplica": INT, "maxReplica": INT, "scaleToZeroTimeout": nullable_int})
    compute = _obj(
        {
            "accelerator": {"type": "string", "description": "cpu (anything else: 400)"},
            "instanceSize": {"type": "string", "description": "x1, x2, x4, ...: CPU threads"},
            "instanceType": STR,
            "scaling": scaling,
        }
    )
    model = _obj(
        {
            "repository": STR,
            "revision": NULLABLE_STR,
            "task": NULLABLE_STR,
            "framework": STR,
            "image": {"type": "object", "description": '{"huggingface": {}} only'},
        }
    )
    status = _obj(
        {
            "state": {
                "type": "string",
                "enum": ["pending", "initializing", "running", "paused", "failed", "scaledToZero"],
            },
            "url": NULLABLE_STR,
            "createdAt": STR,
            "updatedAt": STR,
            "message": STR,
        },
        ("state", "createdAt", "updatedAt"),
    )
    kinds = {"type": "string", "enum": ["public", "authenticated", "private", "protected"]}
    endpoint = _obj(
        {
            "name": STR,
            "namespace": STR,
            "type": STR,
            "compute": compute,
            "model": model,
            "provider": _obj({"vendor": STR, "region": STR}),
            "status": status,
            "healthRoute": STR,
        },
        ("name", "type", "model", "status", "healthRoute"),
    )
    body_props = {
        "name": STR,
        "compute": compute,
        "model": model,
        "provider": _obj({"vendor": STR, "region": STR}),
        "type": kinds,
        "tags": {"type": "array"},
    }
    kw: dict[str, Any] = {"repo_scoped": False, "auth": "required"}
    add(
        "GET",
        base,
        op(
            "List a namespace's Inference Endpoints (members only)",
            "inference-endpoints",
            [p_ns],
            _ok(_obj({"items": {"type": "array", "items": endpoint}}, ("items",))),
            **kw,
        ),
    )
    add(
        "POST",
        base,
        op(
            "Create an Inference Endpoint (CPU) for a model the caller may write; loads it",
            "inference-endpoints",
            [p_ns],
            _ok(endpoint),
            _json_body(_obj(body_props, ("name", "model"))),
            errors=("409",),
            **kw,
        ),
    )
    add(
        "GET",
        base + "/{name}",
        op("An Inference Endpoint", "inference-endpoints", [p_ns, p_name], _ok(endpoint), **kw),
    )
    add(
        "PUT",
        base + "/{name}",
        op(
            "Update an Inference Endpoint (sparse body; the model reloads when its config changed)",
            "inference-endpoints",
            [p_ns, p_name],
            _ok(endpoint),
            _json_body(_obj({k: v for k, v in body_props.items() if k != "name"})),
            errors=("409",),
            **kw,
        ),
    )
    add(
        "DELETE",
        base + "/{name}",
        op("Delete an Inference Endpoint", "inference-endpoints", [p_ns, p_name], _ok(endpoint), **kw),
    )
    add(
        "POST",
        base + "/{name}/{action}",
        op(
            "Pause (until resumed), resume (load), or scale to zero (unload; the next request loads it)",
            "inference-endpoints",
            [p_ns, p_name, p_action],
            _ok(endpoint),
            errors=("409",),
            **kw,
        ),
    )
    add(
        "GET",
        "/v2/provider/{namespace}",
        op(
            "The compute this hub offers (CPU sizes), as list_inference_endpoints_hardware reads it",
            "inference-endpoints",
            [p_ns],
            _ok(_obj({"vendors": {"type": "array"}}, ("vendors",))),
            **kw,
        ),
    )


def _job_operations(add: Any) -> None:
    """server/api/jobs.py: the Hub's Jobs API and scheduled jobs (issue 14). Members of the namespace read;
    role write/admin and a token with job.write act. Others' jobs answer 404."""
    p_ns = _path_param("namespace", SEGMENT, "The namespace of the jobs: the caller or one of its orgs")
    p_id = _path_param("job_id", SEGMENT, "The job's id")
    p_sid = _path_param("scheduled_job_id", SEGMENT, "The scheduled job's id")
    obj: Schema = {"type": "object"}
    volume = _obj(
        {
            "type": {"type": "string", "enum": ["bucket", "model", "dataset", "space"]},
            "source": STR,
            "mountPath": STR,
            "readOnly": BOOL,
            "revision": STR,
            "path": STR,
        },
        ("type", "source", "mountPath"),
    )
    spec = _obj(
        {
            "dockerImage": {
                "type": "string",
                "description": "python:3.X, ghcr.io/astral-sh/uv:…, modelyard/train; others: 400 "
                "JobImageNotSupported",
            },
            "command": {"type": "array", "items": STR},
            "arguments": {"type": "array", "items": STR},
            "environment": {"type": "object", "additionalProperties": STR},
            "secrets": {"type": "object", "additionalProperties": STR, "description": "never answered"},
            "flavor": {"type": "string", "description": "cpu-basic (see /api/jobs/hardware)"},
            "timeoutSeconds": INT,
            "attempts": INT,
            "labels": {"type": "object", "additionalProperties": STR},
            "volumes": {"type": "array", "items": volume},
        },
        ("dockerImage", "command"),
    )
    info = _obj(
        {
            "id": STR,
            "owner": _obj({"id": STR, "name": STR, "type": STR}, ("id", "name", "type")),
            "status": _obj({"stage": STR, "message": NULLABLE_STR, "progress": obj}, ("stage",)),
            "createdAt": NULLABLE_STR,
            "startedAt": NULLABLE_STR,
            "finishedAt": NULLABLE_STR,
            "dockerImage": STR,
            "command": {"type": "array", "items": STR},
            "labels": obj,
            "durations": obj,
            "initiator": obj,
        },
        ("id", "owner", "status"),
    )
    sched = _obj(
        {
            "id": STR,
            "owner": obj,
            "jobSpec": spec,
            "schedule": STR,
            "suspend": BOOL,
            "concurrency": BOOL,
            "status": _obj({"lastJob": {"type": ["object", "null"]}, "nextJobRunAt": NULLABLE_STR}),
        },
        ("id", "owner"),
    )
    sse = _ok({"type": "string"}, media="text/event-stream")
    kw: dict[str, Any] = {"repo_scoped": False, "auth": "required"}
    labels_body = _json_body(_obj({"labels": {"type": "object", "additionalProperties": STR}}, ("labels",)))
    add(
        "GET",
        "/api/jobs/hardware",
        op(
            "Hardware jobs may ask for (cpu-basic: this machine, within the job limits)",
            "jobs",
            [],
            _ok({"type": "array", "items": obj}),
            repo_scoped=False,
        ),
    )
    base = "/api/jobs/{namespace}"
    add(
        "POST",
        base,
        op(
            "Run a job (run_job, run_uv_job); 400 when jobs are disabled",
            "jobs",
            [p_ns],
            _ok(info),
            _json_body(spec),
            **kw,
        ),
    )
    add(
        "GET",
        base,
        op(
            "List jobs, newest first (paginated: Link rel=next)",
            "jobs",
            [
                p_ns,
                _query("stage", {"type": "array", "items": STR}, "repeatable: SCHEDULING, RUNNING, …"),
                _query("label", {"type": "array", "items": STR}, "repeatable: key=value or key"),
                _query("limit", INT, "page size, 1..1000 (50)"),
                _query("offset", INT),
            ],
            _ok({"type": "array", "items": info}),
            **kw,
        ),
    )
    job = base + "/{job_id}"
    add("GET", job, op("A job (inspect_job)", "jobs", [p_ns, p_id], _ok(info), **kw))
    add("POST", job + "/cancel", op("Cancel a job", "jobs", [p_ns, p_id], _ok(info), **kw))
    add(
        "POST",
        job + "/duplicate",
        op("Run a job's spec again (rerun_job)", "jobs", [p_ns, p_id], _ok(info), **kw),
    )
    add(
        "PUT",
        job + "/labels",
        op("Replace a job's labels", "jobs", [p_ns, p_id], _ok(info), labels_body, **kw),
    )
    add(
        "PUT",
        job + "/expose",
        op("Expose ports: not supported here (400)", "jobs", [p_ns, p_id], _ok(info), **kw),
    )
    add(
        "GET",
        job + "/logs",
        op(
            "The job's log as server-sent events (data: {data, timestamp}; : keep-alive every 30 s); ends "
            "with the job",
            "jobs",
            [p_ns, p_id, _query("tail", INT, "only the last N lines so far")],
            sse,
            **kw,
        ),
    )
    add(
        "GET",
        job + "/metrics",
        op(
            "Resource samples once a second (event: metric); 406 when the job is not running",
            "jobs",
            [p_ns, p_id],
            sse,
            **kw,
        ),
    )
    add(
        "GET",
        job + "/events",
        op(
            "Progress (event: progress) and stage changes (event: status) as server-sent events",
            "jobs",
            [p_ns, p_id],
            sse,
            **kw,
        ),
    )
    sbase = "/api/scheduled-jobs/{namespace}"
    add(
        "POST",
        sbase,
        op(
            "Create a scheduled job: {jobSpec, schedule (cron or @hourly …), concurrency?, suspend?}",
            "jobs",
            [p_ns],
            _ok(sched),
            _json_body(
                _obj(
                    {"jobSpec": spec, "schedule": STR, "concurrency": BOOL, "suspend": BOOL},
                    ("jobSpec", "schedule"),
                )
            ),
            **kw,
        ),
    )
    add(
        "GET",
        sbase,
        op(
            "List scheduled jobs (a bare array)",
            "jobs",
            [p_ns, _query("label", {"type": "array", "items": STR}, "key=value or key")],
            _ok({"type": "array", "items": sched}),
            **kw,
        ),
    )
    one = sbase + "/{scheduled_job_id}"
    add("GET", one, op("A scheduled job", "jobs", [p_ns, p_sid], _ok(sched), **kw))
    add("DELETE", one, op("Delete a scheduled job", "jobs", [p_ns, p_sid], _ok(sched), **kw))
    for action, what in (("suspend", "Suspend"), ("resume", "Resume")):
        add(
            "POST", one + f"/{action}", op(f"{what} a scheduled job", "jobs", [p_ns, p_sid], _ok(sched), **kw)
        )
    add(
        "POST",
        one + "/schedule",
        op(
            "Change the schedule",
            "jobs",
            [p_ns, p_sid],
            _ok(sched),
            _json_body(_obj({"schedule": STR}, ("schedule",))),
            **kw,
        ),
    )
    add(
        "POST",
        one + "/run",
        op("Run a scheduled job now (answers the JobInfo)", "jobs", [p_ns, p_sid], _ok(info), **kw),
    )
    add(
        "PUT",
        one + "/labels",
        op("Replace a scheduled job's labels", "jobs", [p_ns, p_sid], _ok(sched), labels_body, **kw),
    )


def _training_operations(add: Any) -> None:
    """server/api/training.py: no-code fine-tuning recipes, checked against the hub, run as jobs (issue 14)."""
    p_ns = _path_param("namespace", SEGMENT, "The namespace that runs the job: the caller or one of its orgs")
    recipe = _obj(
        {
            "task": {
                "type": "string",
                "enum": [
                    "text-classification",
                    "token-classification",
                    "sentence-similarity",
                    "text-generation",
                    "image-classification",
                ],
            },
            "base_model": STR,
            "dataset": STR,
            "output_repo": STR,
            "columns": {
                "type": "object",
                "additionalProperties": STR,
                "description": "column role -> column",
            },
            "train_split": STR,
            "eval_split": NULLABLE_STR,
            "eval_fraction": {"type": "number"},
            "dataset_config": NULLABLE_STR,
            "hyperparameters": {"type": "object", "description": "see GET /api/training/tasks"},
            "early_stopping_patience": {"type": ["integer", "null"]},
            "seed": INT,
            "private": BOOL,
            "merge_adapter": BOOL,
            "deploy": BOOL,
            "base_revision": STR,
        },
        ("task", "base_model", "dataset", "output_repo"),
    )
    checked = _obj(
        {
            "ok": BOOL,
            "columns": {"type": "array", "items": STR},
            "splits": {"type": "array", "items": STR},
            "num_rows": {"type": "object"},
            "recipe": {"type": "object"},
        },
        ("ok", "columns", "splits", "num_rows"),
    )
    kw: dict[str, Any] = {"repo_scoped": False, "auth": "required"}
    add(
        "GET",
        "/api/training/tasks",
        op(
            "Fine-tuning tasks: their column roles, and the hyperparameters with their defaults and bounds",
            "training",
            [],
            _ok(_obj({"tasks": {"type": "array"}, "hyperparameters": {"type": "object"}}, ("tasks",))),
            repo_scoped=False,
        ),
    )
    add(
        "POST",
        "/api/training/{namespace}",
        op(
            "Start a fine-tuning recipe as a job (checked first: rights, base model, dataset, split, columns)",
            "training",
            [p_ns],
            _ok({"type": "object", "description": "JobInfo (kind: training)"}),
            body=_json_body(recipe),
            **kw,
        ),
    )
    add(
        "POST",
        "/api/training/{namespace}/validate",
        op(
            "Check a fine-tuning recipe against the hub without starting it",
            "training",
            [p_ns],
            _ok(checked),
            body=_json_body(recipe),
            **kw,
        ),
    )


def _org_operations(add: Any) -> None:
    """server/api/orgs.py: the Hub's org overview and members; ModelYard's own member and settings management."""
    base = "/api/organizations/{org}"
    p_org = _path_param("org", SEGMENT, "Organisation name")
    p_user = _path_param("user", SEGMENT, "A member's user name")
    role = {"type": "string", "enum": ["read", "contributor", "write", "admin"]}
    member = _obj(
        {"user": STR, "fullname": STR, "avatarUrl": STR, "type": STR, "isPro": BOOL, "role": role},
        ("user", "fullname"),
    )
    overview = _obj(
        {
            "name": STR,
            "fullname": STR,
            "avatarUrl": STR,
            "details": STR,
            "isVerified": BOOL,
            "isFollowing": BOOL,
            "type": STR,
            "numUsers": INT,
            "numModels": INT,
            "numDatasets": INT,
            "numSpaces": INT,
            "numFollowers": INT,
            "numPapers": INT,
        },
        ("name", "fullname"),
    )
    settings = _obj({"defaultRepoVisibility": {"type": "string", "enum": ["private", "public"]}})
    kw: dict[str, Any] = {"repo_scoped": False}
    admin: dict[str, Any] = {"repo_scoped": False, "auth": "required"}
    add(
        "GET",
        base + "/overview",
        op(
            "An organisation's overview (repo counts the caller may see)",
            "orgs",
            [p_org],
            _ok(overview),
            **kw,
        ),
    )
    paging = [
        _query("limit", INT, "members per page, 1..1000 (default 500)"),
        _query("cursor", INT, "from the Link: rel=next header"),
    ]
    add(
        "GET",
        base + "/members",
        op(
            "The members, by name; `role` only for members and site admins (token org.read)",
            "orgs",
            [p_org, *paging],
            _ok({"type": "array", "items": member}, headers={"Link": {"schema": STR}}),
            **kw,
        ),
    )
    add(
        "POST",
        base + "/members",
        op(
            "Add a member with a role (org admins; token org.write)",
            "orgs",
            [p_org],
            _ok(member),
            _json_body(_obj({"user": STR, "role": role}, ("user", "role"))),
            errors=("409",),
            **admin,
        ),
    )
    add(
        "PUT",
        base + "/members/{user}",
        op(
            "Change a member's role (org admins; the last admin stays: 409)",
            "orgs",
            [p_org, p_user],
            _ok(member),
            _json_body(_obj({"role": role}, ("role",))),
            errors=("409",),
            **admin,
        ),
    )
    add(
        "DELETE",
        base + "/members/{user}",
        op(
            "Remove a member (org admins; the last admin stays: 409)",
            "orgs",
            [p_org, p_user],
            _ok(_obj({})),
            errors=("409",),
            **admin,
        ),
    )
    add(
        "GET",
        base + "/settings",
        op("The org's settings (members; token org.read)", "orgs", [p_org], _ok(settings), **admin),
    )
    add(
        "PUT",
        base + "/settings",
        op(
            "Change the org's settings (org admins; token org.write)",
            "orgs",
            [p_org],
            _ok(settings),
            _json_body(_obj(settings["properties"], ("defaultRepoVisibility",))),
            **admin,
        ),
    )


def _audit_operations(add: Any) -> None:
    """server/api/audit.py: the audit log, newest first (ModelYard's own)."""
    entry = _obj(
        {
            "id": INT,
            "time": STR,
            "actor": STR,
            "tokenName": NULLABLE_STR,
            "action": STR,
            "target": STR,
            "namespace": NULLABLE_STR,
            "details": {"type": "object"},
            "ip": NULLABLE_STR,
        },
        ("id", "time", "actor", "action", "target"),
    )
    params = [
        _query("action", STR, "an action (repo.delete), or a prefix (repo.*)"),
        _query("actor", STR, "the account name of the actor"),
        _query("since", STR, "entries at or after this ISO 8601 time"),
        _query("limit", INT, "entries per page, 1..1000 (default 100)"),
        _query("cursor", INT, "from the Link: rel=next header"),
    ]
    ok = _ok({"type": "array", "items": entry}, headers={"Link": {"schema": STR}})
    kw: dict[str, Any] = {"repo_scoped": False, "auth": "required"}
    add(
        "GET",
        "/api/admin/audit-log",
        op("Every audit entry (site admins; token needs org.read)", "audit", params, ok, **kw),
    )
    p_org = _path_param("org", SEGMENT, "Organisation name")
    add(
        "GET",
        "/api/organizations/{org}/audit-log",
        op("The org's audit entries (org admins; token needs org.read)", "audit", [p_org, *params], ok, **kw),
    )


def _gating_operations(add: Any, repo: str) -> None:
    """server/api/gating.py: access requests of gated repos (hub-protocol-2.md §4)."""
    base = repo + "/user-access-request"
    request = _obj(
        {
            "requestId": STR,
            "status": {"type": "string", "enum": ["pending", "accepted", "rejected"]},
            "timestamp": STR,
            "updatedAt": STR,
            "fields": {"type": "object"},
            "user": _obj({"user": STR, "fullname": STR, "type": STR}),
            "handledBy": NULLABLE_STR,
            "rejectionReason": STR,
        },
        ("requestId", "status", "timestamp"),
    )
    p_status = _path_param(
        "status", {"type": "string", "enum": ["pending", "accepted", "rejected"]}, "Requests with this status"
    )
    kw: dict[str, Any] = {"auth": "required"}
    add(
        "GET",
        base + "/{status}",
        op(
            "Access requests of a gated repo (write access; token with repo.access.read), oldest first",
            "gating",
            [*REPO_PARAMS, p_status, _query("cursor", INT, "from the Link: rel=next header")],
            _ok({"type": "array", "items": request}, headers={"Link": {"schema": STR}}),
            **kw,
        ),
    )
    handle = _obj(
        {
            "user": STR,
            "requestId": STR,
            "status": {"type": "string", "enum": ["pending", "accepted", "rejected"]},
            "rejectionReason": STR,
        },
        ("status",),
    )
    add(
        "POST",
        base + "/handle",
        op(
            "Accept, reject or cancel (back to pending) a request, by user or requestId (write access)",
            "gating",
            REPO_PARAMS,
            _ok(request),
            _json_body(handle),
            **kw,
        ),
    )
    add(
        "POST",
        base + "/grant",
        op(
            "Give a user access (write access); 400 if the repo is not gated or the user has access",
            "gating",
            REPO_PARAMS,
            _ok(request),
            _json_body(_obj({"user": STR}, ("user",))),
            **kw,
        ),
    )
    add(
        "POST",
        base + "/request",
        op(
            "Ask for access with the answers to the card's extra_gated_fields (ModelYard's own)",
            "gating",
            REPO_PARAMS,
            _ok(request),
            _json_body(_obj({"fields": {"type": "object"}})),
            **kw,
        ),
    )


def _token_operations(add: Any) -> None:
    """server/api/tokens.py: the caller's access tokens (ModelYard's own; a write-role token only)."""
    base = "/api/settings/tokens"
    perms = {"type": "array", "items": STR}
    entity = _obj({"type": STR, "name": STR}, ("type", "name"))
    fine = _obj(
        {
            "canReadGatedRepos": BOOL,
            "global": perms,
            "scoped": {"type": "array", "items": _obj({"entity": entity, "permissions": perms})},
        }
    )
    role = {"type": "string", "enum": ["read", "write", "fineGrained"]}
    info_props: dict[str, Schema] = {
        "displayName": STR,
        "role": role,
        "createdAt": STR,
        "expiresAt": NULLABLE_STR,
        "fineGrained": fine,
    }
    info = _obj(info_props, ("displayName", "role", "createdAt"))
    kw: dict[str, Any] = {"repo_scoped": False, "auth": "required"}
    add(
        "GET",
        base,
        op(
            "The caller's tokens, never their values",
            "tokens",
            [],
            _ok({"type": "array", "items": info}),
            **kw,
        ),
    )
    add(
        "POST",
        base,
        op(
            "Create a token (read, write or fineGrained, optional expiresAt); its value is shown once",
            "tokens",
            [],
            _ok(_obj({"token": STR, **info_props}, ("token", "displayName", "role"))),
            _json_body(_obj({"name": STR, "role": role, "fineGrained": fine, "expiresAt": STR}, ("name",))),
            errors=("409",),
            **kw,
        ),
    )
    p_name = _path_param("name", SEGMENT, "The token's name")
    add(
        "DELETE",
        base + "/{name}",
        op(
            "Revoke a token (its web sessions end too)", "tokens", [p_name], _ok(_obj({"revoked": STR})), **kw
        ),
    )


@functools.cache
def _document() -> dict[str, Any]:
    from modelyard import __version__

    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ModelYard Hub API",
            "version": __version__,
            "description": __doc__,
        },
        "paths": _operations(),
        "components": _components(),
    }


def document(server_url: str | None = None) -> dict[str, Any]:
    """The OpenAPI document; `server_url` becomes its only server entry."""
    doc = copy.deepcopy(_document())
    if server_url:
        doc["servers"] = [{"url": server_url}]
    return doc


def serve(request: Request) -> Response:
    body = json.dumps(document(base_url(request)))
    return Response(body, media_type=JSON, headers={"Cache-Control": "no-cache"})


def register(r: Router) -> None:
    r.add("GET", r"/openapi\.json", serve)
