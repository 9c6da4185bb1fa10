"""Statistics of a comparison between two models on the same rows: a paired bootstrap interval of the difference
in a metric, and McNemar's exact test on which rows each got right.

Both are paired: the same resampled rows score both models, so the interval reflects how much the *difference*
varies, not each model's own spread. The bootstrap is vectorised (resample weights times per-row indicators), so a
thousand resamples of a few thousand rows take milliseconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

METRICS = ("accuracy", "macro_f1", "mcc")


def _encode(y_true: Sequence[str], *predictions: Sequence[str]) -> tuple[np.ndarray, list[np.ndarray], int]:
    labels = sorted(set(y_true).union(*predictions))
    index = {label: i for i, label in enumerate(labels)}
    return (
        np.array([index[v] for v in y_true], dtype=np.int64),
        [np.array([index[v] for v in p], dtype=np.int64) for p in predictions],
        len(labels),
    )


def _weighted(metric: str, weights: np.ndarray, y: np.ndarray, p: np.ndarray, k: int) -> np.ndarray:
    """`metric` of each row of `weights` (B x n counts of how often each row was drawn)."""
    onehot_true = np.eye(k, dtype=np.float64)[y]  # n x k
    onehot_pred = np.eye(k, dtype=np.float64)[p]
    correct = (y == p).astype(np.float64)
    total = weights.sum(axis=1)
    if metric == "accuracy":
        return np.asarray((weights @ correct) / total)
    tp = weights @ (onehot_true * onehot_pred)  # B x k
    true_k, pred_k = weights @ onehot_true, weights @ onehot_pred
    if metric == "macro_f1":
        denom = true_k + pred_k
        f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
        present = denom > 0  # like sklearn without `labels`: classes neither true nor predicted do not count
        return np.asarray(f1.sum(axis=1) / np.maximum(present.sum(axis=1), 1))
    if metric == "mcc":
        c, s = tp.sum(axis=1), total
        cov = c * s - (pred_k * true_k).sum(axis=1)
        var = (s**2 - (pred_k**2).sum(axis=1)) * (s**2 - (true_k**2).sum(axis=1))
        return np.asarray(np.divide(cov, np.sqrt(var), out=np.zeros_like(cov), where=var > 0))
    raise ValueError(f"unknown metric {metric!r}")


def metric_value(metric: str, y_true: Sequence[str], y_pred: Sequence[str]) -> float:
    y, (p,), k = _encode(y_true, y_pred)
    return float(_weighted(metric, np.ones((1, len(y))), y, p, k)[0])


def paired_bootstrap(
    y_true: Sequence[str],
    candidate: Sequence[str],
    champion: Sequence[str],
    metric: str = "macro_f1",
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    also: Sequence[float] = (),
) -> dict[str, Any]:
    """Difference candidate - champion in `metric`, with its percentile bootstrap interval (and, in `intervals`,
    the intervals at the `also` confidence levels, e.g. the ones other environments' policies ask for)."""
    if not (len(y_true) == len(candidate) == len(champion)) or not y_true:
        raise ValueError("paired comparison needs the same non-empty rows for both models")
    y, (a, b), k = _encode(y_true, candidate, champion)
    n = len(y)
    rng = np.random.default_rng(seed)
    chunk = max(1, min(resamples, 4_000_000 // n))  # bound memory: chunk x n weights at a time
    diffs: list[np.ndarray] = []
    for start in range(0, resamples, chunk):
        weights = rng.multinomial(n, np.full(n, 1.0 / n), size=min(chunk, resamples - start)).astype(np.float64)
        diffs.append(_weighted(metric, weights, y, a, k) - _weighted(metric, weights, y, b, k))
    spread = np.concatenate(diffs)
    alpha = (1 - confidence) / 2
    ones = np.ones((1, n))
    observed = float(_weighted(metric, ones, y, a, k)[0] - _weighted(metric, ones, y, b, k)[0])
    intervals = {
        f"{level:g}": [float(np.quantile(spread, (1 - level) / 2)), float(np.quantile(spread, 1 - (1 - level) / 2))]
        for level in {confidence, *also}
    }
    return {
        "metric": metric,
        "difference": observed,
        "low": float(np.quantile(spread, alpha)),
        "high": float(np.quantile(spread, 1 - alpha)),
        "confidence": confidence,
        "intervals": intervals,
        "resamples": resamples,
    }


def mcnemar(y_true: Sequence[str], candidate: Sequence[str], champion: Sequence[str]) -> dict[str, Any]:
    """McNemar's exact test: do the rows only one model gets right favour one of them more than chance would?"""
    from scipy.stats import binomtest

    right_a = np.array([t == p for t, p in zip(y_true, candidate, strict=True)])
    right_b = np.array([t == p for t, p in zip(y_true, champion, strict=True)])
    only_candidate = int((right_a & ~right_b).sum())
    only_champion = int((~right_a & right_b).sum())
    discordant = only_candidate + only_champion
    p_value = 1.0 if discordant == 0 else float(binomtest(only_candidate, discordant, 0.5).pvalue)
    return {"only_candidate_right": only_candidate, "only_champion_right": only_champion, "p_value": p_value}
