"""Issue 17: downloads by presigned redirect (``blob_redirect``) on an S3 store, and who never gets a Location.

The resolve route answers 302 to a presigned GET URL of the bucket for an LFS file stored as a whole blob, after
every permission and gating check, with the metadata headers huggingface_hub reads from the redirect itself. The
official client follows it (without the Authorization header: another origin) and gets the exact bytes.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url, snapshot_download

from _transfer import transfer_mode

MB = 1024 * 1024


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def private_repo(redirect_hub: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """alice's private model: an LFS file (a whole blob in S3), a Xet-only file and a small regular file."""
    hub = redirect_hub
    api = hub.api()
    rid = "alice/s3-private"
    api.create_repo(rid, private=True)
    big = os.urandom(2 * MB + 5)
    xet = os.urandom(MB + 3)
    with transfer_mode("lfs"):
        api.upload_file(path_or_fileobj=big, path_in_repo="weights.bin", repo_id=rid)
    with transfer_mode("xet"):
        api.upload_file(path_or_fileobj=xet, path_in_repo="xet.bin", repo_id=rid)
    api.upload_file(path_or_fileobj=b'{"model_type": "none"}\n', path_in_repo="config.json", repo_id=rid)
    commit = api.model_info(rid).sha
    return {"rid": rid, "big": big, "xet": xet, "commit": commit}


def signature_of(url: str, method: str, key_id: str, secret: str, region: str) -> str:
    """The SigV4 query signature S3 expects for `method` on presigned `url` (its own X-Amz-Signature aside)."""
    from urllib.parse import parse_qsl, quote, urlencode

    from botocore.auth import S3SigV4QueryAuth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    p = urlsplit(url)
    q = [(k, v) for k, v in parse_qsl(p.query, keep_blank_values=True) if k != "X-Amz-Signature"]
    req = AWSRequest(method=method, url=f"{p.scheme}://{p.netloc}{p.path}?{urlencode(q, quote_via=quote)}")
    req.context["timestamp"] = dict(q)["X-Amz-Date"]
    auth = S3SigV4QueryAuth(Credentials(key_id, secret), "s3", region, expires=int(dict(q)["X-Amz-Expires"]))
    return str(auth.signature(auth.string_to_sign(req, auth.canonical_request(req)), req))


def resolve(hub: Any, rid: str, path: str) -> str:
    return f"{hub.url}/{rid}/resolve/main/{path}"


def test_redirect_carries_the_hub_headers(redirect_hub: Any, private_repo: dict[str, Any]) -> None:
    hub, rid, big = redirect_hub, private_repo["rid"], private_repo["big"]
    s3 = hub.settings.s3_endpoint_url
    for method in ("HEAD", "GET"):
        r = httpx.request(method, resolve(hub, rid, "weights.bin"), headers=hub.auth())
        assert r.status_code == 302, (method, r.status_code, r.text)
        loc = r.headers["location"]
        assert loc.startswith(s3 + "/")
        assert r.headers["x-repo-commit"] == private_repo["commit"]
        assert r.headers["x-linked-etag"] == f'"{sha(big)}"' == r.headers["etag"]
        assert r.headers["x-linked-size"] == str(len(big))
        assert "no-store" in r.headers["cache-control"]
    # the presigned URL names this one blob, and nothing but a GET of it
    parts = urlsplit(loc)
    bucket, prefix = hub.services.store.bucket, hub.services.store.prefix
    assert parts.path == f"/{bucket}/{prefix}/blobs/{sha(big)[:2]}/{sha(big)[2:4]}/{sha(big)}"
    q = parse_qs(parts.query)
    assert q["X-Amz-Expires"] == ["600"]
    assert "weights.bin" in q["response-content-disposition"][0]
    got = httpx.get(loc)  # no Authorization: the URL is the credential
    assert got.status_code == 200 and got.content == big
    assert "attachment" in got.headers["content-disposition"]
    ranged = httpx.get(loc, headers={"range": "bytes=10-19"})
    assert ranged.status_code == 206 and ranged.content == big[10:20]
    # the SigV4 signature covers the method, the key and the response headers (moto does not check signatures,
    # so they are recomputed here as S3 does): the URL is worth a GET of this blob only
    creds = (hub.settings.s3_access_key_id, str(hub.settings.s3_secret_access_key), hub.settings.s3_region)
    assert signature_of(loc, "GET", *creds) == q["X-Amz-Signature"][0]
    assert signature_of(loc, "PUT", *creds) != q["X-Amz-Signature"][0]
    assert signature_of(loc, "DELETE", *creds) != q["X-Amz-Signature"][0]
    other = loc.replace(sha(big), sha(b"another blob"))
    assert signature_of(other, "GET", *creds) != q["X-Amz-Signature"][0]
    assert signature_of(loc.replace("weights.bin", "evil.html"), "GET", *creds) != q["X-Amz-Signature"][0]


