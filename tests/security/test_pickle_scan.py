"""Unsafe pickles (issue 11): uploaded pickle files are scanned (picklescan, never loaded), the verdict is reported
where the Hub reports it (`securityRepoStatus`, per-file `securityFileStatus`) and as a web banner, and endpoints
refuse to load a flagged model unless the deployer allows it explicitly.

Attacker side: the scan results of a private repo's files are not readable by others; hostile files (truncated
pickles, garbage, zip bombs, huge zips) get a verdict ("error", shown as suspicious), never a crash or a 500.
The malicious pickles are built here and never loaded: their `__reduce__` would run `echo pwned`.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest
import torch
from click.testing import CliRunner
from huggingface_hub.errors import RepositoryNotFoundError

from _transfer import assert_arrived
from modelyard.cli import main
from modelyard.cli.deploy import deploy

pytestmark = pytest.mark.timeout(300)

SYSTEM = {("posix", "system"), ("os", "system"), ("nt", "system")}


class Evil:
    """Pickled, it names os.system: loading the pickle would run the command. Never loaded here."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, ("echo pwned",))


def evil_pickle() -> bytes:
    return pickle.dumps(Evil())


def evil_torch_zip() -> bytes:
    """A torch-style zip (what torch.save writes) whose data.pkl holds the evil object next to a real tensor."""
    buf = io.BytesIO()
    torch.save({"weight": torch.zeros(2, 3), "extra": Evil(), "nonce": uuid.uuid4().hex}, buf)
    return buf.getvalue()


def benign_torch() -> bytes:
    """A state dict as torch.save writes it (a new content on each call)."""
    buf = io.BytesIO()
    torch.save(
        {"weight": torch.arange(12, dtype=torch.float32).reshape(3, 4), "nonce": uuid.uuid4().hex}, buf
    )
    return buf.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def upload(api: Any, repo_id: str, files: dict[str, bytes]) -> None:
    for path, data in files.items():
        api.upload_file(path_or_fileobj=data, path_in_repo=path, repo_id=repo_id)


def wait_scanned(api: Any, repo_id: str, timeout: float = 60) -> dict[str, Any]:
    """The repo's securityRepoStatus once every pickle file of main is scanned (the background worker)."""
    deadline = time.monotonic() + timeout
    while True:
        status = api.model_info(repo_id, securityStatus=True).security_repo_status
        assert isinstance(status, dict), status
        if status["scansDone"] or time.monotonic() > deadline:
            assert status["scansDone"], f"scans not done after {timeout}s: {status}"
            return status
        time.sleep(0.2)


def issues_by_path(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["path"]: f for f in status["filesWithIssues"]}


def imported(imports: list[dict[str, str]], safety: str = "dangerous") -> set[tuple[str, str]]:
    return {(i["module"], i["name"]) for i in imports if i["safety"] == safety}


# --- flagged, reported, shown ---------------------------------------------------------------------------------
def test_malicious_pickles_are_flagged_in_api_and_web(live_server: Any, transfer: str) -> None:
    hub = live_server
    api = hub.api()
    repo_id = f"alice/pickles-{transfer}-{uuid.uuid4().hex[:6]}"
    api.create_repo(repo_id)
    evil, evil_zip, good = evil_pickle(), evil_torch_zip(), benign_torch()
    upload(
        api,
        repo_id,
        {"README.md": b"# pickles\n", "evil.pkl": evil, "evil_model.bin": evil_zip, "weights.pt": good},
    )
    for data in (evil_zip, good):  # the path the server saw them arrive through
        assert_arrived(hub, sha256(data), transfer)

    status = wait_scanned(api, repo_id)
    issues = issues_by_path(status)
    assert set(issues) == {"evil.pkl", "evil_model.bin"}, status
    for path in ("evil.pkl", "evil_model.bin"):
        assert issues[path]["level"] == "unsafe"
        assert imported(issues[path]["pickleImports"]) & SYSTEM, issues[path]

    # per file, the Hub's securityFileStatus: paths-info and the tree with expand
    infos = {
        f.path: f
        for f in api.get_paths_info(
            repo_id, ["evil.pkl", "evil_model.bin", "weights.pt", "README.md"], expand=True
        )
    }
    tree = {f.path: f for f in api.list_repo_tree(repo_id, expand=True)}
    for files in (infos, tree):
        for path in ("evil.pkl", "evil_model.bin"):
            sec = files[path].security
            assert sec is not None and sec.status == "unsafe" and not sec.safe, (path, sec)
            assert sec.pickle_import_scan["highestSafetyLevel"] == "dangerous"
            assert imported(sec.pickle_import_scan["imports"]) & SYSTEM
        ok = files["weights.pt"].security
        assert ok is not None and ok.status == "safe" and ok.safe, ok
        assert ok.pickle_import_scan["status"] == "safe"
        assert ("torch._utils", "_rebuild_tensor_v2") in imported(
            ok.pickle_import_scan["imports"], "innocuous"
        )
        readme = files["README.md"].security
        assert readme is not None and readme.safe and readme.pickle_import_scan is None
    # without expand, no security fields (as on the Hub)
    assert all(f.security is None for f in api.list_repo_tree(repo_id))

    # the web: a banner on the repo page and on the flagged file's page, none on the benign file's page
    page = httpx.get(f"{hub.url}/{repo_id}")
    assert page.status_code == 200
    assert 'id="pickle-warning"' in page.text and "evil.pkl" in page.text and ".system</code>" in page.text
    blob = httpx.get(f"{hub.url}/{repo_id}/blob/main/evil_model.bin")
    assert blob.status_code == 200 and 'id="pickle-warning"' in blob.text and ".system</code>" in blob.text
    benign = httpx.get(f"{hub.url}/{repo_id}/blob/main/weights.pt")
    assert benign.status_code == 200 and 'id="pickle-warning"' not in benign.text


