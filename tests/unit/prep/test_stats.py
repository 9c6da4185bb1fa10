"""Training statistics stay exact while small and bounded when the vocabulary is huge."""

from __future__ import annotations

from services.prep.stats import HyperLogLog, TextStats


def test_hyperloglog_estimates_within_a_few_percent() -> None:
    hll = HyperLogLog()
    hll.add_all(f"token{i}" for i in range(200_000))
    hll.add_all(f"token{i}" for i in range(50_000))  # repeats change nothing
    assert abs(hll.estimate() - 200_000) / 200_000 < 0.03


def test_exact_counts_under_capacity() -> None:
    stats = TextStats(capacity=1000, top=3)
    for text in ["The cat sat", "the dog sat", "A cat ran"]:
        stats.add(text)
    vocabulary = stats.vocabulary()
    assert vocabulary["size"] == 6 and vocabulary["size_exact"]
    assert vocabulary["top_tokens"] == [["cat", 2], ["sat", 2], ["the", 2]]
    assert vocabulary["total_tokens"] == 9
    assert stats.text_length()["max"] == 11.0


def test_memory_stays_bounded_and_frequent_tokens_survive_a_huge_vocabulary() -> None:
    stats = TextStats(capacity=2000, top=2)
    for i in range(60_000):
        stats.add(f"refund order {i}")
    assert len(stats.tokens) <= 2000
    vocabulary = stats.vocabulary()
    assert not vocabulary["size_exact"]
    assert abs(vocabulary["size"] - 60_002) / 60_002 < 0.05
    assert [t for t, _ in vocabulary["top_tokens"]] == ["order", "refund"]


def test_tokens_come_from_a_sample_and_lengths_from_every_text() -> None:
    stats = TextStats(capacity=1000, top=5, sample_texts=10)
    stats.add_batch([f"word{i} common" for i in range(25)])
    vocabulary = stats.vocabulary()
    assert vocabulary["texts"] == 10 and vocabulary["sampled"] and vocabulary["size"] == 11
    assert stats.text_length()["count"] == 25
