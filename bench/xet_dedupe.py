"""Xet dedupe benchmark: how many new bytes does the CAS store for a file that differs from a stored one
in a single region?

Runs a real CAS (XetService + CAS app + stand-in Hub token routes on uvicorn) and the real ``hf_xet``
client, each upload in a subprocess with an empty client cache so that dedupe must come from the server.

    python bench/xet_dedupe.py                 # 300 MB file, 1 MB region changed
    python bench/xet_dedupe.py --size-mb 64 --region-mb 1 --offset-mb 20
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

from modelyard.server.xet_standalone import StandaloneCas, make_service

MB = 1024 * 1024


def write_random(path: Path, size: int) -> None:
    with path.open("wb") as f:
        left = size
        while left:
            n = min(left, 16 * MB)
            f.write(os.urandom(n))
            left -= n


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(8 * MB):
            h.update(block)
    return h.hexdigest()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mb", type=int, default=300)
    ap.add_argument("--region-mb", type=int, default=1)
    ap.add_argument(
        "--offset-mb", type=int, default=None, help="start of the changed region (default: middle)"
    )
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args(argv)

    size, region = args.size_mb * MB, args.region_mb * MB
    offset = (args.offset_mb * MB) if args.offset_mb is not None else (size - region) // 2
    root = args.workdir or Path(tempfile.mkdtemp(prefix="xet-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    cas = StandaloneCas(make_service(root / "server"), root).start()
    try:
        a, b = root / "a.bin", root / "b.bin"
        write_random(a, size)
        with a.open("rb") as src, b.open("wb") as dst:
            while block := src.read(16 * MB):
                dst.write(block)
        with b.open("r+b") as f:
            f.seek(offset)
            f.write(os.urandom(region))

        t0 = time.monotonic()
        cas.upload(a, home="client-a")
        t_a = time.monotonic() - t0
        s1 = cas.svc.stats()
        t0 = time.monotonic()
        res = cas.upload(b, home="client-b")
        t_b = time.monotonic() - t0
        s2 = cas.svc.stats()

        info = res["files"][0]  # type: ignore[index]
        out = root / "b.download"
        t0 = time.monotonic()
        cas.download(info["hash"], size, out, home="client-c")
        t_d = time.monotonic() - t0
        identical = sha256_file(out) == sha256_file(b)

        new_stored = s2.stored_bytes - s1.stored_bytes
        new_unpacked = s2.unpacked_bytes - s1.unpacked_bytes
        metrics = res["metrics"]  # type: ignore[index]
        print(
            f"file size                 : {size / MB:.1f} MiB, changed region {region / MB:.1f} MiB at {offset / MB:.1f} MiB"
        )
        print(
            f"first upload              : {s1.stored_bytes / MB:.2f} MiB stored in {s1.xorbs} xorbs ({t_a:.1f}s)"
        )
        print(
            f"second upload, new stored : {new_stored / MB:.2f} MiB ({new_unpacked / MB:.2f} MiB raw) ({t_b:.1f}s)"
        )
        print(f"dedupe ratio              : {new_stored / size:.2%} new bytes / file size")
        print(f"client dedupe metrics     : deduped {metrics['deduped_bytes'] / MB:.1f} MiB, "
              f"via global dedupe {metrics['deduped_bytes_by_global_dedup'] / MB:.1f} MiB")  # fmt: skip
        print(f"download (hf_xet)         : byte-identical={identical} ({t_d:.1f}s)")
        ok = identical and new_stored < 0.10 * size
        print("RESULT: PASS" if ok else "RESULT: FAIL")
        return 0 if ok else 1
    finally:
        cas.stop()


if __name__ == "__main__":
    sys.exit(main())
