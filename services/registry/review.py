"""Review among models: the candidate and the champion of each environment, on the same frozen test sets.

Every model is scored on the candidate's test split *and* on each champion's, so neither side is judged only on the
data it was tuned next to. Each (candidate, champion, test set) gets a paired bootstrap interval of the difference in
accuracy, macro F1 and MCC, and McNemar's exact test. The candidate's slice review covers every slice column of its
data set. The arithmetic (`build_report`) is a pure function of labels and predictions, run in a worker thread.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from services.registry.evaluation import Evaluator, TestSet
from services.registry.slices import largest_gap, slice_review
from services.registry.stats import METRICS, mcnemar, paired_bootstraps
from shared.classifier import IntegrityError, metrics
from shared.settings import ENVIRONMENTS


@dataclass(frozen=True)
class ReviewSettings:
    resamples: int = 1000
    confidence: float = 0.95
    also: tuple[float, ...] = ()
    min_group: int = 5


def _order(ts: TestSet, *predicted: Sequence[str]) -> list[str]:
    extra = sorted(set(ts.labels).union(*predicted) - set(ts.label_order))
    return [*ts.label_order, *extra]


def _env_order(env: str) -> tuple[int, str]:
    return (ENVIRONMENTS.index(env) if env in ENVIRONMENTS else len(ENVIRONMENTS), env)


def _summary(values: dict[str, Any]) -> dict[str, float]:
    return {m: values[m] for m in METRICS}


def build_report(
    candidate: int,
    testsets: Sequence[TestSet],
    predictions: dict[int, dict[str, list[str]]],
    champions: dict[str, int],
    settings: ReviewSettings,
) -> dict[str, Any]:
    """The review of `candidate` (a version number): metrics on every test set, comparisons with each
    environment's champion on each test set, and the slice review on its own test set (the first)."""
    own = testsets[0]
    on: dict[str, Any] = {}
    for ts in testsets:
        on[ts.key] = metrics(ts.labels, predictions[candidate][ts.key], _order(ts, predictions[candidate][ts.key]))
    comparisons = []
    for champion in sorted(set(champions.values())):
        if champion == candidate:
            continue
        envs = sorted((e for e, v in champions.items() if v == champion), key=_env_order)
        rows = []
        for ts in testsets:
            mine, theirs = predictions[candidate][ts.key], predictions[champion][ts.key]
            order = _order(ts, mine, theirs)
            rows.append(
                {
                    "testset": ts.key,
                    "n": len(ts.labels),
                    "candidate": _summary(metrics(ts.labels, mine, order).model_dump()),
                    "champion": _summary(metrics(ts.labels, theirs, order).model_dump()),
                    "bootstrap": paired_bootstraps(
                        ts.labels, mine, theirs, METRICS, settings.resamples, settings.confidence, also=settings.also
                    ),
                    "mcnemar": mcnemar(ts.labels, mine, theirs),
                }
            )
        comparisons.append({"environments": envs, "champion_version": champion, "testsets": rows})
    slices = slice_review(
        own.labels, predictions[candidate][own.key], dict(own.slices), own.label_order, settings.min_group
    )
    return {
        "testset": own.key,
        "metrics": on[own.key].model_dump(),
        "on_testsets": {key: value.model_dump() for key, value in on.items()},
        "comparisons": comparisons,
        "slices": slices,
        "max_slice_gap": largest_gap(slices),
        "evaluated_at": time.time(),
    }


async def review(
    evaluator: Evaluator,
    candidate: dict[str, Any],
    champions: dict[str, dict[str, Any]],
    settings: ReviewSettings,
) -> dict[str, Any]:
    """Evaluate `candidate` and the champions (version rows by environment) and build the report."""
    own = await evaluator.testset(candidate["lineage"]["manifest"])
    testsets = {own.key: own}
    for champion in champions.values():
        if champion["version"] != candidate["version"]:
            ts = await evaluator.testset(champion["lineage"]["manifest"])
            testsets.setdefault(ts.key, ts)
    ordered = list(testsets.values())
    models = {candidate["version"]: candidate, **{c["version"]: c for c in champions.values()}}
    predictions, broken = {}, {}
    for number, row in models.items():
        try:
            predictions[number] = await evaluator.predictions(row, ordered)
        except IntegrityError as exc:
            if number == candidate["version"]:
                raise
            broken[number] = exc  # a champion whose bytes changed: no comparison with it, and its gate fails
    numbers = {env: c["version"] for env, c in champions.items() if c["version"] not in broken}
    report = await asyncio.get_running_loop().run_in_executor(
        evaluator.executor, build_report, candidate["version"], ordered, predictions, numbers, settings
    )
    report["champion_failures"] = [
        {
            "environments": sorted((e for e, c in champions.items() if c["version"] == number), key=_env_order),
            "champion_version": number,
            "reason": str(exc),
            "actual_sha256": exc.actual,
        }
        for number, exc in broken.items()
    ]
    return report
