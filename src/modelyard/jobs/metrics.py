"""Samples of a running job's resource use (psutil over its process tree, host side): the keys of
huggingface_hub's `fetch_job_metrics` (`JobMetrics`)."""

from __future__ import annotations

import contextlib
import os
from typing import Any

import psutil


class Sampler:
    def __init__(self, pid: int, memory_total_bytes: int, cpu_cores: float) -> None:
        self.pid = pid
        self.memory_total = memory_total_bytes
        self.cores = cpu_cores if cpu_cores > 0 else float(os.cpu_count() or 1)
        self._procs: dict[int, psutil.Process] = {}

    def _tree(self) -> list[psutil.Process]:
        try:
            root = psutil.Process(self.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return []
        out: list[psutil.Process] = []
        for p in procs:
            known = self._procs.get(p.pid)
            if known is None:
                self._procs[p.pid] = p
                with contextlib.suppress(psutil.Error):
                    p.cpu_percent(None)  # the first call primes the counter
                known = p
            out.append(known)
        alive = {p.pid for p in out}
        for pid in list(self._procs):
            if pid not in alive:
                del self._procs[pid]
        return out

    def sample(self) -> dict[str, Any]:
        cpu = 0.0
        rss = 0
        for p in self._tree():
            with contextlib.suppress(psutil.Error):
                cpu += p.cpu_percent(None)
                rss += p.memory_info().rss
        millicores = int(self.cores * 1000)
        return {
            "cpu_usage_pct": round(min(100.0, cpu / self.cores), 2),
            "cpu_millicores": millicores,
            "memory_used_bytes": rss,
            "memory_total_bytes": self.memory_total,
            "rx_bps": 0,
            "tx_bps": 0,
            "gpus": {},
            "replica": "0",
        }
