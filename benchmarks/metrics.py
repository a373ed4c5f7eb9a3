"""Copy-detection metrics over (query, work, score) predictions, as in Meta's Image Similarity
Challenge (micro-average precision over all predictions, recall at a fixed precision) and Thorn's
perception benchmark (recall per transform family at the operating threshold).

Ties in score are treated as one threshold step (the predictions sharing a score are all kept or
all dropped together), so a tiered score cannot gain from an arbitrary order among equals.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

Prediction = tuple[str, str, float]  # (query, work, score)


@dataclass(frozen=True)
class Curve:
    """Precision and recall after keeping every prediction with score >= each distinct threshold."""

    thresholds: list[float]  # descending
    precision: list[float]
    recall: list[float]


def curve(predictions: list[Prediction], truth: set[tuple[str, str]]) -> Curve:
    """`truth` holds the (query, work) pairs that are copies; recall is over all of them."""
    by_score: dict[float, list[bool]] = defaultdict(list)
    for query, work, score in predictions:
        by_score[score].append((query, work) in truth)
    thresholds, precision, recall = [], [], []
    kept = hits = 0
    for score in sorted(by_score, reverse=True):
        kept += len(by_score[score])
        hits += sum(by_score[score])
        thresholds.append(score)
        precision.append(hits / kept)
        recall.append(hits / len(truth) if truth else 0.0)
    return Curve(thresholds, precision, recall)


def micro_ap(c: Curve) -> float:
    """Average precision: the sum over thresholds of precision times the recall gained there."""
    total, previous = 0.0, 0.0
    for p, r in zip(c.precision, c.recall):
        total += p * (r - previous)
        previous = r
    return total


def operating_point(c: Curve, min_precision: float) -> tuple[float, float] | None:
    """(threshold, recall): the most recall at precision >= min_precision, and the highest
    threshold giving it (the widest margin above the scores it must keep); None if none does.

    Precision need not be monotonic, so every threshold is checked.
    """
    best = None
    for t, p, r in zip(c.thresholds, c.precision, c.recall):
        if p >= min_precision and (best is None or r > best[1] or (r == best[1] and t > best[0])):
            best = (t, r)
    return best


def at_threshold(predictions: list[Prediction], truth: set[tuple[str, str]], threshold: float) -> dict:
    """Precision, recall and the counts of true and false positives among scores >= threshold."""
    kept = [(q, w) for q, w, s in predictions if s >= threshold]
    true_pos = sum(pair in truth for pair in kept)
    return {"threshold": threshold, "kept": len(kept), "true_pos": true_pos, "false_pos": len(kept) - true_pos,
            "precision": true_pos / len(kept) if kept else 1.0, "recall": true_pos / len(truth) if truth else 0.0}


def family_recall(predictions: list[Prediction], truth_by_family: dict[str, set[tuple[str, str]]],
                  threshold: float) -> dict[str, float]:
    """Per family, the share of its copy pairs predicted with score >= threshold."""
    found = {(q, w) for q, w, s in predictions if s >= threshold}
    return {family: (len(pairs & found) / len(pairs) if pairs else 0.0)
            for family, pairs in truth_by_family.items()}


def negative_hits(predictions: list[Prediction], negatives: set[str], threshold: float) -> int:
    """How many negative queries (unregistered photos) got any prediction with score >= threshold."""
    return len({q for q, _, s in predictions if s >= threshold and q in negatives})
