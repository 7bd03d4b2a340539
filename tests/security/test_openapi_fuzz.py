"""Property-based fuzzing of the hub's JSON API from its own OpenAPI document (GET /openapi.json).

A real hub (users alice, bob, org acme; public, private, dataset and org repos, a discussion and a PR) is
fuzzed with schemathesis: every operation, valid and schema-violating inputs, as alice's write token and
anonymously. No answer may be a 5xx, and every answer must be one the document describes (status code,
content type, required headers such as X-Error-Code/X-Request-Id on errors, JSON body schema).
Hypothesis runs derandomized, so CI sees the same cases every run; locally `FUZZ_EXAMPLES=200 FUZZ_RANDOM=1`
hunts further.

A second test sends a fixed corpus of hostile bodies (deep nesting, huge integers, odd unicode, NUL, empty
strings, wrong types) to every operation that takes a body.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from conftest import Hub, start_server  # noqa: E402  (the rootdir conftest; tests/ is on sys.path)

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "8"))  # per operation and mode: about a minute in all
DERANDOMIZE = not os.environ.get("FUZZ_RANDOM")  # FUZZ_RANDOM=1: new cases each run, to hunt locally
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Real names, mixed into the generated path parameters so the fuzzer gets past "repo not found".
REPOS = [("alice", "pub"), ("alice", "priv"), ("acme", "team"), ("bob", "bobs")]
REVS = ["main", "v1", "refs%2Fpr%2F1", "dev"]


@schemathesis.serializer("application/x-ndjson")
def _ndjson(ctx: Any, value: Any) -> bytes:
    lines = value if isinstance(value, list) else [value]
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


@pytest.fixture(scope="module")
def fuzz_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    from modelyard.config import Settings

    unlimited = {  # thousands of requests a minute: rate limits would turn most answers into 429s
        k: 0
        for k in ("rate_limit_per_minute", "rate_limit_anonymous_per_minute")
        if k in Settings.__dataclass_fields__
    }
    with start_server(tmp_path_factory.mktemp("fuzz-hub"), **unlimited) as hub:
        from huggingface_hub import CommitOperationAdd

        alice, bob = hub.api(), hub.api(hub.bob)
        for repo_id, private, api in (
            ("alice/pub", False, alice),
            ("alice/priv", True, alice),
            ("acme/team", False, alice),
            ("bob/bobs", False, bob),
        ):
            api.create_repo(repo_id, private=private)
            api.create_commit(
                repo_id,
                [
                    CommitOperationAdd("README.md", b"---\nlicense: mit\n---\n# hi\n"),
                    CommitOperationAdd("dir/file.txt", b"hello"),
                    CommitOperationAdd("w.bin", bytes(range(256)) * 8),
                ],
                commit_message="seed",
            )
        alice.create_repo("alice/data", repo_type="dataset")
        alice.create_branch("alice/pub", branch="dev")
        alice.create_tag("alice/pub", tag="v1")
        alice.create_discussion("alice/pub", title="a question")
        alice.create_commit(
            "alice/pub", [CommitOperationAdd("pr.txt", b"pr")], commit_message="a pr", create_pr=True
        )
        yield hub


def _schema(hub: Hub) -> Any:
    return schemathesis.openapi.from_url(f"{hub.url}/openapi.json", timeout=30)


def _with_real_names(strategy: Any) -> Any:
    """Half of the cases aim at existing repos and revisions (the other half keep the generated values)."""

    def patch(case: Any, pick: tuple[int, int] | None) -> Any:
        if pick is None or not case.path_parameters:
            return case
        params = dict(case.path_parameters)
        ns, name = REPOS[pick[0] % len(REPOS)]
        if "namespace" in params:
            params["namespace"], params["name"] = ns, name
        if "rev" in params:
            params["rev"] = REVS[pick[1] % len(REVS)]
        if "path" in params:
            params["path"] = ["README.md", "dir/file.txt", "w.bin", "dir"][pick[1] % 4]
        if "num" in params:
            params["num"] = str(1 + pick[1] % 2)
        case.path_parameters = params
        return case

    picks = st.one_of(st.none(), st.tuples(st.integers(0, 63), st.integers(0, 63)))
    return st.builds(patch, strategy, picks)


STATUSES: Counter[int] = Counter()  # printed with -s: how deep the cases got (2xx) vs. turned away (4xx)
Failures = dict[str, tuple[int, str]]  # "operation [mode] failure title" -> (count, first report)


def _record(failures: Failures, key: str, report: str) -> None:
    count, first = failures.get(key, (0, report[:2500]))
    failures[key] = (count + 1, first)


def _token_required(hub: Hub) -> set[str]:
    """Labels of the operations the document says need a token (no anonymous `{}` security alternative)."""
    doc = httpx.get(f"{hub.url}/openapi.json").json()
    return {
        f"{method.upper()} {path}"
        for path, item in doc["paths"].items()
        for method, operation in item.items()
        if {} not in operation.get("security", [{}])
    }


def _drop_generated_token(case: Any) -> None:
    """schemathesis fills the documented bearer scheme with generated tokens; anonymous means none at all."""
    if case.headers and any(k.lower() == "authorization" for k in case.headers):
        case.headers = {k: v for k, v in case.headers.items() if k.lower() != "authorization"}


def _check_replay_without_token(case: Any, label: str, failures: Failures) -> None:
    """An operation documented as needing a token succeeded: without one, or with a bogus one, it must not
    (401/403, or 404 where a private repo is hidden). schemathesis' `ignored_auth` insists on 401/403 only."""
    _drop_generated_token(case)
    for replay_headers in ({}, {"Authorization": "Bearer hf_not_a_token"}):
        r = case.call(headers=replay_headers, timeout=60)
        if not 400 <= r.status_code < 500:
            report = f"{r.status_code} {r.text[:300]}\n{case.as_curl_command(headers=replay_headers)}"
            _record(failures, f"{label} {r.status_code} replayed with {replay_headers or 'no token'}", report)


