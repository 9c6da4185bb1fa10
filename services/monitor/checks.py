"""The drift checks of one run. Each compares a reference frame with a current frame, decides with the thresholds
from the settings, and keeps its Evidently snapshot for the HTML and JSON report.

Pure and synchronous (Evidently and scikit-learn are CPU-bound): the runner calls `run_checks` in a worker thread.
A check that cannot decide says why (`not_enough_data`, `skipped`, `error`); it never says `no_drift` instead.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from services.monitor import domain
from services.monitor.descriptors import DESCRIPTORS, descriptor_frame
from services.monitor.reference import ReferenceData
from services.monitor.settings import MonitorSettings

log = logging.getLogger(__name__)
CheckStatus = Literal["drift", "no_drift", "not_enough_data", "skipped", "error"]
CHECKS = ("descriptors", "content", "prediction", "confidence", "concept")
# Evidently's names of the stat tests our settings name.
_METHODS = {"ks": "ks", "TVD": "TVD"}


@dataclass
class CheckResult:
    name: str
    status: CheckStatus
    method: str = ""
    score: float | None = None
    threshold: float | None = None
    reason: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    snapshot: Any = None  # evidently Snapshot, rendered to HTML/JSON by the runner

    def summary(self) -> dict[str, Any]:
        """What events and the runs API carry (no snapshot)."""
        out: dict[str, Any] = {"status": self.status, "method": self.method}
        if self.score is not None:
            out["score"] = round(float(self.score), 4)
        if self.threshold is not None:
            out["threshold"] = self.threshold
        if self.reason:
            out["reason"] = self.reason
        if self.details:
            out["details"] = self.details
        return out


@dataclass
class CheckInput:
    """What every check may use: the reference, the sampled current rows, settings and the run's seed."""

    reference: ReferenceData
    current: pd.DataFrame  # text, prediction, probability (+ descriptors, added by run_checks)
    labelled: pd.DataFrame  # current rows that have feedback (`truth`)
    settings: MonitorSettings
    seed: int

    def reference_sample(self, held_out: bool) -> pd.DataFrame:
        """A seeded sample of the reference as large as the current side's cap (fixed sizes on both sides)."""
        rows = self.reference.held_out(self.settings.min_samples) if held_out else self.reference.rows
        size = min(len(rows), self.settings.sample_size)
        return rows.sample(n=size, random_state=self.seed % (2**32)).reset_index(drop=True)


def _evidently() -> Any:
    import evidently  # imported lazily: ~4 s, and only the runner's worker thread needs it

    return evidently


def _value_drift_report(
    reference: pd.DataFrame, current: pd.DataFrame, columns: dict[str, str], drift_methods: dict[str, tuple[str, float]]
) -> tuple[Any, dict[str, tuple[float, bool]]]:
    """An Evidently report of ValueDrift per column; returns the snapshot and {column: (score, drifted)}."""
    ev = _evidently()
    from evidently.metrics import ValueDrift

    kinds: dict[str, list[str]] = {"numerical": [], "categorical": [], "text": []}
    for column, kind in columns.items():
        kinds[kind].append(column)
    definition = ev.DataDefinition(
        numerical_columns=kinds["numerical"], categorical_columns=kinds["categorical"], text_columns=kinds["text"]
    )
    metrics = [ValueDrift(column=c, method=m, threshold=t) for c, (m, t) in drift_methods.items()]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas/sklearn chatter inside Evidently
        snapshot = ev.Report(metrics, include_tests=True).run(
            ev.Dataset.from_pandas(current[list(columns)], data_definition=definition),
            ev.Dataset.from_pandas(reference[list(columns)], data_definition=definition),
        )
    return snapshot, _drift_outcomes(snapshot)


def _drift_outcomes(snapshot: Any) -> dict[str, tuple[float, bool]]:
    result = snapshot.dict()
    failed = {str(t["metric_config"]["params"]["column"]): t["status"] == "FAIL" for t in result["tests"]}
    out = {}
    for metric in result["metrics"]:
        column = str(metric["config"]["column"])
        out[column] = (float(metric["value"]), failed.get(column, False))
    return out


def check_descriptors(data: CheckInput) -> CheckResult:
    s = data.settings
    method = _METHODS.get(s.descriptor_method, s.descriptor_method)
    reference = data.reference_sample(held_out=True)
    columns = dict.fromkeys(DESCRIPTORS, "numerical")
    snapshot, outcomes = _value_drift_report(
        reference, data.current, columns, {d: (method, s.descriptor_threshold) for d in DESCRIPTORS}
    )
    drifted = [d for d, (_, hit) in outcomes.items() if hit]
    share = len(drifted) / len(DESCRIPTORS)
    details = {
        d: {
            "score": round(score, 4),
            "drifted": hit,
            "reference_mean": round(float(reference[d].mean()), 4),
            "current_mean": round(float(data.current[d].mean()), 4),
        }
        for d, (score, hit) in outcomes.items()
    }
    return CheckResult(
        "descriptors",
        "drift" if share >= s.descriptor_drift_share else "no_drift",
        f"{method} per descriptor > {s.descriptor_threshold}; share of drifted descriptors",
        share,
        s.descriptor_drift_share,
        reason=f"drifted: {', '.join(drifted)}" if drifted else "",
        details={
            "descriptors": details,
            "reference_rows": len(reference),
            "vocabulary": data.reference.vocabulary.source,
        },
        snapshot=snapshot,
    )


