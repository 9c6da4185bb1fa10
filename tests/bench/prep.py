"""Benchmark of the prep service: throughput and peak memory by file size, and S3 PUT -> handler start latency.

Starts a moto server, provisions a fresh namespace, and runs the real prep service as its own process
(`python -m services.prep`, production settings). For each size a fresh prep process is started, a realistic CSV
(text,label,channel,region, about 10% repeated texts) is generated into a temp file and uploaded to `raw/`, and the
S3 notification triggers the preparation. Throughput is rows / (handler start -> `prepared`), from the service's JSON
logs; peak memory is the process's `VmHWM` (the kernel's high-water mark of resident memory: no sample can miss the
peak). Latency: small PUTs one after another, each measured from the PUT's return to the handler's first log line.

    .venv/bin/python -m tests.bench.prep                  # 10 MB, 100 MB, 1 GB and 100 PUTs
    .venv/bin/python -m tests.bench.prep --sizes 10,100 --puts 50
Results: a table on stdout and `.run/bench/prep.json`; the service's logs in `.run/bench/prep-logs/`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from tests.support.emulator import AWS_TEST_ENV, free_port, moto_server, wait_http
from tests.support.textdata import tickets, to_csv, write_csv_of_size

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / ".run" / "bench" / "prep.json"
LOGS = ROOT / ".run" / "bench" / "prep-logs"
MB = 1000 * 1000


def _kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _logs(path: Path) -> list[dict[str, Any]]:
    out = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def _ts(line: dict[str, Any]) -> float:
    return datetime.fromisoformat(line["ts"]).timestamp()


class Stack:
    """A moto server with the topology applied under a fresh namespace, and a way to run prep against it."""

    def __init__(self, endpoint: str, work: Path) -> None:
        self.work = work
        self.env = {
            **os.environ,
            **AWS_TEST_ENV,
            "AWS_ENDPOINT_URL": endpoint,
            "MLOPS_NAMESPACE": "bench" + uuid.uuid4().hex[:6],
            "MLOPS_DATA_DIR": str(work / "data"),
            "MLOPS_LOG_FORMAT": "json",
            "HF_HUB_OFFLINE": "1",
        }
        subprocess.run(
            [sys.executable, "-m", "shared.provision"], env=self.env, cwd=ROOT, check=True, capture_output=True
        )
        self.bucket = f"{self.env['MLOPS_NAMESPACE']}-dev"
        config = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 5, "mode": "standard"})
        self.s3 = boto3.client(
            "s3",
            region_name="us-east-1",
            endpoint_url=endpoint,
            aws_access_key_id=AWS_TEST_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=AWS_TEST_ENV["AWS_SECRET_ACCESS_KEY"],
            config=config,
        )

    @contextmanager
    def prep(self, name: str) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
        log = self.work / f"prep-{name}.log"
        port = free_port()
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "services.prep"],
                env={**self.env, "PORT": str(port)},
                cwd=ROOT,
                stdout=out,
                stderr=out,
            )
        try:
            wait_http(f"http://127.0.0.1:{port}/readyz", timeout=60)
            yield proc, log
        finally:
            proc.terminate()
            proc.wait(60)
            LOGS.mkdir(parents=True, exist_ok=True)
            (LOGS / log.name).write_bytes(log.read_bytes())  # kept for a look at phases, heartbeats, retries


def _wait_for(log: Path, predicate: Any, timeout: float, proc: subprocess.Popen[bytes]) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in _logs(log):
            if predicate(line):
                return line
        if proc.poll() is not None:
            raise RuntimeError(f"prep exited with {proc.returncode}; see {log}")
        time.sleep(0.5)
    raise TimeoutError(f"no matching log line within {timeout}s; see {log}")


def throughput(stack: Stack, size_mb: int) -> dict[str, Any]:
    source = stack.work / f"bench-{size_mb}mb.csv"
    generated = time.perf_counter()
    rows = write_csv_of_size(source, size_mb * MB)
    generated = time.perf_counter() - generated
    key = f"raw/bench/size-{size_mb}mb.csv"
    with stack.prep(f"{size_mb}mb") as (proc, log):
        idle_kib = _kib(proc.pid, "VmRSS")
        transfer = TransferConfig(multipart_chunksize=64 * 1024 * 1024, max_concurrency=4)
        uploaded = time.perf_counter()
        stack.s3.upload_file(str(source), stack.bucket, key, Config=transfer)
        uploaded = time.perf_counter() - uploaded
        source.unlink()
        timeout = max(600, size_mb * 2)
        done = _wait_for(
            log, lambda x: str(x.get("msg", "")).startswith(("prepared raw/bench", "rejected raw/bench")), timeout, proc
        )
        lines = _logs(log)
        start = next(x for x in lines if x.get("msg") == f"handling {key}")
        phases = {x["phase"]: x["seconds"] for x in lines if "phase" in x}
        peak_kib = _kib(proc.pid, "VmHWM")
    if not done["msg"].startswith("prepared"):
        raise RuntimeError(f"the benchmark file was rejected: {done}")
    seconds = _ts(done) - float(start["started_at"])
    return {
        "size_mb": size_mb,
        "rows": rows,
        "rows_in": done.get("rows_in"),
        "generate_s": round(generated, 1),
        "upload_s": round(uploaded, 1),
        "prepare_s": round(seconds, 1),
        "rows_per_s": round(rows / seconds),
        "mb_per_s": round(size_mb / seconds, 2),
        "phases_s": phases,
        "idle_rss_mib": round(idle_kib / 1024, 1),
        "peak_rss_mib": round(peak_kib / 1024, 1),
    }


def latency(stack: Stack, puts: int, gap: float) -> dict[str, Any]:
    bodies = [to_csv(tickets(200, seed=i)) for i in range(puts)]  # small, valid, each a new data set version
    put_done: dict[str, float] = {}
    with stack.prep("latency") as (_proc, log):
        for i, body in enumerate(bodies):
            key = f"raw/latency/put-{i:04d}.csv"
            stack.s3.put_object(Bucket=stack.bucket, Key=key, Body=body)
            put_done[key] = time.time()
            time.sleep(gap)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            starts = {
                x["msg"].removeprefix("handling "): x
                for x in _logs(log)
                if str(x.get("msg", "")).startswith("handling ")
            }
            if set(put_done) <= set(starts):
                break
            time.sleep(0.5)
    since_put = sorted((float(starts[k]["started_at"]) - t) * 1000 for k, t in put_done.items() if k in starts)
    since_event = sorted(float(starts[k]["event_age_seconds"]) * 1000 for k in put_done if k in starts)
    return {
        "puts": puts,
        "handled": len(since_put),
        "put_to_handler_ms": _percentiles(since_put),
        "s3_event_time_to_handler_ms": _percentiles(since_event),
    }


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {
        "p50": round(statistics.median(values), 1),
        "p99": round(cuts[98], 1),
        "min": round(values[0], 1),
        "max": round(values[-1], 1),
    }


def _table(results: dict[str, Any]) -> str:
    head = f"{'file':>8} {'rows':>10} {'prepare s':>10} {'rows/s':>9} {'MB/s':>6} {'idle MiB':>9} {'peak MiB':>9}"
    lines = ["prep throughput and peak RSS (VmHWM of the prep process)", head, "-" * len(head)]
    for r in results["throughput"]:
        lines.append(
            f"{str(r['size_mb']) + ' MB':>8} {r['rows']:>10,} {r['prepare_s']:>10} {r['rows_per_s']:>9,} "
            f"{r['mb_per_s']:>6} {r['idle_rss_mib']:>9} {r['peak_rss_mib']:>9}"
        )
    if lat := results.get("latency"):
        put, event = lat["put_to_handler_ms"], lat["s3_event_time_to_handler_ms"]
        lines += [
            "",
            f"S3 PUT -> prep handler start, {lat['handled']}/{lat['puts']} small PUTs on the moto server",
            f"  from the PUT's return:    p50 {put.get('p50')} ms   p99 {put.get('p99')} ms   max {put.get('max')} ms",
            f"  from S3's eventTime:      p50 {event.get('p50')} ms   p99 {event.get('p99')} ms",
        ]
    return "\n".join(lines)


def run(sizes: list[int], puts: int, gap: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="prep-bench-") as tmp, moto_server() as endpoint:
        stack = Stack(endpoint, Path(tmp))
        results: dict[str, Any] = {"cpu_count": os.cpu_count(), "throughput": []}
        for size in sizes:
            results["throughput"].append(throughput(stack, size))
            print(f"  {size} MB done: {results['throughput'][-1]}", file=sys.stderr)
        if puts:
            results["latency"] = latency(stack, puts, gap)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10,100,1000", help="file sizes in MB, comma-separated")
    parser.add_argument("--puts", type=int, default=100, help="small PUTs for the latency measurement (0: skip)")
    parser.add_argument("--gap", type=float, default=0.2, help="seconds between the small PUTs")
    args = parser.parse_args()
    results = run([int(s) for s in args.sizes.split(",") if s], args.puts, args.gap)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(_table(results))
    print(f"\nwritten to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