def test_official_client_follows_the_redirect(
    redirect_hub: Any, private_repo: dict[str, Any], tmp_path: Path
) -> None:
    hub, rid = redirect_hub, private_repo["rid"]
    url = hf_hub_url(rid, "weights.bin", endpoint=hub.url)
    meta = get_hf_file_metadata(url, token=hub.alice)  # from_pretrained's HEAD: metadata from the 302 itself
    assert meta.commit_hash == private_repo["commit"]
    assert meta.etag == sha(private_repo["big"]) and meta.size == len(private_repo["big"])
    assert meta.location.startswith(hub.settings.s3_endpoint_url)
    for mode in ("lfs", "xet"):
        with transfer_mode(mode):
            got = hf_hub_download(
                rid, "weights.bin", cache_dir=tmp_path / mode, endpoint=hub.url, token=hub.alice_read
            )
            assert Path(got).read_bytes() == private_repo["big"]
            snap = snapshot_download(
                rid, cache_dir=tmp_path / f"snap-{mode}", endpoint=hub.url, token=hub.alice
            )
            assert (Path(snap) / "weights.bin").read_bytes() == private_repo["big"]
            assert (Path(snap) / "xet.bin").read_bytes() == private_repo["xet"]


def test_xet_only_and_regular_files_are_served_by_the_hub(
    redirect_hub: Any, private_repo: dict[str, Any]
) -> None:
    hub, rid = redirect_hub, private_repo["rid"]
    r = httpx.get(resolve(hub, rid, "xet.bin"), headers=hub.auth())
    assert r.status_code == 200 and "location" not in r.headers
    assert r.content == private_repo["xet"]
    r = httpx.get(resolve(hub, rid, "config.json"), headers=hub.auth())
    assert r.status_code == 200 and "location" not in r.headers and b"model_type" in r.content
    # a range of a redirected file: the redirect, the client sends its Range to the bucket
    r = httpx.get(resolve(hub, rid, "weights.bin"), headers={**hub.auth(), "range": "bytes=0-9"})
    assert r.status_code == 302
    r = httpx.get(
        resolve(hub, rid, "weights.bin"), headers={**hub.auth(), "range": "bytes=0-9"}, follow_redirects=True
    )
    assert r.status_code == 206 and r.content == private_repo["big"][:10]


def test_no_location_for_those_who_may_not_read(redirect_hub: Any, private_repo: dict[str, Any]) -> None:
    hub, rid = redirect_hub, private_repo["rid"]
    for method in ("HEAD", "GET"):
        anon = httpx.request(method, resolve(hub, rid, "weights.bin"))
        assert anon.status_code in (401, 404) and "location" not in anon.headers
        bob = httpx.request(method, resolve(hub, rid, "weights.bin"), headers=hub.auth(hub.bob))
        assert bob.status_code == 404 and "location" not in bob.headers
        forged = httpx.request(method, resolve(hub, rid, "weights.bin"), headers=hub.auth("hf_" + "x" * 34))
        assert forged.status_code in (401, 404) and "location" not in forged.headers
        assert "X-Amz" not in anon.text + bob.text + forged.text
    # the LFS download route streams (no redirect) and keeps its own checks
    oid = sha(private_repo["big"])
    r = httpx.get(f"{hub.url}/lfs-objects/model/{rid}/{oid}", headers=hub.auth(hub.bob))
    assert r.status_code == 404 and "location" not in r.headers


