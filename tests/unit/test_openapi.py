"""The OpenAPI document (server/openapi.py) and the raw-path router (server/app.py build_router) cannot drift:
every router route (and method, and optional part of its pattern) is described, and every described operation
reaches a router route with that method."""

from __future__ import annotations

import itertools
import re
from typing import Any

from modelyard.server.app import build_router
from modelyard.server.openapi import document
from modelyard.server.routing import Route

# Router routes deliberately left out of the document: handler qualname -> reason. Keep it short.
EXCLUDED: dict[str, str] = {
    "modelyard.server.git_http.info_refs": "git smart HTTP (the git wire protocol, not JSON): docs/git.md",
    "modelyard.server.git_http.git_service": "git smart HTTP (the git wire protocol, not JSON): docs/git.md",
    "modelyard.server.api.lfs.locks_create": "git-lfs file locking: always 501 (docs/git.md)",
    "modelyard.server.api.lfs.locks_unlock": "git-lfs file locking: always 501 (docs/git.md)",
}

SAMPLES: dict[str, str] = {
    "namespace": "alice",
    "name": "pub",
    "rev": "refs%2Fpr%2F1",
    "path": "dir/file.txt",
    "branch": "dev",
    "oid": "a" * 64,
    "num": "3",
    "part": "2",
    "user": "bob",
    "slug": "picks-" + "0" * 24,
    "item": "0" * 24,
    "comment": "1",
    "org": "acme",
    "webhook_id": "0" * 24,
    "job_id": "0" * 24,  # issue 14: jobs (server/api/jobs.py)
    "scheduled_job_id": "0" * 24,
}
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


def _concrete(path: str, params: list[dict[str, Any]]) -> list[str]:
    """The template filled with sample values, one URL per combination of enum values."""
    names = re.findall(r"{(\w+)}", path)
    by_name = {p["name"]: p for p in params if p["in"] == "path"}
    assert set(names) == set(by_name), f"{path}: path parameters {sorted(by_name)} vs template {names}"
    choices = []
    for n in names:
        enum = by_name[n]["schema"].get("enum")
        choices.append(enum if enum else [SAMPLES[n]])
    out = []
    for combo in itertools.product(*choices):
        url = path
        for n, v in zip(names, combo, strict=True):
            url = url.replace("{" + n + "}", v)
        out.append(url)
    return out


def _walk() -> tuple[list[Route], set[tuple[int, str]], dict[int, set[str]], list[str]]:
    router = build_router()
    doc = document()
    covered: set[tuple[int, str]] = set()
    groups: dict[int, set[str]] = {}
    unmatched: list[str] = []
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            assert method in HTTP_METHODS
            for url in _concrete(path, operation.get("parameters", [])):
                route, params, _ = router.match(method.upper(), url)
                if route is None:
                    unmatched.append(f"{method.upper()} {url} ({path})")
                    continue
                i = router.routes.index(route)
                covered.add((i, method.upper()))
                groups.setdefault(i, set()).update(params)
    return router.routes, covered, groups, unmatched


def test_every_operation_reaches_a_route() -> None:
    _, _, _, unmatched = _walk()
    assert not unmatched, "described but not routed:\n" + "\n".join(unmatched)


def test_every_route_is_described() -> None:
    routes, covered, groups, _ = _walk()
    missing = []
    for i, route in enumerate(routes):
        name = route.handler.__qualname__
        if f"{route.handler.__module__}.{name}" in EXCLUDED or name in EXCLUDED:
            continue
        methods = set(route.methods)
        if "GET" in methods and (i, "HEAD") not in covered:
            methods.discard("HEAD")  # the implicit HEAD of a GET route
        for m in sorted(methods):
            if (i, m) not in covered:
                missing.append(f"{m} {route.regex.pattern} ({name})")
        all_groups = set(route.regex.groupindex)
        if i in groups and groups[i] != all_groups:
            missing.append(f"{route.regex.pattern}: parts never described: {sorted(all_groups - groups[i])}")
    assert not missing, "routed but not described (add to server/openapi.py or EXCLUDED):\n" + "\n".join(
        missing
    )


def test_errors_are_described_with_their_headers() -> None:
    doc = document("http://hub.test")
    assert doc["servers"] == [{"url": "http://hub.test"}]
    assert doc["openapi"].startswith("3.")
    error = doc["components"]["responses"]["Error"]
    assert {"X-Error-Code", "X-Error-Message", "X-Request-Id"} <= set(error["headers"])
    assert error["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            codes = set(operation["responses"])
            assert {"400", "401", "403", "404"} <= codes, f"{method} {path}"
            assert any(c.startswith("2") for c in codes), f"{method} {path}"
            assert operation.get("summary"), f"{method} {path}"
            body = operation.get("requestBody")
            if body is not None:
                for media in body["content"].values():
                    assert "schema" in media, f"{method} {path}"


def test_refs_resolve() -> None:
    doc = document()
    text = repr(doc)
    for kind, name in set(re.findall(r"#/components/(\w+)/(\w+)", text)):
        assert name in doc["components"][kind], f"dangling $ref {kind}/{name}"


def test_schema_loads_in_schemathesis() -> None:
    import schemathesis

    schema = schemathesis.openapi.from_dict(document("http://hub.test"))
    ops = [r.ok() for r in schema.get_all_operations()]
    assert len(ops) == sum(len(v) for v in document()["paths"].values())
