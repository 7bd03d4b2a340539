"""Issue 11, audit log, attacker side: every listed change leaves an entry (actor, token name, time, client IP,
target), admins read it through the API and the CLI, and nobody else does: anonymous 401, a non-admin 403, an org's
write member 403, an org admin sees its own org's entries only, tokens without `org.read` 403, and no entry ever
holds a token value or a webhook's secret.

A hub of its own (so the log holds only this module's actions); the actions through the official client (HfApi) and
the `modelyard` CLI, the log read with httpx (the routes are ModelYard's own) and the CLI.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from huggingface_hub.errors import HfHubHTTPError

from conftest import Hub, start_server
from modelyard.cli import main as cli
from modelyard.hub.access import Grants
from modelyard.hub.audit import ACTIONS

SITE = "/api/admin/audit-log"
ORG = "/api/organizations/{}/audit-log"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """A hub with: root (site admin), carol (admin of acme), alice (write member of acme), bob (admin of globex).
    uvicorn trusts X-Forwarded-For only from the proxies in FORWARDED_ALLOW_IPS (default 127.0.0.1, the tests'
    own address): here a proxy elsewhere, so the tests' requests are from an untrusted peer."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FORWARDED_ALLOW_IPS", "10.9.9.9")
        cm = start_server(tmp_path_factory.mktemp("audit-hub"))
        h = cm.__enter__()
    try:
        acc = h.services.accounts
        acc.create("root", is_admin=True)
        acc.create("carol")
        acc.add_member(h.org, "carol", "admin")
        acc.create("globex", kind="org")
        acc.add_member("globex", "bob", "admin")
        acc.create("dave")
        h.extra["root"] = acc.create_token("root", "root-write", "write")
        h.extra["carol"] = acc.create_token("carol", "carol-write", "write")
        h.extra["carol_read"] = acc.create_token("carol", "carol-read", "read")
        yield h
    finally:
        cm.__exit__(None, None, None)


def run_cli(hub: Hub, *args: str) -> Any:
    env = {
        "MODELYARD_DATABASE_URL": hub.settings.resolved_database_url,
        "MODELYARD_DATA_DIR": hub.settings.data_dir,
    }
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def log(hub: Hub, token: str | None, path: str = SITE, **params: Any) -> httpx.Response:
    return httpx.get(hub.url + path, params=params, headers=hub.auth(token) if token else {})


def entries(hub: Hub, token: str, path: str = SITE, **params: Any) -> list[dict[str, Any]]:
    r = log(hub, token, path, **params)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def actions(hub: Hub) -> dict[str, Any]:
    """Every audited change, made as alice (write token "ci-write") through HfApi, and tokens through the CLI."""
    api = hub.api(hub.alice)
    suffix = os.urandom(3).hex()
    repo, moved = f"{hub.org}/audited-{suffix}", f"{hub.org}/audited-moved-{suffix}"
    api.create_repo(repo)
    api.update_repo_settings(repo, private=True)
    api.update_repo_settings(repo, gated="manual")
    api.move_repo(repo, moved)
    api.delete_repo(moved)
    bucket = api.create_bucket(f"{hub.org}/audited-bucket-{suffix}").bucket_id
    api.update_bucket_settings(bucket, private=True)
    api.delete_bucket(bucket)
    secret_token = "hf_" + "S" * 34  # a secret shaped like a token: never in the log
    hook = api.create_webhook(
        url=f"https://hooks.example.com/in?token={secret_token}",
        watched=[{"type": "org", "name": hub.org}],
        secret="webhook-secret-" + suffix,
    )
    api.delete_webhook(hook.id)
    coll = api.create_collection(f"audited {suffix}", namespace=hub.org)
    api.delete_collection(coll.slug)
    # bob, in his own org and namespace: must never show in acme's log
    bob = hub.api(hub.bob)
    bob.create_repo(f"globex/bob-secret-{suffix}", private=True)
    bob.delete_repo(f"globex/bob-secret-{suffix}")
    bob.create_repo(f"bob/bob-own-{suffix}")
    # tokens through the CLI (through the API: the last test)
    created = json.loads(
        run_cli(hub, "tokens", "create", "alice", "--name", f"cli-{suffix}", "--format", "json").output
    )
    run_cli(hub, "tokens", "revoke", "alice", f"cli-{suffix}")
    return {
        "repo": f"model/{repo}".lower(),
        "moved": f"model/{moved}".lower(),
        "bucket": f"bucket/{bucket}",
        "webhook": f"webhook/{hook.id}",
        "collection": f"collection/{coll.slug}",
        "cli_token": created["token"],
        "cli_token_name": f"cli-{suffix}",
        "secret_token": secret_token,
        "webhook_secret": "webhook-secret-" + suffix,
        "suffix": suffix,
    }


