"""Inference endpoints: serve hub models over HTTP with dynamic batching in worker processes.

Framework-free domain package (no Starlette here); the HTTP front is ``modelyard.server.inference_app``.
Importing this package does not import torch: runtimes load inside worker processes only.
"""

from __future__ import annotations

from modelyard.inference.auth import Authorizer, StaticTokenAuthorizer, allow_all
from modelyard.inference.config import EndpointConfig
from modelyard.inference.manager import Endpoint, EndpointManager
from modelyard.inference.requests import InferenceRequest
from modelyard.inference.source import HubSource, LocalDirSource, ModelSource
from modelyard.inference.tasks import TASKS, infer_task, normalize_task

__all__ = [
    "TASKS",
    "Authorizer",
    "Endpoint",
    "EndpointConfig",
    "EndpointManager",
    "HubSource",
    "InferenceRequest",
    "LocalDirSource",
    "ModelSource",
    "StaticTokenAuthorizer",
    "allow_all",
    "infer_task",
    "normalize_task",
]
