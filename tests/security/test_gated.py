"""Issue 11: gated repos and access requests, through the official client and, where no client call exists, httpx.

The flow (`hf_hub_download` refused with `GatedRepoError` before access, the whole `HfApi` access-request API, auto
gating, org members) runs once per transfer mode (Xet, the default client; LFS). The attacker side tries every path
that returns file bytes of a gated repo without access: resolve (GET, HEAD), raw, /lfs-objects, the Xet read token
and reconstructions (with a token issued before the gate, and after a revocation), the LFS batch, snapshots,
endpoints, the web previews and diffs, duplicate_repo, the server-side copies to a repo and to a bucket; and the
maintainers' routes with foreign, read-only and fine-grained tokens, hostile form answers and foreign request ids.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from huggingface_hub import HfApi, hf_hub_download, snapshot_download
from huggingface_hub.errors import GatedRepoError, HfHubHTTPError

from _transfer import assert_arrived, transfer_mode
from conftest import Hub
from modelyard.hub.access import Grants
from modelyard.hub.audit import Audit

CARD = """---
license: other
extra_gated_heading: Acknowledge the licence to access this model
extra_gated_prompt: You agree to **not** use the model to do harm.
extra_gated_description: Our team reviews requests within a day.
extra_gated_button_content: Ask for access
extra_gated_fields:
  Company: text
  Country: country
  Birth date: date_picker
  Purpose:
    type: select
    options:
      - Research
      - Education
      - label: Something else
        value: other
  Where: ip_location
  I agree to the licence: checkbox
---
# A gated model

The card itself is public.
"""
ANSWERS = {
    "Company": "Bob Corp",
    "Country": "France",
    "Birth date": "1990-01-02",
    "Purpose": "other",
    "I agree to the licence": True,
}
SECRET = "TOP-SECRET-GATED-CONTENT"


# --- helpers ----------------------------------------------------------------------------------------
def new_user(hub: Hub, prefix: str = "u") -> tuple[str, str]:
    name = f"{prefix}{uuid.uuid4().hex[:8]}"
    hub.services.accounts.create(name)
    return name, hub.services.accounts.create_token(name, "t", "write")


def fine_grained(hub: Hub, user: str, spec: dict[str, Any]) -> str:
    return hub.services.accounts.create_token(
        user, f"fg-{uuid.uuid4().hex[:6]}", "fineGrained", Grants.parse(spec)
    )


def make_gated(hub: Hub, repo: str, mode: str = "manual", repo_type: str = "model") -> dict[str, Any]:
    """alice's repo with the card, a binary file (through the current transfer mode) and a text file, then gated."""
    api = hub.api()
    api.create_repo(repo, repo_type=repo_type)
    api.upload_file(
        path_or_fileobj=CARD.encode(), path_in_repo="README.md", repo_id=repo, repo_type=repo_type
    )
    data = os.urandom(300_000) + b"\0"
    api.upload_file(path_or_fileobj=data, path_in_repo="w.bin", repo_id=repo, repo_type=repo_type)
    info = api.upload_file(
        path_or_fileobj=f"a,b\n{SECRET},1\n".encode(),
        path_in_repo="notes.csv",
        repo_id=repo,
        repo_type=repo_type,
    )
    api.update_repo_settings(repo, gated=mode, repo_type=repo_type)
    return {"repo": repo, "data": data, "sha256": hashlib.sha256(data).hexdigest(), "commit": info.oid}


def ask(
    hub: Hub, repo: str, token: str | None, fields: Any = None, body: Any = None, plural: str = "models"
) -> httpx.Response:
    payload = body if body is not None else {"fields": ANSWERS if fields is None else fields}
    headers = hub.auth(token) if token else {}
    return httpx.post(
        f"{hub.url}/api/{plural}/{repo}/user-access-request/request", json=payload, headers=headers
    )


def handle(hub: Hub, repo: str, token: str, **body: Any) -> httpx.Response:
    return httpx.post(
        f"{hub.url}/api/models/{repo}/user-access-request/handle", json=body, headers=hub.auth(token)
    )


