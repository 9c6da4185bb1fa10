"""Benchmark: peak memory of the ingest service while a large file is uploaded through it.

Starts a moto server and the real ingest service (its own process, `python -m services.ingest`), streams a generated
CSV of `--mb` megabytes as a multipart upload, and reads the service's peak resident memory from the kernel
(`VmHWM` in /proc/<pid>/status, the high-water mark, so no sample can miss the peak). Streaming means the peak
should not depend on the file size: about one S3 part (8 MiB by default) on top of the idle process.

    .venv/bin/python -m tests.bench.ingest_upload --mb 200
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from tests.support.emulator import AWS_TEST_ENV, free_port, moto_server, wait_http

ROOT = Path(__file__).resolve().parents[2]
MIB = 1024 * 1024
BOUNDARY = "benchboundary7f3a"
ROW = b"my parcel has not arrived and the tracking number does not work at all,shipping,email,eu\n"


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _body(size: int) -> tuple[Iterator[bytes], int]:
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="format"\r\n\r\ncsv\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="bench.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    block = b"text,label,channel,region\n" + ROW * (MIB // len(ROW))
    blocks, rest = divmod(size, len(block))

    def chunks() -> Iterator[bytes]:
        yield head
        for _ in range(blocks):
            yield block
        yield ROW * (rest // len(ROW))
        yield tail

    file_size = blocks * len(block) + (rest // len(ROW)) * len(ROW)
    return chunks(), len(head) + file_size + len(tail)


def run(size_mb: int = 200, part_size_mb: int = 8) -> dict[str, Any]:
    with moto_server() as endpoint:
        env = {
            **os.environ,
            **AWS_TEST_ENV,
            "AWS_ENDPOINT_URL": endpoint,
            "MLOPS_NAMESPACE": "b" + uuid.uuid4().hex[:8],
            "MLOPS_DATA_DIR": f"/tmp/ingest-bench-{uuid.uuid4().hex[:6]}",
            "MLOPS_LOG_FORMAT": "text",
            "INGEST_PART_SIZE": str(part_size_mb * MIB),
        }
        subprocess.run([sys.executable, "-m", "shared.provision"], env=env, check=True, cwd=ROOT, capture_output=True)
        port = free_port()
        service = subprocess.Popen(
            [sys.executable, "-m", "services.ingest"],
            env={**env, "PORT": str(port)},
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_http(f"{base}/readyz", timeout=60)
            idle_kib = _status_kib(service.pid, "VmRSS")
            chunks, length = _body(size_mb * 1000 * 1000)
            headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}", "Content-Length": str(length)}
            started = time.perf_counter()
            answer = httpx.post(f"{base}/v1/datasets/bench/files", content=chunks, headers=headers, timeout=600)
            seconds = time.perf_counter() - started
            answer.raise_for_status()
            receipt = answer.json()
            peak_kib = _status_kib(service.pid, "VmHWM")
        finally:
            service.terminate()
            service.wait(30)
    return {
        "file_mb": round(receipt["size_bytes"] / 1e6, 1),
        "part_size_mib": part_size_mb,
        "parts": receipt["etag"].rsplit("-", 1)[-1] if "-" in (receipt["etag"] or "") else "1",
        "seconds": round(seconds, 2),
        "mb_per_s": round(receipt["size_bytes"] / 1e6 / seconds, 1),
        "idle_rss_mib": round(idle_kib / 1024, 1),
        "peak_rss_mib": round(peak_kib / 1024, 1),
        "peak_over_idle_mib": round((peak_kib - idle_kib) / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=200, help="file size in MB")
    parser.add_argument("--part-mib", type=int, default=8, help="S3 part size (INGEST_PART_SIZE) in MiB")
    args = parser.parse_args()
    print(json.dumps(run(args.mb, args.part_mib), indent=2))


if __name__ == "__main__":
    main()
