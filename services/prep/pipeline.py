"""The blocking core of a preparation, run in a worker thread: read and spill (phase 1), then dedupe, validate,
split and write the outputs to local temp files (phase 2). No network here: the caller streams bytes in and uploads
the files. Memory is bounded by the line cap, one partition, and the statistics' capacities."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.prep.encoding import errors_for
from services.prep.model import (
    EMPTY_TEXT,
    MISSING_LABEL,
    TEXT_TOO_LONG,
    PrepConfig,
    ReadPlan,
    Rejected,
    canonical_json,
)
from services.prep.partitions import Spill, dedupe, split_sizes, write_splits
from services.prep.records import read_records
from services.prep.stats import TextStats
from services.prep.streams import Stopped
from shared.datasets import Transformer, label_token
from shared.events import SplitCounts
from shared.textnorm import normalise

log = logging.getLogger(__name__)
Progress = Callable[[int], None]


@dataclass
class Spilled:
    """Phase 1's result: rows read, rows dropped so far, the input's digest and the partition files."""

    rows_in: int
    dropped: Counter[str]
    input_sha256: str
    input_bytes: int
    partitions: list[Path]


@dataclass
class Built:
    """Phase 2's result: local output files and what the manifest says about them."""

    labels: list[str]
    label_tokens: dict[str, str]
    splits: dict[str, SplitCounts]
    corpora: dict[str, Path]
    slices: dict[str, Path]
    transformer: Path
    sha256: dict[Path, str] = field(default_factory=dict)
    dropped: Counter[str] = field(default_factory=Counter)


def clean_label(label: str) -> str:
    # Whitespace collapsed; stray quotes and delimiters around a label are export artefacts (`text\t,0`).
    return " ".join(label.split()).strip(",;|\"'").strip()


def read_and_spill(
    raw: io.RawIOBase,
    plan: ReadPlan,
    config: PrepConfig,
    spill: Spill,
    progress: Progress | None = None,
    every: int = 100_000,
) -> tuple[int, Counter[str]]:
    """Stream every record of `raw` through validation and normalisation into `spill`."""
    stream = io.TextIOWrapper(
        io.BufferedReader(raw, 1 << 20), encoding=plan.encoding, errors=errors_for(plan.encoding), newline=None
    )
    norm, max_chars = config.normalisation, config.max_text_chars
    dropped: Counter[str] = Counter()
    rows = 0
    for record in read_records(stream, plan, config.max_record_chars):
        rows += 1
        if progress is not None and rows % every == 0:
            progress(rows)
        if isinstance(record, str):
            dropped[record] += 1
            continue
        text, label, slices = record
        if len(text) > max_chars:
            dropped[TEXT_TOO_LONG] += 1
            continue
        label = clean_label(label)
        if not label:
            dropped[MISSING_LABEL] += 1
            continue
        text = normalise(text, norm)
        if not text:
            dropped[EMPTY_TEXT] += 1
            continue
        values = json.dumps([" ".join(v.split()) for v in slices], ensure_ascii=False) if slices else ""
        spill.add(text, label, values)
    spill.close()
    return rows, dropped


def build_outputs(
    spilled: Spilled,
    plan: ReadPlan,
    config: PrepConfig,
    dataset: str,
    version: str,
    out: Path,
    stop: threading.Event | None = None,
) -> Built:
    """Dedupe, check the rules, split and write corpora, slices and transformer.json under `out` (checking `stop`
    between partitions)."""
    dropped = Counter(spilled.dropped)
    per_label: Counter[str] = Counter()
    deduped = []
    for path in spilled.partitions:
        if stop is not None and stop.is_set():
            raise Stopped("the preparation was cancelled")
        target = path.with_suffix(".dedup")
        per_label.update(dedupe(path, target, dropped))
        deduped.append(target)
    _check_rules(per_label, spilled.rows_in, dropped, config)
    labels = sorted(per_label)
    tokens = _label_tokens(labels)
    stats = TextStats(config.vocab_capacity, config.top_tokens, config.vocab_sample_texts)
    cuts = split_sizes(per_label, config.split)
    written = write_splits(deduped, cuts, tokens, out, plan.slice_columns, stats.add_batch)
    transformer = Transformer(
        dataset=dataset,
        version=version,
        normalisation=config.normalisation,
        labels=labels,
        label_tokens=tokens,
        vocabulary=stats.vocabulary(),
        text_length=stats.text_length(),
    )
    transformer_path = out / "transformer.json"
    transformer_path.write_bytes(json_bytes(transformer.model_dump(mode="json")))
    built = Built(
        labels=labels,
        label_tokens=tokens,
        splits={
            s: SplitCounts(total=sum(c.values()), per_label={k: v for k, v in sorted(c.items()) if v})
            for s, c in written.counts.items()
        },
        corpora=written.corpora,
        slices=written.slices,
        transformer=transformer_path,
        dropped=dropped,
    )
    for path in [*built.corpora.values(), *built.slices.values(), transformer_path]:
        built.sha256[path] = file_sha256(path)
    return built


def _check_rules(per_label: Counter[str], rows_in: int, dropped: Counter[str], config: PrepConfig) -> None:
    stats: dict[str, Any] = {"rows_in": rows_in, "rows_dropped": dict(dropped), "rows_per_label": dict(per_label)}
    drops = [f"{reason}: {n}" for reason, n in sorted(dropped.items())]
    if rows_in == 0:
        raise Rejected("no data rows", ["the file has no record besides a header"], stats)
    if not per_label:
        raise Rejected("no valid rows: every row was dropped", drops, stats)
    if len(per_label) < 2:
        raise Rejected(f"only one class: {next(iter(per_label))!r}", ["a classifier needs at least two", *drops], stats)
    few = {label: n for label, n in per_label.items() if n < config.min_per_class}
    if few:
        listed = ", ".join(f"{label!r}: {n}" for label, n in sorted(few.items()))
        raise Rejected(f"too few rows per class (minimum {config.min_per_class})", [listed, *drops], stats)


def _label_tokens(labels: list[str]) -> dict[str, str]:
    tokens = {label: label_token(label) for label in labels}
    if len(set(tokens.values())) != len(tokens):
        raise Rejected("labels collide once whitespace becomes '_'", [json.dumps(tokens, ensure_ascii=False)])
    return tokens


def json_bytes(value: Any) -> bytes:
    """Canonical, readable JSON: the same value always gives the same bytes."""
    return json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False).encode() + b"\n"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def output_digest(entries: dict[str, str]) -> str:
    """One digest over every output file (name -> sha256), independent of upload order."""
    return hashlib.sha256(canonical_json(entries)).hexdigest()