def download(hub: Hub, repo: str, token: str | None, tmp: Path, filename: str = "w.bin") -> bytes:
    path = hf_hub_download(
        repo, filename, token=token if token else False, cache_dir=tmp / uuid.uuid4().hex, endpoint=hub.url
    )
    return Path(path).read_bytes()


def refused(hub: Hub, repo: str, token: str | None, tmp: Path, filename: str = "w.bin") -> int:
    with pytest.raises(GatedRepoError) as e:
        download(hub, repo, token, tmp, filename)
    assert e.value.response is not None
    return int(e.value.response.status_code)


def gated_error(r: httpx.Response, status: int = 403) -> None:
    assert r.status_code == status, (r.status_code, r.text[:300])
    assert r.headers.get("x-error-code") == "GatedRepo", r.headers
    assert SECRET.encode() not in r.content


def audit_actions(hub: Hub, repo: str) -> list[str]:
    entries, _ = Audit(hub.services.db).list(namespace=repo.split("/")[0], action="access.", limit=1000)
    return [e.action for e in entries if e.target == f"model/{repo}".lower()]


# --- the flow, per transfer mode ----------------------------------------------------------------------
def test_manual_gate_flow_through_hfapi(
    live_server: Hub, transfer: str, repo_name: str, tmp_path: Path
) -> None:
    hub = live_server
    repo = f"alice/{repo_name}"
    g = make_gated(hub, repo)
    assert_arrived(hub, g["sha256"], transfer)
    bob_name, bob = new_user(hub, "bob")
    owner = hub.api()

    # metadata stays open; files are refused before access (anonymous 401, a user 403)
    assert HfApi(endpoint=hub.url, token=bob).model_info(repo).gated == "manual"
    assert HfApi(endpoint=hub.url, token=False).model_info(repo).gated == "manual"
    assert refused(hub, repo, None, tmp_path) == 401
    assert refused(hub, repo, bob, tmp_path) == 403
    with pytest.raises(GatedRepoError):
        snapshot_download(repo, token=bob, cache_dir=tmp_path / "snap0", endpoint=hub.url)
    with pytest.raises(GatedRepoError):
        HfApi(endpoint=hub.url, token=bob).auth_check(repo)
    # the card is open, to everyone
    assert download(hub, repo, None, tmp_path, "README.md") == CARD.encode()
    assert download(hub, repo, bob, tmp_path, "README.md") == CARD.encode()

    # bob asks: pending, still refused
    r = ask(hub, repo, bob)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "pending" and re.fullmatch(r"[0-9a-f]{24}", r.json()["requestId"])
    assert refused(hub, repo, bob, tmp_path) == 403
    pending = list(owner.list_pending_access_requests(repo))
    assert [p.username for p in pending] == [bob_name]
    assert pending[0].fields is not None and pending[0].fields["Purpose"] == "other"
    assert pending[0].fields["I agree to the licence"] is True
    assert pending[0].fields["Where"] == "127.0.0.1"  # ip_location: filled from the client address
    assert pending[0].status == "pending" and pending[0].request_id == r.json()["requestId"]
    assert list(owner.list_accepted_access_requests(repo)) == []

    # accepted: bob downloads (file and snapshot), auth_check passes
    owner.accept_access_request(repo, bob_name)
    assert download(hub, repo, bob, tmp_path) == g["data"]
    snap = snapshot_download(repo, token=bob, cache_dir=tmp_path / "snap1", endpoint=hub.url)
    assert (Path(snap) / "w.bin").read_bytes() == g["data"]
    HfApi(endpoint=hub.url, token=bob).auth_check(repo)
    assert [a.username for a in owner.list_accepted_access_requests(repo)] == [bob_name]

    # rejected with a reason: refused again at once; asking again does not flip it
    owner.reject_access_request(repo, bob_name, rejection_reason="Not for commercial use")
    assert refused(hub, repo, bob, tmp_path) == 403
    rejected = list(owner.list_rejected_access_requests(repo))
    assert [x.username for x in rejected] == [bob_name]
    again = ask(hub, repo, bob)
    assert again.status_code == 200 and again.json()["status"] == "rejected"
    assert again.json()["rejectionReason"] == "Not for commercial use"
    assert refused(hub, repo, bob, tmp_path) == 403

    # cancel: back to pending (by request id this time)
    owner.cancel_access_request(repo, request_id=pending[0].request_id)
    assert [p.username for p in owner.list_pending_access_requests(repo)] == [bob_name]
    assert refused(hub, repo, bob, tmp_path) == 403

    # grant: accepted; granting again is a 400
    owner.grant_access(repo, bob_name)
    assert download(hub, repo, bob, tmp_path) == g["data"]
    with pytest.raises(HfHubHTTPError) as e:
        owner.grant_access(repo, bob_name)
    assert e.value.response.status_code == 400

    assert audit_actions(hub, repo) == [
        "access.grant",
        "access.cancel",
        "access.reject",
        "access.accept",
        "access.request",
    ]


