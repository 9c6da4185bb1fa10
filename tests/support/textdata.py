"""Generated labelled text for prep's tests and benchmarks (never the real data sets: a fresh clone lacks them)."""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Iterator
from pathlib import Path

from shared.demo.data import rows as ticket_rows


def tickets(n: int, seed: int = 7, unique: bool = True) -> list[dict[str, str]]:
    """Support tickets (text, label, channel, region); `unique` appends a ticket number so texts rarely repeat."""
    rng = random.Random(seed)
    out = ticket_rows(n, seed)
    if unique:
        for i, row in enumerate(out):
            row["text"] = f"{row['text']} (ticket {i}-{rng.randrange(10**6)})"
    return out


def to_csv(records: list[dict[str, str]], columns: tuple[str, ...] = ("text", "label", "channel", "region")) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([r[c] for c in columns] for r in records)
    return buffer.getvalue().encode("utf-8")


def to_tsv(records: list[dict[str, str]], label_first: bool = False, newline: str = "\n") -> bytes:
    lines = [f"{r['label']}\t{r['text']}" if label_first else f"{r['text']}\t{r['label']}" for r in records]
    return (newline.join(lines) + newline).encode("utf-8")


def with_duplicates(records: list[dict[str, str]], share: float, seed: int = 3) -> list[dict[str, str]]:
    """`records` plus exact copies of some of them, so that copies make up `share` of the result (shuffled)."""
    rng = random.Random(seed)
    extra = round(len(records) * share / (1 - share))
    out = records + [dict(rng.choice(records)) for _ in range(extra)]
    rng.shuffle(out)
    return out


def write_csv_of_size(path: Path, size: int, seed: int = 1, pool: int = 20_000) -> int:
    """Write realistic CSV rows (header text,label,channel,region) until the file reaches `size` bytes; returns the
    number of data rows. About 10% of rows repeat an earlier text, the rest carry a ticket number."""
    rng = random.Random(seed)
    base = ticket_rows(pool, seed)
    rows = 0
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["text", "label", "channel", "region"])
        while f.tell() < size:
            writer.writerows(_batch(base, rng, 5000))
            rows += 5000
    return rows


def _batch(base: list[dict[str, str]], rng: random.Random, n: int) -> Iterator[tuple[str, str, str, str]]:
    for _ in range(n):
        row = base[rng.randrange(len(base))]
        text = row["text"] if rng.random() < 0.1 else f"{row['text']} (ticket {rng.randrange(10**8)})"
        yield text, row["label"], row["channel"], row["region"]
