"""A tiny Prometheus text-format registry (counters, gauges, histograms) labelled by endpoint."""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field

Labels = tuple[tuple[str, str], ...]

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


@dataclass
class _Histogram:
    buckets: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    n: int = 0

    def observe(self, value: float) -> None:
        if not self.counts:
            self.counts = [0] * len(self.buckets)
        i = bisect.bisect_left(self.buckets, value)
        if i < len(self.counts):
            self.counts[i] += 1
        self.total += value
        self.n += 1


@dataclass(frozen=True)
class _Family:
    kind: str
    help: str
    buckets: tuple[float, ...] = ()


FAMILIES: dict[str, _Family] = {
    "modelyard_inference_requests_total": _Family("counter", "Inference requests by final HTTP status"),
    "modelyard_inference_request_duration_seconds": _Family(
        "histogram", "Time from accepting a request to its answer", LATENCY_BUCKETS
    ),
    "modelyard_inference_batch_size": _Family(
        "histogram", "Items per model call (dynamic batching)", SIZE_BUCKETS
    ),
    "modelyard_inference_batch_duration_seconds": _Family(
        "histogram", "Model time per batch in the worker", LATENCY_BUCKETS
    ),
    "modelyard_inference_rejected_total": _Family("counter", "Requests rejected by the bounded queue (429)"),
    "modelyard_inference_loads_total": _Family("counter", "Model loads started"),
    "modelyard_inference_unloads_total": _Family("counter", "Model unloads by reason"),
    "modelyard_inference_load_duration_seconds": _Family("gauge", "Duration of the last model load"),
    "modelyard_inference_queue_size": _Family("gauge", "Requests accepted and not yet answered"),
    "modelyard_inference_loaded": _Family("gauge", "1 when the endpoint's model is loaded"),
    "modelyard_inference_memory_bytes": _Family("gauge", "Parameter memory of the loaded model"),
}


class Metrics:
    """Thread-safe; gauges that describe live state are provided by ``collectors`` at render time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[tuple[str, Labels], float] = {}
        self._hists: dict[tuple[str, Labels], _Histogram] = {}
        self.collectors: list[Callable[[], Iterable[tuple[str, dict[str, str], float]]]] = []

    @staticmethod
    def _labels(labels: dict[str, str]) -> Labels:
        return tuple(sorted(labels.items()))

    def inc(self, name: str, labels: dict[str, str], value: float = 1.0) -> None:
        key = (name, self._labels(labels))
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + value

    def set(self, name: str, labels: dict[str, str], value: float) -> None:
        with self._lock:
            self._values[(name, self._labels(labels))] = value

    def observe(self, name: str, labels: dict[str, str], value: float) -> None:
        key = (name, self._labels(labels))
        with self._lock:
            hist = self._hists.get(key)
            if hist is None:
                hist = self._hists[key] = _Histogram(FAMILIES[name].buckets)
            hist.observe(value)

    def forget(self, endpoint: str) -> None:
        with self._lock:
            for store in (self._values, self._hists):
                for key in [k for k in store if ("endpoint", endpoint) in k[1]]:
                    del store[key]  # type: ignore[attr-defined]

    def render(self, endpoint: str | None = None, only: Collection[str] | None = None) -> str:
        """The text exposition: of one `endpoint`, of the endpoints in `only`, or (neither) of all."""

        def keep(labels: Labels) -> bool:
            if endpoint is not None:
                return ("endpoint", endpoint) in labels
            if only is not None:
                return all(value in only for key, value in labels if key == "endpoint")
            return True

        with self._lock:
            values = {k: v for k, v in self._values.items() if keep(k[1])}
            hists = {k: _Histogram(h.buckets, list(h.counts), h.total, h.n) for k, h in self._hists.items()}
        for collect in self.collectors:
            for name, raw_labels, value in collect():
                key = (name, self._labels(raw_labels))
                if keep(key[1]):
                    values[key] = value
        lines: list[str] = []
        for name, family in FAMILIES.items():
            rows = [(k[1], v) for k, v in values.items() if k[0] == name]
            hrows = [(k[1], h) for k, h in hists.items() if k[0] == name and keep(k[1])]
            if not rows and not hrows:
                continue
            lines.append(f"# HELP {name} {family.help}")
            lines.append(f"# TYPE {name} {family.kind}")
            for labels, value in sorted(rows):
                lines.append(f"{name}{_fmt(labels)} {_num(value)}")
            for labels, hist in sorted(hrows, key=lambda r: r[0]):
                cumulative = 0
                for bound, count in zip(hist.buckets, hist.counts or [0] * len(hist.buckets), strict=True):
                    cumulative += count
                    lines.append(f"{name}_bucket{_fmt((*labels, ('le', _num(bound))))} {cumulative}")
                lines.append(f"{name}_bucket{_fmt((*labels, ('le', '+Inf')))} {hist.n}")
                lines.append(f"{name}_sum{_fmt(labels)} {_num(hist.total)}")
                lines.append(f"{name}_count{_fmt(labels)} {hist.n}")
        return "\n".join(lines) + "\n"


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _fmt(labels: Labels) -> str:
    if not labels:
        return ""
    body = ",".join(
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"' for k, v in labels
    )
    return "{" + body + "}"