def test_auto_gate_accepts_at_once(live_server: Hub, transfer: str, repo_name: str, tmp_path: Path) -> None:
    hub = live_server
    repo = f"alice/{repo_name}"
    g = make_gated(hub, repo, mode="auto")
    carol_name, carol = new_user(hub, "carol")
    assert HfApi(endpoint=hub.url, token=carol).model_info(repo).gated == "auto"
    assert refused(hub, repo, carol, tmp_path) == 403
    r = ask(hub, repo, carol)
    assert r.status_code == 200 and r.json()["status"] == "accepted", r.text
    assert download(hub, repo, carol, tmp_path) == g["data"]
    assert [a.username for a in hub.api().list_accepted_access_requests(repo)] == [carol_name]
    # asking twice is idempotent
    assert ask(hub, repo, carol).json()["requestId"] == r.json()["requestId"]


def test_org_members_download_without_a_request(live_server: Hub, repo_name: str, tmp_path: Path) -> None:
    hub = live_server
    repo = f"{hub.org}/{repo_name}"
    g = make_gated(hub, repo)
    assert download(hub, repo, hub.alice, tmp_path) == g["data"]  # alice is a member of acme
    assert download(hub, repo, hub.alice_read, tmp_path) == g["data"]  # with a read token too
    assert refused(hub, repo, hub.bob, tmp_path) == 403  # bob is not


# --- attacker side: every path of file bytes ----------------------------------------------------------
@pytest.fixture(scope="module")
def gated(live_server: Hub) -> dict[str, Any]:
    """alice's manual-gated model, its binary file in Xet (default client) and one in LFS; tokens issued before
    the gate was set; and bob's own repo and bucket to copy into."""
    hub = live_server
    repo = f"alice/gated-att-{uuid.uuid4().hex[:6]}"
    api = hub.api()
    api.create_repo(repo)
    api.upload_file(path_or_fileobj=CARD.encode(), path_in_repo="README.md", repo_id=repo)
    xet_data = os.urandom(400_000) + b"\0"
    api.upload_file(path_or_fileobj=xet_data, path_in_repo="x.bin", repo_id=repo)
    with transfer_mode("lfs"):
        lfs_data = os.urandom(300_000) + b"\0"
        api.upload_file(path_or_fileobj=lfs_data, path_in_repo="l.bin", repo_id=repo)
    info = api.upload_file(
        path_or_fileobj=f"a,b\n{SECRET},1\n".encode(), path_in_repo="notes.csv", repo_id=repo
    )
    entries = {e.path: e for e in api.list_repo_tree(repo, expand=True) if hasattr(e, "size")}
    xet_hash = entries["x.bin"].xet_hash
    assert xet_hash, "x.bin did not go through Xet"
    # Xet read tokens issued before the gate: bob's and an anonymous one
    early = {
        who: httpx.get(
            f"{hub.url}/api/models/{repo}/xet-read-token/main", headers=hub.auth(t) if t else {}
        ).json()
        for who, t in (("bob", hub.bob), ("anon", None))
    }
    api.update_repo_settings(repo, gated="manual")
    mine = f"bob/copy-target-{uuid.uuid4().hex[:6]}"
    hub.api(hub.bob).create_repo(mine)
    bucket = hub.api(hub.bob).create_bucket(f"bob/gated-copy-{uuid.uuid4().hex[:6]}").bucket_id
    return {
        "repo": repo,
        "xet": (xet_data, hashlib.sha256(xet_data).hexdigest(), xet_hash),
        "lfs": (lfs_data, hashlib.sha256(lfs_data).hexdigest()),
        "commit": info.oid,
        "early": early,
        "mine": mine,
        "bucket": bucket,
    }


