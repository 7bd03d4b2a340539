"""An S3 API server for the tests (issue 17): ``moto_server`` started by the tests, one bucket per hub.

Owned by the S3 helper. API the other test modules use:
- ``start_s3_server(tmp: Path) -> S3Server`` (``S3Server.endpoint_url``, ``S3Server.create_bucket(name=None) -> str``,
  ``S3Server.stop()``).
- ``blob_overrides(data_dir: Path) -> dict[str, Any]``: Settings overrides for one hub, ``{}`` unless the suite
  runs on S3 (``MODELYARD_TEST_BLOBS=s3``), then ``blob_url = s3://<fresh bucket>/blobs`` and the s3_* settings.
- fixtures (registered by tests/conftest.py): ``s3_server`` (session).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def blob_overrides(data_dir: Path) -> dict[str, Any]:
    return {}
