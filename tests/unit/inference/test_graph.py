"""The vectorised serving path answers exactly as Flair's own `predict` for every shape it accepts, and declines
every shape it does not know (which Flair then serves)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import torch
from flair.data import Dictionary, Sentence
from flair.embeddings import DocumentPoolEmbeddings, DocumentRNNEmbeddings, OneHotEmbeddings
from flair.models import TextClassifier

from services.inference.graph import compile_graph, tokenize
from services.inference.model import ServingModel
from shared.textnorm import NormalisationConfig

WORDS = [
    "my",
    "parcel",
    "never",
    "arrived",
    "please",
    "help",
    "refund",
    "charged",
    "twice",
    "card",
    "order",
    "shipping",
    ",",
    ".",
    "!",
    "?",
    "'",
    "don't",
]
TEXTS = [
    "my parcel never arrived",
    "I was charged twice for my card!!!",
    "Don't you dare ship it. Please help? Refund now.",
    "zzz qqq unknown-words only",  # every token unknown: all <unk>
    "refund",  # one token
    "ok. ok. ok. ok. ok. ok. ok. ok. ok. ok. ok. ok. ok. ok. ok. ok. ok. ok. " * 8,  # long, many sentences
    "Ünïcödé café naïve — “quotes” and emoji 😀 and tabs\tand\u00a0nbsp",
    "e-mail me at someone@example.com or call 0800-123-456 (free), it's urgent",
]


def _classifier(pooling: str, fine_tune: str, stable: bool, labels: tuple[str, ...] = ("ham", "spam")) -> Any:
    torch.manual_seed(7)
    vocab = Dictionary(add_unk=True)
    for word in WORDS:
        vocab.add_item(word)
    label_dictionary = Dictionary(add_unk=False)
    for label in labels:
        label_dictionary.add_item(label)
    onehot = OneHotEmbeddings(vocab, embedding_length=12, stable=stable)
    document = DocumentPoolEmbeddings([onehot], fine_tune_mode=fine_tune, pooling=pooling)
    if fine_tune != "none":  # move the layers off their identity / default initialisation
        for parameter in document.parameters():
            torch.nn.init.normal_(parameter)
    return TextClassifier(document, label_type="class", label_dictionary=label_dictionary)


def _flair(classifier: Any, texts: list[str]) -> list[dict[str, float] | None]:
    sentences = [Sentence(text) for text in texts]
    with torch.inference_mode():
        classifier.predict(sentences, mini_batch_size=len(texts), return_probabilities_for_all_classes=True)
    return [{lb.value: lb.score for lb in s.get_labels("class")} or None for s in sentences]


@pytest.mark.parametrize(
    ("pooling", "fine_tune", "stable"),
    list(itertools.product(["mean", "max", "min"], ["none", "linear", "nonlinear"], [False, True])),
)
def test_the_graph_gives_flairs_probabilities(pooling: str, fine_tune: str, stable: bool) -> None:
    classifier = _classifier(pooling, fine_tune, stable)
    graph = compile_graph(classifier)
    assert graph is not None
    with torch.inference_mode():
        ours = graph.probabilities(TEXTS)
    theirs = _flair(classifier, TEXTS)
    for mine, flairs in zip(ours, theirs, strict=True):
        assert mine is not None and flairs is not None
        assert mine.keys() == flairs.keys()
        assert max(abs(mine[k] - flairs[k]) for k in mine) < 1e-5
        assert max(mine, key=mine.__getitem__) == max(flairs, key=flairs.__getitem__)


def test_a_text_without_tokens_gets_no_label_like_in_flair() -> None:
    classifier = _classifier("mean", "nonlinear", False)
    graph = compile_graph(classifier)
    assert graph is not None and tokenize(" \u200b ") == [] and len(Sentence(" \u200b ")) == 0
    with torch.inference_mode():
        assert graph.probabilities(["refund", " \u200b ", "help"])[1] is None


def test_the_serving_model_uses_the_graph_and_answers_as_flair() -> None:
    classifier = _classifier("mean", "nonlinear", True)
    model = ServingModel("m", 1, "dev", classifier, NormalisationConfig(), ("ham", "spam"), "", "", None, {})
    assert model._graph is not None
    fast = model.predict(TEXTS)
    slow = model._predict_with_flair(list(TEXTS))
    assert [r.label for r in fast] == [r.label for r in slow]
    assert all(abs(a.probability - b.probability) < 1e-5 for a, b in zip(fast, slow, strict=True))


def test_other_shapes_are_left_to_flair() -> None:
    rnn = TextClassifier(
        DocumentRNNEmbeddings([_classifier("mean", "none", False).embeddings.embeddings.embeddings[0]], hidden_size=8),
        label_type="class",
        label_dictionary=_classifier("mean", "none", False).label_dictionary,
    )
    assert compile_graph(rnn) is None
    multi = _classifier("mean", "none", False)
    multi.multi_label = True
    assert compile_graph(multi) is None
    assert compile_graph(_classifier("mean", "none", False, labels=("O", "spam"))) is None
    assert compile_graph(object()) is None
