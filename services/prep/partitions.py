"""Bounded-memory dedupe and split: rows are spilled to temp files partitioned by a seeded hash of their normalised
text, then handled one partition at a time.

Identical texts hash alike, so every copy of a text lands in the same partition: duplicates and conflicting labels are
found there, and a text can never reach two splits (no leakage). Partitions cover consecutive ranges of the hash, so
reading them in order, each sorted, walks all rows in hash order: the first `train` share of each label's rows goes
to train, the next to dev, the rest to test. That split is stratified exactly, deterministic for a seed, and needs
one partition in memory at a time.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from services.prep.model import CONFLICTING_LABEL, DUPLICATE
from shared.datasets import SPLITS, SplitConfig

_BUFFER = 1 << 16
_DIGEST = 32  # hex chars of the 16-byte text hash that starts every spill line


class Spill:
    """Writes normalised rows into `count` partition files; `rows` counts what went in."""

    def __init__(self, directory: Path, count: int, seed: int) -> None:
        self.directory = directory
        self.count = count
        self.key = seed.to_bytes(8, "big")
        self.paths = [directory / f"part-{i:04d}.spill" for i in range(count)]
        self._files: list[IO[str]] = [
            p.open("w", encoding="utf-8", newline="\n", buffering=_BUFFER) for p in self.paths
        ]
        self.rows = 0

    def add(self, text: str, label: str, slices: str) -> None:
        # text, label and slices hold no tab or newline (normalised, collapsed, JSON-escaped).
        digest = hashlib.blake2b(text.encode(), digest_size=16, key=self.key).hexdigest()
        self._files[int(digest[:8], 16) * self.count >> 32].write(f"{digest}\t{label}\t{slices}\t{text}\n")
        self.rows += 1

    def close(self) -> None:
        for f in self._files:
            f.close()


def dedupe(path: Path, out: Path, dropped: Counter[str]) -> Counter[str]:
    """Keep one row per distinct text (sorted by hash) in `out`; drop duplicates and every copy of a text that
    carries two labels. Returns the kept rows per label."""
    first: dict[str, str] = {}  # digest -> the rest of its first line ("label\tslices\ttext\n")
    copies: Counter[str] = Counter()  # extra copies per digest
    conflicts: set[str] = set()
    with path.open(encoding="utf-8", newline="\n", buffering=_BUFFER) as f:
        for line in f:
            digest, rest = line[:_DIGEST], line[_DIGEST + 1 :]
            kept_rest = first.setdefault(digest, rest)
            if kept_rest is not rest:
                copies[digest] += 1
                if kept_rest[: kept_rest.index("\t")] != rest[: rest.index("\t")]:
                    conflicts.add(digest)
    for digest in conflicts:
        dropped[CONFLICTING_LABEL] += copies.pop(digest) + 1
        del first[digest]
    if extra := sum(copies.values()):
        dropped[DUPLICATE] += extra
    kept = Counter(rest[: rest.index("\t")] for rest in first.values())
    with out.open("w", encoding="utf-8", newline="\n", buffering=_BUFFER) as f:
        ordered = sorted(first.items())
        for start in range(0, len(ordered), 10_000):  # a few big writes instead of one per row
            f.write("".join(f"{digest}\t{rest}" for digest, rest in ordered[start : start + 10_000]))
    path.unlink()
    return kept


def split_sizes(per_label: Counter[str], split: SplitConfig) -> dict[str, tuple[int, int]]:
    """Per label, the rank where dev starts and where test starts."""
    cuts = {}
    for label, n in per_label.items():
        n_dev, n_test = round(n * split.dev), round(n * split.test)
        n_train = n - n_dev - n_test
        cuts[label] = (n_train, n_train + n_dev)
    return cuts


@dataclass
class SplitFiles:
    """The written corpora (and slices files), with rows per split and label."""

    corpora: dict[str, Path]
    slices: dict[str, Path]
    counts: dict[str, Counter[str]]


def write_splits(
    deduped: list[Path],
    cuts: dict[str, tuple[int, int]],
    tokens: dict[str, str],
    directory: Path,
    slice_columns: tuple[str, ...],
    on_train: Callable[[list[str]], None],
) -> SplitFiles:
    """Walk the deduplicated rows in hash order and send each label's rows to train, dev, test by rank; the
    training texts go to `on_train` in batches. (A tight loop: it runs once per row of the data set.)"""
    corpora = {s: directory / f"{s}.txt" for s in SPLITS}
    slices = {s: directory / f"{s}.slices.jsonl" for s in SPLITS} if slice_columns else {}
    files = {s: p.open("w", encoding="utf-8", newline="\n", buffering=_BUFFER) for s, p in corpora.items()}
    slice_files = {s: p.open("w", encoding="utf-8", newline="\n", buffering=_BUFFER) for s, p in slices.items()}
    prefixes = {label: f"__label__{token} " for label, token in tokens.items()}
    rank: Counter[str] = Counter()
    train: list[str] = []
    try:
        for path in deduped:
            with path.open(encoding="utf-8", newline="\n", buffering=_BUFFER) as f:
                for line in f:
                    _digest, label, values, text = line.split("\t", 3)  # text keeps its "\n"
                    r = rank[label]
                    rank[label] = r + 1
                    dev_at, test_at = cuts[label]
                    split = "train" if r < dev_at else "dev" if r < test_at else "test"
                    files[split].write(prefixes[label] + text)
                    if slice_files:
                        slice_files[split].write(_slices_line(slice_columns, values))
                    if split == "train":
                        train.append(text[:-1])
                        if len(train) >= 5000:
                            on_train(train)
                            train = []
            path.unlink()
        on_train(train)
    finally:
        for f in [*files.values(), *slice_files.values()]:
            f.close()
    counts = {s: Counter[str]() for s in SPLITS}
    for label, n in rank.items():
        dev_at, test_at = cuts[label]
        counts["train"][label], counts["dev"][label], counts["test"][label] = dev_at, test_at - dev_at, n - test_at
    return SplitFiles(corpora, slices, counts)


def _slices_line(columns: tuple[str, ...], values: str) -> str:
    row = dict(zip(columns, json.loads(values) if values else [""] * len(columns), strict=True))
    return json.dumps(row, ensure_ascii=False) + "\n"
