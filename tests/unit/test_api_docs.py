"""docs/hub-api.md lists every route of the raw-path router (server/app.py `build_router`).

Each route's regex is turned into the path template the document uses (`/api/{type}/{repo}/tree/{rev}[/{path}]`:
`{type}` = models|datasets|spaces, `{repo}` = ns/name, `[...]` = optional, a group of literal alternatives such as
`(?P<kind>read|write)` gives one template per alternative). The document must have a table row whose first cell
names the method (HEAD comes with GET) and whose second cell holds that template as a code span. A route whose
regex the normaliser cannot turn into a template fails too: extend `_SUBS` or `_NAMES` then.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

from modelyard.server.app import build_router
from modelyard.server.routing import REPO, REV, TYPES

DOC = Path(__file__).resolve().parents[2] / "docs" / "hub-api.md"

# Whole regex fragments with their template, applied in order before the generic rules below.
_SUBS: list[tuple[str, str]] = [
    (r"(?:(?P<prefix>datasets|spaces)/)?", "[datasets/|spaces/]"),
    (TYPES, "{type}"),
    (r"(?P<rtype>model|dataset|space)", "{rtype}"),
    (r"(?P<ns>[^/]+)/(?P<name>[^/]+?)", "{repo}"),
    (REPO, "{repo}"),
    (r"(?P<bns>[^/]+)/(?P<bname>[^/]+)", "{bucket}"),
    (r"(?P<owner>[^/]+)/(?P<slug>[^/]+)", "{slug}"),
    (REV, "{rev}"),
    (r"(?P<write>/write)?", "[/write]"),
    (r"(?:\.git)?", "[.git]"),
    (r"\.", "."),
]
_NAMES = {"webhook_id": "id", "bns": "ns", "item": "item_object_id", "job_id": "id", "sid": "id"}
_OPTIONAL = re.compile(r"\(\?:/\(\?P<(\w+)>[^()]*\)\)\?")  # (?:/(?P<path>.*))?
_ALTERNATIVES = re.compile(r"\(\?P<\w+>([\w-]+(?:\|[\w-]+)+)\)")  # (?P<kind>read|write)
_GROUP = re.compile(r"\(\?P<(\w+)>[^()]*\)")  # (?P<oid>[0-9a-f]{64})
_TEMPLATE = re.compile(r"^/[\w./{}\[\]|-]*$")


def templates(pattern: str) -> list[str]:
    """The document's path templates for one router regex (`^…$`)."""
    t = pattern.removeprefix("^").removesuffix("$")
    for frag, repl in _SUBS:
        t = t.replace(frag, repl)
    t = _OPTIONAL.sub(lambda m: "[/{" + _NAMES.get(m[1], m[1]) + "}]", t)
    parts = _ALTERNATIVES.split(t)  # literal, alternatives, literal, …
    choices = [[p] if i % 2 == 0 else p.split("|") for i, p in enumerate(parts)]
    out = []
    for combo in itertools.product(*choices):
        s = _GROUP.sub(lambda m: "{" + _NAMES.get(m[1], m[1]) + "}", "".join(combo))
        assert _TEMPLATE.match(s), f"cannot turn {pattern!r} into a template (got {s!r}): extend _SUBS/_NAMES"
        out.append(s)
    return out


def documented() -> set[tuple[str, str]]:
    """(method, template) for every code span in the path cell of every table row of the document."""
    out: set[tuple[str, str]] = set()
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
        if len(cells) < 2:
            continue
        methods = set(re.findall(r"[A-Z]+", cells[0]))
        for span in re.findall(r"`([^`]+)`", cells[1]):
            path = re.sub(
                r"\[?\?.*$", "", span.replace("\\|", "|")
            )  # drop a query part: `…/refs[?include_prs=1]`
            out.update((m, path) for m in methods)
    return out


def missing_routes(doc: set[tuple[str, str]]) -> list[str]:
    missing = []
    for route in build_router().routes:
        for method in sorted(route.methods - {"HEAD"}):
            for t in templates(route.regex.pattern):
                if (method, t) not in doc:
                    missing.append(f"{method} {t}")
    return missing


def test_every_router_route_has_a_row_in_hub_api_md() -> None:
    missing = missing_routes(documented())
    assert not missing, "docs/hub-api.md has no row for: " + ", ".join(missing)


def test_the_rule_notices_a_missing_row() -> None:
    doc = documented()
    assert ("GET", "/api/{type}/{repo}/tree/{rev}[/{path}]") in doc
    assert missing_routes(doc - {("GET", "/api/{type}/{repo}/tree/{rev}[/{path}]")}) == [
        "GET /api/{type}/{repo}/tree/{rev}[/{path}]"
    ]


def test_templates() -> None:
    assert templates(
        r"^/api/(?P<type>models|datasets|spaces)/(?P<ns>[^/]+)/(?P<name>[^/]+)/xet-(?P<kind>read|write)-token$"
    ) == [
        "/api/{type}/{repo}/xet-read-token",
        "/api/{type}/{repo}/xet-write-token",
    ]
    assert templates(r"^/lfs-upload/(?P<oid>[0-9a-f]{64})/part/(?P<part>\d+)$") == [
        "/lfs-upload/{oid}/part/{part}"
    ]
