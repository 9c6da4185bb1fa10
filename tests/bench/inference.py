"""`make bench-inference`: the inference service against its physical limits, for two models, in one run.

For each model (the default small one-hot model and a MiniLM transformer model, both trained here on SMS spam):
1. X*: in-process `ServingModel.predict` (cleaning, tokens, one forward pass) at batch sizes 1..128 over realistic
   texts: best texts/s and t(1), the time of one text; R0: the same server's trivial JSON endpoint (`POST /v1/ping`)
   in requests/s at concurrency 64, before and after the closed-loop runs (the higher is the limit).
2. Baseline: the same API with batching off (`INFERENCE_BATCHING=false`: one forward pass per request).
3. The service (uvicorn, one process) at closed-loop concurrency 1/4/16/64 and open-loop 50/80/100 % of
   min(X*, R0), one text per request, from a load generator in another process (tests/bench/loadgen.py, corrects
   coordinated omission); requests/s, p50/p90/p99, errors, the batch-size histogram, efficiency = served/min(X*, R0).
Everything runs on 127.0.0.1: a moto server for S3/SNS/SQS, a fake registry answering the alias API. Results go to
`.run/bench/inference.json`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.bench.inference_stack import ROOT, RUN, environment, measured, publish, server

MODELS = RUN / "inference-models"
BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64, 128)
CLOSED = (1, 4, 16, 64)
OPEN = (0.5, 0.8, 1.0)
MAX_WAIT_MS = 2.0
SERVICE_SETTINGS = {"INFERENCE_MAX_BATCH_TEXTS": "64", "INFERENCE_MAX_WAIT_MS": str(MAX_WAIT_MS)}
# Pass sizes tried inside a batch (0: the whole batch in one pass). The small model's pass is vectorised (graph.py)
# and gains nothing from splitting; the transformer's cost is per padded token.
PASSES = {"small": (0,), "minilm": (0, 4, 8, 16)}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------- limits
def measure_xstar(
    model_file: Path, texts: list[str], threads: int, seconds: float, pass_texts: int = 0
) -> dict[str, Any]:
    """In-process throughput of the serving code path by batch size, and the time of one text, at `threads`
    torch threads (run in a fresh process per thread count: OpenMP's pool is sized once per process)."""
    import torch
    from flair.models import TextClassifier

    from services.inference.model import ServingModel, classifier_labels
    from shared.textnorm import NormalisationConfig

    torch.set_num_threads(threads)
    classifier = TextClassifier.load(str(model_file))
    model = ServingModel(
        "bench", 1, "dev", classifier, NormalisationConfig(), classifier_labels(classifier), "", "", None, {}
    )
    model.pass_texts = pass_texts
    model.warm_up()
    by_size: dict[str, float] = {}
    cpu_by_size: dict[str, float] = {}
    for size in BATCH_SIZES:
        done, started, cpu, i = 0, time.perf_counter(), time.process_time(), 0
        while time.perf_counter() - started < seconds or done < size:
            batch = [texts[(i + k) % len(texts)] for k in range(size)]
            model.predict(batch)
            done += size
            i += size
        by_size[str(size)] = round(done / (time.perf_counter() - started), 1)
        cpu_by_size[str(size)] = round((time.process_time() - cpu) * 1000 / done, 3)
    singles = []
    for k in range(100):
        started = time.perf_counter()
        model.predict([texts[(7 * k) % len(texts)]])
        singles.append(time.perf_counter() - started)
    best = max(by_size, key=lambda s: by_size[s])
    return {
        "threads": threads,
        "pass_texts": pass_texts,
        "texts_per_s_by_batch": by_size,
        "cpu_ms_per_text_by_batch": cpu_by_size,
        "best_texts_per_s": by_size[best],
        "best_batch": int(best),
        "t1_ms": round(statistics.median(singles) * 1000, 3),
    }


def xstar_all(model_file: Path, texts_file: Path, cores: int, seconds: float, passes: tuple[int, ...]) -> dict:
    """X* at 1 and at `cores` torch threads, with one pass per batch and with length-ordered passes of `passes`
    texts, each in its own process; X* is the best of them (and the service is run in that configuration)."""
    runs = []
    for threads in sorted({1, cores}):
        for pass_texts in passes:
            argv = [sys.executable, "-m", "tests.bench.inference", "--xstar-only", str(model_file)]
            argv += ["--texts", str(texts_file), "--threads", str(threads), "--xstar-seconds", str(seconds)]
            argv += ["--pass-texts", str(pass_texts)]
            env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}  # as the service runs (services/inference/__main__)
            done = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=900, check=True, env=env)
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
            run = runs[-1]
            log(f"   X* threads={threads} pass={pass_texts}: {run['best_texts_per_s']}/s, t(1) {run['t1_ms']} ms")
    best = max(runs, key=lambda r: r["best_texts_per_s"])
    return {**best, "runs": runs}