def test_same_content_is_scanned_once_and_a_left_queued_row_is_picked_up(live_server: Any) -> None:
    """Verdicts are per content: the same bytes in another repo reuse the verdict. A row left queued (a crash
    before the scan) is scanned by the worker, which polls the queue rather than only hearing of new commits."""
    hub = live_server
    api = hub.api()
    evil = evil_pickle() + pickle.dumps(uuid.uuid4().hex)  # two pickles: a content no other test has
    first, second = (f"alice/once-{uuid.uuid4().hex[:6]}" for _ in range(2))
    for repo_id in (first, second):
        api.create_repo(repo_id)
    upload(api, first, {"a.pkl": evil})
    wait_scanned(api, first)
    scanned_at = hub.services.pickles.get_many([sha256(evil)])[sha256(evil)].scanned_at
    upload(api, second, {"b.pickle": evil})
    assert issues_by_path(wait_scanned(api, second))["b.pickle"]["level"] == "unsafe"
    assert hub.services.pickles.get_many([sha256(evil)])[sha256(evil)].scanned_at == scanned_at

    # content committed under a name that is not scanned, then queued by hand as a crashed process leaves it
    hidden = pickle.dumps(Evil(), protocol=2) + pickle.dumps(uuid.uuid4().hex)
    upload(api, first, {"notes.txt": hidden})
    assert sha256(hidden) not in hub.services.pickles.get_many([sha256(hidden)])
    hub.services.pickles.queue([sha256(hidden)])
    deadline = time.monotonic() + 30
    while (scan := hub.services.pickles.get_many([sha256(hidden)])[sha256(hidden)]).status == "queued":
        assert time.monotonic() < deadline, "the worker did not pick up the queued row"
        time.sleep(0.2)
    assert scan.status == "unsafe"


# --- endpoints --------------------------------------------------------------------------------------------------
def test_endpoint_refuses_flagged_model_unless_allowed(live_server: Any) -> None:
    hub = live_server
    api = hub.api()
    repo_id = f"alice/deploy-evil-{uuid.uuid4().hex[:6]}"
    api.create_repo(repo_id)
    # deployed right after the upload: a file not scanned yet is scanned before the answer
    upload(api, repo_id, {"config.json": b"{}", "pytorch_model.bin": evil_torch_zip()})
    mgmt = f"{hub.url}/endpoints/-/api/endpoints"
    name = repo_id.split("/")[1]
    body = {"repo_id": repo_id, "name": name, "task": "text-classification", "load": False}
    r = httpx.post(mgmt, json=body, headers=hub.auth())
    assert r.status_code == 409, r.text
    assert r.headers["x-error-code"] == "UnsafePickle"
    assert "pytorch_model.bin" in r.headers["x-error-message"] and "system" in r.text
    assert httpx.get(f"{mgmt}/{name}", headers=hub.auth()).status_code == 404  # nothing was created

    # the CLI says why, and how to override
    result = CliRunner().invoke(deploy, [repo_id, "--hub", hub.url, "--token", hub.alice, "--no-wait"])
    assert result.exit_code != 0 and "409" in result.output and "allow-unsafe-pickle" in result.output

    # the operator's view: the repo's pickle files and their verdicts; exit 1 as endpoints refuse
    cli = CliRunner().invoke(
        main,
        ["scan-pickles", "--repo", repo_id],
        env={
            "MODELYARD_DATA_DIR": hub.settings.data_dir,
            "MODELYARD_DATABASE_URL": hub.settings.resolved_database_url,
        },
    )
    assert cli.exit_code == 1, cli.output
    assert (
        "unsafe" in cli.output and "pytorch_model.bin" in cli.output and ".system (dangerous)" in cli.output
    )

    # the deployer's explicit choice
    r = httpx.post(mgmt, json={**body, "allow_unsafe_pickle": True}, headers=hub.auth())
    assert r.status_code == 201, r.text
    try:
        assert httpx.get(f"{mgmt}/{name}", headers=hub.auth()).json()["config"]["allow_unsafe_pickle"] is True
    finally:
        httpx.delete(f"{mgmt}/{name}", headers=hub.auth())


