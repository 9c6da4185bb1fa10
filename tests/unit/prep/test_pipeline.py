"""The blocking core end to end on bytes: dedupe, conflicts, stratified leak-free split, determinism, the rules."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from services.prep.model import Rejected
from shared.events import ColumnMapping
from tests.support.textdata import tickets, to_csv, to_tsv, with_duplicates
from tests.unit.prep.conftest import prepare_bytes


def _texts(lines: list[str]) -> list[str]:
    return [line.split(" ", 1)[1] for line in lines]


def test_100k_rows_with_30_percent_duplicates(tmp_path: Path) -> None:
    unique = tickets(70_000)
    data = to_csv(with_duplicates(unique, 0.3))
    local = prepare_bytes(data, tmp_path, "big.csv")
    built = local.built
    assert local.rows_in == 100_000
    assert built.dropped == {"duplicate": 30_000}
    splits = {s: built.splits[s].total for s in ("train", "dev", "test")}
    assert sum(splits.values()) == 70_000 == local.rows_in - sum(built.dropped.values())
    seen = [set(_texts(local.corpus(s))) for s in ("train", "dev", "test")]
    assert sum(map(len, seen)) == 70_000  # every text once: no duplicates inside or across splits (no leakage)
    assert not (seen[0] & seen[1] or seen[0] & seen[2] or seen[1] & seen[2])


def test_split_is_stratified_exactly_per_label(tmp_path: Path) -> None:
    local = prepare_bytes(to_csv(tickets(5000)), tmp_path, "t.csv")
    per_label = Counter(r["label"] for r in tickets(5000))
    for label, n in per_label.items():
        dev, test = round(n * 0.1), round(n * 0.1)
        got = [local.built.splits[s].per_label[label] for s in ("train", "dev", "test")]
        assert got == [n - dev - test, dev, test]


def test_same_text_with_two_labels_drops_every_copy(tmp_path: Path) -> None:
    records = tickets(200)
    records.append({**records[0], "label": "other"})
    records.append(dict(records[1]))
    local = prepare_bytes(to_csv(records), tmp_path, "t.csv")
    assert local.built.dropped == {"conflicting_label": 2, "duplicate": 1}
    everything = [t for s in ("train", "dev", "test") for t in _texts(local.corpus(s))]
    assert records[0]["text"] not in everything and "other" not in local.built.labels


def test_same_input_same_bytes_and_version_other_seed_other_split(tmp_path: Path) -> None:
    data = to_csv(tickets(2000))
    first = prepare_bytes(data, tmp_path / "a", "t.csv")
    again = prepare_bytes(data, tmp_path / "b", "t.csv")
    assert first.version == again.version
    for path in first.built.sha256:
        assert path.read_bytes() == (tmp_path / "b" / "out" / path.name).read_bytes()
    reseeded = prepare_bytes(data, tmp_path / "c", "t.csv", seed=99)
    assert reseeded.version != first.version and reseeded.corpus("test") != first.corpus("test")


def test_cleaning_and_corpus_format(tmp_path: Path) -> None:
    rows = [f"  Hello\u200b   world {i}{chr(7) * (i == 0)}  ! \t{'pos' if i % 2 else 'neg'} \r\n" for i in range(40)]
    rows += ["\t pos\n", "   \tneg\n", "text without label\t  \n"]
    local = prepare_bytes("".join(rows).encode(), tmp_path, "s.txt", ColumnMapping(format="tsv", has_header=False))
    lines = local.corpus("train")
    assert all(line.startswith(("__label__pos Hello world ", "__label__neg Hello world ")) for line in lines)
    assert all(line.endswith("!") and "  " not in line and "\x07" not in line for line in lines)
    assert local.built.dropped == {"empty_text": 2, "missing_label": 1}
    assert local.rows_in == 43


def test_slices_files_line_up_with_the_corpus(tmp_path: Path) -> None:
    records = tickets(600)
    mapping = ColumnMapping(slice_columns=("channel", "region"))
    local = prepare_bytes(to_csv(records), tmp_path, "t.csv", mapping)
    by_text = {r["text"]: r for r in records}
    for split in ("train", "dev", "test"):
        corpus = _texts(local.corpus(split))
        slices = [json.loads(line) for line in local.built.slices[split].read_text().splitlines()]
        assert len(slices) == len(corpus)
        for text, row in zip(corpus, slices, strict=True):
            assert row == {"channel": by_text[text]["channel"], "region": by_text[text]["region"]}


def test_transformer_records_labels_normalisation_and_stats(tmp_path: Path) -> None:
    local = prepare_bytes(to_csv(tickets(1000)), tmp_path, "t.csv")
    transformer = json.loads(local.built.transformer.read_text())
    assert transformer["labels"] == ["billing", "shipping", "technical"]
    assert transformer["label_tokens"] == {"billing": "billing", "shipping": "shipping", "technical": "technical"}
    assert transformer["normalisation"]["unicode_form"] == "NFKC"
    vocabulary = transformer["vocabulary"]
    assert vocabulary["size_exact"] and vocabulary["size"] > 100
    assert vocabulary["top_tokens"][0][1] >= vocabulary["top_tokens"][1][1]
    assert transformer["text_length"]["count"] == local.built.splits["train"].total
    assert (
        0 < transformer["text_length"]["p50"] <= transformer["text_length"]["p95"] <= transformer["text_length"]["max"]
    )


def test_labels_with_spaces_become_tokens_and_stray_delimiters_go(tmp_path: Path) -> None:
    rows = "".join(f"text number {i} here\t{',0' if i % 2 else 'very good'}\n" for i in range(30))
    local = prepare_bytes(rows.encode(), tmp_path, "y.txt")
    assert local.built.label_tokens == {"0": "0", "very good": "very_good"}
    assert any(line.startswith("__label__very_good text number") for line in local.corpus("train"))


@pytest.mark.parametrize(
    ("records", "reason"),
    [
        ([{"text": f"only spam here {i}", "label": "spam"} for i in range(50)], "only one class: 'spam'"),
        (
            [{"text": f"text {i}", "label": "a"} for i in range(50)] + [{"text": "lonely", "label": "b"}],
            "too few rows per class (minimum 2)",
        ),
    ],
)
def test_rules_reject_what_remains(tmp_path: Path, records: list[dict[str, str]], reason: str) -> None:
    with pytest.raises(Rejected) as caught:
        prepare_bytes(
            to_tsv(records),
            tmp_path,
            "r.tsv",
            ColumnMapping(format="tsv", has_header=False, text_column="0", label_column="1"),
        )
    assert caught.value.reason == reason
    assert caught.value.stats["rows_in"] == len(records)


def test_every_row_dropped_is_rejected_with_the_counts(tmp_path: Path) -> None:
    data = b"text,label\n" + b"".join(b"x" * 300 + b",a\n" for _ in range(20))
    with pytest.raises(Rejected) as caught:
        prepare_bytes(
            data, tmp_path, "long.csv", ColumnMapping(text_column="text", label_column="label"), max_text_chars=100
        )
    assert caught.value.reason == "no valid rows: every row was dropped"
    assert caught.value.details == ["text_too_long: 20"]