def reconstruct(cas: str, token: str, xet_hash: str) -> int:
    return httpx.get(
        f"{cas}/v1/reconstructions/{xet_hash}", headers={"authorization": f"Bearer {token}"}
    ).status_code


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("kind", ["resolve", "raw"])
@pytest.mark.parametrize("path", ["x.bin", "l.bin", "notes.csv"])
def test_resolve_and_raw_are_gated(live_server: Hub, gated: Any, method: str, kind: str, path: str) -> None:
    hub = live_server
    url = f"{hub.url}/{gated['repo']}/{kind}/main/{path}"
    gated_error(httpx.request(method, url, headers=hub.auth(hub.bob)))
    gated_error(httpx.request(method, url), 401)
    if method == "HEAD":  # no body: the message travels in the headers too
        assert "restricted" in httpx.head(url, headers=hub.auth(hub.bob)).headers["x-error-message"]
    assert httpx.request(method, url, headers=hub.auth()).status_code == 200  # the owner
    open_card = httpx.request(
        method, f"{hub.url}/{gated['repo']}/{kind}/main/README.md", headers=hub.auth(hub.bob)
    )
    assert open_card.status_code == 200


def test_lfs_objects_and_batch_download_are_gated(live_server: Hub, gated: Any) -> None:
    hub = live_server
    repo = gated["repo"]
    data, sha = gated["lfs"]
    gated_error(httpx.get(f"{hub.url}/lfs-objects/model/{repo}/{sha}", headers=hub.auth(hub.bob)))
    body = {"operation": "download", "transfers": ["basic"], "objects": [{"oid": sha, "size": len(data)}]}
    headers = {"accept": "application/vnd.git-lfs+json", "content-type": "application/vnd.git-lfs+json"}
    url = f"{hub.url}/{repo}.git/info/lfs/objects/batch"
    gated_error(httpx.post(url, json=body, headers={**headers, **hub.auth(hub.bob)}))
    gated_error(httpx.post(url, json=body, headers=headers), 401)
    ok = httpx.post(url, json=body, headers={**headers, **hub.auth()})
    href = ok.json()["objects"][0]["actions"]["download"]["href"]
    assert httpx.get(href, headers=hub.auth()).content == data
    assert httpx.get(href, headers=hub.auth(hub.bob)).status_code == 403


def test_xet_read_tokens_and_reconstructions_are_gated(live_server: Hub, gated: Any) -> None:
    hub = live_server
    repo = gated["repo"]
    _, _, xet_hash = gated["xet"]
    gated_error(httpx.get(f"{hub.url}/api/models/{repo}/xet-read-token/main", headers=hub.auth(hub.bob)))
    gated_error(httpx.get(f"{hub.url}/api/models/{repo}/xet-read-token/main"), 401)
    # tokens issued before the gate was set no longer open the files
    for early in gated["early"].values():
        assert reconstruct(early["casUrl"], early["accessToken"], xet_hash) == 404
    # a write token (bob may open a pull request) does not read them either
    w = httpx.get(f"{hub.url}/api/models/{repo}/xet-write-token/main?create_pr=1", headers=hub.auth(hub.bob))
    assert w.status_code == 200, w.text
    assert reconstruct(w.json()["casUrl"], w.json()["accessToken"], xet_hash) == 404
    # the owner's token does
    own = httpx.get(f"{hub.url}/api/models/{repo}/xet-read-token/main", headers=hub.auth()).json()
    assert reconstruct(own["casUrl"], own["accessToken"], xet_hash) == 200


