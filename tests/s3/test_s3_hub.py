"""Issue 17: a hub whose blobs live in an S3 bucket (moto_server), driven by the official client.

Both upload paths (the default client through Xet, and LFS with HF_HUB_DISABLE_XET=1) store their bytes in the
bucket and nothing big on the local disk; downloads, snapshots, LFS multipart (parts PUT to one replica and
completed on another), the dataset viewer and garbage collection work on S3.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from huggingface_hub import hf_hub_download, snapshot_download

from _transfer import assert_arrived
from _xet_client import parquet_bytes
from conftest import start_server
from modelyard.errors import Unavailable
from modelyard.hub.gc import sweep
from modelyard.storage import Sweepable, put_bytes
from modelyard.storage.s3 import S3BlobStore

MB = 1024 * 1024


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def bucket_keys(hub: Any) -> list[str]:
    store = hub.services.store
    assert isinstance(store, S3BlobStore)
    pages = store.client.get_paginator("list_objects_v2").paginate(Bucket=store.bucket)
    return [o["Key"] for p in pages for o in p.get("Contents", [])]


def local_bytes(hub: Any) -> int:
    """Bytes of the hub's data directory outside its database (what stays on the local disk)."""
    root = Path(hub.settings.data_dir)
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and ".db" not in p.name)


def test_the_hub_stores_in_the_bucket(s3_hub: Any) -> None:
    store = s3_hub.services.store
    assert isinstance(store, S3BlobStore) and store.prefix == "blobs"
    info = put_bytes(store, b"where do I go")
    key = f"blobs/blobs/{info.sha256[:2]}/{info.sha256[2:4]}/{info.sha256}"
    assert key in bucket_keys(s3_hub)


def test_upload_folder_and_download_exact_bytes(s3_hub: Any, tmp_path: Path, transfer: str) -> None:
    hub = s3_hub
    api = hub.api()
    rid = f"alice/s3-folder-{transfer}"
    api.create_repo(rid, exist_ok=True)
    folder = tmp_path / "up"
    (folder / "sub").mkdir(parents=True)
    big = os.urandom(3 * MB + 17)
    files = {"weights.bin": big, "sub/data.bin": os.urandom(200_000), "config.json": b'{"a": 1}\n'}
    for name, data in files.items():
        (folder / name).write_bytes(data)
    before = local_bytes(hub)
    api.upload_folder(folder_path=folder, repo_id=rid)
    assert local_bytes(hub) - before < len(big), "the upload's bytes were kept on the local disk"
    assert_arrived(hub, sha(big), transfer)
    for name, data in files.items():
        got = hf_hub_download(rid, name, cache_dir=tmp_path / "cache", endpoint=hub.url, token=hub.alice)
        assert Path(got).read_bytes() == data, name
    snap = snapshot_download(rid, cache_dir=tmp_path / "snap", endpoint=hub.url, token=hub.alice)
    for name, data in files.items():
        assert (Path(snap) / name).read_bytes() == data
    # ranges through the hub (read from the bucket)
    r = httpx.get(
        f"{hub.url}/{rid}/resolve/main/weights.bin", headers={**hub.auth(), "range": "bytes=1048570-1048580"}
    )
    assert r.status_code == 206 and r.content == big[1048570:1048581]


@pytest.mark.parametrize("transfer", ["lfs"], indirect=True)  # multipart is the LFS path; Xet has no parts
def test_lfs_multipart_through_client(s3_hub: Any, tmp_path: Path, transfer: str) -> None:
    hub = s3_hub
    api = hub.api()
    rid = "alice/s3-multipart"
    api.create_repo(rid, exist_ok=True)
    data = os.urandom(11 * MB + 4321)  # 3 parts of 5 MiB (the last one short)
    (tmp_path / "big.bin").write_bytes(data)
    api.upload_file(path_or_fileobj=tmp_path / "big.bin", path_in_repo="big.bin", repo_id=rid)
    store = hub.services.store
    assert store.exists(sha(data))
    assert [n for n, _ in store.iter_temp()] == [], "parts or uploads left in the bucket"
    got = hf_hub_download(rid, "big.bin", cache_dir=tmp_path / "cache", endpoint=hub.url, token=hub.alice)
    assert hashlib.sha256(Path(got).read_bytes()).hexdigest() == sha(data)