def test_worker_refuses_a_flagged_file_pushed_after_deploy(live_server: Any, tiny_model_dir: Path) -> None:
    """The revision moves after the endpoint was admitted: the model worker checks the pickles it is about to
    load itself, so the load fails with the refusal instead of unpickling the new file."""
    hub = live_server
    api = hub.api()
    repo_id = f"alice/deploy-later-{uuid.uuid4().hex[:6]}"
    api.create_repo(repo_id)
    api.upload_folder(folder_path=tiny_model_dir, repo_id=repo_id)
    mgmt = f"{hub.url}/endpoints/-/api/endpoints"
    name = repo_id.split("/")[1]
    body = {"repo_id": repo_id, "name": name, "task": "text-classification", "load": False}
    r = httpx.post(mgmt, json=body, headers=hub.auth())
    assert r.status_code == 201, r.text
    try:
        upload(api, repo_id, {"training_args.bin": evil_pickle()})
        r = httpx.post(
            f"{hub.url}/endpoints/{name}",
            json={"inputs": "hello"},
            headers={**hub.auth(), "x-wait-for-model": "true"},
            timeout=120,
        )
        assert r.status_code >= 400 and "training_args.bin" in r.text, r.text
        state = httpx.get(f"{mgmt}/{name}", headers=hub.auth()).json()
        assert state["state"] == "failed" and "training_args.bin" in state["error"], state
        # resuming is admitted by the hub again: refused up front
        r = httpx.post(f"{mgmt}/{name}/resume", headers=hub.auth())
        assert r.status_code == 409 and r.headers["x-error-code"] == "UnsafePickle", r.text
    finally:
        httpx.delete(f"{mgmt}/{name}", headers=hub.auth())


# --- attacker side --------------------------------------------------------------------------------------------
def test_scan_results_of_private_files_do_not_leak(live_server: Any) -> None:
    hub = live_server
    alice = hub.api()
    repo_id = f"alice/private-pickles-{uuid.uuid4().hex[:6]}"
    alice.create_repo(repo_id, private=True)
    evil = evil_pickle() + pickle.dumps(uuid.uuid4().hex)
    upload(alice, repo_id, {"secret-plan-evil.pkl": evil})
    assert issues_by_path(wait_scanned(alice, repo_id))["secret-plan-evil.pkl"]["level"] == "unsafe"

    for token in (hub.bob, ""):
        other = hub.api(token) if token else hub.api(token=False)
        with pytest.raises(RepositoryNotFoundError):
            other.model_info(repo_id, securityStatus=True)
        with pytest.raises(RepositoryNotFoundError):
            other.get_paths_info(repo_id, ["secret-plan-evil.pkl"], expand=True)
        with pytest.raises(RepositoryNotFoundError):
            list(other.list_repo_tree(repo_id, expand=True))
        headers = hub.auth(token) if token else {}
        page = httpx.get(f"{hub.url}/{repo_id}", headers=headers)
        assert page.status_code == 404 and "secret-plan" not in page.text
        blob = httpx.get(f"{hub.url}/{repo_id}/blob/main/secret-plan-evil.pkl", headers=headers)
        assert blob.status_code == 404  # the 404 page names the URL asked for (a login link), nothing else
        for r in (page, blob):
            assert "pickle-warning" not in r.text and ".system</code>" not in r.text
        # nor through the endpoints front: deploying answers 404 (the repo), never the refusal naming the file
        r = httpx.post(
            f"{hub.url}/endpoints/-/api/endpoints",
            json={"repo_id": repo_id, "name": "steal", "load": False},
            headers=headers,
        )
        assert r.status_code in (401, 404) and "secret-plan" not in r.text, r.text

    # bob holding the same bytes sees his own file's verdict, never alice's path
    bob = hub.api(hub.bob)
    mine = f"bob/copy-{uuid.uuid4().hex[:6]}"
    bob.create_repo(mine)
    upload(bob, mine, {"mine.pkl": evil})
    status = wait_scanned(bob, mine)
    assert set(issues_by_path(status)) == {"mine.pkl"} and "secret-plan" not in str(status)


