"""Issue 11, fine-grained and expiring tokens, attacker side: a token does what it lists and nothing more, on every
route (repos, buckets, collections, webhooks, discussions, likes, endpoints, token management), an expired or revoked
token is 401 everywhere at once, and no token can mint a broader one.

A real hub of this module (users alice, bob, org acme with alice), the official client `HfApi` / `hf_hub_download` in
its default (Xet) mode; httpx for ModelYard's own routes (token management, endpoints) and raw status codes.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from huggingface_hub import hf_hub_download
from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError

from conftest import Hub, start_server
from modelyard.cli import main as cli

READ = "repo.content.read"
WRITE = "repo.write"
TOKENS = "/api/settings/tokens"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    with start_server(tmp_path_factory.mktemp("token-scopes")) as h:
        yield h


@pytest.fixture(scope="module")
def repos(hub: Hub) -> dict[str, str]:
    """alice's private a and b, public c, gated public g, acme's private o: each with f.txt."""
    api = hub.api()
    sfx = uuid.uuid4().hex[:6]
    out = {
        "a": f"alice/a-{sfx}",
        "b": f"alice/b-{sfx}",
        "c": f"alice/c-{sfx}",
        "g": f"alice/g-{sfx}",
        "o": f"acme/o-{sfx}",
    }
    for key, rid in out.items():
        api.create_repo(rid, private=key in ("a", "b", "o"))
        api.upload_file(path_or_fileobj=f"secret {key}".encode(), path_in_repo="f.txt", repo_id=rid)
    api.update_repo_settings(out["g"], gated="auto")
    return out


def mint(hub: Hub, *, role: str = "fineGrained", token: str | None = None, **extra: Any) -> str:
    """A new token of alice through the tokens API (with alice's write token unless `token`)."""
    body: dict[str, Any] = {"name": f"t-{uuid.uuid4().hex[:8]}", "role": role, **extra}
    r = httpx.post(f"{hub.url}{TOKENS}", json=body, headers=hub.auth(token))
    assert r.status_code == 200, r.text
    return str(r.json()["token"])


def fine(
    hub: Hub, scoped: dict[str, list[str]] | None = None, glob: list[str] | None = None, **kw: Any
) -> str:
    """A fine-grained token; `scoped` maps "type:name" to permissions."""
    entries = [
        {"entity": {"type": k.split(":", 1)[0], "name": k.split(":", 1)[1]}, "permissions": v}
        for k, v in (scoped or {}).items()
    ]
    grants = {"canReadGatedRepos": kw.pop("gated", False), "global": glob or [], "scoped": entries}
    return mint(hub, fineGrained=grants, **kw)


def download(hub: Hub, repo: str, token: str, tmp: Path) -> str:
    path = hf_hub_download(repo, "f.txt", token=token, endpoint=hub.url, cache_dir=tmp / uuid.uuid4().hex)
    return Path(path).read_text()


def upload(hub: Hub, repo: str, token: str) -> None:
    hub.api(token).upload_file(path_or_fileobj=b"changed", path_in_repo="new.txt", repo_id=repo)


def status(err: pytest.ExceptionInfo[HfHubHTTPError]) -> int:
    assert err.value.response is not None
    return int(err.value.response.status_code)


# --- whoami and the management API ----------------------------------------------------------------------


def test_tokens_api_round_trip_never_lists_a_value(hub: Hub) -> None:
    grants = {
        "canReadGatedRepos": True,
        "global": ["discussion.write"],
        "scoped": [{"entity": {"type": "model", "name": "alice/x"}, "permissions": [READ, WRITE]}],
    }
    expires = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    body = {
        "name": "scoped-one",
        "role": "fineGrained",
        "fineGrained": grants,
        "expiresAt": expires.isoformat(),
    }
    r = httpx.post(f"{hub.url}{TOKENS}", json=body, headers=hub.auth())
    assert r.status_code == 200, r.text
    made = r.json()
    token = made["token"]
    assert token.startswith("hf_") and made["displayName"] == "scoped-one" and made["role"] == "fineGrained"
    assert made["fineGrained"]["scoped"][0]["entity"] == {"type": "model", "name": "alice/x"}
    # the same name twice: 409
    assert httpx.post(f"{hub.url}{TOKENS}", json=body, headers=hub.auth()).status_code == 409

    me = hub.api(token).whoami()
    assert me["name"] == "alice"
    auth = me["auth"]["accessToken"]
    assert auth["role"] == "fineGrained" and auth["displayName"] == "scoped-one"
    assert auth["fineGrained"]["canReadGatedRepos"] is True
    assert auth["fineGrained"]["global"] == ["discussion.write"]
    assert auth["fineGrained"]["scoped"] == [
        {"entity": {"type": "model", "name": "alice/x"}, "permissions": [READ, WRITE]}
    ]
    assert datetime.fromisoformat(me["auth"]["expiresAt"].replace("Z", "+00:00")) == expires

    listed = httpx.get(f"{hub.url}{TOKENS}", headers=hub.auth())
    assert listed.status_code == 200
    assert token not in listed.text and hub.alice not in listed.text and "hf_" not in listed.text
    names = {t["displayName"]: t for t in listed.json()}
    assert names["scoped-one"]["role"] == "fineGrained" and names["ci-write"]["role"] == "write"
    assert all("token" not in t for t in listed.json())

    gone = httpx.delete(f"{hub.url}{TOKENS}/scoped-one", headers=hub.auth())
    assert gone.status_code == 200
    assert httpx.get(f"{hub.url}/api/whoami-v2", headers=hub.auth(token)).status_code == 401
    assert httpx.delete(f"{hub.url}{TOKENS}/scoped-one", headers=hub.auth()).status_code == 404
    assert "scoped-one" not in {
        t["displayName"] for t in httpx.get(f"{hub.url}{TOKENS}", headers=hub.auth()).json()
    }


@pytest.mark.parametrize("kind", ["read", "fineGrained"])
def test_only_a_write_token_manages_tokens(hub: Hub, kind: str) -> None:
    everything = ["repo.write", "repo.content.read", "user.webhooks.write", "org.write", "org.read"]
    weak = hub.alice_read if kind == "read" else fine(hub, {"user:alice": everything}, everything)
    headers = hub.auth(weak)
    write_body = {"name": f"escalated-{kind}", "role": "write"}
    r = httpx.post(f"{hub.url}{TOKENS}", json=write_body, headers=headers)
    assert r.status_code == 403, r.text
    assert httpx.get(f"{hub.url}{TOKENS}", headers=headers).status_code == 403
    assert httpx.delete(f"{hub.url}{TOKENS}/ci-write", headers=headers).status_code == 403
    assert httpx.get(f"{hub.url}/api/whoami-v2", headers=hub.auth()).status_code == 200  # still there
    assert httpx.post(f"{hub.url}{TOKENS}", json=write_body).status_code == 401


@pytest.mark.parametrize(
    "entity",
    [{"type": "user", "name": "bob"}, {"type": "model", "name": "bob/x"}, {"type": "org", "name": "alice"}],
)
def test_scopes_only_on_own_namespaces(hub: Hub, entity: dict[str, str]) -> None:
    acc = hub.services.accounts
    if acc.find("evilcorp") is None:
        acc.create("evilcorp", kind="org")
    grants = {"global": [], "scoped": [{"entity": entity, "permissions": [READ]}]}
    r = httpx.post(
        f"{hub.url}{TOKENS}",
        json={"name": "x", "role": "fineGrained", "fineGrained": grants},
        headers=hub.auth(),
    )
    assert r.status_code == 403, r.text
    grants["scoped"] = [{"entity": {"type": "org", "name": "evilcorp"}, "permissions": [READ]}]
    r = httpx.post(
        f"{hub.url}{TOKENS}",
        json={"name": "y", "role": "fineGrained", "fineGrained": grants},
        headers=hub.auth(),
    )
    assert r.status_code == 403, r.text
    bad = {"global": ["root.everything"], "scoped": []}
    r = httpx.post(
        f"{hub.url}{TOKENS}",
        json={"name": "z", "role": "fineGrained", "fineGrained": bad},
        headers=hub.auth(),
    )
    assert r.status_code == 400 and "root.everything" in r.headers["x-error-message"]


# --- repos ------------------------------------------------------------------------------------------------


def test_content_read_on_one_repo(hub: Hub, repos: dict[str, str], tmp_path: Path) -> None:
    token = fine(hub, {f"model:{repos['a']}": [READ]})
    assert download(hub, repos["a"], token, tmp_path) == "secret a"
    with pytest.raises(RepositoryNotFoundError):
        download(hub, repos["b"], token, tmp_path)
    with pytest.raises(RepositoryNotFoundError):
        hub.api(token).model_info(repos["b"])
    with pytest.raises(HfHubHTTPError) as err:
        upload(hub, repos["a"], token)
    assert status(err) == 403
    # listings name only what the token may read
    names = {m.id for m in hub.api(token).list_models(author="alice")}
    assert repos["a"] in names and repos["c"] in names and repos["b"] not in names


def test_scope_names_the_repo_type(hub: Hub, repos: dict[str, str], tmp_path: Path) -> None:
    """A dataset (or bucket) scope of the same name grants nothing on the model."""
    token = fine(hub, {f"dataset:{repos['a']}": [READ, WRITE], f"bucket:{repos['a']}": [READ, WRITE]})
    with pytest.raises(RepositoryNotFoundError):
        download(hub, repos["a"], token, tmp_path)
    with pytest.raises(HfHubHTTPError) as err:
        hub.api(token).create_branch(repos["c"], branch="sneaky")
    assert status(err) == 403


def test_repo_write_on_one_repo(hub: Hub, repos: dict[str, str]) -> None:
    token = fine(hub, {f"model:{repos['a']}": [WRITE]})  # repo.write implies repo.content.read
    upload(hub, repos["a"], token)
    assert "new.txt" in hub.api().list_repo_files(repos["a"])
    with pytest.raises(RepositoryNotFoundError):
        upload(hub, repos["b"], token)
    with pytest.raises(HfHubHTTPError) as err:  # public repo of the same user, not granted
        upload(hub, repos["c"], token)
    assert status(err) == 403


def test_namespace_scope(hub: Hub, repos: dict[str, str], tmp_path: Path) -> None:
    token = fine(hub, {"org:acme": [READ, WRITE]})
    assert download(hub, repos["o"], token, tmp_path) == "secret o"
    upload(hub, repos["o"], token)
    api = hub.api(token)
    made = api.create_repo(f"acme/made-{uuid.uuid4().hex[:6]}", private=True)
    assert made.repo_id.startswith("acme/")
    with pytest.raises(RepositoryNotFoundError):
        download(hub, repos["a"], token, tmp_path)
    with pytest.raises(HfHubHTTPError) as err:  # not granted in alice's own namespace
        api.create_repo(f"alice/not-granted-{uuid.uuid4().hex[:6]}")
    assert status(err) == 403
    user_token = fine(hub, {"user:alice": [READ]})
    assert download(hub, repos["a"], user_token, tmp_path) == "secret a"
    with pytest.raises(RepositoryNotFoundError):
        download(hub, repos["o"], user_token, tmp_path)


def test_duplicate_needs_repo_write_on_the_destination(hub: Hub, repos: dict[str, str]) -> None:
    api = hub.api(fine(hub, {f"model:{repos['a']}": [READ], "user:alice": [WRITE]}))
    with pytest.raises(HfHubHTTPError) as err:  # acme is alice's org, but not in this token
        api.duplicate_repo(repos["a"], f"acme/copy-{uuid.uuid4().hex[:6]}")
    assert status(err) == 403
    copy = f"alice/copy-{uuid.uuid4().hex[:6]}"
    api.duplicate_repo(repos["a"], copy)
    to_acme = hub.api(fine(hub, {f"model:{repos['a']}": [READ], "org:acme": [WRITE]}))
    with pytest.raises(RepositoryNotFoundError):  # a source it may not read
        to_acme.duplicate_repo(repos["b"], f"acme/copy-{uuid.uuid4().hex[:6]}")
    to_acme.duplicate_repo(repos["a"], f"acme/copy-{uuid.uuid4().hex[:6]}")


def test_global_perms(hub: Hub, repos: dict[str, str], tmp_path: Path) -> None:
    token = fine(hub, glob=[READ])
    assert download(hub, repos["a"], token, tmp_path) == "secret a"
    assert download(hub, repos["o"], token, tmp_path) == "secret o"
    with pytest.raises(HfHubHTTPError) as err:
        upload(hub, repos["c"], token)
    assert status(err) == 403
    # global permissions are still only the account's: bob's private repo stays 404
    bob_repo = f"bob/p-{uuid.uuid4().hex[:6]}"
    hub.api(hub.bob).create_repo(bob_repo, private=True)
    with pytest.raises(RepositoryNotFoundError):
        hub.api(token).model_info(bob_repo)


def test_gated_repos_need_can_read_gated(hub: Hub, repos: dict[str, str], tmp_path: Path) -> None:
    no_gated = fine(hub, glob=["discussion.write"], gated=False)
    with pytest.raises(GatedRepoError):
        download(hub, repos["g"], no_gated, tmp_path)
    hub.api(no_gated).model_info(repos["g"])  # metadata stays visible
    assert download(hub, repos["g"], fine(hub, glob=[], gated=True), tmp_path) == "secret g"
    assert download(hub, repos["g"], fine(hub, {f"model:{repos['g']}": [READ]}), tmp_path) == "secret g"


def test_repo_settings_and_delete_need_repo_write(hub: Hub, repos: dict[str, str]) -> None:
    api = hub.api(fine(hub, {f"model:{repos['a']}": [READ, "discussion.write"]}))
    calls: list[Callable[[], object]] = [
        lambda: api.update_repo_settings(repos["a"], private=False),
        lambda: api.update_repo_settings(repos["a"], gated="manual"),
        lambda: api.delete_repo(repos["a"]),
        lambda: api.move_repo(repos["a"], f"alice/moved-{uuid.uuid4().hex[:6]}"),
    ]
    for call in calls:
        with pytest.raises(HfHubHTTPError) as err:
            call()
        assert status(err) == 403
    info = hub.api().model_info(repos["a"])
    assert info.private and not info.gated


def test_discussions_and_likes(hub: Hub, repos: dict[str, str]) -> None:
    reader = hub.api(fine(hub, {f"model:{repos['c']}": [READ]}))
    with pytest.raises(HfHubHTTPError) as err:
        reader.create_discussion(repos["c"], title="hi")
    assert status(err) == 403
    like = f"{hub.url}/api/models/{repos['c']}/like"
    assert httpx.post(like, headers=hub.auth(reader.token)).status_code == 403
    talker = hub.api(fine(hub, {f"model:{repos['c']}": ["discussion.write"]}))
    d = talker.create_discussion(repos["c"], title="hello")
    talker.comment_discussion(repos["c"], d.num, "more")
    assert httpx.post(like, headers=hub.auth(talker.token)).status_code == 200
    with pytest.raises(HfHubHTTPError) as err:
        reader.comment_discussion(repos["c"], d.num, "sneaky")
    assert status(err) == 403
    with pytest.raises(HfHubHTTPError) as err:  # the author's own discussion, but this token cannot discuss
        reader.change_discussion_status(repos["c"], d.num, "closed")
    assert status(err) == 403
    with pytest.raises(HfHubHTTPError) as err:  # a PR push or merge needs repo.write
        talker.merge_pull_request(repos["c"], d.num)
    assert status(err) == 403


# --- other resources ------------------------------------------------------------------------------------


def test_buckets(hub: Hub) -> None:
    bid = f"alice/bk-{uuid.uuid4().hex[:6]}"
    hub.api().create_bucket(bid, private=True)
    reader = hub.api(fine(hub, {f"bucket:{bid}": [READ]}))
    assert reader.bucket_info(bid).id == bid
    assert httpx.get(f"{hub.url}/api/buckets/{bid}/xet-read-token").status_code in (401, 404)
    other = hub.api(fine(hub, {"model:alice/x": [READ]}))
    with pytest.raises(HfHubHTTPError) as err:
        other.bucket_info(bid)
    assert status(err) == 404
    assert (
        httpx.get(f"{hub.url}/api/buckets/{bid}/xet-read-token", headers=hub.auth(other.token)).status_code
        == 404
    )
    w = httpx.get(f"{hub.url}/api/buckets/{bid}/xet-write-token", headers=hub.auth(reader.token))
    assert w.status_code == 403, w.text
    with pytest.raises((HfHubHTTPError, ConnectionError)) as failed:  # hf_xet: the write token is refused
        reader.batch_bucket_files(bid, add=[(b"x", "x.bin")])
    assert "403" in str(failed.value)
    with pytest.raises(HfHubHTTPError) as err:
        reader.create_bucket(f"alice/bk2-{uuid.uuid4().hex[:6]}")
    assert status(err) == 403
    with pytest.raises(HfHubHTTPError) as err:
        reader.delete_bucket(bid)
    assert status(err) == 403
    writer = hub.api(fine(hub, {f"bucket:{bid}": [READ, WRITE]}))
    assert (
        httpx.get(f"{hub.url}/api/buckets/{bid}/xet-write-token", headers=hub.auth(writer.token)).status_code
        == 200
    )


def test_collections(hub: Hub) -> None:
    mine = hub.api().create_collection("Private picks " + uuid.uuid4().hex[:6], private=True)
    no_perm = hub.api(fine(hub, {"user:alice": [READ]}))
    with pytest.raises(HfHubHTTPError) as err:
        no_perm.create_collection("Not allowed " + uuid.uuid4().hex[:6])
    assert status(err) == 403
    with pytest.raises(HfHubHTTPError) as err:
        no_perm.get_collection(mine.slug)
    assert status(err) == 404
    reader = hub.api(fine(hub, {f"collection:{mine.slug}": ["collection.read"]}))
    assert reader.get_collection(mine.slug).slug == mine.slug
    with pytest.raises(HfHubHTTPError) as err:
        reader.update_collection_metadata(mine.slug, title="Renamed")
    assert status(err) == 403
    with pytest.raises(HfHubHTTPError) as err:
        reader.delete_collection(mine.slug)
    assert status(err) == 403
    writer = hub.api(fine(hub, {"user:alice": ["collection.write", "collection.read"]}))
    writer.update_collection_metadata(mine.slug, description="ok")


def test_webhooks(hub: Hub, repos: dict[str, str]) -> None:
    watched = [{"type": "model", "name": repos["c"]}]
    no_perm = hub.api(fine(hub, {"user:alice": [READ, WRITE]}))
    with pytest.raises(HfHubHTTPError) as err:
        no_perm.create_webhook(url="https://example.com/hook", watched=watched)
    assert status(err) == 403
    with pytest.raises(HfHubHTTPError) as err:
        no_perm.list_webhooks()
    assert status(err) == 403
    reader = hub.api(fine(hub, glob=["user.webhooks.read"]))
    assert isinstance(reader.list_webhooks(), list)
    with pytest.raises(HfHubHTTPError) as err:
        reader.create_webhook(url="https://example.com/hook", watched=watched)
    assert status(err) == 403
    writer = hub.api(fine(hub, {"user:alice": ["user.webhooks.write", "user.webhooks.read"]}))
    w = writer.create_webhook(url="https://example.com/hook", watched=watched)
    writer.delete_webhook(w.id)


def test_endpoints(hub: Hub, repos: dict[str, str]) -> None:
    base = f"{hub.url}/endpoints/-/api/endpoints"
    name = f"ep-{uuid.uuid4().hex[:6]}"
    body = {"repo_id": repos["a"], "name": name, "task": "text-classification", "load": False}
    caller = fine(hub, {"user:alice": ["inference.endpoints.infer.write"]})
    content_only = fine(hub, {f"model:{repos['a']}": [READ, WRITE]})
    for token in (caller, content_only):
        r = httpx.post(base, json=body, headers=hub.auth(token))
        assert r.status_code == 403, r.text
    deployer = fine(hub, {"user:alice": ["inference.endpoints.write"]})
    r = httpx.post(base, json=body, headers=hub.auth(deployer))
    assert r.status_code == 201, r.text
    try:
        time.sleep(2.1)  # past the endpoint front's 2 s cache of positive checks
        info = httpx.get(f"{hub.url}/endpoints/{name}/info", headers=hub.auth(caller))
        assert info.status_code == 200, info.text
        for token in (content_only, deployer):  # managing is not calling
            call = httpx.post(f"{hub.url}/endpoints/{name}", json={"inputs": "hi"}, headers=hub.auth(token))
            assert call.status_code == 403, call.text
            chat = httpx.post(
                f"{hub.url}/endpoints/{name}/v1/chat/completions",
                json={"messages": [{"role": "user", "content": "hi"}]},
                headers=hub.auth(token),
            )
            assert chat.status_code == 403, chat.text
        assert httpx.get(f"{hub.url}/endpoints/{name}/info", headers=hub.auth(deployer)).status_code == 200
        for action in ("pause", "unload"):
            r = httpx.post(f"{base}/{name}/{action}", headers=hub.auth(caller))
            assert r.status_code == 403, r.text
        assert httpx.delete(f"{base}/{name}", headers=hub.auth(caller)).status_code == 403
        bob = httpx.get(f"{hub.url}/endpoints/{name}/info", headers=hub.auth(hub.bob))
        assert bob.status_code == 404
    finally:
        assert httpx.delete(f"{base}/{name}", headers=hub.auth(deployer)).status_code == 200


# --- expiry and revocation ------------------------------------------------------------------------------


def _routes(hub: Hub, repos: dict[str, str]) -> list[tuple[str, str]]:
    return [
        ("GET", "/api/whoami-v2"),
        ("GET", f"/api/models/{repos['c']}"),
        ("GET", f"/{repos['c']}/resolve/main/f.txt"),
        ("GET", f"/api/models/{repos['c']}/xet-read-token/main"),
        ("GET", "/api/settings/webhooks"),
        ("GET", TOKENS),
        ("GET", "/api/collections?owner=alice"),
        ("GET", "/api/buckets/alice"),
        ("GET", "/endpoints/-/api/endpoints"),
        ("POST", "/api/repos/create"),
    ]


def test_expired_token_is_401_everywhere(hub: Hub, repos: dict[str, str]) -> None:
    expires = datetime.now(UTC) + timedelta(seconds=2)
    token = mint(hub, role="write", expiresAt=expires.isoformat())
    assert httpx.get(f"{hub.url}/api/whoami-v2", headers=hub.auth(token)).status_code == 200
    time.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 2.2)  # and past the endpoint cache
    for method, path in _routes(hub, repos):
        r = httpx.request(method, f"{hub.url}{path}", headers=hub.auth(token), json={"name": "x"})
        assert r.status_code == 401, (path, r.status_code, r.text)
    with pytest.raises(HfHubHTTPError):
        hub.api(token).whoami()


