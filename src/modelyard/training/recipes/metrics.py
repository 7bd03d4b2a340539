"""Small metrics (no scikit-learn / seqeval dependency): accuracy, macro F1, BIO entity F1."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def accuracy(preds: Sequence[Any], labels: Sequence[Any]) -> float:
    return float(sum(p == y for p, y in zip(preds, labels, strict=True))) / max(1, len(labels))


def f1(preds: Sequence[Any], labels: Sequence[Any]) -> float:
    """Binary F1 of class 1 for two classes, else the macro average over the classes seen."""
    classes = sorted(set(labels) | set(preds))
    if set(classes) <= {0, 1}:
        return _f1_of(1, preds, labels)
    scores = [_f1_of(c, preds, labels) for c in classes]
    return sum(scores) / max(1, len(scores))


def _f1_of(cls: Any, preds: Sequence[Any], labels: Sequence[Any]) -> float:
    tp = sum(p == cls and y == cls for p, y in zip(preds, labels, strict=True))
    fp = sum(p == cls and y != cls for p, y in zip(preds, labels, strict=True))
    fn = sum(p != cls and y == cls for p, y in zip(preds, labels, strict=True))
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)


def entities(tags: Sequence[str]) -> set[tuple[str, int, int]]:
    """(type, start, end) spans of a BIO/IOB2 tag sequence; a tag without a B-/I- prefix is its own type."""
    spans: set[tuple[str, int, int]] = set()
    kind: str | None = None
    start = 0
    for i, tag in enumerate([*tags, "O"]):
        prefix, _, name = tag.partition("-") if tag[:2] in ("B-", "I-") else ("", "", tag)
        continues = prefix == "I" and name == kind
        if kind is not None and not continues:
            spans.add((kind, start, i))
            kind = None
        if name != "O" and not continues:
            kind, start = name, i
    return spans


def entity_scores(pred_seqs: Sequence[Sequence[str]], gold_seqs: Sequence[Sequence[str]]) -> dict[str, float]:
    tp = fp = fn = 0
    for n, (pred, gold) in enumerate(zip(pred_seqs, gold_seqs, strict=True)):
        p = {(n, *s) for s in entities(pred)}
        g = {(n, *s) for s in entities(gold)}
        tp, fp, fn = tp + len(p & g), fp + len(p - g), fn + len(g - p)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f}
