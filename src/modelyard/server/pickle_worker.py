"""The pickle scan worker: a thread in the server's lifespan that scans queued contents (hub/pickles.py).

Commits queue the sha256 of their new pickle files (``pickle_scans`` rows in state ``queued``) and wake the
worker; it also polls, so rows queued by another process, or left queued by a crash (a scan cut short stays
queued), are scanned after a start. One scan at a time: a scan is bounded (hub/pickles.py), the queue is not urgent.
"""

from __future__ import annotations

import logging
import threading

from modelyard.hub.pickles import PickleScans

log = logging.getLogger("modelyard.pickles")

BATCH = 8


class PickleWorker:
    def __init__(self, scans: PickleScans, poll_interval: float = 2.0) -> None:
        self.scans = scans
        self.poll = max(0.05, poll_interval)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.scans.wake = self._wake.set
        self._thread = threading.Thread(target=self._run, name="pickle-scans", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self.scans.wake == self._wake.set:
            self.scans.wake = None
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                while not self._stop.is_set() and self.scans.run_queued(BATCH) == BATCH:
                    pass  # a full batch: there may be more
            except Exception:  # the database may be briefly unavailable: keep the worker alive
                log.exception("pickle scans: could not scan queued contents")
            self._wake.wait(self.poll)