def test_expiry_in_the_past_is_refused(hub: Hub) -> None:
    body = {"name": "old", "role": "read", "expiresAt": "2020-01-01T00:00:00Z"}
    assert httpx.post(f"{hub.url}{TOKENS}", json=body, headers=hub.auth()).status_code == 400
    body["expiresAt"] = "next tuesday"
    assert httpx.post(f"{hub.url}{TOKENS}", json=body, headers=hub.auth()).status_code == 400


def test_revoked_token_is_401_at_once(hub: Hub, repos: dict[str, str], tmp_path: Path) -> None:
    r = httpx.post(f"{hub.url}{TOKENS}", json={"name": "short-lived", "role": "write"}, headers=hub.auth())
    token = r.json()["token"]
    assert download(hub, repos["a"], token, tmp_path) == "secret a"
    assert httpx.delete(f"{hub.url}{TOKENS}/short-lived", headers=hub.auth()).status_code == 200
    for method, path in _routes(hub, repos)[:-2]:  # (the endpoint front caches a positive check for 2 s)
        r = httpx.request(method, f"{hub.url}{path}", headers=hub.auth(token))
        assert r.status_code == 401, (path, r.status_code)


# --- web sessions -----------------------------------------------------------------------------------------


def _web_login(c: httpx.Client, token: str) -> None:
    form = c.get("/login")
    m = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert m, "no CSRF token in the login form"
    r = c.post("/login", data={"token": token, "next": "/", "csrf_token": m.group(1)})
    assert r.status_code == 303, r.text