# ------------------------------------------------------------------------------------------------- runs
def bench_model(env: dict[str, str], kind: str, model_file: Path, texts: list[str], args: argparse.Namespace) -> dict:
    from flair.models import TextClassifier

    from services.inference.model import classifier_labels

    name = f"sms-{kind}"
    log(f"== {name}: X* in process")
    tmp = Path(tempfile.mkdtemp())
    texts_file = tmp / "texts.json"
    texts_file.write_text(json.dumps(texts))
    xstar = xstar_all(model_file, texts_file, args.threads, args.xstar_seconds, PASSES[kind])
    log(f"   X* {xstar['best_texts_per_s']}/s at batch {xstar['best_batch']}, {xstar['threads']} thread(s)")
    labels = list(classifier_labels(TextClassifier.load(str(model_file))))
    publish(env, name, model_file, labels)
    bodies = tmp / "bodies.json"
    bodies.write_text(json.dumps([{"texts": [t]} for t in texts]))
    # The service runs as the best in-process configuration found: its torch threads and pass size.
    settings = {
        **SERVICE_SETTINGS,
        "INFERENCE_TORCH_THREADS": str(xstar["threads"]),
        "INFERENCE_PASS_TEXTS": str(xstar["pass_texts"]),
        "INFERENCE_RUNNER": args.runner,
    }
    out: dict[str, Any] = {"model": name, "x_star": xstar, "settings": settings}
    with server(env, name, **settings) as target:
        # R0 is measured before and after the closed-loop runs and the higher one is the limit: one server start
        # or minute to the next, a trivial endpoint's rate on this shared machine varies by up to 2x, and a low R0
        # would flatter the efficiency.
        log("   R0: POST /v1/ping at concurrency 64")
        out["r0_before"] = measured(target, bodies, path="/v1/ping", concurrency=64, duration=args.duration)
        out["closed"] = {}
        for c in CLOSED:
            log(f"   closed loop c={c}")
            out["closed"][str(c)] = measured(target, bodies, concurrency=c, duration=args.duration)
        log("   R0 again")
        out["r0_after"] = measured(target, bodies, path="/v1/ping", concurrency=64, duration=args.duration)
        out["r0"] = max(out["r0_before"], out["r0_after"], key=lambda r: r["rps"])
        limit = min(xstar["best_texts_per_s"], out["r0"]["rps"])
        out["limit"] = limit
        for result in out["closed"].values():
            result["efficiency"] = round(result["rps"] / limit, 3)
        out["open"] = {}
        for share in OPEN:
            rate = round(limit * share, 1)
            log(f"   open loop {share:.0%} of {limit:.0f}/s = {rate}/s")
            result = measured(target, bodies, rate=rate, duration=args.duration)
            result["efficiency"] = round(result["rps"] / limit, 3)
            out["open"][f"{int(share * 100)}%"] = result
    with server(env, name, **settings, INFERENCE_BATCHING="false") as target:
        log("   baseline (no batching) c=64 and c=1")
        out["baseline"] = {
            "64": measured(target, bodies, concurrency=64, duration=args.duration),
            "1": measured(target, bodies, concurrency=1, duration=args.duration),
        }
    out["targets"] = targets(out, kind)
    return out


def targets(out: dict[str, Any], kind: str) -> dict[str, Any]:
    c64, c1 = out["closed"]["64"], out["closed"]["1"]
    checks: dict[str, Any] = {
        "c64_vs_limit": {"want": ">= 0.8", "got": round(c64["rps"] / out["limit"], 3)},
        "c1_p50_ms": {
            "want": f"<= {out['x_star']['t1_ms'] + MAX_WAIT_MS + 5:.2f}",
            "got": c1["p50_ms"],
        },
    }
    checks["c64_vs_limit"]["met"] = checks["c64_vs_limit"]["got"] >= 0.8
    checks["c1_p50_ms"]["met"] = c1["p50_ms"] is not None and c1["p50_ms"] <= out["x_star"]["t1_ms"] + MAX_WAIT_MS + 5
    if kind == "minilm":
        ratio = round(c64["rps"] / max(out["baseline"]["64"]["rps"], 1e-9), 2)
        checks["c64_vs_baseline"] = {"want": ">= 2.5", "got": ratio, "met": ratio >= 2.5}
    return checks


