"""The scale-out topology (issue 17 "Done when"): 3 `modelyard serve` replicas behind nginx, sharing PostgreSQL,
an S3 server and the secret; the official clients talk only to the balancer.

The end-to-end client tests of tests/e2e/test_hub_client.py run here unchanged: they are imported below and
collected in this module, where tests/scale/conftest.py's ``live_server`` is the balancer (and the
huggingface_hub endpoint constants point at it). Only the three that depend on the session hub's own settings or
local disk are left out (tree page size 4, the blob directory on disk, the 300 MB slow round trip: its flows are
covered by ``test_upload_folder_snapshot_roundtrip``).

Then ``test_kill9_replica_during_uploads``: 20 uploads from 4 client processes (Xet and LFS) with a retry loop as
a user would write it, while one replica is killed with SIGKILL mid-way and restarted; every acknowledged upload
is in the repo with exactly its bytes, no corrupt or half-written file is visible at any commit.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from huggingface_hub import CommitOperationAdd, HfApi, hf_hub_download, snapshot_download
from huggingface_hub.errors import RepositoryNotFoundError

from _transfer import assert_arrived
from e2e.test_hub_client import (  # noqa: F401  (collected here, through the balancer)
    test_bad_requests_from_client_are_clear,
    test_concurrent_commits_lose_nothing,
    test_create_commit_parent_commit_stale_is_412,
    test_create_repo_409_has_url_and_exist_ok,
    test_create_repo_in_org_and_dataset,
    test_delete_file_and_folder,
    test_delete_repo,
    test_hf_file_system_range_reads,
    test_hf_hub_download_by_tag_branch_and_sha,
    test_invalid_repo_names_rejected,
    test_invalid_token_is_401,
    test_move_repo_old_id_redirects,
    test_paths_info,
    test_private_repo_is_404_to_others,
    test_read_token_cannot_write,
    test_refs_commits_branches_tags,
    test_upload_file_lfs_pattern_and_regular,
    test_whoami,
)

pytestmark = pytest.mark.scale


def _sha256(path: Path | str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


# --- the topology itself ------------------------------------------------------------------------------------------
def test_blobs_are_on_s3_and_replicas_share_state(live_server: Any, api: Any, repo_name: str) -> None:
    topo = live_server.extra["topology"]
    if os.environ.get("MODELYARD_SCALE_BLOBS") != "file":  # the done-when runs on S3
        assert topo.settings["blob_url"].startswith("s3://"), topo.settings["blob_url"]
    assert topo.settings["database_url"].startswith("postgresql")
    assert len({r.data_dir for r in topo.replicas}) == 3 and all(r.proc.poll() is None for r in topo.replicas)
    # a repo made through replica 0 directly is seen by replicas 1 and 2 directly, with alice's token
    rid = f"alice/{repo_name}"
    HfApi(endpoint=topo.replicas[0].url, token=live_server.alice).create_repo(rid, private=True)
    HfApi(endpoint=topo.replicas[1].url, token=live_server.alice).upload_file(
        path_or_fileobj=b"written via replica 1\n", path_in_repo="r1.txt", repo_id=rid
    )
    for rep in topo.replicas:
        r = httpx.get(f"{rep.url}/{rid}/resolve/main/r1.txt", headers=live_server.auth())
        assert r.status_code == 200 and r.content == b"written via replica 1\n"
        # and none of them shows it to bob or to nobody
        assert (
            httpx.get(f"{rep.url}/api/models/{rid}", headers=live_server.auth(live_server.bob)).status_code
            == 404
        )
        assert httpx.get(f"{rep.url}/{rid}/resolve/main/r1.txt").status_code in (401, 404)
    # the balancer spreads requests: every replica's health answers, and the public URL is the balancer's
    assert httpx.get(f"{topo.url}/health").json()["database"]["ok"] is True
    assert api.create_repo(f"{repo_name}-2") == f"{topo.url}/alice/{repo_name}-2"


@pytest.mark.parametrize("mode", ["xet", "lfs"])
def test_upload_folder_snapshot_roundtrip(
    live_server: Any, api: Any, repo_name: str, tiny_model_dir: Path, tmp_path: Path, mode: str
) -> None:
    """upload_folder (default client, then LFS in a subprocess with HF_HUB_DISABLE_XET=1), snapshot_download
    and hf_hub_download give back exact bytes; commits listed; a PR; private refused to bob; delete."""
    rid = f"alice/{repo_name}"
    api.create_repo(rid, private=True)
    src = tmp_path / "src"
    src.mkdir()
    for f in tiny_model_dir.iterdir():
        (src / f.name).write_bytes(f.read_bytes())
    big = src / "weights" / "shard.bin"
    big.parent.mkdir()
    big.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    expected = {str(p.relative_to(src)): _sha256(p) for p in src.rglob("*") if p.is_file()}
    if mode == "xet":
        api.upload_folder(folder_path=src, repo_id=rid, commit_message="upload folder")
    else:  # a client process of its own: HF_HUB_DISABLE_XET is read when huggingface_hub is imported
        code = (
            "import sys; from huggingface_hub import HfApi; "
            "HfApi(endpoint=sys.argv[1], token=sys.argv[2]).upload_folder("
            "folder_path=sys.argv[3], repo_id=sys.argv[4], commit_message='upload folder')"
        )
        env = {**os.environ, "HF_HUB_DISABLE_XET": "1"}
        subprocess.run(
            [sys.executable, "-c", code, live_server.url, live_server.alice, str(src), rid],
            env=env,
            check=True,
        )
    assert_arrived(live_server, expected["weights/shard.bin"], mode)
    out = Path(snapshot_download(rid, cache_dir=tmp_path / "cache", token=live_server.alice))
    got = {str(p.relative_to(out)): _sha256(p) for p in out.rglob("*") if p.is_file()}
    got.pop(".gitattributes")
    assert got == expected
    one = hf_hub_download(rid, "weights/shard.bin", cache_dir=tmp_path / "cache2", token=live_server.alice)
    assert _sha256(one) == expected["weights/shard.bin"]
    titles = [c.title for c in api.list_repo_commits(rid)]
    assert titles == ["upload folder", "initial commit"]
    assert sorted(api.list_repo_files(rid)) == sorted([".gitattributes", *expected])
    # a pull request, through another replica than the one that stored the files (round robin)
    pr = api.create_commit(
        rid, [CommitOperationAdd("README.md", b"# proposed\n")], commit_message="propose", create_pr=True
    )
    assert pr.pr_num is not None
    assert "README.md" not in api.list_repo_files(rid)
    assert "README.md" in api.list_repo_files(rid, revision=pr.pr_revision)
    assert [d.num for d in api.get_repo_discussions(rid)] == [pr.pr_num]
    bob = live_server.api(live_server.bob)
    with pytest.raises(RepositoryNotFoundError):
        bob.model_info(rid)
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download(rid, "config.json", cache_dir=tmp_path / "c3", token=live_server.bob)
    api.delete_repo(rid)
    assert not api.repo_exists(rid)


# --- kill -9 of a replica during 20 uploads ---------------------------------------------------------------------
_WORKER = r"""
import hashlib, json, os, sys, time
from pathlib import Path
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError

