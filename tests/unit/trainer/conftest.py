"""A tiny generated corpus (support tickets) written as FastText files, and a tiny search space."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from services.trainer.space import SearchSpace
from shared.demo.data import rows

TINY = SearchSpace.model_validate(
    {
        "doc": ["pool"],
        "emb_dim": [16],
        "min_freq": {"low": 1, "high": 1},
        "batch": [32],
        "epochs": {"low": 1, "high": 2},
        "lr": {"low": 0.01, "high": 0.05, "log": True},
    }
)


def write_corpus(folder: Path, n: int = 240, seed: int = 3) -> Path:
    records = rows(n, seed)
    random.Random(seed).shuffle(records)
    cut = {"train": records[: n * 2 // 3], "dev": records[n * 2 // 3 : n * 5 // 6], "test": records[n * 5 // 6 :]}
    folder.mkdir(parents=True, exist_ok=True)
    for split, part in cut.items():
        (folder / f"{split}.txt").write_text("".join(f"__label__{r['label']} {r['text']}\n" for r in part))
    return folder


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return write_corpus(tmp_path / "corpus")