def ensure_models(retrain: bool) -> dict[str, Path]:
    from tests.bench.inference_models import sms_rows, train

    rows = sms_rows()
    files = {"small": MODELS / "small" / "model.pt", "minilm": MODELS / "minilm" / "model.pt"}
    for kind, path in files.items():
        if retrain or not path.exists():
            log(f"training the {kind} model on SMS spam ...")
            started = time.monotonic()
            # MiniLM: the head is trained briefly on 800 texts (frozen encoder); the small model on all of them.
            train(kind, rows if kind == "small" else rows[:800], path)
            log(f"   trained in {time.monotonic() - started:.0f}s")
    return files


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        f"{'model':<11} {'run':<15} {'req/s':>8} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'err':>5} "
        f"{'batch':>6} {'eff':>6} {'cpu/req':>8}"
    ]
    for r in results:
        x = r["x_star"]
        lines.append(
            f"{r['model']:<11} X* best {x['best_texts_per_s']:.0f} texts/s at batch {x['best_batch']}, "
            f"t(1) {x['t1_ms']:.2f} ms, {x['threads']} thread(s), pass {x['pass_texts'] or 'whole batch'}, "
            f"runner {r['settings'].get('INFERENCE_RUNNER', 'thread')}; "
            f"R0 {r['r0']['rps']:.0f} req/s (before/after {r['r0_before']['rps']:.0f}/{r['r0_after']['rps']:.0f}) "
            f"({r['r0']['server_cpu_ms_per_request']:.3f} ms CPU each); limit {r['limit']:.0f}/s"
        )
        runs = [(f"closed c={c}", v) for c, v in r["closed"].items()]
        runs += [(f"open {k}", v) for k, v in r["open"].items()]
        runs += [(f"baseline c={c}", v) for c, v in r["baseline"].items()]
        for label, v in runs:
            lines.append(
                f"{'':<11} {label:<15} {v['rps']:>8.1f} {v['p50_ms'] or 0:>8.2f} {v['p90_ms'] or 0:>8.2f} "
                f"{v['p99_ms'] or 0:>8.2f} {v['errors']:>5} {v['batches']['mean_batch'] or 0:>6} "
                f"{v.get('efficiency', v['rps'] / r['limit']):>6.2f} {v.get('server_cpu_ms_per_request', 0):>8.3f}"
            )
        for name, check in r["targets"].items():
            lines.append(f"{'':<11} target {name}: want {check['want']}, got {check['got']} -> {check['met']}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.inference")
    parser.add_argument("--models", default="small,minilm")
    parser.add_argument("--duration", type=float, default=6.0, help="seconds per load run")
    parser.add_argument("--xstar-seconds", type=float, default=1.5, help="seconds per batch size in process")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--retrain", action="store_true")
    parser.add_argument(
        "--runner", choices=("thread", "process"), default="thread", help="INFERENCE_RUNNER of the service runs"
    )
    parser.add_argument("--xstar-only", help=argparse.SUPPRESS)  # internal: one X* measurement, JSON on stdout
    parser.add_argument("--texts", help=argparse.SUPPRESS)
    parser.add_argument("--pass-texts", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import flair  # noqa: F401  (configures its logger at import; quiet it afterwards)

    logging.getLogger("flair").setLevel(logging.WARNING)  # flair prints a whole vocabulary when loading a model
    if args.xstar_only:
        texts = json.loads(Path(args.texts).read_text())
        result = measure_xstar(Path(args.xstar_only), texts, args.threads, args.xstar_seconds, args.pass_texts)
        print(json.dumps(result))
        return
    RUN.mkdir(parents=True, exist_ok=True)
    files = ensure_models(args.retrain)
    from tests.bench.inference_models import sms_rows

    texts = [text for _, text in sms_rows()[-600:]]  # held-out SMS texts, as people write them
    load = os.getloadavg()
    results = []
    with environment() as env:
        for kind in args.models.split(","):
            results.append(bench_model(env, kind, files[kind], texts, args))
    report = {
        "machine": {"cores": len(os.sched_getaffinity(0)), "loadavg_before": load, "loadavg_after": os.getloadavg()},
        "max_wait_ms": MAX_WAIT_MS,
        "results": results,
    }
    (RUN / "inference.json").write_text(json.dumps(report, indent=2))
    print(table(results))
    print(f"\nwritten to {RUN / 'inference.json'}; load average before {load}, after {os.getloadavg()}")


if __name__ == "__main__":
    main()
