"""Benchmark of the trainer: model quality of the default study on SMS spam, trials per minute, and what pruning buys.

1. Prepares `../shared/datasets/sms_spam` with the real prep service (moto server, S3 notification, deterministic
   split) and downloads its corpora.
2. Quality: runs the default study (the trainer's default settings: 30 trials, 20-minute budget, 1 thread per trial)
   as the service's worker does (`python -m services.trainer.job`), and reports the held-out test split's MCC (the
   SMS Spam Collection paper's best, a linear SVM, reached 0.893), accuracy, spam caught (recall of spam) and ham
   blocked (share of ham classified as spam), and trials per minute.
3. Pruning: the same study with the median pruner and without, side by side (one core each), and the time each
   needed to first reach the best value both reached; the ratio is what pruning saves.

    .venv/bin/python -m tests.bench.training                       # everything (about 40 minutes)
    .venv/bin/python -m tests.bench.training --skip-pruning --minutes 20
Results: a table on stdout and `.run/bench/training.json`. The machine's load (`os.getloadavg`) is recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.support.emulator import AWS_TEST_ENV, moto_server

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / ".run" / "bench" / "training.json"
SMS = Path(os.environ.get("MLOPS_SMS_SPAM", ROOT.parent / "shared" / "datasets" / "sms_spam" / "SMSSpamCollection.tsv"))
PAPER_MCC = 0.893


def prepare_sms(work: Path) -> tuple[Path, dict[str, Any]]:
    """The SMS corpus through the real prep service; returns the local corpus folder and the manifest."""
    import boto3
    from botocore.config import Config

    from services.prep.app import app as prep_app
    from shared.datasets import SPLITS, Manifest, mapping_to_metadata
    from shared.events import ColumnMapping
    from shared.provision import apply
    from shared.settings import CommonSettings
    from tests.support.servers import running, wait_until

    with moto_server() as endpoint:
        os.environ.update({**AWS_TEST_ENV, "AWS_ENDPOINT_URL": endpoint, "MLOPS_DATA_DIR": str(work / "data")})
        os.environ["MLOPS_NAMESPACE"] = "bench" + uuid.uuid4().hex[:6]
        common = CommonSettings()
        apply(common)
        s3 = boto3.client("s3", region_name="us-east-1", config=Config(s3={"addressing_style": "path"}))
        mapping = ColumnMapping(format="tsv", has_header=False, text_column="1", label_column="0")
        meta = mapping_to_metadata(mapping, correlation_id="bench-sms", upload_id="bench")
        with running(prep_app):
            s3.put_object(Bucket=common.home_bucket, Key="raw/sms/sms.tsv", Body=SMS.read_bytes(), Metadata=meta)

            def manifest_key() -> str | None:
                listing = s3.list_objects_v2(Bucket=common.home_bucket, Prefix="processed/sms/")
                keys = [o["Key"] for o in listing.get("Contents", []) if o["Key"].endswith("manifest.json")]
                return keys[0] if keys else None

            key = wait_until(manifest_key, timeout=120, what="the SMS manifest")
        manifest = Manifest.model_validate_json(s3.get_object(Bucket=common.home_bucket, Key=key)["Body"].read())
        corpus = work / "sms"
        corpus.mkdir(parents=True, exist_ok=True)
        for split in SPLITS:
            body = s3.get_object(Bucket=common.home_bucket, Key=manifest.files[split].key)["Body"].read()
            (corpus / f"{split}.txt").write_bytes(body)
    return corpus, manifest.model_dump(mode="json")


def run_study(corpus: Path, work: Path, name: str, config: dict[str, Any], retrain: bool = True) -> dict[str, Any]:
    """One study as the service's worker runs it; returns its outcome, trial table and wall time."""
    from services.trainer.spec import JobSpec, StudyConfig

    folder = work / name
    folder.mkdir(parents=True, exist_ok=True)
    spec = JobSpec(
        study_id=f"bench-{name}",
        dataset="sms",
        version="bench",
        config=StudyConfig.model_validate(config),
        storage=f"journal:{folder / 'study.journal'}",
        tracking={"mode": "disabled"},
        plotly_js="cdn",
    )
    (folder / "spec.json").write_text(spec.to_json())
    argv = [sys.executable, "-m", "services.trainer.job", "--spec", str(folder / "spec.json"), "--data", str(corpus)]
    argv += ["--out", str(folder / "out")] + ([] if retrain else ["--no-retrain"])
    started = time.monotonic()
    with (folder / "worker.log").open("wb") as log:
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=log, stderr=log, env={**os.environ, "MLOPS_LOG_FORMAT": "json"})
    return {"proc": proc, "folder": folder, "started": started}


def finish(run: dict[str, Any]) -> dict[str, Any]:
    code = run["proc"].wait()
    wall = time.monotonic() - run["started"]
    folder = run["folder"]
    outcome_path = folder / "out" / "outcome.json"
    outcome = json.loads(outcome_path.read_text()) if outcome_path.exists() else {"status": f"exit {code}"}
    return {"exit": code, "wall_s": round(wall, 1), "outcome": outcome, "trials": _trials(folder)}