def test_xet_token_stops_working_when_access_is_revoked(live_server: Hub, repo_name: str) -> None:
    hub = live_server
    repo = f"alice/{repo_name}"
    make_gated(hub, repo)
    name, token = new_user(hub, "dan")
    hub.api().grant_access(repo, name)
    xet_hash = next(e.xet_hash for e in hub.api().list_repo_tree(repo, expand=True) if e.path == "w.bin")
    tok = httpx.get(f"{hub.url}/api/models/{repo}/xet-read-token/main", headers=hub.auth(token)).json()
    assert reconstruct(tok["casUrl"], tok["accessToken"], xet_hash) == 200
    hub.api().reject_access_request(repo, name, rejection_reason=None)
    assert reconstruct(tok["casUrl"], tok["accessToken"], xet_hash) == 404
    hub.api().cancel_access_request(repo, name)
    assert reconstruct(tok["casUrl"], tok["accessToken"], xet_hash) == 404


def test_copies_out_of_a_gated_repo_are_refused(live_server: Hub, gated: Any) -> None:
    hub = live_server
    repo = gated["repo"]
    bob_api = hub.api(hub.bob)
    with pytest.raises(GatedRepoError):
        bob_api.duplicate_repo(repo, f"bob/dup-{uuid.uuid4().hex[:6]}")
    _, sha, xet_hash = gated["xet"]
    r = httpx.post(
        f"{hub.url}/api/models/{repo}/lfs-files/duplicate",
        json={
            "target": {"type": "model", "name": gated["mine"]},
            "files": [{"sha256": sha, "xetHash": xet_hash}],
        },
        headers=hub.auth(hub.bob),
    )
    gated_error(r)
    op = {
        "type": "copyFile",
        "path": "s.bin",
        "xetHash": xet_hash,
        "sourceRepoType": "model",
        "sourceRepoId": repo,
    }
    r = httpx.post(
        f"{hub.url}/api/buckets/{gated['bucket']}/batch",
        content=json.dumps(op),
        headers={"Content-Type": "application/x-ndjson", **hub.auth(hub.bob)},
    )
    assert r.status_code == 422 and [f["path"] for f in r.json()["failed"]] == ["s.bin"], r.text
    assert list(bob_api.list_bucket_tree(gated["bucket"], recursive=True)) == []


def test_endpoints_of_a_gated_model_need_access(live_server: Hub, gated: Any) -> None:
    hub = live_server
    repo = gated["repo"]
    name = f"gated-ep-{uuid.uuid4().hex[:6]}"
    mgmt = f"{hub.url}/endpoints/-/api/endpoints"
    body = {
        "repo_id": repo,
        "name": name,
        "task": "text-classification",
        "load": False,
        "allow_unsafe_pickle": True,
    }
    # a token of the owner that may manage endpoints but not read gated repos cannot deploy it
    fg = fine_grained(hub, "alice", {"canReadGatedRepos": False, "global": ["inference.endpoints.write"]})
    r = httpx.post(mgmt, json=body, headers=hub.auth(fg))
    gated_error(r)
    r = httpx.post(mgmt, json=body, headers=hub.auth())
    assert r.status_code == 201, r.text
    try:
        gated_error(httpx.get(f"{hub.url}/endpoints/{name}/health", headers=hub.auth(hub.bob)))
        gated_error(httpx.get(f"{hub.url}/endpoints/{name}/health"), 401)
        r = httpx.post(f"{hub.url}/endpoints/{name}", json={"inputs": "hi"}, headers=hub.auth(hub.bob))
        gated_error(r)
    finally:
        httpx.delete(f"{mgmt}/{name}", headers=hub.auth())


