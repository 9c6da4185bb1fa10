"""Approval gates, the comparison statistics and the slice review, on hand-made numbers."""

from __future__ import annotations

import random

import pytest
from sklearn.metrics import f1_score, matthews_corrcoef

from services.registry.policy import beats_champion, evaluate_gates, failed, min_metric, slice_gap
from services.registry.settings import EnvPolicy
from services.registry.slices import slice_review
from services.registry.stats import mcnemar, metric_value, paired_bootstrap


def _report(macro_f1: float = 0.8, gap: float | None = 0.1, low: float = 0.02, high: float = 0.08) -> dict:
    boot = {"difference": (low + high) / 2, "low": low, "high": high, "intervals": {"0.95": [low, high]}}
    return {
        "metrics": {"accuracy": 0.8, "macro_f1": macro_f1, "mcc": 0.7},
        "comparisons": [
            {
                "environments": ["dev"],
                "champion_version": 1,
                "testsets": [
                    {"testset": t, "bootstrap": {"macro_f1": boot, "accuracy": boot, "mcc": boot}} for t in ("a", "b")
                ],
            }
        ],
        "slices": {"region": {"gap": gap, "best": "eu", "worst": "us"}} if gap is not None else {},
        "max_slice_gap": gap,
    }


VERSION = {"lineage": {"artifact_verified": True, "card_problems": []}}


def test_every_gate_passes_a_good_candidate() -> None:
    gates = evaluate_gates(EnvPolicy(min_value=0.7, max_slice_gap=0.2), _report(), VERSION, "dev")
    assert [g.name for g in gates] == ["min_metric", "beats_champion", "slice_gap", "artifact_checksum", "model_card"]
    assert all(g.passed for g in gates)


def test_min_metric_is_inclusive_and_names_the_metric() -> None:
    assert min_metric(EnvPolicy(min_value=0.8), _report(0.8)).passed
    gate = min_metric(EnvPolicy(metric="macro_f1", min_value=0.81), _report(0.8))
    assert not gate.passed and "macro_f1 0.8000 < 0.81" in gate.detail


@pytest.mark.parametrize(("low", "margin", "passed"), [(0.02, 0.0, True), (-0.01, 0.0, False), (0.02, 0.03, False)])
def test_beating_the_champion_needs_the_interval_above_the_margin(low: float, margin: float, passed: bool) -> None:
    gate = beats_champion(EnvPolicy(min_improvement=margin), _report(low=low), "dev")
    assert gate.passed is passed and "vs v1" in gate.detail and "on a:" in gate.detail and "on b:" in gate.detail


def test_no_champion_in_the_environment_is_nothing_to_beat() -> None:
    assert beats_champion(EnvPolicy(), _report(low=-0.5), "prod").passed


def test_slice_gap_and_integrity_and_card_gates_fail_with_reasons() -> None:
    gate = slice_gap(EnvPolicy(max_slice_gap=0.05), _report(gap=0.1))
    assert not gate.passed and "region: eu vs us" in gate.detail
    assert slice_gap(EnvPolicy(max_slice_gap=0.05), _report(gap=None)).passed
    bad = {"lineage": {"artifact_verified": False, "card_problems": ["card names no labels"]}}
    reasons = failed([g.__dict__ for g in evaluate_gates(EnvPolicy(min_value=0), _report(), bad, "dev")])
    assert reasons == ["artifact_checksum: artifact checksum not verified", "model_card: card names no labels"]


def _pairs(n: int, right_a: float, right_b: float, seed: int = 3) -> tuple[list[str], list[str], list[str]]:
    rng = random.Random(seed)
    y = [rng.choice("xyz") for _ in range(n)]
    a = [t if rng.random() < right_a else rng.choice("xyz".replace(t, "")) for t in y]
    b = [t if rng.random() < right_b else rng.choice("xyz".replace(t, "")) for t in y]
    return y, a, b


def test_vectorised_metrics_equal_sklearn() -> None:
    y, a, _ = _pairs(300, 0.7, 0.7)
    assert metric_value("macro_f1", y, a) == pytest.approx(f1_score(y, a, average="macro"))
    assert metric_value("mcc", y, a) == pytest.approx(matthews_corrcoef(y, a))
    assert metric_value("accuracy", y, a) == pytest.approx(sum(t == p for t, p in zip(y, a, strict=True)) / 300)


def test_bootstrap_interval_excludes_zero_only_for_a_real_difference() -> None:
    y, better, worse = _pairs(600, 0.9, 0.6)
    clear = paired_bootstrap(y, better, worse, "macro_f1", resamples=500, also=(0.9,))
    assert 0 < clear["low"] <= clear["difference"] <= clear["high"]
    assert clear["intervals"]["0.9"][0] >= clear["low"]  # a narrower interval at a lower confidence
    y, a, b = _pairs(600, 0.75, 0.75, seed=5)
    tie = paired_bootstrap(y, a, b, "accuracy", resamples=500)
    assert tie["low"] < 0 < tie["high"]
    assert paired_bootstrap(y, a, b, resamples=200, seed=1) == paired_bootstrap(y, a, b, resamples=200, seed=1)
    with pytest.raises(ValueError):
        paired_bootstrap(y, a, b[:-1])


def test_mcnemar_counts_the_discordant_rows() -> None:
    y = ["x"] * 40
    a = ["x"] * 30 + ["y"] * 10
    b = ["y"] * 10 + ["x"] * 30
    result = mcnemar(y, a, b)
    assert (result["only_candidate_right"], result["only_champion_right"]) == (10, 10)
    assert result["p_value"] == pytest.approx(1.0)
    assert mcnemar(y, ["x"] * 40, ["y"] * 40)["p_value"] < 1e-6


def test_slice_review_reports_groups_rates_and_the_gap_between_judged_groups() -> None:
    y = ["x", "y"] * 20
    pred = list(y[:20]) + ["x"] * 20  # the second half (region "us") gets every "y" wrong
    slices = {"region": ["eu"] * 20 + ["us"] * 20, "tiny": ["a"] * 38 + ["b"] * 2}
    review = slice_review(y, pred, slices, ["x", "y"], min_group=5)
    region = review["region"]
    assert region["groups"]["eu"]["accuracy"] == 1.0 and region["groups"]["us"]["accuracy"] == 0.5
    assert region["gap"] == pytest.approx(0.5) and (region["best"], region["worst"]) == ("eu", "us")
    assert region["groups"]["us"]["selection_rate"] == {"x": 1.0, "y": 0.0}
    assert region["selection_rate_gap"]["x"] == pytest.approx(0.5)
    assert review["tiny"]["gap"] is None  # group "b" has 2 rows: shown, not judged
    assert review["tiny"]["groups"]["b"]["n"] == 2


def test_a_champion_that_failed_its_integrity_check_fails_the_gate() -> None:
    report = {**_report(), "champion_failures": [{"environments": ["dev"], "champion_version": 4}]}
    gate = beats_champion(EnvPolicy(), report, "dev")
    assert not gate.passed and "v4 failed its integrity check" in gate.detail
    assert beats_champion(EnvPolicy(), report, "staging").passed
