"""Approval gates: what an environment's policy asks of a candidate, checked against its review.

Pure functions of the policy, the review report and the integrity facts, so each gate is unit-tested on its own.
A gate that fails never rejects a model by itself: the approval waits for a person, who sees which gates failed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from services.registry.settings import EnvPolicy


@dataclass(frozen=True)
class Gate:
    name: str
    passed: bool
    detail: str


def comparison_for(report: dict[str, Any], environment: str) -> dict[str, Any] | None:
    return next((c for c in report.get("comparisons", []) if environment in c["environments"]), None)


def min_metric(policy: EnvPolicy, report: dict[str, Any]) -> Gate:
    value = float(report["metrics"][policy.metric])
    passed = value >= policy.min_value
    return Gate("min_metric", passed, f"{policy.metric} {value:.4f} {'>=' if passed else '<'} {policy.min_value}")


def beats_champion(policy: EnvPolicy, report: dict[str, Any], environment: str) -> Gate:
    """The lower bound of the bootstrap interval of (candidate - champion) must exceed the margin on every test set
    (the candidate's and the champion's): better by a margin the statistics support, both ways."""
    broken = next((f for f in report.get("champion_failures", []) if environment in f["environments"]), None)
    if broken is not None:
        return Gate("beats_champion", False, f"champion v{broken['champion_version']} failed its integrity check")
    comparison = comparison_for(report, environment)
    if comparison is None:
        return Gate("beats_champion", True, f"no champion in {environment} to beat")
    details, passed = [], True
    for row in comparison["testsets"]:
        boot = row["bootstrap"][policy.metric]
        low, high = boot.get("intervals", {}).get(f"{policy.confidence:g}", [boot["low"], boot["high"]])
        ok = low > policy.min_improvement
        passed &= ok
        details.append(
            f"on {row['testset']}: {policy.metric} {boot['difference']:+.4f} "
            f"[{low:+.4f}, {high:+.4f}] {'>' if ok else '<='} {policy.min_improvement:+.4f}"
        )
    return Gate("beats_champion", passed, f"vs v{comparison['champion_version']} " + "; ".join(details))


def slice_gap(policy: EnvPolicy, report: dict[str, Any]) -> Gate:
    gap = report.get("max_slice_gap")
    if gap is None:
        return Gate("slice_gap", True, "no slice with two groups large enough to compare")
    passed = gap <= policy.max_slice_gap
    worst = max(
        ((name, s) for name, s in report.get("slices", {}).items() if s.get("gap") is not None),
        key=lambda item: item[1]["gap"],
    )
    where = f" ({worst[0]}: {worst[1]['best']} vs {worst[1]['worst']})" if gap > 0 else " (every group alike)"
    return Gate("slice_gap", passed, f"accuracy gap {gap:.4f}{where} {'<=' if passed else '>'} {policy.max_slice_gap}")


def integrity(version: dict[str, Any]) -> Gate:
    verified = bool(version["lineage"].get("artifact_verified"))
    return Gate(
        "artifact_checksum",
        verified,
        "sha256 verified on registration and review" if verified else "artifact checksum not verified",
    )


def model_card(version: dict[str, Any]) -> Gate:
    problems = list(version["lineage"].get("card_problems", ["model card not read"]))
    return Gate("model_card", not problems, "complete" if not problems else "; ".join(problems))


def evaluate_gates(policy: EnvPolicy, report: dict[str, Any], version: dict[str, Any], environment: str) -> list[Gate]:
    return [
        min_metric(policy, report),
        beats_champion(policy, report, environment),
        slice_gap(policy, report),
        integrity(version),
        model_card(version),
    ]


def as_json(gates: list[Gate]) -> list[dict[str, Any]]:
    return [asdict(g) for g in gates]


def failed(gates: list[dict[str, Any]]) -> list[str]:
    return [f"{g['name']}: {g['detail']}" for g in gates if not g["passed"]]
