"""Run one huggingface_hub operation in a fresh process (HF_HUB_DISABLE_XET is read at import time).

python _hf_client.py upload ENDPOINT TOKEN REPO LOCAL_PATH PATH_IN_REPO
python _hf_client.py upload_folder ENDPOINT TOKEN REPO FOLDER
python _hf_client.py download ENDPOINT TOKEN REPO PATH_IN_REPO   -> prints sha256 and whether Xet was used
python _hf_client.py snapshot ENDPOINT TOKEN REPO                -> prints {path: sha256} as JSON
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path


def sha256_file(p: str | Path) -> str:
    h = hashlib.sha256()
    with open(p, "rb") as f:
        while chunk := f.read(8 << 20):
            h.update(chunk)
    return h.hexdigest()


def main() -> None:
    op, endpoint, token, repo, *rest = sys.argv[1:]
    os.environ["HF_ENDPOINT"] = endpoint
    from huggingface_hub import HfApi, constants, hf_hub_download, snapshot_download

    api = HfApi(endpoint=endpoint, token=token)
    if op == "upload":
        local, in_repo = rest
        info = api.upload_file(path_or_fileobj=local, path_in_repo=in_repo, repo_id=repo)
        print(json.dumps({"commit": info.oid, "xet_disabled": constants.HF_HUB_DISABLE_XET}))
    elif op == "upload_folder":
        (folder,) = rest
        info = api.upload_folder(folder_path=folder, repo_id=repo)
        print(json.dumps({"commit": info.oid, "xet_disabled": constants.HF_HUB_DISABLE_XET}))
    elif op == "download":
        (in_repo,) = rest
        p = hf_hub_download(repo, in_repo, endpoint=endpoint, token=token)
        print(json.dumps({"sha256": sha256_file(p), "xet_disabled": constants.HF_HUB_DISABLE_XET}))
    elif op == "snapshot":
        d = Path(snapshot_download(repo, endpoint=endpoint, token=token))
        out = {str(p.relative_to(d)): sha256_file(p) for p in sorted(d.rglob("*")) if p.is_file()}
        print(json.dumps(out))
    else:
        raise SystemExit(f"unknown op {op}")


if __name__ == "__main__":
    main()
