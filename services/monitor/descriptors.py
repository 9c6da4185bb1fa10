"""Text descriptors: numbers that describe a text, computed the same way for the reference and the traffic.

The out-of-vocabulary share is measured against the training vocabulary that prep recorded in `transformer.json`
(its tokenizer and its most frequent tokens), so a share of 0.3 means "three in ten words were rare or unseen in
training". Descriptors of the reference are computed on held-out rows (see `services.monitor.reference`): training
rows would have an OOV share of ~0 by construction and make every live window look drifted.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

DEFAULT_TOKEN_PATTERN = r"\w+"  # noqa: S105  (prep's tokenizer, a regex)
DESCRIPTORS: tuple[str, ...] = (
    "chars",
    "words",
    "mean_word_length",
    "oov_share",
    "non_letter_share",
    "digit_share",
    "upper_share",
)


@dataclass(frozen=True)
class Vocabulary:
    """The training vocabulary and how to tokenise like prep did."""

    tokens: frozenset[str]
    pattern: str = DEFAULT_TOKEN_PATTERN
    lowercase: bool = True
    source: str = "transformer.json"

    @classmethod
    def from_transformer(cls, vocabulary: dict[str, Any]) -> Vocabulary | None:
        """From `Transformer.vocabulary` (prep's stats); None when it lists no tokens."""
        top = vocabulary.get("top_tokens") or []
        tokens = frozenset(str(item[0]) for item in top if isinstance(item, list | tuple) and item)
        if not tokens:
            return None
        tokenizer = vocabulary.get("tokenizer")
        tokenizer = tokenizer if isinstance(tokenizer, dict) else {}
        return cls(tokens, str(tokenizer.get("pattern", DEFAULT_TOKEN_PATTERN)), bool(tokenizer.get("lowercase", True)))

    @classmethod
    def from_texts(cls, texts: Iterable[str], top: int = 2000) -> Vocabulary:
        """A fallback when the transformer is unavailable: the most frequent tokens of the training texts."""
        counts: Counter[str] = Counter()
        tokenizer = re.compile(DEFAULT_TOKEN_PATTERN)
        for text in texts:
            counts.update(tokenizer.findall(text.lower()))
        return cls(frozenset(t for t, _ in counts.most_common(top)), source="training texts")

    def tokenize(self, text: str) -> list[str]:
        return re.findall(self.pattern, text.lower() if self.lowercase else text)


def describe(text: str, vocabulary: Vocabulary) -> dict[str, float]:
    """The descriptors of one text (shares are 0 for a text without the characters they count)."""
    words = text.split()
    letters = sum(ch.isalpha() for ch in text)
    visible = sum(not ch.isspace() for ch in text)
    tokens = vocabulary.tokenize(text)
    oov = sum(token not in vocabulary.tokens for token in tokens)
    return {
        "chars": float(len(text)),
        "words": float(len(words)),
        "mean_word_length": sum(len(w) for w in words) / len(words) if words else 0.0,
        "oov_share": oov / len(tokens) if tokens else 0.0,
        "non_letter_share": (visible - letters) / visible if visible else 0.0,
        "digit_share": sum(ch.isdigit() for ch in text) / visible if visible else 0.0,
        "upper_share": sum(ch.isupper() for ch in text) / letters if letters else 0.0,
    }


def descriptor_frame(texts: Sequence[str], vocabulary: Vocabulary) -> pd.DataFrame:
    """One row of descriptors per text, columns in `DESCRIPTORS` order."""
    return pd.DataFrame([describe(text, vocabulary) for text in texts], columns=list(DESCRIPTORS))
