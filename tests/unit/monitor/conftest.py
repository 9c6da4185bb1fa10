"""Synthetic references and traffic for the monitor's unit tests: product reviews as the reference domain, film
reviews as the drifted one. Small sizes keep Evidently fast."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from services.monitor.descriptors import Vocabulary, descriptor_frame
from services.monitor.reference import ReferenceData
from services.monitor.settings import MonitorSettings
from services.monitor.store import MonitorStore
from shared.db import create_engine

_PRODUCT = (
    "the phone battery lasts all day and the screen is bright but the charger broke after a week "
    "sound quality is great for the price case fits well buttons feel cheap headset works fine"
)
_FILM = (
    "the movie plot was slow and the actors overplayed every scene director wasted a brilliant script "
    "cinematography stunning soundtrack forgettable ending predictable characters shallow sequel"
)
PRODUCT, FILM = _PRODUCT.split(" "), _FILM.split(" ")
LABELS = ["negative", "positive"]


def sentences(n: int, words: list[str], seed: int, length: tuple[int, int] = (5, 12)) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(*length)))
        out.append(text[0].upper() + text[1:] + rng.choice([".", "!", "."]))
    return out


def predictions(
    n: int, seed: int, positive_share: float = 0.5, confidence: tuple[float, float] = (0.6, 1.0)
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "prediction": np.where(rng.random(n) < positive_share, "positive", "negative"),
            "probability": rng.uniform(*confidence, n),
        }
    )


def make_reference(n: int = 300, seed: int = 1, accuracy: float = 0.85) -> ReferenceData:
    texts = sentences(n, PRODUCT, seed)
    rows = predictions(n, seed).assign(text=texts, split=["test" if i % 2 else "dev" for i in range(n)])
    rng = np.random.default_rng(seed + 1)
    flip = rng.random(n) > accuracy
    rows["label"] = np.where(
        flip, np.where(rows["prediction"] == "positive", "negative", "positive"), rows["prediction"]
    )
    vocabulary = Vocabulary.from_texts(sentences(400, PRODUCT, seed + 7))
    rows = pd.concat([rows, descriptor_frame(texts, vocabulary)], axis=1)
    return ReferenceData(
        environment="prod",
        model_name="reviews",
        version=1,
        dataset="reviews",
        dataset_version="v1",
        labels=LABELS,
        test_metrics={"accuracy": accuracy, "macro_f1": accuracy},
        vocabulary=vocabulary,
        rows=rows,
    )


def make_current(
    n: int,
    seed: int,
    words: list[str] = PRODUCT,
    positive_share: float = 0.5,
    confidence: tuple[float, float] = (0.6, 1.0),
    length: tuple[int, int] = (5, 12),
) -> pd.DataFrame:
    frame = predictions(n, seed, positive_share, confidence)
    return frame.assign(
        text=sentences(n, words, seed, length), truth=None, prediction_id=[f"p{seed}-{i}" for i in range(n)]
    )


@pytest.fixture
def settings() -> MonitorSettings:
    return MonitorSettings(sample_size=150, reference_size=300, min_samples=50, min_labels=30)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'monitor.db'}")
    yield engine
    await engine.dispose()


@pytest.fixture
async def store(engine: AsyncEngine) -> MonitorStore:
    store = MonitorStore(engine)
    await store.create_schema()
    return store