def _trials(folder: Path) -> list[dict[str, Any]]:
    import optuna

    from services.trainer.study import excluded

    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(folder / "study.journal")))
    study = optuna.load_study(study_name=f"bench-{folder.name}", storage=storage)
    return [
        {
            "number": t.number,
            "state": t.state.name,
            "value": t.value,
            "start": t.datetime_start.timestamp() if t.datetime_start else None,
            "end": t.datetime_complete.timestamp() if t.datetime_complete else None,
        }
        for t in study.trials
        if not excluded(t)
    ]


def confusion(metrics: dict[str, Any], positive: str = "spam") -> dict[str, float]:
    labels, matrix = metrics["labels"], metrics["confusion_matrix"]
    p = labels.index(positive)
    n = 1 - p
    tp, fn, fp, tn = matrix[p][p], matrix[p][n], matrix[n][p], matrix[n][n]
    return {"spam_caught": tp / (tp + fn), "ham_blocked": fp / (fp + tn), "tp": tp, "fn": fn, "fp": fp, "tn": tn}


def quality(corpus: Path, work: Path, minutes: float) -> dict[str, Any]:
    from services.trainer.settings import TrainerSettings

    config = TrainerSettings().default_study().model_copy(update={"timeout_seconds": minutes * 60})
    load_before = os.getloadavg()
    result = finish(run_study(corpus, work, "default", config.model_dump(mode="json")))
    outcome = result["outcome"]
    trials = [t for t in result["trials"] if t["end"]]
    span = (max(t["end"] for t in trials) - min(t["start"] for t in trials)) / 60 if trials else 0
    test = outcome.get("test_metrics", {})
    return {
        "status": outcome.get("status"),
        "wall_minutes": round(result["wall_s"] / 60, 2),
        "trials": outcome.get("trials"),
        "trials_per_minute": round(len(trials) / span, 2) if span else None,
        "best_dev_macro_f1": outcome.get("best_value"),
        "params": outcome.get("params"),
        "test_mcc": test.get("mcc"),
        "test_accuracy": test.get("accuracy"),
        **({k: round(v, 4) for k, v in confusion(test).items()} if test else {}),
        "beats_paper_mcc": bool(test) and test["mcc"] > PAPER_MCC,
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
    }


def time_to(trials: list[dict[str, Any]], target: float) -> float | None:
    """Seconds from the study's first trial start until a completed trial first reached `target`."""
    start = min(t["start"] for t in trials if t["start"])
    hits = [t["end"] for t in trials if t["state"] == "COMPLETE" and t["value"] is not None and t["value"] >= target]
    return round(min(hits) - start, 1) if hits else None


def pruning(corpus: Path, work: Path, trials: int, minutes: float) -> dict[str, Any]:
    from services.trainer.settings import TrainerSettings

    base = TrainerSettings().default_study().model_dump(mode="json")
    base.update(n_trials=trials, timeout_seconds=minutes * 60)
    runs = {name: run_study(corpus, work, name, {**base, "pruner": name}, retrain=False) for name in ("median", "none")}
    done = {name: finish(run) for name, run in runs.items()}
    best = {
        name: max((t["value"] for t in r["trials"] if t["state"] == "COMPLETE"), default=None)
        for name, r in done.items()
    }
    target = min(v for v in best.values() if v is not None)
    seconds = {name: time_to(r["trials"], target) for name, r in done.items()}
    ratio = round(seconds["none"] / seconds["median"], 2) if seconds["none"] and seconds["median"] else None
    counts = {
        name: {s: sum(t["state"] == s for t in r["trials"]) for s in ("COMPLETE", "PRUNED", "FAIL")}
        for name, r in done.items()
    }
    return {
        "target_dev_macro_f1": target,
        "best": best,
        "seconds_to_target": seconds,
        "speedup_with_pruning": ratio,
        "trials": counts,
        "load_after": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.training")
    parser.add_argument("--minutes", type=float, default=20, help="time budget of the default study")
    parser.add_argument("--pruning-trials", type=int, default=16)
    parser.add_argument("--pruning-minutes", type=float, default=15)
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-pruning", action="store_true")
    args = parser.parse_args()
    report: dict[str, Any] = {"when": datetime.now().isoformat(timespec="seconds"), "cores": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="bench-training-") as tmp:
        work = Path(tmp)
        corpus, manifest = prepare_sms(work)
        report["splits"] = {s: c["per_label"] for s, c in manifest["splits"].items()}
        print(f"SMS prepared by prep: {report['splits']}", flush=True)
        if not args.skip_quality:
            report["quality"] = quality(corpus, work, args.minutes)
            print(json.dumps(report["quality"], indent=2), flush=True)
        if not args.skip_pruning:
            report["pruning"] = pruning(corpus, work, args.pruning_trials, args.pruning_minutes)
            print(json.dumps(report["pruning"], indent=2), flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    RESULTS.write_text(json.dumps({**previous, **report}, indent=2))
    print(f"results: {RESULTS}")


if __name__ == "__main__":
    main()