def test_lfs_parts_on_one_replica_completed_on_another(s3_hub: Any, tmp_path: Path) -> None:
    """Two hubs on the same database and bucket: parts go to either, the completion to the second."""
    a = s3_hub
    overrides = {
        k: getattr(a.settings, k)
        for k in ("blob_url", "s3_endpoint_url", "s3_region", "s3_access_key_id", "s3_addressing_style")
    }
    overrides["s3_secret_access_key"] = str(a.settings.s3_secret_access_key)
    with start_server(
        Path(a.settings.data_dir), multipart_threshold=6 * MB, multipart_chunk_size=5 * MB, **overrides
    ) as b:
        rid = "alice/s3-replicas"
        a.api().create_repo(rid, exist_ok=True)
        data = os.urandom(10 * MB + 99)
        oid, size = sha(data), len(data)
        r = httpx.post(
            f"{a.url}/{rid}.git/info/lfs/objects/batch",
            json={"operation": "upload", "objects": [{"oid": oid, "size": size}], "ref": {"name": "main"}},
            headers=a.auth(),
        )
        obj = r.json()["objects"][0]
        upload = obj["actions"]["upload"]
        header = upload["header"]
        assert sorted(k for k in header if k != "chunk_size") == ["1", "2", "3"]
        chunk = int(header["chunk_size"])
        etags = []
        for i in (1, 2, 3):
            url = header[str(i)]
            if i == 2:
                url = url.replace(a.url, b.url)  # this part goes to the other replica
            part = data[(i - 1) * chunk : i * chunk]
            resp = httpx.put(url, content=part, timeout=60)
            assert resp.status_code == 200, resp.text
            etags.append(resp.headers["etag"])
        assert not a.services.store.exists(oid)
        # a completion missing nothing, sent to the replica that received only one part
        done = httpx.post(
            upload["href"].replace(a.url, b.url),
            json={"oid": oid, "parts": [{"partNumber": i, "etag": e} for i, e in enumerate(etags, 1)]},
            timeout=60,
        )
        assert done.status_code == 200, done.text
        assert a.services.store.exists(oid) and b.services.store.exists(oid)
        assert b"".join(a.services.content.iter_range(oid)) == data
        assert [n for n, _ in a.services.store.iter_temp()] == []


def test_lfs_completion_without_all_parts_publishes_nothing(s3_hub: Any) -> None:
    hub = s3_hub
    rid = "alice/s3-missing-part"
    hub.api().create_repo(rid, exist_ok=True)
    data = os.urandom(6 * MB + 1)
    oid = sha(data)
    r = httpx.post(
        f"{hub.url}/{rid}.git/info/lfs/objects/batch",
        json={"operation": "upload", "objects": [{"oid": oid, "size": len(data)}], "ref": {"name": "main"}},
        headers=hub.auth(),
    )
    upload = r.json()["objects"][0]["actions"]["upload"]
    assert httpx.put(upload["header"]["1"], content=data[: 5 * MB], timeout=60).status_code == 200
    done = httpx.post(upload["href"], json={"oid": oid, "parts": [{"partNumber": 1}, {"partNumber": 2}]})
    assert done.status_code == 400
    assert not hub.services.store.exists(oid)
    # a part of the wrong size is refused and not kept
    bad = httpx.put(upload["header"]["2"], content=b"x" * 10, timeout=60)
    assert bad.status_code == 400
    names = [n for n, _ in hub.services.store.iter_temp() if oid in n]
    assert len(names) == 1 and names[0].endswith(f"-{oid}-{len(data)}-00001")  # only part 1
    for n in names:
        hub.services.store.delete_temp(n)


def test_dataset_viewer_reads_parquet_from_the_bucket(s3_hub: Any, tmp_path: Path, transfer: str) -> None:
    hub = s3_hub
    api = hub.api()
    rid = f"alice/s3-viewer-{transfer}"
    api.create_repo(rid, repo_type="dataset", exist_ok=True)
    data = parquet_bytes(100, tag=transfer)
    api.upload_file(path_or_fileobj=data, path_in_repo="data/train.parquet", repo_id=rid, repo_type="dataset")
    assert_arrived(hub, sha(data), transfer)
    page = httpx.get(
        f"{hub.url}/datasets/{rid}/viewer",
        params={"split": "train", "file": "data/train.parquet", "offset": "50"},
        headers=hub.auth(),
    )
    assert page.status_code == 200
    assert "Cannot read" not in page.text
    assert "parquet row 50" in page.text and "parquet row 99" in page.text


