"""A loaded model as the service serves it: the Flair classifier, the normalisation fitted for its data set, and
where it came from. Everything here runs in worker threads, never on the event loop."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from services.inference.graph import PooledOneHotGraph, compile_graph
from shared.classifier import load_verified
from shared.textnorm import NormalisationConfig, normalise

if TYPE_CHECKING:
    from services.inference.runner import ModelWorker

log = logging.getLogger(__name__)
WARMUP_TEXTS = ("warm up", "a slightly longer text to warm up the model's code paths", "x")


@dataclass(frozen=True)
class TextResult:
    """One text's outcome. `label` is None when the text was empty after cleaning (nothing to classify)."""

    text: str  # as normalised: what the model saw
    label: str | None
    probability: float
    probabilities: dict[str, float]


class Predictor:
    """The model port the batcher drives: one call, one forward pass over the texts given."""

    name: str
    version: int
    labels: tuple[str, ...]

    def predict(self, texts: Sequence[str]) -> list[TextResult]:  # pragma: no cover - interface
        raise NotImplementedError

    async def run(self, texts: Sequence[str], executor: Executor) -> list[TextResult]:
        """One forward pass as the batcher awaits it: `predict` in the model thread (`executor`), never on the loop."""
        return await asyncio.get_running_loop().run_in_executor(executor, self.predict, texts)

    async def aclose(self) -> None:
        """It is no longer served: release what it holds (a worker process) after the batches handed to it."""


@dataclass
class ServingModel(Predictor):
    """A Flair TextClassifier with the cleaning prep applied to its training data."""

    name: str
    version: int
    environment: str
    classifier: Any
    normalisation: NormalisationConfig
    labels: tuple[str, ...]
    sha256: str
    artifact_uri: str
    transformer_uri: str | None
    lineage: dict[str, Any]
    loaded_at: datetime | None = None
    # Most texts per forward pass within a batch (0: the whole batch in one pass). Flair then sorts the batch by
    # length and runs length-homogeneous passes: for transformer embeddings, padding a short text to the longest
    # one in the batch costs more than the batch saves (measured in `make bench-inference`).
    pass_texts: int = 0
    # INFERENCE_RUNNER=process: the classifier lives in this worker process (runner.py), `classifier` is None here.
    worker: ModelWorker | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # Derived from `classifier`: the vectorised path for the pooled one-hot shape (graph.py); None: Flair's predict.
    _graph: PooledOneHotGraph | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.classifier is not None:
            self._graph = compile_graph(self.classifier)

    async def run(self, texts: Sequence[str], executor: Executor) -> list[TextResult]:
        if self.worker is not None:  # INFERENCE_RUNNER=process: driven from the loop itself, no thread hand-off
            return await self.worker.predict(texts)
        return await super().run(texts, executor)

    def clean(self, text: str) -> str:
        return normalise(text, self.normalisation)

    def predict(self, texts: Sequence[str]) -> list[TextResult]:
        """Clean, tokenise and classify in the calling thread, with one forward pass (inference mode). (With a
        worker process, `run` awaits the worker instead.)"""
        if self.worker is not None:
            raise RuntimeError("this model runs in a worker process: await model.run(texts, executor)")
        import torch

        cleaned = [self.clean(text) for text in texts]
        if self._graph is not None:
            with self._lock, torch.inference_mode():
                found = self._graph.probabilities(cleaned)
            return [_from_probabilities(text, found_one) for text, found_one in zip(cleaned, found, strict=True)]
        return self._predict_with_flair(cleaned)

    def _predict_with_flair(self, cleaned: list[str]) -> list[TextResult]:
        import torch
        from flair.data import Sentence

        sentences = [Sentence(text) for text in cleaned]
        label_type = self.classifier.label_type
        # Sentences without tokens get no label from Flair; keep them out of the pass (and out of its padding).
        todo = [s for s in sentences if len(s) > 0]
        with self._lock, torch.inference_mode():  # one forward pass at a time per model (warm-up vs. serving)
            if todo:
                self.classifier.predict(
                    todo,
                    mini_batch_size=self.pass_texts or max(1, len(todo)),
                    return_probabilities_for_all_classes=True,
                    verbose=False,
                    label_name=label_type,
                )
        return [_result(text, sentence, label_type) for text, sentence in zip(cleaned, sentences, strict=True)]

    def warm_up(self) -> None:
        """A few passes so the first real request does not pay for lazy initialisation (a worker warms up itself)."""
        if self.worker is not None:
            return
        for size in (1, 2, len(WARMUP_TEXTS)):
            self.predict(WARMUP_TEXTS[:size])

    @property
    def alive(self) -> bool:
        """False when its worker process has died (the manager then loads it again)."""
        return self.worker is None or self.worker.alive

    async def aclose(self) -> None:
        if self.worker is not None:
            await self.worker.aclose()

    def describe(self) -> dict[str, Any]:
        return {
            "model_name": self.name,
            "version": self.version,
            "environment": self.environment,
            "loaded_at": self.loaded_at.isoformat() if self.loaded_at else None,
            "artifact": self.artifact_uri,
            "sha256": self.sha256,
            "transformer": self.transformer_uri,
            "labels": list(self.labels),
            "normalisation": self.normalisation.model_dump(),
            "lineage": self.lineage,
            "runner": "thread" if self.worker is None else "process",
            "worker_pid": None if self.worker is None else self.worker.process.pid,
        }


def _result(text: str, sentence: Any, label_type: str) -> TextResult:
    labels = sentence.get_labels(label_type)
    return _from_probabilities(text, {label.value: float(label.score) for label in labels} if labels else None)


def _from_probabilities(text: str, probabilities: dict[str, float] | None) -> TextResult:
    if not probabilities:
        return TextResult(text=text, label=None, probability=0.0, probabilities={})
    best = max(probabilities, key=probabilities.__getitem__)
    return TextResult(text=text, label=best, probability=probabilities[best], probabilities=probabilities)


def load_classifier(path: Path, sha256: str) -> Any:
    """The classifier at `path`, opened only when its bytes match `sha256` (raises IntegrityError otherwise)."""
    import flair  # noqa: F401  (importing flair configures its logger at INFO; quiet it after that)

    logging.getLogger("flair").setLevel(logging.WARNING)  # else it logs a whole vocabulary when loading a model
    return load_verified(path, sha256)


def classifier_labels(classifier: Any) -> tuple[str, ...]:
    items = classifier.label_dictionary.get_items()
    return tuple(str(label) for label in items if label != "<unk>")


def set_torch_threads(threads: int) -> None:
    """Run once in the model thread: intra-op threads = the cores given; no inter-op pool on top of them."""
    import torch

    torch.set_num_threads(threads)
