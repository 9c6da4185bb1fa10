"""An in-memory model for the batcher's tests: records every forward pass, can be held to let a queue build up."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from services.inference.model import Predictor, TextResult


class FakeModel(Predictor):
    def __init__(self, name: str = "fake", version: int = 1) -> None:
        self.name, self.version, self.labels = name, version, ("a", "b")
        self.sha256 = f"sha-of-{name}-{version}"
        self.passes: list[list[str]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()

    def predict(self, texts: Sequence[str]) -> list[TextResult]:
        self.entered.set()
        self.gate.wait(10)
        self.passes.append(list(texts))
        return [TextResult(t.strip(), "a" if len(t) % 2 else "b", 0.9, {"a": 0.9, "b": 0.1}) for t in texts]
