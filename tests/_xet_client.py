"""The official client in a fresh process, Xet on or off, and small model/data files for upload tests.

tests/conftest.py sets HF_HUB_DISABLE_XET=1 for the session and huggingface_hub reads it at import time, so
a Xet upload or download by the default client (hf_xet) runs tests/e2e/_hf_client.py in a subprocess:
``hf_client(hub, cache, token, True, "upload", repo, local, path_in_repo)``.
"""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

CLIENT = str(Path(__file__).parent / "e2e" / "_hf_client.py")


def run_hf_client(
    url: str,
    token: str,
    cache: Path,
    xet: bool,
    *args: str,
    timeout: float = 300,
    env_extra: dict[str, str] | None = None,
    script: str = CLIENT,
) -> subprocess.CompletedProcess[str]:
    """`script OP URL TOKEN ARGS...` with its own hub/Xet caches under `cache`; not checked."""
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_DISABLE_XET"}
    env.update({"HF_HUB_CACHE": str(cache), "HF_XET_CACHE": str(cache / "xet"), "HF_ENDPOINT": url})
    env.update(env_extra or {})
    if not xet:
        env["HF_HUB_DISABLE_XET"] = "1"
    op, *rest = args
    return subprocess.run(
        [sys.executable, script, op, url, token, *rest],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def hf_client(
    hub: Any, cache: Path, token: str, xet: bool, *args: str, timeout: float = 300, script: str = CLIENT
) -> Any:
    """One huggingface_hub operation in a fresh process; the JSON it printed last (AssertionError if it failed)."""
    out = run_hf_client(hub.url, token, cache, xet, *args, timeout=timeout, script=script)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def safetensors_bytes(tensors: dict[str, tuple[str, list[int]]], tag: str = "") -> bytes:
    """A valid safetensors file of zeros: {name: (dtype, shape)}; `tag` goes into the metadata."""
    sizes = {"F32": 4, "F16": 2, "I64": 8}
    header: dict[str, Any] = {"__metadata__": {"format": "pt", **({"tag": tag} if tag else {})}}
    offset = 0
    for name, (dtype, shape) in tensors.items():
        n = sizes[dtype]
        for d in shape:
            n *= d
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + b"\0" * offset


def parquet_bytes(n: int, tag: str = "") -> bytes:
    """A parquet file of `n` rows (id, text), 40 per row group; `tag`: same rows, different file bytes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    tbl = pa.table({"id": list(range(n)), "text": [f"parquet row {i}" for i in range(n)]})
    if tag:
        tbl = tbl.replace_schema_metadata({"modelyard-test": tag})
    pq.write_table(tbl, buf, row_group_size=40)
    return buf.getvalue()


def xet_upload(hub: Any, tmp: Path, repo: str, data: bytes, path_in_repo: str = "w.bin") -> Any:
    """Upload `data` to `repo` as alice with the default client (Xet on) in a fresh process; its JSON."""
    local = tmp / "upload.bin"
    local.write_bytes(data)
    res = hf_client(hub, tmp / "c", hub.alice, True, "upload", repo, str(local), path_in_repo)
    assert res["xet_disabled"] is False
    return res