def _run_operation(
    operation: Any,
    mode: Any,
    headers: dict[str, str],
    failures: Failures,
    examples: int,
    token_required: bool = False,
) -> int:
    sent = 0

    @given(case=_with_real_names(operation.as_strategy(generation_mode=mode)))
    @settings(
        max_examples=examples,
        derandomize=DERANDOMIZE,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        nonlocal sent
        label = f"{operation.label} [{mode.value}]"
        if "Authorization" not in headers:
            _drop_generated_token(case)
        try:
            response = case.call(headers=headers, timeout=60)
        except Exception as e:  # a dropped connection is a failure too
            _record(failures, f"{label} no response", f"{e!r}\n{case.as_curl_command()}")
            return
        sent += 1
        STATUSES[response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except (AssertionError, BaseExceptionGroup) as e:  # collect, don't shrink (keeps the run short)
            parts = getattr(e, "exceptions", None) or [e]
            titles = sorted({getattr(f, "title", type(f).__name__) for f in parts})
            _record(failures, f"{label} {response.status_code} {', '.join(titles)}", str(e))
        if token_required and "Authorization" in headers and 200 <= response.status_code < 300:
            _check_replay_without_token(case, label, failures)

    try:
        run()
    except Unsatisfiable:  # nothing to negate (an operation without parameters or body)
        assert mode is GenerationMode.NEGATIVE, operation.label
    return sent


def _fuzz(hub: Hub, headers: dict[str, str], modes: tuple[Any, ...], examples: int) -> None:
    schema = _schema(hub)
    token_required = _token_required(hub)
    failures: Failures = {}
    total = 0
    started = time.monotonic()
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in modes:
            needs = operation.label in token_required
            total += _run_operation(operation, mode, headers, failures, examples, needs)
    elapsed = time.monotonic() - started
    assert total > 0
    print(f"openapi fuzz: {total} requests in {elapsed:.1f}s; statuses so far: {sorted(STATUSES.items())}")
    summary = "\n".join(f"{n:4d} x {key}" for key, (n, _) in sorted(failures.items()))
    details = "\n\n".join(first for _, first in list(failures.values())[:10])
    assert not failures, f"{len(failures)} kinds of failure:\n{summary}\n\nFirst reports:\n{details}"


def test_openapi_document_is_served(fuzz_hub: Hub) -> None:
    r = httpx.get(f"{fuzz_hub.url}/openapi.json")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    doc = r.json()
    assert doc["openapi"].startswith("3.") and doc["servers"] == [{"url": fuzz_hub.url}]
    assert "/api/repos/create" in doc["paths"]
    assert httpx.head(f"{fuzz_hub.url}/openapi.json").status_code == 200  # not the web UI's catch-all


def test_fuzz_as_write_token_finds_no_server_error(fuzz_hub: Hub) -> None:
    modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    _fuzz(fuzz_hub, {"Authorization": f"Bearer {fuzz_hub.alice}"}, modes, EXAMPLES)


def test_fuzz_anonymous_finds_no_server_error(fuzz_hub: Hub) -> None:
    _fuzz(fuzz_hub, {}, (GenerationMode.POSITIVE,), EXAMPLES)  # mostly the auth walls: valid inputs suffice


def _deep(n: int) -> Any:
    return json.loads("[" * n + "]" * n)


HOSTILE_BODIES: list[Callable[[], bytes]] = [
    lambda: b"[" * 100_000 + b"]" * 100_000,
    lambda: b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    lambda: json.dumps({"name": "x" * 10, "paths": [_deep(500)], "files": _deep(500)}).encode(),
    lambda: json.dumps({"name": 10**400, "size": 10**400, "paths": [10**40], "tag": 10**40}).encode(),
    lambda: b'{"name": 1e999, "size": -1e999, "limit": NaN}',
    lambda: b'{"name": ' + b"7" * 5000 + b', "paths": [' + b"1" * 5000 + b"]}",
    lambda: b'{"\\udfff": "x", "files": [{"path": "\\ud800"}], "paths": ["\\udbff"]}',
    lambda: json.dumps({"name": "\x00", "tag": "\x00", "paths": ["\x00/../\x00"], "title": "\x00"}).encode(),
    lambda: json.dumps(
        {"name": "", "tag": "", "paths": [""], "fromRepo": "", "toRepo": "", "content": ""}
    ).encode(),
    lambda: json.dumps({"name": "\ud800", "startingPoint": "\udfff"}).encode(),
    lambda: '{"name": "\U0001f600\u202e\ufeff", "organization": "\u0130"}'.encode(),
    lambda: json.dumps({"files": [{"path": "a", "size": 10**30, "sample": "%%%"}]}).encode(),
    lambda: json.dumps([None, True, {}]).encode(),
    lambda: b"\xff\xfe\x00garbage",
    lambda: (
        b'{"key": "header", "value": {"summary": "x"}}\n{"key": "file", "value": {"path": "\\u0000", "content": ""}}\n'
    ),
]


def test_hostile_bodies_get_clear_errors(fuzz_hub: Hub) -> None:
    doc = httpx.get(f"{fuzz_hub.url}/openapi.json").json()
    bad: list[str] = []
    with httpx.Client(base_url=fuzz_hub.url, timeout=60, headers=fuzz_hub.auth()) as client:
        for template, item in doc["paths"].items():
            for method, operation in item.items():
                if "requestBody" not in operation:
                    continue
                url = _sample_url(template)
                media = next(iter(operation["requestBody"]["content"]))
                for make in HOSTILE_BODIES:
                    body = make()
                    r = client.request(method.upper(), url, content=body, headers={"content-type": media})
                    if r.status_code >= 500 or "x-request-id" not in r.headers:
                        bad.append(
                            f"{method.upper()} {url} {body[:60]!r}... -> {r.status_code} {r.text[:200]}"
                        )
                    elif (
                        r.status_code >= 400
                        and "x-error-code" not in r.headers
                        and not _own_400(operation, r)
                    ):
                        bad.append(
                            f"{method.upper()} {url} {body[:60]!r}... -> {r.status_code} without X-Error-Code"
                        )
    assert not bad, "\n".join(bad[:40])


def _own_400(operation: dict[str, Any], r: httpx.Response) -> bool:
    """validate-yaml answers invalid metadata with HF's own 400 shape ({errors: [...]}, no X-Error-Code)."""
    described = operation["responses"].get(str(r.status_code), {})
    return "$ref" not in described and "X-Error-Code" not in described.get("headers", {})


def _sample_url(template: str) -> str:
    values = {
        "type": "models",
        "namespace": "alice",
        "name": "pub",
        "rev": "main",
        "path": "README.md",
        "branch": "fuzz-branch",
        "oid": "0" * 64,
        "num": "1",
        "part": "1",
        "prefix": "datasets",
        "rtype": "model",
        "user": "alice",
    }
    for k, v in values.items():
        template = template.replace("{" + k + "}", v)
    return template


HOSTILE_QUERIES = [
    "/api/models?offset=169608450701289881600",
    "/api/models?limit=" + "9" * 5000,
    "/api/models/alice/pub/likers?offset=" + "9" * 25,
    "/api/models/alice/pub/commits/main?p=" + "9" * 25,
    "/api/models/alice/pub/commits/main?p=1&limit=" + "9" * 25,
    "/api/models/alice/pub/tree/main?cursor=" + "9" * 25,
    "/api/models/alice/pub/discussions?p=.%F2%B6%A7%B9",
    "/api/models/alice/pub/discussions?p=-3",
    "/api/models/alice/pub/discussions/" + "9" * 25,
    "/api/models/alice/pub/discussions/" + "9" * 5000,
    "/api/models/alice/x%01y",  # control characters echoed in X-Error-Message used to drop the connection
    "/api/models/alice/x%7Fy/refs",
    "/api/users/a%1Bb/likes",
    "/api/models/alice/pub/tree/main/%08",
]


@pytest.mark.parametrize("url", HOSTILE_QUERIES)
def test_hostile_numbers_get_clear_errors(fuzz_hub: Hub, url: str) -> None:
    r = httpx.get(fuzz_hub.url + url, headers=fuzz_hub.auth(), timeout=30)
    assert r.status_code < 500, r.text
    if r.status_code >= 400:
        assert r.headers.get("x-error-code") and r.headers.get("x-request-id"), r.headers


ECHOED_CONTROLS = [
    ("POST", "/api/repos/create", {"name": "a\x01b"}),
    ("POST", "/api/models/alice/pub/branch/ctl", {"startingPoint": "x\x01y\x7f"}),
    ("POST", "/api/repos/move", {"fromRepo": "alice/p\x1b", "toRepo": "alice/q"}),
]


@pytest.mark.parametrize(("method", "url", "body"), ECHOED_CONTROLS)
def test_control_characters_echoed_in_errors_get_an_answer(
    fuzz_hub: Hub, method: str, url: str, body: dict[str, str]
) -> None:
    """Error messages quote the input; a control character in X-Error-Message made uvicorn drop the connection."""
    r = httpx.request(method, fuzz_hub.url + url, json=body, headers=fuzz_hub.auth(), timeout=30)
    assert 400 <= r.status_code < 500, r.text
    assert r.headers["x-error-code"] and r.headers["x-request-id"]
    assert all(c >= " " and c != "\x7f" for c in r.headers["x-error-message"])


def test_coverage_phase_finds_no_server_error(fuzz_hub: Hub) -> None:
    """schemathesis' deterministic boundary cases for every operation: empty and over-long strings, missing
    required fields, wrong types, out-of-range numbers, invalid enum values, in the path, query and body."""
    from schemathesis.generation.drivers import CoverageGenerator
    from schemathesis.generation.feedback import FeedbackSources
    from schemathesis.generation.overrides import Override

    schema = _schema(fuzz_hub)
    headers = {"Authorization": f"Bearer {fuzz_hub.alice}"}
    failures: Failures = {}
    total = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        cases = CoverageGenerator(
            operation=operation,
            generation_modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
            generation_config=schema.config.generation_for(operation=operation, phase="coverage"),
            auth_storage=None,
            override=Override(),
            feedback=FeedbackSources(),
        )
        for case in itertools.islice(cases, 300):
            total += 1
            label = f"{operation.label} [coverage]"
            response = case.call(headers=headers, timeout=60)
            try:
                case.validate_response(response, checks=CHECKS, headers=headers)
            except (AssertionError, BaseExceptionGroup) as e:
                parts = getattr(e, "exceptions", None) or [e]
                titles = sorted({getattr(f, "title", type(f).__name__) for f in parts})
                _record(failures, f"{label} {response.status_code} {', '.join(titles)}", str(e))
    assert total > 500
    summary = "\n".join(f"{n:4d} x {key}" for key, (n, _) in sorted(failures.items()))
    details = "\n\n".join(first for _, first in list(failures.values())[:10])
    assert not failures, f"{len(failures)} kinds of failure:\n{summary}\n\nFirst reports:\n{details}"
