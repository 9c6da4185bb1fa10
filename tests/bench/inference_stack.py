"""The stack the inference benchmark drives, on 127.0.0.1: a moto server with the topology and a fake registry
answering the alias API (`environment`), the model published to it (`publish`), the service in its own uvicorn
process (`server`), and one load run against it with the server's batch histogram and CPU time (`measured`)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / ".run" / "bench"


# ------------------------------------------------------------------------------------------- environment
@contextmanager
def environment() -> Iterator[dict[str, str]]:
    """A moto server with the topology, and a fake registry, on 127.0.0.1; yields the env for the servers."""
    from shared.provision import apply
    from shared.settings import CommonSettings
    from tests.support.emulator import AWS_TEST_ENV, moto_server
    from tests.support.fake_registry import FakeRegistry
    from tests.support.servers import running

    registry = FakeRegistry()
    with moto_server() as endpoint, running(registry.app, ready_path="/docs") as registry_url:
        env = {
            **AWS_TEST_ENV,
            "AWS_ENDPOINT_URL": endpoint,
            "MLOPS_NAMESPACE": "bench" + uuid.uuid4().hex[:6],
            "MLOPS_DATA_DIR": str(RUN / "inference-data"),
            "MLOPS_REGISTRY_URL": registry_url,
            "MLOPS_LOG_LEVEL": "WARNING",
            "HF_HUB_OFFLINE": "1",
        }
        os.environ.update(env)
        apply(CommonSettings())
        env["_registry"] = str(id(registry))
        _REGISTRIES[env["_registry"]] = registry
        yield env


_REGISTRIES: dict[str, Any] = {}


def publish(env: dict[str, str], name: str, model_file: Path, labels: list[str]) -> None:
    """Upload the model and its transformer, and point the dev alias at it."""
    import boto3
    from botocore.config import Config

    from shared.classifier import sha256_file
    from shared.datasets import Transformer
    from shared.events import S3Location
    from shared.settings import CommonSettings
    from shared.textnorm import NormalisationConfig

    bucket = CommonSettings().bucket_for("dev")
    s3 = boto3.client("s3", region_name="us-east-1", config=Config(s3={"addressing_style": "path"}))
    key = f"models/{name}/bench/model.pt"
    s3.upload_file(str(model_file), bucket, key)
    transformer = Transformer(
        dataset="sms_spam",
        version="bench",
        normalisation=NormalisationConfig(),
        labels=labels,
        label_tokens={label: label for label in labels},
        vocabulary={},
        text_length={},
    )
    tkey = "processed/sms_spam/bench/transformer.json"
    s3.put_object(Bucket=bucket, Key=tkey, Body=transformer.model_dump_json().encode())
    registry = _REGISTRIES[env["_registry"]]
    registry.point(
        "dev",
        name,
        1,
        S3Location(bucket=bucket, key=key),
        sha256_file(model_file),
        transformer={"bucket": bucket, "key": tkey},
        labels=labels,
    )


@contextmanager
def server(env: dict[str, str], name: str, **settings: str) -> Iterator[tuple[str, int]]:
    """The inference service in its own uvicorn process, serving `name`."""
    from tests.support.emulator import free_port

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    child_env = {
        **os.environ,
        **{k: v for k, v in env.items() if not k.startswith("_")},
        "PORT": str(port),
        "INFERENCE_MODEL_ENV": "dev",
        "INFERENCE_MODEL_NAME": name,
        "INFERENCE_CAPTURE_SAMPLE_RATE": "0.1",
        "OMP_WAIT_POLICY": "PASSIVE",
        **settings,
    }
    log_file = (RUN / f"inference-server-{name}.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.inference"], env=child_env, stdout=log_file, stderr=log_file, cwd=ROOT
    )
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"inference server exited, see {log_file.name}")
            try:
                if httpx.get(f"{url}/v1/model", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        else:
            raise TimeoutError("inference server did not serve the model")
        yield url, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log_file.close()


# ------------------------------------------------------------------------------------------------ load
def loadgen(url: str, bodies: Path, path: str = "/v1/predict", **options: Any) -> dict[str, Any]:
    argv = [sys.executable, "-m", "tests.bench.loadgen", "--url", url, "--path", path, "--bodies", str(bodies)]
    for key, value in options.items():
        argv += [f"--{key.replace('_', '-')}", str(value)]
    done = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=180, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


_BUCKET = re.compile(r'^inference_batch_texts_bucket\{le="([^"]+)"\} (\S+)$', re.M)
_SUM = re.compile(r"^inference_batch_texts_(sum|count) (\S+)$", re.M)


def batch_histogram(url: str) -> dict[str, float]:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    out = {f"le_{le}": float(v) for le, v in _BUCKET.findall(text)}
    out.update({k: float(v) for k, v in _SUM.findall(text)})
    return out


def histogram_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, Any]:
    cumulative = [(k[3:], after[k] - before.get(k, 0.0)) for k in after if k.startswith("le_")]
    per_bucket: dict[str, int] = {}
    previous = 0.0
    for le, count in cumulative:
        if count - previous:
            per_bucket[f"<={le}"] = int(count - previous)
        previous = count
    passes = after.get("count", 0) - before.get("count", 0)
    texts = after.get("sum", 0) - before.get("sum", 0)
    return {"passes": int(passes), "mean_batch": round(texts / passes, 2) if passes else None, "hist": per_bucket}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (all its threads) and of its live child processes (the model
    worker with INFERENCE_RUNNER=process), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    children: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            children.update(int(c) for c in (task / "children").read_text().split())
        except OSError:
            continue
    total = own
    for child in children:
        try:
            total += cpu_seconds(child)
        except OSError:  # exited meanwhile
            continue
    return total


def measured(target: tuple[str, int], bodies: Path, **options: Any) -> dict[str, Any]:
    """One load run, with the batch histogram and the server's CPU time per answered request (robust to other
    processes on the machine, unlike requests/s)."""
    url, pid = target
    before, cpu = batch_histogram(url), cpu_seconds(pid)
    result = loadgen(url, bodies, **options)
    used = cpu_seconds(pid) - cpu
    result["batches"] = histogram_delta(before, batch_histogram(url))
    total = sum(result["statuses"].values()) or 1
    result["server_cpu_ms_per_request"] = round(used * 1000 / total, 3)
    return result