def test_gated_repo_gives_no_location_without_access(redirect_hub: Any, tmp_path: Path) -> None:
    hub = redirect_hub
    api = hub.api()
    rid = "alice/s3-gated"
    api.create_repo(rid)
    data = os.urandom(MB)
    with transfer_mode("lfs"):
        api.upload_file(path_or_fileobj=data, path_in_repo="weights.bin", repo_id=rid)
    api.update_repo_settings(rid, gated="manual")
    for method in ("HEAD", "GET"):
        bob = httpx.request(method, resolve(hub, rid, "weights.bin"), headers=hub.auth(hub.bob))
        assert bob.status_code == 403 and "location" not in bob.headers
        anon = httpx.request(method, resolve(hub, rid, "weights.bin"))
        assert anon.status_code == 401 and "location" not in anon.headers
    own = httpx.get(resolve(hub, rid, "weights.bin"), headers=hub.auth())
    assert own.status_code == 302
    got = hf_hub_download(rid, "weights.bin", cache_dir=tmp_path / "c", endpoint=hub.url, token=hub.alice)
    assert Path(got).read_bytes() == data


def test_hub_without_redirect_streams(s3_hub: Any, tmp_path: Path) -> None:
    hub = s3_hub
    api = hub.api()
    rid = "alice/s3-no-redirect"
    api.create_repo(rid, exist_ok=True)
    data = os.urandom(MB + 1)
    with transfer_mode("lfs"):
        api.upload_file(path_or_fileobj=data, path_in_repo="w.bin", repo_id=rid)
    r = httpx.get(resolve(hub, rid, "w.bin"), headers=hub.auth())
    assert r.status_code == 200 and r.content == data and "location" not in r.headers
    h = httpx.head(resolve(hub, rid, "w.bin"), headers=hub.auth())
    assert h.status_code == 200 and h.headers["content-length"] == str(len(data))


def test_presigned_urls_name_the_public_endpoint(s3_server: Any) -> None:
    """``s3_public_endpoint_url``: clients reach the store at another address than the hub does."""
    from modelyard.errors import BlobNotFound
    from modelyard.storage import S3Options, open_store
    from modelyard.storage.s3 import S3BlobStore

    settings = s3_server.settings()
    opts = S3Options(
        s3_server.endpoint_url,
        s3_server.region,
        s3_server.access_key_id,
        s3_server.secret_access_key,
        "path",
        public_endpoint_url="https://s3.example.org",
    )
    store = open_store(settings["blob_url"], s3=opts)
    assert isinstance(store, S3BlobStore)
    key = sha(b"public")
    url = store.presigned_get(key, 60, 'dir/na"me é.bin', "application/octet-stream")
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc) == ("https", "s3.example.org")
    assert parts.path.endswith(f"/blobs/{key[:2]}/{key[2:4]}/{key}")
    q = parse_qs(parts.query)
    assert q["X-Amz-Expires"] == ["60"] and q["response-content-type"] == ["application/octet-stream"]
    disposition = q["response-content-disposition"][0]
    assert (
        disposition.startswith('attachment; filename="na_me _.bin"') and "na%22me%20%C3%A9.bin" in disposition
    )
    for bad in ("../etc/passwd", key.upper(), key + "/x", ""):
        with pytest.raises(BlobNotFound):
            store.presigned_get(bad, 60)


def test_content_origin_then_bucket(s3_server: Any, tmp_path_factory: pytest.TempPathFactory) -> None:
    """``content_url`` and ``blob_redirect``: the hub sends clients to its content origin (signed URL), which
    sends them on to the bucket (presigned URL); the official client gets the exact bytes."""
    import socket

    from conftest import start_server

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    content = f"http://localhost:{port}"
    settings = {**s3_server.settings(), "blob_redirect": True, "content_url": content}
    with start_server(tmp_path_factory.mktemp("split-s3"), sock=sock, **settings) as hub:
        rid = "alice/s3-split"
        api = hub.api()
        api.create_repo(rid, private=True)
        data = os.urandom(MB)
        with transfer_mode("lfs"):
            api.upload_file(path_or_fileobj=data, path_in_repo="w.bin", repo_id=rid)
        assert httpx.get(resolve(hub, rid, "w.bin")).status_code in (401, 404)
        first = httpx.get(resolve(hub, rid, "w.bin"), headers=hub.auth())
        assert first.status_code == 302 and first.headers["location"].startswith(content + "/")
        second = httpx.get(first.headers["location"])
        assert second.status_code == 302 and second.headers["location"].startswith(
            s3_server.endpoint_url + "/"
        )
        assert httpx.get(second.headers["location"]).content == data
        got = hf_hub_download(
            rid, "w.bin", cache_dir=tmp_path_factory.mktemp("c"), endpoint=hub.url, token=hub.alice
        )
        assert Path(got).read_bytes() == data
