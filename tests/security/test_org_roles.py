"""Issue 11, organisation roles, attacker side: each member role (read < contributor < write < admin) is allowed and
refused what the Hub allows and refuses; members are managed only by org admins; a removed member's token loses the
org at once; the last admin stays; non-members see nothing private; the org's "private by default" setting.

A real hub (the session `live_server`), the official client `HfApi` in its default (Xet) mode, and httpx for
ModelYard's own member and settings routes (no official client has them). Accounts, memberships and tokens are
made with the server's `services.accounts`, as tests/conftest.py does.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from huggingface_hub import hf_hub_download
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

from _transfer import assert_arrived

ROLES = ("read", "contributor", "write", "admin")


@dataclass
class Org:
    name: str
    users: dict[str, str]  # role (or "outsider") -> user name
    tokens: dict[str, str]  # role (or "outsider") -> write token
    secret: str  # a private model created by the write member, holding w.bin
    data: bytes
    extra: dict[str, Any] = field(default_factory=dict)


def status(exc: pytest.ExceptionInfo[HfHubHTTPError]) -> int:
    assert exc.value.response is not None
    return int(exc.value.response.status_code)


def refused(fn: Callable[[], Any], *codes: int) -> int:
    """Call `fn`, which must fail with one of `codes` (403 unless given); the status."""
    with pytest.raises(HfHubHTTPError) as exc:
        fn()
    code = status(exc)
    assert code in (codes or (403,)), (code, str(exc.value)[:300])
    return code


@pytest.fixture(scope="module")
def org(live_server: Any) -> Org:
    hub = live_server
    acc = hub.services.accounts
    tag = os.urandom(3).hex()
    name = f"roles-{tag}"
    acc.create(name, "Roles Inc.", kind="org")
    users, tokens = {}, {}
    for role in (*ROLES, "outsider"):
        user = f"{role}-{tag}"
        acc.create(user, f"{role.title()} User")
        if role != "outsider":
            acc.add_member(name, user, role)
        users[role] = user
        tokens[role] = acc.create_token(user, "t", "write")
    secret = f"{name}/secret"
    writer = hub.api(tokens["write"])
    writer.create_repo(secret, private=True)
    data = os.urandom(50_000)
    writer.upload_file(path_or_fileobj=data, path_in_repo="w.bin", repo_id=secret)
    assert_arrived(hub, hashlib.sha256(data).hexdigest(), "xet")  # the default client's path
    theirs = writer.create_discussion(secret, "the write member's discussion").num
    return Org(name, users, tokens, secret, data, {"discussion": theirs})


def api(hub: Any, org: Org, role: str) -> Any:
    return hub.api(org.tokens[role])


def org_call(hub: Any, method: str, path: str, token: str | None, body: Any = None) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return httpx.request(method, f"{hub.url}/api/organizations/{path}", headers=headers, json=body)


def assert_hub_error(r: httpx.Response, code: int) -> None:
    assert r.status_code == code, (r.status_code, r.text[:300])
    assert r.headers.get("x-error-code") and r.headers.get("x-error-message"), r.headers


# --- the role matrix -----------------------------------------------------------------------------------------------
def test_read_member_reads_and_discusses_but_writes_nothing(
    live_server: Any, org: Org, tmp_path: Any
) -> None:
    hub = live_server
    r = api(hub, org, "read")
    assert org.secret in [m.id for m in r.list_models(author=org.name)]
    assert org.secret in [x.id for x in r.list_user_repos(namespace=org.name)]
    path = hf_hub_download(org.secret, "w.bin", token=org.tokens["read"], cache_dir=tmp_path)
    assert Path(path).read_bytes() == org.data
    r.create_discussion(org.secret, "a question")
    pr = r.create_pull_request(org.secret, "a proposal")
    r.upload_file(
        path_or_fileobj=b"pr\n", path_in_repo="pr.txt", repo_id=org.secret, revision=pr.git_reference
    )

    refused(lambda: r.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=org.secret))
    refused(lambda: r.create_repo(f"{org.name}/read-made", private=True))
    refused(lambda: r.update_repo_settings(org.secret, private=False))
    refused(lambda: r.delete_repo(org.secret))
    refused(lambda: r.merge_pull_request(org.secret, pr.num))  # its own PR, but merging is a push to main
    r.change_discussion_status(org.secret, pr.num, "closed")  # its own pull request
    refused(lambda: r.change_discussion_status(org.secret, org.extra["discussion"], "closed"))
    refused(lambda: r.create_bucket(f"{org.name}/read-bucket"))
    refused(lambda: r.create_collection("read's", namespace=org.name))
    body = {"user": org.users["outsider"], "role": "read"}
    assert_hub_error(org_call(hub, "POST", f"{org.name}/members", org.tokens["read"], body), 403)
    assert_hub_error(
        org_call(
            hub, "PUT", f"{org.name}/settings", org.tokens["read"], {"defaultRepoVisibility": "private"}
        ),
        403,
    )
    assert hub.api(org.tokens["write"]).model_info(org.secret).private  # nothing changed


def test_contributor_writes_only_the_repos_it_created(live_server: Any, org: Org) -> None:
    hub = live_server
    c = api(hub, org, "contributor")
    own = f"{org.name}/contrib-{os.urandom(2).hex()}"
    c.create_repo(own, private=True)
    data = os.urandom(40_000)
    c.upload_file(path_or_fileobj=data, path_in_repo="own.bin", repo_id=own)
    c.update_repo_settings(own, private=False)
    assert not c.model_info(own).private

    # another member's repo: a pull request, not a push, a delete or a settings change
    refused(lambda: c.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=org.secret))
    c.upload_file(path_or_fileobj=b"pr\n", path_in_repo="c.txt", repo_id=org.secret, create_pr=True)
    refused(lambda: c.delete_repo(org.secret))
    refused(lambda: c.update_repo_settings(org.secret, private=False))
    refused(lambda: c.update_repo_settings(org.secret, gated="auto"))
    refused(lambda: c.create_bucket(f"{org.name}/contrib-bucket"))
    assert_hub_error(
        org_call(
            hub,
            "PUT",
            f"{org.name}/members/{org.users['contributor']}",
            org.tokens["contributor"],
            {"role": "write"},
        ),
        403,
    )
    c.delete_repo(own)
    with pytest.raises(RepositoryNotFoundError):
        c.model_info(own)


def test_write_member_writes_every_repo_but_not_the_org(live_server: Any, org: Org) -> None:
    hub = live_server
    c, w = api(hub, org, "contributor"), api(hub, org, "write")
    theirs = f"{org.name}/by-contrib-{os.urandom(2).hex()}"
    c.create_repo(theirs, private=True)
    w.upload_file(path_or_fileobj=os.urandom(30_000), path_in_repo="w.bin", repo_id=theirs)
    w.update_repo_settings(theirs, gated="manual")
    w.update_repo_settings(theirs, private=False)
    assert w.model_info(theirs).gated == "manual"
    w.delete_repo(theirs)
    made = f"{org.name}/by-write-{os.urandom(2).hex()}"
    w.create_repo(made)
    w.delete_repo(made)
    w.create_bucket(f"{org.name}/write-bucket-{os.urandom(2).hex()}")

    body = {"user": org.users["outsider"], "role": "read"}
    assert_hub_error(org_call(hub, "POST", f"{org.name}/members", org.tokens["write"], body), 403)
    assert_hub_error(
        org_call(
            hub, "PUT", f"{org.name}/settings", org.tokens["write"], {"defaultRepoVisibility": "private"}
        ),
        403,
    )


def test_admin_manages_members_and_settings(live_server: Any, org: Org) -> None:
    hub = live_server
    tok = org.tokens["admin"]
    newbie = f"newbie-{os.urandom(3).hex()}"
    hub.services.accounts.create(newbie)
    r = org_call(hub, "POST", f"{org.name}/members", tok, {"user": newbie, "role": "read"})
    assert r.status_code == 200, r.text
    assert r.json()["user"] == newbie and r.json()["role"] == "read"
    assert_hub_error(
        org_call(hub, "POST", f"{org.name}/members", tok, {"user": newbie, "role": "write"}), 409
    )

    r = org_call(hub, "PUT", f"{org.name}/members/{newbie}", tok, {"role": "contributor"})
    assert r.status_code == 200 and r.json()["role"] == "contributor", r.text
    members = {m.username: m for m in api(hub, org, "admin").list_organization_members(org.name)}
    assert members[newbie].role == "contributor"  # type: ignore[attr-defined]
    assert members[org.users["admin"]].role == "admin"  # type: ignore[attr-defined]

    r = org_call(hub, "DELETE", f"{org.name}/members/{newbie}", tok)
    assert r.status_code == 200, r.text
    assert newbie not in {m.username for m in api(hub, org, "admin").list_organization_members(org.name)}
    assert_hub_error(org_call(hub, "DELETE", f"{org.name}/members/{newbie}", tok), 404)
    assert_hub_error(org_call(hub, "PUT", f"{org.name}/members/{newbie}", tok, {"role": "read"}), 404)

    r = org_call(hub, "GET", f"{org.name}/settings", org.tokens["read"])
    assert r.status_code == 200 and r.json() == {"defaultRepoVisibility": "public"}, r.text
    for vis in ("private", "public"):
        r = org_call(hub, "PUT", f"{org.name}/settings", tok, {"defaultRepoVisibility": vis})
        assert r.status_code == 200 and r.json() == {"defaultRepoVisibility": vis}, r.text

    assert_hub_error(
        org_call(hub, "POST", f"{org.name}/members", tok, {"user": org.name, "role": "read"}), 400
    )
    assert_hub_error(
        org_call(hub, "POST", f"{org.name}/members", tok, {"user": "nobody-x", "role": "read"}), 404
    )

    # an admin's read-only token does not manage the org
    read_tok = hub.services.accounts.create_token(org.users["admin"], "ro", "read")
    assert_hub_error(
        org_call(hub, "POST", f"{org.name}/members", read_tok, {"user": newbie, "role": "read"}), 403
    )

    ov = api(hub, org, "outsider").get_organization_overview(org.name)
    assert ov.name == org.name and ov.num_users == len(ROLES)


@pytest.mark.parametrize("role", ROLES)
def test_every_role_lists_and_reads_private_org_repos(live_server: Any, org: Org, role: str) -> None:
    a = api(live_server, org, role)
    assert org.secret in [m.id for m in a.list_models(author=org.name)]
    assert org.secret in [x.id for x in a.list_user_repos(namespace=org.name)]
    assert a.model_info(org.secret).private
    assert "w.bin" in a.list_repo_files(org.secret)
    assert {m.username: m.role for m in a.list_organization_members(org.name)}[org.users[role]] == role  # type: ignore[attr-defined]


# --- attacker side -------------------------------------------------------------------------------------------------
def test_write_member_cannot_promote_itself(live_server: Any, org: Org) -> None:
    hub = live_server
    me, tok = org.users["write"], org.tokens["write"]
    assert_hub_error(org_call(hub, "PUT", f"{org.name}/members/{me}", tok, {"role": "admin"}), 403)
    assert_hub_error(org_call(hub, "POST", f"{org.name}/members", tok, {"user": me, "role": "admin"}), 403)
    assert_hub_error(org_call(hub, "DELETE", f"{org.name}/members/{org.users['admin']}", tok), 403)
    roles = {m.username: m.role for m in api(hub, org, "write").list_organization_members(org.name)}  # type: ignore[attr-defined]
    assert roles[me] == "write" and roles[org.users["admin"]] == "admin"


def test_removed_member_token_loses_the_org_at_once(live_server: Any, org: Org, tmp_path: Any) -> None:
    hub = live_server
    leaver = f"leaver-{os.urandom(3).hex()}"
    hub.services.accounts.create(leaver)
    tok = hub.services.accounts.create_token(leaver, "t", "write")
    r = org_call(hub, "POST", f"{org.name}/members", org.tokens["admin"], {"user": leaver, "role": "write"})
    assert r.status_code == 200, r.text
    a = hub.api(tok)
    assert a.model_info(org.secret).private
    a.upload_file(path_or_fileobj=b"hello\n", path_in_repo="leaver.txt", repo_id=org.secret)

    assert org_call(hub, "DELETE", f"{org.name}/members/{leaver}", org.tokens["admin"]).status_code == 200
    with pytest.raises(RepositoryNotFoundError):
        a.model_info(org.secret)
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download(org.secret, "w.bin", token=tok, cache_dir=tmp_path)
    refused(lambda: a.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=org.secret), 404)
    refused(lambda: a.create_repo(f"{org.name}/leaver-made"))
    assert org.secret not in [m.id for m in a.list_models(author=org.name)]
    refused(lambda: list(a.list_user_repos(namespace=org.name)))


def test_last_admin_stays(live_server: Any, org: Org) -> None:
    hub = live_server
    me, tok = org.users["admin"], org.tokens["admin"]
    assert_hub_error(org_call(hub, "DELETE", f"{org.name}/members/{me}", tok), 409)
    assert_hub_error(org_call(hub, "PUT", f"{org.name}/members/{me}", tok, {"role": "write"}), 409)
    # with a second admin, the first may step down
    second = f"second-{os.urandom(3).hex()}"
    hub.services.accounts.create(second)
    assert (
        org_call(hub, "POST", f"{org.name}/members", tok, {"user": second, "role": "admin"}).status_code
        == 200
    )
    r = org_call(hub, "PUT", f"{org.name}/members/{me}", tok, {"role": "write"})
    assert r.status_code == 200, r.text
    assert_hub_error(org_call(hub, "POST", f"{org.name}/members", tok, {"user": me, "role": "admin"}), 403)
    hub.services.accounts.add_member(org.name, me, "admin")  # restore for the other tests
    hub.services.accounts.remove_member(org.name, second)


def test_non_members_see_nothing_private(live_server: Any, org: Org) -> None:
    hub = live_server
    for token in (org.tokens["outsider"], False):
        a = hub.api(token)
        with pytest.raises(RepositoryNotFoundError):
            a.model_info(org.secret)
        assert org.secret not in [m.id for m in a.list_models(author=org.name)]
        members = list(a.list_organization_members(org.name))
        assert {m.username for m in members} == set(org.users[r] for r in ROLES)
        assert all(not hasattr(m, "role") for m in members)
        assert a.get_organization_overview(org.name).num_models == 0  # the org's only model is private
        auth = {"authorization": f"Bearer {token}"} if token else {}
        r = httpx.get(f"{hub.url}/api/organizations/{org.name}/members", headers=auth)
        assert all("role" not in m for m in r.json())
    assert api(hub, org, "read").get_organization_overview(org.name).num_models == 1
    refused(lambda: list(hub.api(org.tokens["outsider"]).list_user_repos(namespace=org.name)))
    assert_hub_error(org_call(hub, "GET", f"{org.name}/settings", org.tokens["outsider"]), 403)
    assert_hub_error(org_call(hub, "GET", f"{org.name}/settings", None), 401)
    body = {"user": org.users["outsider"], "role": "admin"}
    assert_hub_error(org_call(hub, "POST", f"{org.name}/members", org.tokens["outsider"], body), 403)
    assert_hub_error(org_call(hub, "POST", f"{org.name}/members", None, body), 401)
    assert_hub_error(org_call(hub, "GET", "no-such-org/members", None), 404)
    assert_hub_error(org_call(hub, "GET", f"{org.users['read']}/overview", None), 404)  # a user, not an org


@pytest.mark.parametrize(
    "method,path,body",
    [
        ("POST", "members", {"user": "U", "role": "owner"}),
        ("POST", "members", {"user": "U", "role": 5}),
        ("POST", "members", {"user": "U"}),
        ("POST", "members", {"role": "read"}),
        ("POST", "members", ["U", "read"]),
        ("PUT", "members/U", {"role": "superadmin"}),
        ("PUT", "members/U", {"role": None}),
        ("PUT", "settings", {"defaultRepoVisibility": "secret"}),
        ("PUT", "settings", {"private": True}),
    ],
)
def test_bad_input_is_400(live_server: Any, org: Org, method: str, path: str, body: Any) -> None:
    if isinstance(body, dict) and body.get("user") == "U":
        body = {**body, "user": org.users["read"]}
    path = path.replace("U", org.users["read"])
    assert_hub_error(org_call(live_server, method, f"{org.name}/{path}", org.tokens["admin"], body), 400)


def test_org_private_by_default(live_server: Any, org: Org) -> None:
    hub = live_server
    put = org_call(
        hub, "PUT", f"{org.name}/settings", org.tokens["admin"], {"defaultRepoVisibility": "private"}
    )
    assert put.status_code == 200, put.text
    try:
        w = api(hub, org, "write")
        hidden = f"{org.name}/default-{os.urandom(2).hex()}"
        w.create_repo(hidden)
        assert w.model_info(hidden).private
        with pytest.raises(RepositoryNotFoundError):
            hub.api(org.tokens["outsider"]).model_info(hidden)
        c = api(hub, org, "contributor")
        by_contrib = f"{org.name}/default-c-{os.urandom(2).hex()}"
        c.create_repo(by_contrib, repo_type="dataset")
        assert c.dataset_info(by_contrib).private
        shown = f"{org.name}/explicit-{os.urandom(2).hex()}"
        w.create_repo(shown, private=False)
        assert not hub.api(org.tokens["outsider"]).model_info(shown).private
        bucket = w.create_bucket(f"{org.name}/default-b-{os.urandom(2).hex()}").bucket_id
        assert w.bucket_info(bucket).private
        open_bucket = w.create_bucket(f"{org.name}/open-b-{os.urandom(2).hex()}", private=False).bucket_id
        assert not hub.api(False).bucket_info(open_bucket).private
        mine = f"{org.users['write']}/mine-{os.urandom(2).hex()}"
        w.create_repo(mine)  # the user's own namespace keeps its (public) default
        assert not hub.api(False).model_info(mine).private
    finally:
        org_call(hub, "PUT", f"{org.name}/settings", org.tokens["admin"], {"defaultRepoVisibility": "public"})


# --- the CLI (server side: the same database) ----------------------------------------------------------------------
def cli(hub: Any, *args: str) -> Any:
    from click.testing import CliRunner

    from modelyard.cli import main

    env = {
        "MODELYARD_DATABASE_URL": hub.settings.resolved_database_url,
        "MODELYARD_DATA_DIR": hub.settings.data_dir,
    }
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_cli_manages_members_and_the_server_follows_at_once(live_server: Any, org: Org) -> None:
    hub = live_server
    tag = os.urandom(3).hex()
    team, ann, ben = f"team-{tag}", f"ann-{tag}", f"ben-{tag}"
    for u in (ann, ben):
        assert cli(hub, "users", "create", u).exit_code == 0
    r = cli(hub, "users", "create", team, "--org", "--member", ann, "--member-role", "admin")
    assert r.exit_code == 0, r.output
    assert cli(hub, "orgs", "add-member", team, ben, "--role", "read").exit_code == 0
    out = cli(hub, "orgs", "members", team, "--format", "json")
    assert {m["user"]: m["role"] for m in json.loads(out.output)} == {ann: "admin", ben: "read"}

    tok = hub.services.accounts.create_token(ben, "t", "write")
    b = hub.api(tok)
    hub.api(hub.services.accounts.create_token(ann, "t", "write")).create_repo(
        f"{team}/private", private=True
    )
    refused(lambda: b.create_repo(f"{team}/by-ben"))  # read
    assert cli(hub, "orgs", "set-role", team, ben, "contributor").exit_code == 0
    b.create_repo(f"{team}/by-ben")  # contributor now, without a new token
    assert cli(hub, "orgs", "remove-member", team, ben).exit_code == 0
    with pytest.raises(RepositoryNotFoundError):
        b.model_info(f"{team}/private")

    assert cli(hub, "orgs", "set-role", team, ann, "write").exit_code == 2  # the last admin
    assert cli(hub, "orgs", "remove-member", team, ann).exit_code == 2
    assert cli(hub, "orgs", "add-member", team, ann, "--role", "owner").exit_code == 2  # not a role
    assert "public" in cli(hub, "orgs", "settings", team).output
    assert "private" in cli(hub, "orgs", "settings", team, "--default-private").output
    hub.api(hub.services.accounts.create_token(ann, "t2", "write")).create_repo(f"{team}/quiet")
    with pytest.raises(RepositoryNotFoundError):
        hub.api(False).model_info(f"{team}/quiet")


def test_fine_grained_admin_token_needs_org_write_on_this_org(live_server: Any, org: Org) -> None:
    from modelyard.hub.access import Grants

    hub = live_server
    acc = hub.services.accounts

    def token(scoped: list[dict[str, Any]]) -> str:
        grants = Grants.parse({"global": [], "scoped": scoped})
        return str(acc.create_token(org.users["admin"], f"fg-{os.urandom(3).hex()}", "fineGrained", grants))

    elsewhere = token([{"entity": {"type": "org", "name": "acme"}, "permissions": ["org.write", "org.read"]}])
    repo_only = token([{"entity": {"type": "org", "name": org.name}, "permissions": ["repo.write"]}])
    here = token([{"entity": {"type": "org", "name": org.name}, "permissions": ["org.write"]}])
    body = {"defaultRepoVisibility": "public"}
    for t in (elsewhere, repo_only):
        r = org_call(hub, "PUT", f"{org.name}/settings", t, body)
        assert_hub_error(r, 403)
        assert r.headers["x-error-code"] == "TokenScope"
        # and no roles in the member list without org.read
        assert all("role" not in m for m in org_call(hub, "GET", f"{org.name}/members", t).json())
    assert org_call(hub, "PUT", f"{org.name}/settings", here, body).status_code == 200