# --- the web --------------------------------------------------------------------------------------------
def _csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no CSRF token in the page"
    return m.group(1)


def web_login(hub: Hub, token: str) -> httpx.Client:
    c = httpx.Client(base_url=hub.url)
    form = c.get("/login")
    r = c.post("/login", data={"token": token, "next": "/", "csrf_token": _csrf(form.text)})
    assert r.status_code == 303, r.text
    return c


def test_web_previews_and_diffs_are_gated_and_the_form_works(live_server: Hub, repo_name: str) -> None:
    hub = live_server
    repo = f"alice/{repo_name}"
    ds = make_gated(hub, repo, repo_type="dataset")
    name, token = new_user(hub, "erin")
    web = web_login(hub, token)
    anon = httpx.Client(base_url=hub.url)
    page = web.get(f"/datasets/{repo}")
    assert page.status_code == 200 and "The card itself is public." in page.text
    assert 'id="gate-form"' in page.text and "Acknowledge the licence" in page.text
    assert SECRET not in page.text  # no dataset preview past the gate
    for c in (web, anon):
        for path in (
            f"/datasets/{repo}/blob/main/notes.csv",
            f"/datasets/{repo}/viewer",
            f"/datasets/{repo}/commit/{ds['commit']}",
        ):
            r = c.get(path)
            assert r.status_code in (401, 403) and r.headers["x-error-code"] == "GatedRepo", (
                path,
                r.status_code,
            )
            assert SECRET not in r.text
        assert c.get(f"/datasets/{repo}/blob/main/README.md").status_code == 200
    # erin asks through the web form (with the CSRF token), then sees "pending"
    form = {f"f{i}": v for i, v in enumerate(["Erin Ltd", "Italy", "1999-09-09", "Research"])}
    form["f5"] = "on"  # f4 is the ip_location field (filled by the server)
    assert web.post(f"/datasets/{repo}/ask-access", data=form).status_code == 403  # no CSRF token
    r = web.post(f"/datasets/{repo}/ask-access", data={**form, "csrf_token": _csrf(page.text)})
    assert r.status_code == 303, r.text
    assert 'id="gate-pending"' in web.get(f"/datasets/{repo}").text
    # erin cannot open the review page; alice can, and accepts from it
    assert web.get(f"/datasets/{repo}/settings/gated-user-access").status_code == 403
    owner = web_login(hub, hub.alice)
    review = owner.get(f"/datasets/{repo}/settings/gated-user-access")
    assert review.status_code == 200 and name in review.text and "Erin Ltd" in review.text
    rid = re.search(r'name="request_id" value="([0-9a-f]{24})"', review.text)
    assert rid
    r = owner.post(
        f"/datasets/{repo}/settings/gated-user-access",
        data={"csrf_token": _csrf(review.text), "request_id": rid.group(1), "status": "accepted"},
    )
    assert r.status_code == 303, r.text
    assert SECRET in web.get(f"/datasets/{repo}/blob/main/notes.csv").text
    assert SECRET in web.get(f"/datasets/{repo}/viewer").text
    assert SECRET in web.get(f"/datasets/{repo}").text  # the preview, now
    # erin's session cannot handle requests, even with her own CSRF token
    r = web.post(
        f"/datasets/{repo}/settings/gated-user-access",
        data={
            "csrf_token": _csrf(web.get(f"/datasets/{repo}").text),
            "request_id": rid.group(1),
            "status": "rejected",
        },
    )
    assert r.status_code == 403
    web.close()
    owner.close()
    anon.close()


