"""Inference errors: subclasses of the hub's error tree, so one HTTP mapping serves both.

Every class carries ``status`` and ``code`` (from :class:`modelyard.errors.HubError`); the HTTP layer
turns ``extra`` entries into JSON fields (``estimated_time``, ``error_type``) and ``retry_after`` into a
``Retry-After`` header.
"""

from __future__ import annotations

from modelyard.errors import BadPayload, Conflict, HubError, NotFound, Overloaded, Unavailable


class EndpointNotFound(NotFound):
    code = "EndpointNotFound"


class EndpointExists(Conflict):
    code = "EndpointExists"


class InvalidInput(BadPayload):
    """The request body does not fit the endpoint's task (HTTP 422)."""

    code = "InvalidInput"


class UnsupportedTask(BadPayload):
    code = "UnsupportedTask"


class QueueFull(Overloaded):
    """The endpoint's bounded queue is full (HTTP 429, TGI's ``overloaded`` convention)."""

    code = "QueueFull"

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message, error_type="overloaded", retry_after=max(1, round(retry_after)))


class ModelLoading(Unavailable):
    """The model is loading (HTTP 503 with ``estimated_time``, as the HF Inference API does)."""

    code = "ModelLoading"

    def __init__(self, message: str, estimated_time: float) -> None:
        est = round(max(estimated_time, 0.5), 1)
        super().__init__(message, estimated_time=est, retry_after=max(1, round(est)))


class EndpointPaused(Unavailable):
    code = "EndpointPaused"


class ModelLoadFailed(HubError):
    code = "ModelLoadFailed"
    status = 500


class ModelError(HubError):
    """The model raised while running a request; the worker survived (HTTP 500)."""

    code = "ModelError"

    def __init__(self, message: str) -> None:
        super().__init__(message, error_type="model_error")


class WorkerCrashed(HubError):
    code = "WorkerCrashed"

    def __init__(self, message: str) -> None:
        super().__init__(message, error_type="worker_crashed")
