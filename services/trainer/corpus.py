"""Checks of a prepared corpus before any trial runs: a bad corpus fails the study at once, with the reason."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from shared.classifier import read_fasttext
from shared.datasets import SPLITS


class BadCorpus(ValueError):
    """The corpus cannot train or score a classifier; retrying will not help."""


def label_counts(corpus_dir: Path) -> dict[str, Counter[str]]:
    counts: dict[str, Counter[str]] = {}
    for split in SPLITS:
        path = corpus_dir / f"{split}.txt"
        if not path.exists():
            raise BadCorpus(f"the {split} split is missing ({path.name})")
        try:
            rows = read_fasttext(path.read_text(encoding="utf-8").splitlines())
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadCorpus(f"{path.name} is not a FastText corpus: {exc}") from exc
        if not rows:
            raise BadCorpus(f"the {split} split is empty")
        counts[split] = Counter(label for label, _ in rows)
    return counts


def check(corpus_dir: Path) -> dict[str, Counter[str]]:
    """Label counts per split, or `BadCorpus` when training or scoring on them would be meaningless."""
    counts = label_counts(corpus_dir)
    train = set(counts["train"])
    if len(train) < 2:
        raise BadCorpus(f"train has {len(train)} class(es); a classifier needs at least 2")
    if missing := sorted(train - set(counts["dev"])):
        raise BadCorpus(f"class(es) {missing} have no dev rows: the dev objective cannot score them")
    for split in ("dev", "test"):
        if unseen := sorted(set(counts[split]) - train):
            raise BadCorpus(f"{split} has class(es) {unseen} that train never shows")
    return counts
