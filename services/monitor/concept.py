"""Concept drift: is the model still as right as on its test set? Needs feedback labels joined to the traffic.

The verdict uses accuracy and macro F1 computed here (scikit-learn, the model's label set), compared with the test
metrics in the model card, because Evidently's classification metrics report the positive class's F1 for binary
tasks and the card records macro F1. With one class only among the labels, macro F1 is undefined (every other class
scores 0), so only accuracy decides and the result says so. The Evidently report shows the classification quality of
the labelled traffic beside the reference's held-out rows.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from services.monitor.checks import CheckInput, CheckResult


def _scores(truth: pd.Series, predicted: pd.Series, labels: list[str]) -> tuple[float, float | None]:
    from sklearn.metrics import accuracy_score, f1_score

    accuracy = float(accuracy_score(truth, predicted))
    if truth.nunique() < 2:
        return accuracy, None
    order = sorted(set(labels) | set(truth) | set(predicted))
    return accuracy, float(f1_score(truth, predicted, labels=order, average="macro", zero_division=0))


def _report(reference: pd.DataFrame, current: pd.DataFrame, labels: list[str]) -> Any:
    import evidently as ev
    from evidently.metrics import MeanValue
    from evidently.presets import ClassificationPreset

    def frame(rows: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"target": rows["truth"].astype(str), "prediction": rows["prediction"].astype(str)}).assign(
            correct=lambda f: (f["target"] == f["prediction"]).astype(float)
        )

    cur, ref = frame(current), frame(reference)
    everything = sorted(set(labels) | set(cur["target"]) | set(cur["prediction"]) | set(ref["target"]))
    if len(everything) == 2:
        task: Any = ev.BinaryClassification(target="target", prediction_labels="prediction", pos_label=everything[0])
    else:
        task = ev.MulticlassClassification(
            target="target", prediction_labels="prediction", labels={label: label for label in everything}
        )
    definition = ev.DataDefinition(
        categorical_columns=["target", "prediction"], numerical_columns=["correct"], classification=[task]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return ev.Report([ClassificationPreset()]).run(
                ev.Dataset.from_pandas(cur, data_definition=definition),
                ev.Dataset.from_pandas(ref, data_definition=definition),
            )
        except Exception:  # Evidently's classification metrics reject some label layouts (a class missing)
            plain = ev.DataDefinition(categorical_columns=["target", "prediction"], numerical_columns=["correct"])
            return ev.Report([MeanValue(column="correct")]).run(
                ev.Dataset.from_pandas(cur, data_definition=plain),
                ev.Dataset.from_pandas(ref, data_definition=plain),
            )


def concept_result(data: CheckInput) -> CheckResult:
    from services.monitor.checks import CheckResult

    s = data.settings
    labelled = data.labelled
    if len(labelled) < s.min_labels:
        return CheckResult(
            "concept",
            "not_enough_data",
            reason=f"{len(labelled)} feedback labels in the window, fewer than {s.min_labels}",
        )
    test = data.reference.test_metrics
    accuracy, macro_f1 = _scores(
        labelled["truth"].astype(str), labelled["prediction"].astype(str), data.reference.labels
    )
    accuracy_drop = float(test.get("accuracy", accuracy)) - accuracy
    f1_drop = None if macro_f1 is None else float(test.get("macro_f1", macro_f1)) - macro_f1
    drifted = accuracy_drop > s.max_accuracy_drop or (f1_drop is not None and f1_drop > s.max_f1_drop)
    reason = "" if macro_f1 is not None else "feedback labels of one class only: macro F1 undefined, accuracy decides"
    reference = data.reference.held_out(s.min_samples).dropna(subset=["prediction"]).rename(columns={"label": "truth"})
    return CheckResult(
        "concept",
        "drift" if drifted else "no_drift",
        "accuracy / macro F1 drop against the test metrics",
        accuracy_drop if f1_drop is None else max(accuracy_drop, f1_drop),
        min(s.max_accuracy_drop, s.max_f1_drop),
        reason=reason,
        details={
            "labelled": len(labelled),
            "accuracy": round(accuracy, 4),
            "macro_f1": None if macro_f1 is None else round(macro_f1, 4),
            "test_accuracy": test.get("accuracy"),
            "test_macro_f1": test.get("macro_f1"),
            "accuracy_drop": round(accuracy_drop, 4),
            "f1_drop": None if f1_drop is None else round(f1_drop, 4),
        },
        snapshot=_report(reference, labelled, data.reference.labels),
    )
