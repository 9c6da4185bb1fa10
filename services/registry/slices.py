"""Slice review: per-group metrics and selection rates for every slice column of the data set (fairlearn's
MetricFrame), and the largest accuracy gap between groups large enough to judge."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

MISSING = "(missing)"


def slice_review(
    y_true: Sequence[str],
    y_pred: Sequence[str],
    slices: dict[str, list[str]],
    labels: Sequence[str],
    min_group: int = 5,
) -> dict[str, Any]:
    """{column: {groups: {group: {n, accuracy, macro_f1, selection_rate: {label: rate}}}, gap, worst, best}}."""
    return {
        column: _column(y_true, y_pred, [v or MISSING for v in values], labels, min_group)
        for column, values in slices.items()
        if len(values) == len(y_true)
    }


def _column(
    y_true: Sequence[str], y_pred: Sequence[str], groups: list[str], labels: Sequence[str], min_group: int
) -> dict[str, Any]:
    import pandas as pd
    from fairlearn.metrics import MetricFrame, count, selection_rate
    from sklearn.metrics import accuracy_score, f1_score

    metrics: dict[str, Any] = {
        "n": count,
        "accuracy": accuracy_score,
        "macro_f1": functools.partial(f1_score, average="macro", zero_division=0),
    }
    # Selection rate per class (one vs rest): how often each group is assigned that label.
    for i, label in enumerate(labels):
        metrics[f"sr{i}"] = functools.partial(selection_rate, pos_label=label)
    frame = MetricFrame(
        metrics=metrics,
        y_true=pd.Series(list(y_true)),
        y_pred=pd.Series(list(y_pred)),
        sensitive_features=pd.Series(groups, name="group"),
    )
    table = frame.by_group
    out: dict[str, dict[str, Any]] = {}
    for group, values in table.iterrows():
        out[str(group)] = {
            "n": int(values["n"]),
            "accuracy": float(values["accuracy"]),
            "macro_f1": float(values["macro_f1"]),
            "selection_rate": {label: float(values[f"sr{i}"]) for i, label in enumerate(labels)},
        }
    judged = {g: v for g, v in out.items() if v["n"] >= min_group}
    gap, worst, best = None, None, None
    if len(judged) >= 2:
        worst = min(judged, key=lambda g: judged[g]["accuracy"])
        best = max(judged, key=lambda g: judged[g]["accuracy"])
        gap = judged[best]["accuracy"] - judged[worst]["accuracy"]
    rates = {label: float(frame.difference(method="between_groups")[f"sr{i}"]) for i, label in enumerate(labels)}
    return {
        "groups": out,
        "gap": gap,
        "worst": worst,
        "best": best,
        "min_group": min_group,
        "selection_rate_gap": rates,
        "overall_difference": {
            "accuracy": float(frame.difference(method="between_groups")["accuracy"]),
            "macro_f1": float(frame.difference(method="between_groups")["macro_f1"]),
        },
    }


def largest_gap(review: dict[str, Any]) -> float | None:
    gaps = [c["gap"] for c in review.values() if c.get("gap") is not None]
    return max(gaps) if gaps else None