def _find(found: list[dict[str, Any]], action: str, target: str) -> dict[str, Any]:
    hits = [e for e in found if e["action"] == action and e["target"] == target]
    assert hits, f"no {action} entry for {target}: {[(e['action'], e['target']) for e in found]}"
    return hits[0]


def test_each_change_has_an_entry_with_actor_time_ip_and_target(hub: Hub, actions: dict[str, Any]) -> None:
    found = entries(hub, hub.extra["root"], limit=1000)
    expected = [
        ("repo.create", actions["repo"]),
        ("repo.visibility", actions["repo"]),
        ("repo.gated", actions["repo"]),
        ("repo.move", actions["repo"]),
        ("repo.delete", actions["moved"]),
        ("bucket.create", actions["bucket"]),
        ("bucket.visibility", actions["bucket"]),
        ("bucket.delete", actions["bucket"]),
        ("webhook.create", actions["webhook"]),
        ("webhook.delete", actions["webhook"]),
        ("collection.delete", actions["collection"]),
    ]
    now = datetime.now(UTC)
    for action, target in expected:
        e = _find(found, action, target)
        assert e["actor"] == "alice" and e["tokenName"] == "ci-write", e
        assert e["ip"] == "127.0.0.1", e  # the ContextVar reached the sync handler in the threadpool
        when = datetime.fromisoformat(e["time"].replace("Z", "+00:00"))
        assert now - timedelta(minutes=10) < when <= now + timedelta(seconds=5), e
        assert set(e) == {
            "id",
            "time",
            "actor",
            "tokenName",
            "action",
            "target",
            "namespace",
            "details",
            "ip",
        }
    assert _find(found, "repo.visibility", actions["repo"])["details"] == {"private": True}
    assert _find(found, "repo.gated", actions["repo"])["details"]["gated"] == "manual"
    assert _find(found, "repo.delete", actions["moved"])["namespace"] == hub.org
    # tokens made with the CLI: the CLI user acts, no client address
    for action in ("token.create", "token.revoke"):
        e = next(
            e
            for e in found
            if e["action"] == action and e["details"].get("name") == actions["cli_token_name"]
        )
        assert e["target"] == "user/alice" and e["namespace"] == "alice"
        assert e["actor"].startswith("cli:") and e["ip"] is None and e["tokenName"] is None, e


def test_no_entry_holds_a_token_value_or_a_secret(hub: Hub, actions: dict[str, Any]) -> None:
    text = log(hub, hub.extra["root"], limit=1000).text
    for secret in (
        actions["cli_token"],
        actions["secret_token"],
        actions["webhook_secret"],
        hub.alice,
        hub.alice_read,
        hub.bob,
        hub.extra["root"],
    ):
        assert secret not in text
    assert not re.search(r"hf_[A-Za-z0-9_-]{20,}", text)
    hook = _find(json.loads(text), "webhook.create", actions["webhook"])
    assert hook["details"]["url"] == "https://hooks.example.com/in"  # no query: it may carry credentials


def test_site_log_is_for_site_admins_only(hub: Hub, actions: dict[str, Any]) -> None:
    anonymous = log(hub, None)
    assert anonymous.status_code == 401 and anonymous.headers["x-error-code"]
    for token in (hub.alice, hub.alice_read, hub.bob, hub.extra["carol"]):  # org admins are not site admins
        r = log(hub, token)
        assert r.status_code == 403, r.text
        assert "tokenName" not in r.text and actions["repo"] not in r.text
    bad = log(hub, "hf_" + "x" * 34)  # an unknown token is not anonymous
    assert bad.status_code == 401


