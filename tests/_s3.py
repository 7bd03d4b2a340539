"""An S3 API server for the tests (issue 17): ``moto_server`` started by the tests, one bucket per hub.

Owned by the S3 helper. API the other test modules use:
- ``start_s3_server(tmp: Path) -> S3Server`` (``S3Server.endpoint_url``, ``S3Server.create_bucket(name=None) -> str``,
  ``S3Server.client()``, ``S3Server.settings(bucket, prefix="blobs") -> dict``, ``S3Server.stop()``).
- ``blob_overrides(data_dir: Path) -> dict[str, Any]``: Settings overrides for one hub, ``{}`` unless the suite
  runs on S3 (``MODELYARD_TEST_BLOBS=s3``), then ``blob_url = s3://<fresh bucket>/blobs`` and the s3_* settings.
- ``session_s3_server(tmp) -> S3Server``: the one moto server of this test process (started on first use, stopped
  at exit).
- fixtures (registered by tests/conftest.py): ``s3_server`` (session; the same server as ``session_s3_server``).

moto keeps the objects in memory: keep S3 test data small (a few tens of MiB).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ACCESS_KEY = "modelyard-test"
SECRET_KEY = "modelyard-test-secret"
REGION = "us-east-1"


def _moto_binary() -> str:
    here = Path(sys.executable).parent / "moto_server"
    if here.exists():
        return str(here)
    repo = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "moto_server"
    return str(repo)


def _die_with_parent() -> None:
    """In the child: SIGTERM when the test process dies, even killed (Linux prctl PR_SET_PDEATHSIG)."""
    import ctypes
    import signal

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class S3Server:
    """A ``moto_server`` subprocess on 127.0.0.1 (path-style addressing, any credentials)."""

    def __init__(self, proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.proc = proc
        self.port = port
        self.log = log
        self.endpoint_url = f"http://127.0.0.1:{port}"
        self.access_key_id = ACCESS_KEY
        self.secret_access_key = SECRET_KEY
        self.region = REGION

    def client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"),
        )

    def create_bucket(self, name: str | None = None) -> str:
        name = name or f"modelyard-{uuid.uuid4().hex[:16]}"
        self.client().create_bucket(Bucket=name)
        return name

    def settings(self, bucket: str | None = None, prefix: str = "blobs") -> dict[str, Any]:
        """Settings overrides for a hub storing its blobs in ``bucket`` (a fresh one by default)."""
        bucket = bucket or self.create_bucket()
        url = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
        return {
            "blob_url": url,
            "s3_endpoint_url": self.endpoint_url,
            "s3_region": self.region,
            "s3_access_key_id": self.access_key_id,
            "s3_secret_access_key": self.secret_access_key,
            "s3_addressing_style": "path",
        }

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def start_s3_server(tmp: Path) -> S3Server:
    """Start ``moto_server -H 127.0.0.1 -p <free port>``; returns once it answers HTTP. Logs in ``tmp``."""
    tmp.mkdir(parents=True, exist_ok=True)
    last: Exception | None = None
    for _attempt in range(3):  # a free port may be taken between the probe and moto's bind
        port = _free_port()
        log = tmp / f"moto-{port}.log"
        env = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")}
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [_moto_binary(), "-H", "127.0.0.1", "-p", str(port)],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        server = S3Server(proc, port, log)
        deadline = time.monotonic() + 30
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                last = RuntimeError(
                    f"moto_server exited ({proc.returncode}): {log.read_text(errors='replace')[-2000:]}"
                )
                break
            try:
                with opener.open(f"{server.endpoint_url}/", timeout=2) as resp:
                    resp.read()
                return server
            except urllib.error.HTTPError:
                return server  # it answers
            except OSError as exc:
                last = exc
                time.sleep(0.1)
        server.stop()
    raise RuntimeError(f"moto_server did not start: {last}")


_LOCK = threading.Lock()
_SESSION: S3Server | None = None


def session_s3_server(tmp: Path | None = None) -> S3Server:
    """The one moto server of this process, started on first use (logs in ``tmp`` or a temp dir)."""
    global _SESSION
    with _LOCK:
        if _SESSION is None or not _SESSION.alive():
            where = tmp if tmp is not None else Path(tempfile.mkdtemp(prefix="modelyard-moto-"))
            _SESSION = start_s3_server(where)
            atexit.register(_SESSION.stop)
        return _SESSION


def blobs_on_s3() -> bool:
    return os.environ.get("MODELYARD_TEST_BLOBS", "").strip().lower() == "s3"


def blob_overrides(data_dir: Path) -> dict[str, Any]:
    if not blobs_on_s3():
        return {}
    server = session_s3_server(data_dir.parent / "moto")
    return server.settings()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """The session's moto S3 server (shared with ``blob_overrides``)."""
    server = session_s3_server(tmp_path_factory.mktemp("moto"))
    yield server
    # stopped at interpreter exit (atexit): hubs started by other session fixtures may still use it
