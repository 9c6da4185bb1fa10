"""Each check on synthetic frames: drifted vs not, and the rules that keep a check from claiming what it cannot know."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from services.monitor import checks
from services.monitor.checks import CheckInput, CheckResult, run_checks
from services.monitor.descriptors import descriptor_frame
from services.monitor.runner import aggregate
from services.monitor.settings import MonitorSettings
from tests.unit.monitor.conftest import FILM, PRODUCT, make_current, make_reference

REFERENCE = make_reference()


def check_input(current: pd.DataFrame, settings: MonitorSettings, labelled: pd.DataFrame | None = None) -> CheckInput:
    described = pd.concat(
        [current.reset_index(drop=True), descriptor_frame(list(current["text"]), REFERENCE.vocabulary)], axis=1
    )
    labelled = labelled if labelled is not None else current.iloc[:0]
    return CheckInput(REFERENCE, described, labelled, settings, seed=3)


def test_descriptors_drift_on_longer_texts_with_unknown_words(settings: MonitorSettings) -> None:
    same = checks.check_descriptors(check_input(make_current(150, 11), settings))
    drifted = checks.check_descriptors(check_input(make_current(150, 12, FILM, length=(15, 30)), settings))
    assert same.status == "no_drift", same.summary()
    assert drifted.status == "drift", drifted.summary()
    shown = drifted.details["descriptors"]
    assert shown["oov_share"]["drifted"] and shown["chars"]["drifted"]
    assert shown["oov_share"]["current_mean"] > 0.5 > shown["oov_share"]["reference_mean"]
    assert drifted.snapshot is not None


def test_content_drift_by_domain_classifier(settings: MonitorSettings) -> None:
    same = checks.check_content(check_input(make_current(150, 21), settings))
    drifted = checks.check_content(check_input(make_current(150, 22, FILM), settings))
    assert same.status == "no_drift" and same.score is not None and same.score < 0.62
    assert drifted.status == "drift" and drifted.score is not None and drifted.score > 0.9


def test_content_effect_size_floor(settings: MonitorSettings) -> None:
    """An AUC beyond chance but below the floor is not drift: large samples make tiny differences significant."""
    strict = MonitorSettings(**{**settings.model_dump(), "content_min_auc": 0.95})
    result = checks.check_content(check_input(make_current(150, 23, PRODUCT * 6 + FILM), strict))
    assert result.status == "no_drift" and result.details["beyond_chance"]
    assert "effect-size floor" in result.reason


def test_prediction_drift_on_label_shift(settings: MonitorSettings) -> None:
    same = checks.check_prediction(check_input(make_current(150, 31), settings))
    drifted = checks.check_prediction(check_input(make_current(150, 32, positive_share=0.9), settings))
    assert same.status == "no_drift", same.summary()
    assert drifted.status == "drift", drifted.summary()
    assert drifted.details["label_shares"]["current"]["positive"] > 0.8


def test_one_class_window_is_reported_not_crashed(settings: MonitorSettings) -> None:
    result = checks.check_prediction(check_input(make_current(150, 33, positive_share=1.0), settings))
    assert result.status == "drift"
    assert "one class only" in result.reason and "'positive'" in result.reason


def test_confidence_drift(settings: MonitorSettings) -> None:
    same = checks.check_confidence(check_input(make_current(150, 41), settings))
    drifted = checks.check_confidence(check_input(make_current(150, 42, confidence=(0.5, 0.7)), settings))
    assert same.status == "no_drift", same.summary()
    assert drifted.status == "drift", drifted.summary()
    assert drifted.details["current_mean"] < drifted.details["reference_mean"]


def labelled(n: int, seed: int, accuracy: float, one_class: bool = False) -> pd.DataFrame:
    frame = make_current(n, seed, positive_share=1.0 if one_class else 0.5)
    wrong = np.random.default_rng(seed).random(n) > accuracy
    flipped = np.where(frame["prediction"] == "positive", "negative", "positive")
    return frame.assign(truth=np.where(wrong, flipped, frame["prediction"]))


def test_concept_drift_when_accuracy_falls(settings: MonitorSettings) -> None:
    healthy = labelled(120, 51, accuracy=0.85)
    worse = labelled(120, 52, accuracy=0.55)
    same = checks.check_concept(check_input(healthy, settings, healthy))
    drifted = checks.check_concept(check_input(worse, settings, worse))
    assert same.status == "no_drift", same.summary()
    assert drifted.status == "drift", drifted.summary()
    assert drifted.details["accuracy_drop"] > 0.2 and drifted.details["f1_drop"] is not None


def test_concept_needs_enough_labels(settings: MonitorSettings) -> None:
    few = labelled(settings.min_labels - 1, 53, accuracy=0.2)
    result = checks.check_concept(check_input(make_current(150, 54), settings, few))
    assert result.status == "not_enough_data"
    assert f"fewer than {settings.min_labels}" in result.reason


def test_concept_with_feedback_of_one_class_decides_on_accuracy(settings: MonitorSettings) -> None:
    one = labelled(80, 55, accuracy=0.9, one_class=True)
    one = one.assign(truth="positive", prediction=np.where(np.arange(80) < 72, "positive", "negative"))
    result = checks.check_concept(check_input(one, settings, one))
    assert result.status == "no_drift"
    assert result.details["macro_f1"] is None and "one class only" in result.reason


def test_a_failing_check_is_an_error_result_and_the_others_still_run(
    settings: MonitorSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(data: CheckInput) -> CheckResult:
        raise RuntimeError("boom")

    monkeypatch.setitem(checks.CHECK_FUNCTIONS, "content", broken)
    results = {r.name: r for r in run_checks(REFERENCE, make_current(150, 61), make_current(0, 62), settings, 1)}
    assert results["content"].status == "error" and "boom" in results["content"].reason
    assert results["descriptors"].status == "no_drift" and results["prediction"].status == "no_drift"
    assert results["concept"].status == "not_enough_data"
    assert aggregate(list(results.values()))[0] == "error"  # a failed check never turns into no_drift


@pytest.mark.parametrize(
    ("statuses", "verdict"),
    [
        (["no_drift", "no_drift", "not_enough_data"], "no_drift"),
        (["drift", "error", "no_drift"], "drift"),
        (["error", "no_drift"], "error"),
        (["not_enough_data", "skipped"], "not_enough_data"),
    ],
)
def test_verdict_from_checks(statuses: list[str], verdict: str) -> None:
    results = [CheckResult(f"c{i}", s) for i, s in enumerate(statuses)]  # type: ignore[arg-type]
    assert aggregate(results)[0] == verdict