def _zip(entries: dict[str, bytes], method: int = zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buf.getvalue()


def _bomb() -> bytes:
    """A deflated data.pkl that expands to 300 MB of pickle MARK opcodes (about 300 KB compressed)."""
    buf = io.BytesIO()
    with (
        zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z,
        z.open("archive/data.pkl", "w", force_zip64=True) as f,
    ):
        f.write(b"\x80\x04")
        block = b"(" * (1 << 20)
        for _ in range(300):
            f.write(block)
    return buf.getvalue()


def test_hostile_files_get_a_verdict_not_a_crash(live_server: Any) -> None:
    hub = live_server
    api = hub.api()
    repo_id = f"alice/hostile-{uuid.uuid4().hex[:6]}"
    api.create_repo(repo_id)
    nonce = uuid.uuid4().hex.encode()  # fresh contents: no verdict from another test
    hostile = {
        "truncated.pkl": pickle.dumps({"a": list(range(50)), "n": nonce})[:-7],
        "garbage.bin": b"\xbc\xff\x00\x13" * 4096 + nonce,
        "empty.pt": b"",
        "bomb.pt": _bomb(),
        "many.npz": _zip({f"a{i}.npy": b"" for i in range(10_050)} | {"n": nonce}),
        "ops.pkl": b"\x80\x04" + b"N" * 1_200_000 + b"." + nonce,
        "bad-zip.ckpt": b"PK\x03\x04" + b"\x00" * 200 + nonce,
    }
    api.create_commit(
        repo_id,
        operations=[_add(p, d) for p, d in hostile.items()],
        commit_message="hostile files",
    )
    status = wait_scanned(api, repo_id, timeout=120)
    issues = issues_by_path(status)
    assert set(issues) == set(hostile), status
    infos = {f.path: f for f in api.get_paths_info(repo_id, list(hostile), expand=True)}
    for path in hostile:
        sec = infos[path].security
        assert sec is not None and not sec.safe, (path, sec)
        assert sec.pickle_import_scan["status"] == "error", (path, sec)
        assert issues[path]["level"] == "suspicious"
    # every page and listing still answers
    assert httpx.get(f"{hub.url}/{repo_id}").status_code == 200
    for path in hostile:
        assert httpx.get(f"{hub.url}/{repo_id}/blob/main/{path}").status_code == 200
    assert httpx.get(f"{hub.url}/health").status_code == 200
    # and an endpoint refuses them as it refuses unsafe files
    r = httpx.post(
        f"{hub.url}/endpoints/-/api/endpoints",
        json={"repo_id": repo_id, "name": repo_id.split("/")[1], "load": False},
        headers=hub.auth(),
    )
    assert r.status_code == 409 and r.headers["x-error-code"] == "UnsafePickle", r.text


def _add(path: str, data: bytes) -> Any:
    from huggingface_hub import CommitOperationAdd

    return CommitOperationAdd(path_in_repo=path, path_or_fileobj=data)


# --- the scanner on its own (no server): formats, and no false alarms on tensor bytes ------------------------------
def _legacy_torch(obj: Any) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf, _use_new_zipfile_serialization=False)
    return buf.getvalue()


def _npy(arr: Any) -> bytes:
    import numpy as np

    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=True)
    return buf.getvalue()


def _npz(**arrays: Any) -> bytes:
    import numpy as np

    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _formats() -> list[tuple[str, bytes, str]]:
    import numpy as np

    return [
        ("legacy torch state dict", _legacy_torch({"w": torch.zeros(3)}), "safe"),
        ("legacy torch with the payload", _legacy_torch({"w": torch.zeros(3), "x": Evil()}), "unsafe"),
        ("numpy float array", _npy(np.zeros(4)), "safe"),
        ("numpy object array", _npy(np.array([Evil()], dtype=object)), "unsafe"),
        ("npz with an object array", _npz(a=np.zeros(2), b=np.array([Evil()], dtype=object)), "unsafe"),
        # a torch zip whose tensor bytes begin like a pickle: raw storage is not unpickled, so no alarm
        (
            "tensor bytes that look like a pickle",
            _zip({"m/data.pkl": pickle.dumps({"a": 1}), "m/data/0": b"\x80\x02\x01\x02" * 64}),
            "safe",
        ),
        ("a pickle hidden in a zip entry without a pickle name", _zip({"m/blob": evil_pickle()}), "unsafe"),
        ("tensor bytes skipped, not read", pickle.dumps({"t": b"\0" * (8 << 20)}, protocol=4), "safe"),
        ("7z archive", b"7z\xbc\xaf\x27\x1c" + b"\0" * 64, "error"),
    ]


@pytest.mark.parametrize("label,data,expected", _formats(), ids=[f[0] for f in _formats()])
def test_scanner_formats(label: str, data: bytes, expected: str) -> None:
    from modelyard.hub.pickle_scanner import scan_stream

    status, imports, _ = scan_stream(io.BytesIO(data))
    assert status == expected, (label, imports)
    if expected == "unsafe":
        assert {(i.module, i.name) for i in imports if i.safety == "dangerous"} & SYSTEM