def test_org_log_needs_an_org_admin_and_shows_only_that_org(hub: Hub, actions: dict[str, Any]) -> None:
    path = ORG.format(hub.org)
    assert log(hub, None, path).status_code == 401
    assert log(hub, hub.alice, path).status_code == 403  # a member with role write, not admin
    assert log(hub, hub.bob, path).status_code == 403  # an admin of another org
    assert log(hub, hub.extra["carol"], ORG.format("globex")).status_code == 403
    found = entries(hub, hub.extra["carol"], path, limit=1000)
    assert found and all(e["namespace"] == hub.org for e in found)
    assert _find(found, "repo.delete", actions["moved"])
    text = json.dumps(found)
    assert "globex" not in text and "bob-own" not in text and "bob-secret" not in text
    assert "user/alice" not in text  # alice's tokens belong to her own namespace, not the org's
    # the org's admins read through the org log only; bob reads his own org's
    assert all(e["namespace"] == "globex" for e in entries(hub, hub.bob, ORG.format("globex"), limit=1000))
    # a site admin may read any org's log
    assert entries(hub, hub.extra["root"], path, limit=1000) == found


def test_token_scope_org_read(hub: Hub, actions: dict[str, Any]) -> None:
    """Reading a log needs `org.read`: read and write tokens have it; a fine-grained one must list it (globally for
    the site log, globally or on the org for the org log)."""
    acc = hub.services.accounts
    path = ORG.format(hub.org)
    assert log(hub, hub.extra["carol_read"], path).status_code == 200  # org.read is a read permission

    def fine(user: str, grants: dict[str, Any]) -> str:
        return acc.create_token(user, f"fg-{os.urandom(3).hex()}", "fineGrained", grants=Grants.parse(grants))

    repo_only = fine(
        "carol", {"scoped": [{"entity": {"type": "org", "name": hub.org}, "permissions": ["repo.write"]}]}
    )
    r = log(hub, repo_only, path)
    assert r.status_code == 403 and r.headers["x-error-code"] == "TokenScope"
    other_org = fine(
        "carol", {"scoped": [{"entity": {"type": "org", "name": "globex"}, "permissions": ["org.read"]}]}
    )
    assert log(hub, other_org, path).status_code == 403
    on_org = fine(
        "carol", {"scoped": [{"entity": {"type": "org", "name": hub.org}, "permissions": ["org.read"]}]}
    )
    assert log(hub, on_org, path).status_code == 200
    root_scoped = fine(
        "root", {"scoped": [{"entity": {"type": "user", "name": "root"}, "permissions": ["org.read"]}]}
    )
    r = log(hub, root_scoped)
    assert r.status_code == 403 and r.headers["x-error-code"] == "TokenScope"
    root_global = fine("root", {"global": ["org.read"]})
    assert log(hub, root_global).status_code == 200
    carol_global = fine("carol", {"global": ["org.read"]})  # a global permission gives no admin rights
    assert log(hub, carol_global).status_code == 403


def test_filters_and_pagination(hub: Hub, actions: dict[str, Any]) -> None:
    root = hub.extra["root"]
    repo_entries = entries(hub, root, action="repo.*", limit=1000)
    assert repo_entries and all(e["action"].startswith("repo.") for e in repo_entries)
    assert all(e["action"] == "repo.gated" for e in entries(hub, root, action="repo.gated"))
    assert {e["actor"] for e in entries(hub, root, actor="ALICE", limit=1000)} == {"alice"}
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert entries(hub, root, since=future) == []
    assert entries(hub, root, since="2000-01-01T00:00:00Z", limit=3)
    ids = [e["id"] for e in entries(hub, root, limit=1000)]
    assert ids == sorted(ids, reverse=True)  # newest first
    # pages of 2 through the Link header cover the whole log once
    seen: list[int] = []
    url: str | None = f"{hub.url}{SITE}?limit=2"
    while url:
        r = httpx.get(url, headers=hub.auth(root))
        assert r.status_code == 200
        assert len(r.json()) <= 2
        seen += [e["id"] for e in r.json()]
        url = r.links.get("next", {}).get("url")
    assert seen == ids
    hostile: list[dict[str, str]] = [
        {"since": "yesterday"},
        {"since": "0001-01-01T00:00:00+14:00"},  # before year 1 in UTC
        {"since": "9999-12-31T23:59:59-14:00"},  # after year 9999 in UTC
        {"since": "\x00"},
        {"limit": "-1"},
        {"limit": "x"},
        {"limit": "\u00b2"},  # a digit to str.isdigit, not to int()
        {"limit": "9" * 5000},
        {"cursor": "abc"},
        {"action": "repo.\x00"},
        {"actor": "a\x1bb"},
        {"actor": "x" * 101},
    ]
    for bad in hostile:
        r = log(hub, root, **bad)
        assert r.status_code == 400 and r.headers["x-error-code"] == "BadRequest", (bad, r.text)
    for odd in (
        {"cursor": "9" * 19},
        {"action": "%_*"},
        {"actor": "%"},
        {"limit": "0"},
        {"since": "2026-12-01"},
    ):
        assert log(hub, root, **odd).status_code == 200, odd


