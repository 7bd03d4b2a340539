"""The Hub's Inference Endpoints management API (`/v2/endpoint/...`) driven by the stock `HfApi` with the one client
setting it needs, `huggingface_hub.constants.INFERENCE_ENDPOINTS_ENDPOINT = f"{hub}/v2"`; then `.wait()` and
`.client` on the live hub. The attacker side: no token, a read token, another user, bad bodies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from huggingface_hub import HfApi, InferenceClient, constants
from huggingface_hub.errors import HfHubHTTPError

pytestmark = pytest.mark.timeout(300)

CPU: dict[str, Any] = {
    "framework": "pytorch",
    "accelerator": "cpu",
    "instance_size": "x1",
    "instance_type": "intel-icl",
    "region": "us-east-1",
    "vendor": "aws",
}


@pytest.fixture
def hub(live_server: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The session hub, with the client's endpoint-API host pointed at it (the one setting, read at call time)."""
    monkeypatch.setattr(constants, "INFERENCE_ENDPOINTS_ENDPOINT", f"{live_server.url}/v2")
    return live_server


@pytest.fixture
def model(hub: Any, repo_name: str, tiny_model_dir: Path) -> str:
    """A public tiny text classifier of alice's."""
    api = hub.api()
    api.create_repo(repo_name)
    api.upload_folder(folder_path=tiny_model_dir, repo_id=f"alice/{repo_name}")
    return f"alice/{repo_name}"


def _status(call: Any) -> int:
    with pytest.raises(HfHubHTTPError) as info:
        call()
    return int(info.value.response.status_code)


def _cleanup(hub: Any, namespace: str, name: str) -> None:
    httpx.delete(f"{hub.url}/v2/endpoint/{namespace}/{name}", headers=hub.auth(), timeout=30)


def test_without_the_setting_the_client_goes_elsewhere() -> None:
    assert constants.INFERENCE_ENDPOINTS_ENDPOINT == "https://api.endpoints.huggingface.cloud/v2"


def test_create_wait_call_and_manage_with_hfapi(hub: Any, model: str) -> None:
    api: HfApi = hub.api()
    name = "ep-" + model.split("/")[1]
    # the InferenceEndpoint objects the client returns carry the token of the call (else the saved login)
    endpoint = api.create_inference_endpoint(
        name, repository=model, task="text-classification", token=hub.alice, **CPU
    )
    try:
        assert endpoint.namespace == "alice"  # the client's default: whoami
        assert endpoint.repository == model and endpoint.task == "text-classification"
        assert endpoint.status in ("initializing", "running")
        assert endpoint.url == f"{hub.url}/endpoints/{name}"
        assert endpoint.type == "authenticated"  # the client's default type
        endpoint.wait(timeout=120, refresh_every=1)
        assert endpoint.status == "running"
        out = endpoint.client.text_classification("the cat is happy today")
        assert {o.label for o in out} == {"NEGATIVE", "POSITIVE"}
        # authenticated: the URL needs a token; public: it does not
        assert _status(lambda: InferenceClient(base_url=endpoint.url).text_classification("hi")) == 401

        got = api.get_inference_endpoint(name)
        assert (got.name, got.repository, got.revision, got.framework) == (name, model, "main", "pytorch")
        assert got.raw["compute"]["accelerator"] == "cpu"
        assert got.raw["compute"]["scaling"]["minReplica"] == 1  # the client's default: never scaled to zero
        assert name in [e.name for e in api.list_inference_endpoints()]

        updated = api.update_inference_endpoint(name, min_replica=0, scale_to_zero_timeout=5)
        scaling = updated.raw["compute"]["scaling"]
        assert (scaling["minReplica"], scaling["maxReplica"], scaling["scaleToZeroTimeout"]) == (0, 1, 5)
        acc = hub.services.accounts
        if acc.find("ep-auditor") is None:
            acc.create("ep-auditor", is_admin=True)
        admin_token = acc.create_token("ep-auditor", f"audit-{name}", "read")
        log = httpx.get(f"{hub.url}/api/admin/audit-log", headers=hub.auth(admin_token)).json()
        assert any(e["action"] == "endpoint.update" and e["target"] == f"endpoint/{name}" for e in log), log
        public = api.update_inference_endpoint(name, task="text-classification")  # same config: no reload
        assert public.status in ("initializing", "running")
        r = httpx.put(
            f"{hub.url}/v2/endpoint/alice/{name}", json={"type": "public"}, headers=hub.auth(), timeout=30
        )
        assert r.status_code == 200 and r.json()["type"] == "public", r.text
        public = api.get_inference_endpoint(name, token=hub.alice).wait(timeout=120, refresh_every=1)
        assert InferenceClient(base_url=public.url).text_classification("hi")  # no token needed now

        zero = api.scale_to_zero_inference_endpoint(name, token=hub.alice)
        assert zero.status == "scaledToZero" and zero.url is not None
        assert zero.client.text_classification("a dog was sad")  # held until the model is back
        assert api.get_inference_endpoint(name).status == "running"

        paused = endpoint.pause()
        assert paused.status == "paused" and paused.url is None
        resp = httpx.post(
            f"{hub.url}/endpoints/{name}", json={"inputs": "hi"}, headers=hub.auth(), timeout=30
        )
        assert resp.status_code == 503 and resp.headers["x-error-code"] == "EndpointPaused"
        resumed = endpoint.resume()
        assert resumed.status in ("initializing", "running")
        resumed.wait(timeout=120, refresh_every=1)
        assert api.resume_inference_endpoint(name).status == "running"  # resuming a running one is fine
        assert resumed.client.text_classification("hello")
    finally:
        api.delete_inference_endpoint(name)
    assert _status(lambda: api.get_inference_endpoint(name)) == 404
    assert httpx.post(f"{hub.url}/endpoints/{name}", json={"inputs": "hi"}, timeout=30).status_code == 404


