"""Hubs whose blobs live in S3 (a moto server, tests/_s3.py): issue 17."""

from __future__ import annotations

from typing import Any

import pytest

MB = 1024 * 1024


@pytest.fixture(scope="module")
def s3_hub(hub_factory: Any, s3_server: Any) -> Any:
    """A hub on a fresh bucket (``s3://<bucket>/blobs``), LFS multipart from 6 MiB in 5 MiB parts."""
    return hub_factory(**s3_server.settings(), multipart_threshold=6 * MB, multipart_chunk_size=5 * MB)


@pytest.fixture(scope="module")
def redirect_hub(hub_factory: Any, s3_server: Any) -> Any:
    """A hub on S3 whose downloads of stored LFS files answer 302 to a presigned URL (``blob_redirect``)."""
    return hub_factory(**s3_server.settings(), blob_redirect=True, blob_redirect_ttl=600)