def test_cli_lists_the_log(hub: Hub, actions: dict[str, Any]) -> None:
    out = json.loads(run_cli(hub, "audit", "--format", "json", "--limit", "1000").output)
    assert _find(out, "repo.delete", actions["moved"])["ip"] == "127.0.0.1"
    assert out == entries(hub, hub.extra["root"], limit=1000)  # the same entries as the API
    org = json.loads(
        run_cli(hub, "audit", "--org", hub.org, "--action", "bucket.delete", "--format", "json").output
    )
    assert [e["target"] for e in org] == [actions["bucket"]]
    text = run_cli(hub, "audit", "--actor", "alice", "--since", "2000-01-01").output
    assert actions["moved"] in text and "repo.delete" in text and "127.0.0.1" in text
    bad = CliRunner().invoke(
        cli,
        ["audit", "--since", "soon"],
        env={
            "MODELYARD_DATA_DIR": hub.settings.data_dir,
            "MODELYARD_DATABASE_URL": hub.settings.resolved_database_url,
        },
    )
    assert bad.exit_code != 0 and "ISO 8601" in bad.output


def test_endpoint_create_and_delete_are_logged(hub: Hub, tiny_model_dir: Path) -> None:
    api = hub.api(hub.alice)
    repo = f"{hub.org}/audited-endpoint-{os.urandom(3).hex()}"
    api.create_repo(repo)
    api.upload_folder(repo_id=repo, folder_path=str(tiny_model_dir))
    name = f"ep-{os.urandom(3).hex()}"
    base = f"{hub.url}/endpoints/-/api/endpoints"
    r = httpx.post(base, json={"name": name, "repo_id": repo, "load": False}, headers=hub.auth())
    assert r.status_code == 201, r.text
    assert httpx.delete(f"{base}/{name}", headers=hub.auth()).status_code == 200
    found = entries(hub, hub.extra["carol"], ORG.format(hub.org), action="endpoint.*")
    assert [e["action"] for e in found if e["target"] == f"endpoint/{name}"] == [
        "endpoint.delete",
        "endpoint.create",
    ]
    assert all(
        e["ip"] == "127.0.0.1" and e["actor"] == "alice" for e in found if e["target"] == f"endpoint/{name}"
    )


def test_refused_changes_leave_no_entry(hub: Hub, actions: dict[str, Any]) -> None:
    """The entry is written in the transaction of the change: a refused change writes none."""
    repo = f"{hub.org}/refused-{os.urandom(3).hex()}"
    hub.api(hub.alice).create_repo(repo)
    bob, reader = hub.api(hub.bob), hub.api(hub.alice_read)
    for attempt in (
        lambda: bob.delete_repo(repo),
        lambda: bob.update_repo_settings(repo, private=True),
        lambda: reader.update_repo_settings(repo, gated="auto"),
        lambda: reader.delete_repo(repo),
    ):
        with pytest.raises(HfHubHTTPError):
            attempt()
    target = f"model/{repo}".lower()
    assert [e["action"] for e in entries(hub, hub.extra["root"], limit=1000) if e["target"] == target] == [
        "repo.create"
    ]


def test_a_forged_forwarded_for_is_not_logged(hub: Hub) -> None:
    """The address is the socket peer unless uvicorn trusts the peer as a proxy: a client cannot pick its own."""
    repo = f"{hub.org}/forged-{os.urandom(3).hex()}"
    r = httpx.post(
        f"{hub.url}/api/repos/create",
        json={"name": repo.split("/")[1], "organization": hub.org},
        headers={
            **hub.auth(),
            "X-Forwarded-For": "6.6.6.6",
            "X-Real-IP": "6.6.6.6",
            "Forwarded": "for=6.6.6.6",
        },
    )
    assert r.status_code == 200, r.text
    e = _find(entries(hub, hub.extra["root"], action="repo.create"), "repo.create", f"model/{repo}".lower())
    assert e["ip"] == "127.0.0.1"