# --- the maintainers' routes, attacked ------------------------------------------------------------------
def test_only_maintainers_list_and_handle_requests(live_server: Hub, repo_name: str) -> None:
    hub = live_server
    repo = f"alice/{repo_name}"
    make_gated(hub, repo)
    bob_name, bob = new_user(hub, "mallory")
    assert ask(hub, repo, bob).json()["status"] == "pending"
    attacker = HfApi(endpoint=hub.url, token=bob)
    for call in (
        lambda: list(attacker.list_pending_access_requests(repo)),
        lambda: attacker.accept_access_request(repo, bob_name),  # his own request
        lambda: attacker.grant_access(repo, bob_name),
        lambda: attacker.cancel_access_request(repo, bob_name),
    ):
        with pytest.raises(HfHubHTTPError) as e:
            call()
        assert e.value.response.status_code == 403
    assert [p.username for p in hub.api().list_pending_access_requests(repo)] == [bob_name]
    # the owner's read token neither lists nor handles (as on the Hub)
    read = HfApi(endpoint=hub.url, token=hub.alice_read)
    for call in (
        lambda: list(read.list_pending_access_requests(repo)),
        lambda: read.accept_access_request(repo, bob_name),
    ):
        with pytest.raises(HfHubHTTPError) as e:
            call()
        assert e.value.response.status_code == 403
    # a fine-grained token with repo.access.read lists but cannot handle
    fg = HfApi(
        endpoint=hub.url,
        token=fine_grained(
            hub,
            "alice",
            {
                "canReadGatedRepos": True,
                "scoped": [{"entity": {"type": "model", "name": repo}, "permissions": ["repo.access.read"]}],
            },
        ),
    )
    assert [p.username for p in fg.list_pending_access_requests(repo)] == [bob_name]
    with pytest.raises(HfHubHTTPError) as e:
        fg.accept_access_request(repo, bob_name)
    assert e.value.response.status_code == 403 and e.value.response.headers["x-error-code"] == "TokenScope"
    # anonymous: 401
    r = httpx.get(f"{hub.url}/api/models/{repo}/user-access-request/pending")
    assert r.status_code == 401
    # a private repo's requests are 404 to others
    priv = f"alice/{repo_name}-p"
    hub.api().create_repo(priv, private=True)
    r = httpx.get(f"{hub.url}/api/models/{priv}/user-access-request/pending", headers=hub.auth(bob))
    assert r.status_code == 404
    assert refused(hub, repo, bob, Path(os.environ["HF_HOME"])) == 403


def test_fine_grained_token_without_gated_read_is_refused(
    live_server: Hub, repo_name: str, tmp_path: Path
) -> None:
    hub = live_server
    repo = f"alice/{repo_name}"
    g = make_gated(hub, repo)
    name, token = new_user(hub, "fgu")
    hub.api().grant_access(repo, name)
    assert download(hub, repo, token, tmp_path) == g["data"]
    no_gated = fine_grained(hub, name, {"canReadGatedRepos": False, "global": ["repo.write"]})
    assert refused(hub, repo, no_gated, tmp_path) == 403
    ok = fine_grained(hub, name, {"canReadGatedRepos": True, "global": []})
    assert download(hub, repo, ok, tmp_path) == g["data"]


@pytest.mark.parametrize(
    "fields",
    [
        {**ANSWERS, "Company": "x" * 100_000},
        {**ANSWERS, "Company": 5},
        {**ANSWERS, "Company": ["a"]},
        {**ANSWERS, "Company": {"$gt": ""}},
        {**ANSWERS, "Company": None},
        {**ANSWERS, "Purpose": "Nope"},
        {**ANSWERS, "Purpose": ["Research"]},
        {**ANSWERS, "Birth date": "2020-13-45"},
        {**ANSWERS, "I agree to the licence": False},
        {**ANSWERS, "I agree to the licence": "no"},
        {**ANSWERS, "unknown field": "x"},
        {k: v for k, v in ANSWERS.items() if k != "Country"},
        {**{f"k{i}": "v" for i in range(500)}},
        ["Company", "x"],
        "a string",
        123,
    ],
)
def test_hostile_form_answers_are_400(live_server: Hub, gated: Any, fields: Any) -> None:
    hub = live_server
    _, token = new_user(hub, "h")
    r = ask(hub, gated["repo"], token, fields=fields)
    assert r.status_code in (400, 413, 422), (r.status_code, r.text[:200])
    assert r.headers.get("x-error-code")


