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
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from services.prep.model import CONFLICTING_LABEL, DUPLICATE
from shared.datasets import SPLITS, SplitConfig

_BUFFER = 1 << 16


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


def spill_lines(path: Path) -> Iterator[list[str]]:
    with path.open(encoding="utf-8", newline="\n", buffering=_BUFFER) as f:
        for line in f:
            yield line[:-1].split("\t", 3)


class _Entry:
    __slots__ = ("conflict", "copies", "label", "slices", "text")

    def __init__(self, label: str, slices: str, text: str) -> None:
        self.label, self.slices, self.text = label, slices, text
        self.copies = 1
        self.conflict = False


def dedupe(path: Path, out: Path, dropped: Counter[str]) -> Counter[str]:
    """Keep one row per distinct text (sorted by hash) in `out`; drop duplicates and every copy of a text that
    carries two labels. Returns the kept rows per label."""
    entries: dict[str, _Entry] = {}
    for digest, label, slices, text in spill_lines(path):
        entry = entries.get(digest)
        if entry is None:
            entries[digest] = _Entry(label, slices, text)
        else:
            entry.copies += 1
            entry.conflict = entry.conflict or entry.label != label
    kept: Counter[str] = Counter()
    with out.open("w", encoding="utf-8", newline="\n", buffering=_BUFFER) as f:
        for digest in sorted(entries):
            entry = entries[digest]
            if entry.conflict:
                dropped[CONFLICTING_LABEL] += entry.copies
                continue
            if entry.copies > 1:
                dropped[DUPLICATE] += entry.copies - 1
            kept[entry.label] += 1
            f.write(f"{digest}\t{entry.label}\t{entry.slices}\t{entry.text}\n")
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


class SplitWriter:
    """One corpus file per split (and a slices file beside it when the data has slice columns)."""

    def __init__(self, directory: Path, slice_columns: tuple[str, ...]) -> None:
        self.slice_columns = slice_columns
        self.corpus_paths = {s: directory / f"{s}.txt" for s in SPLITS}
        self.slice_paths = {s: directory / f"{s}.slices.jsonl" for s in SPLITS} if slice_columns else {}
        self._corpus = {
            s: p.open("w", encoding="utf-8", newline="\n", buffering=_BUFFER) for s, p in self.corpus_paths.items()
        }
        self._slices = {
            s: p.open("w", encoding="utf-8", newline="\n", buffering=_BUFFER) for s, p in self.slice_paths.items()
        }
        self.counts: dict[str, Counter[str]] = {s: Counter() for s in SPLITS}

    def write(self, split: str, label: str, token: str, text: str, slices: str) -> None:
        self._corpus[split].write(f"__label__{token} {text}\n")
        if self._slices:
            values = json.loads(slices) if slices else [""] * len(self.slice_columns)
            row = dict(zip(self.slice_columns, values, strict=True))
            self._slices[split].write(json.dumps(row, ensure_ascii=False) + "\n")
        self.counts[split][label] += 1

    def close(self) -> None:
        for f in [*self._corpus.values(), *self._slices.values()]:
            f.close()