def test_gc_on_s3(hub_factory: Any, s3_server: Any, tmp_path: Path) -> None:
    hub = hub_factory(**s3_server.settings())
    svc = hub.services
    api = hub.api()
    rid = "alice/s3-gc"
    api.create_repo(rid)
    kept = os.urandom(300_000)
    with_xet = os.urandom(400_000)
    from _transfer import transfer_mode

    with transfer_mode("lfs"):
        api.upload_file(path_or_fileobj=kept, path_in_repo="kept.bin", repo_id=rid)
    with transfer_mode("xet"):
        api.upload_file(path_or_fileobj=with_xet, path_in_repo="xet.bin", repo_id=rid)
    orphan = put_bytes(svc.store, b"nobody names me").sha256
    w = svc.store.writer()
    w.write(os.urandom(svc.store.part_size + 1))  # an upload in flight: a multipart upload in the bucket
    assert isinstance(svc.store, Sweepable) and len(list(svc.store.iter_temp())) == 1

    young = sweep(svc.files, svc.xet, min_age_s=3600)
    assert young.deleted == 0 and young.temp_deleted == 0 and svc.store.exists(orphan)
    dry = sweep(svc.files, svc.xet, min_age_s=0, dry_run=True)
    assert dry.deleted == 1 and svc.store.exists(orphan)
    report = sweep(svc.files, svc.xet, min_age_s=0)
    assert report.deleted == 1 and report.freed_bytes == len(b"nobody names me") and report.temp_deleted == 1
    assert not svc.store.exists(orphan) and list(svc.store.iter_temp()) == []
    w.abort()  # its multipart upload is gone already: harmless
    for name, data in (("kept.bin", kept), ("xet.bin", with_xet)):
        got = hf_hub_download(rid, name, cache_dir=tmp_path / "c", endpoint=hub.url, token=hub.alice)
        assert Path(got).read_bytes() == data
    # a blob stored again is fresh: an upload that finds it stored refreshes its LastModified
    key = svc.store._key(sha(kept))
    before = svc.store.client.head_object(Bucket=svc.store.bucket, Key=key)["LastModified"]
    time.sleep(1.1)
    put_bytes(svc.store, kept)
    after = svc.store.client.head_object(Bucket=svc.store.bucket, Key=key)["LastModified"]
    assert after > before


def test_hostile_keys_are_absent(s3_hub: Any) -> None:
    hub = s3_hub
    store = hub.services.store
    put_bytes(store, b"present")
    for key in ("../blobs/x", "blobs/" + "0" * 64, "0" * 64 + "/../x", "%2e%2e", "A" * 64):
        assert not store.exists(key)
    r = httpx.get(f"{hub.url}/lfs-objects/model/alice/s3-folder-lfs/{sha(b'present')}", headers=hub.auth())
    assert r.status_code == 404  # stored, but no repo of alice names it
    with pytest.raises(ValueError):
        store.delete_temp("../blobs")
    with pytest.raises(ValueError):
        store.delete_temp("a/b")


def test_missing_bucket_is_503_not_500(hub_factory: Any, s3_server: Any) -> None:
    settings = s3_server.settings()
    settings["blob_url"] = "s3://no-such-bucket-here/blobs"
    hub = hub_factory(**settings)
    r = httpx.post(
        f"{hub.url}/api/repos/create", json={"name": "nowhere", "type": "model"}, headers=hub.auth()
    )
    assert r.status_code == 503, r.text  # the new repo's .gitattributes cannot be stored
    assert "NoSuchBucket" in r.text
    with pytest.raises(Unavailable):
        list(hub.services.store.iter_blobs())