def logged_in(monkeypatch: pytest.MonkeyPatch, token: str) -> None:
    """As after `hf auth login`: the client sends this token when a call names none."""
    monkeypatch.setenv("HF_TOKEN", token)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_IMPLICIT_TOKEN", False)


def test_org_namespace_and_the_attacker_side(hub: Any, model: str, monkeypatch: pytest.MonkeyPatch) -> None:
    alice: HfApi = hub.api()
    bob: HfApi = hub.api(hub.bob)
    reader: HfApi = hub.api(hub.alice_read)
    anonymous = HfApi(endpoint=hub.url, token=False)
    name = "org-" + model.split("/")[1]
    org = hub.org

    # nobody but a writer of the namespace and of the model may create
    kw: dict[str, Any] = {"repository": model, "task": "text-classification", **CPU}
    assert _status(lambda: anonymous.create_inference_endpoint(name, namespace=org, **kw)) == 401
    assert _status(lambda: reader.create_inference_endpoint(name, namespace=org, **kw)) == 403
    assert _status(lambda: bob.create_inference_endpoint(name, namespace=org, **kw)) == 403  # not a member
    assert _status(lambda: bob.create_inference_endpoint(name, namespace="bob", **kw)) == 403  # not his model
    assert _status(lambda: bob.create_inference_endpoint(name, namespace="alice", **kw)) == 403
    endpoint = alice.create_inference_endpoint(name, namespace=org, **kw)
    try:
        assert endpoint.namespace == org
        assert [e.name for e in alice.list_inference_endpoints(org)] == [name]
        assert name not in [e.name for e in alice.list_inference_endpoints()]  # not in alice's own namespace
        logged_in(monkeypatch, hub.alice)  # "*" lists with the saved login (the client drops the token)
        assert name in [e.name for e in alice.list_inference_endpoints("*")]  # the org's, through whoami.orgs
        assert _status(lambda: alice.get_inference_endpoint(name)) == 404  # wrong namespace
        assert alice.get_inference_endpoint(name, namespace=org).status in ("initializing", "running")

        # a read token may look, not manage
        assert reader.get_inference_endpoint(name, namespace=org).name == name
        assert _status(lambda: reader.pause_inference_endpoint(name, namespace=org)) == 403
        assert _status(lambda: reader.scale_to_zero_inference_endpoint(name, namespace=org)) == 403
        assert _status(lambda: reader.update_inference_endpoint(name, namespace=org, min_replica=0)) == 403
        assert _status(lambda: reader.delete_inference_endpoint(name, namespace=org)) == 403

        # another user sees nothing of it: 404 as for a name that does not exist, 403 for the org's list
        for ns in (org, "bob"):
            assert _status(lambda ns=ns: bob.get_inference_endpoint(name, namespace=ns)) == 404
            assert _status(lambda ns=ns: bob.pause_inference_endpoint(name, namespace=ns)) == 404
            assert _status(lambda ns=ns: bob.resume_inference_endpoint(name, namespace=ns)) == 404
            assert _status(lambda ns=ns: bob.delete_inference_endpoint(name, namespace=ns)) == 404
            assert _status(lambda ns=ns: bob.update_inference_endpoint(name, namespace=ns, task="x")) == 404
        assert _status(lambda: bob.list_inference_endpoints(org)) == 403
        assert name not in [e.name for e in bob.list_inference_endpoints()]
        assert _status(lambda: anonymous.list_inference_endpoints(org)) == 401
        assert _status(lambda: anonymous.get_inference_endpoint(name, namespace=org)) == 401
        assert alice.get_inference_endpoint(name, namespace=org).status != "paused"

        # names are global on a hub: a taken one is 409 in any namespace
        assert _status(lambda: alice.create_inference_endpoint(name, **kw)) == 409
    finally:
        _cleanup(hub, org, name)
    assert _status(lambda: alice.get_inference_endpoint(name, namespace=org)) == 404


