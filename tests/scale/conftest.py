"""A multi-replica topology on this machine (issue 17): PostgreSQL + an S3 API server + 3 `modelyard serve`
replicas + nginx as the load balancer, every replica stateless (its own throw-away data_dir, the shared database,
object store and secret). Tests reach the hub only through the balancer.

Fixtures:
- ``topology`` (module; stopped when the module ends, ~1 GB of processes): the running `Topology` (replicas can be
  killed with ``kill -9`` and restarted).
- ``live_server`` (module; overrides tests/conftest.py's): a `Hub` whose url is the balancer and whose services
  are built in-process on the shared database and object store (setup and server-side checks such as
  ``assert_arrived``); while it is active, huggingface_hub's import-time endpoint constants point at the
  balancer, so e2e test functions imported from tests/e2e run unchanged through it.

The harness itself (processes, nginx config) is tests/scale/_topology.py, shared with bench/scale_bench.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from conftest import Hub

from ._topology import Topology, backends_available, build_services, create_accounts, start_topology


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    """PostgreSQL + S3 server + 3 replicas + nginx (``MODELYARD_SCALE_BLOBS=file``: a shared blob dir instead of
    S3, for development; the done-when runs on S3: test_blobs_are_on_s3_and_replicas_share_state checks it)."""
    why = backends_available()
    if why:
        pytest.skip(why)
    s3 = os.environ.get("MODELYARD_SCALE_BLOBS") != "file"  # file: a shared blob dir (development only)
    with start_topology(tmp_path_factory.mktemp("topology"), s3=s3, access_log=True) as topo:
        yield topo


@pytest.fixture(scope="module")
def live_server(topology: Topology, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The hub as the e2e tests see it, through the balancer (see the module docstring)."""
    from huggingface_hub import constants

    services = build_services(topology, tmp_path_factory.mktemp("checker"))
    tokens = create_accounts(services)
    from modelyard.config import Settings

    hub = Hub(
        url=topology.url,
        settings=Settings(data_dir=str(topology.replicas[0].data_dir), **topology.settings),
        services=services,
        alice=tokens["alice"],
        alice_read=tokens["alice_read"],
        bob=tokens["bob"],
    )
    hub.extra["topology"] = topology
    saved = (constants.ENDPOINT, constants.HUGGINGFACE_CO_URL_TEMPLATE, os.environ.get("HF_ENDPOINT"))
    constants.ENDPOINT = topology.url
    constants.HUGGINGFACE_CO_URL_TEMPLATE = topology.url + "/{repo_id}/resolve/{revision}/{filename}"
    os.environ["HF_ENDPOINT"] = topology.url
    try:
        yield hub
    finally:
        constants.ENDPOINT, constants.HUGGINGFACE_CO_URL_TEMPLATE = saved[0], saved[1]
        if saved[2] is not None:
            os.environ["HF_ENDPOINT"] = saved[2]
        services.db.dispose()
