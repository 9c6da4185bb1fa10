"""Loading, predicting with and evaluating Flair text classifiers, the same way in trainer, registry and inference.

Importing this module needs the `torch`/`flair` extras; services without them (notifier, monitor) never import it.
A Flair model file is a pickle: `load_verified` refuses to open one whose sha256 differs from the recorded one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.datasets import LABEL_PREFIX
from shared.modelcard import ClassMetrics, Metrics


class IntegrityError(RuntimeError):
    """An artifact's bytes do not match the checksum the registry recorded."""

    def __init__(self, path: str, expected: str, actual: str) -> None:
        super().__init__(f"sha256 mismatch for {path}: expected {expected}, got {actual}")
        self.expected, self.actual = expected, actual


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def load_verified(path: str | Path, expected_sha256: str) -> Any:
    """Load a TextClassifier only after its checksum matches (a pickle from S3 would otherwise run any code)."""
    actual = sha256_file(path)
    if actual != expected_sha256:
        raise IntegrityError(str(path), expected_sha256, actual)
    from flair.models import TextClassifier

    return TextClassifier.load(str(path))


@dataclass(frozen=True)
class Prediction:
    label: str
    probability: float
    probabilities: dict[str, float]


def predict(model: Any, texts: Sequence[str], batch_size: int = 32) -> list[Prediction]:
    """One forward pass per mini-batch; call from a worker thread, never from the event loop."""
    import torch
    from flair.data import Sentence

    sentences = [Sentence(text) for text in texts]
    with torch.inference_mode():
        model.predict(
            sentences,
            mini_batch_size=batch_size,
            return_probabilities_for_all_classes=True,
            verbose=False,
            label_name=model.label_type,
        )
    return [_prediction(sentence, model.label_type) for sentence in sentences]


def _prediction(sentence: Any, label_type: str) -> Prediction:
    labels = sentence.get_labels(label_type)
    if not labels:  # Flair predicts nothing for a sentence without tokens
        return Prediction(label="", probability=0.0, probabilities={})
    probabilities = {label.value: float(label.score) for label in labels}
    best = max(probabilities, key=lambda k: probabilities[k])
    return Prediction(label=best, probability=probabilities[best], probabilities=probabilities)


def metrics(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str] | None = None) -> Metrics:
    """Accuracy, macro F1, MCC, per-class figures and the confusion matrix, in one fixed label order."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, matthews_corrcoef
    from sklearn.metrics import precision_recall_fscore_support as prfs

    order = list(labels) if labels is not None else sorted(set(y_true) | set(y_pred))
    precision, recall, f1, support = prfs(y_true, y_pred, labels=order, zero_division=0)
    per_class = {
        label: ClassMetrics(precision=float(p), recall=float(r), f1=float(f), support=int(s))
        for label, p, r, f, s in zip(order, precision, recall, f1, support, strict=True)
    }
    return Metrics(
        n=len(y_true),
        accuracy=float(accuracy_score(y_true, y_pred)),
        macro_f1=float(f1_score(y_true, y_pred, labels=order, average="macro", zero_division=0)),
        mcc=float(matthews_corrcoef(y_true, y_pred)) if len(set(y_true) | set(y_pred)) > 1 else 0.0,
        per_class=per_class,
        labels=order,
        confusion_matrix=confusion_matrix(y_true, y_pred, labels=order).tolist(),
    )


def read_fasttext(lines: Iterable[str]) -> list[tuple[str, str]]:
    """(label, text) pairs of a FastText corpus (`__label__x text`), skipping blank lines."""
    rows = []
    for line in lines:
        line = line.rstrip("\n")
        if not line.strip():
            continue
        head, _, text = line.partition(" ")
        if not head.startswith(LABEL_PREFIX):
            raise ValueError(f"not a FastText line: {line[:80]!r}")
        rows.append((head[len(LABEL_PREFIX) :], text))
    return rows


def evaluate(model: Any, rows: Sequence[tuple[str, str]], batch_size: int = 64) -> tuple[Metrics, list[Prediction]]:
    """Metrics of `model` on labelled rows, with the per-row predictions (for reference data and slices)."""
    predictions = predict(model, [text for _, text in rows], batch_size)
    labels = list(model.label_dictionary.get_items()) if hasattr(model, "label_dictionary") else None
    labels = [label for label in labels if label != "<unk>"] if labels else None
    return metrics([label for label, _ in rows], [p.label for p in predictions], labels), predictions