def test_web_session_has_its_tokens_scopes_and_expiry(hub: Hub, repos: dict[str, str]) -> None:
    expires = datetime.now(UTC) + timedelta(seconds=3)
    token = fine(hub, {f"model:{repos['a']}": [READ]}, expiresAt=expires.isoformat())
    with httpx.Client(base_url=hub.url) as c:
        _web_login(c, token)
        assert c.get(f"/{repos['a']}").status_code == 200
        assert c.get(f"/{repos['a']}/resolve/main/f.txt").text == "secret a"
        assert c.get(f"/{repos['b']}").status_code == 404  # alice's, but not in this token's scope
        assert c.get(f"/{repos['b']}/resolve/main/f.txt").status_code == 404
        time.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 0.3)
        assert c.get(f"/{repos['a']}").status_code == 404  # the session died with its token
        assert c.get(f"/{repos['a']}/resolve/main/f.txt").status_code in (401, 404)


# --- the CLI ----------------------------------------------------------------------------------------------


def _cli(hub: Hub, *args: str) -> Any:
    env = {
        "MODELYARD_DATABASE_URL": hub.settings.resolved_database_url,
        "MODELYARD_DATA_DIR": hub.settings.data_dir,
    }
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_cli_creates_and_lists_fine_grained_tokens(hub: Hub, repos: dict[str, str], tmp_path: Path) -> None:
    name = f"cli-{uuid.uuid4().hex[:6]}"
    made = _cli(
        hub,
        *("tokens", "create", "alice", "--name", name, "--role", "fineGrained"),
        *("--scope", f"model:{repos['a']}=repo.content.read", "--global", "discussion.write"),
        *("--expires-in", "1d", "--format", "json"),
    )
    assert made.exit_code == 0, made.output
    token = json.loads(made.output)["token"]
    assert download(hub, repos["a"], token, tmp_path) == "secret a"
    with pytest.raises(RepositoryNotFoundError):
        download(hub, repos["b"], token, tmp_path)
    me = hub.api(token).whoami()
    assert me["auth"]["accessToken"]["fineGrained"]["global"] == ["discussion.write"]
    assert me["auth"]["expiresAt"]
    listed = _cli(hub, "tokens", "list", "alice", "--format", "json")
    assert listed.exit_code == 0 and token not in listed.output
    info = {t["displayName"]: t for t in json.loads(listed.output)}[name]
    assert info["role"] == "fineGrained" and info["expiresAt"]
    bad = _cli(hub, "tokens", "create", "alice", "--role", "fineGrained", "--scope", "model:alice=repo.write")
    assert bad.exit_code != 0 and "Invalid entity name" in bad.output
    assert (
        _cli(hub, "tokens", "create", "alice", "--global", "repo.write").exit_code != 0
    )  # needs fineGrained
    assert _cli(hub, "tokens", "revoke", "alice", name).exit_code == 0
    assert httpx.get(f"{hub.url}/api/whoami-v2", headers=hub.auth(token)).status_code == 401
