"""Replica counts of the Hub's endpoint API (`compute.scaling`): several only where the backend runs them (Ray)."""

from __future__ import annotations

import pytest

from modelyard.errors import HubError
from modelyard.inference.config import EndpointConfig
from modelyard.server.api.inference_endpoints import config_from_body


def _body(min_replica: int, max_replica: int) -> dict[str, object]:
    return {
        "name": "ep",
        "model": {"repository": "alice/m", "framework": "pytorch"},
        "compute": {"scaling": {"minReplica": min_replica, "maxReplica": max_replica}},
    }


def test_ray_backend_keeps_the_bounds_and_updates_them_sparsely() -> None:
    config = config_from_body(_body(2, 4), "alice", replicas=True)
    assert (config.min_replicas, config.max_replicas, config.keep_alive_s) == (2, 4, None)
    lower = config_from_body({"compute": {"scaling": {"maxReplica": 1}}}, "alice", config, replicas=True)
    assert (lower.min_replicas, lower.max_replicas) == (1, 1)
    to_zero = config_from_body(_body(0, 3), "alice", replicas=True)
    assert (to_zero.min_replicas, to_zero.max_replicas) == (1, 3) and to_zero.keep_alive_s is not None


def test_local_backend_refuses_more_than_one_and_bad_bounds() -> None:
    with pytest.raises(HubError, match="More than one replica"):
        config_from_body(_body(1, 2), "alice")
    with pytest.raises(HubError, match="must not exceed"):
        config_from_body(_body(3, 2), "alice", replicas=True)
    assert config_from_body(_body(1, 1), "alice").max_replicas == 1
    with pytest.raises(HubError, match="replicas"):
        EndpointConfig.from_dict({"repo_id": "alice/m", "min_replicas": 2, "max_replicas": 1})
    with pytest.raises(HubError, match="replicas"):
        EndpointConfig.from_dict({"repo_id": "alice/m", "max_replicas": 1000})