endpoint, token, repo, work, plan = sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4]), json.loads(sys.argv[5])
api = HfApi(endpoint=endpoint, token=token)

def say(**kw):
    print(json.dumps(kw), flush=True)

for path, size in plan:
    local = work / path.replace("/", "_")
    data = os.urandom(size)
    local.write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    say(event="start", path=path)
    retries, errors = 0, []
    for attempt in range(12):
        try:
            info = api.upload_file(path_or_fileobj=str(local), path_in_repo=path, repo_id=repo,
                                   commit_message=f"add {path}")
            say(event="ack", path=path, sha256=sha, size=size, oid=info.oid, retries=retries, errors=errors)
            break
        except HfHubHTTPError as e:  # 5xx (502 from the balancer when a replica died) and 429: retry
            status = e.response.status_code if e.response is not None else None
            if status is not None and status < 500 and status != 429:
                say(event="fatal", path=path, error=f"{status} {e}")
                break
            retries += 1
            errors.append(f"http {status}")
        except Exception as e:  # connection reset, read error, Xet transfer error: retry the whole upload
            retries += 1
            errors.append(type(e).__name__)
        time.sleep(min(4.0, 0.25 * 2 ** attempt))
    else:
        say(event="gave_up", path=path, errors=errors)
"""


def _plan(rng_seed: int) -> list[list[tuple[str, int]]]:
    """20 uploads in 4 client processes: 8 small text files (regular) and 12 LFS-sized .bin files (1-10 MiB)."""
    import random

    rng = random.Random(rng_seed)
    uploads: list[tuple[str, int]] = []
    for i in range(20):
        if i % 5 in (0, 3):
            uploads.append((f"u/{i:02d}.txt", rng.randint(1_000, 60_000)))
        else:
            uploads.append((f"u/{i:02d}.bin", rng.randint(1, 10) * 1024 * 1024 + rng.randint(0, 4095)))
    return [uploads[w::4] for w in range(4)]


def test_kill9_replica_during_uploads(live_server: Any, api: Any, repo_name: str, tmp_path: Path) -> None:
    topo = live_server.extra["topology"]
    rid = f"alice/{repo_name}"
    api.create_repo(rid)
    plans = _plan(uuid.uuid4().int & 0xFFFF)
    log_start = len(topo.nginx_access())
    procs: list[tuple[subprocess.Popen[str], Path]] = []
    for w, plan in enumerate(plans):
        work = tmp_path / f"worker-{w}"
        work.mkdir()
        env = {**os.environ, "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
        env.pop("HF_HUB_DISABLE_XET", None)
        if w % 2:  # workers 1 and 3 upload through LFS, 0 and 2 through Xet (the default client)
            env["HF_HUB_DISABLE_XET"] = "1"
        out = open(work / "events.jsonl", "w")  # noqa: SIM115 - closed below
        p = subprocess.Popen(
            [sys.executable, "-c", _WORKER, topo.url, live_server.alice, rid, str(work), json.dumps(plan)],
            env=env,
            stdout=out,
            stderr=open(work / "stderr.log", "w"),  # noqa: SIM115
            text=True,
        )
        procs.append((p, work / "events.jsonl"))

    def events() -> list[dict[str, Any]]:
        rows = []
        for _, f in procs:
            rows += [json.loads(line) for line in f.read_text().splitlines() if line.strip()]
        return rows

    # kill -9 one replica once 4 uploads are acknowledged and others are in flight
    victim = topo.replicas[1]
    deadline = time.monotonic() + 300
    while True:
        ev = events()
        acks = sum(e["event"] == "ack" for e in ev)
        starts = sum(e["event"] == "start" for e in ev)
        if acks >= 4 and starts > acks:
            break
        assert time.monotonic() < deadline, ("no progress", ev)
        assert any(p.poll() is None for p, _ in procs), ("workers ended before the kill", ev)
        time.sleep(0.05)
    acked_before_kill = acks
    victim.kill9()
    killed_at = time.monotonic()
    time.sleep(3)  # the balancer sees the dead replica (connect refused) and routes around it
    victim.start()  # and it comes back, with an empty data dir of its own state (stateless)
    for p, _ in procs:
        assert p.wait(600) == 0
    ev = events()
    acked = {e["path"]: e for e in ev if e["event"] == "ack"}
    failed = [e for e in ev if e["event"] in ("fatal", "gave_up")]
    retries = sum(e["retries"] for e in acked.values())
    errors = [err for e in acked.values() for err in e["errors"]]
    nginx_log = topo.nginx_errors()
    upstream_failures = sum(
        s in line
        for line in nginx_log.splitlines()
        for s in ("prematurely closed", "Connection refused", "Connection reset", "upstream timed out")
    )
    access = topo.nginx_access()[log_start:]
    answered_5xx = [f"{a[0]} {a[1]} {a[2].split('/')[1]}" for a in access if a[0] >= "500"]
    rerouted = sum("," in a[3] for a in access)  # nginx sent it to another replica (connect refused)
    print(
        f"\nkill -9 of replica {victim.index} after {acked_before_kill} acks "
        f"({time.monotonic() - killed_at:.1f}s before all uploads ended): {len(acked)}/20 acknowledged, "
        f"{len(access)} requests through the balancer, {upstream_failures} upstream failures in nginx's error log, "
        f"{rerouted} requests rerouted by nginx, {len(answered_5xx)} 5xx answered to clients {answered_5xx} "
        f"(retried by huggingface_hub / hf_xet), {retries} whole-upload retries by the test's loop "
        f"{sorted(set(errors))}"
    )
    assert not failed, failed
    assert len(acked) == 20
    assert upstream_failures >= 1, "the balancer never saw the dead replica: the kill hit nothing"

    # 0 acknowledged commits lost: each is in main's history and holds the file with exactly its bytes
    history = [c.commit_id for c in api.list_repo_commits(rid)]
    head_files = {e.path: e for e in api.list_repo_tree(rid, path_in_repo="u", recursive=True)}
    assert sorted(head_files) == sorted(acked), "a file is missing, or one that was never uploaded is visible"
    cache = tmp_path / "verify-cache"
    for path, e in acked.items():
        assert e["oid"] in history, (path, e["oid"])
        entry = head_files[path]
        assert entry.size == e["size"], (path, entry.size, e["size"])
        if entry.lfs is not None:
            assert entry.lfs.sha256 == e["sha256"]
        at_ack = hf_hub_download(rid, path, revision=e["oid"], cache_dir=cache, token=live_server.alice)
        assert _sha256(at_ack) == e["sha256"], f"{path}: corrupt at its acknowledged commit"
    # no half-written file at any commit: every listed file has one of the uploaded sizes/hashes
    by_path = {p: (e["size"], e["sha256"]) for p, e in acked.items()}
    for oid in history:
        for entry in api.list_repo_tree(rid, revision=oid, recursive=True):
            if entry.path.startswith("u/") and hasattr(entry, "size"):
                assert entry.path in by_path
                assert entry.size == by_path[entry.path][0], (oid, entry.path)
                if entry.lfs is not None:
                    assert entry.lfs.sha256 == by_path[entry.path][1], (oid, entry.path)
    # in the object store: every published blob holds exactly the bytes its content address names (a replica
    # killed mid-upload left no partial object under a final key; its leftovers, if any, are temp objects)
    temps = 0
    if topo.settings["blob_url"].startswith("s3://"):
        bucket, _, prefix = topo.settings["blob_url"][len("s3://") :].partition("/")
        s3 = topo.extra["s3"].client()
        checked, verified = 0, set()
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}/"):
            for obj in page.get("Contents", []):
                key = obj["Key"][len(prefix) + 1 :]
                if key.startswith("tmp/"):
                    temps += 1
                elif key.startswith("blobs/"):
                    body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
                    assert hashlib.sha256(body).hexdigest() == key.rsplit("/", 1)[1], obj["Key"]
                    checked += 1
                    verified.add(key.rsplit("/", 1)[1])
        # each acknowledged upload is stored whole (LFS, regular) or as Xet chunks (the default client's path)
        xet = live_server.services.content.xet_hash
        missing = {
            p: e["sha256"] for p, e in acked.items() if e["sha256"] not in verified and not xet(e["sha256"])
        }
        assert not missing, ("acknowledged uploads missing from the store", missing)
        lfs_paths = {path for w in (1, 3) for path, _ in plans[w] if path.endswith(".bin")}
        assert {acked[p]["sha256"] for p in lfs_paths} <= verified  # the LFS workers' files are whole blobs
        print(f"object store: {checked} blobs verified by sha256, {temps} temp objects left (gc sweeps them)")
    # the full snapshot through the balancer: 0 corrupt files
    snap = Path(snapshot_download(rid, cache_dir=tmp_path / "snap", token=live_server.alice))
    for path, (size, sha) in by_path.items():
        assert (snap / path).stat().st_size == size and _sha256(snap / path) == sha, path
