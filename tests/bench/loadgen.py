"""A small HTTP/1.1 load generator for the inference benchmark, run in its own process (`python -m
tests.bench.loadgen`), against 127.0.0.1 only, bounded in time.

* closed loop: `--concurrency C` connections, each sending its next request when the previous answer arrived;
* open loop: `--rate R` requests per second scheduled at fixed intervals whatever the server does, and latency
  measured from each request's *intended* send time, so a stalled server shows up in the percentiles instead of
  silently lowering the offered load (coordinated omission, as wrk2 / `oha --latency-correction` correct it).

Raw keep-alive connections on uvloop keep the generator's own cost per request small (the machine has 2 cores and
the server needs them). Prints one JSON object with counts, statuses and latency percentiles.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from typing import Any
from urllib.parse import urlsplit


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def request(self, data: bytes) -> int:
        self.writer.write(data)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        lower = head.lower()
        at = lower.find(b"content-length:")
        length = int(lower[at + 15 : lower.find(b"\r\n", at)]) if at >= 0 else 0
        if length:
            await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        self.writer.close()


def build_requests(host: str, port: int, path: str, bodies: list[bytes], method: str = "POST") -> list[bytes]:
    return [
        (
            f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        + body
        for body in bodies
    ]


class Results:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.statuses: Counter[int] = Counter()
        self.errors = 0

    def record(self, status: int, latency: float) -> None:
        self.statuses[status] += 1
        if status == 200:
            self.latencies.append(latency)

    def summary(self, seconds: float, **extra: Any) -> dict[str, Any]:
        lat = sorted(self.latencies)

        def pct(p: float) -> float | None:
            return round(lat[min(len(lat) - 1, int(p / 100 * len(lat)))] * 1000, 3) if lat else None

        non_ok = sum(n for s, n in self.statuses.items() if s != 200)
        return {
            **extra,
            "seconds": round(seconds, 3),
            "ok": len(lat),
            "errors": self.errors + non_ok,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "rps": round(len(lat) / seconds, 1) if seconds else 0.0,
            "p50_ms": pct(50),
            "p90_ms": pct(90),
            "p99_ms": pct(99),
            "max_ms": round(lat[-1] * 1000, 3) if lat else None,
        }


async def closed_loop(
    host: str, port: int, requests: list[bytes], concurrency: int, duration: float, warmup: float
) -> dict[str, Any]:
    results = Results()
    start = time.perf_counter()
    measure_from, stop_at = start + warmup, start + warmup + duration

    async def worker(offset: int) -> None:
        conn = await Connection.open(host, port)
        i = offset
        try:
            while (now := time.perf_counter()) < stop_at:
                try:
                    status = await conn.request(requests[i % len(requests)])
                except (OSError, asyncio.IncompleteReadError):
                    results.errors += now >= measure_from
                    conn.close()
                    conn = await Connection.open(host, port)
                    continue
                if now >= measure_from:
                    results.record(status, time.perf_counter() - now)
                i += concurrency
        finally:
            conn.close()

    await asyncio.gather(*(worker(k) for k in range(concurrency)))
    return results.summary(duration, mode="closed", concurrency=concurrency)


async def open_loop(
    host: str, port: int, requests: list[bytes], rate: float, duration: float, max_connections: int
) -> dict[str, Any]:
    results = Results()
    idle: list[Connection] = []
    opened = 0
    free = asyncio.Condition()
    pending: set[asyncio.Task[None]] = set()

    async def connection() -> Connection:
        nonlocal opened
        async with free:
            while not idle and opened >= max_connections:
                await free.wait()
            if idle:
                return idle.pop()
            opened += 1
        return await Connection.open(host, port)

    async def send(data: bytes, intended: float) -> None:
        nonlocal opened
        conn = await connection()
        try:
            status = await conn.request(data)
        except (OSError, asyncio.IncompleteReadError):
            results.errors += 1
            conn.close()
            async with free:
                opened -= 1
                free.notify()
            return
        results.record(status, time.perf_counter() - intended)  # from the intended send time
        async with free:
            idle.append(conn)
            free.notify()

    interval = 1.0 / rate
    start = time.perf_counter()
    total = int(rate * duration)
    sent = 0
    while sent < total:
        now = time.perf_counter()
        due = min(total, int((now - start) / interval) + 1)
        while sent < due:  # everything whose time has come, each stamped with its own intended time
            task = asyncio.create_task(send(requests[sent % len(requests)], start + sent * interval))
            pending.add(task)
            task.add_done_callback(pending.discard)
            sent += 1
        await asyncio.sleep(max(0.0, start + sent * interval - time.perf_counter()))
    _, late = await asyncio.wait(pending, timeout=10) if pending else (set(), set())
    for task in late:  # unanswered 10 s after the run: counted as errors
        task.cancel()
        results.errors += 1
    for conn in idle:
        conn.close()
    return results.summary(duration, mode="open", rate=rate, offered=total)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.loadgen")
    parser.add_argument("--url", required=True)
    parser.add_argument("--path", default="/v1/predict")
    parser.add_argument("--bodies", required=True, help="JSON file: a list of request bodies (JSON values)")
    parser.add_argument("--concurrency", type=int)
    parser.add_argument("--rate", type=float)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--max-connections", type=int, default=512)
    args = parser.parse_args()
    parts = urlsplit(args.url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("the load generator only targets this machine (127.0.0.1)")
    with open(args.bodies, encoding="utf-8") as handle:
        bodies = [json.dumps(b, ensure_ascii=False).encode() for b in json.load(handle)]
    requests = build_requests(host, port, args.path, bodies)
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover
        pass
    if args.rate:
        result = asyncio.run(open_loop(host, port, requests, args.rate, args.duration, args.max_connections))
    else:
        result = asyncio.run(closed_loop(host, port, requests, args.concurrency or 1, args.duration, args.warmup))
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