def check_content(data: CheckInput) -> CheckResult:
    """Domain classifier (TF-IDF + linear model): can it tell reference texts from current texts?"""
    s = data.settings
    reference = data.reference_sample(held_out=False)
    method = domain.stattest_name(s.content_threshold)
    snapshot, outcomes = _value_drift_report(
        reference, data.current, {"text": "text"}, {"text": (method, s.content_min_auc)}
    )
    auc, drifted = outcomes["text"]
    chance = domain.chance_auc(domain.held_out_labels(len(reference), len(data.current)), s.content_threshold)
    reason = ""
    if auc > chance and not drifted:
        reason = (
            f"ROC AUC {auc:.3f} beats chance ({chance:.3f}) but stays under the effect-size floor {s.content_min_auc}"
        )
    return CheckResult(
        "content",
        "drift" if drifted else "no_drift",
        f"domain classifier ROC AUC (> p{s.content_threshold * 100:g} of chance, >= {s.content_min_auc})",
        auc,
        s.content_min_auc,
        reason=reason,
        details={"chance_auc": round(chance, 4), "beyond_chance": auc > chance, "reference_rows": len(reference)},
        snapshot=snapshot,
    )


def check_prediction(data: CheckInput) -> CheckResult:
    s = data.settings
    reference = data.reference_sample(held_out=True).dropna(subset=["prediction"])
    if len(reference) < s.min_samples:
        return CheckResult("prediction", "skipped", reason="the reference has too few predictions")
    method = _METHODS.get(s.prediction_method, s.prediction_method)
    current = data.current.assign(prediction=data.current["prediction"].astype(str))
    reference = reference.assign(prediction=reference["prediction"].astype(str))
    snapshot, outcomes = _value_drift_report(
        reference, current, {"prediction": "categorical"}, {"prediction": (method, s.prediction_threshold)}
    )
    score, hit = outcomes["prediction"]
    shares = {
        "reference": _shares(reference["prediction"]),
        "current": _shares(current["prediction"]),
    }
    classes = current["prediction"].unique()
    reason = f"one class only: every prediction in the window is {classes[0]!r}" if len(classes) == 1 else ""
    return CheckResult(
        "prediction",
        "drift" if hit else "no_drift",
        method,
        score,
        s.prediction_threshold,
        reason=reason,
        details={"label_shares": shares, "reference_rows": len(reference)},
        snapshot=snapshot,
    )


def _shares(values: pd.Series) -> dict[str, float]:
    return {str(k): round(float(v), 4) for k, v in values.value_counts(normalize=True).sort_index().items()}


def check_confidence(data: CheckInput) -> CheckResult:
    s = data.settings
    reference = data.reference_sample(held_out=True).dropna(subset=["probability"])
    if len(reference) < s.min_samples:
        return CheckResult("confidence", "skipped", reason="the reference has too few confidences")
    method = _METHODS.get(s.confidence_method, s.confidence_method)
    snapshot, outcomes = _value_drift_report(
        reference, data.current, {"probability": "numerical"}, {"probability": (method, s.confidence_threshold)}
    )
    score, hit = outcomes["probability"]
    return CheckResult(
        "confidence",
        "drift" if hit else "no_drift",
        method,
        score,
        s.confidence_threshold,
        details={
            "reference_mean": round(float(reference["probability"].mean()), 4),
            "current_mean": round(float(data.current["probability"].mean()), 4),
            "reference_rows": len(reference),
        },
        snapshot=snapshot,
    )


def check_concept(data: CheckInput) -> CheckResult:
    """Accuracy and macro F1 on labelled traffic against the model's test metrics."""
    from services.monitor.concept import concept_result

    return concept_result(data)


CHECK_FUNCTIONS: dict[str, Callable[[CheckInput], CheckResult]] = {
    "descriptors": check_descriptors,
    "content": check_content,
    "prediction": check_prediction,
    "confidence": check_confidence,
    "concept": check_concept,
}


def run_checks(
    reference: ReferenceData, current: pd.DataFrame, labelled: pd.DataFrame, settings: MonitorSettings, seed: int
) -> list[CheckResult]:
    """Every check, each isolated: one that raises becomes an `error` result, the others still run."""
    described = pd.concat(
        [current.reset_index(drop=True), descriptor_frame(list(current["text"]), reference.vocabulary)], axis=1
    )
    data = CheckInput(reference, described, labelled.reset_index(drop=True), settings, seed)
    results = []
    for name, check in CHECK_FUNCTIONS.items():
        try:
            results.append(check(data))
        except Exception as exc:  # a check's failure must not take the run (or the other checks) down
            log.exception("check %s failed", name)
            results.append(CheckResult(name, "error", reason=f"{type(exc).__name__}: {exc}"))
    return results