def test_hardware_listing(hub: Any) -> None:
    hardware = hub.api().list_inference_endpoints_hardware()
    assert hardware and {h.accelerator for h in hardware} == {"cpu"}
    assert hardware[0].instance_size == "x1" and hardware[0].vendor == "modelyard"


@pytest.mark.parametrize(
    "patch,status,text",
    [
        ({"compute": {"accelerator": "gpu"}}, 400, "not available on this hub"),
        ({"compute": {"instanceType": "nvidia-a10g"}}, 400, "not available on this hub"),
        ({"compute": {"scaling": {"minReplica": 1, "maxReplica": 4}}}, 400, "not available on this hub"),
        ({"model": {"image": {"custom": {"url": "x/y:1"}}}}, 400, "not available on this hub"),
        ({"model": {"env": {"A": "1"}}}, 400, "not available on this hub"),
        ({"privateService": {"accountId": "1", "region": "us-east-1"}}, 400, "not available"),
        ({"compute": {"instanceSize": "huge"}}, 422, "instanceSize"),
        ({"compute": {"scaling": {"minReplica": "one"}}}, 422, "minReplica"),
        ({"compute": {"scaling": {"scaleToZeroTimeout": 0}}}, 422, "scaleToZeroTimeout"),
        ({"compute": "cpu"}, 422, "compute"),
        ({"model": None}, 422, "repository"),
        ({"model": {"repository": 5}}, 422, "repository"),
        ({"model": {"task": "dance"}}, 422, ""),
        ({"type": "secret"}, 422, "type"),
        ({"name": "Bad Name!"}, 422, "name"),
        ({"name": None}, 422, "name"),
        ({"tags": "x"}, 422, "tags"),
    ],
)
def test_invalid_bodies_are_4xx(hub: Any, model: str, patch: dict[str, Any], status: int, text: str) -> None:
    body: dict[str, Any] = {
        "compute": {
            "accelerator": "cpu",
            "instanceSize": "x1",
            "instanceType": "intel-icl",
            "scaling": {"minReplica": 1, "maxReplica": 1},
        },
        "model": {"framework": "pytorch", "repository": model, "image": {"huggingface": {}}},
        "name": "bad-body",
        "provider": {"region": "us-east-1", "vendor": "aws"},
        "type": "public",
    }
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(body.get(key), dict):
            body[key] = {**body[key], **value}
        else:
            body[key] = value
    try:
        r = httpx.post(f"{hub.url}/v2/endpoint/alice", json=body, headers=hub.auth(), timeout=30)
        assert r.status_code == status, r.text
        assert text in r.json()["error"]
        assert r.headers["x-error-code"]
    finally:
        _cleanup(hub, "alice", "bad-body")


def test_malformed_requests(hub: Any) -> None:
    url = f"{hub.url}/v2/endpoint/alice"
    for content in (b"{", b"[]", b'"x"', b"null"):
        r = httpx.post(url, content=content, headers={**hub.auth(), "content-type": "application/json"})
        assert 400 <= r.status_code < 500, (content, r.status_code, r.text)
    r = httpx.put(f"{url}/nothing-here", json={"type": "public"}, headers=hub.auth())
    assert r.status_code == 404 and r.headers["x-error-code"] == "EndpointNotFound"
    r = httpx.get(url, headers={"authorization": "Bearer hf_not_a_token"})
    assert r.status_code == 401