def test_tokens_members_org_settings_and_access_are_logged(hub: Hub) -> None:
    """The changes made through the token, org and access-request APIs: entries with the acting token and the IP."""
    suffix = os.urandom(3).hex()
    alice, carol = hub.auth(hub.alice), hub.auth(hub.extra["carol"])
    made = httpx.post(
        f"{hub.url}/api/settings/tokens", json={"name": f"api-{suffix}", "role": "read"}, headers=alice
    )
    assert made.status_code == 200, made.text
    value = made.json()["token"]
    assert httpx.delete(f"{hub.url}/api/settings/tokens/api-{suffix}", headers=alice).status_code == 200
    members = f"{hub.url}/api/organizations/{hub.org}/members"
    assert httpx.post(members, json={"user": "dave", "role": "read"}, headers=carol).status_code == 200
    assert httpx.put(f"{members}/dave", json={"role": "write"}, headers=carol).status_code == 200
    assert httpx.delete(f"{members}/dave", headers=carol).status_code == 200
    settings = f"{hub.url}/api/organizations/{hub.org}/settings"
    assert httpx.put(settings, json={"defaultRepoVisibility": "private"}, headers=carol).status_code == 200
    assert httpx.put(settings, json={"defaultRepoVisibility": "public"}, headers=carol).status_code == 200
    repo = f"{hub.org}/gated-{suffix}"
    api = hub.api(hub.alice)
    api.create_repo(repo)
    api.update_repo_settings(repo, gated="manual")
    asked = httpx.post(
        f"{hub.url}/api/models/{repo}/user-access-request/request", json={}, headers=hub.auth(hub.bob)
    )
    assert asked.status_code == 200, asked.text
    api.accept_access_request(repo, "bob")
    api.grant_access(repo, "dave")

    found = entries(hub, hub.extra["root"], limit=1000)
    text = json.dumps(found)
    assert value not in text
    assert {e["action"] for e in found} <= ACTIONS  # every caller uses a documented action name
    mine = [e for e in found if e["ip"] == "127.0.0.1"]
    by_alice = {
        (e["action"], e["target"]) for e in mine if (e["actor"], e["tokenName"]) == ("alice", "ci-write")
    }
    assert {("token.create", "user/alice"), ("token.revoke", "user/alice")} <= by_alice
    by_carol = [e for e in mine if (e["actor"], e["tokenName"]) == ("carol", "carol-write")]
    assert [e["action"] for e in by_carol if e["target"] == f"org/{hub.org}"][:5] == [
        "org.settings",
        "org.settings",
        "member.remove",
        "member.role",
        "member.add",
    ]
    target = f"model/{repo}".lower()
    assert {e["action"] for e in mine if e["target"] == target and e["actor"] == "bob"} == {"access.request"}
    assert {"access.accept", "access.grant"} <= {e["action"] for e in mine if e["target"] == target}
    # all of them are the org's, except alice's own tokens
    org_log = entries(hub, hub.extra["carol"], ORG.format(hub.org), limit=1000)
    assert {"member.add", "org.settings", "access.request", "access.grant"} <= {e["action"] for e in org_log}
    assert not [e for e in org_log if e["action"].startswith("token.")]


def test_a_move_across_namespaces_is_in_both_logs(hub: Hub) -> None:
    """A repo moved out of an org stays visible in that org's log, and shows in the new namespace's."""
    suffix = os.urandom(3).hex()
    src, dst = f"{hub.org}/leaving-{suffix}", f"alice/arrived-{suffix}"
    api = hub.api(hub.alice)
    api.create_repo(src)
    api.move_repo(src, dst)
    target = f"model/{src}".lower()
    in_org = [
        e
        for e in entries(hub, hub.extra["carol"], ORG.format(hub.org), action="repo.move")
        if e["target"] == target
    ]
    assert [e["details"]["to"] for e in in_org] == [f"model/{dst}".lower()]
    everywhere = [e for e in entries(hub, hub.extra["root"], action="repo.move") if e["target"] == target]
    assert sorted(e["namespace"] for e in everywhere) == sorted(["alice", hub.org])