@pytest.mark.parametrize("sizes", [[5 * MB, 5 * MB, 7], [2 * MB, 2 * MB, 3], [123]])
def test_concat_temp(s3_server: Any, sizes: list[int]) -> None:
    """LFS parts joined into one blob: server-side (parts of at least 5 MiB) or read and written by the hub."""
    from modelyard.errors import BadChecksum, BlobNotFound
    from modelyard.storage import S3Options, open_store

    srv = s3_server
    store = open_store(
        srv.settings()["blob_url"],
        s3=S3Options(srv.endpoint_url, srv.region, srv.access_key_id, srv.secret_access_key, "path"),
    )
    assert isinstance(store, S3BlobStore)
    parts = [os.urandom(n) for n in sizes]
    names = [f"mp-1-test-{i:05d}" for i in range(len(parts))]
    for name, data in zip(names, parts, strict=True):
        w = store.temp_writer(name, max_size=len(data))
        w.write(data)
        w.commit()
        assert store.temp_size(name) == len(data)
    whole = b"".join(parts)
    with pytest.raises(BadChecksum):
        store.concat_temp(names, sha(b"something else"), len(whole))
    with pytest.raises(BadChecksum):
        store.concat_temp(names, sha(whole), len(whole) + 1)
    assert not store.exists(sha(whole))
    with pytest.raises(BlobNotFound):
        store.concat_temp([*names, "mp-1-test-99999"], sha(whole))
    info = store.concat_temp(names, sha(whole), len(whole))
    assert (info.sha256, info.size) == (sha(whole), len(whole))
    assert b"".join(store.open_range(info.sha256)) == whole
    assert store.concat_temp(names, sha(whole)) == info  # again: stored once
    for name in names:
        store.delete_temp(name)
    assert list(store.iter_temp()) == [] and [k for k, _ in store.iter_blobs()] == [info.sha256]


def test_blob_urls(s3_server: Any) -> None:
    from modelyard.errors import ConfigError
    from modelyard.storage import S3Options, open_store
    from modelyard.storage.s3 import parse_url

    assert parse_url("s3://bucket") == ("bucket", "")
    assert parse_url("s3://bucket/a/b/") == ("bucket", "a/b")
    for bad in ("s3://", "s3://B", "s3://bucket/../x", "s3://bucket/a//b", "s3:/bucket", "file:///x"):
        with pytest.raises(ConfigError):
            parse_url(bad)
    with pytest.raises(ConfigError):
        open_store("s3://bucket", s3=S3Options(addressing_style="sideways"))
    # a store at the bucket's root
    srv = s3_server
    bucket = srv.create_bucket()
    store = open_store(
        f"s3://{bucket}",
        s3=S3Options(srv.endpoint_url, srv.region, srv.access_key_id, srv.secret_access_key, "path"),
    )
    info = put_bytes(store, b"at the root")
    keys = [o["Key"] for o in srv.client().list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == [f"blobs/{info.sha256[:2]}/{info.sha256[2:4]}/{info.sha256}"]


def test_regular_file_resolve_without_a_store_round_trip_and_a_lost_blob(s3_hub: Any) -> None:
    """A regular file's HEAD answers from the database alone (the commit names a blob stored before it); if the
    bucket lost the object, the GET is a clean BlobNotFound error before any header, never a 500."""
    api = s3_hub.api()
    rid = "alice/s3-lost-blob"
    api.create_repo(rid, exist_ok=True)
    data = b"a small regular file\n" * 10
    api.upload_file(path_or_fileobj=data, path_in_repo="config.json", repo_id=rid)
    store = s3_hub.services.store
    url = f"{s3_hub.url}/{rid}/resolve/main/config.json"
    calls: list[str] = []
    store.client.meta.events.register("before-call.s3.*", lambda model, **_: calls.append(model.name))
    try:
        r = httpx.head(url, headers=s3_hub.auth())
        assert r.status_code == 200 and r.headers["content-length"] == str(len(data))
        assert calls == [], calls  # no HeadObject for a HEAD
        assert httpx.get(url, headers=s3_hub.auth()).content == data
        store.delete(sha(data))  # the bucket loses it (an operator's mistake, a lifecycle rule)
        r = httpx.get(url, headers=s3_hub.auth())
        assert r.status_code == 404 and r.headers["x-error-code"] == "BlobNotFound", r.text
    finally:
        store.client.meta.events.unregister("before-call.s3.*")