def _deep(n: int) -> Any:
    out: Any = []
    for _ in range(n):
        out = [out]
    return out


@pytest.mark.parametrize("body", [[], "x", {"fields": {"Company": _deep(300)}}, {"fields": _deep(300)}])
def test_hostile_bodies_are_refused(live_server: Hub, gated: Any, body: Any) -> None:
    hub = live_server
    _, token = new_user(hub, "hb")
    r = ask(hub, gated["repo"], token, body=body)
    assert 400 <= r.status_code < 500 and r.headers.get("x-error-code"), r.text


def test_hostile_handle_bodies_and_foreign_request_ids(live_server: Hub, repo_name: str) -> None:
    hub = live_server
    a, b = f"alice/{repo_name}-a", f"alice/{repo_name}-b"
    make_gated(hub, a)
    make_gated(hub, b)
    name, token = new_user(hub, "f")
    rid_b = ask(hub, b, token).json()["requestId"]
    # a request id of repo b cannot be handled through repo a
    r = handle(hub, a, hub.alice, requestId=rid_b, status="accepted")
    assert r.status_code == 404, r.text
    assert [p.username for p in hub.api().list_pending_access_requests(b)] == [name]
    for body in (
        {"user": name, "status": "bogus"},
        {"user": name, "status": ["accepted"]},
        {"requestId": "zz", "status": "accepted"},
        {"requestId": {"$ne": None}, "status": "accepted"},
        {"user": 123, "status": "accepted"},
        {"user": "x" * 10_000, "status": "accepted"},
        {"status": "accepted"},
        {"user": name, "requestId": rid_b, "status": "accepted"},
        {"user": name, "status": "rejected", "rejectionReason": "r" * 5000},
        {"user": name, "status": "rejected", "rejectionReason": 7},
        {"user": name, "status": "accepted", "rejectionReason": "why"},
    ):
        r = handle(hub, b, hub.alice, **body)
        assert r.status_code == 400, (body, r.status_code, r.text[:200])
    assert (
        handle(hub, b, hub.alice, user="nobody-" + uuid.uuid4().hex[:6], status="accepted").status_code == 404
    )
    r = httpx.post(
        f"{hub.url}/api/models/{b}/user-access-request/grant", json={"user": hub.org}, headers=hub.auth()
    )
    assert r.status_code == 404  # an org is not a user
    r = httpx.post(
        f"{hub.url}/api/models/{b}/user-access-request/grant", json={"user": None}, headers=hub.auth()
    )
    assert r.status_code == 400
    r = httpx.get(f"{hub.url}/api/models/{b}/user-access-request/pending?cursor=-1", headers=hub.auth())
    assert r.status_code == 400
    # still pending after all that
    assert [p.username for p in hub.api().list_pending_access_requests(b)] == [name]


def test_requests_need_a_gated_repo_and_a_user(live_server: Hub, repo_name: str) -> None:
    hub = live_server
    repo = f"alice/{repo_name}"
    hub.api().create_repo(repo)
    assert ask(hub, repo, hub.bob).status_code == 400  # not gated
    r = httpx.post(
        f"{hub.url}/api/models/{repo}/user-access-request/grant", json={"user": "bob"}, headers=hub.auth()
    )
    assert r.status_code == 400
    hub.api().update_repo_settings(repo, gated="manual")
    assert ask(hub, repo, None).status_code == 401
    assert ask(hub, repo, hub.alice_read).status_code == 403  # a read token changes nothing


def test_listing_paginates(live_server: Hub, repo_name: str) -> None:
    hub = live_server
    repo = f"alice/{repo_name}"
    make_gated(hub, repo)
    names = []
    for _ in range(103):
        name, token = new_user(hub, "p")
        assert ask(hub, repo, token).status_code == 200
        names.append(name)
    listed = [p.username for p in hub.api().list_pending_access_requests(repo)]
    assert listed == names
