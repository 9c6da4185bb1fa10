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


def _counts(weights: np.ndarray, y: np.ndarray, p: np.ndarray, k: int) -> tuple[np.ndarray, ...]:
    """Per resample (rows of `weights`, B x n counts of how often each row was drawn): true positives, true and
    predicted counts per class, and the total. One matrix product for all of them."""
    onehot_true = np.eye(k, dtype=np.float64)[y]  # n x k
    onehot_pred = np.eye(k, dtype=np.float64)[p]
    summed = weights @ np.hstack([onehot_true * onehot_pred, onehot_true, onehot_pred])  # B x 3k
    return summed[:, :k], summed[:, k : 2 * k], summed[:, 2 * k :], weights.sum(axis=1)


def _from_counts(metric: str, counts: tuple[np.ndarray, ...]) -> np.ndarray:
    tp, true_k, pred_k, total = counts
    if metric == "accuracy":
        return np.asarray(tp.sum(axis=1) / total)
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


def _weighted(metric: str, weights: np.ndarray, y: np.ndarray, p: np.ndarray, k: int) -> np.ndarray:
    """`metric` of each resample (row of `weights`)."""
    return _from_counts(metric, _counts(weights, y, p, k))


def metric_value(metric: str, y_true: Sequence[str], y_pred: Sequence[str]) -> float:
    y, (p,), k = _encode(y_true, y_pred)
    return float(_weighted(metric, np.ones((1, len(y))), y, p, k)[0])


def _resample_weights(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """`size` bootstrap resamples of n rows as counts (size x n): how often each row was drawn."""
    draws = rng.integers(0, n, size=(size, n)) + (np.arange(size)[:, None] * n)
    return np.bincount(draws.ravel(), minlength=size * n).reshape(size, n).astype(np.float64)


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
    return paired_bootstraps(y_true, candidate, champion, (metric,), resamples, confidence, seed, also)[metric]


def paired_bootstraps(
    y_true: Sequence[str],
    candidate: Sequence[str],
    champion: Sequence[str],
    metrics: Sequence[str] = METRICS,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    also: Sequence[float] = (),
) -> dict[str, dict[str, Any]]:
    """`paired_bootstrap` for several metrics on the *same* resamples (one pass over the resample weights)."""
    if not (len(y_true) == len(candidate) == len(champion)) or not y_true:
        raise ValueError("paired comparison needs the same non-empty rows for both models")
    y, (a, b), k = _encode(y_true, candidate, champion)
    n = len(y)
    rng = np.random.default_rng(seed)
    chunk = max(1, min(resamples, 2_000_000 // n))  # bound memory: chunk x n weights at a time
    spreads: dict[str, list[np.ndarray]] = {m: [] for m in metrics}
    for start in range(0, resamples, chunk):
        weights = _resample_weights(rng, n, min(chunk, resamples - start))
        mine, theirs = _counts(weights, y, a, k), _counts(weights, y, b, k)
        for m in metrics:
            spreads[m].append(_from_counts(m, mine) - _from_counts(m, theirs))
    ones = np.ones((1, n))
    out = {}
    for m in metrics:
        spread = np.concatenate(spreads[m])
        observed = float(_weighted(m, ones, y, a, k)[0] - _weighted(m, ones, y, b, k)[0])
        intervals = {
            f"{level:g}": [float(np.quantile(spread, (1 - level) / 2)), float(np.quantile(spread, (1 + level) / 2))]
            for level in {confidence, *also}
        }
        low, high = intervals[f"{confidence:g}"]
        out[m] = {
            "metric": m,
            "difference": observed,
            "low": low,
            "high": high,
            "confidence": confidence,
            "intervals": intervals,
            "resamples": resamples,
        }
    return out


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
