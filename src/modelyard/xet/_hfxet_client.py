"""Drive the real hf_xet package the way huggingface_hub does; for tests and bench/ (dev tool, not API).

Run it in a subprocess with its own ``HF_HOME``/``HF_XET_CACHE`` so each run starts with an empty client cache:

  python -m modelyard.xet._hfxet_client upload <token_refresh_url> <file>...      -> JSON {"files": [{hash, sha256, size}], "metrics": {...}}
  python -m modelyard.xet._hfxet_client download <token_refresh_url> <hash> <size> <dest>
"""

from __future__ import annotations

import json
import os
import sys

import hf_xet

HEADERS = {"authorization": "Bearer " + os.environ.get("MODELYARD_TEST_HUB_TOKEN", "hub-test-token")}


def upload(refresh_url: str, paths: list[str]) -> None:
    session = hf_xet.XetSession()
    commit = session.new_upload_commit(token_refresh_url=refresh_url, token_refresh_headers=HEADERS)
    handles = [commit.start_upload_file(p, sha256=hf_xet.COMPUTE_SHA256) for p in paths]
    report = commit.wait_to_finish()
    out = []
    for h in handles:
        info = h.result().xet_info
        out.append({"hash": info.hash, "sha256": info.sha256, "size": info.file_size})
    m = report.dedup_metrics
    metrics = {k: getattr(m, k) for k in dir(m) if not k.startswith("_") and isinstance(getattr(m, k), int)}
    print(json.dumps({"files": out, "metrics": metrics}))


def download(refresh_url: str, file_hash: str, size: int, dest: str) -> None:
    session = hf_xet.XetSession()
    with session.new_file_download_group(
        token_refresh_url=refresh_url, token_refresh_headers=HEADERS
    ) as group:
        group.start_download_file(hf_xet.XetFileInfo(file_hash, size), dest)
    print(json.dumps({"ok": True}))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "upload":
        upload(sys.argv[2], sys.argv[3:])
    elif cmd == "download":
        download(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
    else:
        raise SystemExit(f"unknown command {cmd}")
