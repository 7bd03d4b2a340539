"""Pickle scans as background tasks (hub/tasks.py): the handlers the server's task worker runs.

A commit queues the sha256 of its new pickle files (``pickle_scans`` rows in state ``queued``) together with one
``pickle.scan`` task per content (key ``pickle-scan:<sha256>``) in the same transaction, and wakes the local worker.
Any replica's worker may claim it; the queue runs it once (a scan cut short by a crash runs again after its lease).
``pickle.requeue``, every few minutes (once across replicas), gives a task to rows left queued without one (queued
before the task queue existed, or by a CLI without a server). A scan is bounded (hub/pickles.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelyard.hub.pickles import REQUEUE_TASK as REQUEUE
from modelyard.hub.pickles import SCAN_TASK as SCAN
from modelyard.hub.pickles import PickleScans

if TYPE_CHECKING:
    from modelyard.server.task_worker import TaskWorker

REQUEUE_EVERY_S = 600.0


def register(worker: TaskWorker, scans: PickleScans) -> None:
    def scan(payload: dict[str, Any]) -> None:
        scans.scan_task(payload)

    def requeue(payload: dict[str, Any]) -> None:
        scans.requeue()

    worker.register(SCAN, scan)
    worker.register(REQUEUE, requeue)
    worker.every(REQUEUE, REQUEUE_EVERY_S)


__all__ = ["REQUEUE", "SCAN", "register"]
