"""Training-split statistics for the transformer file, in bounded memory: vocabulary (size, top tokens with counts)
and text lengths. The monitor compares live traffic with these (out-of-vocabulary share, length drift), so the
tokenizer is recorded with them.

Tokens are counted on up to `sample_texts` training texts (a uniform sample: rows arrive in hash order). Counting is
exact until `capacity` distinct tokens; past that, rare tokens are pruned (lossy counting: the top
tokens stay right, their counts may fall short) and the vocabulary size becomes a HyperLogLog estimate fed with every
pruned token, so memory stays flat however large the vocabulary.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

TOKEN_PATTERN = r"\w+"  # noqa: S105  (a regex, not a secret)
_TOKENS = re.compile(TOKEN_PATTERN)


class HyperLogLog:
    """Distinct-count estimate in 2^p bytes (p=14: 16 KiB, about 0.8% standard error)."""

    def __init__(self, p: int = 14) -> None:
        self.p = p
        self.registers = bytearray(1 << p)

    def add(self, item: str) -> None:
        self.add_all((item,))

    def add_all(self, items: Iterable[str]) -> None:
        registers, width = self.registers, 64 - self.p
        mask = (1 << width) - 1
        for item in items:
            x = int.from_bytes(hashlib.blake2b(item.encode(), digest_size=8).digest(), "big")
            rank = width - (x & mask).bit_length() + 1
            index = x >> width
            if rank > registers[index]:
                registers[index] = rank

    def estimate(self) -> int:
        m = len(self.registers)
        raw = (0.7213 / (1 + 1.079 / m)) * m * m / sum(2.0**-r for r in self.registers)
        zeros = self.registers.count(0)
        if raw <= 2.5 * m and zeros:
            raw = m * math.log(m / zeros)  # small-range correction
        return round(raw)


class Histogram:
    """Counts of small integers (lengths are capped by the normaliser), for exact percentiles in bounded memory."""

    def __init__(self) -> None:
        self.counts: Counter[int] = Counter()

    def add(self, value: int) -> None:
        self.counts[value] += 1

    def summary(self) -> dict[str, float]:
        total = sum(self.counts.values())
        if not total:
            return {"count": 0, "mean": 0.0, "min": 0, "p50": 0, "p95": 0, "max": 0}
        ordered = sorted(self.counts.items())
        mean = sum(v * c for v, c in ordered) / total
        return {
            "count": total,
            "mean": round(mean, 3),
            "min": ordered[0][0],
            "p50": _percentile(ordered, total, 0.5),
            "p95": _percentile(ordered, total, 0.95),
            "max": ordered[-1][0],
        }


def _percentile(ordered: list[tuple[int, int]], total: int, q: float) -> int:
    rank = max(1, math.ceil(q * total))
    seen = 0
    for value, count in ordered:
        seen += count
        if seen >= rank:
            return value
    return ordered[-1][0]


class TextStats:
    """Everything the transformer records about the training texts. Texts are tokenised in batches (one regex call
    per batch) because per-text calls dominated the cost on large files."""

    def __init__(self, capacity: int, top: int, sample_texts: int = 500_000) -> None:
        self.capacity = capacity
        self.top = top
        self.sample_texts = sample_texts
        self.texts = 0
        self.tokenised = 0
        self.tokens: Counter[str] = Counter()
        self.total_tokens = 0
        self.pruned = HyperLogLog()
        self.exact = True
        self.chars = Histogram()
        self.words = Histogram()

    def add(self, text: str) -> None:
        self.add_batch([text])

    def add_batch(self, texts: list[str]) -> None:
        """Count a batch of normalised training texts (one regex call for the whole batch)."""
        if not texts:
            return
        self.chars.counts.update(map(len, texts))
        self.words.counts.update(text.count(" ") + 1 for text in texts)  # normalised: single spaces between words
        self.texts += len(texts)
        # Tokens of the first `sample_texts` texts only: prep visits rows in hash order, so they are a uniform sample,
        # and counting every token of a multi-gigabyte file was most of the cost of writing the splits.
        texts = texts[: max(0, self.sample_texts - self.tokenised)]
        if not texts:
            return
        self.tokenised += len(texts)
        tokens = _TOKENS.findall(" ".join(texts).lower())
        self.tokens.update(tokens)
        self.total_tokens += len(tokens)
        if len(self.tokens) > self.capacity:
            self._prune()

    def _prune(self) -> None:
        # Drop the rarer half; remember what was dropped for the distinct-count estimate.
        threshold = sorted(self.tokens.values())[len(self.tokens) // 2]
        rare = [t for t, c in self.tokens.items() if c <= threshold]
        self.pruned.add_all(rare)
        for token in rare:
            del self.tokens[token]
        self.exact = False

    def vocabulary(self) -> dict[str, Any]:
        if self.exact:
            size = len(self.tokens)
        else:
            self.pruned.add_all(self.tokens)
            size = max(self.pruned.estimate(), len(self.tokens))
        top = sorted(self.tokens.items(), key=lambda item: (-item[1], item[0]))[: self.top]
        return {
            "tokenizer": {"pattern": TOKEN_PATTERN, "lowercase": True},
            "size": size,
            "size_exact": self.exact,
            "texts": self.tokenised,  # training texts tokenised (all, or a uniform sample of sample_texts)
            "sampled": self.tokenised < self.texts,
            "total_tokens": self.total_tokens,
            "top_tokens": [[token, count] for token, count in top],
            "top_tokens_share": round(sum(c for _, c in top) / self.total_tokens, 6) if self.total_tokens else 0.0,
            "words_per_text": self.words.summary(),  # space-separated words of the normalised text
        }

    def text_length(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.chars.summary().items()}
